"""The Evaluate page under AppTest, on a run trained for real on the synthetic dataset whose
stored predictions are then replaced by known ones, so every gallery filter can be checked."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from core import checkpoints, metrics, trainer
from core.config import RunConfig
from ui import state

CAPTION = re.compile(r"^\*\*(q\d)\*\* → :(red|green)\[\*\*(q\d)\*\*\] · \d+%$")


def known_predictions(labels: torch.Tensor, classes: int = 4):
    """Every third sample is wrong, predicted as label+1 or label+2; confidence 70%."""
    n = len(labels)
    i = torch.arange(n)
    wrong = i % 3 == 0
    preds = torch.where(wrong, (labels + 1 + (i // 3) % 2) % classes, labels)
    probs = torch.full((n, classes), 0.1)
    probs[i, preds] = 0.7
    losses = -torch.log(probs[i, labels])
    return labels, preds, probs, losses


@pytest.fixture
def run(store, synthetic):
    run_id, result = trainer.new_run(store, RunConfig(dataset="synthetic", arch="lenet5", epochs=1, batch_size=32))
    assert result.status == "completed", result.message
    labels, preds, probs, losses = known_predictions(synthetic.test.labels)
    checkpoints.save_predictions(store, run_id, "best", labels, preds, probs, losses)
    return run_id, labels.numpy(), preds.numpy()


def open_evaluate(at: AppTest, **session) -> AppTest:
    for key, value in session.items():
        at.session_state[key] = value
    at.switch_page(state.EVALUATE).run()
    assert not at.exception, at.exception
    return at


def array(value) -> np.ndarray:
    """A Plotly JSON array, which Plotly 6 sends base64-encoded ({'dtype', 'bdata', 'shape'})."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return flat.reshape([int(v) for v in str(value.get("shape", len(flat))).split(",")])
    return np.asarray(value)


def tiles(at: AppTest) -> list[tuple[str, str, str]]:
    """(true, colour, predicted) of every gallery tile on the page."""
    return [m.groups() for m in (CAPTION.match(c.value) for c in at.caption) if m]


def test_empty_store_says_so_and_links_to_train(app):
    at = open_evaluate(app)
    assert "no trained run" in at.info[0].value
    assert [el.proto.page for el in at.get("page_link")] == [Path(state.TRAIN).stem]


def test_metrics_tables_and_confusion_matrix_match_the_stored_predictions(app, run):
    run_id, labels, preds = run
    at = open_evaluate(app)
    assert run_id in at.selectbox(key="evaluate_run").value
    accuracy = float((labels == preds).mean())
    assert at.metric[0].value == f"{accuracy:.2%}"
    assert at.metric[3].value == f"{int((labels != preds).sum())} of {len(labels)}"
    cm = metrics.confusion_matrix(labels, preds, 4)
    charts = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    heat = next(c for c in charts if c["data"][0]["type"] == "heatmap")
    np.testing.assert_array_equal(array(heat["data"][0]["z"]), cm)
    report = next(df.value for df in at.dataframe if "precision" in df.value.columns)
    assert report["support"].tolist() == np.bincount(labels, minlength=4).tolist()
    confused = next(df.value for df in at.dataframe if "predicted" in df.value.columns)
    assert confused["count"].sum() == int((labels != preds).sum())


def test_misclassified_gallery_shows_only_mistakes_and_filters_by_class(app, run):
    _, labels, preds = run
    at = open_evaluate(app)
    shown = tiles(at)
    assert len(shown) == min(24, int((labels != preds).sum()))
    assert all(colour == "red" and true != pred for true, colour, pred in shown)

    at.selectbox(key="evaluate_wrong_true").set_value(2).run()
    expected = int(((labels == 2) & (preds != 2)).sum())
    assert expected and len(tiles(at)) == expected
    assert {t for t, _, _ in tiles(at)} == {"q2"}

    at.selectbox(key="evaluate_wrong_pred").set_value(3).run()
    expected = int(((labels == 2) & (preds == 3)).sum())
    assert expected and len(tiles(at)) == expected
    assert set(tiles(at)) == {("q2", "red", "q3")}

    at.selectbox(key="evaluate_wrong_pred").set_value(2).run()  # a true class is never its own mistake
    assert tiles(at) == [] and any("No test images match" in i.value for i in at.info)


def test_correct_gallery_pages_through_correct_predictions_of_one_class(app, run):
    _, labels, preds = run
    at = open_evaluate(app, evaluate_tabs="Correct")
    assert all(colour == "green" and true == pred for true, colour, pred in tiles(at))
    at.selectbox(key="evaluate_right_true").set_value(1).run()
    expected = int(((labels == 1) & (preds == 1)).sum())
    assert len(tiles(at)) == expected and {t for t, _, _ in tiles(at)} == {"q1"}


def test_a_confusion_cell_shows_exactly_its_images(app, run):
    run_id, labels, preds = run
    at = open_evaluate(app, evaluate_cell=(run_id, 0, 1), evaluate_tabs="Confusion cell")
    expected = int(((labels == 0) & (preds == 1)).sum())
    assert expected and len(tiles(at)) == expected
    assert set(tiles(at)) == {("q0", "red", "q1")}
    assert any(f"{expected:,} images" in m.value for m in at.markdown)


