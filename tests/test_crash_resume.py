"""A run survives a real SIGKILL: completed epochs stay on disk and load, the next start-up marks
the run interrupted, and `resume` finishes it with the same numbers as a run never interrupted.

Real processes only: the CLI (`python -m core train`) and a Streamlit server are killed with
SIGKILL while an epoch is under way. Every process runs PyTorch on one thread
(OMP_NUM_THREADS=1), which makes the CPU runs bit-for-bit reproducible across processes.
"""
from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest
import torch

from core import checkpoints, data, trainer
from core.augment import normalizer
from core.engine import Batches, evaluate
from core.runs import METRIC_COLUMNS, RunStore

# the Playwright fixtures of the browser tests (importing them makes them usable here)
from tests.browser.conftest import _free_port, browser, page  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
TIMING = ("epoch_seconds", "elapsed_seconds")
CLI_RUN = ["train", "--dataset", "mnist_sample", "--arch", "lenet5", "--epochs", "4", "--batch-size", "32",
           "--lr", "0.01", "--threads", "1", "--seed", "3", "--val-split", "0"]


def _env(**extra) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **extra}


def _cli(ck: Path, args: list[str], log: Path) -> subprocess.Popen:
    with open(log, "w") as fh:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "core", "--checkpoints", str(ck), *args], cwd=ROOT,
                                env=_env(), stdout=fh, stderr=subprocess.STDOUT)


