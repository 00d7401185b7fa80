"""Tables of runs for the CLI and the Runs page (config, status and metrics only, never weights)."""
from __future__ import annotations

import pandas as pd

from core.config import SCHEDULE_TITLES

COLUMNS = ["run_id", "name", "status", "dataset", "arch", "optimizer", "lr", "schedule", "epochs",
           "best_val_acc", "best_epoch", "final_val_acc", "test_acc", "reported", "train_seconds", "params",
           "created", "message"]


def run_row(rec) -> dict:
    s, c = rec.status, rec.config
    row = {"run_id": rec.run_id, "name": rec.name, "status": rec.state,
           "created": pd.to_datetime(s.get("created_at"), unit="s") if s.get("created_at") else pd.NaT,
           "message": rec.damaged or s.get("message", "")}
    if c is not None:
        row.update(dataset=c.dataset, arch=c.arch, optimizer=c.optimizer, lr=c.lr,
                   schedule=SCHEDULE_TITLES.get(c.schedule, c.schedule), epochs=c.epochs)
    if rec.metrics:
        best = max(rec.metrics, key=lambda r: r["val_acc"])
        row.update(best_val_acc=best["val_acc"], best_epoch=int(best["epoch"]),
                   final_val_acc=rec.metrics[-1]["val_acc"], train_seconds=rec.metrics[-1]["elapsed_seconds"])
    row.update(test_acc=s.get("test_acc"), params=s.get("params"), reported=reported(s))
    return row


def reported(status: dict) -> str | None:
    """What the tutorial a preset reproduces reported, for runs started from that preset."""
    from core.presets import PRESETS

    preset = PRESETS.get(status.get("preset") or "")
    return preset.reported if preset and preset.reported else None


def runs_table(records) -> pd.DataFrame:
    return pd.DataFrame([run_row(r) for r in records], columns=COLUMNS)
