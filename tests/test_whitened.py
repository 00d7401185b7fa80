"""The CIFAR speed-run pieces: a whitening layer fitted to the data, LR-scaled parameter groups,
mirror test-time augmentation, and the CIFAR presets training on an imported copy."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from core import lr_finder, models, trainer
from core.augment import normalizer
from core.cli import main
from core.config import RunConfig
from core.engine import Batches, evaluate
from core.models.whitened import BN_SHIFT_LR_SCALE, Whitening
from core.optim import Schedule, build_optimizer
from core.presets import PRESETS
from tests.test_import_layout import split_files, zipped


def correlated_images(n=400, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n, 1, 16, 16, generator=g)
    smooth = torch.nn.functional.avg_pool2d(base, 3, 1, 1)  # neighbouring pixels correlate
    return torch.cat([smooth, 0.5 * smooth + 0.1 * torch.randn(n, 1, 16, 16, generator=g),
                      torch.randn(n, 1, 16, 16, generator=g)], 1)


def test_whitening_outputs_are_decorrelated_unit_variance_components():
    x = correlated_images()
    layer = Whitening(3)
    layer.fit_to_data(x, eps=1e-9)  # the default eps damps the weakest components on purpose
    with torch.no_grad():
        out = layer(x) - layer.bias.view(1, -1, 1, 1)
    half = out[:, :12].permute(0, 2, 3, 1).reshape(-1, 12)  # the other 12 are the same with a minus
    cov = half.T @ half / len(half)
    assert torch.allclose(torch.diag(cov), torch.ones(12), atol=0.02)
    off = cov - torch.diag(torch.diag(cov))
    assert off.abs().max() < 0.05
    assert torch.equal(layer.weight[12:], -layer.weight[:12])
    assert not layer.weight.requires_grad


def test_prepare_fits_the_whitening_layer_to_the_first_training_images(synthetic):
    cfg = RunConfig(dataset="synthetic", arch="whitened_cnn", epochs=1, batch_size=32, val_split=0.0)
    prep = trainer.prepare(cfg)
    expected = Whitening(1)
    expected.fit_to_data(normalizer(synthetic.mean, synthetic.std, "cpu")(synthetic.train.images[:5000]))
    assert torch.allclose(prep.state.model.whiten.weight, expected.weight, atol=1e-6)
    torch.manual_seed(0)
    unfitted = models.build_model("whitened_cnn", (1, 12, 12), 4)
    assert not torch.allclose(unfitted.whiten.weight, expected.weight)


def test_batchnorm_shifts_get_scaled_lr_and_the_same_decay_per_step():
    model = models.build_model("whitened_cnn", (3, 32, 32), 10)
    cfg = RunConfig(arch="whitened_cnn", optimizer="sgd", lr=0.1, momentum=0.85, nesterov=True,
                    weight_decay=1e-3, schedule="onecycle", epochs=2)
    opt = build_optimizer(model.parameters(), cfg)
    by_scale = {g["lr_scale"]: g for g in opt.param_groups}
    assert set(by_scale) == {1.0, BN_SHIFT_LR_SCALE}
    shifted = by_scale[BN_SHIFT_LR_SCALE]
    bn_biases = {id(m.bias) for m in model.modules() if isinstance(m, nn.BatchNorm2d)}
    assert {id(p) for p in shifted["params"]} == bn_biases
    assert math.isclose(shifted["lr"] * shifted["weight_decay"], cfg.lr * cfg.weight_decay)
    schedule = Schedule(opt, cfg, steps_per_epoch=10)
    for _ in range(7):  # the one-cycle peak lands on both groups in proportion
        opt.step()
        schedule.after_batch()
    assert math.isclose(shifted["lr"], BN_SHIFT_LR_SCALE * by_scale[1.0]["lr"], rel_tol=1e-9)
    assert schedule.lr == by_scale[1.0]["lr"]


def test_a_model_without_scaled_parameters_keeps_one_group():
    model = models.build_model("lenet5", (1, 28, 28), 10)
    opt = build_optimizer(model.parameters(), RunConfig(optimizer="adam", lr=0.002, weight_decay=0.01))
    assert len(opt.param_groups) == 1 and opt.param_groups[0]["lr"] == 0.002


def test_lr_finder_sweep_keeps_the_groups_ratio():
    model = models.build_model("whitened_cnn", (3, 32, 32), 10)
    opt = build_optimizer(model.parameters(), RunConfig(optimizer="sgd", lr=0.1))
    sweep = lr_finder.SweepSchedule(opt, 1e-4, 1.0, steps=5)
    sweep.after_batch()
    base = opt.param_groups[0]["lr"]
    assert math.isclose(sweep.lr, base) and math.isclose(opt.param_groups[1]["lr"], BN_SHIFT_LR_SCALE * base)


class LeftHalf(nn.Module):
    """Class 0 when the left half is brighter: mirroring an image flips its logits."""

    def forward(self, x):
        left, right = x[..., : x.shape[-1] // 2].mean((1, 2, 3)), x[..., x.shape[-1] // 2:].mean((1, 2, 3))
        return torch.stack([left - right + 0.1, torch.zeros_like(left)], 1)


def test_mirror_tta_scores_the_mean_of_both_views():
    images = torch.zeros(4, 1, 4, 4, dtype=torch.uint8)
    images[0, :, :, :2] = 200  # brighter left: class 0 either way after +0.1 bias cancels the mirror
    images[1, :, :, 2:] = 200
    batches = Batches(images, torch.tensor([0, 1, 0, 0]))
    norm = normalizer((0.0,), (1.0,), "cpu")
    plain = evaluate(LeftHalf(), batches, norm, keep_outputs=True)
    tta = evaluate(LeftHalf(), batches, norm, keep_outputs=True, tta_flip=True)
    assert plain["preds"].tolist() == [0, 1, 0, 0]
    assert tta["preds"].tolist() == [0, 0, 0, 0]  # the mirror views cancel out, the bias decides
    assert torch.allclose(tta["probs"][:, 0], torch.full((4,), torch.tensor([0.1, 0.0]).softmax(0)[0].item()))


class TopLeftPixel(nn.Module):
    """One logit: the brightness of the top-left pixel, so each shifted view reads another pixel."""

    def forward(self, x):
        return torch.stack([x[:, 0, 0, 0], torch.zeros(len(x))], 1)


def test_shift_tta_weighs_the_image_half_and_each_one_pixel_shift_a_quarter():
    image = torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4)
    from core.engine import tta_logits

    got = tta_logits(TopLeftPixel(), image, flip=False, shift=True)[0, 0].item()
    # unshifted: pixel (0,0)=0; both shifted windows' corner is the reflected or moved (1,1)=5
    assert got == pytest.approx(0 / 2 + (5 + 5) / 4)
    both = tta_logits(TopLeftPixel(), image, flip=True, shift=True)[0, 0].item()
    # mirrored views read the top-right instead: 3, then (1,2)=6 for both shifts
    assert both == pytest.approx((0 + 3) / 2 / 2 + ((5 + 6) / 2 + (5 + 6) / 2) / 4)
    cl = image.contiguous(memory_format=torch.channels_last)
    assert tta_logits(TopLeftPixel(), cl, flip=True, shift=True)[0, 0].item() == pytest.approx(both)


@pytest.mark.parametrize("preset", sorted(n for n, p in PRESETS.items() if p.config.dataset == "cifar10"))
def test_every_cifar10_preset_trains_on_an_imported_copy_from_the_cli(preset, tmp_path, capsys):
    archive = tmp_path / "cifar-mini.zip"
    archive.write_bytes(zipped(split_files("cifar10/", train=4, test=2, classes=("cat", "dog"))))
    assert main(["import", str(archive), "--name", "mini", "--yes"]) == 0
    # the whitening fitted to 8 images is degenerate (filters ~45× the usual), and bf16 steps on it blow
    # up where float32 ones do not: float32 keeps this test about the --dataset override
    args = ["train", "--preset", preset, "--dataset", "folder:mini", "--epochs", "1", "--batch-size", "4",
            "--no-mixed-precision"]
    assert main(args) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    assert "completed" in out
