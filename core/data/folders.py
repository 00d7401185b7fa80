"""Imported image-folder datasets on disk: `DATA_DIR/folders/<name>/`.

Each holds `train.safetensors` and `test.safetensors` (uint8 images, int64 labels; safetensors
so that loading never unpickles anything) and `meta.json` (classes, size, counts, skipped files).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .info import DatasetError, DatasetInfo, SourceStatus, show

if TYPE_CHECKING:
    from .base import Split

# torch and safetensors are imported inside `store` and `load_folder`: listing folders and their
# status must work before torch has loaded (the dashboard's first page).

FOLDERS = "folders"
NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise DatasetError(
            f"Invalid dataset name {name!r}: use 1–64 letters, digits, '-' or '_' (no spaces or dots)."
        )
    return name


def folder_path(root: Path, name: str) -> Path:
    return Path(root) / FOLDERS / check_name(name)


def list_folders(root: Path) -> list[str]:
    base = Path(root) / FOLDERS
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if NAME_RE.fullmatch(p.name) and (p / "meta.json").is_file())


def store(root: Path, name: str, train: Split, test: Split, meta: dict, overwrite: bool) -> None:
    """Write into a hidden staging folder, then rename: a crash never leaves a half dataset."""
    from safetensors.torch import save_file

    base = root / FOLDERS
    base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=base, prefix=f".import-{name}-"))
    try:
        for split_name, split in (("train", train), ("test", test)):
            tensors = {"images": split.images.contiguous(), "labels": split.labels.contiguous()}
            save_file(tensors, str(staging / f"{split_name}.safetensors"))
        (staging / "meta.json").write_text(json.dumps(meta, indent=2))
        target = base / name
        if target.exists():
            if not overwrite:
                raise DatasetError(f"A dataset named {name!r} already exists in {show(target)}; choose another name.")
            old = Path(tempfile.mkdtemp(dir=base, prefix=f".old-{name}-"))
            os.replace(target, old / name)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ---- reading back ------------------------------------------------------------------------

def read_meta(root: Path, name: str) -> dict:
    path = folder_path(root, name) / "meta.json"
    if not path.is_file():
        raise DatasetError(
            f"No imported dataset named {name!r} in {show(path.parent.parent)}. Import a folder or .zip of "
            "class sub-folders on the Data page, or use `mnist_sample`, which works offline."
        )
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path} is damaged ({exc}); delete {path.parent} and import the images again.") from exc


def folder_info(root: Path, name: str) -> DatasetInfo:
    meta = read_meta(root, name)
    c, (h, w) = meta["channels"], meta["size"]
    counts = meta["counts"]
    return DatasetInfo(
        f"folder:{name}", name,
        f"Imported images: {len(meta['classes'])} classes, {counts['train']} train / {counts['test']} test, "
        f"{h}×{w} {'grayscale' if c == 1 else 'RGB'} (from {meta.get('source', '?')}).",
        c, (h, w), len(meta["classes"]), "folder", False,
    )


def folder_status(root: Path, name: str) -> SourceStatus:
    folder = folder_path(root, name)
    if all((folder / f).is_file() for f in ("meta.json", "train.safetensors", "test.safetensors")):
        return SourceStatus("present", f"Imported image folder in {show(folder)}.")
    return SourceStatus(
        "missing", f"No imported dataset named {name!r} in {show(folder.parent)}.",
        "Import a folder or .zip with one sub-folder of images per class on the Data page; "
        "`mnist_sample` works offline.",
    )


def load_folder(root: Path, name: str) -> tuple[list[str], Split, Split, str]:
    import torch
    from safetensors.torch import load_file

    from .base import Split

    meta = read_meta(root, name)
    folder = folder_path(root, name)
    splits = []
    for split_name in ("train", "test"):
        try:
            tensors = load_file(str(folder / f"{split_name}.safetensors"))
            splits.append(Split(tensors["images"], tensors["labels"].to(torch.int64)))
        except Exception as exc:
            raise DatasetError(
                f"{folder / split_name}.safetensors is missing or damaged ({exc}); import the images again."
            ) from exc
    return list(meta["classes"]), splits[0], splits[1], f"{show(folder)} (imported image folder)"
