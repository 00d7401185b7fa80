"""Sweeps: many runs of one configuration with some fields varied, compared as one experiment.

    spec (base config + varied fields + seeds)  →  RunConfigs  →  ordinary runs in the store,
    each tagged with the sweep (RunStatus.sweep)  →  a backend trains them (the local JobRunner
    queue, or Ray through core.ray_backend)  →  table, importance, best configuration.

A field varies over listed values ("0.003,0.01,0.03", "sgd,adam") or over a range sampled
log-uniformly ("0.0001:0.1", with `random` draws). Every value is read and checked with the
field's own metadata in core/config.py, so a sweep accepts exactly what the form and the CLI do.
The sweep record (`_sweeps/<id>.json` beside the runs) keeps the spec and the run ids; the runs'
results stay in their own folders, owned by the run store. `MedianStopper` is the optional early
stopping rule, a training callback the trainer adds to a sweep's runs.
"""
from __future__ import annotations

import importlib
import importlib.util
import itertools
import math
import re
import statistics
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from core import run_files as files
from core.config import MAX_EPOCHS, MAX_SEED, ConfigError, RunConfig, coerce, field_applies, field_info, field_problem
from core.engine import Callback, StopTraining

NOT_SWEPT = ("name", "custom_layers", "milestones")  # not one value per run, or edited elsewhere
MAX_RUNS = 200
BACKENDS = ("local", "ray")
RAY_MISSING = "Ray backend not installed: pip install -r requirements-ray.txt"
METRIC = "best_val_acc"
MIN_FOR_IMPORTANCE = 4
_SWEEP_ID = re.compile(r"^sweep-[0-9]{8}-[0-9]{6}(-[0-9]+)?$")


class SweepError(RuntimeError):
    """A sweep that cannot be started or read; the message says why and what to do."""


# ---- what varies -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Axis:
    """One varied field: listed values, or a log-uniform range [low, high] for random draws."""
    field: str
    values: tuple = ()
    low: float | None = None
    high: float | None = None

    @property
    def is_range(self) -> bool:
        return self.low is not None

    def text(self) -> str:
        if self.is_range:
            return f"{_show(self.low)}:{_show(self.high)}"
        return ",".join(_show(v) for v in self.values)


def _show(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v).lower() if isinstance(v, bool) else str(v)


def sweepable() -> list[str]:
    """Fields a sweep may vary, in RunConfig's order."""
    return [f.name for f in fields(RunConfig) if f.name not in NOT_SWEPT]


def _field(name: str):
    return next(f for f in fields(RunConfig) if f.name == name)


