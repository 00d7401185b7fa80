"""Run against run, sample by sample (the Runs comparison): pick A and B among the compared runs
and their best or last weights, see which test images each gets right (a clickable 2×2 agreement
matrix whose cells open their images) and how each class's accuracy changed.

Reads only the stored predictions files (never runs a model). The comparison of two prediction
sets is cached by both files' signatures, so a rerun costs a lookup.
"""
from __future__ import annotations

import hashlib
from functools import partial

import numpy as np
import streamlit as st

from core import compare, data, metrics
from core import run_files as files
from core.runs import RunError
from ui import compare as compare_figs
from ui import evaluation, gallery, runpicker, state
from ui.images import to_pil
from ui.text import plain

KEY = "runs_versus"
CELL = f"{KEY}_cell"            # the agreement cell whose images are shown (segmented control)
ORDERS = {"largest change in the true class's probability": "change",
          "A most confident first": "conf_a", "B most confident first": "conf_b", "test set order": None}


# ---- choosing A and B -----------------------------------------------------------------------------

def _side(column, side: str, records, labels, default: int):
    ids = [r.run_id for r in records]
    names = dict(zip(ids, labels))
    key = f"{KEY}_{side}"
    if key in st.session_state and st.session_state[key] not in ids:
        del st.session_state[key]  # its run left the comparison
    # the default goes in as `index`: a value put into session state first reached the browser's
    # selectbox as option 0, and the next rerun (a click on the matrix) sent that back
    index = ids.index(st.session_state[key]) if key in st.session_state else default
    with column:
        inner = st.columns([3, 2], vertical_alignment="bottom")
        run_id = inner[0].selectbox(f"Run {side}", ids, index=index, format_func=names.get, key=key)
        which = inner[1].segmented_control("Weights", ["best", "last"], default="best", key=f"{KEY}_{side}_weights")
    i = ids.index(run_id)
    return records[i], labels[i], which or "best"


def _signature(rec, which: str) -> tuple:
    """Identifies one predictions file's content: the cache key of everything computed from it."""
    try:
        st_ = state.store().file(rec.run_id, files.predictions(which)).stat()
        return st_.st_mtime_ns, st_.st_size
    except OSError:
        return 0, 0


def _classes(rec) -> list[str]:
    try:
        return list(state.store().read_model(rec.run_id).classes)
    except RunError as exc:
        raise compare.VersusError(f"run {rec.run_id} has no readable model.json ({exc})") from None


def _predictions(rec, label: str, which: str, classes) -> dict:
    if not rec.has_predictions(which):
        raise compare.VersusError(f"{label} has no stored test predictions for its {which} weights yet "
                                  "(no finished epoch, or the file was removed).")
    try:
        preds = runpicker.read_predictions(rec, which)
    except RunError as exc:
        raise compare.VersusError(f"the predictions of {label} cannot be read: {exc}") from None
    try:
        metrics.check_predictions(preds, classes)
    except metrics.MetricsError as exc:
        raise compare.VersusError(f"the predictions of {label} do not fit the run: {exc}; its folder is "
                                  "damaged.") from None
    return preds


@st.cache_data(show_spinner=False, max_entries=8)
def _versus(sig_a: tuple, sig_b: tuple, classes: tuple, _a: dict, _b: dict) -> dict:
    """Agreement cells, counts, per-class changes and gallery orders; the arrays are identified
    by their files' signatures (store, run id, weights, mtime, size)."""
    y = _a["labels"]
    result = compare.agreement(y, _a["preds"], _b["preds"])
    rows = np.arange(len(y))
    p_true_a, p_true_b = _a["probs"][rows, y], _b["probs"][rows, y]
    result["order"] = {"change": np.abs(p_true_a - p_true_b), "conf_a": _a["probs"].max(axis=1),
                       "conf_b": _b["probs"].max(axis=1)}
    result["deltas"] = compare.class_deltas(y, _a["preds"], _b["preds"], classes)
    return result


# ---- the section --------------------------------------------------------------------------------

