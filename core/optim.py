"""Optimizer and learning-rate schedule builders, and the LR preview.

Every schedule is stepped once per batch so warm-up and cosine are smooth, while the
epoch-based ones (StepLR, MultiStepLR, ExponentialLR) keep the tutorials' meaning: the LR
changes exactly at epoch boundaries. `lr_preview` runs the very same builder on a dummy
parameter, so the chart the Train page shows is the LR the run will use.
"""
from __future__ import annotations

import math

import pandas as pd
import torch
from torch.optim import lr_scheduler

from core.config import TRIANGLE, RunConfig


def param_groups(params) -> list[dict]:
    """Parameters grouped by their `lr_scale` attribute (a model sets it on e.g. BatchNorm shifts
    that need larger steps). A scaled group's weight decay is divided by the same factor, so each
    step decays those weights exactly as much as the others."""
    groups: dict[float, list] = {}
    for p in params:
        groups.setdefault(float(getattr(p, "lr_scale", 1.0)), []).append(p)
    return [{"params": ps, "lr_scale": scale} for scale, ps in sorted(groups.items())]


def build_optimizer(params, cfg: RunConfig) -> torch.optim.Optimizer:
    groups = param_groups(params)
    optimizer = _build(groups if len(groups) > 1 else groups[0]["params"] if groups else [], cfg)
    for group in optimizer.param_groups:
        scale = group.setdefault("lr_scale", 1.0)
        if scale != 1.0:
            group["lr"] = cfg.lr * scale
            group["weight_decay"] = cfg.weight_decay / scale
    return optimizer


def _build(params, cfg: RunConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                               weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")


def triangle(step: int, total: int) -> float:
    """airbench's schedule: linear from 0.2 up to 1 at 23% of the steps, then linear down to 0.07."""
    start, peak_at, end = TRIANGLE
    peak = max(1, int(peak_at * total))
    if step <= peak:
        return start + (1 - start) * step / peak
    return 1 + (end - 1) * min(step - peak, total - peak) / max(total - peak, 1)


def lr_factor(cfg: RunConfig, steps_per_epoch: int):
    """The multiplier of the initial LR after `step` batches, for the closed-form schedules."""
    total = cfg.epochs * steps_per_epoch
    warm = int(round(cfg.warmup_epochs * steps_per_epoch))
    floor = cfg.min_lr / cfg.lr if cfg.lr else 0.0

    def factor(step: int) -> float:
        epoch = step // steps_per_epoch
        if cfg.schedule == "step":
            f = cfg.gamma ** (epoch // cfg.step_size)
        elif cfg.schedule == "multistep":
            f = cfg.gamma ** sum(1 for m in cfg.milestones if m <= epoch)
        elif cfg.schedule == "exponential":
            f = cfg.gamma ** epoch
        elif cfg.schedule == "cosine":
            t = min(max(step - warm, 0) / max(total - warm, 1), 1.0)
            f = floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))
        elif cfg.schedule == "triangle":
            f = triangle(step, total)
        else:
            f = 1.0
        if warm and step < warm:
            f *= (step + 1) / warm
        return f

    return factor


class Schedule:
    """One interface over torch's schedulers: `after_batch()` and `after_epoch(val_loss)`."""

    def __init__(self, optimizer, cfg: RunConfig, steps_per_epoch: int):
        self.cfg = cfg
        self.optimizer = optimizer
        self.per_batch = None
        self.per_epoch = None
        spe = max(1, steps_per_epoch)
        if cfg.schedule == "onecycle":
            self.per_batch = lr_scheduler.OneCycleLR(
                optimizer, max_lr=[cfg.lr * g.get("lr_scale", 1.0) for g in optimizer.param_groups],
                total_steps=cfg.epochs * spe)
        elif cfg.schedule == "plateau":
            warm = int(round(cfg.warmup_epochs * spe))
            if warm:
                self.per_batch = lr_scheduler.LinearLR(optimizer, start_factor=1 / warm, total_iters=warm - 1)
            self.per_epoch = lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=cfg.gamma,
                                                            patience=cfg.patience)
        elif cfg.schedule != "none" or cfg.warmup_epochs:
            self.per_batch = lr_scheduler.LambdaLR(optimizer, lr_factor(cfg, spe))

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def after_batch(self) -> None:
        if self.per_batch is not None:
            self.per_batch.step()

    def after_epoch(self, val_loss: float) -> None:
        if self.per_epoch is not None:
            self.per_epoch.step(val_loss)

    def state_dict(self) -> dict:
        out = {}
        if self.per_batch is not None:
            out["per_batch"] = self.per_batch.state_dict()
        if self.per_epoch is not None:
            out["per_epoch"] = self.per_epoch.state_dict()
        return out

    def load_state_dict(self, state: dict) -> None:
        if self.per_batch is not None and "per_batch" in state:
            # LambdaLR saves its closure as None and rebuilds it from the config
            self.per_batch.load_state_dict(dict(state["per_batch"]))
        if self.per_epoch is not None and "per_epoch" in state:
            self.per_epoch.load_state_dict(state["per_epoch"])


def lr_preview(cfg: RunConfig, steps_per_epoch: int, *, stalled: bool = False) -> list[float]:
    """The LR used at every training step, without training.

    ReduceLROnPlateau depends on the validation loss, so the preview can only give its bounds:
    flat while the loss keeps improving (the default), and with `stalled` its fastest decay, when
    the loss never improves after the first epoch. Other schedules ignore `stalled`.
    """
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = build_optimizer([param], cfg)
    schedule = Schedule(optimizer, cfg, steps_per_epoch)
    spe = max(1, steps_per_epoch)
    lrs = []
    for _ in range(cfg.epochs):
        for _ in range(spe):
            lrs.append(schedule.lr)
            optimizer.step()
            schedule.after_batch()
        if stalled:
            schedule.after_epoch(1.0)
    return lrs


def lr_table(lrs: list[float], steps_per_epoch: int, stalled: list[float] | None = None) -> pd.DataFrame:
    """The LR of each epoch, from `lr_preview`'s steps: one column where it is constant through
    every epoch, else its first and last batch's. `stalled` (ReduceLROnPlateau's fastest decay)
    adds the LR each epoch starts with if the validation loss never improves."""
    spe = max(1, steps_per_epoch)
    first, last = lrs[::spe], lrs[spe - 1::spe]
    table = pd.DataFrame({"epoch": range(1, len(first) + 1)})
    if first == last:
        table["LR"] = first
    else:
        table["LR at first batch"], table["LR at last batch"] = first, last
    if stalled is not None:
        table = table.rename(columns=lambda c: c if c == "epoch" else f"{c} (val loss improving)")
        table["LR if val loss never improves"] = stalled[::spe]
    return table
