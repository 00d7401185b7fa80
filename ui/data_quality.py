"""Evaluate's two data-quality tabs: the label issues cleanlab finds in a run's out-of-sample
predictions, and the data map of how each training image was learned. Everything here is built
only when its tab is open and cached on the run file's modification time."""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import streamlit as st
import torch

from core import datamap, label_issues
from core import run_files as files
from core.runs import RunError
from ui import datamap_figures, evaluation, gallery, runpicker, state
from ui.images import to_pil

ISSUES, MAP = "evaluate_issues", "evaluate_map"      # widget key prefixes (galleries reset by run)
MAP_SELECTION = "evaluate_map_selection"             # (run id, rows) picked on the map with box/lasso
SELECTED = "selected on the map"
ORDER = {datamap.EASY: ("confidence", False), datamap.AMBIGUOUS: ("variability", False),
         datamap.HARD: ("confidence", True), SELECTED: ("confidence", True)}
KEYS = {datamap.EASY: "easy", datamap.AMBIGUOUS: "ambiguous", datamap.HARD: "hard", SELECTED: "selected"}
ORDER_TEXT = {datamap.EASY: "most confident first", datamap.AMBIGUOUS: "most variable first",
              datamap.HARD: "least confident first", SELECTED: "least confident first"}


# ---- label issues -----------------------------------------------------------------------------------

@st.cache_data(show_spinner=False, max_entries=16)
def _issues(root: str, run_id: str, which: str, split: str, mtime: float):
    return label_issues.for_run(state.store(), run_id, which, split)


def label_issues_tab(rec, which: str, meta: dict, test_images, preds: dict, detail: Callable) -> None:
    """A ranked gallery of images whose label is probably wrong; `detail(index)` explains a test image."""
    classes = meta["classes"]
    has_val = rec.config.val_split > 0 and state.store().file(rec.run_id, files.predictions(which, "val")).exists()
    split = st.segmented_control(
        "Images from", ["test", "val"], default="test", key=f"{ISSUES}_split",
        format_func=lambda s: label_issues.SPLIT_TITLES[s], disabled=not has_val,
        help=None if has_val else "This run holds out no validation share (or was trained before CNN Studio saved "
                                  "its predictions), so only the test set can be checked.") or "test"
    mtime = runpicker.mtime(rec, files.predictions(which, split))
    try:
        with st.spinner("cleanlab is looking for label issues…"):
            table = _issues(str(state.store().root), rec.run_id, which, split, mtime)
    except (RunError, label_issues.LabelIssueError) as exc:
        st.warning(f"Label issues cannot be shown: {exc}")
        return
    if split == "test":
        images, labels, probs = test_images, preds["labels"], preds["probs"]
        positions = np.arange(len(labels))
    else:
        val = runpicker.load_predictions(rec, which, split="val")
        images, labels, probs, positions = runpicker.load_train_images(rec), val["labels"], val["probs"], val["index"]
    where = label_issues.SPLIT_TITLES[split]
    flagged = int(table["flagged"].sum())
    st.markdown(f"**{len(table):,}** of {len(labels):,} images in the {where} have a given label the model disputes; "
                f"cleanlab's confident learning flags **{flagged:,}** of them as probably mislabeled (⚑).")
    st.caption(
        f"Out-of-sample probabilities — the {which} weights' predictions on the {where}, which the model never "
        "trained on — checked by cleanlab: `find_label_issues` (confident learning) flags the images whose label is "
        "confidently contradicted; with a very accurate model, or label smoothing, it may flag none. All are ranked by "
        "`get_label_quality_scores` (self-confidence: the probability the model gives the given label, “score”, lower "
        "= more suspicious); the suggested label is the model's most likely class. Some are truly mislabeled, others "
        "badly written or ambiguous: look at them. From a terminal: "
        f"`python -m core label-issues {rec.run_id} --top 20`.")
    if table.empty:
        st.success("The model agrees with every given label, and cleanlab flags none.")
        return
    names = [str(c) for c in classes]
    order = table["index"].to_numpy()
    score = dict(zip(order, table["score"]))
    mark = dict(zip(order, np.where(table["flagged"], " ⚑", "")))
    suggested = dict(zip(order, table["suggested"]))
    kind = "test image" if split == "test" else "training image"

    def caption(i: int) -> str:
        return (f"given **{names[int(labels[_row(positions, i)])]}** → :orange[**{names[suggested[i]]}**] · "
                f"score {score[i]:.3f}{mark[i]}")

    left, right = st.columns([3, 2])
    with left:
        chosen = gallery.tiles(images, order, caption, key=f"{ISSUES}_{split}", noun=kind)
    with right, st.container(border=True):
        if chosen is None:
            st.caption(f"Press the number under an image to see the {kind} and what the model says about it.")
        elif split == "test":
            detail(chosen)
        else:
            row = _row(positions, chosen)
            st.markdown(f"**Training image #{chosen}** (validation share) — given **{names[int(labels[row])]}**, "
                        f"suggested **{names[suggested[chosen]]}**")
            st.image(to_pil(images[chosen], 4), width=160, output_format="PNG")
            figure = evaluation.probability_figure(probs[row], classes, int(labels[row]), top=min(10, len(classes)))
            st.plotly_chart(figure, key=f"{ISSUES}_val_probs", config={"displayModeBar": False})


