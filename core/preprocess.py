"""Turning people's pictures into model input: canvas drawings and uploaded image files.

Both return uint8 arrays in the layout the datasets use, (28, 28) or (C, H, W), so the same
`inspect.predict_proba` normalisation applies to them as to the test set.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageOps

# ImageInputError lives with the decoder; pages keep importing it from here
from .images import ImageInputError, open_image

SUPPORTED_UPLOAD_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"]  # images.FORMATS
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
INVERT_CHOICES = ("auto", "always", "never")

MNIST_SIZE = (28, 28)
_STROKE_THRESHOLD = 0.2  # share of the peak: fainter pixels do not widen the digit's box


# ---- MNIST-style centring ------------------------------------------------------------------

def _center_like_mnist(intensity: np.ndarray, size: tuple[int, int] = MNIST_SIZE) -> np.ndarray | None:
    """Crop to the stroke, scale its longer side to 20/28 of the frame, centre it by mass.

    This is how MNIST was made (LeCun et al.): models trained on it expect digits this way.
    Returns None when there is no stroke.
    """
    peak = float(intensity.max()) if intensity.size else 0.0
    if peak <= 0:
        return None
    rows = np.flatnonzero((intensity > peak * _STROKE_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((intensity > peak * _STROKE_THRESHOLD).any(axis=0))
    crop = intensity[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    crop = np.clip(crop * (255.0 / peak), 0, 255).round().astype(np.uint8)
    height, width = size
    box = max(1, round(min(height, width) * 20 / 28))
    scale = box / max(crop.shape)
    new_w, new_h = max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))
    small = np.asarray(Image.fromarray(crop).resize((new_w, new_h), Image.Resampling.LANCZOS))
    mass = small.astype(np.float64)
    total = mass.sum()
    if total <= 0:
        return None
    cy = (mass.sum(axis=1) * np.arange(new_h)).sum() / total
    cx = (mass.sum(axis=0) * np.arange(new_w)).sum() / total
    top = int(np.clip(round(height / 2 - cy), 0, height - new_h))
    left = int(np.clip(round(width / 2 - cx), 0, width - new_w))
    out = np.zeros((height, width), dtype=np.uint8)
    out[top:top + new_h, left:left + new_w] = small
    return out


def _luminance(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.float32)
    if rgb.shape[-1] == 1:
        return rgb[..., 0]
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def drawing_to_mnist(rgba: Any) -> np.ndarray | None:
    """A canvas drawing (H, W, 4) RGBA (also RGB or gray) -> (28, 28) uint8, light on dark.

    The stroke is the alpha channel on a transparent canvas; on an opaque canvas it is the
    difference from the background colour (read from the border), so dark-on-light drawings
    are inverted. Returns None when nothing is drawn.
    """
    if rgba is None:
        return None
    a = np.asarray(rgba)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or a.shape[0] < 2 or a.shape[1] < 2:
        raise ImageInputError(f"a drawing must be an (H, W, 4) RGBA array, got shape {a.shape}")
    a = np.clip(np.nan_to_num(a.astype(np.float32)), 0, 255)
    if a.shape[2] == 4:
        alpha = a[..., 3]
        if alpha.max() == 0:
            return None
        if alpha.min() != alpha.max():
            return _center_like_mnist(alpha)
        a = a[..., :3]
    lum = _luminance(a)
    border = np.concatenate([lum[0], lum[-1], lum[:, 0], lum[:, -1]])
    return _center_like_mnist(np.abs(lum - np.median(border)))


# ---- uploads -------------------------------------------------------------------------------

def _read_bytes(data: Any) -> bytes:
    if hasattr(data, "getvalue"):  # Streamlit's UploadedFile, io.BytesIO
        data = data.getvalue()
    elif hasattr(data, "read"):
        data = data.read()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageInputError(f"expected the file's bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageInputError(
            f"the file is {len(data) / 2**20:.2g} MB; the limit is {MAX_UPLOAD_BYTES / 2**20:g} MB — "
            "upload a smaller image"
        )
    return data


def _flatten(img: Image.Image, mode: str) -> Image.Image:
    """Any Pillow mode -> `mode` ("L" or "RGB"), 16-bit scaled to 8-bit, alpha composited."""
    if img.mode.startswith("I;16"):
        arr = np.asarray(img, dtype=np.float64) / 257.0
        img = Image.fromarray(np.clip(arr, 0, 255).round().astype(np.uint8))
    elif img.mode in ("I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if img.mode == "F" and arr.max() <= 1.0:
            arr = arr * 255.0
        elif arr.max() > 255:
            arr = arr / 257.0
        img = Image.fromarray(np.clip(arr, 0, 255).round().astype(np.uint8))
    elif img.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in img.info:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32)
        alpha = rgba[..., 3:] / 255.0
        weight = alpha.sum()
        content = (_luminance(rgba[..., :3]) * alpha[..., 0]).sum() / weight if weight > 0 else 0.0
        # light content (a white digit on a transparent sheet) is put on black, dark on white
        background = 0.0 if content > 127 else 255.0
        rgb = rgba[..., :3] * alpha + background * (1 - alpha)
        img = Image.fromarray(np.clip(rgb, 0, 255).round().astype(np.uint8))
    elif img.mode not in ("L", "RGB"):
        img = img.convert("RGB")
    return img.convert(mode)


def _border_colour(img: Image.Image) -> int | tuple:
    a = np.asarray(img)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    colour = np.median(border, axis=0).round().astype(int)
    return int(colour) if colour.ndim == 0 else tuple(int(c) for c in colour)


def image_to_input(
    data: Any,
    channels: int,
    size: tuple[int, int],
    *,
    invert: str = "auto",
    center: bool = False,
) -> np.ndarray:
    """An uploaded image file -> (C, H, W) uint8 model input.

    `data` is the file's bytes (or an object with getvalue(), like Streamlit's UploadedFile).
    The image is fitted into `size` (H, W) keeping its aspect ratio and padded with its border
    colour. `invert`: "auto" inverts a mostly light 1-channel image (a dark digit on paper) so
    it becomes light on dark like MNIST; "always" / "never" force it. `center` (1 channel
    only) also crops and centres the digit like MNIST, for photos with wide margins.
    Raises ImageInputError with a message for files that cannot be used.
    """
    if channels not in (1, 3):
        raise ImageInputError(f"models take 1-channel (gray) or 3-channel (RGB) images, not {channels}")
    if len(size) != 2 or min(size) < 1:
        raise ImageInputError(f"size must be (height, width) in pixels, got {size}")
    if invert not in INVERT_CHOICES:
        raise ImageInputError(f"invert must be one of: {', '.join(INVERT_CHOICES)}; got {invert!r}")
    if center and channels != 1:
        raise ImageInputError("centring a digit applies to 1-channel (digit) models only")
    mode = "L" if channels == 1 else "RGB"
    # decoded at most 2 MP, however large the file declares itself (see core/images.py)
    img = _flatten(open_image(_read_bytes(data), mode=mode), mode)
    if invert == "always" or (invert == "auto" and channels == 1 and np.median(np.asarray(img)) > 127):
        img = ImageOps.invert(img)
    height, width = int(size[0]), int(size[1])
    if center:
        arr = np.asarray(img, dtype=np.float32)
        out = _center_like_mnist(np.clip(arr - np.median(arr), 0, None), (height, width))
        if out is None:
            raise ImageInputError("no digit found: the image is one flat colour")
        return out[None]
    img = ImageOps.pad(img, (width, height), method=Image.Resampling.LANCZOS, color=_border_colour(img))
    arr = np.asarray(img, dtype=np.uint8)
    return arr[None].copy() if arr.ndim == 2 else arr.transpose(2, 0, 1).copy()
