"""Data maps (Dataset Cartography, Swayamdipta et al. 2020): how each training image was learned.

While a run trains, `DataMapRecorder` keeps, for every training image and epoch, the softmax
probability the model gave the image's label and whether its prediction was right. It reads them
off the forward pass training already does (the engine's batch event carries the batch's
positions and outputs), so there is no extra pass over the data; the numbers are therefore those
of a model in train mode (dropout, BatchNorm batch statistics) on the *augmented* image, taken just
before that batch's optimizer step — as in the paper's own implementation.

`summarize` turns the epochs into the map's coordinates: confidence (mean over epochs),
variability (their standard deviation) and correctness (the share of epochs it was right), and a
region for each image:

    ambiguous       variability >= AMBIGUOUS_VARIABILITY   the model kept changing its mind
    easy-to-learn   otherwise, confidence >= EASY_CONFIDENCE
    hard-to-learn   otherwise                              often mislabeled or atypical images
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch

from core.engine import Callback
from core.run_files import CONFIDENCE_SCALE, UNSEEN, DataMap

EASY, AMBIGUOUS, HARD = "easy-to-learn", "ambiguous", "hard-to-learn"
REGIONS = (EASY, AMBIGUOUS, HARD)
AMBIGUOUS_VARIABILITY = 0.2
EASY_CONFIDENCE = 0.5


# ---- recording ----------------------------------------------------------------------------------

class DataMapRecorder(Callback):
    """Collects one column per epoch; `table(epochs)` is what the run store writes with that
    epoch's checkpoint. Everything per batch stays on the training device (no sync, no copy)."""

    def __init__(self, index: torch.Tensor, labels: torch.Tensor, device=torch.device("cpu")):
        self.index = index.to(torch.int64).cpu()
        self.labels = labels.to(torch.int64).cpu()
        self.device = torch.device(device)
        self._conf: list[np.ndarray] = []      # finished epochs, oldest first
        self._correct: list[np.ndarray] = []
        self._epoch = 0                        # the epoch the device buffers hold
        self._buf_conf = self._buf_correct = None

    def resume(self, saved: DataMap | None, epochs_done: int) -> None:
        """Continue after `epochs_done` epochs: the saved columns for them, "unseen" for any it lacks
        (a map written before a crash may hold one epoch more than the checkpoint: it is dropped)."""
        n = len(self.index)
        same = saved is not None and np.array_equal(saved.index, self.index.numpy()) \
            and np.array_equal(saved.labels, self.labels.numpy())
        self._conf, self._correct, self._epoch = [], [], epochs_done
        for e in range(epochs_done):
            if same and e < saved.epochs:
                self._conf.append(saved.confidence[e].copy())
                self._correct.append(saved.correct[e].copy())
            else:
                self._conf.append(np.full(n, UNSEEN, np.uint8))
                self._correct.append(np.full(n, UNSEEN, np.uint8))

    def on_batch_end(self, event, state) -> None:
        if event.indices is None:
            return
        if event.epoch != self._epoch:
            self._start(event.epoch)
        logits = event.logits.float()
        p_true = logits.softmax(1).gather(1, event.labels.view(-1, 1)).view(-1)
        self._buf_conf[event.indices] = (p_true * CONFIDENCE_SCALE).round_().to(torch.uint8)
        self._buf_correct[event.indices] = (logits.argmax(1) == event.labels).to(torch.uint8)

    def _start(self, epoch: int) -> None:
        self._finish()
        n = len(self.index)
        # epochs skipped without a batch (none in practice) stay "unseen"
        while len(self._conf) < epoch - 1:
            self._conf.append(np.full(n, UNSEEN, np.uint8))
            self._correct.append(np.full(n, UNSEEN, np.uint8))
        self._buf_conf = torch.full((n,), UNSEEN, dtype=torch.uint8, device=self.device)
        self._buf_correct = torch.full((n,), UNSEEN, dtype=torch.uint8, device=self.device)
        self._epoch = epoch

    def _finish(self) -> None:
        """Move the device buffers of the epoch under way into the finished columns."""
        if self._buf_conf is not None and len(self._conf) < self._epoch:
            self._conf.append(self._buf_conf.cpu().numpy())
            self._correct.append(self._buf_correct.cpu().numpy())
        self._buf_conf = self._buf_correct = None

    def table(self, epochs: int) -> DataMap:
        """The map of epochs 1..`epochs`, exactly that many columns (call at the end of `epochs`)."""
        if self._epoch == epochs:
            self._finish()
        n = len(self.index)
        conf, correct = self._conf[:epochs], self._correct[:epochs]
        blank = np.full(n, UNSEEN, np.uint8)
        conf = conf + [blank] * (epochs - len(conf))
        correct = correct + [blank] * (epochs - len(correct))
        as_2d = lambda cols: np.stack(cols) if cols else np.zeros((0, n), np.uint8)  # noqa: E731
        return DataMap(self.index.numpy(), self.labels.numpy(), as_2d(conf), as_2d(correct))


# ---- reading ------------------------------------------------------------------------------------

def probabilities(dm: DataMap) -> np.ndarray:
    """float32 [E, N] probabilities of the given label; NaN where the image was not seen."""
    out = dm.confidence.astype(np.float32) / CONFIDENCE_SCALE
    out[dm.confidence == UNSEEN] = np.nan
    return out


def summarize(dm: DataMap) -> pd.DataFrame:
    """One row per training image: index, label, confidence, variability, correctness, epochs, region.

    Variability is the population standard deviation over the epochs the image was seen (the
    paper's definition); it needs two epochs to mean anything, and is 0 after one.
    """
    p = probabilities(dm)
    seen = ~np.isnan(p)
    epochs = seen.sum(0)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an image never seen: NaN, shown as such
        confidence = np.nanmean(p, axis=0)
        variability = np.nanstd(p, axis=0)
        right = np.where(seen, dm.correct == 1, False).sum(0)
        correctness = right / np.maximum(epochs, 1)
    frame = pd.DataFrame({"index": dm.index, "label": dm.labels, "confidence": confidence,
                          "variability": variability, "correctness": np.where(epochs > 0, correctness, np.nan),
                          "epochs": epochs})
    frame["region"] = regions(frame["confidence"].to_numpy(), frame["variability"].to_numpy())
    return frame


def regions(confidence: np.ndarray, variability: np.ndarray) -> np.ndarray:
    """The region of each image by the rule in this module's docstring ("" when never seen)."""
    out = np.where(variability >= AMBIGUOUS_VARIABILITY, AMBIGUOUS,
                   np.where(confidence >= EASY_CONFIDENCE, EASY, HARD)).astype(object)
    out[np.isnan(confidence)] = ""
    return out