def test_a_tile_opens_the_sample_view_with_every_class_and_captum_maps(app, run):
    run_id, labels, preds = run
    at = open_evaluate(app)
    first_wrong = int(np.flatnonzero(labels != preds)[0])
    at.button(key=f"evaluate_wrong_tile_{first_wrong}").click().run()
    assert not at.exception, at.exception
    assert at.session_state[state.SAMPLE] == (run_id, first_wrong)
    assert at.query_params[state.SAMPLE_PARAM] == f"{run_id}:{first_wrong}", "the view is not linkable"
    assert any(f"Test image #{first_wrong}" in m.value for m in at.markdown)
    charts = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    bars = next(c for c in charts if c["data"][0]["type"] == "bar" and c["data"][0].get("orientation") == "h")
    assert len(bars["data"][0]["y"]) == 4
    titles = {m.value for m in at.markdown}
    assert {"**Saliency**", "**Integrated Gradients**", "**Occlusion**"} <= titles
    assert any(t.startswith("**Grad-CAM (") for t in titles)
    at.toggle(key="evaluate_sample_smooth").set_value(True).run()
    assert "**Saliency + SmoothGrad**" in {m.value for m in at.markdown}


def test_per_class_chart_is_built_only_when_its_expander_is_open(app, run):
    def bar_charts(at):
        return [c for c in (json.loads(el.proto.spec) for el in at.get("plotly_chart"))
                if [t.get("name") for t in c["data"]] == ["precision", "recall", "f1"]]

    at = open_evaluate(app)
    assert bar_charts(at) == []
    at = open_evaluate(app, evaluate_per_class_open=True)
    (chart,) = bar_charts(at)
    assert list(chart["data"][0]["x"]) == ["q0", "q1", "q2", "q3"]


def test_gallery_filters_and_pages_start_afresh_for_another_run(app, run, store, synthetic):
    first, _, _ = run
    second, result = trainer.new_run(store, RunConfig(dataset="synthetic", arch="lenet5", epochs=1, batch_size=32,
                                                      seed=7))
    assert result.status == "completed", result.message
    at = open_evaluate(app, **{state.SELECTED_RUN: first}, evaluate_tabs="Correct")
    at.number_input(key="evaluate_right_page").set_value(2).run()
    at.selectbox(key="evaluate_right_order").set_value("highest loss first").run()
    assert at.number_input(key="evaluate_right_page").value == 2
    at.selectbox(key="evaluate_run").set_value(second).run()
    assert not at.exception
    assert at.number_input(key="evaluate_right_page").value == 1, "the other run's page was kept"
    assert at.selectbox(key="evaluate_right_order").value == "least confident first"


def test_best_weights_chosen_on_the_test_set_say_so(app, store, synthetic):
    # a run without a validation share picks its "best" epoch by test accuracy: an optimistic number
    on_test, result = trainer.new_run(store, RunConfig(dataset="synthetic", arch="lenet5", epochs=1, batch_size=32,
                                                      val_split=0.0))
    assert result.status == "completed"
    at = open_evaluate(app, **{state.SELECTED_RUN: on_test})
    assert [c for c in at.caption if "Best epoch chosen on the test set" in c.value]


def test_best_weights_chosen_on_a_validation_share_carry_no_warning(app, run):
    at = open_evaluate(app, **{state.SELECTED_RUN: run[0]})
    assert not [c for c in at.caption if "chosen on the test set" in c.value]


def test_a_link_to_one_image_opens_its_sample_view(app, run):
    run_id, labels, preds = run
    app.query_params[state.SAMPLE_PARAM] = f"{run_id}:5"
    at = open_evaluate(app)
    assert at.session_state[state.SAMPLE] == (run_id, 5)
    assert any("Test image #5" in m.value for m in at.markdown)
    assert any(b.label == "Compute features" for b in at.button), "neighbours need features; it offers them"


def test_the_projector_computes_pca_in_the_job_runner_and_marks_mistakes(app, run):
    run_id, labels, preds = run
    at = open_evaluate(app, evaluate_tabs="Projector")
    runner = state.runner()
    assert runner.analysis(run_id, "best", "pca") is not None, "PCA is queued as soon as the projector opens"
    assert runner.wait_idle(60)
    at.run()
    assert not at.exception, at.exception
    chart = next(c for c in (json.loads(el.proto.spec) for el in at.get("plotly_chart"))
                 if c["data"][0]["type"] == "scattergl")
    points = {int(array(t["customdata"])[i][0]): t["marker"]["symbol"] for t in chart["data"]
              for i in range(len(array(t["customdata"])))}
    assert sorted(points) == list(range(len(labels)))
    assert {i for i, symbol in points.items() if symbol == "x"} == set(np.flatnonzero(labels != preds))
    assert any("Select points" in i.value for i in at.info)
    # a second visit reads the run folder's cache and queues nothing new
    at.switch_page(state.EVALUATE).run()
    assert runner.analysis(run_id, "best", "pca").state == "done"


def test_the_inspect_page_opens_the_sample_view_of_its_test_image(app, run):
    run_id, _, _ = run
    at = app
    at.switch_page(state.INSPECT).run()
    at.number_input(key="inspect_index").set_value(7).run()
    at.button(key="inspect_explain").click().run()
    assert not at.exception, at.exception
    assert at.session_state[state.SAMPLE] == (run_id, 7)
    assert any("Test image #7" in m.value for m in at.markdown)
