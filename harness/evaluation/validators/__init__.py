"""Label-free model-selection scores (validators); importing this registers them all.

See :mod:`harness.evaluation.validators.base` for the contract and the keys a
validator reads.
"""

from harness.evaluation.validators import bnm, dev, entropy, im, snd, source_val  # noqa: F401
from harness.evaluation.validators.base import (
    KEYS,
    VALIDATORS,
    MissingInputError,
    UndefinedScore,
    Validator,
    build_validator,
    check_validators,
)
from harness.evaluation.validators.sampling import Reservoir, sample_pixels

__all__ = ["KEYS", "VALIDATORS", "MissingInputError", "Reservoir", "UndefinedScore",
           "Validator", "build_validator", "check_validators", "sample_pixels"]
