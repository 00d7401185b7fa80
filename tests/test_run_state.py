"""Run state that never lies: malformed run files, a full disk, killed owners and bad checkpoints
end in a run status that tells the truth and a message, never a traceback (issue #11, cases 1-7)."""
from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from core import cli, run_files, tables, trainer
from core.config import RunConfig
from core.jobs import JobRunner
from core.runs import RunError, RunStore
from tests.test_jobs import wait_for
from ui import state

ROOT = Path(__file__).resolve().parents[1]


def cfg(**changes) -> RunConfig:
    return RunConfig(**{"dataset": "synthetic", "arch": "lenet5", "epochs": 2, "batch_size": 32,
                        "val_split": 0.0, **changes})


# ---- malformed files: every file the store reads, generated ----------------------------------

JSON_VARIANTS = {"empty": b"", "garbage": b"\x00\xff\xfe not json", "list": b"[]", "null": b"null",
                 "text": b'"yesterday"', "number": b"42", "truncated": None}
VARIANTS = {
    "status.json": {**JSON_VARIANTS, "bad_date": "created_at", "bad_status": "status", "nan_acc": "best_val_acc",
                    "negative_epochs": "epochs_done", "huge_pid": "pid"},
    "config.json": {**JSON_VARIANTS, "bad_type": "epochs"},
    "metrics.csv": {"empty": b"", "missing_columns": b"epoch,train_loss\n1,0.5\n", "garbage": b"\x00\xff\xfe",
                    "not_numbers": None, "truncated": None},
    "model.json": {**JSON_VARIANTS, "pair": b"[1,2]", "no_classes": "classes", "bad_shape": "image_shape"},
    "weights_best.safetensors": {"empty": b"", "garbage": b"\x00\xff\xfe", "truncated": None},
    "predictions_best.safetensors": {"empty": b"", "garbage": b"\x00\xff\xfe", "truncated": None},
    "checkpoint_last.pt": {"empty": b"", "garbage": b"\x00\xff\xfe", "truncated": None},
}
BAD_VALUES = {"created_at": "yesterday", "status": "sleeping", "best_val_acc": "NaN", "epochs_done": -3,
              "pid": 10**30, "epochs": "lots", "classes": None, "image_shape": [1, 2]}


