"""The engine and one whole run through the store, on a tiny synthetic dataset."""
import threading

import pytest
import torch

from core import checkpoints, engine, trainer
from core.config import RunConfig
from core.engine import Callback

TINY = [{"type": "conv", "out_channels": 4, "kernel_size": 3}, {"type": "relu"},
        {"type": "maxpool", "kernel_size": 2}, {"type": "flatten"}, {"type": "linear", "out_features": 4}]


def cfg(**changes):
    base = dict(dataset="synthetic", arch="custom", custom_layers=tuple(TINY), epochs=3, batch_size=32,
                lr=0.05, optimizer="sgd", momentum=0.9, seed=1)
    return RunConfig(**{**base, **changes})


class StopAt(Callback):
    def __init__(self, event, epoch, batch):
        self.event, self.epoch, self.batch = event, epoch, batch
        self.batches_seen = []

    def on_batch_end(self, ev, state):
        self.batches_seen.append((ev.epoch, ev.batch))
        if (ev.epoch, ev.batch) == (self.epoch, self.batch):
            self.event.set()


def test_a_run_learns_and_writes_everything_the_dashboard_reads(store, synthetic):
    run_id, result = trainer.new_run(store, cfg(epochs=4))
    assert result.status == "completed"
    metrics = store.read_metrics(run_id)
    assert [r["epoch"] for r in metrics] == [1, 2, 3, 4]
    assert metrics[-1]["val_acc"] > 0.9 and metrics[-1]["train_loss"] < metrics[0]["train_loss"]
    status = store.read_status(run_id)
    assert status.status == "completed" and status.epochs_done == 4
    assert status.best_epoch == max(metrics, key=lambda r: r["val_acc"])["epoch"]
    preds = checkpoints.load_predictions(store, run_id, "last")
    n = len(synthetic.test)
    assert preds["probs"].shape == (n, 4) and preds["preds"].shape == (n,) and preds["losses"].shape == (n,)
    assert torch.allclose(preds["probs"].sum(1), torch.ones(n), atol=1e-4)
    assert (preds["preds"] == preds["labels"]).float().mean().item() == pytest.approx(status.test_acc)
    model, meta = trainer.load_model(store, run_id, "best")
    assert list(meta.classes) == synthetic.classes and not model.training


def test_stop_ends_within_one_batch_and_keeps_the_last_completed_epoch(store, synthetic):
    stop = threading.Event()
    spy = StopAt(stop, epoch=2, batch=3)
    run_id = store.create(cfg())
    result = trainer.run(store, run_id, callbacks=[spy], stop_event=stop)
    assert result.status == "stopped" and result.epochs_done == 1
    assert spy.batches_seen[-1] == (2, 3)  # no batch ran after the stop request
    assert [r["epoch"] for r in store.read_metrics(run_id)] == [1]
    assert store.read_status(run_id).status == "stopped"
    assert checkpoints.load_resume_state(store, run_id)["epoch"] == 1


def test_resume_gives_the_same_metrics_as_an_uninterrupted_run(store, synthetic):
    config = cfg(epochs=3, aug_translate=1, schedule="cosine")
    full_id, _ = trainer.new_run(store, config)
    stop = threading.Event()
    part_id = store.create(config)
    trainer.run(store, part_id, callbacks=[StopAt(stop, 2, 4)], stop_event=stop)
    result = trainer.run(store, part_id, resume=True)
    assert result.status == "completed"
    full, resumed = store.read_metrics(full_id), store.read_metrics(part_id)
    for a, b in zip(full, resumed):
        for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
            assert a[key] == pytest.approx(b[key], abs=1e-6), key
    assert len(resumed) == 3


def test_nan_loss_stops_with_a_clear_reason_and_keeps_the_best_checkpoint(store, synthetic):
    class Explode(Callback):
        def on_batch_end(self, ev, state):
            if ev.epoch == 2 and ev.batch == 2:  # weights blow up the way a too-large LR makes them
                with torch.no_grad():
                    next(state.model.parameters()).fill_(float("inf"))
    run_id = store.create(cfg(epochs=3))
    result = trainer.run(store, run_id, callbacks=[Explode()])
    assert result.status == "failed"
    assert "at epoch 2" in result.message and "try a smaller learning rate" in result.message
    assert ("NaN" in result.message) or ("infinite" in result.message)
    assert store.read_status(run_id).status == "failed"
    weights = checkpoints.load_weights(store, run_id, "best")
    assert all(torch.isfinite(w).all() for w in weights.values())


