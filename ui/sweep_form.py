"""The Train page's sweep option: let some of the form's fields take several values (or a range
sampled log-uniformly), add seeds, and start every combination as a sweep.

The form's own values are the sweep's base; the values typed here are read and checked by
core.sweeps with RunConfig's field metadata, exactly as `python -m core sweep --grid` reads them.
"""
from __future__ import annotations

import os

import streamlit as st

from core import data, models, sweeps
from core.config import ConfigError, RunConfig, field_info, form_label
from core.runs import RunError
from ui import config_form, elsewhere, state
from ui.text import plain

ON = "sweep_on"
FIELDS = "sweep_fields"
SEEDS = "sweep_seeds"
RANDOM = "sweep_random"
EARLY = "sweep_early_stopping"
GRACE = "sweep_grace_epochs"
RANGE_HELP = ("Comma-separated values (0.003, 0.01, 0.03), or a range low:high (0.0001:0.1) sampled "
              "log-uniformly: then set a number of random draws.")


def values_key(name: str) -> str:
    return f"sweep_values_{name}"


def _options(name: str) -> list | None:
    """Values to pick from for fields with a fixed set; None for numbers typed as text."""
    info = field_info(name)
    if name == "dataset":
        return data.names()
    if name == "arch":
        return list(models.MODELS)
    if "choices" in info:
        return list(info["choices"])
    if info["type"] == "bool":
        return [False, True]
    return None


def _value_widget(name: str, current) -> None:
    options = _options(name)
    if values_key(name) not in st.session_state:
        st.session_state[values_key(name)] = [current] if options is not None else str(current)
    if options is not None:
        st.multiselect(f"{form_label(name)}: values", options, key=values_key(name))
    else:
        st.text_input(f"{form_label(name)}: values or low:high", key=values_key(name), help=RANGE_HELP)


def spec_from_widgets(cfg: RunConfig) -> sweeps.SweepSpec:
    """The sweep the widgets describe over the base `cfg`; ConfigError says what is wrong."""
    axes, problems = [], []
    for name in st.session_state.get(FIELDS, []):
        raw = st.session_state.get(values_key(name))
        text = ",".join(str(v) for v in raw) if isinstance(raw, list) else str(raw or "")
        if not text.strip():
            problems.append(f"{field_info(name)['label']}: choose at least one value")
            continue
        try:
            axes.append(sweeps.parse_axis(name, text))
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    return sweeps.SweepSpec(cfg, tuple(axes), seeds=int(st.session_state.get(SEEDS, 1)),
                            random=int(st.session_state.get(RANDOM, 0)),
                            early_stopping=bool(st.session_state.get(EARLY, False)),
                            grace_epochs=int(st.session_state.get(GRACE, 1)), name=cfg.name)


def render(cfg: RunConfig | None) -> bool:
    """Draw the sweep option under the form; True when it is switched on (the page then offers
    "Start sweep" instead of "Train")."""
    if not st.toggle("Sweep: try several values", key=ON,
                     help="Give some fields several values; every combination (or N random draws) "
                          "trains as its own run, and the Sweeps page compares them."):
        return False
    st.caption("The form above is the base configuration; each field chosen here varies over its values.")
    chosen = st.multiselect("Fields to vary", sweeps.sweepable(), key=FIELDS,
                            format_func=lambda n: field_info(n)["label"],
                            placeholder="e.g. Learning rate, Optimizer")
    values = config_form.current_values()
    for name in chosen:
        _value_widget(name, values.get(name, RunConfig().to_dict()[name]))
    a, b, c, d = st.columns(4)
    a.number_input("Seeds per combination", 1, 100, 1, key=SEEDS,
                   help="Each combination trains with seeds base, base+1, …: shows how much is noise.")
    b.number_input("Random draws (0 = full grid)", 0, sweeps.MAX_RUNS, 0, key=RANDOM,
                   help="Draw this many random combinations instead of every one; needed for ranges.")
    c.toggle("Stop clearly bad runs early", key=EARLY,
             help="Median stopping rule: after the grace epochs, stop a run whose best validation accuracy "
                  "is below the median of the other runs' at the same epoch (needs 3 runs to compare with).")
    d.number_input("Grace epochs", 1, 1000, 1, key=GRACE, disabled=not st.session_state.get(EARLY))
    # the Train button's own picker and key: a person who chose Ray there and then switched the
    # sweep on must not find the sweep quietly back on the local queue
    backend = elsewhere.backend_picker()
    if cfg is None:
        return True
    try:
        configs = spec_from_widgets(cfg).configs()
    except ConfigError as exc:
        st.error("Fix these before starting the sweep:\n" + "\n".join(f"- {plain(p)}" for p in exc.problems))
        return True
    if backend == "ray":
        try:
            sweeps.ray_backend()
        except sweeps.SweepError as exc:
            st.warning(str(exc))
    _, words = sweeps.estimate(state.store(), configs)
    st.info(f"**{len(configs)} runs** · time: {words}.")
    return True


def start() -> None:
    """The Start sweep button's callback."""
    cfg, errors = config_form.to_config(config_form.current_values())
    config_form.remember()
    try:
        if errors:
            raise ConfigError(errors)
        spec = spec_from_widgets(cfg)
        backend = state.get(state.TRAIN_BACKEND) or "local"
        sweep = sweeps.start(state.store(), spec, backend=backend,
                             runner=state.runner() if backend == "local" else None,
                             address=os.environ.get("CNN_STUDIO_RAY_ADDRESS"))
    except ConfigError as exc:
        state.flash("error", "Fix these before starting the sweep:\n" + "\n".join(f"- {p}" for p in exc.problems))
        return
    except (sweeps.SweepError, RunError, OSError) as exc:
        state.flash("error", f"The sweep could not be started: {plain(exc)}")
        return
    st.session_state[state.SWEEP_SELECTED] = sweep.sweep_id
    state.flash("success", f"Sweep `{sweep.sweep_id}` started: {len(sweep.run_ids)} runs queued. "
                           "Compare them on the Sweeps page.")
