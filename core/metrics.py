"""Evaluation analysis over stored predictions: confusion matrices, per-class metrics,
most-confused pairs, the index selections behind the Evaluate page's galleries, and (with
scikit-learn) one-vs-rest precision-recall and ROC curves, calibration and top-k accuracy.

Everything takes labels / predictions / probabilities as numpy arrays or torch tensors (any
device) and returns numpy arrays, pandas DataFrames or plain numbers. All of it is vectorised,
so a 10,000-sample test set is analysed in a few milliseconds.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

GALLERY_SORTS = ("loss", "confidence")


class MetricsError(ValueError):
    """Predictions, labels or a selection that cannot be analysed; the message says why."""


# ---- input checks ------------------------------------------------------------------------

def _array(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, possibly on a GPU
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _classes(x: Any, name: str) -> np.ndarray:
    arr = _array(x, name)
    if arr.ndim != 1:
        raise MetricsError(f"{name} must be a 1-D sequence of class indices, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.mod(arr, 1) == 0):
            raise MetricsError(f"{name} must hold whole class indices, got {arr.dtype} values")
    return arr.astype(np.int64, copy=False)


def _pair(labels: Any, preds: Any) -> tuple[np.ndarray, np.ndarray]:
    y, p = _classes(labels, "labels"), _classes(preds, "predictions")
    if y.shape != p.shape:
        raise MetricsError(f"labels and predictions differ in length: {len(y)} vs {len(p)}")
    return y, p


def _check_range(arr: np.ndarray, num_classes: int, name: str) -> None:
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        bad = arr[(arr < 0) | (arr >= num_classes)][0]
        raise MetricsError(f"{name} contain class {bad}, outside 0..{num_classes - 1}")


# ---- whole-set numbers -------------------------------------------------------------------

def accuracy(labels: Any, preds: Any) -> float:
    """Share of predictions equal to the label (0.0 for an empty set)."""
    y, p = _pair(labels, preds)
    return float((y == p).mean()) if y.size else 0.0


def confusion_matrix(labels: Any, preds: Any, num_classes: int) -> np.ndarray:
    """(C, C) int64 counts: rows are true classes, columns predicted classes."""
    if num_classes < 1:
        raise MetricsError(f"num_classes must be at least 1, got {num_classes}")
    y, p = _pair(labels, preds)
    _check_range(y, num_classes, "labels")
    _check_range(p, num_classes, "predictions")
    flat = np.bincount(y * num_classes + p, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes).astype(np.int64, copy=False)


def normalize_rows(cm: Any) -> np.ndarray:
    """Each row divided by its total (share of the true class); empty rows stay 0."""
    cm = _square(cm)
    totals = cm.sum(axis=1, keepdims=True).astype(np.float64)
    return np.divide(cm, totals, out=np.zeros(cm.shape, dtype=np.float64), where=totals > 0)


def _square(cm: Any) -> np.ndarray:
    cm = _array(cm, "confusion matrix")
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise MetricsError(f"a confusion matrix must be square, got shape {cm.shape}")
    return cm


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # zero division gives 0.0, as scikit-learn's zero_division=0
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b != 0)


def check_predictions(preds: dict, class_names: Sequence[str]) -> None:
    """A stored predictions dict (labels, preds, probs) that fits a run with these classes, or a
    MetricsError saying what does not (a file damaged, or written for another model)."""
    n = len(class_names)
    probs = _array(preds["probs"], "probabilities")
    if probs.ndim != 2 or probs.shape[1] != n:
        raise MetricsError(f"it holds probabilities for {probs.shape[-1]} classes but the run has {n}")
    for name, what in (("labels", "labels"), ("preds", "predictions")):
        _check_range(_classes(preds[name], what), n, what)


# ---- per-class table ---------------------------------------------------------------------

def per_class_report(labels: Any, preds: Any, class_names: Sequence[str]) -> pd.DataFrame:
    """One row per class: class, support, correct, accuracy (= recall), precision, recall, f1."""
    names = [str(n) for n in class_names]
    cm = confusion_matrix(labels, preds, len(names))
    correct = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    recall = _safe_div(correct, support)
    precision = _safe_div(correct, predicted)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    return pd.DataFrame({
        "class": names,
        "support": support,
        "correct": correct,
        "accuracy": recall,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    })


def averages(report: pd.DataFrame) -> dict:
    """Overall accuracy plus macro and support-weighted averages of a `per_class_report`.

    Shaped like scikit-learn's `classification_report(output_dict=True)`: classes absent from
    the labels count in the macro average with their 0.0 scores, as scikit-learn does when
    given the label list.
    """
    support = report["support"].to_numpy(dtype=np.float64)
    total = support.sum()
    cols = ("precision", "recall", "f1")
    macro = {c: float(report[c].mean()) if len(report) else 0.0 for c in cols}
    weighted = {c: float(_safe_div((report[c] * support).sum(), total)) for c in cols}
    return {
        "accuracy": float(_safe_div(report["correct"].sum(), total)),
        "support": int(total),
        "macro avg": {**macro, "support": int(total)},
        "weighted avg": {**weighted, "support": int(total)},
    }


def most_confused(cm: Any, class_names: Sequence[str], top: int = 10) -> pd.DataFrame:
    """The largest off-diagonal cells: true, predicted, count, share (of the true class)."""
    cm = _square(cm)
    if len(class_names) != cm.shape[0]:
        raise MetricsError(f"{len(class_names)} class names for a {cm.shape[0]}-class confusion matrix")
    off = cm.astype(np.int64, copy=True)
    np.fill_diagonal(off, 0)
    true_idx, pred_idx = np.nonzero(off)
    counts = off[true_idx, pred_idx]
    # stable sort keeps row-major order among equal counts, so the table does not flicker
    order = np.argsort(-counts, kind="stable")[: max(top, 0)]
    true_idx, pred_idx, counts = true_idx[order], pred_idx[order], counts[order]
    names = np.asarray([str(n) for n in class_names], dtype=object)
    return pd.DataFrame({
        "true": names[true_idx],
        "predicted": names[pred_idx],
        "count": counts.astype(np.int64),
        "share": _safe_div(counts, cm.sum(axis=1)[true_idx]),
    })


# ---- selections for the galleries --------------------------------------------------------

def select_cell(labels: Any, preds: Any, true_class: int, pred_class: int) -> np.ndarray:
    """Indices of samples with this label and this prediction (one confusion-matrix cell)."""
    y, p = _pair(labels, preds)
    return np.flatnonzero((y == true_class) & (p == pred_class))


def gallery(
    labels: Any,
    preds: Any,
    probs: Any,
    losses: Any,
    *,
    correct: bool,
    true_class: int | None = None,
    pred_class: int | None = None,
    sort: str = "loss",
    descending: bool = True,
) -> np.ndarray:
    """Indices of correct (or misclassified) samples, optionally of one true / predicted class,
    ordered by per-sample loss or by the probability given to the predicted class.

    `losses` may be None: the cross-entropy of `probs` at the label is used instead.
    """
    y, p = _pair(labels, preds)
    if sort not in GALLERY_SORTS:
        raise MetricsError(f"unknown gallery order {sort!r} — choose one of: {', '.join(GALLERY_SORTS)}")
    prob = _array(probs, "probabilities")
    if prob.ndim != 2 or prob.shape[0] != len(y):
        raise MetricsError(f"probabilities must have shape ({len(y)}, classes), got {prob.shape}")
    _check_range(p, prob.shape[1], "predictions")
    mask = (y == p) if correct else (y != p)
    if true_class is not None:
        mask &= y == true_class
    if pred_class is not None:
        mask &= p == pred_class
    idx = np.flatnonzero(mask)
    if sort == "confidence":
        key = prob[idx, p[idx]]
    elif losses is None:
        _check_range(y, prob.shape[1], "labels")
        key = -np.log(np.clip(prob[idx, y[idx]], 1e-12, None))
    else:
        loss = _array(losses, "losses").reshape(-1)
        if loss.shape[0] != len(y):
            raise MetricsError(f"{loss.shape[0]} losses for {len(y)} samples")
        key = loss[idx]
    key = np.asarray(key, dtype=np.float64)
    order = np.argsort(-key if descending else key, kind="stable")
    return idx[order]


def paginate(indices: Any, page: int, per_page: int) -> tuple[np.ndarray, int]:
    """The indices shown on `page` (1-based, clamped to 1..num_pages) and the page count.

    An empty selection has one (empty) page, so a page picker always has a valid value.
    """
    if per_page < 1:
        raise MetricsError(f"images per page must be at least 1, got {per_page}")
    idx = _array(indices, "indices").reshape(-1)
    num_pages = max(1, math.ceil(len(idx) / per_page))
    page = min(max(int(page), 1), num_pages)
    start = (page - 1) * per_page
    return idx[start:start + per_page], num_pages


# ---- curves, calibration and top-k from the stored probabilities (scikit-learn) -------------
# scikit-learn computes these; this section only checks the inputs, splits the multi-class problem
# one-vs-rest and shapes the results. It is imported lazily: loading sklearn.metrics costs ~0.7 s.

def probabilities(labels: Any, probs: Any, class_names: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Labels (N,) and probabilities (N, C) checked against each other (and against the run's
    class names when given), as float64."""
    y = _classes(labels, "labels")
    prob = _array(probs, "probabilities")
    if prob.ndim != 2 or prob.shape[0] != len(y):
        raise MetricsError(f"probabilities must have shape ({len(y)}, classes), got {prob.shape}")
    if class_names is not None and len(class_names) != prob.shape[1]:
        raise MetricsError(f"{len(class_names)} class names for probabilities of {prob.shape[1]} classes")
    if prob.shape[1] < 2:
        raise MetricsError(f"probabilities need at least two classes, got {prob.shape[1]}")
    _check_range(y, prob.shape[1], "labels")
    prob = prob.astype(np.float64, copy=False)
    if prob.size and (not np.isfinite(prob).all() or prob.min() < 0 or prob.max() > 1 + 1e-6):
        raise MetricsError("probabilities must be finite numbers between 0 and 1")
    return y, np.clip(prob, 0.0, 1.0)


