"""Session keys, page paths and the process-wide resources (run store, job runner).

Every page starts with `init()`; keys are named constants so pages never disagree on spelling.
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from core import data
from core.runs import RunStore, default_root

if TYPE_CHECKING:
    from core.jobs import JobRunner

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


# What snapshot() reports before this process has a runner: no runner, no job.
IDLE = {"live": None, "queue": [], "finished": [], "busy": False}
_runner_made = False


@st.cache_resource(show_spinner=False)
def _store(root: str) -> RunStore:
    store = RunStore(root)
    store.mark_interrupted()  # runs a crashed or restarted server left "running" (the runner does it too)
    return store


@st.cache_resource(show_spinner=False)
def _runner(root: str, data_root: str) -> JobRunner:
    # one runner (queue + worker thread) per server process, shared by every session and tab;
    # made on first use, because importing it imports torch (see ui/warmup.py)
    global _runner_made
    from core.jobs import JobRunner

    _runner_made = True
    return JobRunner(_store(root), data_dir=data_root)


def store() -> RunStore:
    return _store(str(default_root()))


def runner() -> JobRunner:
    return _runner(str(default_root()), str(data.data_dir()))


def runner_exists() -> bool:
    """Has this process made its job runner (and so possibly a job)? Asking does not make one."""
    return _runner_made


def snapshot() -> dict:
    """The runner's snapshot; IDLE while this process has none (nothing can be training then)."""
    return runner().snapshot() if _runner_made else IDLE


def flash(kind: str, message: str) -> None:
    """Show `message` on the next render (survives st.switch_page / st.rerun)."""
    st.session_state[FLASH] = (kind, message)


def show_flash() -> None:
    item = st.session_state.get(FLASH)
    if item:
        kind, message = item
        getattr(st, kind)(message)
        st.session_state[FLASH] = None
