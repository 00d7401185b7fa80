"""The on-disk run store: one folder per run under `checkpoints/`. It alone knows the folder's
files (named in core/run_files.py) and owns the status lifecycle:

    queued → running → completed | stopped | failed | interrupted
    stopped | failed | interrupted → queued | running          (resume)

    config.json                the RunConfig
    status.json                the status above + message, times, results (RunStatus)
    model.json                 classes, normalisation, input shape, parameter count (ModelMeta)
    metrics.csv                one row per completed epoch
    weights_{last,best}.safetensors, checkpoint_last.pt, predictions_{last,best}.safetensors
    predictions_val_{last,best}.safetensors   the same on the validation share, when there is one
    data_map.safetensors       per training image and epoch: confidence in its label, right or wrong
    .owner                     locked by the process that queues or trains the run (core/run_owner.py)
    .handover                  locked by a process waiting to take the run over from the one that queued it
    .stop_requested            Stop pressed in another process than the one training the run

Every write replaces a whole file (`os.replace`), so a crash at any moment leaves the previous good
state. Every read validates; a malformed file makes that run "damaged: <reason>", never an error
on a page. A run whose status says queued/running but whose owner process is gone is shown as
interrupted by every reader at once.
"""
from __future__ import annotations

import io
import math
import os
import re
import shutil
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from core import run_files as files
from core import run_owner
from core.config import ConfigError, RunConfig
from core.run_files import (ACTIVE, METRIC_COLUMNS, RESUMABLE, STATUSES, DataMap, ModelMeta,  # noqa: F401
                            RunFileError, RunStatus, atomic_write_bytes, atomic_write_json, atomic_write_text)
from core.run_owner import owner_fields  # noqa: F401  (re-exported for tests and tools)

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")

# The lifecycle: which status may follow which. None is "no status yet" (creation).
TRANSITIONS = {
    None: {"queued", "running"},
    "queued": {"running", "stopped", "failed", "interrupted"},
    "running": {"running", "completed", "stopped", "failed", "interrupted"},
    "stopped": {"queued", "running"},
    "failed": {"queued", "running"},
    "interrupted": {"queued", "running", "interrupted"},
    "completed": set(),
}
ORPHAN_MESSAGES = {
    "running": "the process training it ended without recording how (crash, kill, full disk or restart); "
               "resume continues from the last completed epoch",
    "queued": "the process that queued it ended before it started; resume starts it",
}


class RunError(Exception):
    """A store operation that cannot be done; the message says why and what to do."""


def default_root() -> Path:
    return Path(os.environ.get("CNN_STUDIO_CHECKPOINTS") or Path(__file__).resolve().parents[1] / "checkpoints")


def check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id) or ".." in run_id:
        raise RunError(f"{run_id!r} is not a valid run id (letters, digits, '.', '_' and '-' only)")
    return run_id


def clean_name(name: str) -> str:
    """A display name by the config's one rule for run names, as a RunError for the store."""
    from core.config import clean_run_name

    try:
        return clean_run_name(name)
    except ConfigError as exc:
        raise RunError(str(exc)) from None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:40] or "run"


# ---- records -------------------------------------------------------------------------------

