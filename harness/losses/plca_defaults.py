"""PLCA training settings recovered from the official code, each with its source.

Source: github.com/kgl-prml/Pixel-Level-Cycle-Association at commit cbf91b2
(paths below are inside that repository). Paper: Kang et al., NeurIPS 2020,
Sec. 4.2, whose text lost several of these numbers.

Where each term is evaluated (solver/solver.py, ``Solver.association``):
- feature association: backbone layer4 output (2048-d), cosine, at the head's
  output resolution (92x92 for 730 crops); source labels brought to that size
  with nearest interpolation;
- prediction association: softmax of the head's logits at the same resolution,
  negative KL; both associations aggregate the target first (alpha 0.5);
- cross-entropy and Lovasz-softmax: source logits upsampled bilinearly
  (align_corners=False) to the label size, Lovasz on their softmax over the
  valid pixels of the whole batch, present classes only;
- label smoothing: log-softmax of source and target logits at the head's
  resolution, every pixel, one term per domain;
- source and target go through the network in separate forward passes (BN
  statistics per domain), BN is trained (config/config.py TRAIN.FREEZE_BN
  False) and synchronised across the 2 GPUs (tools/train.py).

Two quirks of the official run, kept out of the defaults below:
- the Lovasz term is multiplied by world_size * ITER_SIZE (solver/solver.py) and,
  in the multi-GPU variant, by world_size again inside
  solver/lov_softmax_multigpu.py; after DDP gradient averaging and gradient
  accumulation its effective weight is 0.75 * 2 GPUs * 2 accumulation steps = 3.0
  relative to the cross-entropy, versus 0.75 in the paper's Eq. 14;
- the poly schedule's horizon (POLY.MAX_EPOCHS) is longer than training
  (TRAIN.MAX_EPOCHS), so the learning rate never reaches zero.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PLCADefaults:
    # --- model
    backbone: str = "deeplabv2_resnet101"  # experiments/config/g2c_train.yaml MODEL.NETWORK_NAME
    # ImageNet-pretrained ResNet-101 (tools/train.py loads model/resnet101-imagenet.pth).
    aspp_dilations: tuple[int, ...] = (
        6,
        12,
        18,
        24,
    )  # model/segmentation/deeplabv2.py ASPP, summed, no bias
    # layer3/layer4 dilated (model/segmentation/segmentation.py replace_stride_with_dilation);
    # Caffe-style ResNet: stride on the first 1x1 conv, ceil-mode max-pool (model/resnet.py).
    output_stride: int = 8
    # A 730 crop gives 365 -> 183 -> 92 pixels: the paper's "92 x 92" (Sec. 4.2).
    association_size: tuple[int, int] = (92, 92)

    # --- optimisation
    optimizer: str = "SGD"  # config/config.py TRAIN.OPTIMIZER
    lr: float = 2.5e-4  # experiments/config/{g2c,s2c}_train.yaml TRAIN.BASE_LR
    head_lr_mult: float = 1.0  # {g2c,s2c}_train.yaml TRAIN.LR_MULT (no 10x for the classifier)
    momentum: float = 0.9  # config/config.py TRAIN.MOMENTUM
    weight_decay: float = 5e-4  # {g2c,s2c}_train.yaml TRAIN.WEIGHT_DECAY
    poly_power: float = (
        0.9  # {g2c,s2c}_train.yaml POLY.POWER, solver/utils.py adjust_learning_rate_poly
    )
    # TRAIN_BATCH_SIZE 4 split over 2 GPUs (data/utils.py get_dataloader: batch_size // world_size;
    # README trains on 2 GPUs) times ITER_SIZE 2 accumulated steps: 2 x 2 x 2 = 8 (paper Sec. 4.2).
    batch_size: int = 8
    grad_accumulation: int = 2  # {g2c,s2c}_train.yaml TRAIN.ITER_SIZE
    # solver/solver.py compute_iters_per_epoch: 2975 Cityscapes images -> 1488 per GPU
    # (DistributedSampler) -> 744 batches of 2 (drop_last) -> ceil(744 / ITER_SIZE) = 372.
    iters_per_epoch: int = 372
    gta5_schedule_iters: int = (
        11160  # g2c_train.yaml POLY.MAX_EPOCHS 30 x 372; the paper's "about 11K"
    )
    # g2c_train.yaml TRAIN.MAX_EPOCHS 24 x 372 (28 x 372 = 10416 in the version at commit e2097f4).
    gta5_train_iters: int = 8928
    synthia_schedule_iters: int = 3720  # s2c_train.yaml POLY.MAX_EPOCHS 10 x 372
    synthia_train_iters: int = (
        2976  # s2c_train.yaml TRAIN.MAX_EPOCHS 8 x 372; the paper's "about 3K"
    )

    # --- data
    # tools/train.py get_transform: shorter edge drawn from [LOADSIZE, int(1.3 * LOADSIZE)] with
    # LOADSIZE 760 ({g2c,s2c}_train.yaml), both ends included (data/transforms.py RandomResize).
    resize_short_edge: tuple[int, int] = (760, 988)
    crop: tuple[int, int] = (730, 730)  # {g2c,s2c}_train.yaml CROPSIZE; labels padded with 255
    flip_prob: float = 0.5  # tools/train.py RandomHorizontalFlip(0.5)
    # (H, W) fed to the network at test time (g2c_test.yaml INPUT_SIZE_T); logits are then
    # upsampled bilinearly to the 1024 x 2048 labels (tools/test.py).
    test_size: tuple[int, int] = (730, 1460)
    # config/config.py DATASET.IMG_MODE 'BGR' with tools/train.py mean, std 1, pixels in 0-255.
    pixel_mean_bgr: tuple[float, float, float] = (104.00698793, 116.66876762, 122.67891434)
    ignore_index: int = 255  # config/config.py DATASET.IGNORE_LABEL

    # --- losses (paper Eq. 14)
    ce_weight: float = 1.0  # solver/solver.py association(): 1.0 * CELoss
    lovasz_weight: float = 0.75  # config/config.py TRAIN.LOV_W
    association_weight: float = 0.1  # TRAIN.ASSO_W, on the feature and on the prediction term each
    label_smoothing_weight: float = 0.01  # TRAIN.LSR_W, on the source and on the target term each
    label_smoothing_threshold: float = 10.0  # TRAIN.LSR_THRES, the paper's T (Eq. 13)
    aggregation_alpha: float = 0.5  # TRAIN.SPAGG_ALPHA; tools/test.py uses alpha = 0.5 too
    association_topk: int = 1  # TRAIN.ASSO_TOPK: one target per source pixel (Eq. 2)
    multi_level_association: bool = True  # {g2c,s2c}_train.yaml APPLY_MULTILAYER_ASSOCIATION
    # g2c_test.yaml TEST.WITH_AGGREGATION: aggregate features (cosine), classify, softmax,
    # aggregate probabilities (negative KL), then upsample and take the argmax (tools/test.py).
    aggregate_at_inference: bool = True


PLCA_DEFAULTS = PLCADefaults()
