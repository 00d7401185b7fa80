"""The Ray backend on a real local Ray (2 CPUs, 127.0.0.1 only, started once for this module):
a batch of runs completes and is listed, Stop ends a Ray run, a killed worker leaves its run
interrupted and resume finishes it. Ray workers are other processes, so the runs train on a tiny
dataset imported on disk, not on the in-memory `synthetic` fixture."""
from __future__ import annotations

import os
import signal
import time

import pytest

from core import data, ray_backend
from core.config import RunConfig
from tests.conftest import make_synthetic, png_bytes
from tests.test_jobs import wait_for


def _ray_or_skip() -> None:
    # CI installs requirements-ray.txt (.ci/run): there a missing Ray is a failure, never a skip
    if ray_backend.installed():
        return
    if os.environ.get("CI"):
        pytest.fail("ray is not installed; .ci/run should have installed requirements-ray.txt")
    pytest.skip(f"Ray is not installed ({ray_backend.INSTALL_HINT})")


@pytest.fixture(scope="module")
def local_ray():
    _ray_or_skip()
    ray_backend.connect(ray_backend.LOCAL, num_cpus=2)
    import ray

    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def squares(tmp_path_factory):
    """Data folder holding `folder:squares`, 4 classes of 12x12 images (240 train / 60 test)."""
    ds = make_synthetic(n_train=300, n_test=0)
    src = tmp_path_factory.mktemp("squares-src")
    for i, (image, label) in enumerate(zip(ds.train.images, ds.train.labels)):
        folder = src / f"q{int(label)}"
        folder.mkdir(exist_ok=True)
        (folder / f"{i}.png").write_bytes(png_bytes(image[0].numpy()))
    root = tmp_path_factory.mktemp("data")
    data.import_image_folder(src, "squares", root, image_size=12, grayscale=True, test_share=0.2)
    return root


def test_a_local_ray_started_from_a_passing_thread_outlives_it(monkeypatch):
    """Streamlit calls connect() on a rerun's thread, which then ends; Ray kills the GCS and raylet
    with the thread that started them, so the start must happen on a thread that lasts."""
    import threading

    starters = []

    class FakeRay:
        def is_initialized(self):
            return False

        def init(self, **kwargs):
            starters.append(threading.current_thread())

    monkeypatch.setattr(ray_backend, "_ray", FakeRay)
    monkeypatch.setattr(ray_backend._tracker, "forget", lambda: None)
    rerun = threading.Thread(target=ray_backend.connect, args=(ray_backend.LOCAL,), kwargs={"num_cpus": 1})
    rerun.start()
    rerun.join(10)
    assert not rerun.is_alive() and len(starters) == 1
    assert starters[0].is_alive()  # Ray's processes live as long as the thread that started them


def tiny(**changes) -> RunConfig:
    return RunConfig(**{"dataset": "folder:squares", "arch": "lenet5", "epochs": 2, "batch_size": 16, **changes})


def test_a_batch_of_runs_completes_on_ray_and_is_listed(local_ray, squares, store, app):
    ids = [store.create(tiny(lr=lr, name=f"lr {lr}")) for lr in (0.01, 0.02, 0.05, 0.1)]
    batch = ray_backend.submit_runs(store, ids, data_dir=squares)
    seen = set()
    while not batch.done():  # 2 CPUs, 4 runs: two wait in Ray's queue, owned by this process
        seen |= {store.record(r).state for r in ids}
        time.sleep(0.02)
    assert "interrupted" not in seen, "a run waiting for or being handed to a Ray worker read as interrupted"
    assert {"queued", "running"} <= seen
    assert {r: o[0] for r, o in batch.results().items()} == {r: "completed" for r in ids}
    for r in ids:
        rec = store.record(r)
        assert rec.state == "completed" and rec.epochs_done == 2 and len(rec.metrics) == 2
        assert rec.status.backend == "ray" and rec.status.pid != os.getpid()  # trained by a Ray worker
    at = app
    at.switch_page("pages/runs.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value.set_index("run_id")
    assert sorted(table.index) == sorted(ids) and set(table["status"]) == {"completed"}


def test_stop_ends_a_running_ray_run_and_removes_a_queued_one(local_ray, squares, store):
    ids = [store.create(tiny(epochs=300, name=n)) for n in ("a", "b", "c")]
    batch = ray_backend.submit_runs(store, ids, data_dir=squares)
    assert wait_for(lambda: sum(store.record(r).epochs_done >= 1 for r in ids) == 2, 30)
    waiting = next(r for r in ids if store.record(r).state == "queued")  # 2 CPUs: one waits
    assert ray_backend.stop(store, waiting) == "removed"
    assert store.record(waiting).state == "stopped"
    running = [r for r in ids if r != waiting]
    assert ray_backend.stop(store, running[0]) == "requested"
    assert wait_for(lambda: store.record(running[0]).state == "stopped", 10)  # within a batch, not after 300 epochs
    batch.stop()
    assert batch.wait(20)
    for r in ids:
        rec = store.record(r)
        assert rec.state == "stopped" and rec.epochs_done < 300 and not store.stop_requested(r)
    assert store.record(waiting).epochs_done == 0


def test_a_killed_worker_leaves_the_run_interrupted_and_resume_finishes_it(local_ray, squares, store):
    run_id = store.create(tiny(epochs=12))
    batch = ray_backend.submit_runs(store, [run_id], data_dir=squares)
    assert wait_for(lambda: store.record(run_id).epochs_done >= 2, 30)
    worker = store.read_status(run_id).pid  # the owner recorded when the worker took the run over
    assert worker != os.getpid()
    os.kill(worker, signal.SIGKILL)
    assert wait_for(lambda: store.record(run_id).state == "interrupted", 10)
    assert batch.wait(20) and batch.results()[run_id][0] == "failed"
    done_before = store.record(run_id).epochs_done

    store.begin_resume(run_id, queued=True)
    assert ray_backend.submit_runs(store, [run_id], data_dir=squares).wait(60)
    rec = store.record(run_id)
    assert rec.state == "completed", rec.message
    assert rec.epochs_done == 12 and [m["epoch"] for m in rec.metrics] == list(range(1, 13))
    assert done_before >= 2  # it continued from the checkpoint, it did not start over


def test_the_cli_trains_on_ray_and_prints_its_epochs(local_ray, squares, store, capsys):
    from core.cli import main

    code = main(["--checkpoints", str(store.root), "--data-dir", str(squares), "train", "--dataset", "folder:squares",
                 "--arch", "lenet5", "--epochs", "2", "--batch-size", "16", "--backend", "ray"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "sent to Ray" in out and "epoch   2" in out and "completed: finished 2 epochs" in out
    (rec,) = store.list()
    assert rec.state == "completed" and rec.status.backend == "ray"
