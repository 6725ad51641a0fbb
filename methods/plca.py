"""PLCA: Pixel-Level Cycle Association (Kang et al., NeurIPS 2020; seed 002).

Each source pixel is associated with its most similar target pixel, and that
target pixel back with its most similar source pixel; a cycle whose two ends
share a class is valid, and a contrastive loss pulls its pairs together (Eq.
4-6), on backbone features (cosine) and on predictions (negative KL, Eq. 9-10),
after spatial aggregation of the target (Eq. 7-8). Source pixels also get
cross-entropy and Lovasz-softmax, and both domains an adaptive label smoothing
(Eq. 13); the overall loss is Eq. 14.

Values the paper's text lost come from its official code
(kgl-prml/Pixel-Level-Cycle-Association, commit cbf91b2), cited beside each.
Two quirks of the official run are not reproduced: its Lovasz term is scaled by
world size x ITER_SIZE (an effective 3.0 instead of Eq. 14's 0.75), and its
poly horizon (30 epochs) outlasts training (24 epochs). Training schedule, crop,
batch and test size are protocol data (protocols/gta5_cityscapes.toml,
protocols/synthia_cityscapes.toml).

The paper's "Sim-PLCA" ablation has no code in the official repository and no
equation in the paper, so it is not provided here.
"""

from dataclasses import dataclass
from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt

from harness.losses.association import cycle_association_loss, spatial_aggregate
from harness.losses.label_smoothing import adaptive_label_smoothing
from harness.losses.lovasz import lovasz_softmax
from harness.method import UDAMethod
from harness.registry import METHODS
from harness.utils import IGNORE_INDEX


@METHODS.register_module(name="plca")
class PLCA(UDAMethod):
    tasks = ("segmentation",)

    @dataclass(frozen=True)
    class HParams:
        lovasz_weight: NonNegativeFloat = 0.75        # Eq. 14; config/config.py TRAIN.LOV_W
        #: Eq. 14; TRAIN.ASSO_W (feature and prediction term each)
        association_weight: NonNegativeFloat = 0.1
        #: Eq. 14; TRAIN.LSR_W (source and target term each)
        smoothing_weight: NonNegativeFloat = 0.01
        smoothing_threshold: PositiveFloat = 10.0     # Eq. 13 T; TRAIN.LSR_THRES
        #: Eq. 7-8; TRAIN.SPAGG_ALPHA, tools/test.py
        aggregation_alpha: Annotated[float, Field(ge=0, le=1)] = 0.5
        multi_level: bool = True              # Sec. 3.4; APPLY_MULTILAYER_ASSOCIATION
        aggregate_at_inference: bool = True   # Sec. 3.3; g2c_test.yaml TEST.WITH_AGGREGATION
        chunk_size: PositiveInt = 1024        # rows per similarity block (memory, not maths)

    def _forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.net.forward_features(self.normalize(images))
        return features, self.net.classify(features)

    def loss(self, source, target):
        hp = self.hp
        # Separate passes: batch-norm statistics per domain, as the official solver.
        feat_s, logit_s = self._forward(source["inputs"])
        feat_t, logit_t = self._forward(target["inputs"])
        label = source["label"].long()
        # Associations run at the head's resolution (92x92 for 730 crops); labels
        # come down with nearest interpolation (solver/solver.py).
        small = F.interpolate(label[:, None].float(), size=feat_s.shape[-2:], mode="nearest")
        small = small[:, 0].long()
        full = self.resize_to(logit_s, label)
        assoc = dict(aggregate_alpha=hp.aggregation_alpha, ignore_index=IGNORE_INDEX,
                     chunk_size=hp.chunk_size)
        losses = {
            "loss_ce": F.cross_entropy(full, label, ignore_index=IGNORE_INDEX),
            "loss_lovasz": hp.lovasz_weight * lovasz_softmax(full.softmax(1), label, IGNORE_INDEX),
            "loss_assoc_feat": hp.association_weight * cycle_association_loss(
                feat_s, feat_t, small, metric="cos", **assoc).loss,
            "loss_smooth_src": hp.smoothing_weight * adaptive_label_smoothing(
                logit_s, hp.smoothing_threshold),
            "loss_smooth_tgt": hp.smoothing_weight * adaptive_label_smoothing(
                logit_t, hp.smoothing_threshold),
        }
        if hp.multi_level:
            losses["loss_assoc_pred"] = hp.association_weight * cycle_association_loss(
                logit_s.softmax(1), logit_t.softmax(1), small, metric="kl", **assoc).loss
        return losses

    def predict(self, inputs: torch.Tensor) -> torch.Tensor:
        """Aggregate features (cosine), classify, aggregate probabilities (negative KL).

        Returns probabilities; their argmax after upsampling is the prediction
        (official tools/test.py).
        """
        if not self.hp.aggregate_at_inference:
            return self.logits(inputs)
        return self.predict_probs(inputs)[0]

    def predict_probs(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.hp.aggregate_at_inference:
            return super().predict_probs(inputs)
        alpha, chunk = self.hp.aggregation_alpha, self.hp.chunk_size
        features = spatial_aggregate(self.net.forward_features(self.normalize(inputs)), alpha,
                                     "cos", chunk)
        probs = self.net.classify(features).softmax(1)
        return spatial_aggregate(probs, alpha, "kl", chunk), features
