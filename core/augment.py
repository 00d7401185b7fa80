"""Per-batch augmentation with tensor ops (the airbench way).

The whole dataset stays a uint8 tensor; each batch is converted, normalised and augmented here.
Shifts are whole-pixel random crops of the padded batch (one gather); rotation and zoom are one
`affine_grid`/`grid_sample` call for the whole batch. Both are far cheaper than per-sample PIL
transforms and need no DataLoader workers. What comes in from outside the image is black (digits)
or the image mirrored at its edge (photos), as `cfg.aug_pad` says.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def normalizer(mean, std, device, dtype=torch.float32):
    """Return f(uint8 batch) -> normalised float batch, with the constants built once. `f.black` is
    what a black pixel becomes (the padding of shifts, rotations and zooms in "black" mode)."""
    m = torch.tensor(mean, device=device, dtype=dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, device=device, dtype=dtype).view(1, -1, 1, 1)
    scale = 1.0 / (255.0 * s)
    shift = m / s

    def normalize(x: torch.Tensor) -> torch.Tensor:
        return x.to(dtype) * scale - shift

    normalize.black = -shift
    return normalize


def is_active(cfg) -> bool:
    return bool(cfg.aug_translate or cfg.aug_rotate or cfg.aug_scale or cfg.aug_hflip or cfg.aug_erase)


def augment_batch(x: torch.Tensor, cfg, generator: torch.Generator | None = None,
                  black: torch.Tensor | None = None, positions: torch.Tensor | None = None,
                  epoch: int | None = None) -> torch.Tensor:
    """Augment a normalised float batch [B,C,H,W] as `cfg` asks; returns a new tensor.

    Random numbers come from `generator` (on the CPU) so runs are reproducible and resumable.
    `black` is the normalised value of a black pixel per channel (`normalizer(...).black`); without
    it each image's own minimum stands in. `positions` (each image's place in the training split)
    and `epoch` let `cfg.aug_hflip_alternate` flip each image in every other epoch; without them
    (previews) flips are coin tosses.
    """
    b = x.shape[0]
    if black is None:
        black = x.amin(dim=(2, 3), keepdim=True)
    if cfg.aug_rotate or cfg.aug_scale:
        x = _rotate_zoom(x, cfg, generator, black)
    if cfg.aug_translate:
        x = _shift(x, cfg.aug_translate, cfg.aug_pad, generator, black)
    if cfg.aug_hflip:
        if cfg.aug_hflip_alternate and positions is not None and epoch is not None:
            flip = alternate_flips(positions.cpu(), cfg.seed, epoch)
        else:
            flip = torch.rand(b, generator=generator) < 0.5
        x = torch.where(flip.to(x.device).view(b, 1, 1, 1), x.flip(3), x)
    if cfg.aug_erase:
        x = _erase(x, cfg.aug_erase, generator)
    return x


def alternate_flips(positions: torch.Tensor, seed: int, epoch: int) -> torch.Tensor:
    """Whether each image is mirrored in `epoch` (1-based): a fixed pseudo-random bit per image and
    seed, inverted every other epoch. A hash, not a drawn mask, so resuming needs no saved state."""
    h = (positions.long() + 1) * 0x9E3779B1 + (seed + 1) * 0x85EBCA77
    h = (h ^ (h >> 15)) * 0x2C1B3C6D  # int64 wraps; the bit below is well mixed
    bit = ((h >> 17) & 1).bool()
    return bit ^ bool(epoch % 2 == 0)


def _shift(x, pixels: int, pad: str, generator, black):
    """Shift each image by whole pixels in [-p, p] on both axes: a random crop of the padded batch,
    as RandomCrop(size, padding=p) does, in one gather for the whole batch (no resampling blur)."""
    b, c, h, w = x.shape
    p = min(pixels, h - 1, w - 1)  # reflect padding needs p < size
    if pad == "reflect":
        padded = F.pad(x, (p, p, p, p), mode="reflect")
    else:
        padded = F.pad(x - black, (p, p, p, p)) + black  # zeros around the image, then black
    dy = torch.randint(0, 2 * p + 1, (b,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * p + 1, (b,), generator=generator).to(x.device)
    rows = (torch.arange(h, device=x.device).view(1, h) + dy.view(b, 1)).view(b, 1, h, 1)
    cols = (torch.arange(w, device=x.device).view(1, w) + dx.view(b, 1)).view(b, 1, 1, w)
    batch = torch.arange(b, device=x.device).view(b, 1, 1, 1)
    channel = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return padded[batch, channel, rows, cols]


def _rotate_zoom(x, cfg, generator, black):
    b, _, h, w = x.shape
    rand = lambda: torch.rand(b, generator=generator) * 2 - 1  # uniform in [-1, 1]
    angle = rand() * math.radians(cfg.aug_rotate)
    scale = 1 + rand() * cfg.aug_scale
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    zero = torch.zeros(b)
    theta = torch.stack(
        [torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1
    ).to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if cfg.aug_pad == "reflect":
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    # zeros outside the image, shifted so that they are black after normalisation
    out = F.grid_sample(x - black, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out + black


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
