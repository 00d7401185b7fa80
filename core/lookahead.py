"""Lookahead weight averaging, as the CIFAR-10 speed runs (airbench) use it.

Every `EVERY` optimizer steps, and at the end of each epoch, the weights (BatchNorm statistics
included) are pulled back toward the copy taken at the previous such point, and the copy becomes
the result: slow ← slow + (1 − d)·(fast − slow); fast ← slow. The pull `d` grows with the cube of
the run's progress, so early training is untouched and the last epochs are smoothed.

Because the weights and the copy agree after the end-of-epoch pull, the copy is rebuilt from the
epoch's starting weights: a resumed run continues bit-exactly without any saved state.
"""
from __future__ import annotations

import torch

EVERY = 5
BASE = 0.95  # per step: airbench's ema decay 0.95 (0.95⁵ per pull), times progress³


class Lookahead:
    def __init__(self, model: torch.nn.Module, total_steps: int):
        self.model, self.total = model, max(1, total_steps)
        self.slow = {k: v.detach().clone() for k, v in self._floats().items()}
        self.since = 0

    def _floats(self) -> dict:
        return {k: v for k, v in self.model.state_dict().items() if v.is_floating_point()}

    def pull_strength(self, step: int) -> float:
        """d of the pull after global step `step` (1-based), as above."""
        return BASE ** EVERY * min(step / self.total, 1.0) ** 3

    @torch.no_grad()
    def after_step(self, step: int, end_of_epoch: bool = False) -> None:
        self.since += 1
        if self.since < EVERY and not end_of_epoch:
            return
        self.since = 0
        d = self.pull_strength(step)
        for k, fast in self._floats().items():
            slow = self.slow[k]
            slow.lerp_(fast, 1 - d)
            fast.copy_(slow)
