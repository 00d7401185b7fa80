"""What the registry knows without loading anything: dataset facts, availability, errors.

Nothing here imports PyTorch, so the dashboard's first page can list datasets and their state
before torch (2–3 s to import, far longer from a cold disk) has loaded.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

Progress = Callable[[float, str], None] | None

DIGIT_DATASETS = ("mnist", "mnist_sample")


class DatasetError(Exception):
    """A dataset problem a person can fix; the message says how."""


@dataclass
class DatasetInfo:
    name: str
    title: str
    description: str
    channels: int
    size: tuple[int, int]  # (H, W)
    num_classes: int
    kind: str  # "torchvision" | "bundled" | "folder"
    digits: bool = False


@dataclass
class SourceStatus:
    state: str  # "present" | "bundled" | "debian" | "can_download" | "missing"
    detail: str
    fix: str = ""

    @property
    def ready(self) -> bool:
        """True when `load` will work without a download."""
        return self.state in ("present", "bundled", "debian")


def show(path: Path) -> str:
    """A path as people should read it: relative to the repo when inside it."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def report(progress: Progress, fraction: float, message: str) -> None:
    if progress is not None:
        progress(min(max(float(fraction), 0.0), 1.0), message)
