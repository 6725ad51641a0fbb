"""The method contract: an mmengine ``BaseModel`` trained on a source and a target batch.

A method subclasses :class:`UDAMethod`, declares a frozen ``HParams`` dataclass
(defaults = the paper's values) and implements :meth:`UDAMethod.loss`. The base
class owns everything a method must not touch: input normalisation, devices,
evaluation outputs and the non-finite-loss guard. ``loss`` runs through
``forward(mode="loss")`` so mmengine's DDP wrapper (which bypasses a model's own
``train_step``) trains methods exactly as a single process does.
"""

import abc
import dataclasses
import difflib
import math
import typing
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from pydantic import ConfigDict, TypeAdapter, ValidationError

from harness.errors import HarnessError
from harness.registry import MODELS
from harness.rounds import RoundContext
from harness.utils import IGNORE_INDEX


class NonFiniteLossError(HarnessError, FloatingPointError):
    """A loss term became NaN or infinite: the run stops before the update."""


class HParamsError(HarnessError, ValueError):
    """An unknown or ill-typed method hyper-parameter."""


#: Strict (2.5 is no int, "1" no number; an int is a fine float) and finite.
_HPARAM_CONFIG = ConfigDict(strict=True, allow_inf_nan=False)


def _as_tuples(value):
    """TOML has arrays only; frozen HParams declare tuples."""
    return tuple(_as_tuples(v) for v in value) if isinstance(value, list) else value


