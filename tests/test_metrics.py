"""core.metrics on small hand-made predictions whose answers can be worked out by hand."""
import numpy as np
import pandas as pd
import pytest
import torch

from core import metrics
from core.metrics import MetricsError

#            sample: 0  1  2  3  4  5  6  7
LABELS = np.array([0, 0, 0, 1, 1, 2, 2, 2])
PREDS = np.array([0, 1, 2, 1, 1, 0, 0, 2])
NAMES = ["cat", "dog", "owl"]


def test_confusion_matrix_rows_true_columns_predicted():
    cm = metrics.confusion_matrix(LABELS, PREDS, 3)
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, [[1, 1, 1], [0, 2, 0], [2, 0, 1]])


def test_confusion_matrix_accepts_tensors_and_keeps_absent_classes():
    cm = metrics.confusion_matrix(torch.tensor([0, 0]), torch.tensor([0, 0]), 4)
    assert cm.shape == (4, 4) and cm[0, 0] == 2 and cm.sum() == 2


def test_confusion_matrix_refuses_bad_input():
    with pytest.raises(MetricsError, match="outside 0..2"):
        metrics.confusion_matrix([0, 3], [0, 1], 3)
    with pytest.raises(MetricsError, match="differ in length"):
        metrics.confusion_matrix([0, 1], [0], 3)
    with pytest.raises(MetricsError, match="whole class indices"):
        metrics.confusion_matrix([0.5], [0], 3)


def test_normalize_rows_leaves_empty_rows_zero():
    shares = metrics.normalize_rows(np.array([[3, 1], [0, 0]]))
    np.testing.assert_allclose(shares, [[0.75, 0.25], [0.0, 0.0]])


def test_accuracy():
    assert metrics.accuracy(LABELS, PREDS) == pytest.approx(4 / 8)
    assert metrics.accuracy([], []) == 0.0


def test_per_class_report_by_hand():
    report = metrics.per_class_report(LABELS, PREDS, NAMES)
    assert list(report.columns) == ["class", "support", "correct", "accuracy", "precision", "recall", "f1"]
    assert list(report["class"]) == NAMES
    assert list(report["support"]) == [3, 2, 3]
    assert list(report["correct"]) == [1, 2, 1]
    np.testing.assert_allclose(report["recall"], [1 / 3, 1.0, 1 / 3])
    np.testing.assert_allclose(report["accuracy"], report["recall"])
    np.testing.assert_allclose(report["precision"], [1 / 3, 2 / 3, 1 / 2])
    np.testing.assert_allclose(report["f1"], [1 / 3, 0.8, 0.4])


def test_zero_division_gives_zero_not_nan():
    # class 1 is never predicted (precision 0/0) and class 2 never occurs (recall 0/0)
    report = metrics.per_class_report([0, 1, 0], [0, 0, 2], ["a", "b", "c"])
    row_b, row_c = report.iloc[1], report.iloc[2]
    assert (row_b["precision"], row_b["recall"], row_b["f1"]) == (0.0, 0.0, 0.0)
    assert (row_c["support"], row_c["precision"], row_c["recall"], row_c["f1"]) == (0, 0.0, 0.0, 0.0)
    assert not report.isna().any().any()


def test_averages_by_hand():
    avg = metrics.averages(metrics.per_class_report(LABELS, PREDS, NAMES))
    assert avg["accuracy"] == pytest.approx(0.5)
    assert avg["support"] == 8
    assert avg["macro avg"]["recall"] == pytest.approx((1 / 3 + 1 + 1 / 3) / 3)
    assert avg["weighted avg"]["recall"] == pytest.approx(0.5)  # weighted recall = accuracy
    assert avg["weighted avg"]["f1"] == pytest.approx((3 / 3 + 2 * 0.8 + 3 * 0.4) / 8)


def test_report_matches_scikit_learn_on_random_predictions():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 6, 500), rng.integers(0, 5, 500)  # class 5 never predicted
    names = [str(i) for i in range(6)]
    report = metrics.per_class_report(y, p, names)
    avg = metrics.averages(report)
    ref = sklearn_metrics.classification_report(
        y, p, labels=range(6), target_names=names, output_dict=True, zero_division=0)
    for name in names:
        for ours, theirs in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
            assert report.set_index("class").loc[name, ours] == pytest.approx(ref[name][theirs])
    for kind in ("macro avg", "weighted avg"):
        assert avg[kind]["f1"] == pytest.approx(ref[kind]["f1-score"])
        assert avg[kind]["precision"] == pytest.approx(ref[kind]["precision"])
    np.testing.assert_array_equal(
        metrics.confusion_matrix(y, p, 6), sklearn_metrics.confusion_matrix(y, p, labels=range(6)))


