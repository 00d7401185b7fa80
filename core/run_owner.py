"""Who is training a run: an exclusive lock on the run folder's `.owner` file.

A process that queues or trains a run holds `flock(LOCK_EX)` on that file for as long as it does.
The kernel drops the lock the moment the process exits — a crash, a kill -9, a restart — so any
reader (the dashboard, `python -m core runs`, another process resuming) can tell at once whether
a run that status.json calls "running" still has an owner, with no heartbeat and no pid guessing.
flock locks belong to one open file, so a probe from the owning process itself also sees the
lock held. Runs written before this file existed fall back to the pid recorded in status.json.

Hand-over (a run queued by one process and trained by another, e.g. a Ray worker): the trainer
first locks `.handover` — "I am here and waiting" — then waits for `.owner`; the queuing process
sees the request (`handover_requested`) and releases `.owner`; the trainer takes it and drops
`.handover`. Readers count either lock as an owner, so the run never reads as ownerless between.
On a cluster this needs a file system whose flock works across machines (see README).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from pathlib import Path

OWNER_FILE = ".owner"
HANDOVER_FILE = ".handover"
STATUS_LOCK = ".status.lock"


class Lease:
    """Held ownership of one run; `release()` (or process exit) gives it up."""

    def __init__(self, fd: int, path: Path):
        self._fd, self.path = fd, path

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def claim(folder: Path, *, wait: float = 1.0, name: str = OWNER_FILE) -> Lease | None:
    """Take ownership of the run in `folder`; None when another holder has it. Retries briefly,
    since a reader's probe holds a shared lock for a few microseconds."""
    path = Path(folder) / name
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    end = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return Lease(fd, path)
        except BlockingIOError:
            if time.monotonic() >= end:
                os.close(fd)
                return None
            time.sleep(0.01)
        except OSError:
            os.close(fd)
            raise


def held(folder: Path) -> bool | None:
    """True while some process holds the run's lease (or is taking it over), False when none does,
    None when the run has no owner file (made before leases existed, or by hand)."""
    owner = _locked(Path(folder) / OWNER_FILE)
    if owner is not False:
        return owner
    # free .owner: a dead owner, or the gap of a hand-over, during which .handover is locked. Look
    # at .owner once more: a hand-over that completed between the two looks left it locked again.
    return bool(_locked(Path(folder) / HANDOVER_FILE) or _locked(Path(folder) / OWNER_FILE))


def handover_requested(folder: Path) -> bool:
    """Is another process waiting to take this run over (holding `.handover`)?"""
    return bool(_locked(Path(folder) / HANDOVER_FILE))


def take_over(folder: Path, *, wait: float) -> Lease | None:
    """Take ownership from the process that queued the run, once it lets go (see the module
    docstring); None when it has not within `wait` seconds."""
    request = claim(folder, wait=wait, name=HANDOVER_FILE)
    if request is None:
        return None  # another taker is already waiting
    with request:
        return claim(folder, wait=wait)


def _locked(path: Path) -> bool | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError:
        return True  # cannot look: do not call a run dead on a permission problem
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return True
    finally:
        os.close(fd)  # also drops the shared lock if it was taken
    return False


@contextlib.contextmanager
def status_lock(folder: Path):
    """Serialise read-modify-write of status.json between threads and processes."""
    fd = os.open(Path(folder) / STATUS_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# ---- the fallback for runs without an owner file --------------------------------------------

def pid_alive(pid, host, started) -> bool:
    """Is the process recorded in status.json (pid + host + start time) still running?"""
    if not pid:
        return False
    if host and host != socket.gethostname():
        return True  # another machine sharing this folder: we cannot tell, assume alive
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, ValueError, OverflowError):
        return False
    return not _exited(int(pid)) and _same_process(int(pid), started)


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
            boot = next(float(line.split()[1]) for line in fh if line.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, StopIteration, IndexError):
        return None


def owner_fields() -> dict:
    """Recorded in status.json for people and for the fallback above."""
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "pid_started": process_start_time(pid)}
