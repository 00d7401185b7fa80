"""UI state that must outlive a page switch and a browser reload (issue #11, cases 9-12).

A reload starts a new Streamlit session: here that is a fresh AppTest on the same run store.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import compare
from core.config import RunConfig
from core.jobs import LiveRun
from core.runs import RunRecord, RunStatus, owner_fields
from tests.conftest import APP
from tests.test_jobs import wait_for
from ui import layer_editor, live, state
from ui.text import plain


def reload(page: str | None = None, **query) -> AppTest:
    """What a browser reload gives: a new session, with only the URL's query string kept."""
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


# ---- 9. drafts survive a reload -------------------------------------------------------------------

def test_train_form_draft_survives_a_reload(app):
    app.switch_page(state.TRAIN).run()
    app.number_input(key="cfg_epochs").set_value(7)
    app.selectbox(key="cfg_optimizer").set_value("adam")
    app.text_input(key="cfg_name").set_value("half-typed draft").run()
    at = reload(state.TRAIN)
    assert at.number_input(key="cfg_epochs").value == 7
    assert at.selectbox(key="cfg_optimizer").value == "adam"
    assert at.text_input(key="cfg_name").value == "half-typed draft"


def test_a_damaged_or_old_draft_falls_back_to_defaults_field_by_field(app):
    drafts = state.store().root / ".drafts"
    drafts.mkdir(parents=True)
    (drafts / f"{state.TRAIN_FORM}.json").write_text(json.dumps(
        {"epochs": 9, "optimizer": "no-such-optimizer", "lr": "fast", "retired_field": 1}))
    at = reload(state.TRAIN)
    assert at.number_input(key="cfg_epochs").value == 9
    assert at.selectbox(key="cfg_optimizer").value == RunConfig().optimizer
    assert at.number_input(key="cfg_lr").value == pytest.approx(RunConfig().lr)
    (drafts / f"{state.TRAIN_FORM}.json").write_text("{not json")
    assert reload(state.TRAIN).number_input(key="cfg_epochs").value == RunConfig().epochs


def stack_table(at: AppTest):
    return next(df.value for df in at.dataframe if "#" in df.value.columns)


def test_custom_layer_stack_survives_a_reload(app):
    edited = layer_editor.default_stack(10)[:3] + [{"type": "flatten"}, {"type": "linear", "out_features": 10}]
    app.session_state[layer_editor.KEPT] = edited  # what the editor table held
    app.switch_page("pages/model.py").run()
    assert not app.exception
    at = reload("pages/model.py")
    assert stack_table(at)["type"].tolist() == [layer["type"] for layer in edited]


def test_lr_finder_result_survives_a_reload_but_only_for_its_settings(app):
    app.switch_page(state.TRAIN).run()
    app.number_input(key="cfg_batch_size").set_value(32).run()
    app.button(key="lr_find").click().run()
    assert state.runner().wait_idle(60)  # the sweep runs in the job runner's thread
    app.run()
    assert not app.exception
    assert any(el.proto.id and "lr_finder_chart" in el.proto.id for el in app.get("plotly_chart"))
    suggested = app.button(key="lr_use").proto.label
    at = reload(state.TRAIN)
    assert any("lr_finder_chart" in el.proto.id for el in at.get("plotly_chart")), "kept across the reload"
    at.button(key="lr_use").click().run()  # using the suggestion changes lr, which the sweep ignores
    assert f"{at.number_input(key='cfg_lr').value:g}" in suggested
    assert any("lr_finder_chart" in el.proto.id for el in at.get("plotly_chart"))
    at.number_input(key="cfg_batch_size").set_value(64).run()  # another sweep would differ
    assert not any("lr_finder_chart" in el.proto.id for el in at.get("plotly_chart"))
    assert any("run it again" in c.value for c in at.caption)


@pytest.fixture
def two_runs(store, synthetic):
    from tests.test_page_runs import train

    return train(store, optimizer="sgd", lr=0.05), train(store, optimizer="adam", lr=0.001)


def test_compared_runs_come_from_the_url_and_go_into_it(app, two_runs):
    at = reload(state.RUNS, runs=",".join(two_runs))
    assert any("Comparing 2 runs" in s.value for s in at.subheader)
    at.button(key="runs_clear").click().run()
    assert "runs" not in at.query_params
    assert not any("Comparing" in s.value for s in at.subheader)


def test_home_pair_button_opens_runs_with_both_runs_in_the_url(app):
    app.run()
    app.button(key="home_pair_compare_optimizers").click().run()
    assert not app.exception
    run_ids = [r.run_id for r in state.store().list()]
    assert len(run_ids) == 2
    assert sorted(app.query_params["runs"].split(",")) == sorted(run_ids)
    assert app.title[0].value == "Runs"
    assert any("Comparing 2 runs" in s.value for s in app.subheader)
    assert not any("reload" in s.value for s in app.success)


# ---- 10. comparing runs that still train ----------------------------------------------------------

def record(run_id, state_, metrics=(), **status):
    # owned by this (live) process, so queued and running are believed
    status = RunStatus.parse({"name": run_id, "status": state_, **owner_fields(), **status})
    return RunRecord(run_id, Path("/nowhere") / run_id, status=status, config=RunConfig(), metrics=list(metrics))


