"""Import a directory, .zip file or uploaded .zip bytes of images as a dataset.

`preview` plans the import from member names and a few headers (core/data/layout.py decides the
layout: class folders or train/test split folders); `import_image_folder` decodes and stores it.

Zips are read member by member into memory, never extracted, so nothing can be written outside
the data dir whatever the archive contains; every member name is checked before any is read.
"""
from __future__ import annotations

import io
import os
import re
import stat
import time
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from ..images import FORMATS, ImageInputError, open_image
from .base import Split, holdout, shuffled
from .info import DatasetError, Progress, report, show
from .layout import TEST, ImportPlan, plan_import
from .folders import check_name, folder_path, store

# At least 250,000 small images (issue #12), with room for the folder entries and stray files a
# zip of that many holds; each is decoded alone, bounded by core/images.py (pixels declared,
# decode budget), and only the resized tensors are kept. CIFAR-10 is 60,000.
MAX_FILES = 300_000
MAX_FILE_BYTES = 64 << 20  # one image file; a folder can hold anything, a zip declares its sizes
# uncompressed: files are read one at a time, so this bounds time, not memory (250,000 photos
# of ~16 KB); MAX_RATIO still refuses bombs
MAX_TOTAL_BYTES = 4 << 30
MAX_RATIO = 100  # whole-archive uncompressed : compressed
RATIO_MIN_BYTES = 10 << 20  # small archives of flat images may legitimately compress well
# PPM/PGM too: some classic datasets (e.g. AT&T faces) ship as .pgm
IMPORT_FORMATS = FORMATS + ("PPM",)
MAX_STORED_BYTES = 2 << 30  # decoded tensors kept in memory
DEFAULT_SIZE, MIN_SIZE, MAX_SIZE = 28, 4, 512
REPORT_EVERY = 256  # images between progress reports and checks of the stop flag
HEADER_SAMPLE = 32  # files whose headers decide the suggested size and colour
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


class ImportCancelled(DatasetError):
    """The import was stopped before anything was written."""


@dataclass
class ImportReport:
    name: str
    classes: list[str]
    train_count: int
    test_count: int
    per_class: dict[str, int]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    path: Path | None = None
    plan: ImportPlan | None = None  # what was planned: layout, notes, files skipped by name
    per_split: dict[str, dict[str, int]] = field(default_factory=dict)  # "train"/"test" -> class -> images

    @property
    def dataset(self) -> str:
        """The name to train on (`RunConfig.dataset`)."""
        return f"folder:{self.name}"


# ---- reading the source ---------------------------------------------------------------

Entry = tuple[tuple[str, ...], Callable[[], bytes]]  # (path parts, read the bytes)


def _zip_entries(zf: zipfile.ZipFile) -> tuple[list[Entry], set[tuple[str, ...]]]:
    infos = zf.infolist()
    if len(infos) > MAX_FILES:
        raise DatasetError(
            f"The archive holds {len(infos):,} entries; the limit is {MAX_FILES:,}. Import fewer images."
        )
    for info in infos:
        name = info.filename.replace("\\", "/")
        if name.startswith("/") or re.match(r"[A-Za-z]:", name) or ".." in name.split("/"):
            raise DatasetError(f"Refusing the archive: member {info.filename!r} points outside the archive.")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise DatasetError(f"Refusing the archive: member {info.filename!r} is a symbolic link.")
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    if total > MAX_TOTAL_BYTES:
        raise DatasetError(
            f"The archive unpacks to {_mib(total)}; the limit is {_mib(MAX_TOTAL_BYTES)}. Import fewer images."
        )
    if total > RATIO_MIN_BYTES and total > MAX_RATIO * max(packed, 1):
        raise DatasetError(
            f"Refusing the archive: it expands {total / max(packed, 1):.0f}× (limit {MAX_RATIO}×), "
            "which is how zip bombs look. Zip real image files instead."
        )
    files, dirs = [], set()
    for info in infos:
        parts = tuple(p for p in info.filename.replace("\\", "/").split("/") if p not in ("", "."))
        if info.is_dir():
            dirs.add(parts)
        elif parts:
            # CPython stops each member at its declared size, so the checks above bound memory.
            files.append((parts, lambda info=info: _read_member(zf, info)))
    return files, dirs