def _value(name: str, raw) -> object:
    """One value read and checked by the field's own rules; ConfigError naming the field."""
    try:
        value = coerce(_field(name), raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError([f"{name}: {exc}"]) from None
    problem = field_problem(name, value)
    if problem:
        raise ConfigError([problem])
    return value


def parse_axis(name: str, text: str) -> Axis:
    """`lr`, "0.003,0.01,0.03" → listed values; `lr`, "1e-4:0.1" → a log-uniform range."""
    name = name.strip().replace("-", "_")
    if name not in sweepable():
        why = "it is not one value per run" if name in NOT_SWEPT else "there is no such field"
        raise ConfigError([f"cannot vary {name!r}: {why} — fields that can vary: {', '.join(sweepable())}"])
    text = str(text).strip()
    info = field_info(name)
    if ":" in text:
        if info["type"] not in ("int", "float"):
            raise ConfigError([f"{name}: a range (low:high) needs a number field; list the values instead, "
                               f"e.g. {name}={','.join(map(str, info.get('choices', ('a', 'b'))[:2]))}"])
        parts = text.split(":")
        if len(parts) != 2:
            raise ConfigError([f"{name}: a range is written low:high, e.g. 0.0001:0.1, got {text!r}"])
        low, high = (_value(name, p) for p in parts)
        if not 0 < low < high:
            raise ConfigError([f"{name}: a log-uniform range needs 0 < low < high, got {text!r}"])
        return Axis(name, low=low, high=high)
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ConfigError([f"{name}: give values like {name}=a,b,c or a range low:high"])
    values = tuple(dict.fromkeys(_value(name, p) for p in parts))  # repeated values add nothing
    return Axis(name, values=values)


def parse_grid_arg(text: str) -> Axis:
    """A CLI `--grid FIELD=VALUES` argument."""
    if "=" not in text:
        raise ConfigError([f"--grid takes FIELD=VALUES, e.g. lr=0.003,0.01 or lr=0.0001:0.1, got {text!r}"])
    name, values = text.split("=", 1)
    return parse_axis(name, values)


@dataclass(frozen=True)
class SweepSpec:
    base: RunConfig
    axes: tuple = ()            # Axis, at most one per field
    seeds: int = 1              # each point runs with seeds base.seed, base.seed+1, ...
    random: int = 0             # 0: every combination of the listed values; N: N random draws
    sample_seed: int = 0        # makes the random draws reproducible
    early_stopping: bool = False
    grace_epochs: int = 1       # the median rule looks at a run only after this many epochs
    name: str = ""

    @property
    def fields(self) -> list[str]:
        """The fields that vary between runs (seed too when there are several seeds)."""
        out = [a.field for a in self.axes]
        return out + ["seed"] if self.seeds > 1 and "seed" not in out else out

    def check(self) -> None:
        p = []
        names = [a.field for a in self.axes]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            p.append(f"{dup} is varied twice; give all its values in one list")
        if not 1 <= self.seeds <= 100:
            p.append(f"seeds must be between 1 and 100, got {self.seeds}")
        if self.seeds > 1 and "seed" in names:
            p.append("vary seed either with --seeds or with a seed list, not both")
        if self.random < 0:
            p.append(f"random draws must be 0 (the full grid) or more, got {self.random}")
        ranges = [a.field for a in self.axes if a.is_range]
        if ranges and not self.random:
            p.append(f"{', '.join(ranges)} {'is a range' if len(ranges) == 1 else 'are ranges'}: give a number of "
                     "random draws (--random N) to sample from it, or list values instead")
        if not self.axes and self.seeds == 1:
            p.append("nothing varies: give at least one field with several values, or several seeds")
        if p:
            raise ConfigError(p)
        count = self.count()
        if count > MAX_RUNS:
            raise ConfigError([f"this sweep would start {count} runs, more than {MAX_RUNS}; use fewer values, "
                               "or --random N to draw N of the combinations"])

    def count(self) -> int:
        points = self.random or math.prod(len(a.values) for a in self.axes)
        return points * self.seeds

    def points(self) -> list[dict]:
        """The varied values of each run, seeds included, in order."""
        self.check()
        if self.random:
            import numpy as np

            rng = np.random.default_rng(self.sample_seed)
            points = [{a.field: _draw(a, rng) for a in self.axes} for _ in range(self.random)]
        else:
            combos = itertools.product(*[a.values for a in self.axes])
            points = [dict(zip([a.field for a in self.axes], c)) for c in combos]
        if self.seeds == 1:
            return points
        return [{**p, "seed": (self.base.seed + k) % (MAX_SEED + 1)} for p in points for k in range(self.seeds)]

    def configs(self) -> list[RunConfig]:
        """One checked RunConfig per run; ConfigError lists every combination that cannot run."""
        out, problems = [], []
        label = self.name or "sweep"
        for point in self.points():
            cfg = _unused_to_defaults(self.base.replace(**point, name=_clip(f"{label} · {describe(point)}")), point)
            try:
                out.append(cfg.validate())
            except ConfigError as exc:
                problems += [f"run with {describe(point)}: {p}" for p in exc.problems]
        if problems:
            raise ConfigError(problems)
        return out

    def to_dict(self) -> dict:
        return {"axes": {a.field: a.text() for a in self.axes}, "seeds": self.seeds, "random": self.random,
                "sample_seed": self.sample_seed}


def _unused_to_defaults(cfg: RunConfig, point: dict) -> RunConfig:
    """Fields the run's optimizer and schedule do not use go back to their defaults: varying
    optimizer=sgd,adam over a preset with Nesterov momentum must not make the Adam runs invalid."""
    resets = {f.name: f.default for f in fields(RunConfig)
              if f.name not in point and not field_applies(f.name, cfg.optimizer, cfg.schedule)}
    return cfg.replace(**resets) if resets else cfg


def _draw(axis: Axis, rng):
    if not axis.is_range:
        return axis.values[int(rng.integers(len(axis.values)))]
    x = math.exp(rng.uniform(math.log(axis.low), math.log(axis.high)))
    if field_info(axis.field)["type"] == "int":
        return min(max(round(x), int(axis.low)), int(axis.high))
    return float(f"{x:.4g}")  # 4 significant digits: readable names, and still inside the bounds


def describe(point: dict) -> str:
    return " ".join(f"{k}={_show(v)}" for k, v in point.items())


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


# ---- the sweep record ------------------------------------------------------------------------

@dataclass
class Sweep:
    sweep_id: str
    name: str
    created_at: float
    fields: list                 # what varies between its runs
    spec: dict                   # SweepSpec.to_dict(): how it was defined, for the record
    base: dict                   # the base RunConfig
    run_ids: list = field(default_factory=list)
    backend: str = "local"
    early_stopping: bool = False
    grace_epochs: int = 1
    min_runs: int = 3            # the median rule needs this many other runs at the same epoch
    preset: str | None = None

    @classmethod
    def parse(cls, data) -> "Sweep":
        if not isinstance(data, dict):
            raise SweepError("the sweep file must hold a JSON object")
        known = {f.name for f in fields(cls)}
        try:
            sweep = cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:
            raise SweepError(f"the sweep file lacks a field ({exc})") from None
        if not (isinstance(sweep.run_ids, list) and all(isinstance(r, str) for r in sweep.run_ids)
                and isinstance(sweep.fields, list) and all(f in sweepable() for f in sweep.fields)):
            raise SweepError("the sweep file's run ids or fields are not lists of names")
        return sweep

    @property
    def title(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.created_at))
        return f"{self.name} — {len(self.run_ids)} runs, {when}"


