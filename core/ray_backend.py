"""The Ray backend: runs of the run store trained as Ray tasks, on this machine or on a cluster.

Ray is optional (requirements-ray.txt); this module imports it only when a run is sent there.

`submit_runs(store, run_ids)` takes runs this process created (`RunStore.create`: queued, and
owned by this process through the `.owner` lease) and submits one Ray task per run, asking for one
GPU when the run trains on CUDA and for its CPU threads otherwise. While a run waits in Ray's
queue it stays queued and owned here; when its task starts, the worker takes the lease over
(core/run_owner.py, hand-over) and trains through `core.trainer.run`, exactly as the local queue
does, writing into the same run folder. So every reader of the folder — the dashboard, `python -m
core runs` — sees progress, curves and status live, and a worker that dies leaves its run
"interrupted" and resumable.

Stop: `stop(store, run_id)` writes the store's stop request, which the trainer looks for between
batches. A run still waiting in Ray's queue is marked stopped at once and its task cancelled; a
running task that has not ended STOP_GRACE s after the request is cancelled with `ray.cancel`.

Ray ties tasks to the process that submitted them (its driver): when that process ends, Ray ends
its tasks, and their runs read as interrupted. The dashboard server or the CLI command must keep
running while its runs train.
"""
from __future__ import annotations

import importlib.util
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from core.run_files import ACTIVE
from core.runs import RunError, RunStore

ADDRESS_ENV = "CNN_STUDIO_RAY_ADDRESS"
LOCAL = "local"
INSTALL_HINT = "pip install -r requirements-ray.txt"
HANDOVER_WAIT = 120.0   # s a started task waits for the submitting process to let go of its run
STOP_GRACE = 15.0       # s a running task gets to stop by itself before ray.cancel
POLL = 0.1              # s between looks of the watcher thread (hand-overs, finished tasks)
QUEUED_STOP = "removed from the Ray queue before it started"


class RayUnavailable(RunError):
    """Ray is not installed or cannot be reached; the message says what to do."""


def installed() -> bool:
    return importlib.util.find_spec("ray") is not None


def resolve_address(address: str | None = None) -> str:
    """The cluster to use: the argument, else $CNN_STUDIO_RAY_ADDRESS, else a Ray on this machine."""
    return (address or os.environ.get(ADDRESS_ENV) or LOCAL).strip()


def _ray():
    try:
        import ray
    except ImportError:
        raise RayUnavailable(f"Ray is not installed, so runs cannot be sent to a Ray cluster: {INSTALL_HINT}, "
                             "or train with the local backend") from None
    return ray


def connect(address: str | None = None, *, num_cpus: int | None = None) -> str:
    """Join the Ray cluster at `address` (see resolve_address), or start a single-machine Ray that
    listens on 127.0.0.1 only, with the cores this process may use (`num_cpus` to say fewer).
    Once per process; returns the address in use."""
    address = resolve_address(address)
    if address == LOCAL:
        # Ray announces the address other machines would use to reach it; a Ray for this machine
        # alone must listen on the loopback only. Read when ray is first imported.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray = _ray()
    if ray.is_initialized():
        return address
    if address == LOCAL:
        _loopback_only()
    _tracker.forget()  # tasks of an earlier Ray session in this process ended with it
    try:
        if address == LOCAL:
            _on_lasting_thread(ray.init, num_cpus=num_cpus or len(os.sched_getaffinity(0)), include_dashboard=False,
                               log_to_driver=False, logging_level="warning")
        else:
            ray.init(address=address, log_to_driver=False, logging_level="warning",
                     runtime_env={"py_modules": [str(Path(__file__).resolve().parent)]})
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RayUnavailable(f"could not reach a Ray cluster at {address}: {first} — check the address "
                             f"(`ray status` on the head node shows it), or use `{LOCAL}` for a Ray on this "
                             "machine") from None
    return address


_LASTING = threading.Event()  # never set: the thread that started a local Ray waits on it for good


