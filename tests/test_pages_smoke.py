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


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_with_a_finished_run(app, trained_run, page):
    app.switch_page(page).run()
    assert not app.exception, app.exception
    assert not any("no trained run" in i.value for i in app.info)
