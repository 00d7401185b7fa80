"""The training engine: plain functions over in-memory tensors that return metrics.

The loop owns the events (batch end, epoch end); the CSV writer, checkpointer, progress bar and
the dashboard subscribe as callbacks. Nothing here prints, reads files or knows about Streamlit.
"""
from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from core.augment import augment_batch, is_active
from core.lookahead import Lookahead

EVAL_BATCH = 1000
# A run has exploded when the mean loss of its last EXPLODE_WINDOW batches is EXPLODE_FACTOR times
# its first batch's loss. A too-large LR often does not reach NaN: the weights jump, the ReLUs
# die and the loss sits far above where it started (LeNet-5 at lr 10: 2.3 -> ~25) while nothing
# is learned.
EXPLODE_WINDOW, EXPLODE_FACTOR = 20, 4.0


class TrainingDiverged(RuntimeError):
    pass


class StopTraining(Exception):
    """Raised inside the loop when the stop event is set, or by a callback's `on_epoch_end` that
    ends the run early (its message says why, e.g. the sweep's median stopping rule); caught by `fit`."""


# ---- events ----------------------------------------------------------------------------

@dataclass
class BatchEvent:
    epoch: int            # 1-based
    batch: int            # 1-based within the epoch
    batches: int
    step: int             # global step, 1-based
    loss: float           # this batch's loss
    running_loss: float   # mean over the epoch so far
    running_acc: float
    lr: float
    images_per_sec: float
    # The batch itself, for subscribers that record per-image results (core/datamap.py): positions
    # in the training split, the outputs of the forward pass training just did (detached, on the
    # device, in train mode and on the augmented images) and the given labels.
    indices: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    labels: torch.Tensor | None = None


@dataclass
class EpochEvent:
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    epoch_seconds: float
    elapsed_seconds: float
    is_best: bool

    def row(self) -> dict:
        return {k: getattr(self, k) for k in (
            "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_seconds",
            "elapsed_seconds")}


class Callback:
    """Subscribers override what they need. `state` is the live TrainState."""

    def on_fit_start(self, state: "TrainState") -> None: ...
    def on_batch_end(self, event: BatchEvent, state: "TrainState") -> None: ...
    def on_epoch_end(self, event: EpochEvent, state: "TrainState") -> None: ...
    def on_fit_end(self, result: "FitResult", state: "TrainState") -> None: ...


# ---- state -----------------------------------------------------------------------------

