"""Validator scores of the model at one evaluation point, from unlabeled target
training data (and, for validators that read it, the source validation split).

Segmentation maps are read at a seeded sample of pixels per image at the head's
resolution, so memory stays bounded at 2048x1024.
"""

import logging
import math

import torch
from mmengine.logging import print_log
from mmengine.runner.amp import autocast

TARGET_KEYS = frozenset({"target_probs", "target_features"})
SOURCE_KEYS = frozenset({"source_probs", "source_labels", "source_features"})


def exposed_keys(exposes_features: bool, source_val: bool) -> set[str]:
    """What a method's evaluation can feed the validators."""
    keys = {"target_probs"} | ({"source_probs", "source_labels"} if source_val else set())
    if exposes_features:
        keys |= {"target_features"} | ({"source_features"} if source_val else set())
    return keys


def build(names, method, exposes_features: bool, source_val: bool) -> list:
    """The named validators, checked against what ``method`` exposes (a clear error if not)."""
    from harness.evaluation.validators import check_validators

    return check_validators(names, exposed_keys(exposes_features, source_val), method)


def validator_batches(model, loader, domain: str, pixels: int, generator, fp16: bool):
    """The model's forward pass over ``loader`` as validators read it, batch by batch."""
    for batch in loader:
        data = model.data_preprocessor(batch, False)
        with torch.no_grad(), autocast(enabled=fp16):
            probs, features = model.predict_probs(data["inputs"])
        labels = data.get("label") if domain == "source" else None
        if probs.dim() == 4:  # dense: a seeded sample of pixels per image
            from harness.evaluation.validators import sample_pixels

            yield sample_pixels(probs.float(), None if features is None else features.float(),
                                pixels, generator, labels=labels, domain=domain)
            continue
        out = {f"{domain}_probs": probs.float()}
        if features is not None:
            out[f"{domain}_features"] = features.float().flatten(1)
        if labels is not None:
            out[f"{domain}_labels"] = labels
        yield out


def scores(model, names, target_loader, source_loader, selection: dict,
           fp16: bool = False) -> dict[str, float | None]:
    """name -> score of every validator in ``names`` for ``model`` as it is now; None
    where the samples give a validator no score (logged with its reason)."""
    validators = build(names, type(model).__name__, model.exposes_features,
                       source_loader is not None)
    pixels = selection.get("pixels_per_image", 1024)
    for domain, loader, keys in (("target", target_loader, TARGET_KEYS),
                                 ("source", source_loader, SOURCE_KEYS)):
        readers = [v for v in validators if v.reads & keys]
        if not readers:
            continue
        # The same pixels at every evaluation point: scores differ by the model only.
        generator = torch.Generator().manual_seed(selection.get("seed", 0))
        for batch in validator_batches(model, loader, domain, pixels, generator, fp16):
            for validator in readers:
                validator.update(batch)
    out = {}
    for validator in validators:
        validator.all_reduce()
        out[validator.name] = _score(validator)
    return out


def _score(validator) -> float | None:
    from harness.evaluation.validators import UndefinedScore

    try:
        value = float(validator.score())
    except UndefinedScore as exc:
        print_log(f"validator {validator.name!r} has no score at this point: {exc}",
                  logger="current", level=logging.WARNING)
        return None
    if not math.isfinite(value):  # a bug in the validator, not a property of the data
        raise ValueError(f"validator {validator.name!r} scored {value}; a validator gives a "
                         "finite score or raises UndefinedScore with the reason")
    return value
