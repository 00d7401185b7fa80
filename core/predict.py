"""Classifying people's image files with a trained run: the CLI's `predict` and the Playground's
multi-upload table share this, so both show the same columns from the same preprocessing.

Each file goes through core.preprocess.image_to_input (the Playground's upload path: the run's
size and colour, auto-invert for gray models, MNIST-style centring for digit runs), then
core.inspect.predict_proba (the run's normalisation). A file that cannot be used becomes a
`Skipped` with the reason; it never stops the others.
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.images import ImageInputError
from core.inspect import predict_proba
from core.preprocess import MAX_UPLOAD_BYTES, SUPPORTED_UPLOAD_TYPES, image_to_input
from core.run_files import ModelMeta
from core.runs import RunError, RunStore

EXTENSIONS = frozenset("." + t for t in SUPPORTED_UPLOAD_TYPES)
COLUMNS = ("file", "predicted", "probability", "top3")
TOP = 3
BATCH = 256  # files decoded and classified at a time: memory stays flat for big folders


@dataclass(frozen=True)
class Skipped:
    file: str
    reason: str


@dataclass
class Found:
    files: list            # image files to classify, in a stable order
    skipped: list          # Skipped: named paths that are missing or unreadable
    ignored: int = 0       # files inside folders without an image extension


def require_run(store: RunStore, run_id: str) -> None:
    """RunError with the way out when `run_id` names no run in this store."""
    if not store.exists(run_id):
        raise RunError(f"there is no run {run_id!r} in {store.root}; `python -m core runs` lists the runs "
                       "(or pass --checkpoints FOLDER)")


# ---- finding files --------------------------------------------------------------------------

def find_images(paths) -> Found:
    """Files named directly are all tried (a wrong one is reported with why); folders are walked
    recursively for image extensions only, skipping hidden files and folders."""
    found = Found([], [])
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    if name.startswith("."):
                        continue
                    if Path(name).suffix.lower() in EXTENSIONS:
                        found.files.append(Path(root) / name)
                    else:
                        found.ignored += 1
        elif path.is_file():
            found.files.append(path)
        elif path.exists():
            found.skipped.append(Skipped(str(path), "not a regular file or folder"))
        else:
            found.skipped.append(Skipped(str(path), "no such file or folder"))
    return found


def _read(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_UPLOAD_BYTES:  # refuse before reading a huge file into memory
            raise ImageInputError(f"the file is {size / 2**20:.0f} MB; the limit is {MAX_UPLOAD_BYTES >> 20} MB")
        return path.read_bytes()
    except OSError as exc:
        raise ImageInputError(f"cannot be read ({exc.strerror or exc})") from None


# ---- classifying ----------------------------------------------------------------------------

def preprocess_options(meta: ModelMeta, invert: str = "auto", center: bool | None = None) -> dict:
    """The Playground's defaults: auto-invert gray pictures; centre like MNIST for digit runs."""
    gray = meta.image_shape[0] == 1
    return {"invert": invert if gray else "auto", "center": (meta.digits if center is None else center) and gray}


def classify(model, meta: ModelMeta, items, *, invert: str = "auto", center: bool | None = None):
    """Rows (dicts with COLUMNS) and Skipped for `items`: (name, bytes or a Path) pairs.
    Runs in batches of BATCH files, so a folder of any size fits in memory."""
    options = preprocess_options(meta, invert, center)
    channels, height, width = meta.image_shape
    rows, skipped = [], []
    items = list(items)
    for start in range(0, len(items), BATCH):
        names, inputs = [], []
        for name, data in items[start:start + BATCH]:
            try:
                raw = _read(data) if isinstance(data, Path) else data
                inputs.append(image_to_input(raw, channels, (height, width), **options))
                names.append(name)
            except ImageInputError as exc:
                skipped.append(Skipped(str(name), str(exc)))
        if inputs:
            probs = predict_proba(model, np.stack(inputs), meta.mean, meta.std).numpy()
            rows += [row(name, p, meta.classes) for name, p in zip(names, probs)]
    return rows, skipped


def row(name: str, probs: np.ndarray, classes) -> dict:
    order = np.argsort(-probs, kind="stable")[:TOP]
    return {"file": str(name), "predicted": classes[order[0]], "probability": round(float(probs[order[0]]), 4),
            "top3": ";".join(f"{classes[i]}:{probs[i]:.4f}" for i in order)}


def to_csv(rows) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def predict_paths(store: RunStore, run_id: str, paths, *, which: str = "best", invert: str = "auto",
                  center: bool | None = None):
    """(rows, skipped, found) for the image files under `paths`, with run `run_id`'s model.
    RunError: unknown or damaged run."""
    from core import trainer

    require_run(store, run_id)
    model, meta = trainer.load_model(store, run_id, which)  # a damaged run is said before any scan
    found = find_images(paths)
    rows, skipped = classify(model, meta, [(str(p), p) for p in found.files], invert=invert, center=center)
    return rows, found.skipped + skipped, found
