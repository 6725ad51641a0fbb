"""Load pretrained weights from a local file into a model, with key mapping and a report.

Weights come from local files only (``torch.load(..., weights_only=True)``, never a
download). A *key map* renames the file's keys into the model's namespace:

- a mapping ``{file_prefix: model_prefix}``: the longest matching prefix is replaced,
  a ``None`` value drops the key (e.g. an ImageNet classifier the model does not
  have), keys matching no prefix keep their name;
- a callable ``key -> new_key | None`` (``None`` drops the key);
- ``None``: names are used as they are.

The load is all-or-nothing unless ``strict=False``: missing keys, keys the model does
not have and shape mismatches are listed in one error that names the file.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from mmengine.logging import print_log
from torch import nn

from harness.errors import HarnessError

KeyMap = Callable[[str], "str | None"] | Mapping[str, "str | None"] | None

# Checkpoint wrappers whose value is the state dict: mmengine and fyu/drn save
# {"state_dict": ...}, PLCA's utils/utils.py load_model reads {"model": ...}.
_WRAPPER_KEYS = ("state_dict", "model")
# BatchNorm's update counter only matters with momentum=None; Caffe-converted files
# (the DeepLab init file) and torchvision's ImageNet files do not carry it.
_COUNTER_SUFFIX = "num_batches_tracked"
_LISTED = 8  # keys shown per category in an error message


class PretrainedLoadError(HarnessError, RuntimeError):
    """A weight file cannot be loaded into a model as asked."""


@dataclass(frozen=True)
class LoadReport:
    """What a call of :func:`load_pretrained` did, key by key (model-side names)."""

    path: str
    loaded: tuple[str, ...]
    # model keys left at their fresh initialisation because ``allow_missing`` permits it
    fresh: tuple[str, ...]
    # file keys the key map discarded on purpose
    dropped: tuple[str, ...]
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    # (model key, shape in file, shape in model)
    mismatched: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...]

    @property
    def complete(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def describe(self) -> str:
        lines = [f"{len(self.loaded)} tensors loaded from {self.path}"]
        if self.fresh:
            lines.append(f"{len(self.fresh)} left at initialisation: {_listing(self.fresh)}")
        if self.dropped:
            lines.append(
                f"{len(self.dropped)} file keys dropped by the key map: {_listing(self.dropped)}"
            )
        if self.missing:
            lines.append(f"{len(self.missing)} missing from the file: {_listing(self.missing)}")
        if self.unexpected:
            lines.append(f"{len(self.unexpected)} not in the model: {_listing(self.unexpected)}")
        if self.mismatched:
            shapes = [f"{k} (file {list(f)} vs model {list(m)})" for k, f, m in self.mismatched]
            lines.append(f"{len(self.mismatched)} shape mismatches: {_listing(shapes)}")
        return "\n".join(lines)


def _listing(items: Collection[str]) -> str:
    items = list(items)
    shown = ", ".join(items[:_LISTED])
    return shown + (f", ... and {len(items) - _LISTED} more" if len(items) > _LISTED else "")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict of tensors from ``path`` (unwrapping common checkpoint wrappers)."""
    path = Path(path)
    if not path.is_file():
        raise PretrainedLoadError(
            f"pretrained weight file {path} does not exist; pass the path of a local .pth file"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (
        Exception
    ) as err:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        raise PretrainedLoadError(
            f"cannot read {path} as a weights-only PyTorch file ({err.__class__.__name__}: {err}); "
            "save the weights with torch.save(model.state_dict(), path)"
        ) from err
    for key in _WRAPPER_KEYS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj:
        raise PretrainedLoadError(
            f"{path} holds a {type(obj).__name__}, not a non-empty state dict"
        )
    not_tensors = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise PretrainedLoadError(
            f"{path}: values of {_listing(not_tensors)} are not tensors; expected a state dict"
        )
    # nn.DataParallel saves every key under "module."
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return obj


def _as_callable(key_map: KeyMap) -> Callable[[str], str | None]:
    if key_map is None:
        return lambda key: key
    if callable(key_map):
        return key_map
    by_length = sorted(key_map.items(), key=lambda item: len(item[0]), reverse=True)

    def rename(key: str) -> str | None:
        for prefix, target in by_length:
            if key.startswith(prefix):
                return None if target is None else target + key[len(prefix) :]
        return key

    return rename


def load_pretrained(
    model: nn.Module,
    path: str | Path,
    key_map: KeyMap = None,
    strict: bool = True,
    *,
    allow_missing: Collection[str] = (),
    reshape: Collection[str] = (),
) -> LoadReport:
    """Copy the tensors of the file at ``path`` into ``model``.

    ``allow_missing``: model key prefixes the file may lack even when strict (a freshly
    initialised head). ``reshape``: model keys whose file tensor is reshaped to the
    model's shape when the element counts agree (fully connected weights into
    convolutions, Long et al. 2015 §3.1). With ``strict`` (the default) any missing
    key, key the model lacks or shape mismatch raises :class:`PretrainedLoadError`
    before the model is touched; with ``strict=False`` the matching part is loaded and
    the report lists the rest.
    """
    source = read_state_dict(path)
    rename = _as_callable(key_map)
    target = model.state_dict()

    mapped: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    dropped = []
    for file_key, tensor in source.items():
        model_key = rename(file_key)
        if model_key is None:
            dropped.append(file_key)
            continue
        if model_key in mapped:
            raise PretrainedLoadError(
                f"{path}: keys {origin[model_key]!r} and {file_key!r} both map to {model_key!r}; fix the key map"
            )
        mapped[model_key] = tensor
        origin[model_key] = file_key

    loadable, mismatched = {}, []
    for key, tensor in mapped.items():
        if key not in target:
            continue
        want = target[key].shape
        if tensor.shape != want and key in reshape and tensor.numel() == want.numel():
            tensor = tensor.reshape(want)
        if tensor.shape == want:
            loadable[key] = tensor
        else:
            mismatched.append((key, tuple(tensor.shape), tuple(want)))

    absent = [k for k in target if k not in mapped and not k.endswith(_COUNTER_SUFFIX)]
    fresh = tuple(k for k in absent if k.startswith(tuple(allow_missing)))
    unexpected = tuple(
        key if origin[key] == key else f"{origin[key]} -> {key}"
        for key in mapped
        if key not in target
    )
    report = LoadReport(
        path=str(path),
        loaded=tuple(loadable),
        fresh=fresh,
        dropped=tuple(dropped),
        missing=tuple(k for k in absent if k not in fresh),
        unexpected=unexpected,
        mismatched=tuple(mismatched),
    )
    if strict and not report.complete:
        raise PretrainedLoadError(
            f"pretrained weights {path} do not fit {type(model).__name__}:\n{report.describe()}\n"
            "Fix: pass the file made for this model, a key_map for its layout, "
            "or strict=False to load only the matching part."
        )
    model.load_state_dict(loadable, strict=False)
    print_log(report.describe(), logger="current")
    return report
