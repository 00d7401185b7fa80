"""Running the LR finder for the Train page (cached per config)."""
from __future__ import annotations

import streamlit as st

from core import data, models
from core.lr_finder import LRFinderResult, lr_finder
from core.trainer import DeviceError, resolve_device


def run_finder(cfg) -> LRFinderResult | str:
    """The finder's result, or a message saying why it could not run."""
    try:
        ds = data.load(cfg.dataset)
        device = resolve_device(cfg.device)
        model = models.build_model(cfg.arch, ds.shape, ds.num_classes, cfg.custom_layers)
    except (data.DatasetError, models.ModelError, DeviceError) as exc:
        return str(exc)
    with st.spinner("Sweeping learning rates…"):
        return lr_finder(model, ds.train.images, ds.train.labels, cfg, ds.mean, ds.std, steps=150,
                         device=device)
