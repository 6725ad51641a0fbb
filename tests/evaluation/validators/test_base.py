"""Bad input: unknown names, inputs a method does not expose, logits for probabilities."""

import pytest
import torch

from harness.errors import HarnessError
from harness.evaluation.validators import MissingInputError, build_validator, check_validators
from harness.names import UnknownNameError


def test_logits_are_refused():
    with pytest.raises(ValueError, match="not logits"):
        build_validator("entropy").update({"target_probs": torch.randn(4, 3)})


def test_unknown_validator_lists_closest():
    with pytest.raises(UnknownNameError, match="Did you mean 'entropy'"):
        build_validator("entopy")
    with pytest.raises(UnknownNameError, match="'target_probs'"):
        check_validators(["entropy"], exposes=["target_prob"], method="source_only")


def test_check_validators_names_the_validator_and_the_method():
    built = check_validators(["entropy", build_validator("snd")], ["target_probs"], "cbst")
    assert [v.name for v in built] == ["entropy", "snd"]
    with pytest.raises(MissingInputError) as err:
        check_validators(["entropy", "dev"], ["target_probs", "source_probs"], "cbst")
    assert isinstance(err.value, HarnessError) and isinstance(err.value, ValueError)
    message = str(err.value)
    assert "'dev'" in message and "'cbst'" in message and "source_features" in message
    assert "'entropy'" not in message
