"""The Train form: one widget per RunConfig field, built from the field metadata.

Plain widgets (not st.form) so the LR preview redraws as schedule fields change. Widget keys are
`cfg_<field>`; loading a preset or a cloned run writes those keys before the widgets exist.
"""
from __future__ import annotations

from dataclasses import fields

import streamlit as st

from core import data, models
from core.config import SCHEDULE_TITLES, ConfigError, RunConfig, field_info
from ui import state

PREFIX = "cfg_"
VALUES = state.TRAIN_FORM  # the form's values; widget keys vanish when their page is not shown
SCHEDULE_FIELDS = {
    "step": ("step_size", "gamma"),
    "multistep": ("milestones", "gamma"),
    "exponential": ("gamma",),
    "cosine": ("min_lr",),
    "plateau": ("gamma", "patience"),
}
FLOAT_FORMATS = {"lr": "%.5g", "weight_decay": "%.2g", "min_lr": "%.2g", "gamma": "%.3g"}


def key(name: str) -> str:
    return PREFIX + name


def pending_values() -> dict:
    """What the Train form will show: a prefill waiting for it, else the form's current values."""
    prefill = state.get(state.TRAIN_PREFILL)
    if isinstance(prefill, dict):
        return prefill
    values = state.get(VALUES)
    return _usable(values) if isinstance(values, dict) else {}


def _form_value(name: str, value):
    return ",".join(map(str, value)) if name == "milestones" else value


def _usable(draft: dict) -> dict:
    """A saved draft as form values: every field present, each of its widget's type and choices.

    A draft read back after a reload may come from an older version of the form (a field missing,
    a choice since removed); a wrong type or choice would make its widget raise. Invalid but
    well-typed values (lr 0, milestones "4,2") are kept: the form shows them with its problems.
    """
    values, base = {}, RunConfig()
    for f in fields(RunConfig):
        default = _form_value(f.name, getattr(base, f.name))
        value = draft.get(f.name, default)
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        choices = models.MODELS if f.name == "arch" else field_info(f.name).get("choices", (value,))
        if type(value) is not type(default) or value not in choices:
            value = default
        values[f.name] = value
    return values


def load_into_form(cfg: RunConfig) -> None:
    """Put a config's values into the form (call before the widgets are drawn)."""
    state.put(VALUES, {f.name: _form_value(f.name, getattr(cfg, f.name)) for f in fields(RunConfig)})
    for f in fields(RunConfig):
        st.session_state[key(f.name)] = st.session_state[VALUES][f.name]


def set_values(**changes) -> None:
    """Change some of the form's values (call before the widgets are drawn: in a callback)."""
    st.session_state[VALUES] = {**current_values(), **changes}
    for name, value in changes.items():
        st.session_state[key(name)] = value
    state.save(VALUES)


def ensure_defaults() -> None:
    """Give every widget its remembered value, including ones hidden on earlier reruns."""
    values = state.get(VALUES)
    if not isinstance(values, dict):
        load_into_form(RunConfig())
    elif set(values) != {f.name for f in fields(RunConfig)}:  # a draft saved by another version
        st.session_state[VALUES] = _usable(values)
    # Written again on every run, not only when missing: a widget whose first render was cut short
    # by a rerun, or that was left out of a run and drawn again, otherwise shows its minimum in the
    # browser (epochs 1, lr 0) while the server keeps its value - and the browser's minimum wins at
    # the next edit (Streamlit 1.67). A written key makes the server send the value.
    for name, value in current_values().items():
        st.session_state[key(name)] = value
    remember()


def remember() -> None:
    """Save the form's values as the draft a reload brings back (a no-op when unchanged)."""
    if isinstance(st.session_state.get(VALUES), dict):
        state.save(VALUES)


def current_values() -> dict:
    """The form's values as the widgets hold them now (also inside a widget callback)."""
    saved = state.get(VALUES)
    if not isinstance(saved, dict):
        saved = st.session_state[VALUES] = _usable({})
    for f in fields(RunConfig):
        if key(f.name) in st.session_state:
            saved[f.name] = st.session_state[key(f.name)]
    return dict(saved)


