"""The files of one run folder: their names, atomic writes, and typed readers that validate.

Only the run store (core/runs.py) and the tensor files (core/checkpoints.py) use these names. Every
reader parses a file completely or raises `RunFileError` with a reason a person can act on, so a
malformed file makes that one run "damaged: <reason>" and never an exception on a page.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

CONFIG = "config.json"
STATUS = "status.json"
MODEL = "model.json"
METRICS = "metrics.csv"
RESUME = "checkpoint_last.pt"
DATA_MAP = "data_map.safetensors"
# Written by whoever presses Stop for a run that another process trains (a Ray worker, a terminal);
# the trainer looks for it between batches. Hidden: not part of an exported run.
STOP_REQUEST = ".stop_requested"
WHICH = ("last", "best")
# Opt-in TensorBoard event files are written straight into the run folder, so `tensorboard --logdir
# checkpoints` names each run by its id (core/tensorboard_log.py writes them).
TENSORBOARD_EVENTS = "events.out.tfevents.*"
# Sweeps live beside the runs: SWEEPS/<sweep id>.json (core/sweeps.py). The leading "_" keeps the
# folder out of run listings (a run id starts with a letter or digit).
SWEEPS = "_sweeps"
SPLITS = ("test", "val")


def weights(which: str) -> str:
    return f"weights_{_which(which)}.safetensors"


def predictions(which: str, split: str = "test") -> str:
    """Per-image outputs of the `which` weights on the test set, or on the held-out validation
    share (`split="val"`, saved when the run has one: out-of-sample probabilities for cleanlab)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return f"predictions_{_which(which)}.safetensors" if split == "test" else \
        f"predictions_val_{_which(which)}.safetensors"


def _which(which: str) -> str:
    if which not in WHICH:
        raise ValueError(f"checkpoint must be one of {WHICH}, got {which!r}")
    return which


# Files whose size the store records when it writes them, so a listing can tell a truncated copy
# with a stat, without opening weights.
SIZED = tuple(weights(w) for w in WHICH) + tuple(predictions(w) for w in WHICH)

STATUSES = ("queued", "running", "completed", "stopped", "failed", "interrupted")
ACTIVE = ("queued", "running")
RESUMABLE = ("stopped", "interrupted", "failed")
METRIC_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_seconds",
                  "elapsed_seconds")


class RunFileError(ValueError):
    """A run file that is missing or cannot be understood; the message names the file and why."""


# ---- atomic writes -----------------------------------------------------------------------

