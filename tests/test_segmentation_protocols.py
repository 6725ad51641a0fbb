"""Every segmentation protocol end to end on format-faithful fixtures.

`harness data check`, `harness eval` of a randomly initialised model, and short
`harness run`s of source_only, PLCA, the calibrator, self-training, SUIT (with its
generator transplant) and Label2Image-DA, with tiny crops so the suite stays fast.
"""

import cv2
import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope

from harness.checkpoint_eval import evaluate_checkpoint
from harness.checkpoints import save_final
from harness.cli import main
from harness.config import compile_config
from harness.data.classes import get_classes
from harness.data.fixtures import segmentation_fixtures, write_fixtures
from harness.plan import make_plan
from harness.protocol import load_protocol, protocol_names
from harness.registry import MODELS
from harness.results import load_record

SEG = [n for n in protocol_names() if load_protocol(n).task == "segmentation"]
#: Fixture images are 64x32; two per split.
SMALL = ["train.iters=2", "train.batch=2", "train.crop=[32,32]",
         "train.resize_short_edge=[32,40]", "train.workers=0", "train.checkpoint_interval=2",
         "eval.size=[64,32]", "eval.input_size=[64,32]",
         "source.options.subset=2", "target.options.subset=2"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("fixtures")
    for dataset in segmentation_fixtures():
        write_fixtures(dataset, root)
    return root


def test_all_six_benchmarks_are_protocols():
    assert set(SEG) == {"gta5_cityscapes", "synthia_cityscapes", "gta5_bdd",
                        *(f"cityscapes_nthu_{c}" for c in ("rome", "rio", "tokyo", "taipei"))}


@pytest.mark.parametrize("protocol", SEG)
def test_data_check_passes_on_fixtures_and_fails_on_missing_data(protocol, data_root, tmp_path):
    sets = ["--set", "source.options.subset=2", "--set", "target.options.subset=2"]
    assert main(["data", "check", "--protocol", protocol, "--data-root", str(data_root),
                 *sets]) == 0
    assert main(["data", "check", "--protocol", protocol, "--data-root", str(tmp_path)]) == 1


@pytest.mark.parametrize("protocol", SEG)
def test_eval_of_a_random_model_reports_declared_subsets(protocol, data_root, tmp_path):
    spec = make_plan(protocol, None, None, 0, SMALL, data_root=data_root, quiet=True)
    cfg = compile_config(spec)
    with DefaultScope.overwrite_default_scope("harness"):
        model = MODELS.build(dict(cfg.model))
    weights = save_final(model, tmp_path / "random.pth", {"method": "source_only"})
    reports = evaluate_checkpoint(spec, weights)
    names = get_classes("cityscapes19").names
    for domain in ("target", "source"):
        m = reports[domain]
        confusion = np.array(m["confusion"])
        assert confusion.shape == (19, 19) and m["classes"] == list(names)
        assert confusion.sum() > 0
    target = reports["target"]
    for subset in spec.protocol.report_subsets:
        if subset == "all":
            continue
        ids = get_classes(subset).train_ids
        values = [target["iou"][i] for i in ids if target["iou"][i] is not None]
        assert target["subsets"][subset]["miou"] == pytest.approx(np.mean(values))
        assert len(target["subsets"][subset]["classes"]) == len(ids)


def test_eval_refuses_labels_at_the_wrong_resolution(data_root, tmp_path):
    sets = [s for s in SMALL if not s.startswith("eval.size")]  # protocol says 2048x1024
    spec = make_plan("gta5_cityscapes", None, None, 0, sets, data_root=data_root, quiet=True)
    cfg = compile_config(spec)
    with DefaultScope.overwrite_default_scope("harness"):
        model = MODELS.build(dict(cfg.model))
    weights = save_final(model, tmp_path / "random.pth", {})
    with pytest.raises(ValueError, match="evaluates at 2048x1024"):
        evaluate_checkpoint(spec, weights)


@pytest.mark.slow
@pytest.mark.parametrize("protocol, method, backbone", [
    ("gta5_cityscapes", "source_only", "deeplabv2_r101"), ("gta5_cityscapes", "plca", None),
    ("synthia_cityscapes", "plca", None), ("cityscapes_nthu_rome", "source_only", "drn_c26"),
    ("gta5_bdd", "source_only", "fcn8s_vgg16"),
    ("gta5_cityscapes", "calibrator", None),  # [methods.calibrator]: DRN-26, epsilon 0.01
])
def test_short_runs_write_valid_records(protocol, method, backbone, data_root, tmp_path,
                                        monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    extra = ["--backbone", backbone] if backbone else []
    assert main(["run", "--protocol", protocol, "--method", method, "--data-root",
                 str(data_root), "--work-dir", str(tmp_path / "w"), "--results-dir",
                 str(tmp_path / "r"), "--quiet", *extra,
                 *sum((["--set", s] for s in SMALL), [])]) == 0
    (path,) = (tmp_path / "r" / protocol).glob("*.json")
    record = load_record(path)
    assert record.method.name == method and record.train.iters == 2
    if method == "calibrator":  # the paper's settings come from the protocol file
        assert record.backbone.name == "drn_c26" and record.method.hparams["epsilon"] == 0.01
        assert set(record.metrics["target"].variants) == {"uncalibrated"}
    else:
        assert record.backbone.name == (backbone or "deeplabv2_r101")
    target = record.metrics["target"]
    assert len(target.iou) == 19
    if protocol == "synthia_cityscapes":
        assert set(target.subsets) == {"synthia16", "synthia13"}
        assert len(target.subsets["synthia13"]["classes"]) == 13


#: CBST on every segmentation protocol (DRN-26, and the two other segmentation backbones
#: once each), then CBST-SP and ST once each.
BACKBONE = {"gta5_cityscapes": "deeplabv2_r101", "gta5_bdd": "fcn8s_vgg16"}
SELF_TRAINING = [(p, "cbst", BACKBONE.get(p, "drn_c26")) for p in SEG] + [
    ("synthia_cityscapes", "cbst_sp", "drn_c26"), ("cityscapes_nthu_taipei", "st", "drn_c26")]


@pytest.mark.slow
@pytest.mark.parametrize("protocol, method, backbone", SELF_TRAINING)
def test_self_training_rounds_write_pseudo_label_maps(protocol, method, backbone, data_root,
                                                      tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    sets = [s for s in SMALL if not s.startswith("train.iters")] + [
        "train.iters=4", "method.rounds=2"]
    args = ["run", "--protocol", protocol, "--method", method, "--backbone", backbone,
            "--data-root", str(data_root), "--work-dir", str(tmp_path / "w"),
            "--results-dir", str(tmp_path / "r"), "--quiet", *sum((["--set", s] for s in sets), [])]
    assert main(args) == 0
    (path,) = (tmp_path / "r" / protocol).glob("*.json")
    assert load_record(path).method.source_model.from_ == "source_only"
    pseudo = tmp_path / "w" / "artifacts"
    assert (pseudo / "CURRENT").read_text() == "round_1"
    for round_dir in ("round_0", "round_1"):
        maps = sorted((pseudo / round_dir).glob("*.png"))
        assert (pseudo / round_dir / "DONE").is_file() and len(maps) == 2
        label = cv2.imread(str(maps[0]), cv2.IMREAD_UNCHANGED)
        assert label.shape == (32, 64) and set(np.unique(label)) <= set(range(19)) | {255}
    assert (pseudo / "spatial_prior.pt").is_file() == (method == "cbst_sp")


@pytest.mark.slow
def test_segmentation_resume_equals_uninterrupted(data_root, tmp_path):
    """Random resize/crop/flip included: RNG states travel in the checkpoints."""
    from mmengine.hooks import Hook

    from harness.registry import HOOKS
    from harness.run import train_and_record

    @HOOKS.register_module(force=True)
    class CutAt(Hook):
        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if runner.iter == 3:
                raise KeyboardInterrupt

    sets = [s for s in SMALL if not s.startswith(("train.iters", "train.checkpoint"))]
    sets += ["train.iters=4", "train.checkpoint_interval=2"]
    def run(name, hook=None, resume=False):
        plan = make_plan("cityscapes_nthu_rome", "source_only", "drn_c26", 0, sets,
                         work_dir=tmp_path / name, data_root=data_root,
                         results_dir=tmp_path / "records", resume=resume, quiet=True)
        return train_and_record(plan, (hook,) if hook else ())[0]

    full = run("full")
    with pytest.raises(KeyboardInterrupt):
        run("cut", {"type": "CutAt"})
    resumed = run("cut", resume=True)
    for domain in ("target", "source"):
        assert resumed.metrics[domain].confusion == full.metrics[domain].confusion


def test_oracle_on_an_unlabeled_target_split_is_a_clear_error(data_root, tmp_path, capsys):
    """NTHU's training images have no labels: an oracle cannot train there."""
    assert main(["run", "--protocol", "cityscapes_nthu_rome", "--method", "oracle",
                 "--backbone", "drn_c26", "--data-root", str(data_root), "--work-dir",
                 str(tmp_path / "w"), "--quiet", *sum((["--set", s] for s in SMALL), [])]) == 2
    assert "has no labels" in capsys.readouterr().err


#: SUIT and Label2Image-DA on both synthetic->Cityscapes protocols with both of the seed's
#: segmentation networks (its tables: FCN8s-VGG16 and DeepLab-v2), each pairing once.
GENERATIVE = [("gta5_cityscapes", "suit", "fcn8s_vgg16", "translations"),
              ("synthia_cityscapes", "suit", "deeplabv2_r101", "translations"),
              ("gta5_cityscapes", "label2image", "deeplabv2_r101", "generated"),
              ("synthia_cityscapes", "label2image", "fcn8s_vgg16", "generated")]


def generative_run(protocol, method, backbone, data_root, tmp_path, name, extra=()):
    """As `harness run` does it (Label2Image's phase 1 trains the cached source model)."""
    from harness.run import execute

    plan = make_plan(protocol, method, backbone, 0, [*SMALL, *extra], work_dir=tmp_path / name,
                     data_root=data_root, results_dir=tmp_path / "records", quiet=True)
    return execute(plan)


@pytest.mark.slow
@pytest.mark.parametrize("protocol, method, backbone, picture", GENERATIVE)
def test_generative_methods_write_a_record_and_their_picture(protocol, method, backbone, picture,
                                                             data_root, tmp_path, monkeypatch):
    from harness.pictures import picture_file

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    record, path = generative_run(protocol, method, backbone, data_root, tmp_path, "run")
    assert (record.method.name, record.backbone.name, record.train.iters) == (method, backbone, 2)
    assert len(record.metrics["target"].iou) == 19
    if protocol == "synthia_cityscapes":
        assert set(record.metrics["target"].subsets) == {"synthia16", "synthia13"}
    assert set(record.pictures) == {picture}
    image = cv2.imread(str(picture_file(path, picture)))
    assert image is not None and image.ndim == 3 and min(image.shape[:2]) >= 32


@pytest.mark.slow
def test_suit_generator_trained_with_fcn8s_transplants_to_deeplabv2(data_root, tmp_path):
    """The seed's transplant table: G trained beside FCN8s-VGG16, frozen, trains DeepLab-v2."""
    from harness.leaderboard.aggregate import reproduced

    torch.manual_seed(0)
    donor, _ = generative_run("gta5_cityscapes", "suit", "fcn8s_vgg16", data_root, tmp_path,
                              "donor")
    weights = tmp_path / "donor" / "model_final.pth"
    record, _ = generative_run("gta5_cityscapes", "suit", "deeplabv2_r101", data_root, tmp_path,
                               "transplant", [f"method.generator='{weights}'"])
    source = record.method.loaded_weights["generator"]
    assert (source.run_id, source.method, source.backbone) == (donor.run_id, "suit",
                                                               "fcn8s_vgg16")
    donor_state = torch.load(weights, weights_only=True)["state_dict"]
    final = torch.load(tmp_path / "transplant" / "model_final.pth", weights_only=True)
    generator = {k: v for k, v in donor_state.items() if k.startswith("generator.")}
    assert generator and all(torch.equal(final["state_dict"][k], v) for k, v in generator.items())
    # Each run is its own leaderboard row; the transplant's names the run G came from.
    rows = reproduced(load_protocol("gta5_cityscapes"), [donor, record]).table
    assert sorted(zip(rows["method"], rows["backbone"])) == [
        ("suit", "fcn8s_vgg16"), ("suit (generator from suit / fcn8s_vgg16)", "deeplabv2_r101")]
