"""The validator contract, the registry and the name checks.

A validator scores a checkpoint without target labels. It is fed batches of
named tensors (:data:`KEYS`) with ``update(batch)``, one call per batch so that
memory stays bounded, and gives one finite number with ``score()``, or raises
:class:`UndefinedScore` saying why the samples it saw give none (the point is then
recorded without that score, and no rule picks it by that validator). With several
processes, every process feeds its own share, then calls ``all_reduce()`` once;
``score()`` is then the score of all processes' samples.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import ClassVar

import torch

from harness.errors import HarnessError
from harness.names import check_name

#: What a validator may read, and the layout the caller feeds. N is the number of
#: samples in the batch (images, or sampled pixels: see :func:`sample_pixels`).
KEYS = {
    "target_probs": "float [N, C], softmax probabilities on target samples",
    "target_features": "float [N, D], the classifier's input features on target samples",
    "source_probs": "float [N, C], softmax probabilities on source-validation samples",
    "source_labels": "int [N], source-validation labels (the ignore id is skipped)",
    "source_features": "float [N, D], features on source-validation samples",
    "source_confusion": "int [C, C], source-validation confusion counts (rows: ground truth)",
}


class MissingInputError(HarnessError, ValueError):
    """A validator reads something the method does not expose."""


class UndefinedScore(HarnessError, ArithmeticError):
    """The samples give this validator no finite score (the message says why)."""


class Validator(ABC):
    """One label-free model-selection score, computed over batches."""

    name: ClassVar[str]
    #: The direction: True when a larger score means a better checkpoint.
    higher_is_better: ClassVar[bool]
    #: The keys of :data:`KEYS` that ``update`` reads (a subclass may set it per instance).
    reads: frozenset[str]

    @abstractmethod
    def update(self, batch: Mapping[str, torch.Tensor]) -> None:
        """Accumulate one batch; it must hold at least the keys in ``reads``."""

    @abstractmethod
    def score(self) -> float:
        """The score of every sample seen (after ``all_reduce``: on all processes): finite,
        or :class:`UndefinedScore` raised."""

    @abstractmethod
    def all_reduce(self) -> None:
        """Combine the state of all processes, once, after the last ``update``."""

    def _inputs(self, batch: Mapping[str, torch.Tensor],
                keys: frozenset[str] | None = None) -> dict[str, torch.Tensor]:
        keys = self.reads if keys is None else keys
        missing = sorted(keys - batch.keys())
        if missing:
            raise KeyError(f"validator {self.name!r} reads {missing}, absent from the batch")
        return {key: batch[key].detach() for key in keys}


def probabilities(probs: torch.Tensor, key: str) -> torch.Tensor:
    """``probs`` as float64 after checking it holds probabilities, not logits."""
    if probs.dim() != 2:
        raise ValueError(f"{key} must be [N, C], got shape {tuple(probs.shape)}")
    probs = probs.double()
    if probs.numel() and not torch.allclose(probs.sum(1), probs.new_ones(()), atol=1e-3):
        raise ValueError(f"{key} rows do not sum to 1: pass softmax probabilities, not logits")
    return probs


def entropies(probs: torch.Tensor) -> torch.Tensor:
    """Per-row entropy in nats; ``entr`` takes 0 log 0 as 0."""
    return torch.special.entr(probs).sum(1)


VALIDATORS: dict[str, type[Validator]] = {}


def register(cls: type[Validator]) -> type[Validator]:
    if cls.name in VALIDATORS:
        raise ValueError(f"validator {cls.name!r} registered twice")
    VALIDATORS[cls.name] = cls
    return cls


def build_validator(name: str, **kwargs) -> Validator:
    """A fresh validator by registered name (unknown names list the closest)."""
    return VALIDATORS[check_name("validator", name, VALIDATORS)](**kwargs)


def check_validators(
    validators: Iterable[str | Validator], exposes: Iterable[str], method: str
) -> list[Validator]:
    """Build the named validators and check ``method`` exposes all they read.

    ``exposes`` lists the :data:`KEYS` the method's evaluation can feed. An
    instance is taken as it is (e.g. ``SND(space="features")``); a name is
    built with its defaults.
    """
    exposes = {check_name("validator input", key, KEYS) for key in exposes}
    built = [v if isinstance(v, Validator) else build_validator(v) for v in validators]
    for validator in built:
        missing = sorted(validator.reads - exposes)
        if missing:
            raise MissingInputError(
                f"validator {validator.name!r} reads {', '.join(missing)}, which method "
                f"{method!r} does not expose (it exposes {', '.join(sorted(exposes)) or 'nothing'}); "
                f"drop {validator.name!r} from the validators or use one that reads only those"
            )
    return built
