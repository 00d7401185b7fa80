"""The one description of a training run.

`RunConfig` fills the Train form, generates the CLI flags and is saved as the run's
`config.json`. Every field carries its help text and choices in `field(metadata=...)` so the
three front ends never drift apart.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from typing import Any

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("none", "step", "multistep", "exponential", "cosine", "onecycle", "plateau")
DEVICES = ("auto", "cpu", "cuda", "mps")

SCHEDULE_TITLES = {
    "none": "Constant",
    "step": "StepLR",
    "multistep": "MultiStepLR",
    "exponential": "ExponentialLR",
    "cosine": "CosineAnnealingLR",
    "onecycle": "OneCycleLR",
    "plateau": "ReduceLROnPlateau",
}

MAX_EPOCHS = 1000
MAX_BATCH_SIZE = 65536


class ConfigError(ValueError):
    """A config value a person must change; `problems` lists every one found."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def _f(default: Any, help: str, **meta: Any) -> Any:
    if isinstance(default, (list, dict)):
        raise TypeError("use tuples for defaults")
    return field(default=default, metadata={"help": help, **meta})


@dataclass(frozen=True)
class RunConfig:
    # --- what is trained ---------------------------------------------------------------
    name: str = _f("", "Optional display name for the run (defaults to its id).", group="run")
    dataset: str = _f("mnist_sample", "Dataset name (see `python -m core datasets`).", group="data")
    arch: str = _f("lenet5", "Model architecture (see `python -m core models`).", group="model")
    custom_layers: tuple = _f(
        (), "Layer stack for arch=custom: a list of {'type': ..., params} objects.", group="model",
        cli=False,
    )
    # --- optimisation -------------------------------------------------------------------
    optimizer: str = _f("sgd", "Optimizer.", choices=OPTIMIZERS, group="optim")
    lr: float = _f(0.01, "Initial learning rate (peak LR for OneCycle).", group="optim")
    momentum: float = _f(0.9, "Momentum for SGD and RMSprop.", group="optim")
    nesterov: bool = _f(False, "Use Nesterov momentum (SGD only).", group="optim")
    weight_decay: float = _f(0.0, "L2 weight decay (decoupled for AdamW).", group="optim")
    label_smoothing: float = _f(0.0, "Label smoothing for the cross-entropy loss (0 = off).", group="optim")
    # --- learning-rate schedule ---------------------------------------------------------
    schedule: str = _f("none", "Learning-rate schedule.", choices=SCHEDULES, group="schedule")
    step_size: int = _f(1, "StepLR: epochs between LR drops.", group="schedule")
    milestones: tuple = _f((), "MultiStepLR: epochs after which the LR is multiplied by gamma, e.g. 3,4.", group="schedule")
    gamma: float = _f(0.1, "Multiplier for StepLR, MultiStepLR, ExponentialLR (per epoch) and ReduceLROnPlateau.", group="schedule")
    min_lr: float = _f(0.0, "Cosine: the LR reached at the end of training.", group="schedule")
    patience: int = _f(2, "ReduceLROnPlateau: epochs without improvement before reducing.", group="schedule")
    warmup_epochs: float = _f(0.0, "Linear LR warm-up length in epochs (0 = off; not with OneCycle).", group="schedule")
    # --- loop ---------------------------------------------------------------------------
    epochs: int = _f(5, "Number of training epochs.", group="loop")
    batch_size: int = _f(64, "Training batch size.", group="loop")
    val_split: float = _f(
        0.0, "Share of the training set held out for validation (0 = evaluate on the test set "
        "each epoch, like the tutorials).", group="loop",
    )
    seed: int = _f(0, "Random seed (runs are reproducible on the CPU for a given seed).", group="loop")
    # --- augmentation (applied per batch with tensor ops) -----------------------------------
    aug_translate: int = _f(0, "Random shift of up to this many pixels (0 = off).", group="augment")
    aug_rotate: float = _f(0.0, "Random rotation of up to ± this many degrees (0 = off).", group="augment")
    aug_scale: float = _f(0.0, "Random zoom of up to ± this fraction, e.g. 0.1 (0 = off).", group="augment")
    aug_hflip: bool = _f(False, "Random horizontal flip (for photos, not digits).", group="augment")
    aug_erase: float = _f(0.0, "Probability of random erasing a rectangle (0 = off).", group="augment")
    # --- hardware -----------------------------------------------------------------------
    device: str = _f("auto", "Where to train: auto picks CUDA, then Apple MPS, then the CPU.", choices=DEVICES, group="device")
    threads: int = _f(0, "CPU threads for PyTorch (0 = choose automatically).", group="device")
    mixed_precision: bool = _f(True, "On CUDA, use autocast (bf16/fp16) and the channels_last layout.", group="device")

    # --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["milestones"] = list(self.milestones)
        out["custom_layers"] = [dict(layer) for layer in self.custom_layers]
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict, *, strict: bool = True) -> "RunConfig":
        """Build from JSON-like data, coercing types; unknown keys or bad types raise ConfigError."""
        if not isinstance(data, dict):
            raise ConfigError([f"a config must be a JSON object, got {type(data).__name__}"])
        known = {f.name: f for f in fields(cls)}
        problems = []
        unknown = sorted(set(data) - set(known))
        if unknown and strict:
            problems.append(f"unknown config key(s): {', '.join(unknown)} — valid keys: {', '.join(known)}")
        values = {}
        for key, value in data.items():
            if key not in known:
                continue
            try:
                values[key] = coerce(known[key], value)
            except (TypeError, ValueError) as exc:
                problems.append(f"{key}: {exc}")
        if problems:
            raise ConfigError(problems)
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError([f"config is not valid JSON: {exc}"]) from None
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    def diff(self, other: "RunConfig") -> dict:
        """Keys whose values differ: {key: (mine, theirs)}."""
        a, b = self.to_dict(), other.to_dict()
        return {k: (a[k], b[k]) for k in a if a[k] != b[k]}

    def validate(self, *, image_shape: tuple | None = None) -> "RunConfig":
        """Raise ConfigError listing every problem; return self when valid.

        `image_shape` (C, H, W) lets architecture/size mismatches be caught before training.
        """
        problems = validation_problems(self, image_shape=image_shape)
        if problems:
            raise ConfigError(problems)
        return self