@dataclass
class TrainState:
    """Everything `fit` mutates; checkpointing it is enough for an exact resume."""
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    schedule: object
    generator: torch.Generator
    epoch: int = 0                       # completed epochs
    step: int = 0
    best_epoch: int = 0
    best_val_acc: float = -1.0
    elapsed_seconds: float = 0.0
    history: list = field(default_factory=list)  # EpochEvent rows
    first_loss: float | None = None              # loss of the run's first batch
    recent_losses: deque = field(default_factory=lambda: deque(maxlen=EXPLODE_WINDOW))

    def rng_state(self) -> dict:
        out = {"generator": self.generator.get_state(), "torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            out["cuda"] = torch.cuda.get_rng_state_all()
        return out

    def set_rng_state(self, rng: dict) -> None:
        self.generator.set_state(rng["generator"])
        torch.set_rng_state(rng["torch"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])


@dataclass
class FitResult:
    status: str            # completed | stopped | failed
    message: str
    epochs_done: int
    best_epoch: int
    best_val_acc: float


@dataclass
class Batches:
    """A split held on the training device as uint8 images + labels."""
    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


# ---- precision -------------------------------------------------------------------------

def uses_channels_last(device: torch.device, cfg) -> bool:
    """NHWC layout: on this 2-core CPU it made LeNet-5 and the lab CNN train ~1.6x faster
    (oneDNN's convolutions prefer it); on CUDA it pairs with autocast's tensor cores."""
    return device.type == "cpu" or (device.type == "cuda" and cfg.mixed_precision)


def cpu_has_fast_bf16() -> bool:
    """Whether oneDNN runs bfloat16 convolutions natively here (AVX-512 BF16 or AMX). On this
    project's 2-core Zen 5 a training step of every CNN in the registry ran 1.6–2.4× faster under
    bf16 autocast (benchmarks/precision_speed.py); on a CPU without it bf16 is emulated and slower."""
    try:
        return torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # the private probe moved: fall back to full precision
        return False


def autocast_for(device: torch.device, enabled: bool, *, training: bool = True):
    """The autocast context of a training step (`training`) or an evaluation pass.

    CUDA: bf16 (fp16 where bf16 is missing) for both. CPU: bf16 for training steps only, and only
    where the CPU has native bf16; evaluation and saved predictions stay float32, so they match what
    the exported model and `python -m core predict` compute."""
    if not enabled:
        return contextlib.nullcontext
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return lambda: torch.autocast("cuda", dtype=dtype)
    if device.type == "cpu" and training and cpu_has_fast_bf16():
        return lambda: torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext


# ---- loops -----------------------------------------------------------------------------

def check_divergence(state: "TrainState", loss: float, epoch: int, step: int) -> None:
    """Raise TrainingDiverged for a NaN/infinite loss or one that exploded far above its start."""
    hint = f"try a smaller learning rate (now {state.schedule.lr:.3g}) or a warm-up"
    if not math.isfinite(loss):
        kind = "NaN" if math.isnan(loss) else "infinite"
        raise TrainingDiverged(f"loss became {kind} at epoch {epoch} step {step} — {hint}")
    if state.first_loss is None:
        state.first_loss = loss
    state.recent_losses.append(loss)
    window = state.recent_losses
    if len(window) == window.maxlen:
        mean = sum(window) / len(window)
        if mean > EXPLODE_FACTOR * state.first_loss:
            raise TrainingDiverged(
                f"loss exploded at epoch {epoch} step {step}: {mean:.3g} over the last {len(window)} batches, "
                f"more than {EXPLODE_FACTOR:g}× the {state.first_loss:.3g} it started at — {hint}")


def batches_per_epoch(n: int, batch_size: int) -> int:
    """Optimizer steps in one pass over `n` images: a last batch of one image breaks BatchNorm, so
    it is left for the next epoch instead. Schedules, previews and the LR finder all count this way."""
    batches = math.ceil(n / batch_size)
    if n > 1 and n % batch_size == 1:
        batches -= 1
    return batches


def train_one_epoch(state: TrainState, data: Batches, cfg, normalize, *, epoch: int,
                    callbacks=(), stop_event: threading.Event | None = None,
                    autocast=contextlib.nullcontext, channels_last=False, lookahead=False) -> dict:
    """One pass over `data` in a random order; returns mean loss, accuracy and timing. With
    `lookahead` (training runs whose config asks for it; not the LR finder's sweep) the weights
    are averaged as core/lookahead.py describes."""
    model, optimizer = state.model, state.optimizer
    model.train()
    n = len(data)
    bs = cfg.batch_size
    batches = batches_per_epoch(n, bs)
    averager = Lookahead(model, cfg.epochs * batches) if lookahead else None
    order = torch.randperm(n, generator=state.generator).to(data.images.device)
    augment = is_active(cfg)
    loss_sum, correct, seen = 0.0, 0, 0
    start = time.perf_counter()
    for b in range(batches):
        if stop_event is not None and stop_event.is_set():
            raise StopTraining()
        idx = order[b * bs:(b + 1) * bs]
        x = normalize(data.images[idx])
        y = data.labels[idx]
        if augment:
            x = augment_batch(x, cfg, state.generator, black=getattr(normalize, "black", None),
                              positions=idx, epoch=epoch)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast():
            out = model(x)
            loss = F.cross_entropy(out, y, label_smoothing=cfg.label_smoothing)
        loss_value = loss.item()
        check_divergence(state, loss_value, epoch, b + 1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        lr = state.schedule.lr
        optimizer.step()
        state.schedule.after_batch()
        state.step += 1
        if averager is not None:
            averager.after_step(state.step, end_of_epoch=b == batches - 1)
        k = len(y)
        loss_sum += loss_value * k
        correct += (out.argmax(1) == y).sum().item()
        seen += k
        if callbacks:
            elapsed = time.perf_counter() - start
            event = BatchEvent(epoch, b + 1, batches, state.step, loss_value, loss_sum / seen,
                               correct / seen, lr, seen / max(elapsed, 1e-9), idx, out.detach(), y)
            for cb in callbacks:
                cb.on_batch_end(event, state)
    seconds = time.perf_counter() - start
    return {"loss": loss_sum / max(seen, 1), "acc": correct / max(seen, 1), "seconds": seconds,
            "images_per_sec": seen / max(seconds, 1e-9)}


def tta_logits(model, x: torch.Tensor, flip: bool, shift: bool) -> torch.Tensor:
    """The model's logits for `x`, averaged over test-time views: with `flip`, the mirror image too;
    with `shift`, the image moved one pixel diagonally each way (reflect-padded, each with its
    mirror under `flip`), weighing a quarter each against the unshifted views' half."""
    def views(v):
        return (model(v) + model(v.flip(3))) / 2 if flip else model(v)

    logits = views(x)
    if shift:
        h, w = x.shape[-2:]
        layout = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
        moved_down_right = padded[..., :h, :w].contiguous(memory_format=layout)
        moved_up_left = padded[..., 2:, 2:].contiguous(memory_format=layout)
        logits = logits / 2 + (views(moved_down_right) + views(moved_up_left)) / 4
    return logits


@torch.no_grad()
def evaluate(model, data: Batches, normalize, *, keep_outputs=False, autocast=contextlib.nullcontext,
             channels_last=False, tta_flip=False, tta_shift=False) -> dict:
    """Mean loss and accuracy; with `keep_outputs`, per-sample preds, probabilities and losses.
    `tta_flip` and `tta_shift` score each image by averaged logits of several views (`tta_logits`)."""
    was_training = model.training
    model.eval()
    n = len(data)
    loss_sum, correct = 0.0, 0
    preds, probs, losses = [], [], []
    for start in range(0, n, EVAL_BATCH):
        x = normalize(data.images[start:start + EVAL_BATCH])
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = data.labels[start:start + EVAL_BATCH]
        with autocast():
            logits = tta_logits(model, x, tta_flip, tta_shift)
        logits = logits.float()
        per_sample = F.cross_entropy(logits, y, reduction="none")
        loss_sum += per_sample.sum().item()
        pred = logits.argmax(1)
        correct += (pred == y).sum().item()
        if keep_outputs:
            preds.append(pred.cpu())
            probs.append(logits.softmax(1).cpu())
            losses.append(per_sample.cpu())
    model.train(was_training)
    out = {"loss": loss_sum / max(n, 1), "acc": correct / max(n, 1)}
    if keep_outputs:
        out["preds"] = torch.cat(preds) if preds else torch.zeros(0, dtype=torch.long)
        out["probs"] = torch.cat(probs) if probs else torch.zeros(0)
        out["losses"] = torch.cat(losses) if losses else torch.zeros(0)
    return out


def fit(state: TrainState, train: Batches, val: Batches, cfg, normalize, *, callbacks=(),
        stop_event: threading.Event | None = None, device=torch.device("cpu")) -> FitResult:
    """Train from `state.epoch` to `cfg.epochs`, emitting events; never raises for a stop or NaN."""
    autocast = autocast_for(device, cfg.mixed_precision)
    eval_autocast = autocast_for(device, cfg.mixed_precision, training=False)
    channels_last = uses_channels_last(device, cfg)
    for cb in callbacks:
        cb.on_fit_start(state)
    status, message = "completed", f"finished {cfg.epochs} epochs"
    try:
        for epoch in range(state.epoch + 1, cfg.epochs + 1):
            lr = state.schedule.lr
            tr = train_one_epoch(state, train, cfg, normalize, epoch=epoch, callbacks=callbacks,
                                 stop_event=stop_event, autocast=autocast, channels_last=channels_last,
                                 lookahead=cfg.lookahead)
            ev = evaluate(state.model, val, normalize, autocast=eval_autocast, channels_last=channels_last,
                          tta_flip=cfg.tta_flip, tta_shift=cfg.tta_shift)
            if not math.isfinite(ev["loss"]):
                raise TrainingDiverged(f"validation loss became non-finite at epoch {epoch} — "
                                       "try a smaller learning rate")
            state.schedule.after_epoch(ev["loss"])
            state.elapsed_seconds += tr["seconds"]
            state.epoch = epoch
            is_best = ev["acc"] > state.best_val_acc
            if is_best:
                state.best_val_acc, state.best_epoch = ev["acc"], epoch
            event = EpochEvent(epoch, tr["loss"], tr["acc"], ev["loss"], ev["acc"], lr, tr["seconds"],
                               state.elapsed_seconds, is_best)
            state.history.append(event.row())
            for cb in callbacks:
                cb.on_epoch_end(event, state)
    except StopTraining as exc:
        status, message = "stopped", str(exc) or f"stopped by the user after {state.epoch} completed epoch(s)"
    except TrainingDiverged as exc:
        status, message = "failed", str(exc)
        if autocast is not contextlib.nullcontext:  # low precision can be the cause: say how to rule it out
            message += "; or turn off Mixed precision (this run trained in reduced precision)"
    result = FitResult(status, message, state.epoch, state.best_epoch, max(state.best_val_acc, 0.0))
    for cb in callbacks:
        cb.on_fit_end(result, state)
    return result