def _on_lasting_thread(start, **kwargs) -> None:
    """Call `start(**kwargs)` (ray.init) on a thread that lives as long as this process.

    Ray binds the GCS and raylet it starts to the *thread* that forks them (prctl PR_SET_PDEATHSIG
    fires when that thread ends, not the process). Streamlit runs every rerun and button callback
    on a thread that ends with it, so a Ray started there was killed seconds later: its queued
    tasks never ran, and a minute on Ray's core worker ended the whole dashboard process."""
    if threading.current_thread() is threading.main_thread():
        start(**kwargs)  # the CLI: the main thread lasts, and Ray can set its signal handlers there
        return
    outcome: list[BaseException | None] = []
    started = threading.Event()

    def run():
        try:
            start(**kwargs)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            outcome.append(exc)
        started.set()
        if outcome[0] is None:
            _LASTING.wait()  # daemon: ends with the process, and Ray's processes with it

    threading.Thread(target=run, name="ray-local-head", daemon=True).start()
    started.wait()
    if outcome[0] is not None:
        raise outcome[0]


def _loopback_only() -> None:
    """The same switch for a process that imported ray before connect() set the variable (e.g. a
    library imported first): Ray reads it from this module attribute when it picks the node's
    address. Private, so a Ray that moved it just keeps its own choice."""
    try:
        from ray._private import ray_constants
    except ImportError:
        return
    if hasattr(ray_constants, "ENABLE_RAY_CLUSTER"):
        ray_constants.ENABLE_RAY_CLUSTER = False


def resources(cfg, cluster_gpus: float) -> dict:
    """What a run's task asks Ray for: one GPU for CUDA runs (and `auto` ones where the cluster has
    GPUs), else its CPU threads (1 when it leaves them to PyTorch)."""
    if cfg.device == "cuda" or (cfg.device == "auto" and cluster_gpus > 0):
        return {"num_gpus": 1, "num_cpus": 1}
    return {"num_gpus": 0, "num_cpus": max(1, cfg.threads)}


# ---- the task, run by a Ray worker ------------------------------------------------------------

def train_task(root: str, run_id: str, data_dir: str | None) -> tuple[str, str]:
    """Take the run over from the process that queued it and train it; (status, message)."""
    from core import trainer

    store = RunStore(root)
    try:
        store.take_over(run_id, wait=HANDOVER_WAIT)
    except RunError as exc:
        return "failed", str(exc)
    try:
        now = store.read_status(run_id)
    except RunError:
        now = None  # trainer.run reads it again and fails the run with the reason
    if now is not None and now.status != "queued":
        store.release(run_id)  # stopped while it waited in Ray's queue: leave it so
        return now.status, now.message
    # resume=True continues from checkpoint_last.pt when there is one (a resumed run), else starts
    result = trainer.run(store, run_id, resume=True, data_dir=data_dir)
    return result.status, result.message


# ---- the submitting side ----------------------------------------------------------------------

@dataclass
class _Tracked:
    store: RunStore
    run_id: str
    ref: object                       # the task's ray.ObjectRef
    stop_at: float | None = None      # when Stop was pressed
    cancelled: bool = False
    outcome: tuple | None = None      # (status, message) once the task has ended