def section(records, labels) -> None:
    """The sample-by-sample comparison of two of `records` (the compared runs, `labels` their names)."""
    st.markdown("**Sample by sample** — which test images does each run get right?")
    left, right = st.columns(2)
    # A is the older run at first: "what did the newer experiment fix, and what did it break?"
    by_age = sorted(range(len(records)), key=lambda i: records[i].status.created_at if records[i].status else 0)
    rec_a, label_a, which_a = _side(left, "A", records, labels, by_age[0])
    rec_b, label_b, which_b = _side(right, "B", records, labels, by_age[1])
    if rec_a.run_id == rec_b.run_id and which_a == which_b:
        st.info("A and B are the same predictions. Pick another run, or the other weights of this one.")
        return
    label_a, label_b = (f"{label_a} ({which_a})", f"{label_b} ({which_b})") if label_a == label_b else (label_a, label_b)
    try:
        classes = _classes(rec_a)
        classes_b = _classes(rec_b)
        a = _predictions(rec_a, f"A ({plain(label_a)})", which_a, classes)
        b = _predictions(rec_b, f"B ({plain(label_b)})", which_b, classes_b)
        compare.check_comparable(a, b, dataset_a=rec_a.config.dataset, dataset_b=rec_b.config.dataset,
                                 classes_a=classes, classes_b=classes_b)
    except compare.VersusError as exc:
        st.warning(f"These two runs cannot be compared image by image: {exc}", icon=":material/compare_arrows:")
        return
    root = str(state.store().root)
    sig_a = (root, rec_a.run_id, which_a, *_signature(rec_a, which_a))
    sig_b = (root, rec_b.run_id, which_b, *_signature(rec_b, which_b))
    result = _versus(sig_a, sig_b, tuple(classes), a, b)
    _agreement(result, label_a, label_b, len(a["labels"]))
    _deltas(result["deltas"])
    if any(r.state in compare.ACTIVE for r in records) and not st.toggle(
            "Show the images", key=f"{KEY}_images_live",
            help="While a compared run trains this section is redrawn every few seconds, and sending 24 images "
                 "each time takes CPU time the training needs."):
        st.caption("The images of each cell are hidden while a compared run is queued or training.")
        return
    _cell_gallery(rec_a, result, a, b, classes, label_a, label_b, pair=hashlib.md5(repr((sig_a, sig_b)).encode()).hexdigest()[:8])


def _agreement(result: dict, label_a: str, label_b: str, total: int) -> None:
    counts = result["counts"]
    left, right = st.columns([3, 2])
    chart_key = f"{KEY}_matrix"
    left.plotly_chart(compare_figs.agreement_figure(counts, label_a, label_b), key=chart_key,
                      on_select=partial(_on_cell, chart_key), selection_mode="points",
                      config={"displayModeBar": False})
    acc_a = (counts["both right"] + counts["only A right"]) / max(total, 1)
    acc_b = (counts["both right"] + counts["only B right"]) / max(total, 1)
    net = counts["only B right"] - counts["only A right"]
    with right:
        st.metric("Test accuracy A → B", f"{acc_b:.2%}", f"{(acc_b - acc_a) * 100:+.2f} points from {acc_a:.2%}")
        st.markdown(f"B fixed **{counts['only B right']:,}** images A got wrong and broke **{counts['only A right']:,}** "
                    f"that A got right (net {net:+,}). Both runs miss **{counts['both wrong']:,}**, "
                    f"{result['same_wrong']:,} of them with the same wrong answer.")
        st.caption("Click a cell (or pick it below) to see its images.")


def _on_cell(chart_key: str) -> None:
    cell = compare_figs.agreement_cell_from_selection(st.session_state[chart_key]["selection"])
    if cell in compare.AGREEMENT:
        st.session_state[CELL] = cell


