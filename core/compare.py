"""Comparing runs: unique labels, metric curves in one long table, the config keys that
differ, and final numbers side by side (from RunRecords: config, status, metrics); and two runs
against each other image by image (from their stored test predictions).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from core.config import RunConfig
from core.tables import runs_table

CURVE_COLUMNS = ("train_loss", "val_loss", "train_acc", "val_acc", "lr")
ACTIVE = ("queued", "running")  # run states whose numbers are still to come

# column title -> column of runs_table, in the order the side-by-side table shows them
FINAL_METRICS = {
    "best val accuracy": "best_val_acc",
    "best epoch": "best_epoch",
    "final val accuracy": "final_val_acc",
    "test accuracy": "test_acc",
    "training time (s)": "train_seconds",
    "parameters": "params",
    "epochs done": "epochs_done",
}


def run_labels(records: Sequence) -> list[str]:
    """Display names, made unique by appending the run id where two runs share a name."""
    names = [r.name for r in records]
    return [f"{n} ({r.run_id})" if names.count(n) > 1 else n for n, r in zip(names, records)]


def curves(records: Sequence) -> pd.DataFrame:
    """One row per run and epoch: run, epoch, elapsed_seconds, the CURVE_COLUMNS and the run's LR
    schedule (so its LR can be drawn as steps; "" without a readable config)."""
    frames = []
    for label, rec in zip(run_labels(records), records):
        if rec.metrics:
            frame = pd.DataFrame(rec.metrics)
            frame.insert(0, "run", label)
            frame["schedule"] = rec.config.schedule if rec.config is not None else ""
            frames.append(frame)
    columns = ["run", "epoch", "elapsed_seconds", *CURVE_COLUMNS, "schedule"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True).reindex(columns=columns)


def _show(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) if value else "—"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def config_diff(records: Sequence) -> pd.DataFrame:
    """Rows: the config keys whose values are not all equal; columns: runs.

    `name` is left out: the columns already carry the runs' names. Runs without a readable
    config are skipped.
    """
    usable = [(label, rec.config) for label, rec in zip(run_labels(records), records) if rec.config is not None]
    if len(usable) < 2:
        return pd.DataFrame()
    dicts = {label: cfg.to_dict() for label, cfg in usable}
    first = usable[0][1]
    keys = [k for k in RunConfig().to_dict() if k != "name"]
    differing = [k for k in keys if any(first.diff(cfg).get(k) for _, cfg in usable[1:])]
    table = pd.DataFrame({label: [_show(d[k]) for k in differing] for label, d in dicts.items()},
                         index=pd.Index(differing, name="setting"))
    return table


def final_metrics(records: Sequence) -> pd.DataFrame:
    """One row per run (index: its label), one column per FINAL_METRICS entry; NaN where a run
    has no value yet, and a last column "why blank" saying why (see `blank_reason`)."""
    table = runs_table(records)
    table["epochs_done"] = [len(r.metrics) for r in records]  # the rows the other columns come from
    out = table[list(FINAL_METRICS.values())].astype("float64")
    out.index = pd.Index(run_labels(records), name="run")
    out.columns = list(FINAL_METRICS)
    out["why blank"] = [blank_reason(r, test) for r, test in zip(records, out["test accuracy"])]
    return out


def blank_reason(rec, test_acc: float) -> str:
    """Why a run's row of final_metrics has empty cells ("" when none is empty)."""
    if rec.damaged:
        return f"run folder damaged: {rec.damaged}"
    prefix = {"queued": "queued: ", "running": "training: "}.get(rec.state, "")
    if not rec.metrics:
        return prefix + "no finished epoch yet" if prefix else f"{rec.state} before its first epoch ended"
    if pd.isna(test_acc):
        return prefix + "not evaluated on the test set yet" if prefix else "not evaluated on the test set"
    return ""


# ---- run against run, sample by sample ------------------------------------------------------
# Two runs' stored test predictions (core.checkpoints.load_predictions as numpy arrays) compared
# image by image. Everything is vectorised: 10,000 test images take about a millisecond.

AGREEMENT = ("both right", "only A right", "only B right", "both wrong")


class VersusError(ValueError):
    """Two runs' predictions that cannot be compared sample by sample; the message says why."""


