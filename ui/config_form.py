"""The Train form: one widget per RunConfig field, built from the field metadata.

Plain widgets (not st.form) so the LR preview redraws as schedule fields change. Widget keys are
`cfg_<field>`; loading a preset or a cloned run writes those keys before the widgets exist.
"""
from __future__ import annotations

from dataclasses import fields

import streamlit as st

from core import data, models
from core.config import (
    ConfigError, RunConfig, best_basis_note, field_applies, field_info, field_problem, form_label,
)
from ui import state

PREFIX = "cfg_"
VALUES = state.TRAIN_FORM  # the form's values; widget keys vanish when their page is not shown
# The three columns and the field groups each shows, in order; within a group, fields follow
# RunConfig. Labels, bounds, steps, formats and when a field shows all come from core.config.
COLUMNS = (
    ("Data and model", ("data", "model", "loop")),
    ("Optimizer and schedule", ("optim", "schedule")),
    ("Augmentation and hardware", ("augment", "device", "run")),
)


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


def widget_spec(name: str) -> tuple[str, dict]:
    """(Streamlit widget, its keyword arguments) for a field, from the field's metadata alone.

    A number's min/max are the metadata's bounds, so every valid value fits the widget (a value
    outside a number_input's bounds is silently replaced by its minimum). An exclusive lower bound
    (learning rate > 0) is the widget's minimum: the form lets that one value through and
    validation names it.
    """
    info = field_info(name)
    kwargs = {"label": form_label(name), "help": info["help"]}
    if "choices" in info:
        titles = info.get("titles")
        return "selectbox", {**kwargs, "options": info["choices"],
                             **({"format_func": titles.__getitem__} if titles else {})}
    if info["type"] == "bool":
        return "toggle", kwargs
    if info["type"] in ("int", "float") and "min" in info:
        kwargs.update(min_value=info["min"], max_value=info["max"])
        if info["type"] == "int":
            return "number_input", {**kwargs, "step": 1}
        return "number_input", {**kwargs, "step": info.get("step", 0.01), "format": info.get("format", "%.4g")}
    return "text_input", kwargs


def _widget(name: str, **extra):
    kind, kwargs = widget_spec(name)
    return getattr(st, kind)(key=key(name), **{**kwargs, **extra})


def dataset_label(name: str) -> str:
    info = data.info(name)
    state = data.status(name).state
    mark = {"present": "", "bundled": " · bundled", "debian": " · install from Debian copy"}.get(state, f" · {state}")
    return f"{info.title}{mark}"


def _registry_box(name: str, options: list, format_func) -> None:
    label, help = form_label(name), field_info(name)["help"]
    st.selectbox(label, options, key=key(name), help=help, format_func=format_func)


def _data_and_model(name: str) -> None:
    """Dataset and architecture pick from registries, so they get their own widgets."""
    if name == "dataset":
        names = data.names()
        if st.session_state[key("dataset")] not in names:
            names = [st.session_state[key("dataset")], *names]
        _registry_box("dataset", names, dataset_label)
    elif name == "arch":
        _registry_box("arch", list(models.MODELS), lambda a: models.MODELS[a].title)
        st.caption(models.MODELS[st.session_state[key("arch")]].description)
    elif name == "custom_layers" and st.session_state[key("arch")] == "custom":
        layers = st.session_state[VALUES].get("custom_layers") or ()
        st.caption(f"Custom stack of {len(layers)} layers (edit it on the Model page).")


def render() -> dict:
    """Draw the form; return the raw values (validated by `to_config`)."""
    ensure_defaults()
    for column, (title, groups) in zip(st.columns(len(COLUMNS)), COLUMNS):
        with column:
            st.markdown(f"**{title}**")
            for group in groups:
                for f in fields(RunConfig):
                    if f.metadata["group"] == group:
                        _field(f.name)
    return current_values()


def _field(name: str) -> None:
    if name in ("dataset", "arch", "custom_layers"):
        return _data_and_model(name)
    # optimizer and schedule come before the fields that depend on them, so these are this run's
    applies = field_applies(name, st.session_state[key("optimizer")], st.session_state[key("schedule")])
    # a field that does not apply is still validated (it is saved, and a clone may use it): show it
    # while its value is wrong, or its problem could not be fixed without switching back
    wrong = field_info(name)["type"] in ("int", "float") and field_problem(name, st.session_state[key(name)])
    if not (applies or wrong):
        return None
    _widget(name)
    if name == "val_split" and st.session_state[key(name)] == 0:
        st.caption(best_basis_note(RunConfig(val_split=0.0)))


def to_config(values: dict) -> tuple[RunConfig | None, list[str]]:
    """(config, problems): problems are shown before anything starts."""
    try:
        cfg = RunConfig.from_dict(values)
        return cfg.validate(image_shape=data.image_shape(cfg.dataset)), []
    except ConfigError as exc:
        return None, exc.problems
