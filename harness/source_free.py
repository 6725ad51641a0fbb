"""Source-free runs: adaptation from the source model's weights and the target data only.

A method that declares ``source_free = True`` trains on ``("target",)`` only, so
``harness.config`` builds no source training loader and the rounds hook no source
split; the source *test* split is built only when the model is evaluated, after
training (``harness.loops.DomainsValLoop``), and the record says ``source_free``.

The source model itself is trained by a separate plain ``source_only`` run, which
``harness.run.ensure_source_model`` starts when the cache lacks it. Where the source
data is not there (the situation source-free adaptation exists for), that run cannot
be made here: :func:`explain_missing_source` says which command makes it and where.
"""

import contextlib

from harness.data.digit_readers import DigitFileError
from harness.errors import DataError, HarnessError
from harness.paths import cache_entry_name


class SourceModelMissingError(HarnessError, FileNotFoundError):
    """A source-free method needs a cached source model that cannot be trained here."""


def source_model_command(plan) -> str:
    return (f"harness run --protocol {plan.protocol.name} --method source_only "
            f"--backbone {plan.backbone} --seed {plan.seed}")


@contextlib.contextmanager
def explain_missing_source(plan):
    """Around training the source model: for a source-free method, missing or bad source
    data becomes one error naming the command that fills the cache entry."""
    try:
        yield
    except (DataError, DigitFileError, FileNotFoundError) as exc:
        if not plan.method_cls.source_free:
            raise
        raise SourceModelMissingError(
            f"{plan.method} adapts without source data, from the source-only model of "
            f"{plan.protocol.name} / {plan.backbone} / seed {plan.seed}, which is not cached "
            f"({plan.source_cache}) and cannot be trained here because the source data is "
            f"not readable: {exc}\nFix: run `{source_model_command(plan)}` where the source "
            f"data is, then copy its cache entry {cache_entry_name(plan.source_cache)} into "
            "this machine's source-model cache ($HARNESS_CACHE or work_dirs/source_models)."
        ) from None