def _dir_entries(root: Path) -> tuple[list[Entry], set[tuple[str, ...]]]:
    files, dirs, total = [], set(), 0
    for here, subdirs, names in os.walk(root):
        rel = Path(here).relative_to(root).parts
        dirs.update(rel + (d,) for d in subdirs)
        for n in names:
            path = Path(here) / n
            files.append((rel + (n,), lambda path=path: _read_file(path)))
            total += path.stat().st_size if path.is_file() else 0
        if len(files) > MAX_FILES:
            raise DatasetError(f"{root} holds more than {MAX_FILES:,} files; import fewer images.")
        if total > MAX_TOTAL_BYTES:
            raise DatasetError(
                f"{root} holds more than {_mib(MAX_TOTAL_BYTES)} of files (the limit); import fewer images."
            )
    return files, dirs


def _too_big(size: int) -> ImageInputError:
    return ImageInputError(f"the file is {_mib(size)}; the limit for one image is {_mib(MAX_FILE_BYTES)}")


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    if info.file_size > MAX_FILE_BYTES:
        raise _too_big(info.file_size)
    return zf.read(info)


def _read_file(path: Path) -> bytes:
    """A regular file's bytes; a device, pipe or socket (even behind a symlink) is never opened."""
    st = path.stat()  # follows symlinks: what a read would reach
    if not stat.S_ISREG(st.st_mode):
        raise ImageInputError("not a regular file (a device, pipe or socket), so it was not read")
    with open(path, "rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)  # the file may have grown since the walk
    if len(data) > MAX_FILE_BYTES:
        raise _too_big(max(st.st_size, len(data)))
    return data


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


# ---- decoding -------------------------------------------------------------------------

def _decode(data: bytes, size: tuple[int, int], grayscale: bool) -> np.ndarray:
    h, w = size
    mode = "L" if grayscale else "RGB"
    # bounded decode, already shrunk towards (w, h) and upright; raises ImageInputError
    img = open_image(data, fit=(w, h), mode=mode, formats=IMPORT_FORMATS)
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")  # transparent background -> white, not black
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    img = img.convert(mode).resize((w, h), Image.Resampling.LANCZOS, reducing_gap=3.0)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if grayscale else arr.transpose(2, 0, 1)


def _skip_reason(exc: Exception) -> str:
    if isinstance(exc, ImageInputError):  # its message already says what is wrong and what to do
        return str(exc)
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"damaged or unsupported image ({text})"


@contextmanager
def _opened(source) -> Iterator[tuple[list[Entry], set, str]]:
    """(files, folders, where from) of a folder, .zip path, .zip bytes or uploaded file object."""
    if hasattr(source, "read") and not isinstance(source, (str, os.PathLike)):
        source = source.read()  # an uploaded file object
    zf = None
    try:
        if isinstance(source, (bytes, bytearray, memoryview)):
            zf = zipfile.ZipFile(io.BytesIO(bytes(source)))
            entries = (*_zip_entries(zf), "uploaded .zip")
        else:
            path = Path(source).expanduser()
            if path.is_dir():
                entries = (*_dir_entries(path), str(path))
            elif path.is_file() and zipfile.is_zipfile(path):
                zf = zipfile.ZipFile(path)
                entries = (*_zip_entries(zf), str(path))
            else:
                raise DatasetError(
                    f"{source} is neither a folder nor a .zip file. Give a folder (or .zip) with one sub-folder of "
                    "images per class, or train/ and test/ folders of class sub-folders."
                )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError) as exc:
        if zf is not None:
            zf.close()
        raise DatasetError(f"Could not read the archive: {exc}. Upload a valid .zip of class sub-folders.") from exc
    try:
        yield entries
    finally:
        if zf is not None:
            zf.close()