def _deltas(deltas) -> None:
    with st.expander("Per-class accuracy change, B minus A", expanded=True):
        chart, table = st.columns(2)
        chart.plotly_chart(compare_figs.class_delta_figure(deltas), key=f"{KEY}_deltas_chart",
                           config={"displayModeBar": False})
        shown = deltas.assign(**{c: deltas[c] * 100 for c in ("accuracy A", "accuracy B", "change")})
        table.dataframe(shown, hide_index=True, key=f"{KEY}_deltas", column_config={
            "class": "Class", "support": "Images",
            "accuracy A": st.column_config.NumberColumn("A", format="%.2f%%", help="accuracy of A on this class"),
            "accuracy B": st.column_config.NumberColumn("B", format="%.2f%%", help="accuracy of B on this class"),
            "change": st.column_config.NumberColumn("Change", format="%+.2f", help="B minus A, percentage points"),
            "fixed by B": st.column_config.NumberColumn("Fixed", help="images of this class only B gets right"),
            "broken by B": st.column_config.NumberColumn("Broken", help="images of this class only A gets right")})


def _cell_gallery(rec_a, result, a, b, classes, label_a: str, label_b: str, pair: str) -> None:
    counts = result["counts"]
    if st.session_state.get(CELL) not in compare.AGREEMENT:
        st.session_state[CELL] = "only A right" if counts["only A right"] else "only B right"
    cell = st.segmented_control("Images", list(compare.AGREEMENT), key=CELL, required=True,
                                format_func=lambda c: f"{c} ({counts[c]:,})")
    cols = st.columns(2)
    true = cols[0].selectbox("True class", [None, *range(len(classes))], key=f"{KEY}_class",
                             format_func=lambda i: "all classes" if i is None else classes[i])
    order = cols[1].selectbox("Order", list(ORDERS), key=f"{KEY}_order")
    key_name = ORDERS[order]
    indices = compare.agreement_indices(result["cell"], cell, result["order"][key_name] if key_name else None,
                                        true_class=true, labels=a["labels"])
    try:
        images = data.load(rec_a.config.dataset).test.images
    except data.DatasetError as exc:
        st.info(f"{len(indices):,} images in this cell. Their pictures are not shown: the test images of "
                f"{plain(rec_a.config.dataset)} are not available here ({exc}).")
        return
    if len(images) != len(a["labels"]):
        st.warning(f"The test split of {plain(rec_a.config.dataset)} now has {len(images):,} images but the runs were "
                   f"tested on {len(a['labels']):,}: the dataset changed since, so the pictures would not match.")
        return
    st.caption(f"Each tile: the true class, then A's and B's prediction with its probability (red = wrong). "
               f"A = {plain(label_a)}, B = {plain(label_b)}.")
    key = f"{KEY}_{pair}_{compare.AGREEMENT.index(cell)}"
    left, right = st.columns([3, 2])
    with left:
        chosen = gallery.tiles(images, indices, partial(_caption, a, b, classes), key=key,
                               empty="No test images in this cell" + (" of this class." if true is not None else "."))
    with right, st.container(border=True):
        _detail(images, a, b, classes, chosen, key)


def _caption(a: dict, b: dict, classes, i: int) -> str:
    true = int(a["labels"][i])

    def said(preds: dict, side: str) -> str:
        p = int(preds["preds"][i])
        color = "green" if p == true else "red"
        return f"{side} :{color}[**{classes[p]}**] {preds['probs'][i, p]:.0%}"

    return f"true **{classes[true]}**  \n{said(a, 'A')}  \n{said(b, 'B')}"


def _detail(images, a: dict, b: dict, classes, idx: int | None, key: str) -> None:
    if idx is None:
        st.caption("Press the number under an image to see both runs' probabilities for it.")
        return
    true = int(a["labels"][idx])
    picture, title = st.columns([1, 3], vertical_alignment="center")
    picture.image(to_pil(images[idx], 4), width="stretch", output_format="PNG")
    title.markdown(f"**Test image #{idx}** — true class **{classes[true]}**")
    top = min(5, len(classes))
    for side, preds in (("A", a), ("B", b)):
        pred = int(preds["preds"][idx])
        st.caption(f"{side}: predicted **{classes[pred]}** ({preds['probs'][idx, pred]:.1%}), "
                   f"loss {preds['losses'][idx]:.3f}")
        st.plotly_chart(evaluation.probability_figure(preds["probs"][idx], classes, true, top=top),
                        key=f"{key}_probs_{side}", config={"displayModeBar": False})