def _widget(name: str, **extra):
    info = field_info(name)
    label = extra.pop("label", name.replace("_", " ").capitalize())
    kind = info["type"] if isinstance(info["type"], str) else info["type"].__name__
    common = {"key": key(name), "help": info["help"], **extra}
    if "choices" in info:
        return st.selectbox(label, info["choices"], **common)
    if kind == "bool":
        return st.toggle(label, **common)
    if kind == "int":
        return st.number_input(label, step=1, **common)
    if kind == "float":
        return st.number_input(label, format=FLOAT_FORMATS.get(name, "%.4g"), **common)
    return st.text_input(label, **common)


def dataset_label(name: str) -> str:
    info = data.info(name)
    state = data.status(name).state
    mark = {"present": "", "bundled": " · bundled", "debian": " · install from Debian copy"}.get(state, f" · {state}")
    return f"{info.title}{mark}"


def render() -> dict:
    """Draw the form; return the raw values (validated by `to_config`)."""
    ensure_defaults()
    c1, c2, c3 = st.columns(3)
    with c1:
        st.markdown("**Data and model**")
        names = data.names()
        if st.session_state[key("dataset")] not in names:
            names = [st.session_state[key("dataset")], *names]
        st.selectbox("Dataset", names, key=key("dataset"), format_func=dataset_label,
                     help=field_info("dataset")["help"])
        archs = list(models.MODELS)
        st.selectbox("Architecture", archs, key=key("arch"), help=field_info("arch")["help"],
                     format_func=lambda a: f"{models.MODELS[a].title}")
        st.caption(models.MODELS[st.session_state[key("arch")]].description)
        if st.session_state[key("arch")] == "custom":
            layers = st.session_state[VALUES].get("custom_layers") or ()
            st.caption(f"Custom stack of {len(layers)} layers (edit it on the Model page).")
        _widget("epochs", min_value=1, label="Epochs")
        _widget("batch_size", min_value=1, label="Batch size")
        _widget("val_split", min_value=0.0, max_value=0.5, step=0.05, label="Validation share")
        _widget("seed", min_value=0, label="Seed")
    with c2:
        st.markdown("**Optimizer and schedule**")
        _widget("optimizer", label="Optimizer")
        _widget("lr", min_value=0.0, step=0.001, label="Learning rate")
        opt = st.session_state[key("optimizer")]
        if opt in ("sgd", "rmsprop"):
            _widget("momentum", min_value=0.0, max_value=0.999, step=0.05, label="Momentum")
        if opt == "sgd":
            _widget("nesterov", label="Nesterov momentum")
        _widget("weight_decay", min_value=0.0, step=1e-4, label="Weight decay")
        _widget("label_smoothing", min_value=0.0, max_value=0.99, step=0.05, label="Label smoothing")
        _widget("schedule", label="LR schedule", format_func=lambda s: SCHEDULE_TITLES[s])
        sched = st.session_state[key("schedule")]
        for name in SCHEDULE_FIELDS.get(sched, ()):
            labels = {"step_size": "Step size (epochs)", "milestones": "Milestones (epochs, e.g. 3,4)",
                      "gamma": "Gamma", "min_lr": "Final LR", "patience": "Patience (epochs)"}
            _widget(name, label=labels[name])
        if sched != "onecycle":
            _widget("warmup_epochs", min_value=0.0, step=0.5, label="Warm-up (epochs)")
    with c3:
        st.markdown("**Augmentation and hardware**")
        _widget("aug_translate", min_value=0, max_value=16, label="Random shift (pixels)")
        _widget("aug_rotate", min_value=0.0, max_value=180.0, step=5.0, label="Random rotation (°)")
        _widget("aug_scale", min_value=0.0, max_value=0.9, step=0.05, label="Random zoom (±)")
        _widget("aug_hflip", label="Horizontal flip")
        _widget("aug_erase", min_value=0.0, max_value=1.0, step=0.1, label="Random erasing (probability)")
        _widget("device", label="Device")
        _widget("threads", min_value=0, max_value=256, label="CPU threads (0 = auto)")
        _widget("mixed_precision", label="Mixed precision on CUDA")
        _widget("name", label="Run name (optional)")
    return current_values()


def to_config(values: dict) -> tuple[RunConfig | None, list[str]]:
    """(config, problems): problems are shown before anything starts."""
    try:
        cfg = RunConfig.from_dict(values)
        shape = None
        if data.is_known(cfg.dataset):
            info = data.info(cfg.dataset)
            shape = (info.channels, *info.size)
        return cfg.validate(image_shape=shape), []
    except ConfigError as exc:
        return None, exc.problems
