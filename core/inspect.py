"""What a trained model learned: conv filters and feature maps, and the one prediction function
that the Playground and Evaluate pages share (attribution maps are Captum's: core/attribution.py).

Functions take a model and tensors as arguments. They never leave the model changed: hooks are
removed in `finally` and every module's training flag is restored.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import nn

PREDICT_BATCH = 1000


class InspectError(ValueError):
    """A layer, input or target that cannot be inspected; the message says what to pick."""


# ---- helpers -----------------------------------------------------------------------------

@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    # restore each module's own flag: a caller may keep e.g. frozen BatchNorm layers in eval
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, mode in modes:
            module.training = mode


def _device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _one_image(model: nn.Module, x: Any) -> torch.Tensor:
    x = torch.as_tensor(x)
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4 or x.shape[0] != 1:
        raise InspectError(f"expected one image shaped (1, C, H, W) or (C, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise InspectError("expected a normalised float image; convert uint8 images with (x/255 - mean)/std first")
    return x.detach().to(_device(model), torch.float32)


def _layer(model: nn.Module, layer_name: str) -> nn.Module:
    modules = dict(model.named_modules())
    if layer_name not in modules or layer_name == "":
        names = [n for n in modules if n]
        raise InspectError(f"the model has no layer {layer_name!r} — layers: {', '.join(names)}")
    return modules[layer_name]


def _first_tensor(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, (tuple, list)) else out


def _target(logits: torch.Tensor, target: int | None) -> int:
    if logits.ndim != 2:
        raise InspectError(f"the model must output class scores shaped (1, classes), got {tuple(logits.shape)}")
    if target is None:
        return int(logits[0].argmax())
    if not 0 <= int(target) < logits.shape[1]:
        raise InspectError(f"target class {target} is outside 0..{logits.shape[1] - 1}")
    return int(target)


# ---- filters -----------------------------------------------------------------------------

def conv_filters(conv: nn.Module) -> np.ndarray:
    """The weights of a Conv2d as float32 (out_channels, in_channels, kh, kw)."""
    if not isinstance(conv, nn.Conv2d):
        raise InspectError(f"filters can only be shown for Conv2d layers, not {type(conv).__name__}")
    return conv.weight.detach().float().cpu().numpy()


def filter_grid_images(conv: nn.Module, rgb: bool = True, in_channel: int | None = None) -> list[np.ndarray]:
    """One image per output filter, each min-max scaled to [0, 1] on its own.

    With `rgb` and 3 input channels a filter is a (kh, kw, 3) colour image (the first layer of
    a colour model). Otherwise it is 2-D: input channel `in_channel`, or, when None, the mean
    over input channels as a summary. A constant filter shows as flat 0.5 grey.
    """
    w = conv_filters(conv)
    if rgb and w.shape[1] == 3 and in_channel is None:
        w = w.transpose(0, 2, 3, 1)
    elif in_channel is not None:
        if not 0 <= in_channel < w.shape[1]:
            raise InspectError(f"input channel {in_channel} is outside 0..{w.shape[1] - 1}")
        w = w[:, in_channel]
    else:
        w = w.mean(axis=1)
    lo = w.min(axis=tuple(range(1, w.ndim)), keepdims=True)
    span = w.max(axis=tuple(range(1, w.ndim)), keepdims=True) - lo
    scaled = np.where(span > 0, (w - lo) / np.where(span > 0, span, 1), 0.5).astype(np.float32)
    return list(scaled)


# ---- activations ---------------------------------------------------------------------------

def spatial_layers(model: nn.Module, x: Any) -> list[str]:
    """Names of the layers whose output is a 4-D map for this input (choices for
    `feature_maps` and Grad-CAM), in the order they run."""
    x = _one_image(model, x)
    found: list[str] = []

    def hook(name: str):
        def record(_module, _inputs, out):
            if getattr(_first_tensor(out), "ndim", 0) == 4 and name not in found:
                found.append(name)
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if n]
    try:
        with _eval_mode(model), torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return found


def feature_maps(model: nn.Module, layer_name: str, x: Any) -> np.ndarray:
    """The output of `layer_name` for one image as float32 (channels, h, w)."""
    layer = _layer(model, layer_name)
    x = _one_image(model, x)
    captured: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, out: captured.append(_first_tensor(out)))
    try:
        with _eval_mode(model), torch.no_grad():
            model(x)
    finally:
        handle.remove()
    if not captured:
        raise InspectError(f"layer {layer_name} did not run for this input")
    out = captured[0]
    if not isinstance(out, torch.Tensor) or out.ndim != 4:
        raise InspectError(f"layer {layer_name} outputs a vector, not maps; pick a convolution or pooling layer")
    return out[0].float().cpu().numpy()


# ---- prediction ----------------------------------------------------------------------------

def predict_proba(
    model: nn.Module,
    x_uint8: Any,
    mean: Sequence[float] | float,
    std: Sequence[float] | float,
    batch_size: int = PREDICT_BATCH,
) -> torch.Tensor:
    """Class probabilities (N, classes) on the CPU for uint8 images (N, C, H, W) or one (C, H, W).

    Images are normalised as in training, ((x / 255) - mean) / std per channel.
    """
    x = torch.as_tensor(x_uint8)
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4:
        raise InspectError(f"expected images shaped (N, C, H, W) or (C, H, W), got {tuple(x.shape)}")
    if x.dtype != torch.uint8:
        raise InspectError(f"expected uint8 pixel values 0-255, got {x.dtype}")
    channels = x.shape[1]
    device = _device(model)
    m = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
    s = torch.as_tensor(std, dtype=torch.float32).reshape(-1)
    for name, v in (("mean", m), ("std", s)):
        if v.numel() not in (1, channels):
            raise InspectError(f"{name} has {v.numel()} values for {channels}-channel images")
    if (s == 0).any():
        raise InspectError("std must not contain 0")
    m = m.expand(channels).reshape(1, channels, 1, 1).to(device)
    s = s.expand(channels).reshape(1, channels, 1, 1).to(device)
    out = []
    with _eval_mode(model), torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            batch = x[start:start + batch_size].to(device).float().div_(255).sub_(m).div_(s)
            try:
                logits = model(batch)
            except RuntimeError as exc:  # typically a shape mismatch between images and model
                raise InspectError(
                    f"the model cannot take images shaped {tuple(x.shape[1:])}: {exc}"
                ) from exc
            out.append(torch.softmax(logits.float(), dim=1).cpu())
    if not out:
        return torch.zeros(0, 0)
    return torch.cat(out)
