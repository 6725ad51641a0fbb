"""The protocols of Li's thesis (3C-GAN) end to end on format-faithful fixtures.

For each: ``harness data check`` passes on the fixtures and fails on an empty data
root; a 2-iteration run writes a record; the leaderboard page shows the papers'
reported rows. Syn.Digits -> SVHN runs 3C-GAN (which first trains its cached source
model), the others the default source_only, with tiny images.
"""

import csv

import pytest

from harness import PROJECT_ROOT
from harness.cli import main
from harness.data.fixtures import write_fixtures
from harness.leaderboard import build_pages
from harness.plan import make_plan
from harness.protocol import load_protocol
from harness.results import load_records
from harness.run import execute

OFFICE = [f"office31_{s}_{t}" for s, t in (("amazon", "webcam"), ("dslr", "webcam"),
                                           ("webcam", "dslr"), ("amazon", "dslr"),
                                           ("dslr", "amazon"), ("webcam", "amazon"))]
RUN = ["train.iters=2", "train.checkpoint_interval=2", "train.batch=2", "train.workers=0"]
OFFICE_SETS = [f"{d}.options.{k}={v}" for d in ("source", "target")
               for k, v in (("subset", 62), ("size", 36), ("crop", 32))]
#: Fixture counts (harness.data.classification_fixtures): digits 2, signs 43 x 2, Office 31 x 2.
SETS = {
    "syn_digits_svhn": ["source.options.subset=2", "target.options.subset=2"],
    "digits_mnist_svhn": ["source.options.subset=2", "target.options.subset=2"],
    "syn_signs_gtsrb": ["source.options.subset=86", "source.options.test_count=6",
                        "target.options.subset=86"],
    **{name: OFFICE_SETS for name in OFFICE},
}
METHOD = {"syn_digits_svhn": "three_c_gan"}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("fixtures")
    for dataset in ("gtsrb", "mnist", "office31", "svhn", "syndigits", "synsigns"):
        write_fixtures(dataset, root)
    return root


def reported_values(protocol: str) -> list[str]:
    p = load_protocol(protocol)
    with open(PROJECT_ROOT / "results" / "reported" / p.reported.file) as f:
        return [row["value"] for row in csv.DictReader(f) if row["task"] in p.reported.tasks]


@pytest.mark.parametrize("protocol", sorted(SETS))
def test_data_check_passes_on_fixtures_and_fails_without_data(protocol, data_root, tmp_path):
    sets = [arg for s in SETS[protocol] for arg in ("--set", s)]
    assert main(["data", "check", "--protocol", protocol, "--data-root", str(data_root),
                 *sets]) == 0
    assert main(["data", "check", "--protocol", protocol, "--data-root", str(tmp_path),
                 *sets]) == 1


#: The six Office-31 tasks differ only in their domains: one runs by default, the others
#: (data-checked above) with -m slow.
RUNS = [pytest.param(p, marks=pytest.mark.slow) if p in OFFICE[1:] else p for p in sorted(SETS)]


@pytest.mark.parametrize("protocol", RUNS)
def test_two_iterations_give_a_record_and_a_page_with_the_reported_rows(protocol, data_root,
                                                                       tmp_path):
    plan = make_plan(protocol, METHOD.get(protocol), None, 0, SETS[protocol] + RUN,
                     data_root=data_root, results_dir=tmp_path / "runs", quiet=True)
    record, path = execute(plan)
    assert load_records(tmp_path / "runs")[0] == [record]
    classes = load_protocol(protocol).classes
    assert record.classes.name == classes and record.train.iters == 2
    assert record.method.source_free == (protocol in METHOD)
    page = build_pages(tmp_path / "runs", tmp_path)[0][f"{protocol}.md"]
    assert "Excluded: 1 run(s)" in page  # made with --set overrides (tiny fixtures)
    values = reported_values(protocol)
    assert values and all(f"| {v} " in page or f"| {v}|" in page for v in values)