def _plan(files: list[Entry], dirs: set, origin: str, headers: bool) -> ImportPlan:
    plan = plan_import([p for p, _ in files], dirs, source=origin)
    return _sample_headers(plan, files) if headers else plan


def _sample_headers(plan: ImportPlan, files: list[Entry], k: int = HEADER_SAMPLE) -> ImportPlan:
    """The size every sampled image shares (else None) and whether any is colour, from headers:
    Image.open parses the header only, so this costs a file read each, not a decode."""
    step = max(1, len(plan.members) // k)
    sizes, colour = set(), False
    for m in plan.members[::step][:k]:
        try:
            with Image.open(io.BytesIO(files[m.index][1]())) as img:
                sizes.add(img.size)
                colour = colour or img.mode not in GRAY_MODES
        except Exception:  # a damaged file is skipped (and reported) when decoding; a sample just omits it
            continue
    plan.image_size = next(iter(sizes)) if len(sizes) == 1 else None
    plan.colour = colour if sizes else None  # None: no header could be read
    return plan


def preview(source) -> ImportPlan:
    """What importing `source` would do, before anything is decoded or written (see core/data/layout.py).
    Raises DatasetError, saying what to change, for a source or layout that cannot be imported."""
    with _opened(source) as (files, dirs, origin):
        return _plan(files, dirs, origin, headers=True)


def suggested_size(plan: ImportPlan, default: int = DEFAULT_SIZE) -> int:
    """The images' own size when they all share one square size (32 for CIFAR), else `default`."""
    if plan.image_size and plan.image_size[0] == plan.image_size[1]:
        return min(max(plan.image_size[0], MIN_SIZE), MAX_SIZE)
    return default


# ---- import ---------------------------------------------------------------------------

def import_image_folder(
    source, name: str, root: Path, image_size=None, grayscale: bool | None = None,
    test_share: float = 0.2, seed: int = 0, overwrite: bool = False, progress: Progress = None,
    stop: threading.Event | None = None,
) -> ImportReport:
    """Import as `folder:<name>`. `image_size` None: the images' own size when all share one square
    size, else DEFAULT_SIZE; `grayscale` None: RGB when the sampled images are colour. Split folders
    keep their own test set; class folders hold out `test_share` of each class. Setting `stop`
    (checked every REPORT_EVERY images) raises ImportCancelled; the dataset is written only at
    the end, through a staging folder, so a cancelled or crashed import leaves nothing behind."""
    target = check_target(name, root, overwrite)
    if image_size is not None:
        _check_size(image_size)
    if not 0 < test_share <= 0.9:
        raise DatasetError(f"The test share must be in (0, 0.9], got {test_share:g}.")
    with _opened(source) as (files, dirs, origin):
        plan = _plan(files, dirs, origin, headers=image_size is None or grayscale is None)
        size = _check_size(suggested_size(plan) if image_size is None else image_size)
        grayscale = (not plan.colour) if grayscale is None else grayscale
        split, splits, per_class, skipped = _read_images(files, plan, size, grayscale, progress, stop)
    if plan.has_test_split:
        n_train = int((splits == 0).sum())  # the plan puts train members first: views, not copies
        train = Split(split.images[:n_train], split.labels[:n_train])
        test = Split(split.images[n_train:], split.labels[n_train:])
        if len(test) == 0:
            raise DatasetError("None of the test split's images could be read; see the skipped files.")
    else:
        train, test = holdout(split, test_share, seed)
        if len(test) == 0:
            raise DatasetError("Too few images to hold out a test set: add images or raise the test share.")
    train, test = shuffled(train, seed), shuffled(test, seed + 1)
    per_split = {split_name: dict(zip(plan.classes, torch.bincount(part.labels, minlength=len(plan.classes)).tolist()))
                 for split_name, part in (("train", train), ("test", test))}
    meta = {
        "format": 1, "name": name, "classes": plan.classes, "size": list(size), "channels": 1 if grayscale else 3,
        "counts": {"train": len(train), "test": len(test), "per_class": per_class, "per_split": per_split},
        "skipped_count": len(skipped), "skipped": [list(s) for s in skipped[:1000]],
        "source": origin, "layout": plan.layout, "notes": plan.notes,
        "test_share": None if plan.has_test_split else test_share, "seed": seed,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    report(progress, 0.96, f"Writing {len(train) + len(test):,} images…")
    store(Path(root), name, train, test, meta, overwrite)
    report(progress, 1.0, f"Imported {len(train) + len(test)} images into {show(target)}")
    return ImportReport(name, plan.classes, len(train), len(test), per_class, skipped, target, plan, per_split)


def check_target(name: str, root: Path, overwrite: bool) -> Path:
    """Where `name` will be stored; DatasetError for a bad name or one taken (unless overwriting).
    Front ends call it before asking to confirm, so a confirmed import does not fail on the name."""
    target = folder_path(root, check_name(name))
    if target.exists() and not overwrite:
        raise DatasetError(
            f"A dataset named {name!r} already exists in {show(target)}; choose another name or overwrite it."
        )
    return target


def _speed(done: int, total: int, seconds: float) -> str:
    text = f"Reading images: {done:,} of {total:,}"
    if done == 0 or seconds <= 0:
        return text
    rate = done / seconds
    return f"{text}, {rate:,.0f} images/s, about {_duration((total - done) / rate)} left"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


def _check_size(image_size) -> tuple[int, int]:
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(int(s) for s in image_size)
    if len(size) != 2 or not all(MIN_SIZE <= s <= MAX_SIZE for s in size):
        raise DatasetError(
            f"Image size must be between {MIN_SIZE} and {MAX_SIZE} pixels per side, got {image_size!r}."
        )
    return size


def _read_images(files: list[Entry], plan: ImportPlan, size, grayscale, progress, stop=None):
    """Decode the plan's members into one preallocated uint8 array (no list of arrays to stack:
    CIFAR's 60,000 colour images would briefly need twice their 184 MB)."""
    channels = 1 if grayscale else 3
    n = len(plan.members)
    if n * channels * size[0] * size[1] > MAX_STORED_BYTES:
        raise DatasetError(
            f"{n:,} images at {size[0]}×{size[1]} would not fit in memory; choose a smaller image size."
        )
    images = np.empty((n, channels, *size), dtype=np.uint8)
    labels = np.empty(n, dtype=np.int64)
    splits = np.empty(n, dtype=np.int8)  # 0 train (or all), 1 test
    skipped, kept, started = list(plan.skipped), 0, time.perf_counter()
    for k, m in enumerate(plan.members):
        if k % REPORT_EVERY == 0:
            if stop is not None and stop.is_set():
                raise ImportCancelled("Import cancelled; nothing was written.")
            report(progress, 0.95 * k / n, _speed(k, n, time.perf_counter() - started))
        parts, read = files[m.index]
        try:
            images[kept] = _decode(read(), size, grayscale)
        except Exception as exc:  # any decoder failure means: skip this file, say why
            skipped.append(("/".join(parts), _skip_reason(exc)))
            continue
        labels[kept], splits[kept] = m.label, int(m.split == TEST)
        kept += 1
    if not kept:
        raise DatasetError(f"None of the {n} files could be read as an image (PNG, JPEG, BMP, GIF, …).")
    counts = np.bincount(labels[:kept], minlength=len(plan.classes))
    empty = [c for c, k in zip(plan.classes, counts) if k == 0]
    if empty:
        raise DatasetError(
            f"Class folder(s) {', '.join(empty)} hold no readable images; add images or remove the folder(s)."
        )
    split = Split(torch.from_numpy(images[:kept]), torch.from_numpy(labels[:kept]))
    return split, splits[:kept], {c: int(k) for c, k in zip(plan.classes, counts)}, skipped