def test_most_confused_orders_off_diagonal_and_drops_zeros():
    cm = np.array([[9, 1, 4], [0, 5, 0], [4, 2, 7]])
    table = metrics.most_confused(cm, NAMES)
    assert list(zip(table["true"], table["predicted"], table["count"])) == [
        ("cat", "owl", 4), ("owl", "cat", 4), ("owl", "dog", 2), ("cat", "dog", 1)]
    np.testing.assert_allclose(table["share"], [4 / 14, 4 / 13, 2 / 13, 1 / 14])
    assert len(metrics.most_confused(cm, NAMES, top=2)) == 2
    assert metrics.most_confused(np.eye(3, dtype=int), NAMES).empty


def test_most_confused_needs_matching_names():
    with pytest.raises(MetricsError, match="2 class names"):
        metrics.most_confused(np.eye(3), ["a", "b"])


def test_select_cell_is_what_a_confusion_matrix_click_shows():
    np.testing.assert_array_equal(metrics.select_cell(LABELS, PREDS, 2, 0), [5, 6])
    np.testing.assert_array_equal(metrics.select_cell(LABELS, PREDS, 1, 1), [3, 4])
    assert metrics.select_cell(LABELS, PREDS, 1, 0).size == 0
    cm = metrics.confusion_matrix(LABELS, PREDS, 3)
    for t in range(3):
        for p in range(3):
            assert len(metrics.select_cell(LABELS, PREDS, t, p)) == cm[t, p]


@pytest.fixture
def scored():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(3), size=len(LABELS))
    probs[np.arange(len(PREDS)), PREDS] += 2  # predictions are the argmax
    probs /= probs.sum(1, keepdims=True)
    losses = -np.log(probs[np.arange(len(LABELS)), LABELS])
    return probs, losses


def test_gallery_misclassified_sorted_by_loss(scored):
    probs, losses = scored
    idx = metrics.gallery(LABELS, PREDS, probs, losses, correct=False)
    assert sorted(idx) == [1, 2, 5, 6]
    assert list(losses[idx]) == sorted(losses[idx], reverse=True)
    up = metrics.gallery(LABELS, PREDS, probs, losses, correct=False, descending=False)
    np.testing.assert_array_equal(up, idx[::-1])


def test_gallery_filters_by_true_and_predicted_class(scored):
    probs, losses = scored
    assert sorted(metrics.gallery(LABELS, PREDS, probs, losses, correct=False, true_class=0)) == [1, 2]
    assert sorted(metrics.gallery(LABELS, PREDS, probs, losses, correct=False, pred_class=0)) == [5, 6]
    assert list(metrics.gallery(LABELS, PREDS, probs, losses, correct=False, true_class=0, pred_class=2)) == [2]
    assert sorted(metrics.gallery(LABELS, PREDS, probs, losses, correct=True)) == [0, 3, 4, 7]
    assert metrics.gallery(LABELS, PREDS, probs, losses, correct=True, true_class=0, pred_class=1).size == 0


def test_gallery_by_confidence_and_without_stored_losses(scored):
    probs, losses = scored
    idx = metrics.gallery(LABELS, PREDS, probs, losses, correct=True, sort="confidence")
    conf = probs[idx, PREDS[idx]]
    assert list(conf) == sorted(conf, reverse=True)
    derived = metrics.gallery(LABELS, PREDS, probs, None, correct=False)
    np.testing.assert_array_equal(derived, metrics.gallery(LABELS, PREDS, probs, losses, correct=False))
    with pytest.raises(MetricsError, match="unknown gallery order"):
        metrics.gallery(LABELS, PREDS, probs, losses, correct=False, sort="random")


def test_paginate_clamps_page():
    idx = np.arange(23)
    page, pages = metrics.paginate(idx, 1, 10)
    assert pages == 3 and list(page) == list(range(10))
    assert list(metrics.paginate(idx, 3, 10)[0]) == [20, 21, 22]
    assert list(metrics.paginate(idx, 99, 10)[0]) == [20, 21, 22]
    assert list(metrics.paginate(idx, -4, 10)[0]) == list(range(10))
    empty, pages = metrics.paginate(np.array([], dtype=int), 5, 10)
    assert pages == 1 and empty.size == 0
    with pytest.raises(MetricsError, match="at least 1"):
        metrics.paginate(idx, 1, 0)


def test_report_is_a_dataframe_of_plain_types():
    report = metrics.per_class_report(LABELS, PREDS, NAMES)
    assert isinstance(report, pd.DataFrame)
    assert report["support"].dtype.kind == "i" and report["f1"].dtype.kind == "f"
