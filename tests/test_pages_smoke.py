"""Every page renders without an exception: on a fresh store, and with a finished run."""
import pytest

from ui import state

PAGES = [state.HOME, state.DATA, state.MODEL, state.TRAIN, state.RUNS, state.EVALUATE, state.INSPECT,
         state.PLAYGROUND]
NEEDS_A_RUN = {state.EVALUATE, state.INSPECT, state.PLAYGROUND}


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_on_a_fresh_store(app, page):
    app.switch_page(page).run()
    assert not app.exception, app.exception
    if page in NEEDS_A_RUN:
        # says what is missing and links to where it is made, instead of a traceback
        assert any("no trained run" in i.value for i in app.info)
        assert app.get("page_link")[-1].value == "Go to Train"


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_with_a_finished_run(app, trained_run, page):
    app.switch_page(page).run()
    assert not app.exception, app.exception
    assert not any("no trained run" in i.value for i in app.info)


@pytest.fixture
def damaged_runs(store, trained_run):
    """Next to a good run: the ways a run folder gets damaged on a real disk."""
    import shutil

    good = store.path(trained_run)
    for name in ("truncated-weights", "bad-json", "missing-files"):
        shutil.copytree(good, store.root / name)
    weights = store.root / "truncated-weights" / "weights_best.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    preds = store.root / "truncated-weights" / "predictions_best.safetensors"
    preds.write_bytes(preds.read_bytes()[:50])
    (store.root / "bad-json" / "status.json").write_text("{oops")
    for f in ("config.json", "model.json"):
        (store.root / "missing-files" / f).unlink()
    (store.root / "copied-by-hand").mkdir()
    (store.root / "copied-by-hand" / "notes.txt").write_text("hello")
    return trained_run


@pytest.mark.parametrize("page", PAGES)
def test_no_page_crashes_on_damaged_run_folders(app, damaged_runs, page):
    app.switch_page(page).run()
    assert not app.exception, app.exception


def test_runs_page_lists_damaged_folders_with_their_reason(app, damaged_runs):
    app.switch_page(state.RUNS).run()
    text = app.dataframe[0].value.to_string()
    assert "status.json is missing" in text and "config.json is missing" in text and "not valid JSON" in text


def test_two_tabs_see_the_same_job(app, synthetic):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP
    from tests.test_engine import cfg

    run_id = state.runner().submit(cfg(epochs=200))
    other = AppTest.from_file(APP, default_timeout=60)
    for tab in (app, other):
        tab.switch_page(state.TRAIN).run()
        assert any(run_id in m.value for m in tab.markdown), "the live panel of every tab shows the job"
    state.runner().stop()
