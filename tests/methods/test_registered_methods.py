"""Generated from the registry: every shipped method takes a real training step.

Each method is built exactly as ``harness run`` builds it (through the compile
step) for each task it declares, takes one optimisation step, and must return
finite losses, change some weights and leave target labels unread.
"""

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from harness import catalog
from harness.config import compile_config
from harness.plan import make_plan, method_class
from harness.registry import MODELS

PROTOCOLS = {"classification": ("digits_mnist_optdigits", "lenet"),
             "segmentation": ("gta5_cityscapes", "deeplabv2_r101")}
CASES = [(m, task) for m in catalog.method_names() for task in method_class(m).tasks]


def batches(task: str) -> dict:
    g = torch.Generator().manual_seed(0)
    if task == "classification":
        from harness.data.digits import DigitsDataset
        from harness.protocol import load_protocol

        p = load_protocol("digits_mnist_optdigits")
        src = DigitsDataset(split="train", **p.source.options)
        tgt = DigitsDataset(split="adapt", **p.target.options)
        take = range(0, 4000, 500)
        source = {"inputs": torch.stack([src[i]["inputs"] for i in take]),
                  "label": torch.stack([src[i]["label"] for i in take])}
        take = range(0, 1197, 150)
        target = {"inputs": torch.stack([tgt[i]["inputs"] for i in take]),
                  "label": torch.stack([tgt[i]["label"] for i in take]),
                  "index": torch.tensor(list(take))}
    else:
        shape = (2, 3, 65, 65)
        source = {"inputs": torch.randint(0, 256, shape, dtype=torch.uint8, generator=g),
                  "label": torch.randint(0, 19, (2, 65, 65), generator=g)}
        target = {"inputs": torch.randint(0, 256, shape, dtype=torch.uint8, generator=g),
                  "label": torch.randint(0, 19, (2, 65, 65), generator=g),
                  "index": torch.tensor([0, 1])}
    return {"source": source, "target": target}


def start_round(model, tmp_path):
    """What RoundsHook does before training: round 0 over the unlabeled target split."""
    from harness.data.digits import DigitsDataset
    from harness.data.wrappers import WithoutLabels
    from harness.protocol import load_protocol
    from harness.rounds import Artifacts, RoundContext

    options = load_protocol("digits_mnist_optdigits").target.options
    dataset = WithoutLabels(DigitsDataset(split="adapt", **options))
    model.on_round_start(RoundContext(0, Artifacts(tmp_path), {}, built={"target": dataset}))


@pytest.mark.parametrize("method, task", CASES, ids=[f"{m}-{t}" for m, t in CASES])
def test_method_takes_a_finite_step(method, task, tmp_path):
    protocol, backbone = PROTOCOLS[task]
    plan = make_plan(protocol, method, backbone, 0, [], quiet=True)
    cfg = compile_config(plan)
    model_cfg = dict(cfg.model, source_checkpoint=None)  # a cache run is not a unit test
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope("harness"):
        model = MODELS.build(model_cfg)
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    cls = plan.method_cls
    data = batches(task)
    if not cls.uses_target_labels:  # as the compile step does: a read would be a KeyError
        del data["target"]["label"]
    if cls.pseudo_label_maps and task == "segmentation":
        # What the dataloader gives self-training on segmentation: cropped pseudo-labels.
        data["target"]["pseudo_label"] = torch.randint(0, 19, (2, 65, 65))
    elif cls.rounds(plan.hparams):
        start_round(model, tmp_path)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    log_vars = model.train_step(data, wrapper)
    assert log_vars and all(torch.isfinite(torch.as_tensor(v)).all() for v in log_vars.values())
    changed = [k for k, v in model.state_dict().items()
               if v.is_floating_point() and not torch.equal(v, before[k])]
    assert changed, f"{method}: one step changed no weight"
