"""Background training: a queue and one worker thread per process.

Runs execute one at a time so two people pressing Train never fight over the cores. The worker
publishes what it is doing into a `LiveRun` under a lock; front ends call `snapshot()` to read a
copy. Nothing here knows about Streamlit (the dashboard keeps one JobRunner in st.cache_resource).
"""
from __future__ import annotations

import copy
import sys
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from core import lr_finder, trainer
from core.config import RunConfig
from core.engine import Callback
from core.runs import RunError, RunStore

MAX_STEP_POINTS = 400


@dataclass
class Job:
    run_id: str
    name: str
    resume: bool = False
    submitted_at: float = field(default_factory=time.time)


@dataclass
class FinderJob:
    """An LR range test of a config; it runs in the training thread, so never beside a run."""
    key: str
    config: RunConfig


MAX_FINDER_RESULTS = 16


@dataclass
class LiveRun:
    """What the live panel draws. Step history is thinned to at most MAX_STEP_POINTS points."""
    run_id: str
    name: str
    config: dict
    phase: str = "loading"            # loading | training | evaluating | finished
    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    batches: int = 0
    images_per_sec: float = 0.0
    eta_seconds: float | None = None
    started_at: float = field(default_factory=time.time)
    epoch_rows: list = field(default_factory=list)
    steps: list = field(default_factory=list)      # (step, epoch_progress, batch_loss, running_loss, lr)
    step_stride: int = 1
    status: str = "running"
    message: str = ""
    best_epoch: int = 0
    best_val_acc: float = 0.0
    device: str = "cpu"               # where it trains: cpu | cuda | mps

    @property
    def on_cpu(self) -> bool:
        return self.device == "cpu"

    @property
    def progress(self) -> float:
        if not self.epochs:
            return 0.0
        done = self.epoch - 1 + (self.batch / self.batches if self.batches else 0)
        return min(max(done / self.epochs, 0.0), 1.0)


def _copy_live(live: LiveRun) -> LiveRun:
    """A copy the UI can read while training goes on. Steps are immutable tuples and epoch rows
    are never changed once appended, so copying the two lists is enough: a deepcopy took ~5 ms
    under the lock the training thread takes after every batch, several times a second."""
    out = copy.copy(live)
    out.steps, out.epoch_rows = list(live.steps), list(live.epoch_rows)
    return out


class _Publisher(Callback):
    def __init__(self, runner: "JobRunner", live: LiveRun):
        self.runner, self.live = runner, live
        self._t0 = None
        self._p0 = 0.0

    def on_fit_start(self, state):
        with self.runner.lock:
            self.live.phase = "training"
            self.live.epoch_rows = [dict(r) for r in state.history]
            self.live.epoch = state.epoch + 1
        self._t0 = time.perf_counter()
        self._p0 = state.epoch / max(self.live.epochs, 1)

    def on_batch_end(self, ev, state):
        live = self.live
        with self.runner.lock:
            live.epoch, live.batch, live.batches = ev.epoch, ev.batch, ev.batches
            live.images_per_sec = ev.images_per_sec
            if ev.step % live.step_stride == 0:
                live.steps.append((ev.step, ev.epoch - 1 + ev.batch / ev.batches, ev.loss, ev.running_loss, ev.lr))
                if len(live.steps) > MAX_STEP_POINTS:
                    live.steps = live.steps[::2]
                    live.step_stride *= 2
            done = live.progress - self._p0
            if done > 0.002:
                spent = time.perf_counter() - self._t0
                live.eta_seconds = spent / done * (1 - live.progress)

    def on_epoch_end(self, ev, state):
        with self.runner.lock:
            self.live.epoch_rows.append(ev.row())
            self.live.best_epoch, self.live.best_val_acc = state.best_epoch, state.best_val_acc

    def on_fit_end(self, result, state):
        with self.runner.lock:
            self.live.phase = "evaluating" if result.epochs_done else "finished"


def _device_type(name: str) -> str:
    try:
        return trainer.resolve_device(name).type
    except trainer.DeviceError:
        return "cpu"  # the run will fail at once with the reason; nothing trains anywhere


