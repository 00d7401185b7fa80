
import pytest
import torch

from core.augment import augment_batch, normalizer
from core.config import RunConfig
from core.optim import Schedule, build_optimizer, lr_preview, lr_table


def per_epoch(lrs, spe):
    return [lrs[i * spe] for i in range(len(lrs) // spe)]


def test_multistep_drops_exactly_at_the_milestone_epochs():
    cfg = RunConfig(lr=0.1, schedule="multistep", milestones=(3, 4), gamma=0.1, epochs=5)
    lrs = lr_preview(cfg, steps_per_epoch=10)
    assert len(lrs) == 50
    assert per_epoch(lrs, 10) == pytest.approx([0.1, 0.1, 0.1, 0.01, 0.001])
    assert lrs[29] == pytest.approx(0.1) and lrs[30] == pytest.approx(0.01)


def test_step_and_exponential_are_per_epoch():
    step = lr_preview(RunConfig(lr=1.0, schedule="step", step_size=2, gamma=0.5, epochs=5), 4)
    assert per_epoch(step, 4) == pytest.approx([1, 1, 0.5, 0.5, 0.25])
    expo = lr_preview(RunConfig(lr=1.0, schedule="exponential", gamma=0.5, epochs=3), 4)
    assert per_epoch(expo, 4) == pytest.approx([1, 0.5, 0.25])


def test_cosine_goes_smoothly_from_lr_to_min_lr():
    lrs = lr_preview(RunConfig(lr=0.1, schedule="cosine", min_lr=0.001, epochs=4), 25)
    assert lrs[0] == pytest.approx(0.1)
    assert lrs[-1] == pytest.approx(0.001, abs=2e-4)
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_warmup_ramps_linearly_then_follows_the_schedule():
    lrs = lr_preview(RunConfig(lr=0.1, schedule="none", warmup_epochs=1.0, epochs=3), 10)
    assert lrs[0] == pytest.approx(0.01)
    assert lrs[9] == pytest.approx(0.1)
    assert lrs[10:] == pytest.approx([0.1] * 20)


def test_onecycle_peaks_at_lr():
    lrs = lr_preview(RunConfig(lr=0.2, schedule="onecycle", epochs=4), 50)
    assert max(lrs) == pytest.approx(0.2, rel=1e-3)
    assert lrs[0] < 0.02 and lrs[-1] < 0.001


def test_triangle_climbs_and_falls_in_straight_lines_and_leaves_momentum_alone():
    cfg = RunConfig(lr=1.5, schedule="triangle", epochs=4, optimizer="sgd", momentum=0.85, nesterov=True)
    lrs = lr_preview(cfg, 25)  # 100 steps: the peak is at step 23
    assert lrs[0] == pytest.approx(0.3) and max(lrs) == pytest.approx(1.5) and lrs.index(max(lrs)) == 23
    assert lrs[-1] == pytest.approx(1.5 * (0.07 + 0.93 / 77), rel=1e-6)  # one step before the 0.07 end
    rising, falling = lrs[:24], lrs[23:]
    assert all(abs((b - a) - (rising[1] - rising[0])) < 1e-9 for a, b in zip(rising, rising[1:]))
    assert all(abs((b - a) - (falling[1] - falling[0])) < 1e-9 for a, b in zip(falling, falling[1:]))
    param = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([param], cfg)
    sched = Schedule(opt, cfg, 25)
    for _ in range(60):
        opt.step()
        sched.after_batch()
    assert opt.param_groups[0]["momentum"] == 0.85  # OneCycleLR would have moved it


def test_triangle_scales_groups_with_their_lr_scale():
    from core.optim import param_groups
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    b.lr_scale = 64.0
    cfg = RunConfig(lr=0.01, schedule="triangle", epochs=2, optimizer="sgd", momentum=0.9)
    opt = build_optimizer([a, b], cfg)
    sched = Schedule(opt, cfg, 10)
    for _ in range(7):
        opt.step()
        sched.after_batch()
    low, high = (g["lr"] for g in opt.param_groups)
    assert high == pytest.approx(64 * low) and len(param_groups([a, b])) == 2


def test_plateau_reduces_after_patience_epochs_without_improvement():
    cfg = RunConfig(lr=1.0, schedule="plateau", gamma=0.5, patience=1, epochs=10)
    opt = build_optimizer([torch.nn.Parameter(torch.zeros(1))], cfg)
    sched = Schedule(opt, cfg, 5)
    for loss in (1.0, 1.0, 1.0):
        sched.after_epoch(loss)
    assert sched.lr == pytest.approx(0.5)


def test_schedule_state_round_trip_resumes_the_same_lrs():
    cfg = RunConfig(lr=0.1, schedule="cosine", warmup_epochs=1.0, epochs=4)
    full = lr_preview(cfg, 10)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([p], cfg)
    sched = Schedule(opt, cfg, 10)
    for _ in range(17):
        opt.step(); sched.after_batch()
    saved_sched, saved_opt = sched.state_dict(), opt.state_dict()
    opt2 = build_optimizer([torch.nn.Parameter(torch.zeros(1))], cfg)
    sched2 = Schedule(opt2, cfg, 10)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    assert sched2.lr == pytest.approx(full[17])


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop"])
def test_every_optimizer_builds_with_its_settings(name):
    cfg = RunConfig(optimizer=name, lr=0.01, weight_decay=1e-4)
    opt = build_optimizer([torch.nn.Parameter(torch.zeros(2))], cfg)
    assert opt.param_groups[0]["lr"] == 0.01 and opt.param_groups[0]["weight_decay"] == 1e-4


def test_normalizer_matches_torchvision_to_tensor_normalize():
    from torchvision.transforms import v2
    x = torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8)
    ours = normalizer((0.1307,), (0.3081,), "cpu")(x)
    ref = v2.Normalize((0.1307,), (0.3081,))(x.float() / 255)
    assert torch.allclose(ours, ref, atol=1e-5)


def test_augmentations_change_images_reproducibly_and_keep_shape():
    x = torch.randn(16, 3, 12, 12)
    cfg = RunConfig(aug_translate=2, aug_rotate=15, aug_scale=0.1, aug_hflip=True, aug_erase=0.5)
    a = augment_batch(x, cfg, torch.Generator().manual_seed(1))
    b = augment_batch(x, cfg, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.allclose(a, x)


def test_translate_moves_content_by_whole_pixels_with_black_fill():
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 4] = 1.0
    cfg = RunConfig(aug_translate=2)
    out = augment_batch(x, cfg, torch.Generator().manual_seed(3))
    assert out.sum().item() == pytest.approx(1.0, abs=1e-4)  # content kept, only moved/blurred


def test_hflip_flips_about_half_the_batch():
    x = torch.arange(64 * 4, dtype=torch.float32).view(64, 1, 2, 2)
    out = augment_batch(x, RunConfig(aug_hflip=True), torch.Generator().manual_seed(0))
    flipped = (out != x).flatten(1).any(1).sum().item()
    assert 16 < flipped < 48


# ---- the LR per epoch beside the preview ----------------------------------------------------

def torch_per_epoch(make, epochs: int, lr: float = 1.0, losses=None) -> list[float]:
    """What torch's own scheduler, stepped once per epoch, gives at the start of each epoch."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = make(optimizer)
    out = []
    for epoch in range(epochs):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step(*([losses[epoch]] if losses else []))
    return out


@pytest.mark.parametrize("cfg, make", [
    (RunConfig(lr=1.0, schedule="step", step_size=2, gamma=0.5, epochs=6),
     lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5)),
    (RunConfig(lr=1.0, schedule="multistep", milestones=(2, 5), gamma=0.1, epochs=6),
     lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[2, 5], gamma=0.1)),
    (RunConfig(lr=1.0, schedule="exponential", gamma=0.7, epochs=6),
     lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.7)),
    (RunConfig(lr=1.0, schedule="cosine", min_lr=0.01, epochs=6),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=6, eta_min=0.01)),
], ids=["step", "multistep", "exponential", "cosine"])
def test_lr_table_matches_torchs_own_schedulers_epoch_by_epoch(cfg, make):
    table = lr_table(lr_preview(cfg, 5), 5)
    assert table["epoch"].tolist() == [1, 2, 3, 4, 5, 6]
    start = "LR" if "LR" in table else "LR at first batch"
    assert table[start].tolist() == pytest.approx(torch_per_epoch(make, 6))
    # stepwise schedules hold one LR per epoch: one column; cosine moves within the epoch too
    assert ("LR" in table) == (cfg.schedule != "cosine")


def test_lr_table_of_onecycle_gives_each_epochs_first_and_last_batch():
    cfg = RunConfig(lr=0.5, schedule="onecycle", epochs=4)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.5, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.5, total_steps=4 * 3)
    steps = []
    for _ in range(12):
        steps.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    table = lr_table(lr_preview(cfg, 3), 3)
    assert table["LR at first batch"].tolist() == pytest.approx(steps[::3])
    assert table["LR at last batch"].tolist() == pytest.approx(steps[2::3])


def test_plateau_table_gives_both_bounds_the_validation_loss_decides_between():
    cfg = RunConfig(lr=1.0, schedule="plateau", gamma=0.5, patience=1, epochs=7)
    table = lr_table(lr_preview(cfg, 4), 4, lr_preview(cfg, 4, stalled=True))
    assert table["LR (val loss improving)"].tolist() == [1.0] * 7
    never = torch_per_epoch(lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, factor=0.5, patience=1),
                            7, losses=[1.0] * 7)
    assert table["LR if val loss never improves"].tolist() == pytest.approx(never)
    assert never[-1] < 1.0  # the check has teeth: the stalled run did decay
