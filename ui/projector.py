"""The embedding projector: the test set's penultimate-layer features as a 2-D map.

PCA is computed as soon as the view opens, UMAP and t-SNE when asked; all in the job runner
(core/jobs.py), never on the page, and cached in the run folder (core/embedding.py). Box or lasso
points to see those images; press an image's number to explain it in the sample view.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import streamlit as st

from core import embedding
from core import run_files as files
from ui import evaluation, gallery, runpicker, sample_view, state
from ui.text import plain

METHODS = {"PCA": "pca", "UMAP": "umap", "t-SNE": "tsne"}
COST = {"pca": "seconds", "umap": "about a minute", "tsne": "about a minute"}
MAX_SHOWN = 10_000  # drawn points; larger test sets show a fixed random subset


@st.cache_resource(show_spinner=False, max_entries=8)  # read only; shared by reruns
def _cached(root: str, run_id: str, which: str, method: str, mtime: float, weights_mtime: float):
    return embedding.cached_embedding(state.store(), run_id, which, method)


@st.cache_resource(show_spinner=False, max_entries=8)
def _figure(root: str, run_id: str, which: str, method: str, mtime: float, color_by: str, mistakes_only: bool,
            classes: tuple, _coords, _preds):
    shown = _shown(len(_coords))
    return evaluation.embedding_figure(_coords[shown], _preds["labels"][shown], _preds["preds"][shown],
                                       _preds["probs"][shown], list(classes), color_by=color_by,
                                       mistakes_only=mistakes_only, index=shown)


def _shown(n: int) -> np.ndarray:
    if n <= MAX_SHOWN:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, MAX_SHOWN, replace=False))


def show(rec, which: str, meta: dict, images, preds: dict, on_open: Callable[[int], None]) -> None:
    top = st.columns([1.2, 1.2, 1, 1.5], vertical_alignment="bottom")
    title = top[0].segmented_control("Map", list(METHODS), default="PCA", key="evaluate_proj_method") or "PCA"
    method = METHODS[title]
    color_by = top[1].segmented_control("Colour by", ["true class", "predicted class"], default="true class",
                                        key="evaluate_proj_color") or "true class"
    mistakes_only = top[2].toggle("Mistakes only", key="evaluate_proj_wrong")
    mtime = runpicker.mtime(rec, files.embedding(which, method))
    found, note = _cached(str(state.store().root), rec.run_id, which, method, mtime,
                          runpicker.mtime(rec, files.weights(which)))
    if found is None:
        _missing(rec, which, method, title, note)
        return
    if len(found.coords) != len(preds["labels"]):
        st.warning(f"This map holds {len(found.coords):,} test images but the predictions {len(preds['labels']):,}: "
                   "the dataset changed since it was computed. Train the run again to map it.")
        return
    fig = _figure(str(state.store().root), rec.run_id, which, method, mtime, color_by.split()[0], mistakes_only,
                  tuple(meta["classes"]), found.coords, preds)
    event = st.plotly_chart(fig, key=f"evaluate_proj_{rec.run_id}_{which}_{method}", on_select="rerun",
                            selection_mode=("points", "box", "lasso"))
    spent = f"; the projection took {found.seconds:.1f} s" if np.isfinite(found.seconds) else ""
    more = (f" Showing a fixed random {MAX_SHOWN:,} of the {len(found.coords):,} test images."
            if len(found.coords) > MAX_SHOWN else "")
    st.caption(f"Each point is one test image placed by what the final layer receives ({title}{spent}). "
               "Dots are right, crosses wrong; nearby points look alike to the model. Click a legend entry "
               "to hide a class; drag a lasso or box (toolbar) around points to see their images below, "
               f"double-click to clear.{more}")
    picked = evaluation.points_from_selection(event.get("selection") if event else None)
    _selected(images, preds, meta["classes"], picked, on_open)


def _selected(images, preds, classes, picked: list[int], on_open) -> None:
    if not picked:
        st.info("Select points with the lasso or box to see those test images here.")
        return
    picked = np.asarray(picked)
    order = np.argsort(-preds["losses"][picked], kind="stable")
    wrong = int((preds["labels"][picked] != preds["preds"][picked]).sum())
    st.markdown(f"**{len(picked):,} selected** ({wrong:,} wrong), highest loss first. Press a number to "
                "explain that image.")

    def caption(i: int) -> str:
        true, pred = int(preds["labels"][i]), int(preds["preds"][i])
        color = "green" if true == pred else "red"
        return f"**{plain(classes[true])}** → :{color}[**{plain(classes[pred])}**]"

    gallery.tiles(images, picked[order], caption, key="evaluate_proj", columns=6, per_page=24, on_pick=on_open)


def _missing(rec, which: str, method: str, title: str, note: str) -> None:
    if note:
        st.caption(plain(note))
    job = state.runner().analysis(rec.run_id, which, method) if state.runner_exists() else None
    if job is not None and job.state in ("queued", "running"):
        st.markdown(f"Computing the **{title}** map in the background ({COST[method]} for 10,000 images; "
                    "you can leave this page and come back).")
        sample_view.progress(rec.run_id, which, method)
        return
    if job is not None and job.state == "failed":
        st.error(f"The {title} map could not be computed: {plain(job.message)}")
        _compute_button(rec, which, method, title, label="Try again")
        return
    if method == "pca":  # cheap: start it at once
        state.runner().submit_analysis(rec.run_id, which, method)
        st.rerun()
    st.markdown(f"The **{title}** map of this run's test set is not computed yet. It takes {COST[method]} for "
                "10,000 images, in the background (queued behind any training run), and is kept in the run "
                "folder.")
    _compute_button(rec, which, method, title)


def _compute_button(rec, which: str, method: str, title: str, label: str | None = None) -> None:
    if st.button(label or f"Compute the {title} map", icon=":material/scatter_plot:", type="primary",
                 key=f"evaluate_proj_compute_{method}"):
        state.runner().submit_analysis(rec.run_id, which, method)
        st.rerun()
