"""Running the LR finder for the Train page, and keeping its result with the settings it ran with."""
from __future__ import annotations

import streamlit as st

from ui import state

# The settings the sweep depends on (core.lr_finder: the model, the batches, the optimizer). The
# learning rate, schedule, epochs and augmentation are not among them, so using the suggested LR
# or changing the schedule keeps the result on screen; another dataset, model or optimizer hides it.
SWEEP_FIELDS = ("dataset", "arch", "custom_layers", "batch_size", "optimizer", "momentum", "nesterov",
                "weight_decay", "seed", "device")


def sweep_key(cfg) -> dict:
    """The settings a sweep of `cfg` depends on, as JSON values (what the result is saved with)."""
    values = cfg.to_dict()
    return {name: values[name] for name in SWEEP_FIELDS}


def find(cfg) -> None:
    """Sweep for `cfg` and keep the result (or why it could not run) with its settings."""
    result = run_finder(cfg)
    if isinstance(result, str):
        saved = {"error": result}
    else:
        saved = {"lrs": list(result.lrs), "losses": list(result.losses), "suggestion": result.suggestion,
                 "note": result.note}
    state.put(state.LR_FINDER, {"settings": sweep_key(cfg), **saved})


def result_for(cfg) -> dict | None:
    """The kept sweep if it was run with `cfg`'s settings: lrs, losses, suggestion, note, or error."""
    kept = state.get(state.LR_FINDER)
    if isinstance(kept, dict) and kept.get("settings") == sweep_key(cfg):
        return kept
    return None


def has_result() -> bool:
    return isinstance(state.get(state.LR_FINDER), dict)


def run_finder(cfg):
    """The finder's LRFinderResult, or a message saying why it could not run."""
    from core import data, models  # torch: only when someone asks for a sweep
    from core.lr_finder import lr_finder
    from core.trainer import DeviceError, resolve_device

    try:
        ds = data.load(cfg.dataset)
        device = resolve_device(cfg.device)
        model = models.build_model(cfg.arch, ds.shape, ds.num_classes, cfg.custom_layers)
    except (data.DatasetError, models.ModelError, DeviceError) as exc:
        return str(exc)
    with st.spinner("Sweeping learning rates…"):
        return lr_finder(model, ds.train.images, ds.train.labels, cfg, ds.mean, ds.std, steps=150,
                         device=device)
