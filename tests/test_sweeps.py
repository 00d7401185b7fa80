"""Sweeps: spec expansion, CLI errors, a local sweep end to end, the median rule, importances and
the TensorBoard writer, on the tiny synthetic dataset."""
import os

import pandas as pd
import pytest

from core import cli, sweeps
from core.config import ConfigError, RunConfig
from core.jobs import JobRunner
from tests.test_engine import cfg


@pytest.fixture(autouse=True)
def _synthetic_everywhere(synthetic):
    """Every config here trains the tiny network on the synthetic dataset."""


def spec(*axes, **kw):
    return sweeps.SweepSpec(cfg(epochs=1), tuple(sweeps.parse_grid_arg(a) for a in axes), **kw)


# ---- spec expansion ----------------------------------------------------------------------------

def test_a_grid_times_seeds_gives_every_combination_once_per_seed():
    s = spec("lr=0.003,0.01,0.03", "optimizer=sgd,adam", seeds=2)
    configs = s.configs()
    assert len(configs) == s.count() == 12
    combos = {(c.lr, c.optimizer, c.seed) for c in configs}
    assert len(combos) == 12 and {c.seed for c in configs} == {1, 2}  # base seed 1, then 2
    assert s.fields == ["lr", "optimizer", "seed"]
    # the Adam runs drop SGD-only settings of the base instead of becoming invalid
    nesterov = sweeps.SweepSpec(cfg(nesterov=True), (sweeps.parse_axis("optimizer", "sgd,adam"),)).configs()
    assert [c.nesterov for c in nesterov] == [True, False]


def test_random_draws_are_log_uniform_within_bounds_and_reproducible_by_seed():
    s = spec("lr=0.0001:0.1", "batch_size=8:256", "optimizer=sgd,adam", random=60, sample_seed=3)
    points = s.points()
    assert len(points) == 60
    lrs = [p["lr"] for p in points]
    assert all(1e-4 <= v <= 0.1 for v in lrs)
    assert all(isinstance(p["batch_size"], int) and 8 <= p["batch_size"] <= 256 for p in points)
    # log-uniform: about a third of the draws in each decade, not ~90% in the top one
    assert sum(v < 1e-3 for v in lrs) >= 10
    assert points == spec("lr=0.0001:0.1", "batch_size=8:256", "optimizer=sgd,adam", random=60, sample_seed=3).points()
    assert points != spec("lr=0.0001:0.1", "batch_size=8:256", "optimizer=sgd,adam", random=60, sample_seed=4).points()


@pytest.mark.parametrize("arg, words", [
    ("lr=0,0.1", "learning rate (lr) must be > 0"),
    ("optimizer=sgd,nadam", "unknown optimizer 'nadam'"),
    ("epochs=2.5", "epochs: expected a whole number"),
    ("colour=red", "cannot vary 'colour'"),
    ("custom_layers=[]", "cannot vary 'custom_layers'"),
    ("lr", "--grid takes FIELD=VALUES"),
    ("lr=0.1:0.01", "0 < low < high"),
    ("optimizer=sgd:adam", "a range (low:high) needs a number field"),
])
def test_bad_values_are_refused_naming_the_field(arg, words):
    with pytest.raises(ConfigError) as exc:
        sweeps.parse_grid_arg(arg)
    assert words in str(exc.value)


def test_a_range_needs_random_draws_and_nothing_varied_is_refused():
    with pytest.raises(ConfigError, match="--random N"):
        spec("lr=0.001:0.1").configs()
    with pytest.raises(ConfigError, match="nothing varies"):
        spec().configs()


def test_cli_sweep_errors_exit_2_with_the_reason(capsys):
    assert cli.main(["sweep", "--grid", "lr=abc", "--yes"]) == 2
    assert "lr: expected a number, got 'abc'" in capsys.readouterr().err
    assert cli.main(["sweep", "--grid", "lr=0.01,0.1", "--lr", "0.5", "--yes"]) == 2
    assert "lr is both fixed (--lr) and varied" in capsys.readouterr().err
    assert cli.main(["sweep", "--grid", "lr=0.01,0.1", "--epochs", "0", "--yes"]) == 2
    assert "epochs must be between 1 and 1000" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["sweep", "--seeds", "two"])
    assert "--seeds: invalid int value" in capsys.readouterr().err


# ---- a sweep end to end ------------------------------------------------------------------------

TINY_FLAGS = ["--dataset", "synthetic", "--epochs", "1", "--batch-size", "64", "--seed", "1"]