def _row(positions: np.ndarray, index: int) -> int:
    """The row of a predictions file that holds the image at dataset position `index`."""
    if len(positions) and positions[-1] == len(positions) - 1:  # the test set: row == position
        return int(index)
    return int(np.searchsorted(positions, index))  # validation positions are sorted


# ---- data map ----------------------------------------------------------------------------------------

@st.cache_data(show_spinner=False, max_entries=8)
def _data_map(root: str, run_id: str, mtime: float):
    dm = state.store().read_data_map(run_id)
    return dm, datamap.summarize(dm)


@st.cache_resource(show_spinner=False, max_entries=8)
def _map_figure(root: str, run_id: str, mtime: float, classes: tuple, _table):
    return datamap_figures.data_map_figure(_table, classes)  # shared, read-only (see Evaluate's confusion figure)


def _on_select(chart_key: str, run_id: str) -> None:
    rows = evaluation.points_from_selection(st.session_state[chart_key]["selection"])
    st.session_state[MAP_SELECTION] = (run_id, rows)
    if rows:
        st.session_state[f"{MAP}_region"] = SELECTED


def data_map_tab(rec, which: str, meta: dict) -> None:
    """The data map of the run's training images, and a gallery of each region."""
    classes = meta["classes"]
    mtime = runpicker.mtime(rec, files.DATA_MAP)
    try:
        dm, table = _data_map(str(state.store().root), rec.run_id, mtime)
    except RunError as exc:
        st.info(f"No data map to show: {exc}. New runs record one unless “Record data map” is switched off "
                "on the Train page.")
        return
    st.caption(
        "Each point is one training image: how confident the model was in the image's label, on average over the "
        "epochs (up), and how much that confidence changed from epoch to epoch (right); its colour is how often "
        "the model was right (Swayamdipta et al. 2020, *Dataset Cartography*). Recorded during training from the "
        "training pass itself, so these are the probabilities of the model in train mode on the augmented image, "
        "just before each batch's update — not a separate evaluation.")
    if dm.epochs < 2:
        st.warning(f"This run has {dm.epochs} recorded epoch(s). Variability needs at least two: train for more "
                   "epochs to see the ambiguous region.")
    counts = table["region"].value_counts()
    cols = st.columns(3)
    for col, region, what in zip(cols, (datamap.EASY, datamap.AMBIGUOUS, datamap.HARD),
                                 ("learned at once, kept", "the model kept changing its mind",
                                  "never learned: often mislabeled or odd")):
        col.metric(region, f"{int(counts.get(region, 0)):,}", help=what)
    chart_key = f"{MAP}_chart_{rec.run_id}"
    st.plotly_chart(_map_figure(str(state.store().root), rec.run_id, mtime, tuple(classes), table), key=chart_key,
                    on_select=partial(_on_select, chart_key, rec.run_id), selection_mode=("box", "lasso"),
                    config={"displayModeBar": True, "modeBarButtonsToRemove": ["toImage"]})
    st.caption(f"{dm.epochs} epoch(s), {len(table):,} training images. Regions: ambiguous when the variability is "
               f"at least {datamap.AMBIGUOUS_VARIABILITY}, else easy-to-learn when the confidence is at least "
               f"{datamap.EASY_CONFIDENCE}, else hard-to-learn. Draw a lasso or box on the map to see those images.")
    _region_gallery(rec, which, meta, dm, table)


