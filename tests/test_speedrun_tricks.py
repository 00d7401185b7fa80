"""The CIFAR-10 speed runs' training tricks as config fields: alternating flips and Lookahead."""
import threading

import pytest
import torch

from core import trainer
from core.augment import alternate_flips, augment_batch
from core.config import RunConfig
from core.lookahead import EVERY, Lookahead

from .test_engine import StopAt, cfg


def test_alternating_flips_mirror_a_fixed_half_then_the_other_half():
    positions = torch.arange(10_000)
    odd, even, odd_again = (alternate_flips(positions, 0, e) for e in (1, 2, 3))
    assert 0.47 < odd.float().mean() < 0.53  # half of the images, chosen at random
    assert torch.equal(even, ~odd) and torch.equal(odd_again, odd)
    assert (alternate_flips(positions, 1, 1) != odd).float().mean() > 0.4  # another seed, another half


def test_an_image_is_seen_mirrored_in_exactly_one_of_two_epochs():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4)  # not mirror-symmetric
    c = RunConfig(aug_hflip=True, aug_hflip_alternate=True)
    positions = torch.tensor([5, 6])
    views = [augment_batch(x, c, torch.Generator().manual_seed(e), positions=positions, epoch=e) for e in (1, 2)]
    for i in range(2):
        flipped = [torch.equal(v[i], x[i].flip(2)) for v in views]
        kept = [torch.equal(v[i], x[i]) for v in views]
        assert sorted(flipped) == [False, True] and sorted(kept) == [False, True]


def test_without_positions_alternate_flips_fall_back_to_coin_tosses():
    # the Data page's augmentation preview has no epoch: it still shows flips
    x = torch.arange(64 * 16, dtype=torch.float32).view(64, 1, 4, 4)
    out = augment_batch(x, RunConfig(aug_hflip=True, aug_hflip_alternate=True), torch.Generator().manual_seed(0))
    mirrored = sum(torch.equal(out[i], x[i].flip(2)) for i in range(64))
    assert 16 < mirrored < 48


def test_lookahead_pulls_back_every_few_steps_and_harder_near_the_end():
    model = torch.nn.Linear(2, 1, bias=False)
    la = Lookahead(model, total_steps=100)
    assert la.pull_strength(0) == 0 and la.pull_strength(100) == pytest.approx(0.95 ** EVERY)
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    for step in range(1, EVERY):
        la.after_step(step + 95)
        assert torch.equal(model.weight, start + 1)  # no pull between the every-5 points
    la.after_step(100)
    d = 0.95 ** EVERY
    assert torch.allclose(model.weight, start + (1 - d))
    assert torch.equal(la.slow["weight"], model.weight)


def test_an_epoch_end_pull_leaves_weights_and_copy_equal():
    model = torch.nn.Linear(2, 1)
    la = Lookahead(model, total_steps=10)
    with torch.no_grad():
        model.weight.add_(1.0)
    la.after_step(8, end_of_epoch=True)  # only one step since the last pull, but the epoch ended
    assert all(torch.equal(la.slow[k], v) for k, v in model.state_dict().items())


def test_a_run_with_the_speedrun_tricks_learns_and_resumes_to_the_same_metrics(store, synthetic):
    config = cfg(epochs=3, aug_hflip=True, aug_hflip_alternate=True, lookahead=True, schedule="triangle",
                 batch_size=16)
    full_id, result = trainer.new_run(store, config)
    assert result.status == "completed" and store.read_metrics(full_id)[-1]["val_acc"] > 0.8
    stop = threading.Event()
    part_id = store.create(config)
    trainer.run(store, part_id, callbacks=[StopAt(stop, 2, 7)], stop_event=stop)
    assert trainer.run(store, part_id, resume=True).status == "completed"
    for a, b in zip(store.read_metrics(full_id), store.read_metrics(part_id), strict=True):
        for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
            assert a[key] == pytest.approx(b[key], abs=1e-6), key


def test_lookahead_changes_the_weights_a_run_ends_with(store, synthetic):
    plain, _ = trainer.new_run(store, cfg(epochs=2, schedule="triangle"))
    averaged, _ = trainer.new_run(store, cfg(epochs=2, schedule="triangle", lookahead=True))
    assert store.read_metrics(plain)[-1]["val_loss"] != store.read_metrics(averaged)[-1]["val_loss"]
