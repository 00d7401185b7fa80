"""Pieces every model module shares: the error class, the registry entry, shape inference."""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


class ModelError(ValueError):
    """A model cannot be built as asked; the message says what to change."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    title: str
    description: str
    min_size: int  # smallest H = W the architecture accepts
    build: Callable[[tuple, int, tuple], nn.Module]  # (image_shape (C,H,W), num_classes, custom_layers)


def output_shape(module: nn.Module, in_shape: tuple) -> tuple:
    """Shape (without batch) that `module` gives for one input of `in_shape`.

    Runs on the meta device, so it costs no memory or compute and never touches the module's
    own weights or BatchNorm statistics.
    """
    meta = copy.deepcopy(module).to("meta").eval()
    with torch.no_grad():
        return tuple(meta(torch.empty(1, *in_shape, device="meta")).shape[1:])