def test_a_four_run_sweep_completes_locally_with_its_runs_tagged(store, capsys, monkeypatch):
    monkeypatch.setattr(cli, "config_from_args", lambda args: _with_flags(args))
    code = cli.main(["--checkpoints", str(store.root), "sweep", *TINY_FLAGS, "--grid", "lr=0.01,0.05",
                     "--grid", "optimizer=sgd,adam", "--yes"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Sweep of 4 runs" in out and "Time: unknown" in out and "best:" in out
    (sweep,), bad = sweeps.list_sweeps(store)
    assert not bad and len(sweep.run_ids) == 4 and sweep.fields == ["lr", "optimizer"]
    runs = store.list()
    assert {r.run_id for r in runs} == set(sweep.run_ids)
    assert all(r.state == "completed" and r.status.sweep == sweep.sweep_id for r in runs)
    frame = sweeps.table(store, sweep)
    assert sorted(zip(frame["lr"], frame["optimizer"])) == [(0.01, "adam"), (0.01, "sgd"),
                                                            (0.05, "adam"), (0.05, "sgd")]
    # now that runs of this model were measured, the next sweep says how long it will take
    seconds, words = sweeps.estimate(store, spec("lr=0.01,0.05").configs())
    assert seconds is not None and "s/epoch" in words


def _with_flags(args):
    """The CLI's config with the synthetic tiny network (the CLI cannot set custom_layers)."""
    return cfg(**{k: getattr(args, k) for k in ("epochs", "batch_size", "seed") if getattr(args, k) is not None})


def test_the_median_rule_stops_a_clearly_bad_run_and_says_why(store):
    good = cfg(epochs=3)
    runner = JobRunner(store)
    sweep = sweeps.start(store, sweeps.SweepSpec(good, (sweeps.parse_axis("lr", "0.05,0.000001"),),
                                                 early_stopping=True, grace_epochs=1),
                         runner=_NoRunner(), backend="local")
    bad_id = sweep.run_ids[1]
    for i in range(3):  # three finished runs that reached 95% by epoch 1
        run_id = store.create(good, sweep=sweep.sweep_id)
        store.write_metrics(run_id, [dict.fromkeys(("train_loss", "train_acc", "lr", "epoch_seconds",
                                                    "elapsed_seconds"), 0.1) | {"epoch": e, "val_acc": 0.95,
                                                                                 "val_loss": 0.1}
                                     for e in (1, 2, 3)])
        sweep.run_ids.append(run_id)
    sweeps.save(store, sweep)
    runner.submit_created([bad_id])
    assert runner.wait_idle(60)
    rec = store.record(bad_id)
    assert rec.state == "stopped" and rec.epochs_done == 1
    assert "median rule after epoch 1" in rec.message and "median 95.00% of 3 other runs" in rec.message


class _NoRunner:
    def submit_created(self, run_ids):
        pass


def test_importance_gives_one_value_per_varied_field_and_finds_the_one_that_matters():
    lrs = [0.001, 0.01, 0.1] * 4
    frame = pd.DataFrame({"lr": lrs, "optimizer": ["sgd", "adam"] * 6, "seed": [0] * 6 + [1] * 6,
                          "status": "completed", "best_val_acc": [{0.001: 0.3, 0.01: 0.9, 0.1: 0.6}[v] for v in lrs]})
    scores = sweeps.importance(sweeps.finished(frame), ["lr", "optimizer", "seed"])
    assert set(scores) == {"lr", "optimizer", "seed"}
    assert scores["lr"] > 0.5 and scores["lr"] > 10 * max(scores["optimizer"], scores["seed"], 1e-3)
    assert sweeps.importance(sweeps.finished(frame.head(3)), ["lr"]) == {}  # too few runs to say


def test_tensorboard_event_files_hold_the_curves_and_the_sweeps_hyperparameters(store):
    if os.environ.get("CI"):
        import tensorboard  # noqa: F401 - .ci/run installs it: missing here is a failure
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    runner = JobRunner(store)
    sweep = sweeps.start(store, sweeps.SweepSpec(cfg(epochs=2, tensorboard=True),
                                                 (sweeps.parse_axis("weight_decay", "0.0001"),), seeds=2),
                         runner=runner)
    assert runner.wait_idle(60)
    events = EventAccumulator(str(store.path(sweep.run_ids[1])))
    events.Reload()
    scalars = events.Tags()["scalars"]
    assert {"accuracy/val", "loss/train", "hparam/best_val_acc"} <= set(scalars)
    assert [e.value for e in events.Scalars("accuracy/val")] == pytest.approx(
        [r["val_acc"] for r in store.read_metrics(sweep.run_ids[1])])
    content = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["weight_decay"].number_value == pytest.approx(1e-4)
    assert start.hparams["seed"].number_value == 2 and start.hparams["optimizer"].string_value == "sgd"


def test_tensorboard_switched_on_without_the_package_says_how_to_install(monkeypatch):
    from core import tensorboard_log

    monkeypatch.setattr(tensorboard_log.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="pip install -r requirements-tensorboard.txt"):
        RunConfig(tensorboard=True).validate()


def test_ray_backend_missing_says_how_to_install(store, monkeypatch):
    monkeypatch.setattr(sweeps.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(sweeps.SweepError, match="pip install -r requirements-ray.txt"):
        sweeps.start(store, spec("lr=0.01,0.1"), backend="ray")
    assert store.list() == []  # nothing was created


def test_the_ray_backend_gets_the_sweeps_tagged_queued_runs_and_the_address(store, monkeypatch, capsys):
    got = {}

    class FakeRay:  # the seam core.ray_backend provides: submit_runs(store, run_ids, address=, data_dir=)
        def submit_runs(self, store_, run_ids, *, address=None, data_dir=None):
            got.update(run_ids=run_ids, address=address, states={store_.record(r).state for r in run_ids})
            return type("Batch", (), {"wait": lambda self, timeout=None: True, "stop": lambda self: None})()

    monkeypatch.setattr(sweeps, "ray_backend", lambda: FakeRay())
    monkeypatch.setattr(cli, "config_from_args", lambda args: _with_flags(args))
    monkeypatch.setenv("CNN_STUDIO_RAY_ADDRESS", "127.0.0.1:6379")
    cli.main(["--checkpoints", str(store.root), "sweep", *TINY_FLAGS, "--grid", "lr=0.01,0.05", "--backend", "ray",
              "--yes"])
    (sweep,), _ = sweeps.list_sweeps(store)
    assert got == {"run_ids": sweep.run_ids, "address": "127.0.0.1:6379", "states": {"queued"}}
    assert sweep.backend == "ray" and all(store.read_status(r).sweep == sweep.sweep_id for r in sweep.run_ids)
