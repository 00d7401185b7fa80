"""Layer tables (via torchinfo) and the layer lists the Inspect page draws from."""
from __future__ import annotations

import numbers
import sys
from dataclasses import dataclass

import pandas as pd
import torch
import torchinfo
from torch import nn

from core.models.base import ModelError

# Depth 2 lists the leaves of flat models and, in ResNets, one row per residual block.
SUMMARY_DEPTH = 2
_SPATIAL = (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d, nn.AvgPool2d)


def _residual_blocks() -> tuple:
    # a model can only hold torchvision's blocks once torchvision is imported, so never import it here
    tv = sys.modules.get("torchvision.models.resnet")
    return (tv.BasicBlock, tv.Bottleneck) if tv else ()


@dataclass
class ModelSummary:
    rows: list[dict]  # layer, type, input_shape, output_shape (both incl. batch), params, trainable, macs
    total_params: int
    trainable_params: int
    total_macs: int
    size_mb: float  # parameter bytes / 2**20
    buffers_mb: float = 0.0  # BatchNorm running statistics etc.: saved with the weights, never trained

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    @property
    def state_mb(self) -> float:
        """About the size of the saved weights (parameters and buffers)."""
        return self.size_mb + self.buffers_mb

    def to_frame(self) -> pd.DataFrame:
        columns = ["layer", "type", "input_shape", "output_shape", "params", "trainable", "macs"]
        frame = pd.DataFrame(self.rows, columns=columns)
        for shape in ("input_shape", "output_shape"):
            frame[shape] = frame[shape].map(lambda s: " × ".join(map(str, s)))
        return frame


def summary(model: nn.Module, input_size: tuple) -> ModelSummary:
    """Output shape, parameters and multiply-adds of each layer for one batch of `input_size`.

    Runs one forward pass of a single image in eval mode on the model's device (so BatchNorm
    statistics are left alone) and restores every module's train/eval mode afterwards. Shapes
    and multiply-adds grow linearly with the batch, so they are scaled to `input_size`'s batch
    rather than paying for a forward pass of the whole batch.
    """
    if len(input_size) != 4 or not all(isinstance(v, numbers.Integral) and v > 0 for v in input_size):
        raise ModelError(f"input size must be (batch, channels, height, width), got {input_size!r}")
    batch, *image = input_size
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    modes = {m: m.training for m in model.modules()}
    try:
        stats = torchinfo.summary(
            model, input_size=(1, *image), verbose=0, depth=SUMMARY_DEPTH, device=device,
            mode="eval", col_names=("output_size", "num_params", "mult_adds"),
        )
    except RuntimeError as exc:
        cause = str(exc.__cause__ or exc).splitlines()[0]
        raise ModelError(f"cannot run the model on input of size {tuple(input_size)}: {cause}") from None
    finally:
        # torchinfo restores only the top module's mode, and caches every summary's layer list
        # (holding the model alive) even when caching is off
        for module, training in modes.items():
            module.training = training
        torchinfo.torchinfo.clear_cached_forward_pass()
    return ModelSummary(
        rows=_rows(model, stats.summary_list, batch),
        total_params=int(stats.total_params),
        trainable_params=int(stats.trainable_params),
        total_macs=int(stats.total_mult_adds) * batch,
        size_mb=stats.total_param_bytes / 2**20,
        buffers_mb=sum(b.numel() * b.element_size() for b in model.buffers()) / 2**20,
    )


def _rows(model: nn.Module, layers: list, batch: int) -> list[dict]:
    names = {id(m): name for name, m in model.named_modules()}
    rows = []
    for info in layers:
        shown = info.depth == SUMMARY_DEPTH or (info.is_leaf_layer and info.depth < SUMMARY_DEPTH)
        if info.depth == 0 or info.is_recursive or not shown:
            continue
        macs = info.macs if info.is_leaf_layer else sum(c.macs for c in info.children if c.is_leaf_layer)
        rows.append({
            "layer": names.get(id(info.module), info.var_name),
            "type": info.class_name,
            "input_shape": [batch, *info.input_size[1:]],
            "output_shape": [batch, *info.output_size[1:]],
            "params": int(info.num_params),
            "trainable": int(info.trainable_params),
            "macs": int(macs) * batch,
        })
    return rows


def conv_layers(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """Every Conv2d with its dotted name, in forward order (for filter plots)."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def feature_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Layers whose outputs are image-like feature maps, in forward order.

    Residual blocks count as one layer (their insides are not listed); listing stops at the
    first Flatten or Linear, after which outputs are flat vectors.
    """
    out: list[tuple[str, nn.Module]] = []
    block = None
    for name, m in model.named_modules():
        if block is not None and name.startswith(block + "."):
            continue
        if isinstance(m, (nn.Flatten, nn.Linear)):
            break
        if isinstance(m, _residual_blocks()):
            out.append((name, m))
            block = name
        elif isinstance(m, _SPATIAL):
            out.append((name, m))
    return out
