"""Import a directory, .zip file or uploaded .zip bytes of class sub-folders as a dataset.

Zips are read member by member into memory, never extracted, so nothing can be written outside
the data dir whatever the archive contains; every member name is checked before any is read.
"""
from __future__ import annotations

import io
import os
import re
import stat
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from ..images import FORMATS, ImageInputError, open_image
from .base import Split, holdout, shuffled
from .info import DatasetError, Progress, report, show
from .folders import check_name, folder_path, store

# 250,000 small images: CIFAR-10 (60,000) and the like fit; each is decoded alone, bounded by
# core/images.py (pixels declared, decode budget), and only the resized tensors are kept.
MAX_FILES = 250_000
MAX_FILE_BYTES = 64 << 20  # one image file; a folder can hold anything, a zip declares its sizes
MAX_TOTAL_BYTES = 1 << 30  # uncompressed
MAX_RATIO = 100  # whole-archive uncompressed : compressed
RATIO_MIN_BYTES = 10 << 20  # small archives of flat images may legitimately compress well
# PPM/PGM too: some classic datasets (e.g. AT&T faces) ship as .pgm
IMPORT_FORMATS = FORMATS + ("PPM",)
MAX_STORED_BYTES = 2 << 30  # decoded tensors kept in memory
JUNK = ("__MACOSX", "Thumbs.db", "desktop.ini")


@dataclass
class ImportReport:
    name: str
    classes: list[str]
    train_count: int
    test_count: int
    per_class: dict[str, int]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    path: Path | None = None

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


def _is_junk(parts: tuple[str, ...]) -> bool:
    return any(p.startswith(".") or p in JUNK for p in parts)


def _strip_top(files: list[Entry], dirs: set) -> tuple[list[Entry], set]:
    """Accept `wrapper/<class>/<image>`: drop a single top folder that holds the class folders."""
    while True:
        tops = {p[0] for p, _ in files} | {d[0] for d in dirs}
        deeper = any(len(p) >= 3 for p, _ in files) or any(len(d) >= 2 for d in dirs)
        if len(tops) != 1 or not deeper:
            return files, dirs
        files = [(p[1:], r) for p, r in files]
        dirs = {d[1:] for d in dirs if len(d) >= 2}


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


def _open_source(source) -> tuple[list[Entry], set, str, zipfile.ZipFile | None]:
    if hasattr(source, "read") and not isinstance(source, (str, os.PathLike)):
        source = source.read()  # an uploaded file object
    try:
        if isinstance(source, (bytes, bytearray, memoryview)):
            zf = zipfile.ZipFile(io.BytesIO(bytes(source)))
            return (*_zip_entries(zf), "uploaded .zip", zf)
        path = Path(source).expanduser()
        if path.is_dir():
            return (*_dir_entries(path), str(path), None)
        if path.is_file() and zipfile.is_zipfile(path):
            zf = zipfile.ZipFile(path)
            return (*_zip_entries(zf), str(path), zf)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError) as exc:
        raise DatasetError(f"Could not read the archive: {exc}. Upload a valid .zip of class sub-folders.") from exc
    raise DatasetError(
        f"{source} is neither a folder nor a .zip file. Give a folder (or .zip) with one sub-folder of images "
        "per class."
    )


# ---- import ---------------------------------------------------------------------------

def import_image_folder(
    source, name: str, root: Path, image_size=(28, 28), grayscale: bool = True,
    test_share: float = 0.2, seed: int = 0, overwrite: bool = False, progress: Progress = None,
) -> ImportReport:
    check_name(name)
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(int(s) for s in image_size)
    if len(size) != 2 or not all(4 <= s <= 512 for s in size):
        raise DatasetError(f"Image size must be between 4 and 512 pixels per side, got {image_size!r}.")
    if not 0 < test_share <= 0.9:
        raise DatasetError(f"The test share must be in (0, 0.9], got {test_share:g}.")
    target = folder_path(root, name)
    if target.exists() and not overwrite:
        raise DatasetError(
            f"A dataset named {name!r} already exists in {show(target)}; choose another name or overwrite it."
        )
    files, dirs, origin, zf = _open_source(source)
    try:
        split, classes, per_class, skipped = _read_images(files, dirs, size, grayscale, progress)
    finally:
        if zf is not None:
            zf.close()
    train, test = holdout(split, test_share, seed)
    if len(test) == 0:
        raise DatasetError("Too few images to hold out a test set: add images or raise the test share.")
    train, test = shuffled(train, seed), shuffled(test, seed + 1)
    meta = {
        "format": 1, "name": name, "classes": classes, "size": list(size), "channels": 1 if grayscale else 3,
        "counts": {"train": len(train), "test": len(test), "per_class": per_class},
        "skipped_count": len(skipped), "skipped": [list(s) for s in skipped[:1000]],
        "source": origin, "test_share": test_share, "seed": seed,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    store(Path(root), name, train, test, meta, overwrite)
    report(progress, 1.0, f"Imported {len(train) + len(test)} images into {show(target)}")
    return ImportReport(name, classes, len(train), len(test), per_class, skipped, target)


def _read_images(files, dirs, size, grayscale, progress):
    files = [(p, r) for p, r in files if not _is_junk(p)]
    dirs = {d for d in dirs if d and not _is_junk(d)}
    files, dirs = _strip_top(files, dirs)
    skipped = [("/".join(p), "not inside a class folder") for p, _ in files if len(p) < 2]
    files = sorted(((p, r) for p, r in files if len(p) >= 2), key=lambda e: e[0])
    classes = sorted({p[0] for p, _ in files} | {d[0] for d in dirs})
    if len(classes) < 2:
        raise DatasetError(
            f"Found {len(classes)} class folder(s) ({', '.join(classes) or 'none'}); need at least 2. "
            "Put the images in one sub-folder per class, e.g. cats/ and dogs/."
        )
    channels = 1 if grayscale else 3
    if len(files) * channels * size[0] * size[1] > MAX_STORED_BYTES:
        raise DatasetError(
            f"{len(files):,} images at {size[0]}×{size[1]} would not fit in memory; choose a smaller image size."
        )
    images, labels = [], []
    index = {c: i for i, c in enumerate(classes)}
    for n, (parts, read) in enumerate(files):
        if n % 64 == 0:
            report(progress, 0.95 * n / len(files), f"Reading images ({n}/{len(files)})")
        try:
            images.append(_decode(read(), size, grayscale))
            labels.append(index[parts[0]])
        except Exception as exc:  # any decoder failure means: skip this file, say why
            skipped.append(("/".join(parts), _skip_reason(exc)))
    counts = np.bincount(np.array(labels, dtype=np.int64), minlength=len(classes))
    if not images:
        raise DatasetError(f"None of the {len(files)} files could be read as an image (PNG, JPEG, BMP, GIF, …).")
    empty = [c for c, k in zip(classes, counts) if k == 0]
    if empty:
        raise DatasetError(
            f"Class folder(s) {', '.join(empty)} hold no readable images; add images or remove the folder(s)."
        )
    split = Split(torch.from_numpy(np.stack(images)), torch.tensor(labels, dtype=torch.int64))
    return split, classes, {c: int(k) for c, k in zip(classes, counts)}, skipped