def _region_gallery(rec, which: str, meta: dict, dm, table) -> None:
    classes = meta["classes"]
    picked = st.session_state.get(MAP_SELECTION)
    picked_rows = picked[1] if picked and picked[0] == rec.run_id else []
    options = [datamap.HARD, datamap.AMBIGUOUS, datamap.EASY, SELECTED]
    c1, c2 = st.columns([3, 2])
    region = c1.segmented_control("Show", options, default=datamap.HARD, key=f"{MAP}_region",
                                  format_func=lambda r: f"{r} ({len(picked_rows):,})" if r == SELECTED else r)
    region = region or datamap.HARD
    label = c2.selectbox("Label", [None, *range(len(classes))], key=f"{MAP}_label",
                         format_func=lambda i: "all labels" if i is None else str(classes[i]))
    rows = table.iloc[picked_rows] if region == SELECTED else table[table["region"] == region]
    if label is not None:
        rows = rows[rows["label"] == label]
    sort, ascending = ORDER[region]
    rows = rows.sort_values(sort, ascending=ascending, kind="stable")
    st.caption(f"{ORDER_TEXT[region]}. Each tile: label · mean confidence ± variability · epochs right.")
    images = runpicker.load_train_images(rec)
    if len(table) and int(table["index"].max()) >= len(images):
        st.error("The training split of this dataset changed since the run was trained; its data map no longer "
                 "matches the images. Train the run again to map it.")
        return
    by_index = table.set_index("index")
    names = [str(c) for c in classes]

    def caption(i: int) -> str:
        r = by_index.loc[i]
        right = int(round(r["correctness"] * r["epochs"]))
        return (f"**{names[int(r['label'])]}** · {r['confidence']:.0%} ± {r['variability']:.0%} · "
                f"{right}/{int(r['epochs'])}")

    left, right = st.columns([3, 2])
    with left:
        chosen = gallery.tiles(images, rows["index"].to_numpy(), caption, key=f"{MAP}_{KEYS[region]}",
                               empty="No training images here." if region != SELECTED else
                               "Draw a box or lasso on the map above to pick images.", noun="training image")
    with right, st.container(border=True):
        if chosen is None:
            st.caption("Press the number under an image to see its confidence in every epoch.")
            return
        _map_detail(rec, which, meta, dm, table, images, chosen)


def _map_detail(rec, which, meta, dm, table, images, index: int) -> None:
    classes = meta["classes"]
    row = int(np.searchsorted(dm.index, index))
    label = int(dm.labels[row])
    r = table.iloc[row]
    st.markdown(f"**Training image #{index}** — label **{classes[label]}**, {r['region']}")
    st.image(to_pil(images[index], 4), width=160, output_format="PNG")
    st.plotly_chart(datamap_figures.epochs_figure(datamap.probabilities(dm)[:, row], dm.correct[:, row]),
                    key=f"{MAP}_epochs", config={"displayModeBar": False})
    model, _ = runpicker.load_model(rec, which)
    mean = torch.tensor(meta["mean"], dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(meta["std"], dtype=torch.float32).view(-1, 1, 1)
    with torch.no_grad():
        probs = model(((images[index].float() / 255 - mean) / std)[None]).softmax(1)[0].numpy()
    st.caption(f"What the {which} weights say about it now (eval mode, no augmentation):")
    st.plotly_chart(evaluation.probability_figure(probs, classes, label, top=min(5, len(classes))),
                    key=f"{MAP}_now", config={"displayModeBar": False})
