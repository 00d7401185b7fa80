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
           "created": s.get("created_at") or None,  # seconds; runs_table converts the column
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


def run_label(rec) -> str:
    """One line naming a run in pickers and lists."""
    acc = rec.status.get("best_val_acc")
    acc_text = f" · best {acc:.1%}" if isinstance(acc, (int, float)) else ""
    c = rec.config
    return f"{rec.name} — {c.arch} on {c.dataset}{acc_text} [{rec.state}]"


def reported(status: dict) -> str | None:
    """What the tutorial a preset reproduces reported, for runs started from that preset."""
    from core.presets import PRESETS

    preset = PRESETS.get(status.get("preset") or "")
    return preset.reported if preset and preset.reported else None


def runs_table(records) -> pd.DataFrame:
    table = pd.DataFrame([run_row(r) for r in records], columns=COLUMNS)
    # one conversion for the whole column: pd.to_datetime per row took 0.5 ms, 0.1 s for 200 runs
    table["created"] = pd.to_datetime(table["created"], unit="s")
    return table