def _folder(store) -> Path:
    return store.root / files.SWEEPS


def _path(store, sweep_id: str) -> Path:
    if not isinstance(sweep_id, str) or not _SWEEP_ID.match(sweep_id):
        raise SweepError(f"{sweep_id!r} is not a sweep id (sweep-YYYYMMDD-HHMMSS)")
    return _folder(store) / f"{sweep_id}.json"


def save(store, sweep: Sweep) -> None:
    _folder(store).mkdir(exist_ok=True)
    files.atomic_write_json(_path(store, sweep.sweep_id), asdict(sweep))


def read(store, sweep_id: str) -> Sweep:
    try:
        return Sweep.parse(files.read_json(_path(store, sweep_id)))
    except files.RunFileError as exc:
        raise SweepError(f"sweep {sweep_id} cannot be read: {exc}") from None


def list_sweeps(store) -> tuple[list[Sweep], list[str]]:
    """(readable sweeps newest first, one line per sweep file that cannot be read)."""
    out, bad = [], []
    for path in sorted(_folder(store).glob("sweep-*.json"), reverse=True):
        try:
            out.append(read(store, path.stem))
        except SweepError as exc:
            bad.append(str(exc))
    out.sort(key=lambda s: s.created_at, reverse=True)
    return out, bad


def sweep_of(store, run_id: str) -> Sweep | None:
    """The sweep a run belongs to, or None (also when its record cannot be read: the run trains
    on as an ordinary run)."""
    try:
        sweep_id = store.read_status(run_id).sweep
        return read(store, sweep_id) if sweep_id else None
    except Exception:  # noqa: BLE001 - a damaged sweep record must never stop a run from training
        return None


def _new_id(store) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for i in range(1, 1000):
        sweep_id = f"sweep-{stamp}" if i == 1 else f"sweep-{stamp}-{i}"
        if not _path(store, sweep_id).exists():
            return sweep_id
    raise SweepError("could not find a free sweep id")


# ---- starting --------------------------------------------------------------------------------

def ray_backend():
    """core.ray_backend, or SweepError saying how to install it."""
    if importlib.util.find_spec("core.ray_backend") is None or importlib.util.find_spec("ray") is None:
        raise SweepError(RAY_MISSING)
    return importlib.import_module("core.ray_backend")