def check_comparable(a: dict, b: dict, *, dataset_a: str, dataset_b: str, classes_a, classes_b) -> None:
    """Raise VersusError unless both prediction sets are for the same test set, image by image.

    The predictions files hold no image ids, so "the same test set" is checked as: the same
    dataset name, the same class names, the same number of test images and the same label at
    every position. Runs of a dataset that was imported again with other images but the same
    labels in the same order would pass; nothing stored can tell those apart.
    """
    if dataset_a != dataset_b:
        raise VersusError(f"A was tested on dataset {dataset_a} and B on {dataset_b}: a sample-by-sample "
                          "comparison needs two runs on the same test set. Pick two runs of one dataset.")
    if list(classes_a) != list(classes_b):
        raise VersusError(f"A and B have different classes ({len(classes_a)} vs {len(classes_b)}, or named or "
                          "ordered differently), so their predictions do not mean the same thing.")
    n_a, n_b = len(a["labels"]), len(b["labels"])
    if n_a != n_b:
        raise VersusError(f"A was tested on {n_a:,} images and B on {n_b:,}: the test set of {dataset_a} changed "
                          "between the two runs (e.g. it was imported again), so image #i is not the same image.")
    differ = int(np.count_nonzero(np.asarray(a["labels"]) != np.asarray(b["labels"])))
    if differ:
        raise VersusError(f"the test labels of A and B differ at {differ:,} of {n_a:,} positions: the test set was "
                          "reordered or changed between the two runs, so image #i is not the same image.")


def agreement(labels, preds_a, preds_b) -> dict:
    """Which images each run gets right: the AGREEMENT cell of every image and the counts.

    Returns {"cell": int8 array (index into AGREEMENT), "counts": {name: n}, "same_wrong": how
    many of the "both wrong" images both runs mistake for the same class}.
    """
    y = np.asarray(labels)
    pa, pb = np.asarray(preds_a), np.asarray(preds_b)
    if not (y.shape == pa.shape == pb.shape) or y.ndim != 1:
        raise VersusError(f"labels and both runs' predictions must be 1-D and of one length, got {y.shape}, "
                          f"{pa.shape} and {pb.shape}")
    wrong_a, wrong_b = pa != y, pb != y
    cell = (wrong_a.astype(np.int8) * 2 + wrong_b).astype(np.int8)  # 0 both right, 1 only A, 2 only B, 3 both wrong
    counts = np.bincount(cell, minlength=4)
    return {"cell": cell, "counts": dict(zip(AGREEMENT, map(int, counts))),
            "same_wrong": int(np.count_nonzero(wrong_a & wrong_b & (pa == pb)))}


def agreement_indices(cell: np.ndarray, which: str, order_key: np.ndarray | None = None,
                      true_class: int | None = None, labels=None) -> np.ndarray:
    """Test indices in one agreement cell (optionally of one true class), largest `order_key` first."""
    if which not in AGREEMENT:
        raise VersusError(f"unknown agreement cell {which!r}; choose one of {', '.join(AGREEMENT)}")
    mask = cell == AGREEMENT.index(which)
    if true_class is not None:
        mask &= np.asarray(labels) == true_class
    idx = np.flatnonzero(mask)
    if order_key is not None:
        idx = idx[np.argsort(-np.asarray(order_key)[idx], kind="stable")]
    return idx


def class_deltas(labels, preds_a, preds_b, class_names) -> pd.DataFrame:
    """Per class: support, accuracy of A and of B, the change B - A, and the images B fixed (only
    B right) and broke (only A right). Sorted by the change, largest loss first."""
    y = np.asarray(labels)
    n = len(class_names)
    if y.size and (y.min() < 0 or y.max() >= n):
        raise VersusError(f"labels hold a class outside 0..{n - 1}")
    right_a, right_b = np.asarray(preds_a) == y, np.asarray(preds_b) == y
    support = np.bincount(y, minlength=n)
    count = lambda mask: np.bincount(y[mask], minlength=n)  # noqa: E731
    with np.errstate(invalid="ignore", divide="ignore"):
        acc_a, acc_b = count(right_a) / support, count(right_b) / support
    table = pd.DataFrame({"class": [str(c) for c in class_names], "support": support, "accuracy A": acc_a,
                          "accuracy B": acc_b, "change": acc_b - acc_a, "fixed by B": count(right_b & ~right_a),
                          "broken by B": count(right_a & ~right_b)})
    return table.sort_values("change", kind="stable", na_position="last").reset_index(drop=True)
