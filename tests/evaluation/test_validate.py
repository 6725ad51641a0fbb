"""Validators as evaluation feeds them: split-by-split batches, the method's declared
inputs, and scores the samples do not define."""

import math

import pytest
import torch

from harness.evaluation import validate
from harness.evaluation.validators import (
    MissingInputError,
    UndefinedScore,
    Validator,
    build_validator,
)


def test_dev_fed_split_by_split_equals_dev_fed_paired_batches():
    g = torch.Generator().manual_seed(0)
    source = {"source_probs": torch.softmax(torch.randn(60, 4, generator=g), 1),
              "source_labels": torch.randint(0, 4, (60,), generator=g),
              "source_features": torch.randn(60, 8, generator=g)}
    target = {"target_features": torch.randn(80, 8, generator=g) + 0.5}
    paired, split = build_validator("dev"), build_validator("dev")
    paired.update({**source, **target})
    split.update(target)  # evaluation reads the target split first, then the source's
    split.update(source)
    for v in (paired, split):
        v.all_reduce()
    assert split.score() == pytest.approx(paired.score(), rel=1e-12)


def test_a_validator_reading_features_of_a_method_without_them_names_both():
    with pytest.raises(MissingInputError, match=r"'dev' reads .*'my_method' does not expose"):
        validate.build(["entropy", "dev"], "my_method", exposes_features=False, source_val=True)
    with pytest.raises(MissingInputError, match="source_probs"):
        validate.build(["dev"], "my_method", exposes_features=True, source_val=False)
    assert [v.name for v in validate.build(["entropy", "im"], "m", False, False)] == [
        "entropy", "im"]


class _Fixed(Validator):
    """A validator whose score is given: a value, or an exception to raise."""

    name, higher_is_better, reads = "fixed", True, frozenset({"target_probs"})

    def __init__(self, outcome):
        self.outcome = outcome

    def update(self, batch) -> None:
        pass

    def all_reduce(self) -> None:
        pass

    def score(self) -> float:
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def _scores(*validators):
    return validate.scores(_ProbsModel(), list(validators),
                           [{"inputs": torch.zeros(2, 1, 28, 28)}], None, {})


class _ProbsModel:
    exposes_features = False

    def data_preprocessor(self, batch, training):
        return batch

    def predict_probs(self, inputs):
        return torch.full((len(inputs), 2), 0.5), None


def test_an_undefined_score_is_recorded_as_none_with_its_reason(monkeypatch):
    logged = []
    monkeypatch.setattr(validate, "print_log", lambda message, **kw: logged.append(message))
    out = _scores(build_validator("entropy"), _Fixed(UndefinedScore("no sample left")))
    assert out == {"entropy": pytest.approx(math.log(2)), "fixed": None}
    assert logged == ["validator 'fixed' has no score at this point: no sample left"]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_validator_that_returns_a_non_finite_score_is_an_error(value):
    with pytest.raises(ValueError, match=rf"validator 'fixed' scored {value}; .*UndefinedScore"):
        _scores(_Fixed(value))
