"""torchvision datasets on disk: where their files live, loading, unpacking, downloading.

torch and torchvision are imported inside the functions that read data: they cost 2–4 s, the
file checks in `status` need neither, and `mnist_sample` never needs torchvision.
"""
from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .info import DatasetError, Progress, SourceStatus, report, show

if TYPE_CHECKING:
    from .base import Split

# Debian's `dataset-fashion-mnist` package; a module constant so tests can point it elsewhere.
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

IDX_FILES = (
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
)


@dataclass(frozen=True)
class Layout:
    cls_name: str  # torchvision.datasets class
    folder: str  # where torchvision reads the files, relative to the data dir
    files: tuple[str, ...]
    download_mb: int

    @property
    def is_idx(self) -> bool:
        return self.files == IDX_FILES


LAYOUTS = {
    "mnist": Layout("MNIST", "MNIST/raw", IDX_FILES, 11),
    "fashion_mnist": Layout("FashionMNIST", "FashionMNIST/raw", IDX_FILES, 30),
    "kmnist": Layout("KMNIST", "KMNIST/raw", IDX_FILES, 20),
    "cifar10": Layout(
        "CIFAR10", "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta"), 163,
    ),
    "cifar100": Layout("CIFAR100", "cifar-100-python", ("train", "test", "meta"), 161),
}


def _missing(folder: Path, files) -> list[str]:
    return [f for f in files if not (folder / f).is_file()]


def _gz_source(name: str, folder: Path) -> Path | None:
    """A folder holding all IDX files gzipped, as published: the raw folder itself or Debian's."""
    if not LAYOUTS[name].is_idx:
        return None
    candidates = [folder] + ([DEBIAN_FASHION_DIR] if name == "fashion_mnist" else [])
    for place in candidates:
        if not _missing(place, [f + ".gz" for f in IDX_FILES]):
            return place
    return None


def offline_text(name: str, root: Path) -> str:
    layout = LAYOUTS[name]
    return (
        f"Offline: put the files {', '.join(layout.files)} into {(Path(root) / layout.folder).resolve()}/ "
        "(torchvision's layout). The dataset `mnist_sample` (5,000 real MNIST digits) works offline."
    )


def fix_text(name: str, root: Path) -> str:
    return (
        f"Click Download on the Data page or run `python -m core download {name}` "
        f"(about {LAYOUTS[name].download_mb} MB). {offline_text(name, root)}"
    )


def status(name: str, root: Path) -> SourceStatus:
    layout = LAYOUTS[name]
    folder = Path(root) / layout.folder
    missing = _missing(folder, layout.files)
    if not missing:
        return SourceStatus("present", f"Found in {show(folder)} (torchvision layout).")
    gz = _gz_source(name, folder)
    if gz is not None and gz == folder:
        return SourceStatus("present", f"Found compressed files in {show(folder)}; they are unpacked on first load.")
    if gz is not None:
        return SourceStatus(
            "debian", f"Found Debian's copy in {gz} (package dataset-fashion-mnist); "
            f"it is unpacked into {show(folder)} on first load.",
        )
    if len(missing) < len(layout.files):
        detail = f"{show(folder)} is incomplete: missing {', '.join(missing)}."
    else:
        detail = f"Not downloaded yet: nothing in {show(folder)}."
    return SourceStatus("can_download", detail, fix_text(name, root))


# ---- unpacking ------------------------------------------------------------------------