def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file that then replaces `path`: a crash or a full disk at any moment
    leaves the previous good file."""
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
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str, allow_nan=False))


def read_json(path: Path):
    """Parsed JSON; RunFileError (naming the file) when it is missing, unreadable or not JSON."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise RunFileError(f"{Path(path).name} is missing") from None
    except UnicodeDecodeError:
        raise RunFileError(f"{Path(path).name} is not text") from None
    except json.JSONDecodeError as exc:
        raise RunFileError(f"{Path(path).name} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except OSError as exc:
        raise RunFileError(f"{Path(path).name} cannot be read ({exc.strerror or exc})") from None


# ---- typed values ----------------------------------------------------------------------------

def _number(name: str, value, *, kind=float, optional=True, minimum=None):
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RunFileError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise RunFileError(f"{name} must be a finite number, got {value!r}")
    if kind is int:
        if float(value) != int(value):
            raise RunFileError(f"{name} must be a whole number, got {value!r}")
        value = int(value)
    else:
        value = float(value)
    if minimum is not None and value < minimum:
        raise RunFileError(f"{name} must be at least {minimum}, got {value!r}")
    return value


def _text(name: str, value, *, optional=True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise RunFileError(f"{name} must be text, got {value!r}")
    return value


@dataclass(frozen=True)
class RunStatus:
    """status.json, validated. `status` is what the file says; whether the run is really still
    active is decided by the store when it is read (core/runs.py `RunRecord.state`)."""
    status: str
    name: str = ""
    message: str = ""
    created_at: float = 0.0
    updated_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    epochs: int | None = None
    epochs_done: int = 0
    best_epoch: int = 0
    best_val_acc: float | None = None
    last_val_acc: float | None = None
    train_seconds: float | None = None
    test_acc: float | None = None
    test_loss: float | None = None
    best_test_acc: float | None = None
    params: int | None = None
    device: str | None = None
    preset: str | None = None
    sweep: str | None = None          # the sweep that made this run (core/sweeps.py)
    backend: str | None = None        # "ray" for runs sent to a Ray cluster; None: a local process
    pid: int | None = None
    host: str | None = None
    pid_started: float | None = None
    sizes: dict = field(default_factory=dict)    # file name -> bytes written (see SIZED)

    @classmethod
    def parse(cls, data) -> "RunStatus":
        if not isinstance(data, dict):
            raise RunFileError(f"{STATUS} must hold a JSON object, got {type(data).__name__}")
        status = data.get("status")
        if status not in STATUSES:
            raise RunFileError(f"{STATUS} has an unknown status {status!r} (expected one of {', '.join(STATUSES)})")
        ints = {"epochs", "epochs_done", "best_epoch", "params", "pid"}
        texts = {"name", "message", "device", "preset", "sweep", "host", "backend"}
        values = {"status": status}
        for f in fields(cls):
            if f.name in ("status", "sizes") or f.name not in data:
                continue
            value = data[f.name]
            try:
                if f.name in texts:
                    values[f.name] = _text(f.name, value)
                else:
                    values[f.name] = _number(f.name, value, kind=int if f.name in ints else float, minimum=0)
            except RunFileError as exc:
                raise RunFileError(f"{STATUS}: {exc}") from None
        if values.get("created_at") is None:
            values["created_at"] = 0.0
        for key in ("name", "message"):
            values[key] = values.get(key) or ""
        for key in ("epochs_done", "best_epoch"):
            values[key] = values.get(key) or 0
        sizes = data.get("sizes", {})
        if not isinstance(sizes, dict) or not all(isinstance(k, str) and isinstance(v, int) for k, v in sizes.items()):
            raise RunFileError(f"sizes in {STATUS} must map file names to byte counts")
        return cls(**values, sizes=dict(sizes))

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class ModelMeta:
    """model.json: what inference needs besides the weights."""
    classes: tuple
    mean: tuple
    std: tuple
    image_shape: tuple          # (C, H, W)
    arch: str
    params: int
    dataset_title: str = ""
    digits: bool = False        # a digit classifier (the Playground's canvas fits it)

    @classmethod
    def parse(cls, data) -> "ModelMeta":
        try:
            return cls._parse(data)
        except RunFileError as exc:
            text = str(exc)
            raise RunFileError(text if MODEL in text else f"{MODEL}: {text}") from None

    @classmethod
    def _parse(cls, data) -> "ModelMeta":
        if not isinstance(data, dict):
            raise RunFileError(f"{MODEL} must hold a JSON object, got {type(data).__name__}")
        try:
            classes, shape = data["classes"], data["image_shape"]
            mean, std, arch = data["mean"], data["std"], data["arch"]
        except KeyError as exc:
            raise RunFileError(f"{MODEL} lacks {exc.args[0]!r}") from None
        if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) for c in classes):
            raise RunFileError(f"classes in {MODEL} must be a list of at least two names")
        if (not isinstance(shape, list) or len(shape) != 3
                or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 4096 for v in shape)):
            raise RunFileError(f"image_shape in {MODEL} must be [channels, height, width], got {shape!r}")
        for name, values in (("mean", mean), ("std", std)):
            if not isinstance(values, list) or len(values) != shape[0]:
                raise RunFileError(f"{name} in {MODEL} must have one value per channel ({shape[0]})")
            for v in values:
                _number(name, v, optional=False)
        if any(v <= 0 for v in std):
            raise RunFileError(f"std in {MODEL} must be positive")
        # runs saved before model.json had "digits" fall back to MNIST's shape
        digits = data.get("digits", shape == [1, 28, 28])
        if not isinstance(digits, bool):
            raise RunFileError(f"digits in {MODEL} must be true or false")
        return cls(tuple(classes), tuple(float(v) for v in mean), tuple(float(v) for v in std), tuple(shape),
                   _text("arch", arch, optional=False),
                   _number("params", data.get("params", 0), kind=int, optional=False, minimum=0),
                   _text("dataset_title", data.get("dataset_title")) or "", digits)

    def to_dict(self) -> dict:
        out = asdict(self)
        for key in ("classes", "mean", "std", "image_shape"):
            out[key] = list(out[key])
        return out


# ---- metrics.csv -----------------------------------------------------------------------------

