"""The LR range test (Smith 2015): raise the LR exponentially batch by batch and watch the loss; a
good starting LR is where the loss falls fastest.

It runs through the engine's own `train_one_epoch` on a freshly prepared run (fastai's LRFinder is
a callback on the same fit for the same reason): the sweep sees exactly the augmentation, label
smoothing, precision and memory layout that training will. Only the schedule is swapped for the
sweep, and a subscriber records each batch.
"""
from __future__ import annotations

import hashlib
import json
import math
import threading
from dataclasses import dataclass

from core.engine import (Callback, StopTraining, TrainingDiverged, autocast_for, train_one_epoch,
                         uses_channels_last)

START_LR, END_LR, STEPS = 1e-6, 10.0, 150
# Fields the sweep does not depend on: it sets the LR itself and runs for STEPS batches.
IGNORED = ("name", "lr", "schedule", "step_size", "milestones", "gamma", "min_lr", "patience", "warmup_epochs",
           "epochs", "threads")


def config_key(cfg) -> str:
    """Identifies the sweep a config would run; a result is shown only for configs with its key."""
    relevant = {k: v for k, v in cfg.to_dict().items() if k not in IGNORED}
    return hashlib.sha1(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class LRFinderResult:
    lrs: list[float]
    losses: list[float]          # smoothed
    suggestion: float | None
    note: str


class SweepSchedule:
    """The engine's Schedule interface, raising the LR by a constant factor after every batch."""

    def __init__(self, optimizer, start_lr: float, end_lr: float, steps: int):
        self.optimizer = optimizer
        self.factor = (end_lr / start_lr) ** (1 / max(steps - 1, 1))
        self._set(start_lr)

    def _set(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)  # a scaled group keeps its ratio to the rest

    @property
    def lr(self) -> float:
        group = self.optimizer.param_groups[0]
        return group["lr"] / group.get("lr_scale", 1.0)

    def after_batch(self) -> None:
        self._set(self.lr * self.factor)

    def after_epoch(self, val_loss: float) -> None:
        pass


class _Recorder(Callback):
    def __init__(self, steps: int, smoothing: float, stop_event: threading.Event | None):
        self.steps, self.smoothing, self.stop_event = steps, smoothing, stop_event
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self._avg, self._best = 0.0, math.inf

    def on_batch_end(self, event, state) -> None:
        i = len(self.lrs)
        self._avg = self.smoothing * self._avg + (1 - self.smoothing) * event.loss
        smoothed = self._avg / (1 - self.smoothing ** (i + 1))  # bias-corrected, like Adam's moments
        self.lrs.append(event.lr)
        self.losses.append(smoothed)
        self._best = min(self._best, smoothed)
        diverged = i > 10 and smoothed > 4 * self._best  # the rest of the curve says nothing
        if diverged or len(self.lrs) >= self.steps or (self.stop_event is not None and self.stop_event.is_set()):
            raise StopTraining()


def run(cfg, data_dir=None, stop_event: threading.Event | None = None) -> LRFinderResult | str:
    """Prepare `cfg` as training would and sweep; a message instead when it cannot run."""
    from core import data, models, trainer
    from core.config import ConfigError

    try:
        prep = trainer.prepare(cfg, data_dir=data_dir)
        return find_lr(prep, stop_event=stop_event)
    except (ConfigError, data.DatasetError, models.ModelError, trainer.DeviceError) as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - the job runner must survive a sweep
        return f"the LR finder failed: {trainer.failure_message(exc, None, '')}"


def find_lr(prep, *, start_lr: float = START_LR, end_lr: float = END_LR, steps: int = STEPS,
            smoothing: float = 0.9, stop_event: threading.Event | None = None) -> LRFinderResult:
    """Sweep on `prep` (a `trainer.prepare`d run, which it then owns: its model is trained by the
    sweep and should be thrown away)."""
    state = prep.state
    state.schedule = SweepSchedule(state.optimizer, start_lr, end_lr, steps)
    recorder = _Recorder(steps, smoothing, stop_event)
    fast = {"autocast": autocast_for(prep.device, prep.cfg.mixed_precision),
            "channels_last": uses_channels_last(prep.device, prep.cfg)}
    epoch = 0
    try:
        while len(recorder.lrs) < steps:
            epoch += 1
            train_one_epoch(state, prep.train, prep.cfg, prep.normalize, epoch=epoch, callbacks=[recorder], **fast)
    except (StopTraining, TrainingDiverged):
        pass  # the sweep ended: enough steps, a stop, or a loss that exploded at a high LR
    return LRFinderResult(recorder.lrs, recorder.losses, *_suggest(recorder.lrs, recorder.losses))


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
