"""The one description of a training run.

`RunConfig` fills the Train form, generates the CLI flags and is saved as the run's
`config.json`. Every field carries its label, help, bounds, choices and the optimizers/schedules
that use it in `field(metadata=...)`; the form (ui/config_form.widget_spec), the CLI flags and
`validate()` all read them, so they cannot drift apart. The run-name rule lives here too
(`name_problems`, `clean_run_name`), and so does the note on which data chose the "best" epoch.
"""
from __future__ import annotations

import dataclasses
import json
import math
import unicodedata
from dataclasses import dataclass, field, fields
from typing import Any

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("none", "step", "multistep", "exponential", "cosine", "onecycle", "triangle", "plateau")
DEVICES = ("auto", "cpu", "cuda", "mps")
PAD_MODES = ("black", "reflect")

# The triangle schedule (airbench's): start factor, where the peak is (share of the run), end factor
TRIANGLE = (0.2, 0.23, 0.07)

SCHEDULE_TITLES = {
    "none": "Constant",
    "step": "StepLR",
    "multistep": "MultiStepLR",
    "exponential": "ExponentialLR",
    "cosine": "CosineAnnealingLR",
    "onecycle": "OneCycleLR",
    "triangle": "Triangle (airbench)",
    "plateau": "ReduceLROnPlateau",
}

# What each schedule does, in one line filled from the config (`schedule_explanation`); the Train
# page shows it beside the LR preview. A schedule added to SCHEDULES needs its line here.
SCHEDULE_EXPLANATIONS = {
    "none": "the LR stays at {lr:g} for the whole run.",
    "step": "the LR is multiplied by {gamma:g} after every {step_size} epoch(s), a staircase.",
    "multistep": "the LR is multiplied by {gamma:g} after each milestone epoch ({milestones}), the tutorials' "
                 "staircase.",
    "exponential": "the LR is multiplied by {gamma:g} after every epoch, a staircase shrinking geometrically.",
    "cosine": "the LR glides from {lr:g} down to {min_lr:g} along half a cosine, a little after every batch.",
    "onecycle": "the LR climbs from {lr:g}/25 to {lr:g} over the first 30% of the batches, then falls along a "
                "cosine to 1/10,000 of where it started (and momentum moves the other way).",
    "triangle": f"the LR climbs in a straight line from {{lr:g}}×{TRIANGLE[0]:g} to {{lr:g}} over the first "
                f"{TRIANGLE[1]:.0%} of the batches, then falls in a straight line to {{lr:g}}×{TRIANGLE[2]:g} at the "
                "end; momentum stays put (the CIFAR-10 speed runs' schedule).",
    "plateau": "the LR is multiplied by {gamma:g} whenever the validation loss has not improved for more than "
               "{patience} epoch(s) in a row, so it depends on the validation loss: only training can tell "
               "when it drops.",
}
# Schedules whose LR changes only between epochs (after any warm-up): charts draw them as steps.
# core/optim.Schedule is what makes them so.
STEPWISE_SCHEDULES = ("step", "multistep", "exponential", "plateau")

MAX_EPOCHS = 1000
MAX_BATCH_SIZE = 65536
MAX_SEED = 2**32 - 1  # numpy's seed range; torch takes more, but a seed must work everywhere
MAX_NAME_LENGTH = 80
# Schedules that shape their own start: a separate warm-up does not apply to them.
OWN_WARMUP_SCHEDULES = ("onecycle", "triangle")
_NO_OWN_WARMUP = tuple(s for s in SCHEDULES if s not in OWN_WARMUP_SCHEDULES)


