"""What a sweep runs: grids of protocols x methods x backbones x seeds x ``--set`` values,
expanded into jobs, each one ``harness run`` keyed by the run key the harness computes.

A sweep file (TOML, see ``sweeps/``) holds one or more ``[[grid]]`` tables, optionally the
executor and a ``[slurm]`` table; the same grid can be given as ``harness sweep`` flags.
"""

import itertools
import json
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import HarnessError


class SweepError(HarnessError, ValueError):
    """A sweep file, flag or directory that cannot be used as it is."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Grid(_Strict):
    protocols: list[str] = Field(min_length=1)
    #: Empty: the protocol's default method / the method's or protocol's default backbone.
    methods: list[str] = []
    backbones: list[str] = []
    seeds: list[int] = Field([0], min_length=1)
    #: ``--set`` key -> the values to sweep over (TOML values, as ``--set`` parses them).
    set: dict[str, list[Any]] = {}


class SlurmOptions(_Strict):
    partition: str | None = None
    time: int = Field(60, gt=0, description="minutes per job")
    gpus: int = Field(0, ge=0, description="GPUs per job; above 1 the run uses srun tasks")
    cpus: int | None = Field(None, gt=0, description="CPUs per task")
    mem: int | None = Field(None, gt=0, description="GB per job")
    array_parallelism: int = Field(64, gt=0)
    account: str | None = None
    qos: str | None = None


class SweepFile(_Strict):
    grid: list[Grid] = Field(min_length=1)
    executor: Literal["local", "slurm"] = "local"
    #: Local executor: how many runs at a time on this machine.
    parallel: int = Field(1, gt=0)
    slurm: SlurmOptions = SlurmOptions()


def load_sweep_file(path: Path) -> SweepFile:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SweepError(f"{path}: no such sweep file (sweep files live in sweeps/)") from None
    except tomllib.TOMLDecodeError as exc:
        raise SweepError(f"{path}: not valid TOML ({exc})") from None
    try:
        return SweepFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise SweepError(f"{path}: {key}: {first['msg']} ({exc.error_count()} problem(s))") from None


@dataclass(frozen=True)
class Job:
    """One ``harness run`` of a sweep."""

    protocol: str          # the protocol's name
    protocol_ref: str      # as the sweep gave it (a name or a .toml path), passed to harness run
    method: str
    backbone: str
    seed: int
    sets: tuple[str, ...]
    key: str               # the run key: names the job and its work dir
    #: The cached source model this run starts from, when one is trained (absolute path).
    source_model: str | None = None
    #: The cached source model this run writes (a plain source_only run).
    provides: str | None = None
    #: Name of the job of this sweep that trains ``source_model`` first.
    needs: str | None = None

    @property
    def name(self) -> str:
        return f"{self.protocol}-{self.method}-{self.backbone}-s{self.seed}-{self.key}"


def identify(protocol: str, method: str | None, backbone: str | None, seed: int,
             sets: tuple[str, ...]) -> Job:
    """The run ``harness run`` would make of these arguments, with its key and source model.

    The only place a sweep asks the harness how it resolves a run: unknown names and
    rejected ``--set`` keys raise the same errors as ``harness run``.
    """
    from harness.plan import make_plan

    plan = make_plan(protocol, method, backbone, seed, list(sets))
    cache = str(plan.source_cache.absolute())
    trained_here = plan.protocol.source_model == "train"  # "pretrained" is written, not trained
    return Job(
        protocol=plan.protocol.name, protocol_ref=protocol, method=plan.method,
        backbone=plan.backbone, seed=seed, sets=tuple(sets), key=plan.key,
        source_model=cache if plan.method_cls.needs_source_model and trained_here else None,
        # As harness.run.train_and_record: a plain source_only run fills the cache.
        provides=cache if plan.method == "source_only" and not plan.hparams_dict else None,
    )


def _toml_text(value: Any, where: str) -> str:
    """A sweep file's TOML value as ``--set`` text. JSON spells strings, numbers, booleans
    and arrays as TOML does; tables have no such spelling and are set key by key."""
    if isinstance(value, dict):
        raise SweepError(f"{where}: a table cannot be swept as one value; set its keys "
                         "one by one (e.g. \"train.crop\" = [[512, 512]])")
    return json.dumps(value)


def grid_sets(values: dict[str, list[str]]) -> list[tuple[str, ...]]:
    """``{key: [text, ...]}`` -> every combination as ``("key=text", ...)``."""
    keys = list(values)
    return [tuple(f"{k}={v}" for k, v in zip(keys, combo))
            for combo in itertools.product(*(values[k] for k in keys))]


def flag_sets(pairs: list[str]) -> dict[str, list[str]]:
    """``--set`` flags -> ``{key: [text, ...]}``: a key given several times is swept."""
    values: dict[str, list[str]] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise SweepError(f"--set {pair!r}: expected KEY=VALUE, e.g. --set train.iters=100")
        values.setdefault(key, []).append(text)
    return values


def expand(grid: Grid, where: str) -> list[Job]:
    sets = grid_sets({k: [_toml_text(v, f"{where}: set.{k}") for v in vals]
                      for k, vals in grid.set.items()})
    jobs = []
    for protocol, method, backbone, seed, combo in itertools.product(
        grid.protocols, grid.methods or [None], grid.backbones or [None], grid.seeds, sets
    ):
        try:
            jobs.append(identify(protocol, method, backbone, seed, combo))
        except (HarnessError, ValueError) as exc:
            raise SweepError(f"{where}: {exc}") from None
    return jobs


def expand_all(grids: list[tuple[Grid, str]]) -> list[Job]:
    """Every grid's jobs in order, each run once (grids may overlap)."""
    seen: dict[str, Job] = {}
    for grid, where in grids:
        for job in expand(grid, where):
            seen.setdefault(job.name, job)
    return list(seen.values())


def assign_providers(to_run: list[Job], queued: list[Job]) -> list[Job]:
    """Order ``to_run`` so that each job starting from an untrained source model waits for
    the one job that trains it: a source_only run with the same cache, else the first job
    that needs it (which trains it on its way). The source model is never trained twice.

    ``queued``: jobs of the sweep already queued or running, which may be the trainer.
    """
    candidates = [*queued, *to_run]
    provider: dict[str, str] = {}
    for job in to_run:
        path = job.source_model
        if path is None or path in provider or Path(path).is_file():
            continue
        trainer = next((c for c in candidates if c.provides == path), None)
        provider[path] = (trainer or job).name
    linked = [replace(j, needs=trainer if (trainer := provider.get(j.source_model)) != j.name
                      else None) for j in to_run]
    # Providers first: a scheduler that starts jobs in order never waits on a later one.
    return [j for j in linked if j.needs is None] + [j for j in linked if j.needs is not None]


def flags_grid(protocols, methods, backbones, seeds, sets) -> Grid:
    """The grid given as ``harness sweep`` flags (``--set`` repeated for a key sweeps it)."""
    return Grid(protocols=protocols, methods=methods or [], backbones=backbones or [],
                seeds=seeds or [0], set={k: [_flag_value(t) for t in v]
                                         for k, v in flag_sets(sets).items()})


def _flag_value(text: str) -> Any:
    from harness.protocol import parse_value

    return parse_value(text)