def field_info(name: str) -> dict:
    """Help text, choices and group of one field (for the form and the CLI)."""
    for f in fields(RunConfig):
        if f.name == name:
            return {"name": f.name, "default": f.default, "type": f.type, **f.metadata}
    raise KeyError(name)


def coerce(f: dataclasses.Field, value: Any) -> Any:
    """Convert JSON/CLI values to the field's type, refusing anything ambiguous."""
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise TypeError(f"expected true or false, got {value!r}")
    if kind == "int":
        if isinstance(value, bool):
            raise TypeError(f"expected a whole number, got {value!r}")
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise TypeError(f"expected a whole number, got {value!r}")
    if kind == "float":
        if isinstance(value, bool):
            raise TypeError(f"expected a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise TypeError(f"expected a number, got {value!r}")
    if kind == "str":
        if not isinstance(value, str):
            raise TypeError(f"expected text, got {value!r}")
        return value
    if f.name == "milestones":
        return parse_milestones(value)
    if f.name == "custom_layers":
        if isinstance(value, str):
            value = json.loads(value) if value.strip() else []
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, dict) for v in value):
            raise TypeError("expected a list of layer objects like {\"type\": \"conv\", \"out_channels\": 6}")
        return tuple(dict(v) for v in value)
    return value