def _finish(proc: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    assert proc.wait(timeout) == 0, f"{proc.args} exited {proc.returncode}:\n{log.read_text()[-3000:]}"


def _stop(proc: subprocess.Popen | None) -> None:
    """End a process this test started (and reap it)."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _wait_until(what: str, predicate, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            tail = log.read_text()[-3000:] if log else ""
            pytest.fail(f"process ended (exit {proc.returncode}) before {what}:\n{tail}")
        time.sleep(0.01)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def _only_run(ck: Path) -> str | None:
    runs = [p.name for p in ck.iterdir() if p.is_dir() and not p.name.startswith(".")] if ck.exists() else []  # .drafts: the UI's
    assert len(runs) <= 1, runs
    return runs[0] if runs else None


def _status(ck: Path, run_id: str) -> dict:
    try:  # status.json is replaced atomically: a read sees the old or the new file, never half of one
        return json.loads((ck / run_id / "status.json").read_text())
    except FileNotFoundError:
        return {}


def _weights_epoch(path: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return int(fh.metadata()["epoch"])


def _check_intact_after_kill(ck: Path, run_id: str, pid: int, min_epochs: int, epochs: int) -> int:
    """What a SIGKILL mid-epoch must leave behind; returns the completed epochs on disk."""
    store = RunStore(ck)
    folder = store.path(run_id)
    status = store.read_status(run_id)
    assert status.status == "running", status       # nobody was alive to say otherwise
    assert status.pid == pid
    done = status.epochs_done
    assert min_epochs <= done < epochs, status

    # metrics.csv: a whole file, one row per completed epoch, every number finite
    with open(folder / "metrics.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        raw = list(reader)
    assert tuple(reader.fieldnames) == METRIC_COLUMNS
    rows = store.read_metrics(run_id)
    assert [r["epoch"] for r in rows] == list(range(1, len(rows) + 1)) and len(raw) == len(rows)
    assert all(math.isfinite(v) for r in rows for v in r.values())

    # files are written checkpoint → weights → metrics → status as each epoch ends, each one
    # atomically, so a kill between two of them leaves each file whole and at most one epoch ahead
    saved = checkpoints.load_resume_state(store, run_id)
    w_last = _weights_epoch(folder / "weights_last.safetensors")
    assert saved["epoch"] >= w_last >= len(rows) >= done >= min_epochs and saved["epoch"] <= done + 1
    assert len(saved["history"]) == saved["epoch"] and saved["step"] > 0
    # the data map is written just before the checkpoint: whole, and at most one epoch ahead of it
    assert saved["epoch"] <= store.read_data_map(run_id).epochs <= saved["epoch"] + 1
    assert set(saved) >= {"model", "optimizer", "schedule", "rng"}
    assert 1 <= _weights_epoch(folder / "weights_best.safetensors") <= w_last

    # the saved weights are the trained model: they score what metrics.csv says they scored
    model, meta = trainer.load_model(store, run_id, "last")
    assert set(checkpoints.load_weights(store, run_id, "last")) == set(model.state_dict())
    ds = data.load("mnist_sample")
    val = trainer.splits(ds, store.read_config(run_id))[1]  # what val_acc was measured on
    test = Batches(val.images, val.labels)
    acc = evaluate(model, test, normalizer(meta.mean, meta.std, "cpu"))["acc"]
    assert rows == [dict(r) for r in saved["history"][:len(rows)]]  # the CSV round-trips exactly
    assert acc == pytest.approx(saved["history"][w_last - 1]["val_acc"], abs=2 / len(test))
    best, _ = trainer.load_model(store, run_id, "best")
    assert best(ds.test.images[:8].float()).shape == (8, 10)

    # leftovers of an interrupted atomic write (.NAME.XXXX.tmp) are not run data: plant a torn one
    real_leftovers = sorted(p.name for p in folder.glob(".*.tmp"))
    (folder / ".metrics.csv.crash1.tmp").write_text("epoch,train_loss\n1,0.5")
    (folder / ".weights_last.safetensors.crash2.tmp").write_bytes(b"\x00" * 100)
    (ck / ".half-created.tmp").mkdir()
    [rec] = store.list()
    # status.json still says running, but every reader sees at once that its owner is gone
    assert rec.run_id == run_id and not rec.damaged and rec.state == "interrupted" and rec.resumable
    assert rec.metrics == rows
    assert checkpoints.load_weights(store, run_id, "last").keys() == model.state_dict().keys()
    names = zipfile.ZipFile(io.BytesIO(store.export_zip(run_id))).namelist()
    assert not [n for n in names if n.rsplit("/", 1)[-1].startswith(".")], names
    print(f"killed after {done} completed epoch(s); leftover temp files from the kill: {real_leftovers or 'none'}")
    return done


def _compare_runs(resumed: tuple[Path, str], reference: tuple[Path, str], epochs: int) -> None:
    """Every non-timing number the resumed run wrote equals the uninterrupted run's."""
    (ck_a, run_a), (ck_b, run_b) = resumed, reference
    store_a, store_b = RunStore(ck_a), RunStore(ck_b)
    a, b = store_a.read_metrics(run_a), store_b.read_metrics(run_b)
    assert [r["epoch"] for r in a] == [r["epoch"] for r in b] == list(range(1, epochs + 1))
    for ra, rb in zip(a, b):
        for col in METRIC_COLUMNS:
            if col not in TIMING:
                assert ra[col] == rb[col], (col, ra, rb)
    # the clock continues from the checkpoint: elapsed = sum of epoch times, across the kill
    for prev, row in itertools.pairwise(a):
        assert row["elapsed_seconds"] == pytest.approx(prev["elapsed_seconds"] + row["epoch_seconds"], abs=1e-6)
    sa, sb = store_a.read_status(run_a), store_b.read_status(run_b)
    assert sa.status == sb.status == "completed"
    for key in ("epochs_done", "test_acc", "test_loss", "best_test_acc", "best_epoch", "best_val_acc"):
        assert getattr(sa, key) == getattr(sb, key), key
    for which in ("last", "best"):
        wa, wb = checkpoints.load_weights(store_a, run_a, which), checkpoints.load_weights(store_b, run_b, which)
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), which
        pa, pb = checkpoints.load_predictions(store_a, run_a, which), checkpoints.load_predictions(store_b, run_b, which)
        assert all(torch.equal(pa[k], pb[k]) for k in pa), which
    # the data map after the kill and the resume: exactly the completed epochs, the same numbers
    ma, mb = store_a.read_data_map(run_a), store_b.read_data_map(run_b)
    assert ma.epochs == mb.epochs == epochs
    assert (ma.confidence == mb.confidence).all() and (ma.correct == mb.correct).all()