@dataclass
class RunRecord:
    """What listing a run reads: config, status and metrics, never weights. Read-only: records
    are shared between callers."""
    run_id: str
    path: Path
    status: RunStatus | None = None
    config: RunConfig | None = None
    metrics: list = field(default_factory=list)
    damaged: str = ""                                  # why the folder cannot be read as a run
    problems: tuple = ()                               # files missing or truncated (readable run)
    present: frozenset = frozenset()                   # heavy files that exist (by stat)

    @property
    def name(self) -> str:
        return (self.status.name if self.status else "") or self.run_id

    @property
    def orphaned(self) -> bool:
        """status.json says queued/running but no process owns the run any more."""
        if self.status is None or self.status.status not in ACTIVE:
            return False
        held = run_owner.held(self.path)
        if held is None:  # no owner file: a run from before leases, or copied in by hand
            s = self.status
            return not run_owner.pid_alive(s.pid, s.host, s.pid_started)
        return not held

    @property
    def state(self) -> str:
        """The truth a reader shows: damaged, the file's status, or interrupted for an orphan."""
        if self.damaged:
            return "damaged"
        return "interrupted" if self.orphaned else self.status.status

    @property
    def message(self) -> str:
        """Why a run is damaged, interrupted, failed or stopped, plus missing-file problems."""
        if self.damaged:
            return self.damaged
        base = ORPHAN_MESSAGES[self.status.status] if self.orphaned else self.status.message
        return "; ".join(p for p in (base, *self.problems) if p)

    @property
    def resumable(self) -> bool:
        return self.state in RESUMABLE

    @property
    def epochs_done(self) -> int:
        return self.status.epochs_done if self.status else 0

    def has(self, name: str) -> bool:
        return name in self.present

    def has_weights(self, which: str = "best") -> bool:
        return files.weights(which) in self.present

    def has_predictions(self, which: str = "best") -> bool:
        return files.predictions(which) in self.present


