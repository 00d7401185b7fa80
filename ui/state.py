"""Session keys, page paths and the process-wide resources (run store, job runner).

Every page starts with `init()`; keys are named constants so pages never disagree on spelling.
"""
from __future__ import annotations

import sys

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from core import data
from core.jobs import JobRunner
from core.runs import RunStore, default_root

# ---- session keys ----
SELECTED_RUN = "selected_run"          # run id the Evaluate/Inspect/Playground pages show
COMPARE_RUNS = "compare_runs"          # run ids ticked on the Runs page
TRAIN_PREFILL = "train_prefill"        # RunConfig dict to load into the Train form (preset, clone)
FLASH = "flash"                        # (kind, message) shown once on the next page render

DEFAULTS = {SELECTED_RUN: None, COMPARE_RUNS: [], TRAIN_PREFILL: None, FLASH: None}

# ---- pages (paths are what st.page_link / st.switch_page take) ----
HOME = "pages/home.py"
DATA = "pages/data.py"
MODEL = "pages/model.py"
TRAIN = "pages/train.py"
RUNS = "pages/runs.py"
EVALUATE = "pages/evaluate.py"
INSPECT = "pages/inspect_model.py"
PLAYGROUND = "pages/playground.py"


def init() -> None:
    _ensure_router()
    for key, value in DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = list(value) if isinstance(value, list) else value


def _ensure_router() -> None:
    """Make a page run inside streamlit_app.py's router.

    With a folder named pages/ beside the entry script, Streamlit starts in its legacy
    multipage mode: a first request for a page URL on a fresh server (and AppTest's
    switch_page) runs the page script alone, without our navigation, sidebar or layout, until
    st.navigation has run once. Leaving that mode and rerunning puts the router in charge.
    AppTest resets the mode before every run, where a rerun would swallow each click, so
    under AppTest pages keep running alone.
    """
    if PagesManager.uses_pages_directory and "streamlit.testing.v1.app_test" not in sys.modules:
        PagesManager.uses_pages_directory = False
        st.rerun()


@st.cache_resource(show_spinner=False)
def _store(root: str) -> RunStore:
    return RunStore(root)


@st.cache_resource(show_spinner=False)
def _runner(root: str, data_root: str) -> JobRunner:
    # one runner (queue + worker thread) per server process, shared by every session and tab
    return JobRunner(_store(root), data_dir=data_root)


def store() -> RunStore:
    return _store(str(default_root()))


def runner() -> JobRunner:
    return _runner(str(default_root()), str(data.data_dir()))


def flash(kind: str, message: str) -> None:
    """Show `message` on the next render (survives st.switch_page / st.rerun)."""
    st.session_state[FLASH] = (kind, message)


def show_flash() -> None:
    item = st.session_state.get(FLASH)
    if item:
        kind, message = item
        getattr(st, kind)(message)
        st.session_state[FLASH] = None