class ConfigError(ValueError):
    """A config value a person must change; `problems` lists every one found."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def _f(default: Any, help: str, *, label: str, **meta: Any) -> Any:
    """A field and everything the form, the CLI and `validate()` need to know about it.

    label      what the form calls it; messages use it too ("learning rate (lr) must be ...")
    unit, hint shown after the label in the form: "Random shift (pixels)", "CPU threads (0 = auto)"
    min, max   inclusive bounds of a number (for milestones: of each entry); min_exclusive=True
               makes the lower bound exclusive (the form then lets the bound itself through and
               validate() names it). Upper bounds are always inclusive, because Streamlit's
               number_input can only show inclusive ones.
    step, format   the form's number_input step and printf format
    optimizers, schedules   the field only matters for these (the form hides it otherwise)
    choices, titles         allowed values and their display names
    cli=False               no command-line flag (edited elsewhere, e.g. the Model page)
    """
    if isinstance(default, (list, dict)):
        raise TypeError("use tuples for defaults")
    return field(default=default, metadata={"help": help, "label": label, **meta})


@dataclass(frozen=True)
class RunConfig:
    # --- what is trained ---------------------------------------------------------------
    name: str = _f("", "Optional display name for the run (defaults to its id); at most 80 printable "
                   "characters, no '/' or '\\'.", label="Run name", hint="optional", group="run")
    dataset: str = _f("mnist_sample", "Dataset name (see `python -m core datasets`).", label="Dataset",
                      group="data")
    arch: str = _f("lenet5", "Model architecture (see `python -m core models`).", label="Architecture",
                   group="model")
    custom_layers: tuple = _f(
        (), "Layer stack for arch=custom: a list of {'type': ..., params} objects.", label="Custom layers",
        group="model", cli=False,
    )
    # --- optimisation -------------------------------------------------------------------
    optimizer: str = _f("sgd", "Optimizer.", label="Optimizer", choices=OPTIMIZERS, group="optim")
    lr: float = _f(0.01, "Initial learning rate (peak LR for OneCycle).", label="Learning rate",
                   min=0.0, min_exclusive=True, max=100.0, step=0.001, format="%.5g", group="optim")
    momentum: float = _f(0.9, "Momentum for SGD and RMSprop.", label="Momentum", min=0.0, max=0.999,
                         step=0.05, optimizers=("sgd", "rmsprop"), group="optim")
    nesterov: bool = _f(False, "Use Nesterov momentum (SGD only).", label="Nesterov momentum",
                        optimizers=("sgd",), group="optim")
    weight_decay: float = _f(0.0, "L2 weight decay (decoupled for AdamW).", label="Weight decay",
                             min=0.0, max=1.0, step=1e-4, format="%.2g", group="optim")
    label_smoothing: float = _f(0.0, "Label smoothing for the cross-entropy loss (0 = off).",
                                label="Label smoothing", min=0.0, max=0.99, step=0.05, group="optim")
    # --- learning-rate schedule ---------------------------------------------------------
    schedule: str = _f("none", "Learning-rate schedule.", label="LR schedule", choices=SCHEDULES,
                       titles=SCHEDULE_TITLES, group="schedule")
    step_size: int = _f(1, "StepLR: epochs between LR drops.", label="Step size", unit="epochs",
                        min=1, max=MAX_EPOCHS, schedules=("step",), group="schedule")
    milestones: tuple = _f((), "MultiStepLR: epochs after which the LR is multiplied by gamma, e.g. 3,4.",
                           label="Milestones", unit="epochs", hint="e.g. 3,4", min=1, max=MAX_EPOCHS,
                           schedules=("multistep",), group="schedule")
    gamma: float = _f(0.1, "Multiplier for StepLR, MultiStepLR, ExponentialLR (per epoch) and ReduceLROnPlateau.",
                      label="Gamma", min=0.0, min_exclusive=True, max=1.0, step=0.05, format="%.3g",
                      schedules=("step", "multistep", "exponential", "plateau"), group="schedule")
    min_lr: float = _f(0.0, "Cosine: the LR reached at the end of training (below the learning rate).",
                       label="Final LR", min=0.0, max=100.0, step=0.001, format="%.2g",
                       schedules=("cosine",), group="schedule")
    patience: int = _f(2, "ReduceLROnPlateau: epochs without improvement before reducing.",
                       label="Patience", unit="epochs", min=0, max=MAX_EPOCHS, schedules=("plateau",),
                       group="schedule")
    warmup_epochs: float = _f(0.0, "Linear LR warm-up length in epochs (0 = off; shorter than the run; "
                              "not with OneCycle).", label="Warm-up", unit="epochs", min=0.0,
                              max=float(MAX_EPOCHS - 1), step=0.5, schedules=_NO_OWN_WARMUP, group="schedule")
    # --- loop ---------------------------------------------------------------------------
    epochs: int = _f(5, "Number of training epochs.", label="Epochs", min=1, max=MAX_EPOCHS, group="loop")
    batch_size: int = _f(64, "Training batch size.", label="Batch size", min=1, max=MAX_BATCH_SIZE,
                         group="loop")
    val_split: float = _f(
        0.1, "Share of the training set held out for validation; the best epoch is chosen on it. "
        "0 = no hold-out: each epoch is scored on the test set, as the tutorials do, so the "
        "'best' epoch is then picked on the test set and its test accuracy is optimistic.",
        label="Validation share", min=0.0, max=0.5, step=0.05, group="loop",
    )
    seed: int = _f(0, "Random seed (runs are reproducible on the CPU for a given seed).", label="Seed",
                   min=0, max=MAX_SEED, group="loop")
    tta_flip: bool = _f(False, "Test-time augmentation: score each validation and test image by the average "
                        "of the model's outputs for it and its mirror image (twice the evaluation time; for "
                        "photos, not digits). Accuracy and the saved predictions use it; the Playground, "
                        "predict and exported models see each image once.", label="Mirror at test time",
                        group="loop")
    tta_shift: bool = _f(False, "More test-time augmentation: also score each image shifted by one pixel "
                         "diagonally each way (edges mirrored), each with its mirror image when 'Mirror at "
                         "test time' is on. The unshifted view(s) weigh half, the shifted ones a quarter each "
                         "(the CIFAR-10 speed runs' TTA); three times the evaluation time.",
                         label="Shift at test time", group="loop")
    lookahead: bool = _f(False, "Lookahead weight averaging (the CIFAR-10 speed runs'): every 5 batches and at "
                         "the end of each epoch the weights are pulled back part of the way toward where they were "
                         "at the previous such point, smoothing out the noise of large learning rates. The pull "
                         "grows with the cube of the run's progress, from nothing to about a quarter at the end.",
                         label="Lookahead averaging", group="loop")
    record_data_map: bool = _f(True, "Record each training image's confidence in its label every epoch, for the "
                               "data map on the Evaluate page (read off the training pass itself: no extra "
                               "pass, well under 1% of training time).", label="Record data map", group="loop")
    # --- augmentation (applied per batch with tensor ops) -----------------------------------
    aug_translate: int = _f(0, "Random shift of up to this many whole pixels: a random crop of the padded "
                            "image, like RandomCrop(size, padding=N) (0 = off).", label="Random shift",
                            unit="pixels", min=0, max=16, group="augment")
    aug_rotate: float = _f(0.0, "Random rotation of up to ± this many degrees (0 = off).",
                           label="Random rotation", unit="degrees", hint="±", min=0.0, max=180.0, step=5.0,
                           group="augment")
    aug_scale: float = _f(0.0, "Random zoom of up to ± this fraction, e.g. 0.1 (0 = off).",
                          label="Random zoom", hint="± fraction", min=0.0, max=0.9, step=0.05,
                          group="augment")
    aug_hflip: bool = _f(False, "Random horizontal flip (for photos, not digits).", label="Horizontal flip",
                         group="augment")
    aug_hflip_alternate: bool = _f(False, "With horizontal flips: instead of a coin toss each time, each training "
                                   "image is mirrored in every other epoch (a fixed random half in odd epochs, the "
                                   "rest in even ones), so every two epochs show both views of every image. The "
                                   "CIFAR-10 speed runs' alternating flip; it helps most in short runs.",
                                   label="Alternate flips by epoch", group="augment")
    aug_erase: float = _f(0.0, "Probability of random erasing a rectangle (0 = off).", label="Random erasing",
                          hint="probability", min=0.0, max=1.0, step=0.1, group="augment")
    aug_pad: str = _f("black", "What fills the pixels a shift, rotation or zoom brings in from outside the "
                      "image: black (right for digits on a dark background) or the image mirrored at its "
                      "edge (reflect: right for photos, no black frames).", label="Padding",
                      choices=PAD_MODES, group="augment")
    # --- hardware -----------------------------------------------------------------------
    device: str = _f("auto", "Where to train: auto picks CUDA, then Apple MPS, then the CPU.", label="Device",
                     choices=DEVICES, group="device")
    threads: int = _f(0, "CPU threads for PyTorch (0 = choose automatically).", label="CPU threads",
                      hint="0 = auto", min=0, max=256, group="device")
    mixed_precision: bool = _f(True, "Train in bfloat16 autocast where it is fast: on CUDA (bf16 or fp16, with "
                               "the channels_last layout) and on CPUs with native bf16 (AVX-512 BF16 or AMX), "
                               "where it trains 1.6–2.4× faster at usual batch sizes. Weights stay float32; on "
                               "the CPU, evaluation and saved predictions stay float32 too. Off: full float32 "
                               "everywhere.",
                               label="Mixed precision", group="device")
    # --- what is recorded besides the run store's own files ----------------------------------
    tensorboard: bool = _f(False, "Also write TensorBoard event files (curves, and the hyperparameters in "
                           "the HParams view) into the run folder; view them with `tensorboard --logdir "
                           "checkpoints`. Needs `pip install -r requirements-tensorboard.txt`.",
                           label="TensorBoard log", group="run")

    def __post_init__(self):
        # Whole numbers given to float fields (a preset's `aug_rotate=10`) become floats: the form's
        # number_input refuses to mix an int value with float bounds. Lists become tuples.
        for f in fields(self):
            value = getattr(self, f.name)
            if _kind(f) == "float" and isinstance(value, int) and not isinstance(value, bool):
                try:
                    object.__setattr__(self, f.name, float(value))
                except OverflowError:
                    pass  # left as it is; validate() reports it as not finite
            elif _kind(f) == "tuple" and isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))

    @property
    def best_on_test(self) -> bool:
        """True when no validation share is held out, so the "best" epoch is chosen on the test set."""
        return self.val_split == 0

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
            raise ConfigError([f"a config must be a JSON object like {{\"epochs\": 3}}, got {_json_kind(data)}"])
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
    def from_json(cls, text: str, *, source: str = "config") -> "RunConfig":
        return cls.from_dict(json_object(text, source))

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


# ---- field metadata ------------------------------------------------------------------------

def _kind(f: dataclasses.Field) -> str:
    return f.type if isinstance(f.type, str) else f.type.__name__


def field_info(name: str) -> dict:
    """Everything known about one field: default, type ("int", "float", ...), help, label, bounds."""
    for f in fields(RunConfig):
        if f.name == name:
            return {"name": f.name, "default": f.default, "type": _kind(f), **f.metadata}
    raise KeyError(name)


def form_label(name: str) -> str:
    """The form's label: "Random shift (pixels)", "CPU threads (0 = auto)"."""
    info = field_info(name)
    extra = ", ".join(x for x in (info.get("unit"), info.get("hint")) if x)
    return f"{info['label']} ({extra})" if extra else info["label"]


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def range_text(name: str) -> str:
    """The allowed range in words ("between 0 and 16", "> 0 and ≤ 100"); "" for non-numbers."""
    info = field_info(name)
    if "min" not in info:
        return ""
    lo, hi = _number(info["min"]), _number(info["max"])
    return f"> {lo} and ≤ {hi}" if info.get("min_exclusive") else f"between {lo} and {hi}"


