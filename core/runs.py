"""The on-disk run store: one folder per run under `checkpoints/`.

    config.json                the RunConfig
    status.json                queued/running/completed/stopped/failed/interrupted + message, times
    model.json                 classes, normalisation, input shape, parameter count (for inference)
    metrics.csv                one row per completed epoch
    weights_last.safetensors   model weights after the last completed epoch
    weights_best.safetensors   weights of the epoch with the best validation accuracy
    checkpoint_last.pt         model + optimizer + schedule + RNG + history: exact resume
                               (plain tensors and numbers only; loaded with weights_only=True)
    predictions_{last,best}.safetensors   per test sample: label, prediction, probabilities, loss

Every write goes to a temporary file that replaces the old one (`os.replace`), so a crash at any
moment leaves the previous good state. Nothing is ever unpickled with full pickle.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
import socket
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from core.config import ConfigError, RunConfig

STATUSES = ("queued", "running", "completed", "stopped", "failed", "interrupted")
ACTIVE = ("queued", "running")
METRIC_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_seconds",
                  "elapsed_seconds")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class RunError(Exception):
    """A store operation that cannot be done; the message says why and what to do."""


def default_root() -> Path:
    return Path(os.environ.get("CNN_STUDIO_CHECKPOINTS") or Path(__file__).resolve().parents[1] / "checkpoints")


# ---- atomic writes -----------------------------------------------------------------------

def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, data) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str))


# ---- names -------------------------------------------------------------------------------

def check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id) or ".." in run_id:
        raise RunError(f"{run_id!r} is not a valid run id (letters, digits, '.', '_' and '-' only)")
    return run_id


def clean_name(name: str) -> str:
    """A display name: printable, one line, at most 80 characters; refuses path-like names."""
    name = " ".join(str(name).split())
    if not name:
        raise RunError("a run name cannot be empty")
    if len(name) > 80:
        raise RunError(f"a run name can have at most 80 characters, got {len(name)}")
    if any(ch in name for ch in "/\\") or name in (".", ".."):
        raise RunError("a run name cannot contain '/' or '\\' or be '.' or '..'")
    if any(not ch.isprintable() for ch in name):
        raise RunError("a run name cannot contain control characters")
    return name


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:40] or "run"


# ---- records -------------------------------------------------------------------------------

@dataclass
class RunRecord:
    """What listing a run reads: config, status and metrics, never weights."""
    run_id: str
    path: Path
    status: dict = field(default_factory=dict)
    config: RunConfig | None = None
    metrics: list = field(default_factory=list)
    damaged: str = ""      # reason, when the folder cannot be read as a run

    @property
    def name(self) -> str:
        return self.status.get("name") or self.run_id

    @property
    def state(self) -> str:
        return "damaged" if self.damaged else self.status.get("status", "unknown")


class RunStore:
    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root else default_root()
        self.root.mkdir(parents=True, exist_ok=True)
        # run id -> (signature of its listing files, RunRecord): pages list every run on each
        # rerun, and re-reading 3 files x 200 runs each time made the Runs page slow. The lock:
        # page threads and the training thread share one store.
        self._records: dict[str, tuple[tuple, RunRecord]] = {}
        self._records_lock = threading.Lock()

    # -- paths --
    def path(self, run_id: str) -> Path:
        return self.root / check_run_id(run_id)

    def exists(self, run_id: str) -> bool:
        return self.path(run_id).is_dir()

    # -- create --
    def create(self, cfg: RunConfig, *, status: str = "queued") -> str:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = f"{stamp}-{_slug(cfg.dataset.replace(':', '-'))}-{_slug(cfg.arch)}"
        for i in range(1000):
            run_id = base if i == 0 else f"{base}-{i + 1}"
            try:
                self.path(run_id).mkdir(parents=True)
                break
            except FileExistsError:
                continue
        else:
            raise RunError("could not find a free run id")
        atomic_write_text(self.path(run_id) / "config.json", cfg.to_json())
        now = time.time()
        self.write_status(run_id, status=status, name=cfg.name or run_id, message="",
                          created_at=now, epochs=cfg.epochs, epochs_done=0, **owner_fields())
        return run_id

    # -- status --
    def read_status(self, run_id: str) -> dict:
        return _read_json(self.path(run_id) / "status.json")

    def write_status(self, run_id: str, **changes) -> dict:
        path = self.path(run_id) / "status.json"
        current = _read_json(path) if path.exists() else {"run_id": run_id}
        if "status" in changes and changes["status"] not in STATUSES:
            raise ValueError(f"unknown status {changes['status']!r}")
        current.update(changes, updated_at=time.time())
        atomic_write_json(path, current)
        return current

    # -- config / metrics --
    def read_config(self, run_id: str) -> RunConfig:
        return RunConfig.from_dict(_read_json(self.path(run_id) / "config.json"), strict=False)

    def write_metrics(self, run_id: str, rows: list[dict]) -> None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.path(run_id) / "metrics.csv", buf.getvalue())

    def read_metrics(self, run_id: str) -> list[dict]:
        path = self.path(run_id) / "metrics.csv"
        if not path.exists():
            return []
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        out = []
        for r in rows:
            out.append({k: (int(v) if k == "epoch" else float(v)) for k, v in r.items() if k in METRIC_COLUMNS})
        return out

    def write_json(self, run_id: str, name: str, data) -> None:
        atomic_write_json(self.path(run_id) / name, data)

    def read_json(self, run_id: str, name: str):
        return _read_json(self.path(run_id) / name)

    # -- listing --
    def record(self, run_id: str) -> RunRecord:
        """Config, status and metrics of a run, re-read only when one of those files changed.

        The record may be shared with earlier callers: treat it as read-only.
        """
        path = self.path(run_id)
        signature = _signature(path)  # taken before reading: a write in between shows as a change next time
        with self._records_lock:
            cached = self._records.get(run_id)
        if cached is not None and cached[0] == signature:
            return cached[1]
        rec = self._read_record(run_id, path)
        with self._records_lock:
            self._records[run_id] = (signature, rec)
        return rec

    def _read_record(self, run_id: str, path: Path) -> RunRecord:
        rec = RunRecord(run_id, path)
        try:
            rec.status = self.read_status(run_id)
            rec.config = self.read_config(run_id)
            rec.metrics = self.read_metrics(run_id)
        except FileNotFoundError as exc:
            rec.damaged = f"missing {Path(exc.filename).name}"
        except (ValueError, KeyError, TypeError, ConfigError) as exc:
            rec.damaged = f"unreadable: {exc}"
        except OSError as exc:
            rec.damaged = f"cannot be read: {exc.strerror or exc}"
        return rec

    def list(self) -> list[RunRecord]:
        """All runs, newest first. Damaged folders are listed with their reason, never raised."""
        records = []
        for entry in self.root.iterdir():
            if entry.is_dir() and not entry.name.startswith(".") and _RUN_ID.match(entry.name):
                records.append(self.record(entry.name))
        records.sort(key=lambda r: (r.status.get("created_at") or 0, r.run_id), reverse=True)
        listed = {r.run_id for r in records}
        with self._records_lock:  # forget deleted runs
            for gone in self._records.keys() - listed:
                del self._records[gone]
        return records

    # -- housekeeping --
    def rename(self, run_id: str, name: str) -> None:
        self._refuse_if_active(run_id, "rename", ("running",))
        self.write_status(run_id, name=clean_name(name))

    def delete(self, run_id: str) -> None:
        self._refuse_if_active(run_id, "delete")
        shutil.rmtree(self.path(run_id))

    def _refuse_if_active(self, run_id: str, verb: str, states=ACTIVE) -> None:
        if not self.exists(run_id):
            raise RunError(f"run {run_id} does not exist")
        status = self.record(run_id).status
        if status.get("status") in states and _owner_alive(status):
            status = status.get("status")
            raise RunError(f"run {run_id} is {status}; stop it (or remove it from the queue) before you {verb} it")

    def export_zip(self, run_id: str) -> bytes:
        """The run folder as a zip (config, metrics, status, weights, predictions)."""
        path = self.path(run_id)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(path.iterdir()):
                if f.is_file() and not f.name.startswith("."):
                    zf.write(f, f"{run_id}/{f.name}")
        return buf.getvalue()

    def mark_interrupted(self) -> list[str]:
        """Runs whose status says queued/running but whose process is gone become interrupted."""
        changed = []
        for rec in self.list():
            if rec.damaged or rec.status.get("status") not in ACTIVE:
                continue
            if not _owner_alive(rec.status):
                was = rec.status.get("status")
                msg = ("the process training it ended without finishing (crash, kill or restart); "
                       "resume continues from the last completed epoch") if was == "running" else \
                      "the server restarted before this queued run started; resume starts it"
                self.write_status(rec.run_id, status="interrupted", message=msg)
                changed.append(rec.run_id)
        return changed


LISTING_FILES = ("status.json", "config.json", "metrics.csv")


def _signature(folder: Path) -> tuple:
    """Identity of the files `record` reads. Every write replaces a file (new inode, new times);
    the change time also catches edits in place and permission changes."""
    out, base = [], os.fspath(folder)
    for name in LISTING_FILES:
        try:
            st = os.stat(os.path.join(base, name))  # plain strings: pathlib's joins cost more than the stat
        except OSError:
            out.append(None)
        else:
            out.append((st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(out)


def _read_json(path: Path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _owner_alive(status: dict) -> bool:
    """Is the process that owns this run (pid + host in status.json) still running?"""
    pid, host = status.get("pid"), status.get("host")
    if not pid:
        return False
    if host and host != socket.gethostname():
        return True  # owned by another machine sharing this folder: we cannot tell, assume alive
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, ValueError):
        return False
    return not _exited(int(pid)) and _same_process(int(pid), status.get("pid_started"))


def _exited(pid: int) -> bool:
    """A killed process whose parent has not reaped it yet (a zombie) still answers kill(pid, 0)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return False


def _same_process(pid: int, started: float | None) -> bool:
    """Guard against pid reuse: compare the process start time recorded at launch."""
    if started is None:
        return True
    now = process_start_time(pid)
    return now is None or abs(now - started) < 2.0


def process_start_time(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as fh:
            boot = next(float(l.split()[1]) for l in fh if l.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, StopIteration, IndexError):
        return None


def owner_fields() -> dict:
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "pid_started": process_start_time(pid)}
