"""Session keys, page paths and the process-wide resources (run store, job runner).

Every page starts with `init()`; keys are named constants so pages never disagree on spelling.
"""
from __future__ import annotations

import copy
import json
import sys
from typing import TYPE_CHECKING

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from core import data
from core.runs import RunStore, atomic_write_text, default_root

if TYPE_CHECKING:
    from core.jobs import JobRunner

# ---- session keys: every key that outlives one page, with its default, in one table ----
SELECTED_RUN = "selected_run"          # run id the Evaluate/Inspect/Playground pages show
COMPARE_RUNS = "compare_runs"          # run ids ticked on the Runs page (also ?runs= in its URL)
TRAIN_PREFILL = "train_prefill"        # RunConfig dict to load into the Train form (preset, clone)
FLASH = "flash"                        # (kind, message) shown once on the next render
TRAIN_FORM = "train_values"            # the Train form's values; widget keys vanish off the page
LAYER_STACK = "layer_editor_kept"      # the custom stack as last edited on the Model page
LAYER_BASE = "layer_editor_base"       # the stack the editor table starts from (reset / load)
LAYER_VERSION = "layer_editor_version"  # bumped to give the table a fresh key, dropping its edits
LR_FINDER = "lr_finder_result"         # the last LR-finder sweep with the settings it ran with
LIVE_REFRESH = "live_refresh"          # the live panel's refresh mode this person chose, if any
LIVE_CHART = "live_chart_drawn"        # what the live chart drew last, and when (ui/live.py)
KEPT = "kept_widgets"                  # widget key -> last value, for widgets on pages not shown
SWEEP_SELECTED = "sweep_selected"      # sweep id the Sweeps page shows (None: the newest)
TRAIN_BACKEND = "train_backend"        # where the Train button sends a run: "local" queue or "ray"

DEFAULTS = {
    SELECTED_RUN: None, COMPARE_RUNS: [], TRAIN_PREFILL: None, FLASH: None, TRAIN_FORM: None,
    LAYER_STACK: None, LAYER_BASE: None, LAYER_VERSION: 0, LR_FINDER: None, LIVE_REFRESH: None, LIVE_CHART: None,
    KEPT: {}, SWEEP_SELECTED: None, TRAIN_BACKEND: "local",
}

# Keys whose value also survives a browser reload. A reload starts a new session, so these are
# written to <run store>/.drafts/<key>.json: CNN Studio is a single-person app on one machine, so
# "the last draft saved on this server" is that person's draft. A cookie would make it per browser,
# but Streamlit can only read cookies, not set them; a draft id in the URL would be lost by every
# sidebar link (they clear the query string). Small selections go in the URL instead (?runs=).
SAVED = (TRAIN_FORM, LAYER_STACK, LR_FINDER)
RUNS_PARAM = "runs"                    # ?runs=id1,id2 on the Runs page: the compared runs

# ---- pages (paths are what st.page_link / st.switch_page take) ----
HOME = "pages/home.py"
DATA = "pages/data.py"
MODEL = "pages/model.py"
TRAIN = "pages/train.py"
RUNS = "pages/runs.py"
EVALUATE = "pages/evaluate.py"
INSPECT = "pages/inspect_model.py"
PLAYGROUND = "pages/playground.py"
SWEEPS = "pages/sweeps.py"


def init() -> None:
    _ensure_router()
    for key in DEFAULTS:
        if key not in st.session_state:
            st.session_state[key] = _saved(key) if key in SAVED else copy.deepcopy(DEFAULTS[key])


def get(key: str):
    """A session key's value, its default when nothing set it yet."""
    if key not in st.session_state:
        st.session_state[key] = _saved(key) if key in SAVED else copy.deepcopy(DEFAULTS[key])
    return st.session_state[key]


def put(key: str, value) -> None:
    """Set a session key; a SAVED key is also written to disk when its value changed."""
    st.session_state[key] = value
    if key in SAVED:
        save(key)


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


# ---- values that survive a reload ------------------------------------------------------------

def _draft_path(key: str):
    return store().root / ".drafts" / f"{key}.json"  # the store lists only run-id folders


def _saved(key: str):
    """The value saved on this server for a SAVED key, or its default."""
    try:
        text = _draft_path(key).read_text()
        value = json.loads(text)
    except (OSError, ValueError):
        return copy.deepcopy(DEFAULTS[key])
    st.session_state[_written(key)] = text
    return value


def _written(key: str) -> str:
    return f"_{key}_on_disk"


def save(key: str) -> None:
    """Write a SAVED key's session value to disk if it differs from what this session last wrote
    (called on every rerun by the page that owns the value, so it must be cheap when unchanged)."""
    try:
        text = json.dumps(st.session_state.get(key), sort_keys=True)
    except (TypeError, ValueError):
        return  # not JSON (a test may inject anything): it lives in this session only
    if st.session_state.get(_written(key)) == text:
        return
    path = _draft_path(key)
    try:
        path.parent.mkdir(exist_ok=True)
        atomic_write_text(path, text)
    except OSError:
        return  # a read-only store: the draft still lives for this session
    st.session_state[_written(key)] = text


# ---- widgets on pages that are not shown -----------------------------------------------------

def restore_widget(key: str, default) -> None:
    """Give a widget its last value before it is drawn: Streamlit drops a widget's value while
    another page is shown. Pair with keep_widget(key) after drawing it."""
    if key not in st.session_state:
        st.session_state[key] = get(KEPT).get(key, default)


def keep_widget(key: str) -> None:
    get(KEPT)[key] = st.session_state[key]


# ---- the compared runs: in the session and in the Runs page's URL ---------------------------

def compare_runs() -> list[str]:
    """The runs ticked for comparison. A reload keeps only the URL, so ?runs= wins when present."""
    param = st.query_params.get(RUNS_PARAM)
    if param is not None:
        st.session_state[COMPARE_RUNS] = [r for r in param.split(",") if r]
    return list(get(COMPARE_RUNS))


def set_compare_runs(run_ids: list[str]) -> None:
    """Tick these runs (call on the Runs page: it also writes its URL)."""
    st.session_state[COMPARE_RUNS] = list(run_ids)
    if run_ids:
        st.query_params[RUNS_PARAM] = ",".join(run_ids)
    else:
        st.query_params.pop(RUNS_PARAM, None)


def open_comparison(run_ids: list[str]) -> None:
    """Go to the Runs page comparing these runs, with them in its URL."""
    st.session_state[COMPARE_RUNS] = list(run_ids)
    st.switch_page(RUNS, query_params={RUNS_PARAM: ",".join(run_ids)} if run_ids else None)
