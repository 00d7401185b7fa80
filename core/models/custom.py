"""Layer stacks a person writes on the Model page: a list of `{"type": ..., params}` dicts.

`check_layers` walks the stack once, inferring each layer's input from the one before, and stops
at the first broken layer with a message naming it. Shapes come from running each layer on the
meta device, so they match PyTorch exactly while costing no memory.
"""
from __future__ import annotations

import math
import numbers
from collections import Counter, OrderedDict
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from core.models.base import ModelError, output_shape

# Default parameters of each layer type (the Model page's editable table starts from these).
# None means: out_channels / out_features must be given; stride = kernel_size; in_features is
# inferred from the previous layer.
LAYER_TYPES: dict[str, dict] = {
    "conv": {"out_channels": None, "kernel_size": 3, "stride": 1, "padding": 0},
    "maxpool": {"kernel_size": 2, "stride": None},
    "avgpool": {"kernel_size": 2, "stride": None},
    "batchnorm": {},
    "relu": {},
    "dropout": {"p": 0.5},
    "flatten": {},
    "linear": {"out_features": None, "in_features": None},
}
REQUIRED = {"conv": ("out_channels",), "linear": ("out_features",)}
_NON_NEGATIVE = {"padding"}  # every other whole-number parameter must be ≥ 1
_NAMES = {"conv": "conv", "maxpool": "pool", "avgpool": "pool", "batchnorm": "bn",
          "relu": "relu", "dropout": "dropout", "flatten": "flatten", "linear": "fc"}


class SpecError(ModelError):
    """A custom layer stack that cannot be built; the message names the first broken layer."""


@dataclass(frozen=True)
class LayerCheck:
    index: int  # 1-based position in the stack
    type: str
    output_shape: tuple  # without the batch dimension
    params: int


# ---- parsing ---------------------------------------------------------------------------

def _blank(value) -> bool:
    # an edited table gives None, "", NaN or pd.NA for cells left empty
    if isinstance(value, str):
        return not value.strip()
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _whole(where: str, key: str, value) -> int:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            pass
    if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)
            or value != int(value)):
        raise SpecError(f"{where}: {key} must be a whole number, got {value!r}")
    value, low = int(value), 0 if key in _NON_NEGATIVE else 1
    if value < low:
        kind = "≥ 0" if low == 0 else "a positive whole number"
        raise SpecError(f"{where}: {key} must be {kind}, got {value}")
    return value


def _parse(index: int, layer) -> tuple[str, dict]:
    """The layer's type and its parameters with defaults filled in and values checked."""
    choices = ", ".join(LAYER_TYPES)
    if not isinstance(layer, dict):
        raise SpecError(f'layer {index}: expected an object like {{"type": "conv", ...}}, got {layer!r}')
    kind = layer.get("type")
    if _blank(kind):
        raise SpecError(f"layer {index}: missing type — choose one of: {choices}")
    kind = str(kind).strip().lower()
    if kind not in LAYER_TYPES:
        raise SpecError(f"layer {index}: unknown type {layer['type']!r} — choose one of: {choices}")
    where, defaults = f"layer {index} ({kind})", LAYER_TYPES[kind]
    params = dict(defaults)
    for key, value in layer.items():
        if key == "type" or _blank(value):
            continue  # blank cells of a wide table belong to other layer types
        if key not in defaults:
            valid = f"valid: {', '.join(defaults)}" if defaults else f"{kind} takes no parameters"
            raise SpecError(f"{where}: unknown parameter {key!r} — {valid}")
        params[key] = value
    for key in REQUIRED.get(kind, ()):
        if _blank(params[key]):
            raise SpecError(f"{where}: needs {key} (a positive whole number)")
    for key, value in params.items():
        if key == "p":
            params[key] = _probability(where, value)
        elif value is not None:
            params[key] = _whole(where, key, value)
    return kind, params


def _probability(where: str, value) -> float:
    try:
        p = float(value)
    except (TypeError, ValueError):
        p = float("nan")
    if isinstance(value, bool) or not 0 <= p < 1:
        raise SpecError(f"{where}: p must be between 0 and 1 (the share of values zeroed), got {value!r}")
    return p


# ---- shapes and modules ----------------------------------------------------------------

def _size(shape: tuple) -> str:
    return "×".join(map(str, shape))