def one_vs_rest_curves(labels: Any, probs: Any, class_names: Sequence[str]) -> dict:
    """Per class (one-vs-rest): its precision-recall and ROC curves, average precision and ROC AUC.

    Returns {"classes": DataFrame(class, support, average_precision, roc_auc), "pr": {i: (recall,
    precision)}, "roc": {i: (fpr, tpr)}}. A class without test images (or with only them) has
    no curve and NaN scores: neither is defined without both positives and negatives.
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    y, prob = probabilities(labels, probs, class_names)
    pr, roc, ap, auc = {}, {}, [], []
    support = np.bincount(y, minlength=prob.shape[1])
    for k in range(prob.shape[1]):
        positive = y == k
        if not 0 < support[k] < len(y):
            ap.append(math.nan)
            auc.append(math.nan)
            continue
        precision, recall, _ = precision_recall_curve(positive, prob[:, k], drop_intermediate=True)
        fpr, tpr, _ = roc_curve(positive, prob[:, k], drop_intermediate=True)
        pr[k], roc[k] = (recall, precision), (fpr, tpr)
        ap.append(float(average_precision_score(positive, prob[:, k])))
        auc.append(float(roc_auc_score(positive, prob[:, k])))
    table = pd.DataFrame({"class": [str(c) for c in class_names], "support": support,
                          "average_precision": ap, "roc_auc": auc})
    return {"classes": table, "pr": pr, "roc": roc}


def calibration(labels: Any, probs: Any, bins: int = 15) -> dict:
    """Top-label calibration: how often the prediction is right at each confidence.

    scikit-learn's `calibration_curve` gives each non-empty bin's accuracy and mean confidence
    (uniform bins over 0-1, each (low, high]); it returns no counts and has no ECE, so the counts
    come from the same edges and the expected calibration error (Guo et al., 2017) is the
    count-weighted mean |accuracy - confidence| of those bins. Returns {"bins": DataFrame(low,
    high, count, accuracy, confidence) of the non-empty bins, "ece", "max_gap", "samples"}.
    """
    from sklearn.calibration import calibration_curve

    if not 2 <= bins <= 100:
        raise MetricsError(f"bins must be between 2 and 100, got {bins}")
    y, prob = probabilities(labels, probs)
    if not len(y):
        raise MetricsError("there are no predictions to calibrate")
    confidence = prob.max(axis=1)
    correct = prob.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    # the binning calibration_curve uses, so each count belongs to its bin's accuracy and confidence
    counts = np.bincount(np.searchsorted(edges[1:-1], confidence), minlength=bins)
    occupied = counts > 0
    accuracy, mean_conf = calibration_curve(correct, confidence, n_bins=bins, strategy="uniform")
    frame = pd.DataFrame({"low": edges[:-1][occupied], "high": edges[1:][occupied], "count": counts[occupied],
                          "accuracy": accuracy, "confidence": mean_conf})
    gap = np.abs(frame["accuracy"] - frame["confidence"])
    return {"bins": frame, "ece": float((gap * frame["count"]).sum() / len(y)),
            "max_gap": float(gap.max()), "samples": len(y)}


def top_k_accuracy(labels: Any, probs: Any, ks: Sequence[int] = (1, 3, 5)) -> dict[int, float]:
    """{k: share of samples whose label is among the k most probable classes}, for each k
    smaller than the number of classes (with k >= classes every sample counts)."""
    from sklearn.metrics import top_k_accuracy_score

    y, prob = probabilities(labels, probs)
    n_classes = prob.shape[1]
    if not len(y):
        return {}
    out = {}
    for k in ks:
        if k == 1 or k < n_classes:
            # binary problems take the positive class's score alone (scikit-learn's convention)
            score = prob[:, 1] if n_classes == 2 else prob
            out[k] = float(top_k_accuracy_score(y, score, k=k, labels=np.arange(n_classes)))
    return out