class JobRunner:
    def __init__(self, store: RunStore, data_dir=None):
        self.store = store
        self.data_dir = data_dir
        self.lock = threading.RLock()
        self._wake = threading.Condition(self.lock)
        self._queue: deque[Job] = deque()
        self._finder_jobs: deque[FinderJob] = deque()
        self._finding: str | None = None
        self._finder_results: OrderedDict[str, object] = OrderedDict()  # key -> LRFinderResult | message
        self._live: LiveRun | None = None
        self._stop_event: threading.Event | None = None
        self.finished: deque[LiveRun] = deque(maxlen=20)
        self._thread = threading.Thread(target=self._work, name="cnn-studio-trainer", daemon=True)
        store.mark_interrupted()  # runs a crashed or restarted server left "running" say so on disk too
        # The training thread gives up the GIL for every tensor op; when the web server holds it
        # the trainer waits a whole switch interval (5 ms by default) to get it back each time.
        sys.setswitchinterval(0.0005)
        self._thread.start()

    # ---- front-end API ----
    def submit(self, cfg: RunConfig, *, preset: str | None = None) -> str:
        """Validate and queue a new run; returns its run id. `preset` records where it came from."""
        cfg.validate()
        run_id = self.store.create(cfg, status="queued", preset=preset)  # owned by this process from here
        self._enqueue(Job(run_id, cfg.name or run_id))
        return run_id

    def submit_created(self, run_ids) -> None:
        """Queue runs this process's store has already created as "queued" (a sweep's runs: the
        sweep creates and tags them, then hands them to a backend — this queue or Ray)."""
        records = [self.store.record(run_id) for run_id in run_ids]
        for rec in records:  # all checked before any is queued: a refusal queues nothing
            if rec.state != "queued":
                raise RunError(f"run {rec.run_id} is {rec.state}; only newly created runs can be queued here")
        for rec in records:
            self._enqueue(Job(rec.run_id, rec.name))

    def submit_resume(self, run_id: str) -> None:
        with self.lock:
            if self.is_active(run_id):
                raise RunError(f"run {run_id} is already queued or training")
            status = self.store.begin_resume(run_id, queued=True)
            self._enqueue(Job(run_id, status.name or run_id, resume=True))

    def submit_lr_finder(self, cfg: RunConfig) -> str:
        """Queue an LR range test of `cfg` (ahead of queued runs: it takes seconds); returns its key."""
        cfg.validate()
        key = lr_finder.config_key(cfg)
        with self._wake:
            if key in self._finder_results or key == self._finding or any(j.key == key for j in self._finder_jobs):
                return key
            self._finder_jobs.append(FinderJob(key, cfg))
            self._wake.notify()
        return key

    def lr_finder(self, key: str) -> tuple[str | None, object]:
        """("queued" | "running" | "done", result) of a sweep, or (None, None) for an unknown key."""
        with self.lock:
            if key in self._finder_results:
                return "done", self._finder_results[key]
            if key == self._finding:
                return "running", None
            if any(j.key == key for j in self._finder_jobs):
                return "queued", None
        return None, None

    def cancel(self, run_id: str) -> bool:
        """Remove a run from the queue before it starts."""
        with self.lock:
            for job in list(self._queue):
                if job.run_id == run_id:
                    self._queue.remove(job)
                    try:
                        self.store.transition(run_id, "stopped", "removed from the queue before it started")
                    except (RunError, OSError):
                        pass  # the released lease below makes readers show it interrupted instead
                    self.store.release(run_id)
                    return True
        return False

    def stop(self) -> bool:
        """Ask the current run to stop; it ends within one batch and keeps what was saved."""
        with self.lock:
            if self._stop_event is None:
                return False
            self._stop_event.set()
            return True

    def snapshot(self) -> dict:
        """A copy of the current run, the queue and recent finished runs, safe to read anywhere."""
        with self.lock:
            return {
                "live": _copy_live(self._live) if self._live else None,
                "queue": [copy.copy(j) for j in self._queue],
                "finished": [copy.copy(f) for f in self.finished],
                "busy": self._live is not None or bool(self._queue),
            }

    def is_active(self, run_id: str) -> bool:
        with self.lock:
            return (self._live is not None and self._live.run_id == run_id) or any(j.run_id == run_id for j in self._queue)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until nothing is queued or running (CLI and tests)."""
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                if self._live is None and not self._queue and self._finding is None and not self._finder_jobs:
                    return True
            time.sleep(0.05)
        return False

    # ---- worker ----
    def _sweep(self, finder: FinderJob) -> None:
        result = lr_finder.run(finder.config, data_dir=self.data_dir)
        with self.lock:
            self._finder_results[finder.key] = result
            while len(self._finder_results) > MAX_FINDER_RESULTS:
                self._finder_results.popitem(last=False)
            self._finding = None

    def _enqueue(self, job: Job) -> None:
        with self._wake:
            self._queue.append(job)
            self._wake.notify()

    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._finder_jobs:
                    self._wake.wait()
                if self._finder_jobs:
                    finder = self._finder_jobs.popleft()
                    self._finding = finder.key
                else:
                    finder = None
            if finder is not None:
                self._sweep(finder)
                continue
            with self._wake:
                job = self._queue.popleft()
                try:
                    cfg = self.store.read_config(job.run_id)
                except RunError:
                    cfg = RunConfig()  # trainer.run reads it again and fails the run with the reason
                live = LiveRun(job.run_id, job.name, cfg.to_dict(), epochs=cfg.epochs,
                               device=_device_type(cfg.device))
                self._live, self._stop_event = live, threading.Event()
            # trainer.run never raises: it ends the run in a terminal status and releases it
            result = trainer.run(self.store, job.run_id, resume=job.resume, data_dir=self.data_dir,
                                 callbacks=[_Publisher(self, live)], stop_event=self._stop_event)
            status, message = result.status, result.message
            with self.lock:
                live.phase, live.status, live.message = "finished", status, message
                self.finished.appendleft(live)
                self._live, self._stop_event = None, None
