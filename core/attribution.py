"""Why the model scored an image as it did: Captum's attribution methods, one call each.

    attribute(model, x, "integrated_gradients", target=3)  -> Attribution (H, W map + how to draw it)

Every method returns a map of the input's height and width, scaled so its largest magnitude is 1.
Gradient methods (Saliency, Integrated Gradients) can be smoothed with SmoothGrad (Captum's
NoiseTunnel). As in core/inspect.py, the model is left as it was: eval mode only for the call,
no parameter's `.grad` touched, every hook removed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.inspect import InspectError, _eval_mode, _layer, _one_image, _target

# method id -> (title, signed, what it shows)
METHODS = {
    "saliency": ("Saliency", False,
                 "How much a tiny change of each pixel would change the score (the gradient's size)."),
    "integrated_gradients": ("Integrated Gradients", True,
                             "Each pixel's share of the score, summed along a path from a black image: "
                             "red pushed towards the class, blue against it."),
    "occlusion": ("Occlusion", True,
                  "How much the score drops when a small square around each pixel is blacked out: "
                  "red = covering it hurts the class, blue = covering it helps."),
    "grad_cam": ("Grad-CAM", False,
                 "Which regions of a convolution layer's maps the class score depends on, stretched "
                 "to the image size (coarse: one value per map cell)."),
}
SMOOTHABLE = ("saliency", "integrated_gradients")
IG_STEPS = 32           # Riemann steps; 32 keeps one image well under a second on a CPU
SMOOTH_SAMPLES = 12     # noisy copies SmoothGrad averages
SMOOTH_NOISE = 0.15     # noise std as a share of the input's value range


@dataclass(frozen=True)
class Attribution:
    method: str
    title: str
    heat: np.ndarray        # float32 (H, W); in [0, 1], or [-1, 1] when `signed`
    signed: bool
    note: str = ""


def attribute(model: nn.Module, x, method: str, target: int | None = None, *, layer: str | None = None,
              smooth: bool = False, black=None) -> Attribution:
    """One attribution map for one normalised image `x` (1, C, H, W) or (C, H, W).

    `black` is the normalised value of a black pixel per channel (the baseline of Integrated
    Gradients and the fill of Occlusion); zeros when not given. `layer` names Grad-CAM's layer.
    """
    if method not in METHODS:
        raise InspectError(f"unknown attribution method {method!r} — choose one of {', '.join(METHODS)}")
    x = _one_image(model, x).requires_grad_(True)  # Captum warns when it has to switch this on itself
    baseline = _baseline(x, black)
    with _eval_mode(model), torch.enable_grad():
        with torch.no_grad():
            cls = _target(model(x), target)
        raw = _RUN[method](model, x, cls, baseline, layer, smooth and method in SMOOTHABLE)
    title, signed, _ = METHODS[method]
    if method == "grad_cam":
        title = f"Grad-CAM ({layer})"
    elif smooth and method in SMOOTHABLE:
        title = f"{title} + SmoothGrad"
    return Attribution(method, title, _scaled(raw, signed), signed, METHODS[method][2])


def _baseline(x: torch.Tensor, black) -> torch.Tensor:
    if black is None:
        return torch.zeros_like(x).detach()
    value = torch.as_tensor(black, dtype=torch.float32, device=x.device).reshape(-1)
    if value.numel() not in (1, x.shape[1]):
        raise InspectError(f"black has {value.numel()} values for {x.shape[1]}-channel images")
    return value.expand(x.shape[1]).reshape(1, -1, 1, 1).expand_as(x).contiguous()


def _scaled(a: torch.Tensor, signed: bool) -> np.ndarray:
    a = a.detach().float().cpu()
    if not signed:
        a = a.clamp(min=0)
    peak = a.abs().max()
    return (a / peak if peak > 0 else torch.zeros_like(a)).numpy().astype(np.float32)


def _noise(x: torch.Tensor) -> float:
    span = float(x.detach().max() - x.detach().min())
    return SMOOTH_NOISE * (span if span > 0 else 1.0)


# ---- the methods (each returns an (H, W) tensor) ---------------------------------------------

def _saliency(model, x, cls, _baseline, _layer_name, smooth):
    from captum.attr import NoiseTunnel, Saliency

    method = Saliency(model)
    if smooth:
        a = NoiseTunnel(method).attribute(x, nt_type="smoothgrad", nt_samples=SMOOTH_SAMPLES,
                                          nt_samples_batch_size=SMOOTH_SAMPLES, stdevs=_noise(x),
                                          target=cls, abs=True)
    else:
        a = method.attribute(x, target=cls, abs=True)
    return a[0].abs().amax(dim=0)


def _integrated_gradients(model, x, cls, baseline, _layer_name, smooth):
    from captum.attr import IntegratedGradients, NoiseTunnel

    method = IntegratedGradients(model)
    kwargs = dict(target=cls, baselines=baseline, n_steps=IG_STEPS, internal_batch_size=IG_STEPS)
    if smooth:
        a = NoiseTunnel(method).attribute(x, nt_type="smoothgrad", nt_samples=SMOOTH_SAMPLES,
                                          nt_samples_batch_size=1, stdevs=_noise(x), **kwargs)
    else:
        a = method.attribute(x, **kwargs)
    return a[0].sum(dim=0)


def occlusion_window(height: int, width: int) -> tuple[int, int]:
    """(window, stride) of the occluding square: about a seventh of the image, half-overlapping."""
    window = max(2, round(min(height, width) / 7))
    return window, max(1, window // 2)


def _occlusion(model, x, cls, baseline, _layer_name, _smooth):
    from captum.attr import Occlusion

    window, stride = occlusion_window(*x.shape[-2:])
    channels = x.shape[1]
    a = Occlusion(model).attribute(x, target=cls, baselines=baseline, sliding_window_shapes=(channels, window, window),
                                   strides=(channels, stride, stride), perturbations_per_eval=64)
    return a[0].sum(dim=0)


def _grad_cam(model, x, cls, _baseline, layer_name, _smooth):
    from captum.attr import LayerAttribution, LayerGradCam

    if not layer_name:
        raise InspectError("Grad-CAM needs a layer: pick a convolution or pooling layer")
    layer = _layer(model, layer_name)
    try:
        a = LayerGradCam(model, layer).attribute(x, target=cls, relu_attributions=True)
    except (AssertionError, RuntimeError, IndexError) as exc:
        raise InspectError(f"Grad-CAM cannot use layer {layer_name}: {str(exc).splitlines()[0]}") from None
    if not isinstance(a, torch.Tensor) or a.ndim != 4:
        raise InspectError(f"layer {layer_name} outputs a vector, not maps; pick a convolution or pooling layer")
    return LayerAttribution.interpolate(a, tuple(x.shape[-2:]), interpolate_mode="bilinear")[0, 0]


_RUN = {"saliency": _saliency, "integrated_gradients": _integrated_gradients, "occlusion": _occlusion,
        "grad_cam": _grad_cam}
