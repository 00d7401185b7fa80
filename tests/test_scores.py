"""Precision-recall and ROC curves, calibration and top-k accuracy from stored probabilities
(core.metrics with scikit-learn), and the Evaluate page's section that shows them."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core import checkpoints, metrics, trainer
from core.config import RunConfig
from ui import score_figures, state

LABELS = np.array([0, 1, 2, 0, 1, 2])


def one_hot(labels, classes=3, p=1.0):
    probs = np.full((len(labels), classes), (1 - p) / (classes - 1))
    probs[np.arange(len(labels)), labels] = p
    return probs


def test_a_perfect_classifier_has_auc_and_average_precision_one():
    curves = metrics.one_vs_rest_curves(LABELS, one_hot(LABELS, p=0.8), ["a", "b", "c"])
    assert curves["classes"]["roc_auc"].tolist() == [1.0, 1.0, 1.0]
    assert curves["classes"]["average_precision"].tolist() == [1.0, 1.0, 1.0]
    recall, precision = curves["pr"][0]
    assert precision.min() >= 0.3 and recall.max() == 1.0


def test_a_classifier_ranking_everything_backwards_has_auc_zero():
    labels = np.array([0, 1, 0, 1])
    probs = one_hot(1 - labels, classes=2, p=0.8)  # every image of a class scores lowest for it
    assert metrics.one_vs_rest_curves(labels, probs, "ab")["classes"]["roc_auc"].tolist() == [0.0, 0.0]


def test_a_class_without_test_images_has_no_curve_and_nan_scores():
    labels = np.array([0, 1, 0, 1])
    curves = metrics.one_vs_rest_curves(labels, one_hot(labels), ["a", "b", "c"])
    assert 2 not in curves["roc"] and np.isnan(curves["classes"]["roc_auc"].iloc[2])
    assert curves["classes"]["support"].tolist() == [2, 2, 0]


def test_expected_calibration_error_of_a_calibrated_and_an_overconfident_model():
    # 10 images predicted with confidence 0.8, 8 of them right: calibrated, ECE 0
    labels = np.zeros(10, dtype=int)
    preds = np.array([0] * 8 + [1] * 2)
    probs = one_hot(preds, classes=2, p=0.8)
    result = metrics.calibration(labels, probs, bins=10)
    assert result["ece"] == pytest.approx(0.0)
    assert result["bins"][["count", "accuracy", "confidence"]].values.ravel().tolist() == pytest.approx([10, 0.8, 0.8])
    # the same mistakes at confidence 1.0: 20 points over-confident
    result = metrics.calibration(labels, one_hot(preds, classes=2, p=1.0), bins=10)
    assert result["ece"] == pytest.approx(0.2) and result["max_gap"] == pytest.approx(0.2)


def test_ece_weights_each_bin_by_its_images():
    # 4 images at 0.55 (2 right: gap 0.05), 6 at 0.95 (all right: gap 0.05) -> 0.05
    labels = np.zeros(10, dtype=int)
    preds = np.array([0, 0, 1, 1] + [0] * 6)
    probs = np.vstack([one_hot(preds[:4], 2, 0.55), one_hot(preds[4:], 2, 0.95)])
    result = metrics.calibration(labels, probs, bins=10)
    assert result["bins"]["count"].tolist() == [4, 6]
    assert result["ece"] == pytest.approx(0.05)


def test_top_k_accuracy_only_for_k_below_the_number_of_classes():
    probs = np.array([[0.5, 0.3, 0.2, 0.0], [0.1, 0.2, 0.3, 0.4]])
    assert metrics.top_k_accuracy([1, 0], probs) == {1: 0.0, 3: 0.5}
    assert metrics.top_k_accuracy([1, 0], probs[:, :2] / probs[:, :2].sum(1, keepdims=True)) == {1: 0.0}


@pytest.mark.parametrize("probs, says", [
    (np.ones((6, 2)) / 2, "3 class names for probabilities of 2 classes"),
    (np.full((6, 3), np.nan), "between 0 and 1"),
    (np.ones((5, 3)) / 3, r"shape \(6, classes\)"),
])
def test_probabilities_that_do_not_fit_are_refused_with_the_reason(probs, says):
    with pytest.raises(metrics.MetricsError, match=says):
        metrics.one_vs_rest_curves(LABELS, probs, "abc")


def test_long_curves_are_thinned_for_drawing_keeping_both_ends():
    x = np.linspace(0, 1, 5000)
    tx, ty = score_figures.thin(x, x ** 2, 300)
    assert len(tx) == 300 and tx[0] == 0 and tx[-1] == 1 and np.allclose(ty, tx ** 2)


# ---- the Evaluate page --------------------------------------------------------------------------

@pytest.fixture
def run(store, synthetic):
    run_id, result = trainer.new_run(store, RunConfig(dataset="synthetic", arch="lenet5", epochs=1, batch_size=32))
    assert result.status == "completed", result.message
    labels = synthetic.test.labels
    probs = torch.full((len(labels), 4), 0.1)
    probs[torch.arange(len(labels)), labels] = 0.7  # always right at 70%: AUC 1, ECE 0.3
    checkpoints.save_predictions(store, run_id, "best", labels, labels.clone(), probs, -torch.log(probs[:, 0]))
    return run_id


def open_evaluate(at, **session):
    for key, value in session.items():
        at.session_state[key] = value
    at.switch_page(state.EVALUATE).run()
    assert not at.exception, at.exception
    return at


def figures(at) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def test_nothing_is_computed_until_the_section_is_opened(app, run):
    at = open_evaluate(app)
    assert not any(m.label.startswith("Top-") for m in at.metric)
    assert not any("average_precision" in df.value.columns for df in at.dataframe)


def test_precision_recall_tab_shows_top_k_and_every_class_curve(app, run):
    at = open_evaluate(app, evaluate_scores_open=True)
    top = {m.label: m.value for m in at.metric if m.label.startswith("Top-")}
    assert top == {"Top-1 accuracy": "100.00%", "Top-3 accuracy": "100.00%"}  # 4 classes: no top-5
    ap = next(df.value for df in at.dataframe if "average_precision" in df.value.columns)
    assert ap["average_precision"].tolist() == [1.0] * 4
    pr = next(f for f in figures(at) if f["layout"]["xaxis"]["title"]["text"] == "recall")
    assert [t["name"] for t in pr["data"]] == [f"q{k} (AP 1.0000)" for k in range(4)]
    at.multiselect(key="evaluate_scores_classes").unselect(0).run()
    pr = next(f for f in figures(at) if f["layout"]["xaxis"]["title"]["text"] == "recall")
    assert len(pr["data"]) == 3


def test_roc_and_calibration_tabs(app, run):
    at = open_evaluate(app, evaluate_scores_open=True, evaluate_scores_tabs="ROC")
    roc = next(f for f in figures(at) if f["layout"]["xaxis"]["title"]["text"] == "false positive rate")
    assert [t["name"] for t in roc["data"]][:4] == [f"q{k} (AUC 1.0000)" for k in range(4)]
    at = open_evaluate(app, evaluate_scores_open=True, evaluate_scores_tabs="Calibration")
    ece = {m.label: m.value for m in at.metric}["Expected calibration error"]
    assert ece == "30.00%"  # always right, always 70% sure
    assert any(t.get("name") == "perfectly calibrated" for f in figures(at) for t in f["data"])


def test_probabilities_of_the_wrong_shape_get_a_clear_message(app, run, store, synthetic):
    labels = synthetic.test.labels
    probs = torch.full((len(labels), 3), 1 / 3)  # a 4-class run with 3 probabilities per image
    checkpoints.save_predictions(store, run, "best", labels, labels.clone(), probs, torch.zeros(len(labels)))
    at = open_evaluate(app, evaluate_scores_open=True)
    assert any("do not fit the run: it holds probabilities for 3 classes but the run has 4" in e.value
               for e in at.error)