def in_range(name: str, value) -> bool:
    info = field_info(name)
    low_ok = value > info["min"] if info.get("min_exclusive") else value >= info["min"]
    return low_ok and value <= info["max"]


def field_applies(name: str, optimizer: str, schedule: str) -> bool:
    """Whether the field matters for this optimizer and schedule (the form shows only those)."""
    info = field_info(name)
    return optimizer in info.get("optimizers", (optimizer,)) and schedule in info.get("schedules", (schedule,))


def _subject(name: str) -> str:
    """How messages name a field: its label, plus the config key when that reads differently."""
    label = field_info(name)["label"]
    noun = label if label[:2].isupper() else label[0].lower() + label[1:]
    return noun if noun.lower() == name.replace("_", " ") else f"{noun} ({name})"


# ---- reading values --------------------------------------------------------------------------

def _json_kind(value) -> str:
    kinds = {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null",
             int: "a number", float: "a number"}
    return kinds.get(type(value), type(value).__name__)


def json_object(text: str, source: str = "config") -> dict:
    """Parse config JSON text into a dict, or raise ConfigError saying what is wrong with it."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError([f"{source} is not valid JSON: {exc}"]) from None
    except (ValueError, RecursionError):  # a number of over 4,300 digits, or lists nested too deep
        raise ConfigError([f"{source} cannot be read: it holds a number with thousands of digits or "
                           "lists nested thousands deep; a config is flat JSON like {\"epochs\": 3}"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{source} must hold a JSON object like {{\"epochs\": 3}}, got {_json_kind(data)}"])
    return data


def coerce(f: dataclasses.Field, value: Any) -> Any:
    """Convert JSON/CLI values to the field's type, refusing anything ambiguous."""
    kind = _kind(f)
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
        raise TypeError(f"expected a whole number, got {_short(value)}")
    if kind == "float":
        if isinstance(value, bool):
            raise TypeError(f"expected a number, got {value!r}")
        if isinstance(value, (int, float)):
            try:
                return float(value)
            except OverflowError:  # an int of hundreds of digits
                raise ValueError(f"expected a number, got one too large ({_short(value)})") from None
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise TypeError(f"expected a number, got {_short(value)}")
    if kind == "str":
        if not isinstance(value, str):
            raise TypeError(f"expected text, got {_short(value)}")
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


