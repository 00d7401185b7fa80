"""Preset pickers: load a named configuration into the Train form, or start it in one click."""
from __future__ import annotations

import streamlit as st

from core import data, presets
from ui import state


def availability(preset) -> tuple[bool, str]:
    st_ = data.status(preset.config.dataset)
    return st_.ready, "" if st_.ready else f"needs {preset.config.dataset}: {st_.detail}"


def _label(name: str) -> str:
    p = presets.PRESETS[name]
    ok, _ = availability(p)
    return f"{p.group} · {p.title}" + ("" if ok else " (dataset missing)")


def picker(*, key: str) -> None:
    """Selectbox + Load button above the Train form. Presets without data show why, not hidden."""
    with st.expander("Presets", expanded=False, icon=":material/bookmarks:"):
        name = st.selectbox("Preset", list(presets.PRESETS), format_func=_label, key=key)
        p = presets.PRESETS[name]
        ok, reason = availability(p)
        st.caption(p.description + (f" Reported by the tutorial: **{p.reported}**." if p.reported else ""))
        if not ok:
            st.warning(f"Disabled: {reason}")
        if st.button("Load into the form", key=f"{key}_load", disabled=not ok, icon=":material/input:"):
            from ui import config_form  # imports the model registry (torch), which Home does without

            config_form.load_into_form(p.config)
            st.rerun()


def start(name: str) -> str:
    """Queue a preset as a run (one click from Home)."""
    return state.runner().submit(presets.PRESETS[name].config, preset=name)


def start_pair(name: str) -> list[str]:
    """Queue both runs of a comparison pair (on full MNIST when present, else the bundled sample)."""
    pair = presets.PAIRS[name]
    dataset = "mnist" if data.status("mnist").ready else "mnist_sample"
    return [state.runner().submit(cfg) for cfg in presets.pair_configs(pair, dataset)]