@pytest.mark.slow
def test_cli_run_killed_mid_epoch_keeps_its_epochs_and_resumes_to_the_same_result(tmp_path):
    crashed, clean = tmp_path / "crashed", tmp_path / "clean"
    victim_log, ref_log, resume_log = tmp_path / "victim.log", tmp_path / "reference.log", tmp_path / "resume.log"
    victim = reference = resumer = None
    try:
        victim = _cli(crashed, CLI_RUN, victim_log)
        reference = _cli(clean, CLI_RUN, ref_log)  # the same command, never interrupted, alongside
        run_id = _wait_until("the run folder", lambda: _only_run(crashed), 120, victim, victim_log)
        # epoch 2 is saved (status.json is written last) and epoch 3's progress bar has started
        _wait_until("epoch 3 under way",
                    lambda: _status(crashed, run_id).get("epochs_done", 0) >= 2 and "epoch 3:" in victim_log.read_text(),
                    180, victim, victim_log)
        os.kill(victim.pid, signal.SIGKILL)
        os.waitid(os.P_PID, victim.pid, os.WEXITED | os.WNOWAIT)  # dead, but not reaped yet: a zombie

        _check_intact_after_kill(crashed, run_id, victim.pid, min_epochs=2, epochs=4)
        store = RunStore(crashed)
        # what the app and the CLI do when they start; a dead owner its parent has not reaped yet
        # (a zombie, which still answers kill(pid, 0)) is as gone as a reaped one
        assert store.mark_interrupted() == [run_id]
        assert victim.wait(10) == -signal.SIGKILL
        status = store.read_status(run_id)
        assert status.status == "interrupted" and "resume continues" in status.message
        assert store.mark_interrupted() == []

        resumer = _cli(crashed, ["resume", run_id], resume_log)
        _finish(resumer, resume_log)
        _finish(reference, ref_log)
        _compare_runs((crashed, run_id), (clean, _only_run(clean)), epochs=4)
        assert RunStore(crashed).read_config(run_id) == RunStore(clean).read_config(_only_run(clean))
    finally:
        for proc in (victim, reference, resumer):
            _stop(proc)


# ---- the dashboard's server ----------------------------------------------------------------

def _start_server(ck: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = _env(CNN_STUDIO_CHECKPOINTS=str(ck))
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def healthy():
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=1)
            return True
        except OSError:
            time.sleep(0.3)
            return False

    try:
        _wait_until("the server's health check", healthy, 90, proc, log)
    except BaseException:
        _stop(proc)
        raise
    return proc, url


def _wait_script_idle(tab, timeout=30_000):
    tab.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)


@pytest.mark.slow
@pytest.mark.browser
def test_server_killed_mid_epoch_is_marked_interrupted_by_the_next_server_and_resumes(tmp_path, page):  # noqa: F811
    ck, clean = tmp_path / "checkpoints", tmp_path / "clean"
    ref_log, resume_log = tmp_path / "reference.log", tmp_path / "resume.log"
    server = server2 = reference = resumer = None
    try:
        # the uninterrupted twin: the Train form's defaults with 4 epochs, from the CLI, alongside
        reference = _cli(clean, ["train", "--epochs", "4"], ref_log)
        server, url = _start_server(ck, tmp_path / "server1.log")

        page.goto(url + "/train")
        epochs = page.locator(".st-key-cfg_epochs input")
        epochs.wait_for(timeout=60_000)
        _wait_script_idle(page)
        epochs.fill("4")
        epochs.press("Enter")
        page.wait_for_timeout(300)
        _wait_script_idle(page)
        page.locator(".st-key-train_submit button").click()
        run_id = _wait_until("the run folder", lambda: _only_run(ck), 60, server, tmp_path / "server1.log")
        page.get_by_text(re.compile(f"Run `?{re.escape(run_id)}`? started")).wait_for(timeout=30_000)
        assert RunStore(ck).read_config(run_id).epochs == 4

        _wait_until("epoch 1 saved", lambda: _status(ck, run_id).get("epochs_done", 0) >= 1, 120,
                    server, tmp_path / "server1.log")
        time.sleep(0.15)  # epoch 2 starts as soon as epoch 1's files are written; kill inside it
        os.kill(server.pid, signal.SIGKILL)
        assert server.wait(10) == -signal.SIGKILL
        done = _check_intact_after_kill(ck, run_id, server.pid, min_epochs=1, epochs=4)

        # a fresh server on the same folder: its job runner (made when a page first renders)
        # finds the dead owner and marks the run interrupted
        server2, url2 = _start_server(ck, tmp_path / "server2.log")
        assert RunStore(ck).read_status(run_id).status == "running"
        page.goto(url2)
        page.get_by_text("Start in one click").wait_for(timeout=60_000)
        status = _wait_until("the run marked interrupted",
                             lambda: (s := _status(ck, run_id)).get("status") == "interrupted" and s, 30)
        assert "resume continues" in status["message"] and status["epochs_done"] == done
        _stop(server2)  # leave both cores to the resume

        resumer = _cli(ck, ["resume", run_id], resume_log)
        _finish(resumer, resume_log)
        _finish(reference, ref_log)
        ref_id = _only_run(clean)
        assert RunStore(ck).read_config(run_id) == RunStore(clean).read_config(ref_id)
        _compare_runs((ck, run_id), (clean, ref_id), epochs=4)
    finally:
        for proc in (server, server2, reference, resumer):
            _stop(proc)