def unpack_gz(name: str, source: Path, folder: Path, progress: Progress = None) -> None:
    """Gunzip the IDX files into `folder`, each through a temp file so a crash leaves no half file."""
    folder.mkdir(parents=True, exist_ok=True)
    todo = _missing(folder, IDX_FILES)
    for i, file in enumerate(todo):
        report(progress, i / (len(todo) + 1), f"Unpacking {file}.gz")
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{file}.", suffix=".part")
        try:
            with gzip.open(source / f"{file}.gz", "rb") as src, os.fdopen(fd, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            os.replace(tmp, folder / file)
        except (OSError, EOFError) as exc:
            Path(tmp).unlink(missing_ok=True)
            remedy = (
                "reinstall the package (`apt-get install --reinstall dataset-fashion-mnist`)"
                if source == DEBIAN_FASHION_DIR else "delete the damaged file"
            )
            raise DatasetError(
                f"Could not unpack {source / (file + '.gz')}: {exc}. Either {remedy} or download the "
                f"dataset again with `python -m core download {name}`. {offline_text(name, folder.parents[1])}"
            ) from exc


# ---- loading --------------------------------------------------------------------------

def load(name: str, root: Path, progress: Progress = None) -> tuple[list[str], Split, Split, str]:
    """(classes, train, test, source text) read by torchvision's own dataset class."""
    layout = LAYOUTS[name]
    root = Path(root)
    folder = root / layout.folder
    state = status(name, root)
    if not state.ready:
        raise DatasetError(f"{name} is not available: {state.detail} {state.fix}")
    source = f"{show(folder.parent if layout.is_idx else folder)} (torchvision layout)"
    if _missing(folder, layout.files):
        gz = _gz_source(name, folder)
        unpack_gz(name, gz, folder, lambda f, m: report(progress, 0.5 * f, m))
        if gz != folder:
            source += f", unpacked from {gz}"
    import torchvision.datasets as tvd

    cls = getattr(tvd, layout.cls_name)
    splits = []
    for i, train in enumerate((True, False)):
        report(progress, 0.5 + 0.25 * i, f"Reading the {'train' if train else 'test'} split from {show(folder)}")
        try:
            ds = cls(str(root), train=train, download=False)
        except Exception as exc:  # torchvision raises RuntimeError, AssertionError, ValueError…
            raise DatasetError(
                f"The {name} files in {folder.resolve()} could not be read ({exc}). They are "
                f"probably incomplete or damaged: delete that folder and download again with "
                f"`python -m core download {name}`, or use `mnist_sample`, which works offline."
            ) from exc
        splits.append(_to_split(ds))
        classes = [str(c) for c in ds.classes]
    if name == "mnist":
        classes = [str(d) for d in range(10)]  # torchvision says "0 - zero"
    return classes, splits[0], splits[1], source


def _to_split(ds) -> Split:
    import torch

    from .base import Split

    data = ds.data
    if isinstance(data, torch.Tensor):  # MNIST family: uint8 [N, H, W]
        images = data.unsqueeze(1)
    else:  # CIFAR: numpy uint8 [N, H, W, C]
        images = torch.from_numpy(data).permute(0, 3, 1, 2)
    labels = torch.as_tensor(ds.targets, dtype=torch.int64)
    return Split(images.contiguous(), labels)


# ---- downloading ----------------------------------------------------------------------

def download(name: str, root: Path, progress: Progress = None) -> None:
    """Download with torchvision into a temp folder inside `root`, then move the files into place.

    A failed or interrupted download only ever leaves the hidden temp folder (removed here),
    so `status` can never see half a dataset as present.
    """
    layout = LAYOUTS[name]
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=f".download-{name}-"))
    try:
        try:
            _fetch(layout, staging, progress)
        except Exception as exc:
            raise DatasetError(
                f"Downloading {name} failed ({_first_line(exc)}). Check the internet connection "
                f"and try again. {offline_text(name, root)}"
            ) from exc
        fetched = staging / layout.folder
        missing = _missing(fetched, layout.files)
        if missing:
            raise DatasetError(f"The {name} download did not contain {', '.join(missing)}. {offline_text(name, root)}")
        _move_into_place(fetched, root / layout.folder, layout.files)
        report(progress, 1.0, f"{name} is ready in {show(root / layout.folder)}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _fetch(layout: Layout, staging: Path, progress: Progress) -> None:
    import torchvision.datasets as tvd
    from torchvision.datasets import utils as tv_utils

    cls = getattr(tvd, layout.cls_name)
    if not layout.is_idx:  # CIFAR: one archive; torchvision checks its md5 and extracts it
        report(progress, 0.0, f"Downloading {cls.filename} (about {layout.download_mb} MB)")
        cls(str(staging), train=True, download=True)
        return
    # Same mirrors, files and md5s as MNIST.download(), one file at a time for progress.
    raw = staging / layout.folder
    for i, (filename, md5) in enumerate(cls.resources):
        report(progress, i / len(cls.resources), f"Downloading {filename}")
        errors = []
        for mirror in cls.mirrors:
            try:
                tv_utils.download_and_extract_archive(
                    f"{mirror}{filename}", download_root=str(raw), filename=filename, md5=md5,
                )
                break
            except Exception as exc:
                errors.append(f"{mirror}: {_first_line(exc)}")
        else:
            raise RuntimeError(f"{filename}: " + "; ".join(errors))


def _move_into_place(fetched: Path, target: Path, files) -> None:
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(fetched, target)
        return
    for f in files:  # some files were already there (e.g. copied by hand)
        os.replace(fetched / f, target / f)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
