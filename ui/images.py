"""Turning uint8 image tensors into things st.image can show, and image grids."""
from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image


def to_pil(img, scale: int = 1) -> Image.Image:
    """A (C,H,W) or (H,W) uint8 tensor/array as a PIL image, optionally enlarged without blur."""
    arr = img.numpy() if hasattr(img, "numpy") else np.asarray(img)
    if arr.ndim == 3:
        arr = arr[0] if arr.shape[0] == 1 else np.transpose(arr, (1, 2, 0))
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0, 1) * 255).astype(np.uint8)
    pil = Image.fromarray(arr)
    if scale > 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST)
    return pil


def grid(images, captions=None, columns: int = 8, scale: int = 3) -> None:
    """Show images in rows of `columns`, each with its caption underneath."""
    captions = captions or [""] * len(images)
    for start in range(0, len(images), columns):
        cols = st.columns(columns)
        for col, img, cap in zip(cols, images[start:start + columns], captions[start:start + columns]):
            with col:
                st.image(to_pil(img, scale), caption=cap, width="stretch")
