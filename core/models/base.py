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


def output_shape(module: nn.Module, in_shape: tuple, device: str = "cpu") -> tuple:
    """Shape (without batch) that `module` gives for one input of `in_shape`.

    Runs one zero image through a copy in eval mode, so the module's own weights and BatchNorm
    statistics are never touched. Custom stacks pass device="meta" (no memory for absurd sizes a
    person may type); built-in models use the CPU, because the first forward pass on meta tensors
    imports torch._dynamo: 2-5 s and ~150 MiB for a LeNet-5.
    """
    if any(p.is_meta for p in module.parameters()):
        device = "meta"  # built there (param_count): its weights cannot be copied anywhere else
    probe = copy.deepcopy(module).to(device).eval()
    with torch.no_grad():
        return tuple(probe(torch.zeros(1, *in_shape, device=device)).shape[1:])

