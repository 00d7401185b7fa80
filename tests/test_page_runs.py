"""The Runs page under AppTest: listing, comparing, renaming and deleting real (tiny) runs."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import trainer
from core.config import RunConfig
from tests.conftest import put_status
from ui import state



def train(store, **changes) -> str:
    cfg = RunConfig(dataset="synthetic", arch="lenet5", epochs=1, batch_size=32, **changes)
    run_id, result = trainer.new_run(store, cfg)
    assert result.status == "completed", result.message
    return run_id


@pytest.fixture
def two_runs(store, synthetic):
    return train(store, optimizer="sgd", lr=0.05), train(store, optimizer="adam", lr=0.001)


def open_runs(at: AppTest, selected=()) -> AppTest:
    at.session_state[state.COMPARE_RUNS] = list(selected)
    at.switch_page(state.RUNS).run()
    assert not at.exception, at.exception
    return at


def page_links(at):
    return [el.proto for el in at.get("page_link")]


def test_empty_store_says_so_and_links_to_train(app):
    at = open_runs(app)
    assert "No runs saved yet" in at.info[0].value
    assert [link.page for link in page_links(at)] == [Path(state.TRAIN).stem]
    assert not at.dataframe


def test_table_lists_every_run_with_its_results(app, two_runs, store):
    at = open_runs(app)
    table = at.dataframe[0].value
    assert sorted(table["run_id"]) == sorted(two_runs)
    row = table.set_index("run_id").loc[two_runs[1]]
    assert row["optimizer"] == "adam" and row["lr"] == 0.001 and row["status"] == "completed"
    assert row["best_val_acc"] == pytest.approx(store.read_status(two_runs[1]).best_val_acc * 100)  # shown in %


def test_filters_and_search_narrow_the_table(app, two_runs, store):
    store.rename(two_runs[0], "baseline sgd")
    put_status(store, two_runs[1], status="stopped")
    at = open_runs(app)
    at.text_input(key="runs_search").input("BASELINE").run()
    assert at.dataframe[0].value["run_id"].tolist() == [two_runs[0]]
    at.text_input(key="runs_search").input("").run()
    assert at.multiselect(key="runs_filter_status").options == ["completed", "stopped"]
    at.multiselect(key="runs_filter_status").select("stopped").run()
    assert at.dataframe[0].value["run_id"].tolist() == [two_runs[1]]
    at.text_input(key="runs_search").input("baseline").run()
    assert at.dataframe[0].value.empty


def test_two_selected_runs_show_the_comparison_with_only_the_differing_settings(app, two_runs):
    at = open_runs(app, two_runs)
    assert any("Comparing 2 runs" in s.value for s in at.subheader)
    frames = {tuple(df.value.index): df.value for df in at.dataframe}
    diff = next(v for k, v in frames.items() if set(k) & {"optimizer", "lr"})
    assert set(diff.index) == {"optimizer", "lr"}
    assert sorted(diff.loc["optimizer"]) == ["adam", "sgd"]
    charts = [el for el in at.get("plotly_chart")]
    # loss, accuracy, learning rate, one confusion matrix per run, per-class bars; A against B:
    # the agreement matrix and the per-class change
    assert len(charts) == 8


def test_rename_through_the_form_changes_the_stored_name(app, two_runs, store):
    run_id = two_runs[0]
    at = open_runs(app, [run_id])
    at.text_input(key=f"runs_rename_{run_id}").input("my best run")
    next(b for b in at.button if b.label == "Rename").click().run()
    assert store.read_status(run_id).name == "my best run"
    # AppTest runs a switched-to page without the router, so the flash is read from the state
    assert "my best run" in at.session_state[state.FLASH][1]
    assert at.subheader[0].value == "my best run"


def test_a_bad_name_is_refused_with_the_store_message(app, two_runs, store):
    run_id = two_runs[0]
    before = store.read_status(run_id).name
    at = open_runs(app, [run_id])
    at.text_input(key=f"runs_rename_{run_id}").input("a/b")
    next(b for b in at.button if b.label == "Rename").click().run()
    assert any("cannot contain '/'" in e.value for e in at.error)
    assert store.read_status(run_id).name == before


def test_delete_asks_first_then_removes_the_run(app, two_runs, store):
    run_id = two_runs[0]
    at = open_runs(app, [run_id])
    at.button(key="runs_delete").click().run()
    assert store.exists(run_id) and "cannot be undone" in at.warning[0].value
    at.button(key="runs_delete_confirm").click().run()
    assert not store.exists(run_id)
    assert at.session_state[state.COMPARE_RUNS] == []
    assert at.dataframe[0].value["run_id"].tolist() == [two_runs[1]]


def test_delete_is_refused_while_the_run_trains(app, two_runs, store):
    run_id = two_runs[0]
    store.claim(run_id)  # this process trains it
    put_status(store, run_id, status="running")
    at = open_runs(app, [run_id])
    at.button(key="runs_delete").click().run()
    at.button(key="runs_delete_confirm").click().run()
    assert any("stop it" in e.value for e in at.error)
    assert store.exists(run_id)


def test_resume_is_offered_only_for_unfinished_runs(app, two_runs, store):
    at = open_runs(app, [two_runs[0]])
    assert at.button(key="runs_resume").disabled
    put_status(store, two_runs[0], status="stopped")
    at = open_runs(app, [two_runs[0]])
    assert not at.button(key="runs_resume").disabled


def test_open_in_evaluate_and_clone_into_train_switch_pages(app, two_runs, store):
    at = open_runs(app, [two_runs[1]])
    at.button(key="runs_open_evaluate").click().run()
    assert at.session_state[state.SELECTED_RUN] == two_runs[1]
    assert at.title[0].value == "Evaluate"
    assert two_runs[1] in at.selectbox(key="evaluate_run").value

    at = open_runs(app, [two_runs[1]])
    at.button(key="runs_clone").click().run()
    assert at.title[0].value == "Train"
