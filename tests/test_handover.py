"""A run queued by one process and trained by another (Ray, a terminal): the lease hand-over and
Stop through the run store. No Ray here: two leases in one process conflict like two processes."""
import threading
import time

from core import run_owner, trainer
from core.config import RunConfig
from tests.test_jobs import wait_for


def test_a_run_handed_over_never_reads_as_ownerless(store):
    run_id = store.create(RunConfig())  # queued, owned by the "submitting process" (this store)
    folder = store.path(run_id)
    taken, seen = [], []
    taker = threading.Thread(target=lambda: taken.append(run_owner.take_over(folder, wait=10)))
    taker.start()
    assert wait_for(lambda: store.handover_requested(run_id), 5)
    assert not taken  # the taker waits while the submitter still holds the run
    store.release(run_id)

    def watch():
        while taker.is_alive():
            seen.append(run_owner.held(folder))
    watcher = threading.Thread(target=watch)
    watcher.start()
    taker.join(10)
    watcher.join(10)
    lease = taken[0]
    assert lease is not None and lease.held
    assert all(seen), "the run read as ownerless (interrupted) during the hand-over"
    assert store.record(run_id).state == "queued" and not store.handover_requested(run_id)
    lease.release()
    assert store.record(run_id).state == "interrupted"  # nobody holds it any more


def test_stop_pressed_in_another_process_stops_the_run_after_a_batch(store, synthetic):
    run_id = store.create(RunConfig(dataset="synthetic", arch="lenet5", epochs=200, batch_size=32))
    store.release(run_id)  # as if a terminal's `python -m core train` held it: trainer.run claims it
    done = []
    worker = threading.Thread(target=lambda: done.append(trainer.run(store, run_id)))
    worker.start()
    assert wait_for(lambda: store.record(run_id).epochs_done >= 1, 30)
    store.request_stop(run_id)  # what the dashboard's Stop writes for a run it does not train
    worker.join(30)
    rec = store.record(run_id)
    assert done[0].status == "stopped" and rec.state == "stopped"
    assert 1 <= rec.epochs_done < 200
    assert not store.stop_requested(run_id)  # the request is used up: a resume trains again


def test_a_stop_requested_before_the_run_starts_stops_it_without_training(store, synthetic):
    run_id = store.create(RunConfig(dataset="synthetic", arch="lenet5", epochs=2))
    store.request_stop(run_id)
    result = trainer.run(store, run_id)
    assert result.status == "stopped" and store.record(run_id).epochs_done == 0
    store.begin_resume(run_id, queued=False)
    assert trainer.run(store, run_id, resume=True).status == "completed"
    assert time.time() - store.read_status(run_id).finished_at < 60


def test_train_on_ray_without_ray_installed_says_how_to_enable_it_and_keeps_nothing(store, monkeypatch, capsys):
    import sys

    from core.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as without the package
    code = main(["--checkpoints", str(store.root), "train", "--dataset", "mnist_sample", "--backend", "ray"])
    assert code == 2
    assert "pip install -r requirements-ray.txt" in capsys.readouterr().err
    assert store.list() == []  # no run left queued or failed behind
