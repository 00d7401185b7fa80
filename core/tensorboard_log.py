"""The opt-in TensorBoard writer: a training subscriber like the store's CSV writer.

With `RunConfig.tensorboard` on, the trainer adds `TensorBoardWriter` to the run's callbacks. It
writes the same curves as metrics.csv (per epoch) plus the batch loss and learning rate, and the
run's hyperparameters for TensorBoard's HParams view, as event files in the run folder, so
`tensorboard --logdir checkpoints` lists each run by its id. `tensorboard` is an optional
dependency (requirements-tensorboard.txt): the app works without it and validation says how to
enable it.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from core.engine import Callback

INSTALL = "pip install -r requirements-tensorboard.txt"
# every run logs these, so runs compared in the HParams view share the columns; a sweep adds the
# fields it varies
HPARAM_FIELDS = ("dataset", "arch", "optimizer", "lr", "batch_size", "epochs", "weight_decay", "momentum",
                 "schedule", "label_smoothing", "seed")
BATCH_EVERY = 10  # batch loss every 10 steps: the curve's shape without a file per run of megabytes


def missing() -> str:
    """Why TensorBoard logging cannot work here ("" when it can)."""
    if importlib.util.find_spec("tensorboard") is None:
        return (f"TensorBoard log (tensorboard) needs the tensorboard package, which is not installed: "
                f"run `{INSTALL}`, or turn the TensorBoard log off")
    return ""


def hparams_of(cfg, extra_fields=()) -> dict:
    """The run's hyperparameters as TensorBoard takes them (numbers, text, booleans)."""
    values = cfg.to_dict()
    out = {}
    for name in (*HPARAM_FIELDS, *[f for f in extra_fields if f not in HPARAM_FIELDS]):
        v = values[name]
        out[name] = v if isinstance(v, (int, float, str, bool)) else str(v)
    return out


class TensorBoardWriter(Callback):
    def __init__(self, folder: Path, cfg, extra_fields=()):
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams

        self.writer = SummaryWriter(log_dir=str(folder))
        self.cfg, self._hparams = cfg, hparams
        self.hp = hparams_of(cfg, extra_fields)

    def on_fit_start(self, state):
        # the HParams view reads the experiment and session-start summaries from the run's own
        # folder (SummaryWriter.add_hparams would put them in a sub-run of their own)
        exp, ssi, _ = self._hparams(self.hp, {"hparam/best_val_acc": 0.0, "hparam/final_val_acc": 0.0})
        self.writer.file_writer.add_summary(exp)
        self.writer.file_writer.add_summary(ssi)

    def on_batch_end(self, event, state):
        if event.step % BATCH_EVERY == 0:
            self.writer.add_scalar("batch/loss", event.loss, event.step)
            self.writer.add_scalar("batch/lr", event.lr, event.step)

    def on_epoch_end(self, event, state):
        w, e = self.writer, event.epoch
        w.add_scalar("loss/train", event.train_loss, e)
        w.add_scalar("loss/val", event.val_loss, e)
        w.add_scalar("accuracy/train", event.train_acc, e)
        w.add_scalar("accuracy/val", event.val_acc, e)
        w.add_scalar("lr", event.lr, e)
        w.add_scalar("epoch_seconds", event.epoch_seconds, e)
        w.add_scalar("hparam/best_val_acc", state.best_val_acc, e)
        w.add_scalar("hparam/final_val_acc", event.val_acc, e)
        w.flush()

    def on_fit_end(self, result, state):
        _, _, sei = self._hparams(self.hp, {"hparam/best_val_acc": 0.0})
        self.writer.file_writer.add_summary(sei)  # the session's end: HParams shows it finished
        self.writer.close()