@pytest.mark.parametrize("mixed", [True, False])
def test_a_diverged_reduced_precision_run_says_how_to_rule_precision_out(store, synthetic, monkeypatch, mixed):
    class Explode(Callback):
        def on_batch_end(self, ev, state):
            with torch.no_grad():
                next(state.model.parameters()).fill_(float("inf"))
    monkeypatch.setattr(engine, "cpu_has_fast_bf16", lambda: True)  # as on a CPU with native bf16
    result = trainer.run(store, store.create(cfg(epochs=2, mixed_precision=mixed)), callbacks=[Explode()])
    assert result.status == "failed" and "try a smaller learning rate" in result.message
    assert ("turn off Mixed precision" in result.message) == mixed


def test_same_seed_same_result_on_cpu(store, synthetic):
    a, _ = trainer.new_run(store, cfg(epochs=2, aug_rotate=10, aug_erase=0.5))
    b, _ = trainer.new_run(store, cfg(epochs=2, aug_rotate=10, aug_erase=0.5))
    assert store.read_metrics(a)[-1]["val_loss"] == store.read_metrics(b)[-1]["val_loss"]


def test_validation_split_holds_out_part_of_train(store, synthetic):
    run_id, result = trainer.new_run(store, cfg(epochs=1, val_split=0.25))
    assert result.status == "completed"
    # test predictions still cover the whole test split
    assert len(checkpoints.load_predictions(store, run_id, "best")["preds"]) == len(synthetic.test)


def test_cuda_chosen_but_absent_fails_before_training(store, synthetic, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    _, result = trainer.new_run(store, cfg(device="cuda"))
    assert result.status == "failed" and "no CUDA GPU" in result.message


def test_disk_error_while_saving_fails_with_where_and_keeps_the_previous_checkpoint(store, synthetic, monkeypatch):
    import core.checkpoints as ck
    real = ck.save_weights

    def flaky(store_, run_id, which, model, epoch, **kw):
        if epoch == 2:
            raise OSError(28, "No space left on device", str(store_.path(run_id) / f"weights_{which}.safetensors"))
        return real(store_, run_id, which, model, epoch, **kw)

    monkeypatch.setattr(ck, "save_weights", flaky)
    run_id = store.create(cfg(epochs=3))
    result = trainer.run(store, run_id)
    assert result.status == "failed"
    assert "No space left on device" in result.message and "weights_last.safetensors" in result.message
    assert checkpoints.load_weights(store, run_id, "last")  # epoch 1's weights still load
    assert store.read_status(run_id).status == "failed"


def test_lr_finder_suggests_a_learning_rate_and_trains_nothing_on_disk(store, synthetic):
    from core import lr_finder

    res = lr_finder.run(cfg(arch="custom", custom_layers=tuple(TINY)))
    assert len(res.lrs) == len(res.losses) > 20
    assert res.lrs == sorted(res.lrs) and res.lrs[0] == pytest.approx(lr_finder.START_LR)
    assert res.suggestion is not None and 1e-5 < res.suggestion < 10
    assert store.list() == []


def test_lr_finder_sweeps_with_the_training_augmentation_and_label_smoothing(synthetic, monkeypatch):
    # the finder goes through the engine's own epoch loop, so it sees what training sees
    import core.engine as engine
    from core import lr_finder

    seen = {"augmented": 0, "smoothing": set()}
    real_augment, real_ce = engine.augment_batch, engine.F.cross_entropy

    def augment(x, c, g, **kw):
        seen["augmented"] += 1
        return real_augment(x, c, g, **kw)

    def ce(*a, **k):
        seen["smoothing"].add(k.get("label_smoothing"))
        return real_ce(*a, **k)

    monkeypatch.setattr(engine, "augment_batch", augment)
    monkeypatch.setattr(engine.F, "cross_entropy", ce)
    res = lr_finder.run(cfg(aug_rotate=10.0, label_smoothing=0.1))
    # every recorded batch was augmented (one more when the sweep ended on a batch that exploded)
    assert len(res.lrs) <= seen["augmented"] <= len(res.lrs) + 1 and seen["smoothing"] == {0.1}


def test_lr_finder_key_ignores_what_the_sweep_does_not_use():
    from core.lr_finder import config_key

    base = RunConfig()
    assert config_key(base) == config_key(base.replace(lr=0.5, epochs=9, name="x", schedule="cosine"))
    assert config_key(base) != config_key(base.replace(batch_size=128))
    assert config_key(base) != config_key(base.replace(aug_hflip=True))


def test_running_out_of_memory_fails_the_run_with_advice(store, synthetic, monkeypatch):
    import core.trainer as tr

    def no_memory(*a, **k):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:118] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(tr, "fit", no_memory)
    run_id, result = trainer.new_run(store, cfg())
    assert result.status == "failed" and "ran out of memory" in result.message
    assert store.read_status(run_id).status == "failed"