class _Tracker:
    """This process's Ray runs. A watcher thread hands each run over to its task when the task
    asks, and records runs whose task ended without taking them over (cancelled, worker lost)."""

    def __init__(self):
        self.lock = threading.RLock()
        self.runs: dict[tuple[str, str], _Tracked] = {}
        self._thread: threading.Thread | None = None

    def add(self, tracked: _Tracked) -> None:
        with self.lock:
            self.runs[(str(tracked.store.root), tracked.run_id)] = tracked
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="cnn-studio-ray", daemon=True)
                self._thread.start()

    def get(self, store: RunStore, run_id: str) -> _Tracked | None:
        with self.lock:
            return self.runs.get((str(store.root), run_id))

    def forget(self) -> None:
        """End the watch of runs whose Ray session is gone; runs still here read as interrupted."""
        with self.lock:
            for t in self.runs.values():
                if t.outcome is None:
                    t.store.release(t.run_id)
                    t.outcome = ("interrupted", "its Ray session ended before the run finished; resume it")

    def _loop(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the watcher must outlive one bad look (e.g. Ray shutting down)
                pass
            time.sleep(POLL)

    def tick(self) -> None:
        with self.lock:
            pending = [t for t in self.runs.values() if t.outcome is None]
        ray = _ray()
        if not pending or not ray.is_initialized():
            return
        ready, _ = ray.wait([t.ref for t in pending], num_returns=len(pending), timeout=0)
        ready = set(ready)
        for t in pending:
            if t.ref in ready:
                self._finish(t, ray)
                continue
            with self.lock:
                if t.store.owns(t.run_id) and t.store.handover_requested(t.run_id):
                    t.store.release(t.run_id)  # its task has started and waits for the run
            if t.stop_at is not None and not t.cancelled and time.time() - t.stop_at > STOP_GRACE:
                t.cancelled = True
                ray.cancel(t.ref)  # raises KeyboardInterrupt in the task; the trainer records "stopped"

    def _finish(self, t: _Tracked, ray) -> None:
        try:
            outcome = tuple(ray.get(t.ref))
        except ray.exceptions.TaskCancelledError:
            outcome = ("stopped", QUEUED_STOP)
        except ray.exceptions.RayError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            outcome = ("failed", f"its Ray task ended without finishing the run ({first}); resume it")
        with self.lock:
            if t.store.owns(t.run_id):  # the task never took the run over: say how it ended
                try:
                    t.store.transition(t.run_id, outcome[0] if outcome[0] in ("stopped", "failed") else "failed",
                                       outcome[1], finished_at=time.time())
                except (RunError, OSError):
                    pass  # the released lease makes readers show it interrupted instead
                t.store.release(t.run_id)
            t.outcome = outcome


_tracker = _Tracker()


class RayBatch:
    """Runs submitted together; what `submit_runs` returns."""

    def __init__(self, store: RunStore, run_ids: list[str]):
        self.store, self.run_ids = store, list(run_ids)

    def done(self) -> bool:
        return all(_tracker.get(self.store, r).outcome is not None for r in self.run_ids)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every task has ended (True) or `timeout` s passed (False)."""
        end = None if timeout is None else time.time() + timeout
        while not self.done():
            if end is not None and time.time() >= end:
                return False
            time.sleep(POLL)
        return True

    def results(self) -> dict[str, tuple | None]:
        """run id -> (status, message) of its ended task, None while it is queued or training."""
        return {r: _tracker.get(self.store, r).outcome for r in self.run_ids}

    def stop(self, run_id: str | None = None) -> None:
        for r in ([run_id] if run_id else self.run_ids):
            stop(self.store, r)


def submit_runs(store: RunStore, run_ids, *, address: str | None = None, data_dir=None) -> RayBatch:
    """Train these queued runs (created by `store`, so owned by this process) as Ray tasks.

    Raises RayUnavailable before changing anything when Ray cannot be used, and RunError for a
    run this process does not hold queued."""
    from core import data

    run_ids = list(run_ids)
    for run_id in run_ids:
        if not store.owns(run_id) or store.read_status(run_id).status != "queued":
            raise RunError(f"run {run_id} is not queued by this process; create it with RunStore.create "
                           "(or begin_resume(queued=True)) before sending it to Ray")
    connect(address)
    ray = _ray()
    task = ray.remote(max_retries=0)(train_task)  # a lost worker leaves the run interrupted, not retried
    gpus = ray.cluster_resources().get("GPU", 0)
    root, data_root = str(store.root.resolve()), str(data.data_dir(data_dir).resolve())
    for run_id in run_ids:
        need = resources(store.read_config(run_id), gpus)
        store.update(run_id, backend="ray", message="waiting for a Ray worker")
        ref = task.options(name=f"cnn-studio {run_id}", **need).remote(root, run_id, data_root)
        _tracker.add(_Tracked(store, run_id, ref))
    return RayBatch(store, run_ids)


def stop(store: RunStore, run_id: str) -> str:
    """Stop a run trained by another process or a Ray worker: "removed" when it had not started
    (it is stopped now), "requested" when its trainer will stop after the current batch, "ended"
    when it is no longer queued or running."""
    if store.record(run_id).state not in ACTIVE:
        return "ended"
    tracked = _tracker.get(store, run_id)
    with _tracker.lock:
        if tracked is not None and tracked.outcome is None and store.owns(run_id):
            # still waiting in Ray's queue, so still ours: a task that starts now finds it stopped
            store.transition(run_id, "stopped", QUEUED_STOP, finished_at=time.time())
            store.release(run_id)
            _ray().cancel(tracked.ref)
            return "removed"
    store.request_stop(run_id)
    if tracked is not None and tracked.stop_at is None:
        tracked.stop_at = time.time()
    return "requested"