def test_blank_results_say_why():
    row = {"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 0.9, "val_acc": 0.6, "lr": 0.01,
           "epoch_seconds": 2.0, "elapsed_seconds": 2.0}
    table = compare.final_metrics([record("q", "queued"), record("r", "running", [row]),
                                   record("s", "stopped"), record("d", "completed", [row], test_acc=0.7)])
    assert table["why blank"].tolist() == ["queued: no finished epoch yet",
                                           "training: not evaluated on the test set yet",
                                           "stopped before its first epoch ended", ""]
    assert table.loc["r", "epochs done"] == 1 and table.loc["r", "final val accuracy"] == 0.6


def test_comparison_of_a_training_run_says_why_cells_are_blank_and_keeps_updating(app, two_runs, synthetic):
    from tests.test_engine import cfg

    run_id = state.runner().submit(cfg(epochs=500, device="cpu", name="still training"))
    assert wait_for(lambda: state.snapshot()["live"])
    at = reload(state.RUNS, runs=f"{two_runs[0]},{run_id}")
    results = next(df for df in at.dataframe if "why blank" in df.value.columns)
    assert results.value.loc["still training", "why blank"].startswith("training: ")
    assert results.proto.arrow_data and "–" in str(results.proto)  # blank cells draw as "–", not None
    assert any("Updates every 5 s" in c.value for c in at.caption)
    state.runner().stop()
    assert state.runner().wait_idle(60)
    at.run()
    assert not any("Updates every" in c.value for c in at.caption), "nothing trains: no more polling"


# ---- 11. the run name sticks ------------------------------------------------------------------------

def test_run_name_does_not_carry_over_and_a_clone_is_named_as_a_copy(app, trained_run, store):
    app.switch_page(state.TRAIN).run()
    app.number_input(key="cfg_epochs").set_value(1)
    app.text_input(key="cfg_name").set_value("same name twice").run()
    app.button(key="train_submit").click().run()
    assert state.runner().wait_idle(120)
    app.run()
    assert app.text_input(key="cfg_name").value == ""  # the next run does not reuse it
    app.button(key="train_submit").click().run()  # pressing Train again
    assert state.runner().wait_idle(120)
    names = [r.name for r in store.list() if r.run_id != trained_run]
    assert names.count("same name twice") == 1 and len(names) == 2

    store.rename(trained_run, "baseline")
    app.session_state[state.COMPARE_RUNS] = [trained_run]
    app.switch_page(state.RUNS).run()
    app.button(key="runs_clone").click().run()
    assert app.title[0].value == "Train"
    assert app.text_input(key="cfg_name").value == "baseline (copy)"


# ---- 12. Light mode draws curves early -----------------------------------------------------------

def test_light_mode_takes_new_curves_for_the_first_steps_and_epoch_then_every_30_s(monkeypatch):
    kept, clock = {}, [1000.0]
    monkeypatch.setattr(state, "get", lambda key: kept.get(key))
    monkeypatch.setattr(state, "put", kept.__setitem__)
    monkeypatch.setattr(live.time, "time", lambda: clock[0])

    def look(after: float, steps: int, epochs: int):
        clock[0] += after
        run = LiveRun("r1", "r1", {}, steps=[(i, 0, 1, 1, 0.1) for i in range(steps)],
                      epoch_rows=[{"epoch": e + 1} for e in range(epochs)])
        drawn = live.curves_to_draw(run, 30.0)
        return len(drawn.steps), len(drawn.epoch_rows)

    assert look(0, 0, 0) == (0, 0)
    assert look(5, 3, 0) == (3, 0), "the first steps are drawn at the next look"
    assert look(5, 6, 0) == (3, 0), "then the chart waits"
    assert look(5, 9, 1) == (9, 1), "the first finished epoch is drawn at once"
    assert look(5, 12, 2) == (9, 1), "later epochs wait for the slow cadence"
    assert look(25, 20, 3) == (20, 3), "30 s after the last redraw"
    live.redraw_curves()  # "Redraw the curves now", or a page run
    assert look(1, 21, 3) == (21, 3)


# ---- names are text, not Markdown -----------------------------------------------------------------

def test_plain_escapes_markdown_links_emphasis_and_streamlit_syntax():
    assert plain("[click](evil.example)") == r"\[click\]\(evil.example\)"
    assert plain("**bold** $x$ :red[x] www.evil.example") == r"\*\*bold\*\* \$x\$ \:red\[x\] www\.evil.example"
    assert plain("notes.txt.png") == "notes.txt.png"


def test_a_run_name_is_shown_as_typed_in_the_live_panel(app, synthetic):
    from tests.test_engine import cfg

    state.runner().submit(cfg(epochs=500, device="cpu", name="**x** [click](evil.example)"))
    assert wait_for(lambda: state.snapshot()["live"])
    app.switch_page(state.TRAIN).run()
    heads = [m.value for m in app.markdown if "Training:" in m.value]
    assert heads and r"\*\*x\*\* \[click\]\(evil.example\)" in heads[0]


@pytest.mark.parametrize("val_split, on", [(0.0, "test"), (0.25, "validation")])
def test_the_live_panel_says_what_its_epoch_accuracy_is_measured_on(app, synthetic, val_split, on):
    # without a validation share the epoch-end accuracy is the test set's: it must not say "validation"
    from tests.test_engine import cfg

    state.runner().submit(cfg(epochs=2, device="cpu", val_split=val_split))
    assert state.runner().wait_idle(60)
    app.switch_page(state.TRAIN).run()
    last = [s.value for s in app.success if "Last run" in s.value]
    assert last and f"Final {on} accuracy" in last[0], last
