"""Per-batch augmentation with tensor ops (the airbench way).

The whole dataset stays a uint8 tensor; each batch is converted, normalised and augmented here.
One `affine_grid`/`grid_sample` call does shift, rotation and zoom for the whole batch, which is
far cheaper than per-sample PIL transforms and needs no DataLoader workers.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def normalizer(mean, std, device, dtype=torch.float32):
    """Return f(uint8 batch) -> normalised float batch, with the constants built once."""
    m = torch.tensor(mean, device=device, dtype=dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, device=device, dtype=dtype).view(1, -1, 1, 1)
    scale = 1.0 / (255.0 * s)
    shift = m / s

    def normalize(x: torch.Tensor) -> torch.Tensor:
        return x.to(dtype) * scale - shift

    return normalize


def is_active(cfg) -> bool:
    return bool(cfg.aug_translate or cfg.aug_rotate or cfg.aug_scale or cfg.aug_hflip or cfg.aug_erase)


def augment_batch(x: torch.Tensor, cfg, generator: torch.Generator | None = None) -> torch.Tensor:
    """Augment a normalised float batch [B,C,H,W] as `cfg` asks; returns a new tensor.

    Random numbers come from `generator` (on the CPU) so runs are reproducible and resumable.
    """
    b, _, h, w = x.shape
    if cfg.aug_translate or cfg.aug_rotate or cfg.aug_scale:
        x = _affine(x, cfg, generator)
    if cfg.aug_hflip:
        flip = (torch.rand(b, generator=generator) < 0.5).to(x.device).view(b, 1, 1, 1)
        x = torch.where(flip, x.flip(3), x)
    if cfg.aug_erase:
        x = _erase(x, cfg.aug_erase, generator)
    return x


def _affine(x, cfg, generator):
    b, _, h, w = x.shape
    rand = lambda: torch.rand(b, generator=generator) * 2 - 1  # uniform in [-1, 1]
    angle = rand() * math.radians(cfg.aug_rotate)
    scale = 1 + rand() * cfg.aug_scale
    # grid coordinates span [-1, 1], so a shift of p pixels is 2p/size in grid units
    tx = rand() * (2 * cfg.aug_translate / w)
    ty = rand() * (2 * cfg.aug_translate / h)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1
    ).to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # pixels that come from outside the image get the background: the batch minimum per image
    # (normalised black), which is what zero-padding means before normalisation
    background = x.amin(dim=(1, 2, 3), keepdim=True)
    out = F.grid_sample(x - background, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out + background


def _erase(x, probability, generator):
    """Random erasing (Zhong et al.): a rectangle of 2–33% of the area, aspect 0.3–3.3, set to 0."""
    b, _, h, w = x.shape
    area = (torch.rand(b, generator=generator) * 0.31 + 0.02) * h * w
    log_ratio = (torch.rand(b, generator=generator) * 2 - 1) * math.log(3.3)
    ratio = torch.exp(log_ratio)
    eh = (area * ratio).sqrt().clamp(1, h).long()
    ew = (area / ratio).sqrt().clamp(1, w).long()
    top = (torch.rand(b, generator=generator) * (h - eh + 1).float()).long()
    left = (torch.rand(b, generator=generator) * (w - ew + 1).float()).long()
    apply = torch.rand(b, generator=generator) < probability
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    mask = (
        (rows >= top.view(b, 1, 1)) & (rows < (top + eh).view(b, 1, 1))
        & (cols >= left.view(b, 1, 1)) & (cols < (left + ew).view(b, 1, 1))
        & apply.view(b, 1, 1)
    )
    return x.masked_fill(mask.unsqueeze(1).to(x.device), 0.0)
