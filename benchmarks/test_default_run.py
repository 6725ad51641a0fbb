"""Wall time of `harness run` on the embedded default, start-up included.

Target (issue: foundation): under 3 minutes on a 2-core CPU for source_only with the
protocol's standard iterations. The figure goes to the benchmark output (and the
README); nothing here asserts a time.
"""

import json
import subprocess
import sys


def test_default_run_wall_time(benchmark, tmp_path):
    def run():
        subprocess.run([sys.executable, "-m", "harness", "run", "--quiet", "--results-dir",
                        str(tmp_path / "r"), "--work-dir", str(tmp_path / "w")], check=True,
                       cwd=tmp_path)

    benchmark.pedantic(run, rounds=1, iterations=1)
    (record,) = (tmp_path / "r").rglob("*.json")
    data = json.loads(record.read_text())
    benchmark.extra_info.update(
        target_acc=data["metrics"]["target"]["pixel_acc"],
        source_acc=data["metrics"]["source"]["pixel_acc"],
        train_wall_s=data["train"]["wall_time_s"],
    )