def _short(value, limit: int = 40) -> str:
    """repr(value), cut short: a value echoed in a message may be a 5,000-digit number."""
    return _clip(repr(value), limit)


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def parse_milestones(value: Any) -> tuple:
    if isinstance(value, str):
        parts = [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        raise TypeError(f"expected epochs like 3,4, got {_short(value)}")
    out = []
    for p in parts:
        if isinstance(p, bool) or (isinstance(p, float) and not p.is_integer()):
            raise TypeError(f"milestones must be whole epochs, got {_short(p)}")
        try:
            out.append(int(p))
        except (TypeError, ValueError):
            raise TypeError(f"milestones must be whole epochs like 3,4, got {_short(p)}") from None
    return tuple(out)


# ---- run names -------------------------------------------------------------------------------

def _fold(name: str) -> str:
    return " ".join(name.split())


def _unprintable(ch: str) -> bool:
    # Cc: controls (ESC, BEL, newline, tab); Cf: format (U+202E right-to-left override, zero-width);
    # Zl/Zp: line and paragraph separators; Co/Cs/Cn: private, surrogate, unassigned
    return ch != " " and unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn")


def name_problems(name) -> list[str]:
    """What is wrong with a run name (empty list when fine). "" is fine here: it means "use the id"."""
    if not isinstance(name, str):
        return [f"a run name must be text, got {_short(name)}"]
    bad = sorted({f"U+{ord(ch):04X}" for ch in name if _unprintable(ch)})
    if bad:
        return [f"a run name cannot contain control or invisible characters (found {', '.join(bad)}); "
                "use letters, digits, spaces and punctuation on one line"]
    folded = _fold(name)
    problems = []
    if len(folded) > MAX_NAME_LENGTH:
        problems.append(f"a run name can have at most {MAX_NAME_LENGTH} characters, got {len(folded)}")
    if any(ch in folded for ch in "/\\") or folded in (".", ".."):
        problems.append("a run name cannot contain '/' or '\\' or be '.' or '..'")
    return problems


def clean_run_name(name: str) -> str:
    """The name with runs of whitespace folded to one space; ConfigError if empty or not allowed."""
    problems = name_problems(name)
    if not problems and not _fold(name):
        problems = ["a run name cannot be empty"]
    if problems:
        raise ConfigError(problems)
    return _fold(name)


def best_basis_note(cfg: RunConfig) -> str:
    """One line saying which data "best" was chosen on; show it wherever a best epoch is shown."""
    if cfg.best_on_test:
        return ("Best epoch chosen on the test set (no validation share), so its test accuracy is "
                "optimistic.")
    return (f"Best epoch chosen on a {cfg.val_split:.0%} validation share of the training set; the test "
            "set was not used to choose it.")


# ---- validation ------------------------------------------------------------------------

_TYPE_WORDS = {"int": "a whole number", "float": "a number", "bool": "true or false", "str": "text"}


def _type_ok(kind: str, value) -> bool:
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    return isinstance(value, tuple)


def _finite(value) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _field_problem(f: dataclasses.Field, value) -> str | None:
    """Type, finiteness, bounds or choice of one field, from its metadata."""
    kind, info = _kind(f), f.metadata
    if not _type_ok(kind, value):
        return f"{_subject(f.name)} must be {_TYPE_WORDS.get(kind, 'a list')}, got {_short(value)}"
    if kind == "float" and not _finite(value):
        return f"{_subject(f.name)} must be a finite number, got {_short(value)}"
    if kind in ("int", "float") and "min" in info and not in_range(f.name, value):
        unit = f" {info['unit']}" if info.get("unit") else ""
        return f"{_subject(f.name)} must be {range_text(f.name)}{unit}, got {_clip(_number(value))}"
    if "choices" in info and value not in info["choices"]:
        return f"unknown {_subject(f.name)} {value!r} — choose one of: {', '.join(info['choices'])}"
    if f.name == "milestones":
        return _milestones_problem(value)
    if f.name == "custom_layers":
        return _layers_problem(value)
    if f.name == "name":
        return "; ".join(name_problems(value)) or None
    return None


def field_problem(name: str, value) -> str | None:
    """What is wrong with this one value on its own (None when fine; rules across fields aside)."""
    return _field_problem(next(f for f in fields(RunConfig) if f.name == name), value)


def _milestones_problem(ms: tuple) -> str | None:
    lo, hi = field_info("milestones")["min"], field_info("milestones")["max"]
    if not all(isinstance(m, int) and not isinstance(m, bool) for m in ms):
        return f"milestones must be whole epochs like 3,4, got {_short(ms)}"
    if len(ms) > hi or not all(lo <= m <= hi for m in ms):
        return f"milestones must be epochs between {lo} and {hi}, got {_short(ms)}"
    return None


def _layers_problem(layers: tuple) -> str | None:
    """custom_layers must be JSON-like layer objects; what they describe is the model registry's to
    check (`models.input_problem`, given an image shape)."""
    for i, layer in enumerate(layers, start=1):
        if not isinstance(layer, dict) or not all(isinstance(k, str) for k in layer):
            return (f"custom layer {i} must be an object like {{\"type\": \"conv\", \"out_channels\": 6}}, "
                    f"got {_short(layer)}")
        for k, v in layer.items():
            if not (v is None or isinstance(v, (str, int, float))) or (isinstance(v, float) and not _finite(v)):
                return f"custom layer {i}: {k} must be a number or text, got {_short(v)}"
    return None


def validation_problems(cfg: RunConfig, *, image_shape: tuple | None = None) -> list[str]:
    from core import data, models  # late import: the registries import torch

    p, bad = [], set()
    for f in fields(cfg):
        problem = _field_problem(f, getattr(cfg, f.name))
        if problem:
            p.append(problem)
            bad.add(f.name)
    if "dataset" not in bad and not data.is_known(cfg.dataset):
        p.append(f"unknown dataset {cfg.dataset!r} — choose one of: {', '.join(data.names())}")
    if "arch" not in bad and cfg.arch not in models.MODELS:
        p.append(f"unknown architecture {cfg.arch!r} — choose one of: {', '.join(models.MODELS)}")
    # the rules across fields compare values already known to be sound: all problems at once
    ok = lambda *names: not bad.intersection(names)  # noqa: E731
    if ok("nesterov", "optimizer", "momentum") and cfg.nesterov and (cfg.optimizer != "sgd" or cfg.momentum == 0):
        p.append("Nesterov momentum needs optimizer sgd with momentum > 0")
    p += _schedule_problems(cfg, ok)
    if ok("tensorboard") and cfg.tensorboard:
        from core import tensorboard_log

        p += [tensorboard_log.missing()] if tensorboard_log.missing() else []
    if ok("arch", "custom_layers") and cfg.arch == "custom" and not cfg.custom_layers:
        p.append("arch custom needs a layer stack (custom_layers); build one on the Model page")
    if image_shape is not None and not p:
        problem = models.input_problem(cfg.arch, image_shape, cfg.custom_layers)
        if problem:
            p.append(problem)
    return p


def _schedule_problems(cfg: RunConfig, ok) -> list[str]:
    p = []
    if ok("schedule", "milestones", "epochs") and cfg.schedule == "multistep":
        ms = cfg.milestones
        if not ms:
            p.append("MultiStepLR needs milestones, e.g. 3,4 (epochs after which the LR drops)")
        elif list(ms) != sorted(set(ms)) or ms[-1] > cfg.epochs:
            p.append(
                f"MultiStepLR milestones must be increasing epochs within 1..{cfg.epochs}, got "
                f"{','.join(map(str, ms))}"
            )
    if ok("schedule", "min_lr", "lr") and cfg.schedule == "cosine" and not cfg.min_lr < cfg.lr:
        p.append(f"cosine final LR (min_lr) must be below the learning rate {cfg.lr:g}, got {cfg.min_lr:g}")
    if not ok("warmup_epochs", "epochs", "schedule"):
        return p
    if cfg.warmup_epochs >= cfg.epochs:
        p.append(f"warm-up must be shorter than the run ({cfg.epochs} epochs), got {cfg.warmup_epochs:g}")
    elif cfg.warmup_epochs and cfg.schedule in OWN_WARMUP_SCHEDULES:
        name = {"onecycle": "OneCycle", "triangle": "The triangle schedule"}[cfg.schedule]
        p.append(f"{name} has its own warm-up; set warm-up epochs to 0")
    return p


def schedule_explanation(cfg: RunConfig) -> str:
    """One line saying what the config's LR schedule does with its own numbers."""
    values = {**cfg.to_dict(), "milestones": ", ".join(map(str, cfg.milestones)) or "none set"}
    text = f"{SCHEDULE_TITLES[cfg.schedule]}: " + SCHEDULE_EXPLANATIONS[cfg.schedule].format(**values)
    if cfg.warmup_epochs and cfg.schedule not in OWN_WARMUP_SCHEDULES:
        text += f" First it warms up linearly from near 0 over {cfg.warmup_epochs:g} epoch(s)."
    return text