class RunStore:
    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root else default_root()
        self.root.mkdir(parents=True, exist_ok=True)
        # run id -> (signature of its files, RunRecord): pages list every run on each rerun, and
        # re-reading 3 files x 200 runs each time made the Runs page slow. The lock: page threads
        # and the training thread share one store.
        self._records: dict[str, tuple[tuple, RunRecord]] = {}
        self._records_lock = threading.Lock()
        self._leases: dict[str, run_owner.Lease] = {}

    # -- paths --
    def path(self, run_id: str) -> Path:
        return self.root / check_run_id(run_id)

    def file(self, run_id: str, name: str) -> Path:
        return self.path(run_id) / name

    def exists(self, run_id: str) -> bool:
        return self.path(run_id).is_dir()

    # -- ownership --
    def claim(self, run_id: str) -> None:
        """Make this process the run's owner; RunError when another process owns it."""
        if run_id in self._leases and self._leases[run_id].held:
            return
        lease = run_owner.claim(self.path(run_id))
        if lease is None:
            raise RunError(f"run {run_id} is being trained or queued by another process; stop it there first")
        self._leases[run_id] = lease

    def release(self, run_id: str) -> None:
        lease = self._leases.pop(run_id, None)
        if lease is not None:
            lease.release()

    def owns(self, run_id: str) -> bool:
        lease = self._leases.get(run_id)
        return lease is not None and lease.held

    def take_over(self, run_id: str, *, wait: float) -> None:
        """Become the owner of a run another process queued, once that process lets go (it must
        watch `handover_requested`); RunError when it does not within `wait` seconds."""
        if self.owns(run_id):
            return
        lease = run_owner.take_over(self.path(run_id), wait=wait)
        if lease is None:
            raise RunError(f"run {run_id} was not handed over within {wait:g} s: the process that queued it "
                           "still holds it; resume the run once that process has ended")
        self._leases[run_id] = lease

    def handover_requested(self, run_id: str) -> bool:
        return run_owner.handover_requested(self.path(run_id))

    # -- stop requests from other processes --
    def request_stop(self, run_id: str) -> None:
        """Ask whichever process trains (or will train) the run to stop it after the current batch."""
        atomic_write_text(self.file(run_id, files.STOP_REQUEST), f"{time.time()}\n")

    def stop_requested(self, run_id: str) -> bool:
        return os.path.exists(self.file(run_id, files.STOP_REQUEST))

    def clear_stop(self, run_id: str) -> None:
        try:
            os.unlink(self.file(run_id, files.STOP_REQUEST))
        except OSError:
            pass  # none, or a read-only folder: nothing else to do about it

    # -- create --
    def create(self, cfg: RunConfig, *, status: str = "queued", preset: str | None = None,
               sweep: str | None = None) -> str:
        """A new run folder owned by this process. A failure (full disk, permissions) leaves no folder.
        `sweep` tags the run with the sweep that made it (core/sweeps.py)."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = f"{stamp}-{_slug(cfg.dataset.replace(':', '-'))}-{_slug(cfg.arch)}"
        try:
            for i in range(1000):
                run_id = base if i == 0 else f"{base}-{i + 1}"
                try:
                    self.path(run_id).mkdir(parents=True)
                    break
                except FileExistsError:
                    continue
            else:
                raise RunError("could not find a free run id")
        except OSError as exc:
            raise RunError(f"could not create a run folder in {self.root}: {exc.strerror or exc} — "
                           "free disk space or fix permissions, then try again") from None
        try:
            self.claim(run_id)
            atomic_write_text(self.file(run_id, files.CONFIG), cfg.to_json())
            name = clean_name(cfg.name) if cfg.name.strip() else run_id
            self.transition(run_id, status, name=name, message="", created_at=time.time(),
                             epochs=cfg.epochs, epochs_done=0, preset=preset, sweep=sweep)
        except (OSError, RunError) as exc:
            self.release(run_id)
            shutil.rmtree(self.path(run_id), ignore_errors=True)
            if isinstance(exc, RunError):
                raise
            raise RunError(f"could not write the new run to {self.root}: {exc.strerror or exc} — free disk "
                           "space or fix permissions, then try again") from None
        return run_id

    # -- status --
    def read_status(self, run_id: str) -> RunStatus:
        try:
            return RunStatus.parse(files.read_json(self.file(run_id, files.STATUS)))
        except RunFileError as exc:
            raise RunError(f"run {run_id} is damaged: {exc}") from None

    def update(self, run_id: str, *, written: dict | None = None, **changes) -> RunStatus:
        """Change fields of status.json other than the status itself (progress, results).
        `written`: {file name: bytes} of heavy files just written, so a listing can spot truncation."""
        if "status" in changes:
            raise ValueError("use transition() to change a run's status")
        return self._write_status(run_id, None, changes, written)

    def transition(self, run_id: str, to: str, message: str | None = None, **changes) -> RunStatus:
        """Move the run to status `to`; RunError when the lifecycle does not allow it."""
        if message is not None:
            changes["message"] = message
        return self._write_status(run_id, to, changes)

    def _write_status(self, run_id: str, to: str | None, changes: dict, written: dict | None = None) -> RunStatus:
        path = self.file(run_id, files.STATUS)
        with run_owner.status_lock(self.path(run_id)):
            current = None
            if path.exists():
                try:
                    current = RunStatus.parse(files.read_json(path))
                except RunFileError:
                    if to is None:
                        raise RunError(f"run {run_id} is damaged: its {files.STATUS} cannot be read") from None
            if to is not None:
                if to not in STATUSES:
                    raise ValueError(f"unknown status {to!r}")
                was = current.status if current else None
                if was in ACTIVE and run_id not in self._leases and RunRecord(run_id, self.path(run_id), current).orphaned:
                    was = "interrupted"  # its owner is gone: what the file says is stale
                if to not in TRANSITIONS[was]:
                    raise RunError(f"run {run_id} is {was}; it cannot become {to}")
                changes["status"] = to
                if to in ACTIVE:
                    changes.update(owner_fields())
            data = current.to_dict() if current else {}
            data.update(changes, updated_at=time.time())
            if written:
                data["sizes"] = {**data.get("sizes", {}), **{k: int(v) for k, v in written.items()}}
            # unknown (None) and non-finite numbers are left out: e.g. the test loss of a model whose
            # weights blew up is NaN, which JSON cannot hold and which says nothing
            data = {k: v for k, v in data.items()
                    if v is not None and not (isinstance(v, float) and not math.isfinite(v))}
            new = RunStatus.parse(data)  # never write what could not be read back
            atomic_write_json(path, new.to_dict())
            return new

    # -- config, model, metrics --
    def read_config(self, run_id: str) -> RunConfig:
        try:
            return RunConfig.from_dict(files.read_json(self.file(run_id, files.CONFIG)), strict=False)
        except (RunFileError, ConfigError) as exc:
            raise RunError(f"run {run_id} has no usable {files.CONFIG}: {exc}") from None

    def write_model(self, run_id: str, meta: ModelMeta) -> None:
        atomic_write_json(self.file(run_id, files.MODEL), meta.to_dict())

    def read_model(self, run_id: str) -> ModelMeta:
        try:
            return ModelMeta.parse(files.read_json(self.file(run_id, files.MODEL)))
        except RunFileError as exc:
            raise RunError(f"run {run_id} cannot be used for inference: {exc}") from None

    def write_metrics(self, run_id: str, rows: list[dict]) -> None:
        atomic_write_text(self.file(run_id, files.METRICS), files.metrics_csv(rows))

    def read_metrics(self, run_id: str) -> list[dict]:
        try:
            return files.read_metrics(self.file(run_id, files.METRICS))
        except RunFileError as exc:
            raise RunError(f"run {run_id} is damaged: {exc}") from None

    # -- data map --
    def write_data_map(self, run_id: str, data_map: DataMap) -> dict[str, int]:
        """Replace data_map.safetensors; returns {name: bytes} for the caller's status update."""
        raw = data_map.to_bytes()
        atomic_write_bytes(self.file(run_id, files.DATA_MAP), raw)
        return {files.DATA_MAP: len(raw)}

    def has_data_map(self, run_id: str) -> bool:
        return self.file(run_id, files.DATA_MAP).exists()

    def read_data_map(self, run_id: str) -> DataMap:
        """The run's data map; RunError saying why when it is missing or cannot be used."""
        path = self.file(run_id, files.DATA_MAP)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise RunError(f"run {run_id} has no data map ({files.DATA_MAP} is missing): it was trained with "
                           "recording off or before CNN Studio recorded one; train it again (clone it) to "
                           "get one") from None
        except OSError as exc:
            raise RunError(f"{files.DATA_MAP} of run {run_id} cannot be read ({exc.strerror or exc})") from None
        try:
            return DataMap.parse(raw)
        except RunFileError as exc:
            raise RunError(f"the data map of run {run_id} cannot be used: {exc}; train the run again (clone "
                           "it) to record a new one") from None

    # -- listing --
    def record(self, run_id: str) -> RunRecord:
        """Config, status and metrics of a run, re-read only when one of its files changed."""
        path = self.path(run_id)
        signature = _signature(path)  # taken before reading: a write in between shows as a change next time
        with self._records_lock:
            cached = self._records.get(run_id)
        if cached is not None and cached[0] == signature:
            return cached[1]
        rec = _read_record(run_id, path, signature)
        with self._records_lock:
            self._records[run_id] = (signature, rec)
        return rec

    def list(self) -> list[RunRecord]:
        """All runs, newest first. Damaged folders are listed with their reason, never raised."""
        records = []
        try:
            entries = list(self.root.iterdir())
        except OSError:
            entries = []
        for entry in entries:
            if entry.is_dir() and not entry.name.startswith(".") and _RUN_ID.match(entry.name):
                records.append(self.record(entry.name))
        records.sort(key=lambda r: (r.status.created_at if r.status else 0.0, r.run_id), reverse=True)
        listed = {r.run_id for r in records}
        with self._records_lock:  # forget deleted runs
            for gone in self._records.keys() - listed:
                del self._records[gone]
        return records

    # -- lifecycle helpers --
    def begin_resume(self, run_id: str, *, queued: bool) -> RunStatus:
        """Claim a stopped/interrupted/failed run to continue it (queued: put it in a queue)."""
        if not self.exists(run_id):
            raise RunError(f"no run {run_id} in {self.root}")
        rec = self.record(run_id)
        if rec.damaged:
            raise RunError(f"run {run_id} is damaged ({rec.damaged}); it cannot be resumed")
        if rec.state == "completed":
            raise RunError(f"run {run_id} already completed all its epochs; clone it to train more")
        if not rec.resumable:
            raise RunError(f"run {run_id} is {rec.state} in another process or queue; stop it there first")
        if rec.orphaned:  # say so on disk first: once claimed, what the file says counts again
            self.transition(run_id, "interrupted", ORPHAN_MESSAGES[rec.status.status])
        self.claim(run_id)
        self.clear_stop(run_id)  # a Stop pressed during an earlier attempt is not meant for this one
        try:
            to = "queued" if queued else "running"
            # backend=None: where it trains now is up to the caller (submit_runs records "ray")
            return self.transition(run_id, to, "queued to resume" if queued else "resuming…", backend=None)
        except BaseException:
            self.release(run_id)
            raise

    def mark_interrupted(self) -> list[str]:
        """Write "interrupted" into the status of runs whose owner is gone (readers already show
        them so; this makes status.json say it too, e.g. for other tools)."""
        changed = []
        for rec in self.list():
            if rec.damaged or not rec.orphaned:
                continue
            try:
                self.transition(rec.run_id, "interrupted", ORPHAN_MESSAGES[rec.status.status])
            except (RunError, OSError):
                continue
            changed.append(rec.run_id)
        return changed

    # -- housekeeping --
    def rename(self, run_id: str, name: str) -> None:
        self._refuse_if_active(run_id, "rename", ("running",))
        self.update(run_id, name=clean_name(name))

    def delete(self, run_id: str) -> None:
        self._refuse_if_active(run_id, "delete")
        self.release(run_id)
        shutil.rmtree(self.path(run_id))

    def _refuse_if_active(self, run_id: str, verb: str, states=ACTIVE) -> None:
        if not self.exists(run_id):
            raise RunError(f"run {run_id} does not exist")
        state = self.record(run_id).state
        if state in states:
            raise RunError(f"run {run_id} is {state}; stop it (or remove it from the queue) before you {verb} it")

    def export_zip(self, run_id: str) -> bytes:
        """The run folder as a zip (config, metrics, status, weights, predictions)."""
        path = self.path(run_id)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(path.iterdir()):
                if f.is_file() and not f.name.startswith("."):
                    zf.write(f, f"{run_id}/{f.name}")
        return buf.getvalue()