def parse_milestones(value: Any) -> tuple:
    if isinstance(value, str):
        parts = [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        raise TypeError(f"expected epochs like 3,4, got {value!r}")
    out = []
    for p in parts:
        if isinstance(p, bool) or (isinstance(p, float) and not p.is_integer()):
            raise TypeError(f"milestones must be whole epochs, got {p!r}")
        try:
            out.append(int(p))
        except (TypeError, ValueError):
            raise TypeError(f"milestones must be whole epochs like 3,4, got {p!r}") from None
    return tuple(out)


# ---- validation ------------------------------------------------------------------------

def validation_problems(cfg: RunConfig, *, image_shape: tuple | None = None) -> list[str]:
    from core import data, models  # late import: the registries import torch

    p: list[str] = []
    if len(cfg.name) > 80:
        p.append(f"run name is {len(cfg.name)} characters long; use at most 80")
    if not data.is_known(cfg.dataset):
        p.append(f"unknown dataset {cfg.dataset!r} — choose one of: {', '.join(data.names())}")
    if cfg.arch not in models.MODELS:
        p.append(f"unknown architecture {cfg.arch!r} — choose one of: {', '.join(models.MODELS)}")
    if cfg.optimizer not in OPTIMIZERS:
        p.append(f"unknown optimizer {cfg.optimizer!r} — choose one of: {', '.join(OPTIMIZERS)}")
    if cfg.schedule not in SCHEDULES:
        p.append(f"unknown schedule {cfg.schedule!r} — choose one of: {', '.join(SCHEDULES)}")
    if cfg.device not in DEVICES:
        p.append(f"unknown device {cfg.device!r} — choose one of: {', '.join(DEVICES)}")
    if not cfg.lr > 0 or cfg.lr != cfg.lr:
        p.append(f"learning rate must be > 0, got {cfg.lr:g}")
    elif cfg.lr > 100:
        p.append(f"learning rate {cfg.lr:g} is far too large; use a value ≤ 100 (typical: 0.001–0.1)")
    if not 0 <= cfg.momentum < 1:
        p.append(f"momentum must be in [0, 1), got {cfg.momentum:g}")
    if cfg.nesterov and (cfg.optimizer != "sgd" or cfg.momentum == 0):
        p.append("Nesterov momentum needs optimizer sgd with momentum > 0")
    if cfg.weight_decay < 0:
        p.append(f"weight decay must be ≥ 0, got {cfg.weight_decay:g}")
    if not 0 <= cfg.label_smoothing < 1:
        p.append(f"label smoothing must be in [0, 1), got {cfg.label_smoothing:g}")
    if not 1 <= cfg.epochs <= MAX_EPOCHS:
        p.append(f"epochs must be between 1 and {MAX_EPOCHS}, got {cfg.epochs}")
    if not 1 <= cfg.batch_size <= MAX_BATCH_SIZE:
        p.append(f"batch size must be between 1 and {MAX_BATCH_SIZE}, got {cfg.batch_size}")
    if not 0 <= cfg.val_split <= 0.5:
        p.append(f"validation split must be between 0 and 0.5 (a share of the training set), got {cfg.val_split:g}")
    if cfg.seed < 0:
        p.append(f"seed must be ≥ 0, got {cfg.seed}")
    if cfg.threads < 0 or cfg.threads > 256:
        p.append(f"threads must be 0 (automatic) or between 1 and 256, got {cfg.threads}")
    if not 0 <= cfg.aug_translate <= 16:
        p.append(f"random shift must be between 0 and 16 pixels, got {cfg.aug_translate}")
    if not 0 <= cfg.aug_rotate <= 180:
        p.append(f"random rotation must be between 0 and 180 degrees, got {cfg.aug_rotate:g}")
    if not 0 <= cfg.aug_scale < 1:
        p.append(f"random zoom must be in [0, 1), got {cfg.aug_scale:g}")
    if not 0 <= cfg.aug_erase <= 1:
        p.append(f"random erasing probability must be between 0 and 1, got {cfg.aug_erase:g}")
    p += _schedule_problems(cfg)
    if cfg.arch == "custom" and not cfg.custom_layers:
        p.append("arch custom needs a layer stack (custom_layers); build one on the Model page")
    if image_shape is not None and cfg.arch in models.MODELS and not p:
        problem = models.input_problem(cfg.arch, image_shape, cfg.custom_layers)
        if problem:
            p.append(problem)
    return p


def _schedule_problems(cfg: RunConfig) -> list[str]:
    p = []
    if cfg.schedule == "multistep":
        ms = cfg.milestones
        if not ms:
            p.append("MultiStepLR needs milestones, e.g. 3,4 (epochs after which the LR drops)")
        elif list(ms) != sorted(set(ms)) or ms[0] < 1 or ms[-1] > cfg.epochs:
            p.append(
                f"MultiStepLR milestones must be increasing epochs within 1..{cfg.epochs}, got "
                f"{','.join(map(str, ms))}"
            )
    if cfg.schedule == "step" and cfg.step_size < 1:
        p.append(f"StepLR step size must be at least 1 epoch, got {cfg.step_size}")
    if cfg.schedule in ("step", "multistep", "exponential", "plateau") and not 0 < cfg.gamma <= 1:
        p.append(f"gamma must be in (0, 1] (the LR is multiplied by it), got {cfg.gamma:g}")
    if cfg.schedule == "cosine" and not 0 <= cfg.min_lr < cfg.lr:
        p.append(f"cosine min_lr must be ≥ 0 and below the learning rate {cfg.lr:g}, got {cfg.min_lr:g}")
    if cfg.schedule == "plateau" and cfg.patience < 0:
        p.append(f"plateau patience must be ≥ 0 epochs, got {cfg.patience}")
    if cfg.warmup_epochs < 0 or cfg.warmup_epochs >= max(cfg.epochs, 1):
        p.append(f"warm-up must be ≥ 0 and shorter than the run ({cfg.epochs} epochs), got {cfg.warmup_epochs:g}")
    elif cfg.warmup_epochs and cfg.schedule == "onecycle":
        p.append("OneCycle has its own warm-up; set warm-up epochs to 0")
    return p
