"""Comparing runs: unique labels, metric curves in one long table, the config keys that
differ, and final numbers side by side. Reads RunRecords (config, status, metrics) only.
"""
from __future__ import annotations

from collections.abc import Sequence

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
