"""Train and Runs show a run that another process trains (a Ray worker, a terminal) live from its
folder, and their Stop reaches it through the run store."""
import json

import pytest

from core.config import RunConfig
from ui import state


@pytest.fixture
def trained_elsewhere(store):
    """A run two epochs into training, owned by a process other than the dashboard's job runner
    (the test's own store holds its lease, as a `python -m core train` would)."""
    run_id = store.create(RunConfig(dataset="mnist_sample", arch="lenet5", epochs=5, name="from a terminal"))
    store.transition(run_id, "running", "")
    rows = [{"epoch": e, "train_loss": 1.0 / e, "train_acc": 0.5 + e / 20, "val_loss": 1.2 / e, "val_acc": 0.45 + e / 20,
             "lr": 0.01, "epoch_seconds": 3.0, "elapsed_seconds": 3.0 * e} for e in (1, 2)]
    store.write_metrics(run_id, rows)
    store.update(run_id, epochs_done=2, best_epoch=2, best_val_acc=0.55)
    return run_id


@pytest.mark.parametrize("page", [state.TRAIN, state.RUNS])
def test_a_run_trained_elsewhere_shows_live_with_its_curves_and_stops(app, store, trained_elsewhere, page):
    at = app
    at.switch_page(page).run()
    assert not at.exception, at.exception
    assert any("Training elsewhere" in m.value for m in at.markdown)
    assert any(trained_elsewhere in m.value and "process" in m.value for m in at.markdown)
    charts = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    val_acc = [t for c in charts for t in c["data"] if t.get("name") == "val acc"]
    assert val_acc and val_acc[0]["y"] == [0.5, 0.55]  # the epochs from its metrics.csv
    assert not store.stop_requested(trained_elsewhere)
    at.button(key=f"elsewhere_stop_{trained_elsewhere}").click().run()
    assert not at.exception, at.exception
    assert store.stop_requested(trained_elsewhere)  # what its trainer looks for between batches
    assert at.button(key=f"elsewhere_stop_{trained_elsewhere}").disabled


def test_train_page_says_how_to_enable_ray_when_it_is_not_installed(app, monkeypatch):
    from core import ray_backend

    monkeypatch.setattr(ray_backend, "installed", lambda: False)
    at = app
    at.switch_page(state.TRAIN).run()
    assert not at.exception, at.exception
    assert any("pip install -r requirements-ray.txt" in c.value for c in at.caption)
    assert not [w for w in at.get("button_group") if "train_backend_picker" in str(w.proto)]
    assert at.button(key="train_submit").label == "Train"
