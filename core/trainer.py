"""One run end to end: data + model + engine + run store. The CLI and the job runner call this."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import torch

from core import checkpoints, data, models
from core.augment import normalizer
from core.config import ConfigError, RunConfig
from core.datamap import DataMapRecorder
from core.engine import (Batches, Callback, FitResult, TrainState, autocast_for, batches_per_epoch, evaluate,
                         fit, uses_channels_last)
from core.optim import Schedule, build_optimizer
from core.run_files import ModelMeta
from core.runs import RunError, RunStore


class DeviceError(RuntimeError):
    pass


def resolve_device(name: str) -> torch.device:
    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps and mps.is_available())
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if mps_ok else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError("device cuda was chosen but PyTorch sees no CUDA GPU here — choose auto or cpu "
                          "(or install a CUDA build of PyTorch on a machine with an NVIDIA GPU)")
    if name == "mps" and not mps_ok:
        raise DeviceError("device mps was chosen but Apple's Metal backend is not available here — "
                          "choose auto or cpu")
    return torch.device(name)


def available_devices() -> list[str]:
    out = ["cpu"]
    if torch.cuda.is_available():
        out.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps and mps.is_available():
        out.append("mps")
    return out


@dataclass
class Prepared:
    cfg: RunConfig
    dataset: data.Dataset
    device: torch.device
    train: Batches
    val: Batches
    test: Batches
    normalize: object
    state: TrainState
    train_index: torch.Tensor          # positions of `train` in the dataset's training split
    val_index: torch.Tensor | None     # positions of `val` there; None when the test set validates


def splits(ds: data.Dataset, cfg: RunConfig) -> tuple:
    """(train, validation): a held-out share of the training set, or the test set when none."""
    return data.holdout(ds.train, cfg.val_split, cfg.seed) if cfg.val_split else (ds.train, ds.test)


def split_positions(ds: data.Dataset, cfg: RunConfig) -> tuple:
    """Where `splits`' images sit in the dataset's training split: (train, validation or None)."""
    if not cfg.val_split:
        return torch.arange(len(ds.train)), None
    return data.holdout_indices(ds.train.labels, cfg.val_split, cfg.seed)


def steps_per_epoch(ds: data.Dataset, cfg: RunConfig) -> int:
    """Optimizer steps per epoch of this config on this dataset, exactly as training takes them."""
    return batches_per_epoch(len(splits(ds, cfg)[0]), cfg.batch_size)


def prepare(cfg: RunConfig, data_dir=None, progress=None) -> Prepared:
    """Validate, load data onto the device, build model/optimizer/schedule, seed everything."""
    cfg.validate()
    device = resolve_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    ds = data.load(cfg.dataset, data_dir=data_dir, progress=progress)
    cfg.validate(image_shape=ds.shape)
    train_split, val_split = splits(ds, cfg)
    if len(train_split) == 0:
        raise ConfigError([f"dataset {cfg.dataset} has no training images"])
    to_dev = lambda s: Batches(s.images.to(device), s.labels.to(device))
    torch.manual_seed(cfg.seed)
    model = models.build_model(cfg.arch, ds.shape, ds.num_classes, cfg.custom_layers).to(device)
    norm = normalizer(ds.mean, ds.std, device)
    fit_to_data(model, train_split.images, norm, device)
    if uses_channels_last(device, cfg):
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model.parameters(), cfg)
    steps = batches_per_epoch(len(train_split), cfg.batch_size)
    state = TrainState(model, optimizer, Schedule(optimizer, cfg, steps), torch.Generator().manual_seed(cfg.seed))
    train_index, val_index = split_positions(ds, cfg)
    return Prepared(cfg, ds, device, to_dev(train_split), to_dev(val_split), to_dev(ds.test), norm, state,
                    train_index, val_index)


FIT_IMAGES = 5000


def fit_to_data(model: torch.nn.Module, images: torch.Tensor, normalize, device) -> None:
    """Layers with a `fit_to_data` method (a whitening conv, which takes the model's input) are set
    from the first normalised training images before the first step. Deterministic, and cheap
    (under a second); a resumed run then loads its saved weights over them."""
    layers = [m for m in model.modules() if hasattr(m, "fit_to_data")]
    if layers:
        x = normalize(images[:FIT_IMAGES].to(device))
        for layer in layers:
            layer.fit_to_data(x)


# ---- the store subscriber --------------------------------------------------------------------

class StoreWriter(Callback):
    """Writes data map, checkpoint, weights, metrics and status as each epoch ends (in that order).

    The data map goes first: killed between the two writes, the map holds one epoch more than the
    checkpoint, and resuming drops it (DataMapRecorder.resume); the other order would lose a column.
    """

    def __init__(self, store: RunStore, run_id: str, prep: Prepared, data_map: DataMapRecorder | None = None):
        self.store, self.run_id, self.prep, self.data_map = store, run_id, prep, data_map

    def on_fit_start(self, state):
        ds = self.prep.dataset
        params = sum(p.numel() for p in state.model.parameters())
        self.store.write_model(self.run_id, ModelMeta(
            tuple(str(c) for c in ds.classes), tuple(ds.mean), tuple(ds.std), tuple(ds.shape),
            self.prep.cfg.arch, params, ds.title, bool(ds.is_digits)))
        self.store.transition(self.run_id, "running", "", started_at=time.time(),
                              device=str(self.prep.device), params=params)

    def on_epoch_end(self, event, state):
        written = {}
        if self.data_map is not None:
            written |= self.store.write_data_map(self.run_id, self.data_map.table(event.epoch))
        checkpoints.save_resume_state(self.store, self.run_id, resume_state(state))
        written |= checkpoints.save_weights(self.store, self.run_id, "last", state.model, event.epoch, record=False)
        if event.is_best:
            written |= checkpoints.save_weights(self.store, self.run_id, "best", state.model, event.epoch,
                                                record=False)
        self.store.write_metrics(self.run_id, state.history)
        self.store.update(self.run_id, written=written, epochs_done=event.epoch, best_epoch=state.best_epoch,
                          best_val_acc=state.best_val_acc, last_val_acc=event.val_acc,
                          train_seconds=state.elapsed_seconds)


class StopRequests(Callback):
    """Stop pressed in another process (the dashboard for a CLI or Ray run): the store's stop
    request file, looked for between batches at most every CHECK_EVERY s (a stat on a shared file
    system can be a network round trip)."""
    CHECK_EVERY = 0.25

    def __init__(self, store: RunStore, run_id: str, stop_event: threading.Event):
        self.store, self.run_id, self.stop_event = store, run_id, stop_event
        self._next = 0.0

    def on_batch_end(self, event, state):
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.CHECK_EVERY
            if self.store.stop_requested(self.run_id):
                self.stop_event.set()


def resume_state(state: TrainState) -> dict:
    return {
        "model": state.model.state_dict(), "optimizer": state.optimizer.state_dict(),
        "schedule": state.schedule.state_dict(), "rng": state.rng_state(), "epoch": state.epoch,
        "step": state.step, "best_epoch": state.best_epoch, "best_val_acc": state.best_val_acc,
        "elapsed_seconds": state.elapsed_seconds, "history": state.history, "first_loss": state.first_loss,
    }


def restore(state: TrainState, saved: dict) -> None:
    state.model.load_state_dict(saved["model"])
    state.optimizer.load_state_dict(saved["optimizer"])
    state.schedule.load_state_dict(saved["schedule"])
    state.set_rng_state(saved["rng"])
    for key in ("epoch", "step", "best_epoch", "best_val_acc", "elapsed_seconds"):
        setattr(state, key, saved[key])
    state.history = [dict(r) for r in saved["history"]]
    state.first_loss = saved.get("first_loss")


def _restore_checked(state: TrainState, saved, run_id: str) -> None:
    """`restore`, with a checkpoint of the wrong shape or structure told as what it is."""
    try:
        if not isinstance(saved, dict):
            raise TypeError(f"it holds a {type(saved).__name__}, not a checkpoint")
        restore(state, saved)
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RunError(f"checkpoint_last.pt of run {run_id} does not fit this run's model or settings "
                       f"({first}); clone the run into Train to start it afresh") from None


# ---- running -------------------------------------------------------------------------------

def run(store: RunStore, run_id: str, *, resume: bool = False, data_dir=None, callbacks=(),
        stop_event: threading.Event | None = None, progress=None) -> FitResult:
    """Train the run folder `run_id` (created by `store.create`), or continue it with `resume`.

    Never raises: every way a run can end, a bug included, ends in a terminal status with a
    message that says what to do, and the run's ownership is released so no reader sees it
    "running" afterwards — even when the disk is too full to record the ending.
    """
    try:
        store.claim(run_id)
    except (RunError, OSError) as exc:  # someone else's run: leave its status alone
        return FitResult("failed", str(exc), 0, 0, 0.0)
    result_fields = {}
    stop_event = stop_event or threading.Event()
    if store.stop_requested(run_id):
        _end(store, run_id, FitResult("stopped", STOPPED_BEFORE_START, 0, 0, 0.0), {})
        return FitResult("stopped", STOPPED_BEFORE_START, 0, 0, 0.0)
    try:
        cfg = store.read_config(run_id)
        store.transition(run_id, "running", "loading data…")
        prep = prepare(cfg, data_dir=data_dir, progress=progress)
        if resume and checkpoints.has_resume_state(store, run_id):
            _restore_checked(prep.state, checkpoints.load_resume_state(store, run_id), run_id)
            store.write_metrics(run_id, prep.state.history)
        recorder = _data_map_recorder(store, run_id, prep) if cfg.record_data_map else None
        writer = StoreWriter(store, run_id, prep, recorder)
        result = fit(prep.state, prep.train, prep.val, cfg, prep.normalize,
                     callbacks=[*([recorder] if recorder else []), writer, StopRequests(store, run_id, stop_event),
                                *callbacks,
                                *_subscribers(store, run_id, cfg, resume)],
                     stop_event=stop_event, device=prep.device)
        if prep.state.epoch:
            _final_predictions(store, run_id, prep)
        result_fields = {"best_epoch": result.best_epoch, "best_val_acc": result.best_val_acc}
    except BaseException as exc:  # noqa: BLE001 - a run must end in a status that tells the truth
        result = FitResult("failed", failure_message(exc, store, run_id), 0, 0, 0.0)
        if isinstance(exc, KeyboardInterrupt) and store.stop_requested(run_id):
            # Ray's cancel of a task that did not stop by itself (e.g. still loading data)
            result = FitResult("stopped", "stopped on request; completed epochs are kept", 0, 0, 0.0)
        if not isinstance(exc, Exception):
            _end(store, run_id, result, {})
            raise  # KeyboardInterrupt / SystemExit: recorded, then passed on
    _end(store, run_id, result, result_fields)
    return result


def _subscribers(store: RunStore, run_id: str, cfg: RunConfig, resume: bool) -> list:
    """The opt-in subscribers: the TensorBoard writer, and a sweep's early-stopping rule (last, so
    every other subscriber has seen the epoch it stops after; not on resume, which a person asks
    for to train on)."""
    from core import sweeps

    sweep = sweeps.sweep_of(store, run_id)
    out = []
    if cfg.tensorboard:
        from core.tensorboard_log import TensorBoardWriter

        out.append(TensorBoardWriter(store.path(run_id), cfg, sweep.fields if sweep else ()))
    if sweep is not None and sweep.early_stopping and not resume:
        out.append(sweeps.MedianStopper(store, run_id, sweep))
    return out
def _data_map_recorder(store: RunStore, run_id: str, prep: Prepared) -> DataMapRecorder:
    """A recorder that continues the saved map for the epochs the checkpoint holds."""
    recorder = DataMapRecorder(prep.train_index, prep.train.labels, prep.device)
    if prep.state.epoch:
        try:
            saved = store.read_data_map(run_id)
        except RunError:  # lost or damaged: those epochs read as "not recorded", the rest is recorded
            saved = None
        recorder.resume(saved, prep.state.epoch)
    return recorder


def _end(store: RunStore, run_id: str, result: FitResult, result_fields: dict) -> None:
    try:
        store.transition(run_id, result.status, result.message, finished_at=time.time(), **result_fields)
    except (OSError, RunError) as exc:
        # e.g. the disk is full: the status file keeps saying "running", but the released lease
        # below makes every reader show the run as interrupted (and resumable)
        result.message += f" (the ending could not be recorded: {getattr(exc, 'strerror', None) or exc})"
    finally:
        store.clear_stop(run_id)
        store.release(run_id)


STOPPED_BEFORE_START = "stopped before it started"


def failure_message(exc: BaseException, store: RunStore, run_id: str) -> str:
    """What a person reads when a run fails: the cause and what to do about it."""
    if isinstance(exc, (ConfigError, data.DatasetError, models.ModelError, DeviceError, RunError)):
        return str(exc)
    if isinstance(exc, torch.OutOfMemoryError) or (isinstance(exc, RuntimeError)
                                                   and "can't allocate memory" in str(exc)):
        return ("the device ran out of memory — choose a smaller batch size or model; completed epochs "
                "are kept and the run can be resumed")
    if isinstance(exc, OSError):
        where = getattr(exc, "filename", None) or (store.root if store else "the disk")
        return (f"could not save to {where}: {exc.strerror or exc} — free disk space or fix permissions, "
                "then resume the run")
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted from the keyboard; resume continues from the last completed epoch"
    return (f"unexpected error: {type(exc).__name__}: {exc} — completed epochs are kept; resume the run, "
            "and report this if it happens again")


def _final_predictions(store: RunStore, run_id: str, prep: Prepared) -> None:
    """Per-sample predictions of the last and the best weights on the test set (the galleries read
    these) and on the validation share when there is one (out-of-sample, for the label-issue finder)."""
    autocast = autocast_for(prep.device, prep.cfg.mixed_precision, training=False)
    fast = {"autocast": autocast, "channels_last": uses_channels_last(prep.device, prep.cfg),
            "tta_flip": prep.cfg.tta_flip, "tta_shift": prep.cfg.tta_shift}
    model = prep.state.model
    splits_out = {"test": prep.test, **({"val": prep.val} if prep.val_index is not None else {})}
    results = {"last": {s: evaluate(model, b, prep.normalize, keep_outputs=True, **fast)
                        for s, b in splits_out.items()}}
    best_weights = checkpoints.load_weights(store, run_id, "best")
    current = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_weights)
    results["best"] = {s: evaluate(model, b, prep.normalize, keep_outputs=True, **fast) for s, b in splits_out.items()}
    model.load_state_dict(current)
    written = {}
    for which, by_split in results.items():
        for split, r in by_split.items():
            index = prep.val_index if split == "val" else None
            written |= checkpoints.save_predictions(store, run_id, which, splits_out[split].labels.cpu(), r["preds"],
                                                    r["probs"], r["losses"], record=False, split=split, index=index)
    last, best = results["last"]["test"], results["best"]["test"]
    store.update(run_id, written=written, test_acc=last["acc"], test_loss=last["loss"], best_test_acc=best["acc"])


def new_run(store: RunStore, cfg: RunConfig, **kwargs) -> tuple[str, FitResult]:
    cfg.validate()
    run_id = store.create(cfg)
    return run_id, run(store, run_id, **kwargs)


def load_model(store: RunStore, run_id: str, which: str = "best"):
    """(model in eval mode on the CPU, its ModelMeta) ready for inference; RunError says why not."""
    cfg = store.read_config(run_id)
    meta = store.read_model(run_id)
    try:
        model = models.build_model(cfg.arch, meta.image_shape, len(meta.classes), cfg.custom_layers)
    except models.ModelError as exc:
        raise RunError(f"run {run_id}: {exc}") from None
    try:
        model.load_state_dict(checkpoints.load_weights(store, run_id, which))
    except RuntimeError as exc:
        raise RunError(f"weights of run {run_id} do not fit its architecture: {str(exc).splitlines()[0]}") from None
    return model.eval(), meta
