"""Choosing a trained run, and the cached things pages read from it."""
from __future__ import annotations

import numpy as np
import streamlit as st

from core import checkpoints, data, trainer
from core.config import best_basis_note
from core import run_files as files
from core.runs import RunError, RunRecord
from core.tables import run_label
from ui import state


def trained_runs() -> list[RunRecord]:
    """Runs with saved weights (at least one completed epoch), newest first."""
    return [r for r in state.store().list() if not r.damaged and r.epochs_done > 0 and r.has_weights("best")]


def pick_run(*, key: str, needs_predictions: bool = False, where: str = "this page") -> RunRecord:
    """A run selector remembering the choice across pages; stops the page when there is none."""
    runs = trained_runs()
    if needs_predictions:
        runs = [r for r in runs if r.has_predictions("best")]
    if not runs:
        st.info(f"There is no trained run to show on {where} yet. Train one first — the preset "
                "“LeNet-5 on the MNIST sample” takes about ten seconds and works offline.")
        st.page_link(state.TRAIN, label="Go to Train", icon=":material/play_circle:")
        st.stop()
    ids = [r.run_id for r in runs]
    by_id = {r.run_id: r for r in runs}
    current = st.session_state.get(state.SELECTED_RUN)
    index = ids.index(current) if current in ids else 0
    chosen = st.selectbox("Run", ids, index=index, format_func=lambda i: run_label(by_id[i]), key=key)
    st.session_state[state.SELECTED_RUN] = chosen
    return by_id[chosen]


def pick_run_and_weights(prefix: str, *, where: str, needs_predictions: bool = False) -> tuple[RunRecord, str]:
    """The run selector and the best/last switch side by side, as every run page shows them."""
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    with left:
        rec = pick_run(key=f"{prefix}_run", needs_predictions=needs_predictions, where=where)
    with right:
        which = pick_checkpoint(f"{prefix}_weights", rec)
    if which == "best" and rec.config.best_on_test:
        st.caption(f":material/warning: {best_basis_note(rec.config)}")
    return rec, which


def pick_checkpoint(key: str, rec: RunRecord) -> str:
    basis = "the test set" if rec.config.best_on_test else "its validation share"
    which = st.segmented_control("Weights", ["best", "last"], default="best", key=key,
                                 help=f"best = the epoch with the highest accuracy on {basis}; last = the final "
                                      f"epoch. {best_basis_note(rec.config)}")
    return which or "best"


def mtime(rec: RunRecord, name: str) -> float:
    """When a run file last changed: the cache key that drops stale models and predictions."""
    try:
        return state.store().file(rec.run_id, name).stat().st_mtime
    except OSError:
        return 0.0


@st.cache_resource(show_spinner=False, max_entries=8)
def _model(root: str, run_id: str, which: str, mtime: float):
    model, meta = trainer.load_model(state.store(), run_id, which)
    return model, meta.to_dict()


def load_model(rec: RunRecord, which: str):
    """(model, model.json as a validated dict) for inference; a damaged run shows its reason and
    stops the page."""
    try:
        return _model(str(state.store().root), rec.run_id, which, mtime(rec, files.weights(which)))
    except (RunError, OSError) as exc:
        st.error(f"Run {rec.run_id} cannot be loaded: {exc}")
        st.stop()


def load_meta(rec: RunRecord) -> dict:
    """model.json of a run, validated; a damaged one shows its reason and stops the page."""
    try:
        return state.store().read_model(rec.run_id).to_dict()
    except RunError as exc:
        st.error(str(exc))
        st.stop()


@st.cache_data(show_spinner=False, max_entries=16)
def _predictions(root: str, run_id: str, which: str, mtime: float, split: str = "test") -> dict:
    return {k: v.numpy() for k, v in checkpoints.load_predictions(state.store(), run_id, which, split).items()}


def read_predictions(rec: RunRecord, which: str, split: str = "test") -> dict[str, np.ndarray]:
    """Saved predictions of the test set, or (split="val") of the validation share, as numpy arrays
    (cached by the file's mtime); RunError when the file is missing or damaged, for pages that
    must carry on without them."""
    try:
        return _predictions(str(state.store().root), rec.run_id, which, mtime(rec, files.predictions(which, split)),
                            split)
    except OSError as exc:
        raise RunError(f"{files.predictions(which, split)} cannot be read ({exc})") from None


def load_predictions(rec: RunRecord, which: str, split: str = "test") -> dict[str, np.ndarray]:
    """Saved predictions of the test set, or (split="val") of the validation share."""
    try:
        return read_predictions(rec, which, split)
    except RunError as exc:
        st.error(f"Predictions of run {rec.run_id} cannot be read: {exc}")
        st.stop()


def load_test_images(rec: RunRecord):
    """The run's test images (uint8 tensor [N,C,H,W]); stops with a link to Data when missing."""
    return load_test_split(rec).images


def load_test_split(rec: RunRecord):
    """The run's test split (images + labels, in prediction order); stops when it is missing."""
    return _dataset(rec, "test").test


def load_train_images(rec: RunRecord):
    """The dataset's whole training split (uint8 [N,C,H,W]: the data map and the validation share
    name images by their position in it); stops with a link to Data when missing."""
    return _dataset(rec, "training").train.images


def _dataset(rec: RunRecord, what: str):
    try:
        return data.load(rec.config.dataset)
    except data.DatasetError as exc:
        st.warning(f"The {what} images of dataset {rec.config.dataset} are not available here: {exc}")
        st.page_link(state.DATA, label="Go to Data", icon=":material/dataset:")
        st.stop()
