"""Listing runs reads config, status and metrics only — never weights, checkpoints or predictions —
and sees every change on disk even though it keeps what it read between calls."""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest

from core import tables
from core.config import RunConfig
from core.runs import LISTING_FILES, RunStore
from tests.conftest import put_status
from ui import state

HEAVY = ("weights_last.safetensors", "weights_best.safetensors", "checkpoint_last.pt",
         "predictions_last.safetensors", "predictions_best.safetensors")

# Every file this process opens while `_opened` is a list (an audit hook cannot be removed, so it
# stays installed and records nothing outside `watch_opens`).
_opened: list[str] | None = None


def _audit(event: str, args) -> None:
    if event == "open" and _opened is not None and isinstance(args[0], (str, bytes, Path)):
        _opened.append(str(args[0]))


sys.addaudithook(_audit)


@contextlib.contextmanager
def watch_opens():
    global _opened
    _opened = seen = []
    try:
        yield seen
    finally:
        _opened = None


def make_runs(store: RunStore, n: int) -> list[str]:
    """`n` completed runs with 3 epochs of metrics and garbage where weights etc. would be."""
    ids = []
    for i in range(n):
        run_id = store.create(RunConfig(dataset="mnist_sample", arch="lenet5", lr=0.01 * (i + 1), epochs=3))
        store.write_metrics(run_id, [{"epoch": e, "train_loss": 1 / e, "train_acc": 0.9, "val_loss": 1 / e,
                                      "val_acc": 0.9 + e / 100, "lr": 0.01, "epoch_seconds": 1.0,
                                      "elapsed_seconds": float(e)} for e in (1, 2, 3)])
        put_status(store, run_id, status="completed", epochs_done=3, best_val_acc=0.93, name=f"run {i}",
                   created_at=1_700_000_000 + i)
        for name in HEAVY:
            (store.path(run_id) / name).write_bytes(b"not a tensor file")
        ids.append(run_id)
    return ids


def test_listing_200_runs_opens_only_config_status_and_metrics(store):
    make_runs(store, 200)
    with watch_opens() as opened:
        records = store.list()
        table = tables.runs_table(records)
    assert len(records) == len(table) == 200 and not any(r.damaged for r in records)
    assert table["best_val_acc"].eq(0.93).all() and table["epochs"].eq(3).all()
    in_store = {Path(p).name for p in opened if Path(p).is_relative_to(store.root)}  # not module imports
    assert in_store == set(LISTING_FILES)


def test_runs_page_with_200_runs_never_opens_weights_or_predictions(app, store):
    make_runs(store, 200)
    with watch_opens() as opened:
        at = app.switch_page(state.RUNS).run()
    assert not at.exception, at.exception
    assert len(at.dataframe[0].value) == 200
    names = {Path(p).name for p in opened}
    assert "status.json" in names and not names & set(HEAVY)  # the hook sees the page's own reads


def test_a_second_listing_rereads_nothing_unchanged(store):
    make_runs(store, 5)
    store.list()
    with watch_opens() as opened:
        store.list()
    assert not [p for p in opened if Path(p).name in LISTING_FILES]


def test_listing_sees_every_change_on_disk(store):
    a, b = make_runs(store, 2)
    assert {r.run_id: r.state for r in store.list()} == {a: "completed", b: "completed"}
    # writes in quick succession (within one file-time tick) are still seen
    for status in ("stopped", "failed", "interrupted"):
        put_status(store, a, status=status)
        assert store.record(a).state == status
    store.rename(b, "renamed")
    store.write_metrics(b, [])
    rec = {r.run_id: r for r in store.list()}[b]
    assert rec.name == "renamed" and rec.metrics == []
    (store.path(b) / "config.json").write_text("{ not json")  # edited in place by hand
    assert store.record(b).damaged.startswith("config.json is not valid JSON")
    store.delete(a)
    assert [r.run_id for r in store.list()] == [b]


def test_a_run_written_by_another_process_is_seen(store, tmp_path):
    (run_id,) = make_runs(store, 1)
    store.list()
    other = RunStore(tmp_path / "checkpoints")  # e.g. the CLI training into the same folder
    other.update(run_id, epochs_done=1)
    assert store.record(run_id).status.epochs_done == 1


@pytest.mark.parametrize("missing", LISTING_FILES)
def test_a_listing_file_that_disappears_marks_the_run_damaged(store, missing):
    (run_id,) = make_runs(store, 1)
    store.list()
    (store.path(run_id) / missing).unlink()
    rec = store.record(run_id)
    # a run without metrics has simply not finished an epoch; without config or status it is damaged
    assert rec.damaged == ("" if missing == "metrics.csv" else f"{missing} is missing")
