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

from core.runs import RunError, RunStore, atomic_write_bytes

WHICH = ("last", "best")


def _which(which: str) -> str:
    if which not in WHICH:
        raise ValueError(f"checkpoint must be one of {WHICH}, got {which!r}")
    return which


def save_weights(store: RunStore, run_id: str, which: str, model: torch.nn.Module, epoch: int) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    data = st_save(state, metadata={"epoch": str(epoch)})
    atomic_write_bytes(store.path(run_id) / f"weights_{_which(which)}.safetensors", data)


def load_weights(store: RunStore, run_id: str, which: str = "best") -> dict[str, torch.Tensor]:
    path = store.path(run_id) / f"weights_{_which(which)}.safetensors"
    return _read_safetensors(path, "weights")


def save_predictions(store: RunStore, run_id: str, which: str, labels, preds, probs, losses) -> None:
    tensors = {
        "labels": labels.to(torch.int64).cpu().contiguous(),
        "preds": preds.to(torch.int64).cpu().contiguous(),
        "probs": probs.to(torch.float32).cpu().contiguous(),
        "losses": losses.to(torch.float32).cpu().contiguous(),
    }
    atomic_write_bytes(store.path(run_id) / f"predictions_{_which(which)}.safetensors", st_save(tensors))


def load_predictions(store: RunStore, run_id: str, which: str = "best") -> dict[str, torch.Tensor]:
    path = store.path(run_id) / f"predictions_{_which(which)}.safetensors"
    data = _read_safetensors(path, "predictions")
    missing = {"labels", "preds", "probs", "losses"} - set(data)
    if missing:
        raise RunError(f"{path.name} lacks {', '.join(sorted(missing))}; the run folder is damaged")
    return data


def save_resume_state(store: RunStore, run_id: str, state: dict) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(store.path(run_id) / "checkpoint_last.pt", buf.getvalue())


def load_resume_state(store: RunStore, run_id: str) -> dict:
    path = store.path(run_id) / "checkpoint_last.pt"
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
