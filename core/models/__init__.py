"""The model registry: every architecture by name, built for any channels, size and classes.

    build_model("lenet5", (1, 28, 28), 10)      -> nn.Module
    input_problem("seed_cnn7", (1, 8, 8))       -> "seed_cnn7 needs images of at least 16×16 ..."
    summary(model, (16, 1, 28, 28))             -> ModelSummary (torchinfo table)
"""
from __future__ import annotations

import numbers

import torch
from torch import nn

from core.models import classic, resnet, whitened
from core.models.base import ModelError, ModelInfo
from core.models.custom import (
    LAYER_TYPES,
    LayerCheck,
    SpecError,
    build_custom,
    check_layers,
)
from core.models.summary import ModelSummary, conv_layers, feature_layers, summary

__all__ = [
    "LAYER_TYPES",
    "MODELS",
    "LayerCheck",
    "ModelError",
    "ModelInfo",
    "ModelSummary",
    "SpecError",
    "build_model",
    "check_layers",
    "conv_layers",
    "describe",
    "feature_layers",
    "input_problem",
    "param_count",
    "summary",
]

MODELS: dict[str, ModelInfo] = {m.name: m for m in (
    ModelInfo("lenet5", "LeNet-5",
              "The tutorials' LeNet-5: two 5×5 convs with max-pooling, then dense layers of 120, 84 "
              "and the classes (28×28 images are padded to act like 32×32).",
              12, classic.lenet5),
    ModelInfo("lenet5_c3", "LeNet-5 (C3 conv)",
              "LeNet-5 with its first dense layer replaced by a 5×5 conv of 120 kernels, as in "
              "LeCun's original paper.",
              28, classic.lenet5_c3),
    ModelInfo("seed_cnn7", "Seed CNN (7 layers)",
              "The lab's CNN: 5×5 conv 16, pool, 3×3 conv 32, pool, 1×1 conv 16, dense 64, "
              "dense to the classes; no padding.",
              16, classic.seed_cnn7),
    ModelInfo("one_conv", "One conv layer",
              "A single 8×8 conv of 10 kernels with stride 2, then one dense layer: the smallest CNN "
              "that learns digits.",
              8, classic.one_conv),
    ModelInfo("fast_cnn", "Fast CNN (BatchNorm)",
              "Three 3×3 conv-BatchNorm-ReLU-pool stages (16, 32, 64 channels) and a 128-unit dense "
              "layer: ~99% on MNIST in one epoch, ~92% on Fashion-MNIST in nine, on a laptop CPU.",
              8, classic.fast_cnn),
    ModelInfo("resnet18_cifar", "ResNet-18 (CIFAR stem)",
              "ResNet-18 with a 3×3 stride-1 stem and no max-pool, for small images; 11 M "
              "parameters, slow on a CPU.",
              16, resnet.resnet18_cifar),
    ModelInfo("resnet18_tv", "ResNet-18 (torchvision)",
              "torchvision's ImageNet ResNet-18 (7×7 stride-2 stem and max-pool), untrained, with "
              "its first conv taking the dataset's channels.",
              16, resnet.resnet18_tv),
    ModelInfo("whitened_cnn", "Whitened CNN (CIFAR speed-run design)",
              "The airbench design sized for a CPU: a frozen 2×2 whitening conv fitted to the training "
              "images, three conv–pool–BatchNorm–GELU groups of 48/128/128 channels that start as "
              "identity maps, a 1/9-scaled head: about half the time of the airbench94 widths per "
              "epoch, a point or two less accurate. Made for 32×32 colour photos.",
              9, whitened.whitened_cnn),
    ModelInfo("whitened_cnn_wide", "Whitened CNN, airbench94 widths",
              "The same design at airbench94's 64/256/256 channels: 94% on CIFAR-10 in ten epochs in "
              "its authors' runs (seconds on a GPU; about a minute per epoch on a 2-core CPU with bf16).",
              9, whitened.whitened_cnn_wide),
    ModelInfo("custom", "Custom layer stack",
              "Your own stack of conv, pool, BatchNorm, ReLU, dropout, flatten and linear layers, "
              "built on the Model page.",
              1, build_custom),
)}


def _shape_problem(image_shape) -> str | None:
    ok = (
        isinstance(image_shape, (tuple, list)) and len(image_shape) == 3
        and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in image_shape)
    )
    return None if ok else f"image shape must be (channels, height, width) of positive whole numbers, got {image_shape!r}"


def _problem(arch: str, image_shape, custom_layers) -> str | None:
    if arch not in MODELS:
        return f"unknown architecture {arch!r} — choose one of: {', '.join(MODELS)}"
    problem = _shape_problem(image_shape)
    if problem:
        return problem
    _, h, w = image_shape
    size = MODELS[arch].min_size
    if min(h, w) < size:
        return f"{arch} needs images of at least {size}×{size} pixels, got {h}×{w}"
    if arch == "custom":
        check_layers(custom_layers, tuple(image_shape), None)
    return None


def input_problem(arch: str, image_shape, custom_layers=()) -> str | None:
    """Why `build_model` would refuse this input shape, or None. Never raises."""
    try:
        return _problem(arch, image_shape, custom_layers)
    except ModelError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - config validation feeds raw user input: report it
        return f"cannot check {arch!r} on images of shape {image_shape!r}: {exc}"


def build_model(arch: str, image_shape: tuple, num_classes: int, custom_layers=()) -> nn.Module:
    """A freshly initialised model for images of `image_shape` (C, H, W) and `num_classes`."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise ModelError(f"the number of classes must be a whole number ≥ 1, got {num_classes!r}")
    problem = _problem(arch, image_shape, ())  # a custom stack is checked while it is built
    if problem:
        raise ModelError(problem)
    shape = tuple(int(v) for v in image_shape)
    try:
        return MODELS[arch].build(shape, int(num_classes), custom_layers)
    except RuntimeError as exc:  # a size the min_size check let through but a layer cannot take
        raise ModelError(f"{arch} cannot take images of shape {shape}: {str(exc).splitlines()[0]}") from None


def param_count(arch: str, image_shape: tuple, num_classes: int, custom_layers=()) -> int:
    """Number of parameters, without allocating them (the model is built on the meta device)."""
    with torch.device("meta"):
        model = build_model(arch, image_shape, num_classes, custom_layers)
    return sum(p.numel() for p in model.parameters())


def describe() -> list[dict]:
    """name, title, description and min_size of every architecture (for the UI and the CLI)."""
    return [
        {"name": m.name, "title": m.title, "description": m.description, "min_size": m.min_size}
        for m in MODELS.values()
    ]