def start(store, spec: SweepSpec, *, backend: str = "local", runner=None, address: str | None = None,
          data_dir=None, preset: str | None = None, configs: list | None = None) -> Sweep:
    """Create the sweep's runs (queued, tagged) and hand them to the backend.

    `runner` is the local backend (core.jobs.JobRunner on this store); Ray gets `address` and
    `data_dir`, and what it returns (its handle on the tasks) is kept as `sweep.handle`. If some
    runs cannot be created or the backend refuses them, they are marked stopped with the reason,
    and SweepError says why.
    """
    if backend not in BACKENDS:
        raise SweepError(f"unknown backend {backend!r} — choose one of: {', '.join(BACKENDS)}")
    ray = ray_backend() if backend == "ray" else None  # before anything is created
    if backend == "local" and runner is None:
        raise SweepError("the local backend needs the job runner")
    configs = configs if configs is not None else spec.configs()
    sweep_id = _new_id(store)
    sweep = Sweep(sweep_id, spec.name or sweep_id, time.time(), spec.fields, spec.to_dict(), spec.base.to_dict(),
                  backend=backend, early_stopping=spec.early_stopping, grace_epochs=spec.grace_epochs,
                  preset=preset)
    save(store, sweep)  # first: a run tagged with this sweep can always find its record
    from core.runs import RunError

    try:
        for cfg in configs:
            sweep.run_ids.append(store.create(cfg, status="queued", preset=preset, sweep=sweep_id))
    except (RunError, OSError) as exc:
        _abandon(store, sweep, f"the sweep could not create all its runs: {exc}")
        raise SweepError(f"the sweep could not create its runs: {exc}") from None
    save(store, sweep)
    try:
        if ray is not None:
            sweep.handle = ray.submit_runs(store, list(sweep.run_ids), address=address, data_dir=data_dir)
        else:
            sweep.handle = runner.submit_created(sweep.run_ids)
    except Exception as exc:  # noqa: BLE001 - e.g. a Ray cluster that cannot be reached
        _abandon(store, sweep, f"the {backend} backend did not take the sweep's runs: {exc}")
        raise SweepError(f"the {backend} backend did not take the sweep's runs: {exc} — its runs are marked "
                         "stopped; fix the cause and start the sweep again") from None
    return sweep


def _abandon(store, sweep: Sweep, message: str) -> None:
    from core.runs import RunError

    for run_id in sweep.run_ids:
        try:
            store.transition(run_id, "stopped", message)
        except (RunError, OSError):
            pass  # already taken by a backend, or the disk is full: its lease tells readers the truth
        finally:
            store.release(run_id)
    save(store, sweep)


# ---- how long it takes -----------------------------------------------------------------------

def estimate(store, configs: list[RunConfig]) -> tuple[float | None, str]:
    """(seconds, words): run one after another at the speed completed runs of the same model,
    dataset and device measured; None and "unknown (...)" when no such run exists yet."""
    from core.trainer import DeviceError, resolve_device

    speeds: dict = {}
    for rec in store.list():
        if rec.state != "completed" or rec.config is None or not rec.metrics or not rec.status.device:
            continue
        key = (rec.config.arch, rec.config.dataset, rec.status.device.split(":")[0])
        speeds.setdefault(key, []).extend(r["epoch_seconds"] for r in rec.metrics)
    total, unknown, used = 0.0, set(), {}
    for cfg in configs:
        try:
            device = resolve_device(cfg.device).type
        except DeviceError:
            device = cfg.device
        key = (cfg.arch, cfg.dataset, device)
        if key not in speeds:
            unknown.add(key)
            continue
        per_epoch = statistics.median(speeds[key])
        used[key] = per_epoch
        total += per_epoch * cfg.epochs
    if unknown:
        which = "; ".join(f"{a} on {d} ({dev})" for a, d, dev in sorted(unknown))
        return None, f"unknown: no completed run of {which} to measure its speed yet"
    basis = "; ".join(f"{a} on {d} ({dev}) {s:.1f} s/epoch" for (a, d, dev), s in used.items())
    return total, f"about {duration(total)} one after another (measured: {basis}; plus loading data)"


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# ---- results ---------------------------------------------------------------------------------

def table(store, sweep: Sweep):
    """One row per run: its varied values, live status and results (missing runs say so)."""
    import pandas as pd

    rows = []
    for run_id in sweep.run_ids:
        row = {"run_id": run_id}
        if not store.exists(run_id):
            rows.append({**row, "status": "deleted", "message": "the run folder is gone"})
            continue
        rec = store.record(run_id)
        row.update(name=rec.name, status=rec.state, message=rec.message, epochs_done=rec.epochs_done)
        if rec.config is not None:
            values = rec.config.to_dict()
            row.update({f: values[f] for f in sweep.fields}, epochs=rec.config.epochs)
        if rec.metrics:
            row.update(best_val_acc=max(r["val_acc"] for r in rec.metrics), final_val_acc=rec.metrics[-1]["val_acc"],
                       train_seconds=rec.metrics[-1]["elapsed_seconds"])
        if rec.status is not None:
            row.update(test_acc=rec.status.test_acc)
        rows.append(row)
    columns = ["run_id", "name", "status", *sweep.fields, "epochs_done", "epochs", "best_val_acc",
               "final_val_acc", "test_acc", "train_seconds", "message"]
    return pd.DataFrame(rows, columns=columns)