def build_hparams(cls: type, values: dict | None, method: str):
    """Instantiate a frozen HParams dataclass, each value checked against its field's type.

    Unknown keys name the closest field. Types are checked with pydantic, including
    ranges a method declares as ``Annotated[float, Field(gt=0)]``; checks that
    involve several fields raise :class:`HParamsError` in ``__post_init__``.
    """
    fields = {f.name for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls, include_extras=True)
    checked = {}
    for key, value in (values or {}).items():
        if key not in fields:
            close = difflib.get_close_matches(key, sorted(fields), n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            known = ", ".join(sorted(fields)) or "(none)"
            raise HParamsError(
                f"method {method!r} has no hyper-parameter {key!r}.{hint} Known: {known}."
            )
        try:
            checked[key] = TypeAdapter(hints[key], config=_HPARAM_CONFIG).validate_python(
                _as_tuples(value))
        except ValidationError as exc:
            raise HParamsError(
                f"method {method!r}: hyper-parameter {key} = {value!r}: "
                f"{exc.errors()[0]['msg']} (declared type {_type_name(hints[key])})"
            ) from None
    return cls(**checked)


def _type_name(hint) -> str:
    if typing.get_origin(hint) is typing.Annotated:  # the range is in pydantic's message
        hint = typing.get_args(hint)[0]
    return hint.__name__ if isinstance(hint, type) else str(hint)


def load_net(net: torch.nn.Module, path: str) -> None:
    """The backbone (``net.*`` keys) of a final weights file, loaded strictly."""
    from harness.checkpoints import load_final

    holder = torch.nn.Module()
    holder.net = net
    load_final(holder, path, prefix="net.")


class UDAMethod(BaseModel):
    @dataclasses.dataclass(frozen=True)
    class HParams:
        pass

    #: Protocol tasks the method applies to.
    tasks: ClassVar[tuple[str, ...]] = ("classification", "segmentation")
    #: Which training batches the loop draws: ("source", "target"), ("source",) ...
    train_domains: ClassVar[tuple[str, ...]] = ("source", "target")
    #: True only for methods that learn from target labels (oracle, supervised adapters).
    uses_target_labels: ClassVar[bool] = False
    #: Start from the cached source-only checkpoint of the same protocol/backbone/seed.
    needs_source_model: ClassVar[bool] = False
    #: Adapts without source data (only the source model's weights): the harness then
    #: builds no source training dataset. Implies ``needs_source_model``.
    source_free: ClassVar[bool] = False
    #: Segmentation pseudo-labels are label maps the harness reads at the front of the
    #: target's training pipeline (so crops and flips apply to them), from the round
    #: folder the method names with ``ctx.artifacts.set_current``.
    pseudo_label_maps: ClassVar[bool] = False
    #: Several optimizers (adversarial methods): ``optim_wrapper_cfg`` returns a
    #: ``MultiOptimWrapperConstructor`` config and the method overrides ``train_step``.
    multi_optimizer: ClassVar[bool] = False
    #: ``predict_probs`` returns the features the prediction is computed from, so
    #: feature-based validators (SND on features, DEV) can score the method.
    exposes_features: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # The declarations are the contract the harness compiles from: check them once here.
        if (cls.train_step is not UDAMethod.train_step) != cls.multi_optimizer:
            raise TypeError(f"{cls.__name__}: override train_step exactly when it declares "
                            "multi_optimizer = True")
        if cls.predict is not UDAMethod.predict and (
                cls.predict_probs is UDAMethod.predict_probs):
            raise TypeError(f"{cls.__name__}: a method that overrides predict also overrides "
                            "predict_probs, so validators score what it predicts")
        if cls.source_free and ("source" in cls.train_domains or not cls.needs_source_model):
            raise TypeError(f"{cls.__name__}: a source_free method trains on the target only "
                            "and declares needs_source_model = True")

    def __init__(
        self,
        backbone: dict,
        hparams: dict | None = None,
        align_corners: bool = False,
        source_checkpoint: str | None = None,
        data_preprocessor: dict | None = None,
    ):
        super().__init__(data_preprocessor=data_preprocessor or {"type": "BaseDataPreprocessor"})
        self.hp = build_hparams(self.HParams, hparams, type(self).__name__)
        self.net = MODELS.build(backbone)
        self.num_classes = backbone["num_classes"]
        if source_checkpoint is not None:
            load_net(self.net, source_checkpoint)
        norm = self.net.input_norm
        self.register_buffer("mean", torch.tensor(norm["mean"]).view(1, -1, 1, 1), False)
        self.register_buffer("std", torch.tensor(norm["std"]).view(1, -1, 1, 1), False)
        self.to_bgr = norm["to_bgr"]
        self.align_corners = align_corners

    @classmethod
    def optim_wrapper_cfg(cls, base: dict, hparams) -> dict:
        """The optimizer wrapper config, given the protocol's (``base``).

        Methods with several optimizers (adversarial ones) return an mmengine
        ``MultiOptimWrapperConstructor`` config keyed by their submodule names and
        override ``train_step``; everyone else trains with the protocol's optimizer.
        """
        return base

    @classmethod
    def rounds(cls, hparams) -> int:
        """How many rounds the run is cut into (0: no rounds, ``on_round_start`` never called).

        Rounds split the protocol's iterations evenly; round-based methods
        (self-training, multi-phase generative methods) return their HParams' count.
        """
        return 0

    @classmethod
    def weights_from(cls, hparams) -> dict[str, str]:
        """Parts loaded from another run's final weights file, keyed by the hyper-parameter
        that names the file: name -> file (SUIT: ``{"generator": PATH}``).

        The record names the run each came from (``method.loaded_weights``); leaderboards
        give such runs a row of their own and do not count ``--set method.NAME=PATH`` as
        an override (as ``model.init``), e.g. SUIT's transplanted generator.
        """
        return {}

    def on_round_start(self, ctx: "RoundContext") -> None:
        """Called at the start of round ``ctx.round``, and once before training starts so
        that a run resumed mid-round gets its round's state back (reload what
        ``ctx.artifacts`` holds instead of recomputing it)."""

    def pictures(self) -> dict[str, np.ndarray]:
        """Pictures of the trained method (name -> HxWx3 uint8 RGB), e.g. generated samples.

        Called once after training on rank 0; the harness writes them as PNG files into
        the work dir and beside the record (``harness.pictures``); methods never write
        files. Names are lower-case file-name words (``samples``, ``translated``).
        """
        return {}

    # -- what methods use -------------------------------------------------------
    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 (0-255) or float [0, 1] RGB images -> what the backbone's weights expect.

        ``input_norm`` mean/std are in 0-255 pixel units (mmseg's convention), in
        the channel order after the optional RGB->BGR swap.
        """
        x = x.float() if x.dtype == torch.uint8 else x * 255.0
        if self.to_bgr:
            x = x.flip(1)
        return (x - self.mean) / self.std

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))

    def resize_to(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """Dense logits upsampled (bilinear) to the label's size; classifiers unchanged."""
        if logits.dim() == 4 and logits.shape[-2:] != label.shape[-2:]:
            logits = F.interpolate(
                logits, size=label.shape[-2:], mode="bilinear", align_corners=self.align_corners
            )
        return logits

    def supervised_loss(self, batch: dict) -> torch.Tensor:
        logits = self.resize_to(self.logits(batch["inputs"]), batch["label"])
        return F.cross_entropy(logits, batch["label"].long(), ignore_index=IGNORE_INDEX)

    @abc.abstractmethod
    def loss(self, source: dict | None, target: dict | None) -> dict[str, torch.Tensor]:
        """The method's loss terms for one source batch and one target batch."""

    def predict(self, inputs: torch.Tensor) -> torch.Tensor:
        """Test-time logits; methods that change inference (calibrator, PLCA) override it."""
        return self.logits(inputs)

    def predict_probs(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Class probabilities at the head's resolution and the features they are computed
        from (None where ``exposes_features`` is False): what validators read."""
        features = self.net.forward_features(self.normalize(inputs))
        return self.net.classify(features).softmax(1), features

    # -- mmengine plumbing ----------------------------------------------------
    def forward(self, inputs=None, data_samples=None, mode="tensor", source=None, target=None):
        if mode == "loss":
            return self.loss(source, target)
        return self.predict(inputs)

    def parse_losses(self, losses):
        loss, log_vars = super().parse_losses(losses)
        bad = {k: float(v) for k, v in log_vars.items() if not math.isfinite(float(v.detach()))}
        if bad:
            raise NonFiniteLossError(
                f"{type(self).__name__}: non-finite loss {bad}; the update was not applied and "
                "the last good checkpoint is kept. Lower the learning rate, enable gradient "
                "clipping, or check the inputs for NaN."
            )
        return loss, log_vars

    @torch.no_grad()
    def val_step(self, data: dict) -> list[dict]:
        data = self.data_preprocessor(data, False)
        label = data["label"]
        logits = self.resize_to(self.predict(data["inputs"]), label)
        return [{"pred": logits.argmax(1), "gt": label}]

    test_step = val_step
