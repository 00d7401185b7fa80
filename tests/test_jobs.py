"""The background job runner: one run at a time, a queue, stop, and surviving failures."""
import threading
import time

import pytest

from core.config import RunConfig
from core.jobs import JobRunner
from core.runs import RunError

from tests.test_engine import cfg


def wait_for(predicate, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def runner(store, synthetic):
    return JobRunner(store)


def test_two_submissions_at_once_give_one_running_and_one_queued(runner, store):
    ids = []
    barrier = threading.Barrier(2)

    def press_train():
        barrier.wait()
        ids.append(runner.submit(cfg(epochs=30)))

    threads = [threading.Thread(target=press_train) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert wait_for(lambda: runner.snapshot()["live"] is not None and runner.snapshot()["live"].phase == "training")
    snap = runner.snapshot()
    assert len(ids) == 2 and len(set(ids)) == 2
    assert snap["live"].run_id in ids and [j.run_id for j in snap["queue"]] == [i for i in ids if i != snap["live"].run_id]
    queued = snap["queue"][0].run_id
    assert store.read_status(queued).status == "queued"
    assert runner.cancel(queued)
    assert store.read_status(queued).status == "stopped"
    assert runner.stop()
    assert runner.wait_idle(30)
    assert store.read_status(snap["live"].run_id).status == "stopped"


def test_live_snapshot_has_progress_and_epoch_rows(runner):
    run_id = runner.submit(cfg(epochs=2))
    assert runner.wait_idle(60)
    last = runner.snapshot()["finished"][0]
    assert last.run_id == run_id and last.status == "completed"
    assert [r["epoch"] for r in last.epoch_rows] == [1, 2]
    assert last.steps and last.steps[-1][0] == 2 * 8  # 256 images / batch 32 = 8 steps per epoch


def test_the_runner_survives_a_failing_run_and_trains_the_next(runner, store):
    bad = runner.submit(RunConfig(dataset="mnist", epochs=1))  # not downloaded in the test's data dir
    good = runner.submit(cfg(epochs=1))
    assert runner.wait_idle(60)
    assert store.read_status(bad).status == "failed"
    assert "python -m core download mnist" in store.read_status(bad).message
    assert store.read_status(good).status == "completed"


def test_invalid_config_is_refused_before_anything_is_queued(runner, store):
    from core.config import ConfigError
    with pytest.raises(ConfigError):
        runner.submit(cfg(lr=-1))
    assert store.list() == []


def test_resume_of_a_stopped_run_through_the_runner(runner, store):
    run_id = runner.submit(cfg(epochs=40))
    assert wait_for(lambda: store.read_status(run_id).epochs_done >= 1)
    runner.stop()
    assert runner.wait_idle(30)
    assert store.read_status(run_id).status == "stopped"
    store_cfg = store.read_config(run_id)
    runner.submit_resume(run_id)
    with pytest.raises(RunError):
        runner.submit_resume(run_id)  # already queued
    assert wait_for(lambda: store.read_status(run_id).status == "running")
    runner.stop()
    assert runner.wait_idle(30)
    assert store.read_config(run_id) == store_cfg


def test_the_live_run_says_which_device_it_trains_on(runner):
    """The live panel refreshes less often when training shares the CPU with the browser."""
    runner.submit(cfg(epochs=30, device="cpu"))
    assert wait_for(lambda: runner.snapshot()["live"] is not None)
    live = runner.snapshot()["live"]
    assert live.device == "cpu" and live.on_cpu
    runner.stop()
    assert runner.wait_idle(60)


def test_the_lr_finder_runs_in_the_queue_never_beside_a_training_run(runner, store):
    run_id = runner.submit(cfg(epochs=1000))
    assert wait_for(lambda: runner.snapshot()["live"] is not None and runner.snapshot()["live"].phase == "training")
    key = runner.submit_lr_finder(cfg())
    assert runner.submit_lr_finder(cfg(lr=0.5, epochs=9)) == key  # same sweep: not queued twice
    time.sleep(0.5)
    assert runner.snapshot()["live"] is not None
    assert runner.lr_finder(key) == ("queued", None)  # waits for the run
    runner.stop()
    assert wait_for(lambda: runner.lr_finder(key)[0] == "done", 60)
    result = runner.lr_finder(key)[1]
    assert result.suggestion is not None and len(result.lrs) > 20
    assert store.read_status(run_id).status == "stopped" and [r.run_id for r in store.list()] == [run_id]
    assert runner.lr_finder("unknown") == (None, None)


def test_an_lr_finder_that_cannot_run_says_why(runner):
    key = runner.submit_lr_finder(cfg(dataset="mnist"))  # not in this test's data folder
    assert wait_for(lambda: runner.lr_finder(key)[0] == "done", 60)
    assert "python -m core download mnist" in runner.lr_finder(key)[1]