def metrics_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def parse_metrics(text: str) -> list[dict]:
    """Rows of metrics.csv as numbers; every column present, epochs 1, 2, 3… in order."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in METRIC_COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise RunFileError(f"{METRICS} lacks the column(s) {', '.join(missing)}")
    rows = []
    for line, raw in enumerate(reader, start=2):
        row = {}
        for column in METRIC_COLUMNS:
            try:
                value = float(raw[column])
            except (TypeError, ValueError):
                raise RunFileError(f"{METRICS} line {line}: {column} is {raw[column]!r}, not a number") from None
            if not math.isfinite(value):
                raise RunFileError(f"{METRICS} line {line}: {column} is not finite")
            row[column] = value
        row["epoch"] = int(row["epoch"])
        if row["epoch"] != len(rows) + 1:
            raise RunFileError(f"{METRICS} line {line}: expected epoch {len(rows) + 1}, got {raw['epoch']}")
        rows.append(row)
    return rows


def read_metrics(path: Path) -> list[dict]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except UnicodeDecodeError:
        raise RunFileError(f"{METRICS} is not text") from None
    except OSError as exc:
        raise RunFileError(f"{METRICS} cannot be read ({exc.strerror or exc})") from None
    return parse_metrics(text)


# ---- data_map.safetensors ------------------------------------------------------------------------

# Each training image's probability of its true class is stored as round(p * CONFIDENCE_SCALE) in a
# uint8 (steps of 0.004); UNSEEN marks an epoch in which the image was not trained on (the odd last
# image a batch rule leaves out, or epochs trained before recording was on).
CONFIDENCE_SCALE, UNSEEN = 254, 255
DATA_MAP_FORMAT = "1"


@dataclass(frozen=True, eq=False)
class DataMap:
    """data_map.safetensors: per training image and completed epoch, the softmax probability of
    its given label and whether the prediction was right, as the training batch saw it (train
    mode, augmented). Column e-1 is epoch e; there are exactly as many columns as saved epochs."""
    index: "np.ndarray"        # int64 [N]: positions in the dataset's training split
    labels: "np.ndarray"       # int64 [N]: the given labels
    confidence: "np.ndarray"   # uint8 [E, N]: round(p * CONFIDENCE_SCALE), UNSEEN when not seen
    correct: "np.ndarray"      # uint8 [E, N]: 1 right, 0 wrong, UNSEEN when not seen

    @property
    def epochs(self) -> int:
        return int(self.confidence.shape[0])

    def to_bytes(self) -> bytes:
        from safetensors.numpy import save

        return save({"index": self.index, "labels": self.labels, "confidence": self.confidence,
                     "correct": self.correct}, metadata={"format": DATA_MAP_FORMAT,
                                                         "confidence_scale": str(CONFIDENCE_SCALE)})

    @classmethod
    def parse(cls, raw: bytes) -> "DataMap":
        """A whole, consistent data map, or RunFileError saying what is wrong with it."""
        import numpy as np
        from safetensors import SafetensorError
        from safetensors.numpy import load

        try:
            arrays = load(raw)
        except (SafetensorError, ValueError) as exc:
            raise RunFileError(f"{DATA_MAP} is damaged or truncated ({exc})") from None
        missing = {"index", "labels", "confidence", "correct"} - set(arrays)
        if missing:
            raise RunFileError(f"{DATA_MAP} lacks {', '.join(sorted(missing))}")
        index, labels, conf, correct = (arrays[k] for k in ("index", "labels", "confidence", "correct"))
        if index.dtype != np.int64 or labels.dtype != np.int64 or conf.dtype != np.uint8 or correct.dtype != np.uint8:
            raise RunFileError(f"{DATA_MAP} holds arrays of the wrong types")
        n = len(index)
        if index.ndim != 1 or labels.shape != (n,) or conf.ndim != 2 or conf.shape[1] != n \
                or correct.shape != conf.shape:
            raise RunFileError(f"{DATA_MAP} holds arrays of different lengths")
        if n and (index.min() < 0 or labels.min() < 0):
            raise RunFileError(f"{DATA_MAP} holds negative image positions or labels")
        unseen = conf == UNSEEN
        if not np.array_equal(unseen, correct == UNSEEN) or (correct[~unseen] > 1).any():
            raise RunFileError(f"{DATA_MAP}: its confidences and right/wrong marks disagree")
        return cls(index, labels, conf, correct)