def _damage(folder: Path, name: str, variant: str, how) -> None:
    path = folder / name
    original = path.read_bytes()
    if variant == "truncated":
        path.write_bytes(original[: len(original) // 2])
    elif variant == "not_numbers":
        path.write_bytes(original.replace(b"\n1,", b"\none,", 1))
    elif isinstance(how, str):  # one field of a JSON object with a wrong value
        data = json.loads(original)
        data[how] = BAD_VALUES[how]
        path.write_text(json.dumps(data) if how != "best_val_acc" else json.dumps(data).replace('"NaN"', "NaN"))
    else:
        path.write_bytes(how)


@pytest.fixture
def malformed_runs(store, trained_run):
    """One copy of a trained run per malformed variant of each file, beside the good run."""
    good = store.path(trained_run)
    made = {}
    for name, variants in VARIANTS.items():
        for variant, how in variants.items():
            run_id = f"bad-{name.split('.')[0].replace('_', '-')}-{variant.replace('_', '-')}"
            shutil.copytree(good, store.root / run_id)
            _damage(store.root / run_id, name, variant, how)
            made[run_id] = (name, variant)
    (store.root / "empty-folder").mkdir()
    (store.root / "copied-by-hand").mkdir()
    (store.root / "copied-by-hand" / "photo.jpg").write_bytes(b"\xff\xd8 not really")
    return trained_run, made


def test_every_malformed_file_makes_only_its_run_damaged_or_noted(store, malformed_runs):
    good, made = malformed_runs
    records = {r.run_id: r for r in store.list()}  # never raises
    assert records[good].state == "completed" and not records[good].problems
    for run_id, (name, variant) in made.items():
        rec = records[run_id]
        if name in run_files.SIZED and variant != "garbage":  # listing stats these, never opens them
            assert rec.state == "completed" and name in rec.message, (run_id, rec.message)
        elif name in ("status.json", "config.json") or (name == "metrics.csv" and variant != "empty"):
            assert rec.state == "damaged" and name in rec.damaged, (run_id, rec.damaged)
    for name in ("empty-folder", "copied-by-hand"):
        assert records[name].state == "damaged" and "status.json is missing" in records[name].damaged
    table = tables.runs_table(list(records.values()))
    assert len(table) == len(records)


def test_cli_runs_lists_malformed_folders_without_a_traceback(store, malformed_runs, capsys):
    # case 4: an empty folder or one copied in by hand crashed `python -m core runs` (dtype Int64)
    assert cli.main(["--checkpoints", str(store.root), "runs"]) == 0
    out = capsys.readouterr().out
    assert "damaged: empty-folder: status.json is missing" in out
    assert "damaged: bad-metrics-missing-columns: metrics.csv lacks the column(s) train_acc" in out
    assert "completed: bad-weights-best-truncated: weights_best.safetensors is truncated" in out
    for run_id in [*malformed_runs[1], "empty-folder", "copied-by-hand"]:  # none can be resumed: say why
        assert cli.main(["--checkpoints", str(store.root), "resume", run_id]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: run ") and ("damaged" in err or "already completed" in err), err


def test_loading_a_malformed_run_for_inference_says_why(store, malformed_runs):
    _, made = malformed_runs
    for run_id, (name, _) in made.items():
        if name in ("model.json", "weights_best.safetensors"):
            with pytest.raises(RunError, match=name.split("_best")[0]):
                trainer.load_model(store, run_id, "best")


PAGES = [state.HOME, state.RUNS, state.TRAIN, state.EVALUATE, state.INSPECT, state.PLAYGROUND]


def test_no_page_shows_a_traceback_for_any_malformed_run(app, store, malformed_runs):
    # cases 1 and 5: status.json [] / null / a bad date, metrics.csv without columns and model.json
    # of [1,2] took down every page; each run is now opened on every page that shows one run
    _, made = malformed_runs
    for page in (state.HOME, state.TRAIN, state.RUNS):
        app.switch_page(page).run()
        assert not app.exception, (page, app.exception)
    for run_id in made:
        for page in (state.EVALUATE, state.INSPECT, state.PLAYGROUND):
            app.session_state[state.SELECTED_RUN] = run_id
            app.switch_page(page).run()
            assert not app.exception, (run_id, page, app.exception)
        app.session_state[state.COMPARE_RUNS] = [run_id]
        app.switch_page(state.RUNS).run()
        assert not app.exception, (run_id, "runs", app.exception)


def test_a_bad_model_json_is_an_error_message_on_evaluate(app, store, trained_run):
    (store.path(trained_run) / "model.json").write_text("[1,2]")
    app.session_state[state.SELECTED_RUN] = trained_run
    app.switch_page(state.EVALUATE).run()
    assert not app.exception
    assert any("model.json must hold a JSON object" in e.value for e in app.error)


# ---- the lifecycle ---------------------------------------------------------------------------

def test_status_changes_follow_the_lifecycle(store):
    run_id = store.create(RunConfig())
    store.transition(run_id, "running")
    store.transition(run_id, "completed", "done")
    with pytest.raises(RunError, match="completed; it cannot become running"):
        store.transition(run_id, "running")
    with pytest.raises(ValueError):
        store.update(run_id, status="queued")
    with pytest.raises(RunError, match="already completed"):
        store.begin_resume(run_id, queued=False)


def test_a_run_owned_by_another_process_cannot_be_claimed(store, tmp_path):
    run_id = store.create(RunConfig())  # this store's process owns it while it is queued
    other = RunStore(store.root)
    with pytest.raises(RunError, match="another process"):
        other.claim(run_id)
    result = trainer.run(other, run_id)
    assert result.status == "failed" and "another process" in result.message
    assert store.read_status(run_id).status == "queued"  # left alone


def test_disk_full_at_creation_leaves_no_folder(store, monkeypatch):
    # case 7: a traceback and an empty or "queued" folder
    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("core.runs.atomic_write_text", full)
    with pytest.raises(RunError, match="No space left on device — free disk space"):
        store.create(RunConfig())
    assert list(store.root.iterdir()) == []


@pytest.fixture
def full(monkeypatch):
    """Every run-file write fails with ENOSPC while `full["on"]` (the disk filled up)."""
    real = run_files.atomic_write_bytes
    full = {"on": False}

    def write(path, data):
        if full["on"]:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(run_files, "atomic_write_bytes", write)
    return full


def test_disk_full_while_training_ends_the_run_truthfully(store, synthetic, full):
    # case 2: "unexpected error: OSError [Errno 28]", status stuck "running", Resume disabled,
    # Delete/Rename refused, `core resume` said "being trained by another process"
    class FillDisk(trainer.Callback):
        def on_epoch_end(self, event, state):
            full["on"] = True  # the next checkpoint write and every write after it fail

    run_id = store.create(cfg(epochs=3))
    result = trainer.run(store, run_id, callbacks=[FillDisk()])
    assert result.status == "failed"
    assert "No space left on device — free disk space or fix permissions, then resume" in result.message
    assert "unexpected" not in result.message
    rec = store.record(run_id)
    assert rec.status.status == "running"  # the disk was too full to say otherwise...
    assert rec.state == "interrupted" and rec.resumable  # ...but no reader believes it
    full["on"] = False  # space freed
    store.rename(run_id, "after the disk filled")
    assert cli.main(["--checkpoints", str(store.root), "resume", run_id]) == 0
    assert store.read_status(run_id).status == "completed" and store.read_status(run_id).epochs_done == 3


def test_disk_full_in_the_dashboard_runner_is_reported_and_resumable(store, synthetic, full):
    runner = JobRunner(store)
    run_id = runner.submit(cfg(epochs=30))
    assert wait_for(lambda: store.record(run_id).epochs_done >= 1)
    full["on"] = True
    assert runner.wait_idle(60)
    done = runner.snapshot()["finished"][0]
    assert done.status == "failed" and "free disk space" in done.message and "unexpected" not in done.message
    full["on"] = False
    rec = store.record(run_id)
    assert rec.state in ("interrupted", "failed") and rec.resumable
    store.delete(run_id)  # refused before: the run looked active forever


def test_a_checkpoint_of_the_wrong_structure_fails_the_resume_with_a_message(store, synthetic):
    # case 7: RuntimeError traceback and status stuck "running"
    run_id = store.create(cfg(epochs=3))

    class StopAfterOne(trainer.Callback):
        def on_epoch_end(self, event, state):
            raise KeyboardInterrupt  # ends the process's run the hard way

    with pytest.raises(KeyboardInterrupt):
        trainer.run(store, run_id, callbacks=[StopAfterOne()])
    assert store.record(run_id).resumable
    for bad in ({"model": {}, "epoch": 1}, [1, 2, 3], {"model": {"conv1.weight": torch.zeros(1)}}):
        buf = __import__("io").BytesIO()
        torch.save(bad, buf)
        store.file(run_id, run_files.RESUME).write_bytes(buf.getvalue())
        result = trainer.run(store, run_id, resume=True)
        assert result.status == "failed" and "checkpoint_last.pt" in result.message, result.message
        assert "clone the run" in result.message
        assert store.read_status(run_id).status == "failed" and store.record(run_id).resumable


def test_an_unexpected_error_still_ends_the_run(store, synthetic):
    class Bug(trainer.Callback):
        def on_batch_end(self, event, state):
            raise ZeroDivisionError("a bug")

    run_id = store.create(cfg())
    result = trainer.run(store, run_id, callbacks=[Bug()])
    assert result.status == "failed" and "unexpected error: ZeroDivisionError: a bug" in result.message
    assert store.record(run_id).state == "failed"


# ---- a killed owner is seen at once (real processes) --------------------------------------------

@pytest.mark.slow
def test_a_killed_cli_run_shows_interrupted_at_once_everywhere(store):
    # case 3: Runs and `python -m core runs` showed it "running" until the server restarted
    dashboard = RunStore(store.root)  # the dashboard's store, in this (live) process
    log = open(store.root.parent / "cli.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", "--checkpoints", str(store.root), "train", "--dataset", "mnist_sample",
         "--epochs", "50", "--batch-size", "32", "--threads", "1", "--val-split", "0"],
        cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            records = dashboard.list()
            if records and records[0].epochs_done >= 1:
                break
            assert proc.poll() is None, (store.root.parent / "cli.log").read_text()
            time.sleep(0.1)
        [rec] = dashboard.list()
        assert rec.state == "running"
        with pytest.raises(RunError, match="running"):
            dashboard.delete(rec.run_id)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        [rec] = dashboard.list()
        assert rec.state == "interrupted" and rec.resumable and "resume continues" in rec.message
        out = subprocess.run([sys.executable, "-m", "core", "--checkpoints", str(store.root), "runs"], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and f"interrupted: {rec.run_id}: the process training it ended" in out.stdout
        dashboard.begin_resume(rec.run_id, queued=True)  # the dashboard may take it over now
        assert dashboard.record(rec.run_id).state == "queued"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()