# ---- reading one folder ------------------------------------------------------------------------

LISTING_FILES = (files.STATUS, files.CONFIG, files.METRICS)
_STATTED = (*LISTING_FILES, *files.SIZED)


def _signature(folder: Path) -> tuple:
    """Identity of the files `record` looks at. Every write replaces a file (new inode, new times);
    the change time also catches edits in place and permission changes."""
    out, base = [], os.fspath(folder)
    for name in _STATTED:
        try:
            st = os.stat(os.path.join(base, name))  # plain strings: pathlib's joins cost more than the stat
        except OSError:
            out.append(None)
        else:
            out.append((st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(out)


def _read_record(run_id: str, path: Path, signature: tuple) -> RunRecord:
    rec = RunRecord(run_id, path)
    sizes = dict(zip(_STATTED, signature))
    rec.present = frozenset(n for n in files.SIZED if sizes[n] is not None)
    try:
        rec.status = RunStatus.parse(files.read_json(path / files.STATUS))
        rec.config = RunConfig.from_dict(files.read_json(path / files.CONFIG), strict=False)
        rec.metrics = files.read_metrics(path / files.METRICS)
    except RunFileError as exc:
        rec.damaged = str(exc)
    except ConfigError as exc:
        rec.damaged = f"{files.CONFIG} is not a usable configuration: {exc}"
    if rec.status is not None and not rec.damaged:
        rec.problems = tuple(_problems(rec, sizes))
    return rec


def _problems(rec: RunRecord, stats: dict) -> list[str]:
    """Files a run with finished epochs should have but lacks, or has shorter than written."""
    out = []
    done = rec.status.epochs_done
    if done and stats[files.METRICS] is None:
        out.append(f"{files.METRICS} is missing, so its curves cannot be shown")
    elif done and len(rec.metrics) < done:
        out.append(f"{files.METRICS} has {len(rec.metrics)} of {done} epochs")
    for name in files.SIZED:
        expected = rec.status.sizes.get(name)
        st = stats[name]
        if expected is not None and st is None:
            out.append(f"{name} is missing")
        elif expected is not None and st[1] < expected:
            out.append(f"{name} is truncated ({st[1]:,} of {expected:,} bytes)")
    if done and not out and stats[files.weights("last")] is None:
        out.append(f"{files.weights('last')} is missing")
    return out