def _check_input(where: str, kind: str, p: dict, shape: tuple) -> None:
    if kind in ("conv", "maxpool", "avgpool"):
        if len(shape) != 3:
            raise SpecError(
                f"{where}: needs image-shaped input (channels×height×width) but gets "
                f"{shape[0]} flat values — put conv and pooling layers before flatten"
            )
        k, pad = p["kernel_size"], p.get("padding", 0)
        if k > min(shape[1:]) + 2 * pad:
            padded = f" (padded by {pad} on each side)" if pad else ""
            raise SpecError(f"{where}: kernel {k}×{k} is larger than its {_size(shape[1:])} input{padded}")
    if kind == "linear":
        if len(shape) != 1:
            raise SpecError(f"{where}: needs flattened input — add a flatten layer before it")
        if p["in_features"] is not None and p["in_features"] != shape[0]:
            raise SpecError(f"{where}: expects {p['in_features']} inputs, gets {shape[0]}")


def _module(kind: str, p: dict, shape: tuple) -> nn.Module:
    if kind == "conv":
        return nn.Conv2d(shape[0], p["out_channels"], p["kernel_size"], p["stride"], p["padding"])
    if kind == "maxpool":
        return nn.MaxPool2d(p["kernel_size"], p["stride"])
    if kind == "avgpool":
        return nn.AvgPool2d(p["kernel_size"], p["stride"])
    if kind == "batchnorm":
        return nn.BatchNorm2d(shape[0]) if len(shape) == 3 else nn.BatchNorm1d(shape[0])
    if kind == "dropout":
        return nn.Dropout(p["p"])
    if kind == "linear":
        return nn.Linear(shape[0], p["out_features"])
    return {"relu": nn.ReLU, "flatten": nn.Flatten}[kind]()


def _check_ending(checks: list[LayerCheck], num_classes: int) -> None:
    fix = f"linear(out_features={num_classes})"
    if not checks:
        raise SpecError(f"the layer stack is empty — add layers ending with flatten and {fix}")
    last = checks[-1]
    if len(last.output_shape) != 1:
        raise SpecError(
            f"the last layer outputs {_size(last.output_shape)} feature maps but the dataset has "
            f"{num_classes} classes — end with flatten and {fix}"
        )
    if last.output_shape[0] != num_classes:
        raise SpecError(
            f"the last layer outputs {last.output_shape[0]} values but the dataset has "
            f"{num_classes} classes — end with {fix}"
        )
    if last.type != "linear":
        raise SpecError(f"the last layer is {last.type}; end with {fix} so the model outputs raw class scores")


def _walk(layers, image_shape: tuple) -> list[tuple[LayerCheck, dict, tuple]]:
    """(check, parsed params, input shape) for each layer, stopping at the first broken one."""
    if isinstance(layers, (str, bytes, dict)) or not hasattr(layers, "__iter__"):
        raise SpecError('custom layers must be a list of layer objects like {"type": "conv", "out_channels": 6}')
    shape, steps = tuple(image_shape), []
    for index, layer in enumerate(layers, start=1):
        kind, p = _parse(index, layer)
        where = f"layer {index} ({kind})"
        _check_input(where, kind, p, shape)
        with torch.device("meta"):
            module = _module(kind, p, shape)
        try:
            out = output_shape(module, shape, device="meta")
        except RuntimeError as exc:  # anything the checks above did not foresee
            raise SpecError(f"{where}: {str(exc).splitlines()[0]}") from None
        params = sum(t.numel() for t in module.parameters())
        steps.append((LayerCheck(index, kind, out, params), p, shape))
        shape = out
    return steps


def check_layers(layers, image_shape: tuple, num_classes: int | None) -> list[LayerCheck]:
    """Every layer's output shape and parameter count; SpecError at the first broken layer.

    num_classes=None skips the check that the stack ends in linear(out_features=num_classes).
    """
    checks = [check for check, _, _ in _walk(layers, image_shape)]
    if num_classes is not None:
        _check_ending(checks, num_classes)
    return checks


def build_custom(image_shape: tuple, num_classes: int, layers) -> nn.Sequential:
    """The checked stack as an nn.Sequential named conv1, relu1, pool1, ..., fc1."""
    steps = _walk(layers, image_shape)
    _check_ending([check for check, _, _ in steps], num_classes)
    counts: Counter = Counter()
    named = []
    for check, p, in_shape in steps:
        prefix = _NAMES[check.type]
        counts[prefix] += 1
        named.append((f"{prefix}{counts[prefix]}", _module(check.type, p, in_shape)))
    return nn.Sequential(OrderedDict(named))
