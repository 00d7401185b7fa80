"""The tensors every dataset source produces, and the split/statistics helpers they share."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .info import DIGIT_DATASETS, DatasetError

# ---- splits and datasets --------------------------------------------------------------

@dataclass
class Split:
    images: torch.Tensor  # uint8 [N, C, H, W]
    labels: torch.Tensor  # int64 [N]

    def __post_init__(self) -> None:
        # Catching a wrong layout here beats a shape error deep inside a training step.
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 [N,C,H,W], got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                f"labels must be int64 [N={self.images.shape[0]}], got {self.labels.dtype} {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: torch.Tensor) -> Split:
        return Split(self.images[index], self.labels[index])


@dataclass
class Dataset:
    """A whole dataset in memory. Shared by the per-process cache: treat it as read-only."""

    name: str
    title: str
    classes: list[str]
    mean: tuple[float, ...]  # per channel, [0, 1] scale, from the train split
    std: tuple[float, ...]
    train: Split
    test: Split
    source: str

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train.images.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def is_digits(self) -> bool:
        # The Playground's drawing canvas only makes sense for handwritten digits.
        return self.name in DIGIT_DATASETS



# ---- helpers --------------------------------------------------------------------------

def empty_like(split: Split) -> Split:
    return Split(split.images[:0], split.labels[:0])


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and std on the [0, 1] scale.

    A 256-bin histogram per channel gives exact moments without ever building a float copy
    of the images (CIFAR's train split would need 600 MB as float32).
    """
    values = torch.arange(256, dtype=torch.float64) / 255.0
    means, stds = [], []
    for c in range(images.shape[1]):
        hist = torch.bincount(images[:, c].reshape(-1), minlength=256).to(torch.float64)
        total = hist.sum().item()
        if total == 0:
            means.append(0.0)
            stds.append(1.0)
            continue
        mean = float((hist * values).sum() / total)
        var = float((hist * (values - mean) ** 2).sum() / total)
        means.append(round(mean, 6))
        stds.append(round(math.sqrt(var), 6) if var > 0 else 1.0)  # constant images: avoid /0
    return tuple(means), tuple(stds)


def holdout(split: Split, share: float, seed: int) -> tuple[Split, Split]:
    """Deterministic stratified split into (kept, held_out) with `share` of each class held out.

    Quotas use largest remainders so the held-out size is round(N * share) overall; a class
    never gives up its last example. Both parts keep the original order.
    """
    if share == 0 or len(split) == 0:
        if not 0 <= share < 1:
            raise DatasetError(f"the held-out share must be in [0, 1), got {share:g}")
        return split, empty_like(split)
    kept, held = holdout_indices(split.labels, share, seed)
    return split.subset(kept), split.subset(held)


def holdout_indices(labels: torch.Tensor, share: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The positions `holdout` keeps and holds out, each sorted: the data map and the validation
    predictions name their images by these positions in the dataset's own split."""
    if not 0 <= share < 1:
        raise DatasetError(f"the held-out share must be in [0, 1), got {share:g}")
    n = len(labels)
    if share == 0 or n == 0:
        return torch.arange(n), torch.zeros(0, dtype=torch.long)
    generator = torch.Generator().manual_seed(int(seed))
    classes, counts = torch.unique(labels, sorted=True, return_counts=True)
    counts = counts.tolist()
    quota = [math.floor(c * share) for c in counts]
    leftover = round(n * share) - sum(quota)
    by_remainder = sorted(range(len(counts)), key=lambda i: (-(counts[i] * share - quota[i]), i))
    for i in by_remainder:
        if leftover <= 0:
            break
        if quota[i] < counts[i] - 1:
            quota[i] += 1
            leftover -= 1
    held = []
    for cls, k in zip(classes.tolist(), quota):
        members = (labels == cls).nonzero().flatten()
        held.append(members[torch.randperm(len(members), generator=generator)[:k]])
    held_idx = torch.cat(held).sort().values
    mask = torch.ones(n, dtype=torch.bool)
    mask[held_idx] = False
    return mask.nonzero().flatten(), held_idx


def shuffled(split: Split, seed: int) -> Split:
    """A fixed permutation, so sets stored class by class don't show one class first."""
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(int(seed)))
    return split.subset(order)
