"""Process-group set-up that mmengine's launcher lacks for CPU-only machines.

mmengine's ``pytorch`` launcher always calls ``torch.cuda.set_device``, so
``torchrun ... --launcher pytorch`` fails without a GPU. Starting the gloo group
first (from torchrun's environment) lets the Runner find it initialised and
skip its own set-up; on GPU machines mmengine's path (NCCL) is used unchanged.
"""

import torch
import torch.distributed as dist


def init_cpu_process_group(launcher: str) -> None:
    if launcher == "pytorch" and not torch.cuda.is_available() and not dist.is_initialized():
        dist.init_process_group("gloo", init_method="env://")
