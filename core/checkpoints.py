"""Tensors in a run folder: weights, the resume checkpoint and stored predictions.

Weights and predictions are safetensors (no code can hide in them); the resume checkpoint holds
optimizer and schedule state, which safetensors cannot express, and is read with
`torch.load(weights_only=True)`, which refuses anything but tensors and plain containers.
"""
from __future__ import annotations

import io
import pickle
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from core import run_files as files
from core.runs import RunError, RunStore, atomic_write_bytes


def _save(store: RunStore, run_id: str, name: str, data: bytes, record: bool) -> dict[str, int]:
    """Write a heavy file; its size goes into status.json now, or (record=False) with the caller's
    own status update: the trainer saves several files per epoch and writes the status once."""
    atomic_write_bytes(store.file(run_id, name), data)
    written = {name: len(data)}
    if record:
        store.update(run_id, written=written)
    return written


def save_weights(store: RunStore, run_id: str, which: str, model: torch.nn.Module, epoch: int, *,
                 record: bool = True) -> dict[str, int]:
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return _save(store, run_id, files.weights(which), st_save(state, metadata={"epoch": str(epoch)}), record)


def load_weights(store: RunStore, run_id: str, which: str = "best") -> dict[str, torch.Tensor]:
    return _read_safetensors(store.file(run_id, files.weights(which)), "weights")


def save_predictions(store: RunStore, run_id: str, which: str, labels, preds, probs, losses, *,
                     record: bool = True, split: str = "test", index=None) -> dict[str, int]:
    """`index`: for the validation share, each image's position in the dataset's training split."""
    tensors = {
        "labels": labels.to(torch.int64).cpu().contiguous(),
        "preds": preds.to(torch.int64).cpu().contiguous(),
        "probs": probs.to(torch.float32).cpu().contiguous(),
        "losses": losses.to(torch.float32).cpu().contiguous(),
    }
    if index is not None:
        tensors["index"] = index.to(torch.int64).cpu().contiguous()
    return _save(store, run_id, files.predictions(which, split), st_save(tensors), record)


def load_predictions(store: RunStore, run_id: str, which: str = "best", split: str = "test") -> dict[str, torch.Tensor]:
    path = store.file(run_id, files.predictions(which, split))
    data = _read_safetensors(path, "predictions")
    missing = {"labels", "preds", "probs", "losses"} - set(data)
    if missing:
        raise RunError(f"{path.name} lacks {', '.join(sorted(missing))}; the run folder is damaged")
    lengths = {len(v) for k, v in data.items() if k in ("labels", "preds", "probs", "losses", "index")}
    if len(lengths) != 1 or data["probs"].ndim != 2:
        raise RunError(f"{path.name} holds arrays of different lengths; the run folder is damaged")
    return data


def save_resume_state(store: RunStore, run_id: str, state: dict) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(store.file(run_id, files.RESUME), buf.getvalue())


def has_resume_state(store: RunStore, run_id: str) -> bool:
    return store.file(run_id, files.RESUME).exists()


def load_resume_state(store: RunStore, run_id: str) -> dict:
    path = store.file(run_id, files.RESUME)
    if not path.exists():
        raise RunError(f"run {run_id} has no completed epoch to resume from; start it again instead")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise RunError(f"{path.name} holds something other than plain tensors and numbers; it was "
                       f"refused and not executed ({str(exc).splitlines()[0]})") from None
    except (RuntimeError, EOFError, OSError) as exc:
        raise RunError(f"{path.name} is damaged ({exc}); the run cannot be resumed") from None


def _read_safetensors(path: Path, what: str) -> dict:
    try:
        return st_load(path.read_bytes())
    except FileNotFoundError:
        raise RunError(f"this run has no saved {what} ({path.name} is missing)") from None
    except (SafetensorError, ValueError, OSError) as exc:
        raise RunError(f"{path.name} is damaged ({exc})") from None
