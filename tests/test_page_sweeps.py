"""AppTest: the Train form's sweep option and the Sweeps page."""
import json

from core import sweeps
from tests.test_engine import cfg
from ui import state


class _Later:
    """A backend that leaves the runs queued (the test plants their results itself)."""

    def submit_created(self, run_ids):
        pass


def _finished_sweep(store):
    """A sweep of four runs over lr and optimizer whose results are planted, as a finished one has."""
    axes = (sweeps.parse_axis("lr", "0.01,0.05"), sweeps.parse_axis("optimizer", "sgd,adam"))
    spec = sweeps.SweepSpec(cfg(epochs=2), axes)
    sweep = sweeps.start(store, spec, runner=_Later())
    for i, run_id in enumerate(sweep.run_ids):
        acc = 0.5 + 0.1 * i
        store.write_metrics(run_id, [{"epoch": e, "train_loss": 1.0, "train_acc": acc, "val_loss": 1.0, "val_acc": acc,
                                      "lr": 0.01, "epoch_seconds": 0.5, "elapsed_seconds": 0.5 * e} for e in (1, 2)])
        store.transition(run_id, "running")
        store.transition(run_id, "completed", "finished 2 epochs", epochs_done=2, best_val_acc=acc, test_acc=acc)
        store.release(run_id)
    return sweep


def test_sweeps_page_compares_the_runs_and_queues_the_best_config_for_longer(app, synthetic):
    sweep = _finished_sweep(state.store())
    app.switch_page(state.SWEEPS).run()
    assert not app.exception
    table = app.dataframe[0].value
    assert list(table["status"]) == ["completed"] * 4 and set(table["optimizer"]) == {"sgd", "adam"}
    plots = [json.loads(el.proto.spec) for el in app.get("plotly_chart")]
    parcoords = plots[0]["data"][0]
    assert parcoords["type"] == "parcoords"
    assert [d["label"] for d in parcoords["dimensions"]] == ["Learning rate", "Optimizer", "Best val acc (%)"]
    assert parcoords["dimensions"][1]["ticktext"] == ["adam", "sgd"]  # a category's values as ticks
    assert sorted(plots[1]["data"][0]["y"]) == ["Learning rate", "Optimizer"]  # one importance per varied field
    best = sweep.run_ids[-1]
    assert any(best in m.value or "0.05" in m.value for m in app.markdown)
    app.button(key="sweep_longer").click().run()
    assert not app.exception
    queued = [r for r in state.store().list() if r.run_id not in sweep.run_ids]
    assert len(queued) == 1 and queued[0].config.epochs == 4 and queued[0].config.lr == 0.05
    assert queued[0].config.optimizer == "adam"
    state.runner().cancel(queued[0].run_id) or state.runner().stop()


def test_the_train_forms_sweep_option_starts_one_run_per_value(app):
    app.switch_page(state.TRAIN).run()
    app.number_input(key="cfg_epochs").set_value(1).run()
    app.toggle(key="sweep_on").set_value(True).run()
    app.multiselect(key="sweep_fields").set_value(["lr"]).run()
    app.text_input(key="sweep_values_lr").set_value("0.01,abc").run()
    assert any("expected a number, got 'abc'" in e.value for e in app.error)
    app.text_input(key="sweep_values_lr").set_value("0.01,0.02").run()
    app.number_input(key="sweep_seeds").set_value(2).run()
    assert any("4 runs" in i.value for i in app.info)
    app.button(key="sweep_submit").click().run()
    assert not app.exception
    runner = state.runner()
    (sweep,), _ = sweeps.list_sweeps(state.store())
    for run_id in sweep.run_ids:  # the runs themselves are the local backend's (tested elsewhere)
        runner.cancel(run_id)
    assert sweep.fields == ["lr", "seed"] and len(sweep.run_ids) == 4
    made = sorted((r.config.lr, r.config.seed) for r in state.store().list())
    assert made == [(0.01, 0), (0.01, 1), (0.02, 0), (0.02, 1)]
    assert any(sweep.sweep_id in s.value for s in app.success)


def test_stop_the_sweep_stops_its_ray_runs_wherever_they_train(app, synthetic):
    store = state.store()
    spec = sweeps.SweepSpec(cfg(epochs=2), (sweeps.parse_axis("lr", "0.01,0.05"),))
    sweep = sweeps.start(store, spec, runner=_Later())
    sweep.backend = "ray"  # as `python -m core sweep --backend ray` in a terminal records it; its runs train there
    sweeps.save(store, sweep)
    app.switch_page(state.SWEEPS).run()
    app.button(key="sweep_stop").click().run()
    assert not app.exception
    assert all(store.stop_requested(r) for r in sweep.run_ids)  # each run's trainer stops after its batch


def test_a_sweep_goes_where_the_train_on_picker_says(app, monkeypatch):
    """One picker, one key: Ray chosen for a single run stays chosen when the sweep is switched on."""
    from core import ray_backend

    monkeypatch.setattr(ray_backend, "installed", lambda: True)
    started = []
    monkeypatch.setattr(sweeps, "start", lambda store, spec, **kw: started.append(kw["backend"]) or
                        sweeps.Sweep("sweep-x", "x", 0.0, ["lr"], {}, {}, backend=kw["backend"]))
    app.switch_page(state.TRAIN).run()
    app.button_group(key="train_backend_picker").set_value("ray").run()
    app.toggle(key="sweep_on").set_value(True).run()
    assert app.button_group(key="train_backend_picker").value == "ray"  # the sweep shows the same choice
    app.multiselect(key="sweep_fields").set_value(["lr"]).run()
    app.text_input(key="sweep_values_lr").set_value("0.01,0.02").run()
    app.button(key="sweep_submit").click().run()
    assert not app.exception, app.exception
    assert started == ["ray"]
