"""core.compare on hand-made run records (no training, no weights)."""
from __future__ import annotations

import math
from pathlib import Path

from core import compare
from core.config import RunConfig
from core.runs import RunRecord, RunStatus


def record(run_id, name, cfg=None, metrics=(), **status):
    return RunRecord(run_id, Path("/nowhere") / run_id, status=RunStatus.parse({"name": name, "status": "completed", **status}),
                     config=cfg if cfg is not None else RunConfig(), metrics=list(metrics))


def rows(*accs):
    return [{"epoch": i + 1, "train_loss": 1.0, "train_acc": a - 0.1, "val_loss": 0.9, "val_acc": a,
             "lr": 0.01, "epoch_seconds": 2.0, "elapsed_seconds": 2.0 * (i + 1)} for i, a in enumerate(accs)]


def test_labels_are_unique_even_when_names_repeat():
    recs = [record("r1", "same"), record("r2", "same"), record("r3", "other")]
    assert compare.run_labels(recs) == ["same (r1)", "same (r2)", "other"]


def test_config_diff_lists_exactly_the_keys_that_differ_among_all_runs():
    a = record("a", "A", RunConfig(optimizer="sgd", lr=0.05))
    b = record("b", "B", RunConfig(optimizer="adam", lr=0.05, name="ignored"))
    c = record("c", "C", RunConfig(optimizer="sgd", lr=0.05, milestones=(2, 3)))
    table = compare.config_diff([a, b, c])
    assert list(table.index) == ["optimizer", "milestones"]  # lr is equal everywhere; name is left out
    assert list(table.columns) == ["A", "B", "C"]
    assert table.loc["optimizer"].tolist() == ["sgd", "adam", "sgd"]
    assert table.loc["milestones"].tolist() == ["—", "—", "2, 3"]


def test_config_diff_of_identical_or_unreadable_configs_is_empty():
    assert compare.config_diff([record("a", "A"), record("b", "B")]).empty
    broken = RunRecord("x", Path("/nowhere/x"), damaged="missing config.json")
    assert compare.config_diff([record("a", "A"), broken]).empty


def test_curves_stack_every_run_with_its_label():
    frame = compare.curves([record("a", "A", metrics=rows(0.5, 0.7)), record("b", "B"),
                            record("c", "C", metrics=rows(0.9))])
    assert frame["run"].tolist() == ["A", "A", "C"]
    assert frame["elapsed_seconds"].tolist() == [2.0, 4.0, 2.0]
    assert frame["schedule"].tolist() == ["none"] * 3  # so the LR chart can draw stepwise schedules as steps
    assert compare.curves([record("b", "B")]).empty


def test_final_metrics_side_by_side_with_gaps_for_unfinished_runs():
    done = record("a", "A", metrics=rows(0.5, 0.8, 0.7), test_acc=0.75, params=1234, epochs_done=3)
    fresh = record("b", "B", epochs_done=0)
    table = compare.final_metrics([done, fresh])
    assert list(table.index) == ["A", "B"]
    assert table.loc["A", "best val accuracy"] == 0.8 and table.loc["A", "best epoch"] == 2
    assert table.loc["A", "final val accuracy"] == 0.7 and table.loc["A", "test accuracy"] == 0.75
    assert table.loc["A", "training time (s)"] == 6.0 and table.loc["A", "parameters"] == 1234
    assert math.isnan(table.loc["B", "best val accuracy"])
