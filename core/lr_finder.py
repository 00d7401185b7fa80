"""The LR range test (Smith 2015): raise the LR exponentially batch by batch on a copy of the
model and watch the loss; a good starting LR is where the loss falls fastest."""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from core.augment import normalizer
from core.optim import build_optimizer


@dataclass
class LRFinderResult:
    lrs: list[float]
    losses: list[float]          # smoothed
    suggestion: float | None
    note: str


def lr_finder(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, cfg, mean, std, *,
              start_lr: float = 1e-6, end_lr: float = 10.0, steps: int = 200, smoothing: float = 0.9,
              device="cpu") -> LRFinderResult:
    """Sweep on a deep copy: the model passed in is left untouched."""
    model = copy.deepcopy(model).to(device).train()
    optimizer = build_optimizer(model.parameters(), cfg.replace(lr=start_lr))
    normalize = normalizer(mean, std, device)
    gen = torch.Generator().manual_seed(cfg.seed)
    n = len(labels)
    factor = (end_lr / start_lr) ** (1 / max(steps - 1, 1))
    lrs, losses = [], []
    avg, best = 0.0, math.inf
    order = torch.randperm(n, generator=gen)
    pos = 0
    for i in range(steps):
        if pos + cfg.batch_size > n:
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos:pos + cfg.batch_size]
        pos += cfg.batch_size
        lr = start_lr * factor ** i
        for group in optimizer.param_groups:
            group["lr"] = lr
        x = normalize(images[idx].to(device))
        loss = F.cross_entropy(model(x), labels[idx].to(device))
        value = loss.item()
        if not math.isfinite(value):
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        avg = smoothing * avg + (1 - smoothing) * value
        smoothed = avg / (1 - smoothing ** (i + 1))  # bias-corrected, like Adam's moments
        lrs.append(lr)
        losses.append(smoothed)
        best = min(best, smoothed)
        if i > 10 and smoothed > 4 * best:
            break  # diverged: the rest of the curve says nothing
    return LRFinderResult(lrs, losses, *_suggest(lrs, losses))


def _suggest(lrs, losses):
    """The LR of the steepest descent of the smoothed loss, before its minimum."""
    if len(losses) < 10:
        return None, "the loss diverged almost at once; try a smaller start LR or check the data"
    low = min(range(len(losses)), key=losses.__getitem__)
    if low < 5:
        return None, "the loss never fell; the model may not be learning at any LR"
    logs = [math.log10(lr) for lr in lrs[:low + 1]]
    slopes = [(losses[i + 1] - losses[i - 1]) / (logs[i + 1] - logs[i - 1]) for i in range(1, low)]
    steepest = min(range(len(slopes)), key=slopes.__getitem__) + 1
    return lrs[steepest], (f"steepest fall at {lrs[steepest]:.2g}; the loss was lowest at "
                           f"{lrs[low]:.2g}. A value near the steepest point is usually a safe start.")