def finished(frame):
    """Rows with a result to compare: runs that completed or were stopped after some epochs."""
    done = frame[frame["status"].isin(["completed", "stopped"]) & frame[METRIC].notna()]
    return done.reset_index(drop=True)


def importance(done, fields_: list[str], metric: str = METRIC) -> dict:
    """How much each varied field explains the metric over finished runs (`finished(table)`):
    permutation importance (scikit-learn) of a random forest fitted to them; one value per field,
    the mean drop in R² when that field's values are shuffled (0 when shuffling does not hurt).
    Categories are coded as integers (trees split them either way). {} when fewer than
    MIN_FOR_IMPORTANCE runs have finished."""
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance

    if len(done) < MIN_FOR_IMPORTANCE or not fields_:
        return {}
    x = np.column_stack([_codes(done[f]) for f in fields_])
    y = done[metric].to_numpy(dtype=float)
    if np.ptp(y) == 0:
        return {f: 0.0 for f in fields_}
    model = RandomForestRegressor(n_estimators=100, random_state=0).fit(x, y)
    result = permutation_importance(model, x, y, n_repeats=10, random_state=0)
    return {f: max(float(v), 0.0) for f, v in zip(fields_, result.importances_mean)}


def _codes(column):
    import numpy as np

    values = column.tolist()
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=float)
    order = sorted({str(v) for v in values})
    return np.asarray([order.index(str(v)) for v in values], dtype=float)


def best(frame):
    """The finished row with the highest best validation accuracy, or None."""
    done = finished(frame)
    return None if done.empty else done.loc[done[METRIC].idxmax()]


# ---- follow-ups of the best configuration ---------------------------------------------------

FULL_DATASETS = {"mnist_sample": "mnist"}  # a bundled sample → the dataset it was drawn from


def longer(cfg: RunConfig) -> RunConfig:
    """The same configuration for twice the epochs (a fresh run: schedules span the whole run)."""
    epochs = min(cfg.epochs * 2, MAX_EPOCHS)
    return cfg.replace(epochs=epochs, name=_clip(f"{cfg.name or 'best of sweep'} · {epochs} epochs"))


def on_full_dataset(cfg: RunConfig) -> RunConfig | None:
    """The same configuration on the full dataset its sample came from; None when it is full already."""
    full = FULL_DATASETS.get(cfg.dataset)
    if full is None:
        return None
    return cfg.replace(dataset=full, name=_clip(f"{cfg.name or 'best of sweep'} · full {full}"))


# ---- early stopping --------------------------------------------------------------------------

class MedianStopper(Callback):
    """The median stopping rule (Golovin et al., Google Vizier, 2017): after epoch k ≥ grace, stop
    this run when its best validation accuracy so far is below the median of the other runs' best
    by the same epoch — counting only when at least `min_runs` other runs have reached it. It ends
    the run through the engine's stop path (StopTraining), so the run is "stopped", keeps its
    epochs and says why."""

    def __init__(self, store, run_id: str, sweep: Sweep):
        self.store, self.run_id, self.sweep = store, run_id, sweep

    def on_epoch_end(self, event, state):
        if event.epoch < self.sweep.grace_epochs:
            return
        others = []
        for run_id in self.sweep.run_ids:
            if run_id == self.run_id or not self.store.exists(run_id):
                continue
            rows = self.store.record(run_id).metrics
            if len(rows) >= event.epoch:
                others.append(max(r["val_acc"] for r in rows[:event.epoch]))
        if len(others) < self.sweep.min_runs:
            return
        median = statistics.median(others)
        mine = max(r["val_acc"] for r in state.history)
        if mine < median:
            raise StopTraining(
                f"stopped early by the sweep's median rule after epoch {event.epoch}: best validation "
                f"accuracy {mine:.2%} is below the median {median:.2%} of {len(others)} other runs by that "
                "epoch (resume it to train on)")