def test_the_mixed_precision_path_learns_and_saves_float32(store, synthetic, monkeypatch):
    """The CUDA path (autocast + channels_last, evaluation included) exercised on the CPU with
    bfloat16 autocast, since this machine has no GPU: training, the per-epoch test pass and the
    saved predictions and weights must come out as they do in full precision."""
    cpu_autocast = lambda device, enabled, training=True: (  # noqa: E731
        lambda: torch.autocast("cpu", dtype=torch.bfloat16))
    monkeypatch.setattr(engine, "autocast_for", cpu_autocast)
    monkeypatch.setattr(trainer, "autocast_for", cpu_autocast)
    run_id, result = trainer.new_run(store, cfg(epochs=4, arch="fast_cnn", custom_layers=()))
    assert result.status == "completed", result.message
    assert store.read_metrics(run_id)[-1]["val_acc"] > 0.9
    preds = checkpoints.load_predictions(store, run_id, "best")
    assert preds["probs"].dtype == torch.float32
    assert torch.allclose(preds["probs"].sum(1), torch.ones(len(synthetic.test)), atol=1e-3)
    weights = checkpoints.load_weights(store, run_id, "best")
    assert all(t.dtype == torch.float32 for k, t in weights.items() if t.is_floating_point())


def test_cpu_mixed_precision_trains_in_bf16_and_evaluates_in_float32(monkeypatch):
    """The rule a user relies on: bf16 speeds up training steps on a CPU that has it, while the
    evaluation, and so the saved predictions, are float32 like the exported model's."""
    cpu = torch.device("cpu")
    monkeypatch.setattr(engine, "cpu_has_fast_bf16", lambda: True)
    with engine.autocast_for(cpu, True)():
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16 and torch.is_autocast_enabled("cpu")
    with engine.autocast_for(cpu, True, training=False)():
        assert not torch.is_autocast_enabled("cpu")
    with engine.autocast_for(cpu, False)():
        assert not torch.is_autocast_enabled("cpu")
    monkeypatch.setattr(engine, "cpu_has_fast_bf16", lambda: False)  # emulated bf16 would be slower
    with engine.autocast_for(cpu, True)():
        assert not torch.is_autocast_enabled("cpu")


@pytest.mark.skipif(not engine.cpu_has_fast_bf16(), reason="this CPU has no native bf16")
def test_a_bf16_trained_run_saves_the_predictions_its_float32_weights_give(store, synthetic):
    from core import models
    from core.augment import normalizer
    from core.engine import Batches, evaluate

    run_id, result = trainer.new_run(store, cfg(epochs=2, arch="fast_cnn", custom_layers=()))
    assert result.status == "completed", result.message
    assert store.read_metrics(run_id)[-1]["val_acc"] > 0.6
    model = models.build_model("fast_cnn", synthetic.shape, synthetic.num_classes)
    model.load_state_dict(checkpoints.load_weights(store, run_id, "best"))
    model = model.to(memory_format=torch.channels_last)
    again = evaluate(model, Batches(synthetic.test.images, synthetic.test.labels),
                     normalizer(synthetic.mean, synthetic.std, torch.device("cpu")), keep_outputs=True,
                     channels_last=True)
    saved = checkpoints.load_predictions(store, run_id, "best")
    assert torch.equal(saved["preds"], again["preds"])
    assert torch.allclose(saved["probs"], again["probs"], atol=1e-5)
