"""The Evaluate page's "curves, calibration and top-k" section: one-vs-rest precision-recall and
ROC curves with average precision and AUC, a reliability diagram with the expected calibration
error, and top-k accuracy, all from the stored probabilities (core.metrics, with scikit-learn).

Nothing is computed until the expander is opened, and then only for the open tab; each result is
cached by the predictions file's mtime, so the page's own render time does not change.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core import metrics
from ui import score_figures

KEY = "evaluate_scores"
TAB_PR, TAB_ROC, TAB_CAL = "Precision–recall", "ROC", "Calibration"
DEFAULT_SHOWN = 10  # classes drawn at first; with more, the ones with the lowest average precision
BINS = (10, 15, 20, 30)


@st.cache_data(show_spinner=False, max_entries=8)
def _curves(run_id: str, which: str, mtime: float, classes: tuple, _preds: dict) -> dict:
    return metrics.one_vs_rest_curves(_preds["labels"], _preds["probs"], classes)


@st.cache_data(show_spinner=False, max_entries=8)
def _calibration(run_id: str, which: str, mtime: float, bins: int, _preds: dict) -> dict:
    return metrics.calibration(_preds["labels"], _preds["probs"], bins=bins)


@st.cache_data(show_spinner=False, max_entries=8)
def _top_k(run_id: str, which: str, mtime: float, _preds: dict) -> dict:
    return metrics.top_k_accuracy(_preds["labels"], _preds["probs"])


def section(rec, which: str, mtime: float, preds: dict, classes: list[str]) -> None:
    """The expander; `mtime` identifies `preds` (the predictions file's modification time)."""
    box = st.expander("Curves, calibration and top-k accuracy", key=f"{KEY}_open", on_change="rerun")
    if not box.open:
        return
    with box:
        ident = (rec.run_id, which, mtime)
        try:
            _draw(ident, preds, classes)
        except metrics.MetricsError as exc:
            st.warning(f"The stored probabilities of this run cannot be scored: {exc}. Its predictions file is "
                       "damaged or from another version; train the run again to score it.")


def _draw(ident: tuple, preds: dict, classes: list[str]) -> None:
    metrics.probabilities(preds["labels"], preds["probs"], classes)  # one clear message for a damaged file
    top = _top_k(*ident, preds)
    cols = st.columns(max(len(top), 1) + 1)
    for col, (k, value) in zip(cols, top.items()):
        col.metric(f"Top-{k} accuracy", f"{value:.2%}",
                   help="share of test images whose true class is the most probable one" if k == 1 else
                   f"share of test images whose true class is among the {k} most probable")
    if len(top) < 3:
        cols[-1].caption(f"With {len(classes)} classes, top-k is shown for k smaller than the number of classes.")
    tabs = st.tabs([TAB_PR, TAB_ROC, TAB_CAL], key=f"{KEY}_tabs", on_change="rerun")
    for tab, name in zip(tabs, (TAB_PR, TAB_ROC, TAB_CAL)):
        if tab.open:
            with tab:
                if name == TAB_CAL:
                    _calibration_tab(ident, preds)
                else:
                    _curve_tab(ident, preds, classes, name)


def _curve_tab(ident: tuple, preds: dict, classes: list[str], name: str) -> None:
    curves = _curves(*ident, tuple(classes), preds)
    table = curves["classes"]
    score = "average_precision" if name == TAB_PR else "roc_auc"
    shown = _pick_classes(table, classes, score, name)
    left, right = st.columns([3, 2])
    if name == TAB_PR:
        fig = score_figures.pr_figure(curves, classes, shown)
    else:
        log = st.toggle("Log scale for the false positive rate", key=f"{KEY}_roc_log",
                        help="a good model's curves all hug the top-left corner; a log scale spreads it out")
        fig = score_figures.roc_figure(curves, classes, shown, log_fpr=log)
    left.plotly_chart(fig, key=f"{KEY}_{score}_chart")
    with right:
        _score_table(table, score)
    if name == TAB_PR:
        st.caption("One class against all others: precision (of the images called this class, the share that are) "
                   "against recall (of this class's images, the share found) as the threshold on its probability "
                   "falls. Average precision (AP) summarises the curve; 1.0 is perfect, the class's share of the "
                   "test set is what guessing gets.")
    else:
        st.caption("One class against all others: the share of this class's images found against the share of "
                   "other images wrongly taken for it, as the threshold on its probability falls. AUC is the "
                   "chance that a random image of the class scores higher than a random other image; 0.5 is "
                   "guessing, 1.0 perfect.")


def _pick_classes(table: pd.DataFrame, classes: list[str], score: str, name: str) -> list[int]:
    key = f"{KEY}_classes"
    options = list(range(len(classes)))
    if key not in st.session_state or any(i not in options for i in st.session_state[key]):
        worst = table[score].fillna(-1).sort_values(kind="stable").index[:DEFAULT_SHOWN]
        st.session_state[key] = options if len(classes) <= DEFAULT_SHOWN else sorted(int(i) for i in worst)
    shown = st.multiselect("Classes to draw", options, key=key, format_func=lambda i: classes[i],
                           placeholder="pick classes to draw")
    if len(classes) > DEFAULT_SHOWN:
        st.caption(f"{len(classes)} classes: the {DEFAULT_SHOWN} with the lowest average precision are drawn at "
                   "first.")
    missing = [classes[i] for i in shown if pd.isna(table[score].iloc[i])]
    if missing:
        st.caption(f"No curve for {', '.join(missing)}: the test set has no images of it (or only those).")
    return shown


def _score_table(table: pd.DataFrame, score: str) -> None:
    title = "Average precision" if score == "average_precision" else "ROC AUC"
    st.dataframe(table[["class", "support", score]].sort_values(score, kind="stable"), hide_index=True,
                 key=f"{KEY}_{score}_table", column_config={
                     "class": "Class", "support": "Images",
                     score: st.column_config.NumberColumn(title, format="%.4f")})
    st.caption(f"Macro average {title.lower()}: **{table[score].mean():.4f}** (classes with a curve; lowest first "
               "in the table).")


def _calibration_tab(ident: tuple, preds: dict) -> None:
    bins = st.segmented_control("Bins", BINS, default=15, key=f"{KEY}_bins", required=True) or 15
    result = _calibration(*ident, int(bins), preds)
    left, right = st.columns([3, 1])
    left.plotly_chart(score_figures.reliability_figure(result), key=f"{KEY}_reliability")
    with right:
        st.metric("Expected calibration error", f"{result['ece']:.2%}",
                  help="the gap between confidence and accuracy, averaged over the bins weighted by their images")
        st.metric("Largest gap in a bin", f"{result['max_gap']:.2%}")
        st.caption("Of the images a model predicts with 80% confidence, about 80% should be right. The hatched "
                   "box runs from a bin's accuracy to its mean confidence: above the bar, the model was "
                   "over-confident there; inside it, under-confident. The lower chart counts the images in each "
                   "bin: a bin of a few images says little.")
