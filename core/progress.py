"""The CLI's subscriber: a tqdm bar per epoch and one line of metrics per epoch."""
from __future__ import annotations

from tqdm import tqdm

from core.engine import Callback


class ProgressPrinter(Callback):
    def __init__(self, file=None):
        self.file = file
        self.bar = None

    def on_batch_end(self, ev, state):
        if self.bar is None:
            self.bar = tqdm(total=ev.batches, desc=f"epoch {ev.epoch}", unit="batch", leave=False,
                            file=self.file, dynamic_ncols=True)
        self.bar.update(1)
        if ev.batch % 10 == 0 or ev.batch == ev.batches:
            self.bar.set_postfix(loss=f"{ev.running_loss:.4f}", acc=f"{ev.running_acc:.3f}",
                                 img_s=f"{ev.images_per_sec:,.0f}", lr=f"{ev.lr:.3g}", refresh=False)

    def on_epoch_end(self, ev, state):
        self._close()
        best = " *best*" if ev.is_best else ""
        tqdm.write(
            f"epoch {ev.epoch:3d}  train loss {ev.train_loss:.4f} acc {ev.train_acc:.2%}  "
            f"val loss {ev.val_loss:.4f} acc {ev.val_acc:.2%}  lr {ev.lr:.3g}  "
            f"{ev.epoch_seconds:.1f}s{best}", file=self.file)

    def on_fit_end(self, result, state):
        self._close()

    def _close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
