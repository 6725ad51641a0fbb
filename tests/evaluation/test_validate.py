"""Validators as evaluation feeds them: split-by-split batches and the method's declared inputs."""

import pytest
import torch

from harness.evaluation import validate
from harness.evaluation.validators import MissingInputError, build_validator


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
