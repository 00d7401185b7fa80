"""Evaluate: how a trained run does on the test set — accuracy, per-class scores, the confusion
matrix (click a cell to see exactly those images), galleries of mistakes and successes, the
embedding projector, and the sample view that explains any one test image (ui/sample_view.py)."""
from __future__ import annotations

from functools import partial

import numpy as np
import streamlit as st

from core import metrics, tables
from core import run_files as files
from ui import data_quality, evaluation, gallery, projector, runpicker, sample_view, scores, state
from ui.images import to_pil
from ui.text import plain

TABS, CELL = "evaluate_tabs", "evaluate_cell"
TAB_WRONG, TAB_RIGHT, TAB_CELL = "Misclassified", "Correct", "Confusion cell"
TAB_PROJECTOR, TAB_SAMPLE = "Projector", "Sample"
TAB_ISSUES, TAB_MAP = "Label issues", "Data map (training)"
GALLERIES_OF = "evaluate_galleries_of"  # (run id, weights) the galleries' widget state belongs to
GALLERY_KEYS = ("evaluate_wrong_", "evaluate_right_", "evaluate_cell_", "evaluate_proj_", "evaluate_sample_",
                f"{data_quality.ISSUES}_", f"{data_quality.MAP}_")
ORDERS = {"highest loss first": ("loss", True), "most confident first": ("confidence", True),
          "least confident first": ("confidence", False)}

state.init()
st.title("Evaluate")


# ---- data --------------------------------------------------------------------------------------

@st.cache_data(show_spinner=False, max_entries=16)
def _analysis(root: str, run_id: str, which: str, mtime: float, classes: tuple, _preds: dict) -> dict:
    """Everything computed once per run and checkpoint (`_preds` is identified by the file mtime)."""
    y, p = _preds["labels"], _preds["preds"]
    cm = metrics.confusion_matrix(y, p, len(classes))
    report = metrics.per_class_report(y, p, classes)
    return {"cm": cm, "report": report, "averages": metrics.averages(report),
            "confused": metrics.most_confused(cm, classes, top=10),
            "loss": float(np.mean(_preds["losses"])) if len(y) else 0.0, "errors": int((y != p).sum())}


# ---- confusion matrix ----------------------------------------------------------------------------

def _on_cell(chart_key: str, run_id: str) -> None:
    cell = evaluation.cell_from_selection(st.session_state[chart_key]["selection"])
    if cell is not None:
        st.session_state[CELL] = (run_id, *cell)
        st.session_state[TABS] = TAB_CELL


@st.cache_resource(show_spinner=False, max_entries=16)
def _confusion_figure(root: str, run_id: str, which: str, mtime: float, normalized: bool, classes: tuple,
                      _cm) -> object:
    # Building the figure validates every property (30-40 ms a rerun) and a cache_data copy costs as
    # much to unpickle; cache_resource shares one figure, which st.plotly_chart only reads.
    return evaluation.confusion_figure(_cm, list(classes), normalized=normalized)


def _confusion(rec, which: str, result: dict, classes: list[str]) -> None:
    st.subheader("Confusion matrix")
    shown = st.segmented_control("Show", ["counts", "share of true class"], default="counts",
                                 key="evaluate_cm_mode")
    fig = _confusion_figure(str(state.store().root), rec.run_id, which, runpicker.mtime(rec, files.predictions(which)),
                            shown == "share of true class", tuple(classes), result["cm"])
    chart_key = f"evaluate_cm_{rec.run_id}"
    st.plotly_chart(fig, key=chart_key, on_select=partial(_on_cell, chart_key, rec.run_id),
                    selection_mode="points", config={"displayModeBar": False})
    st.caption("Rows are true classes, columns predictions. Click a cell to see exactly those test images "
               f"in the “{TAB_CELL}” tab below.")


def _tables(result: dict) -> None:
    st.subheader("Per class")
    report = result["report"]
    st.dataframe(report.assign(**{c: report[c] * 100 for c in ("precision", "recall", "f1")}), hide_index=True,
                 key="evaluate_report", column_config={
                     "class": "Class", "support": "Images", "correct": "Correct", "accuracy": None,
                     "precision": st.column_config.NumberColumn("Precision", format="%.1f%%"),
                     "recall": st.column_config.NumberColumn("Recall", format="%.1f%%"),
                     "f1": st.column_config.NumberColumn("F1", format="%.1f%%")})
    st.subheader("Most confused")
    if result["confused"].empty:
        st.caption("No mistakes at all.")
    else:
        confused = result["confused"]
        st.dataframe(confused.assign(share=confused["share"] * 100), hide_index=True, key="evaluate_confused",
                     column_config={"true": "True", "predicted": "Predicted as", "count": "Images",
                                    "share": st.column_config.NumberColumn("Share of true class", format="%.1f%%")})


# ---- one sample ----------------------------------------------------------------------------------

def _open_sample(run_id: str, index: int) -> None:
    """A tile or point was chosen: explain it in the Sample tab (a widget callback)."""
    state.select_sample(run_id, index)
    st.session_state[TABS] = TAB_SAMPLE


def _brief(rec, which, meta, images, preds, index: int, *, key: str) -> None:
    """A short look at one test image beside a gallery (label issues), and the way to its full explanation."""
    classes = meta["classes"]
    true, pred = int(preds["labels"][index]), int(preds["preds"][index])
    st.markdown(f"**Test image #{index}** — true **{plain(classes[true])}**, predicted **{plain(classes[pred])}** "
                f"({preds['probs'][index, pred]:.1%}), loss {preds['losses'][index]:.3f}")
    st.image(to_pil(images[index], 4), width=112, output_format="PNG")
    st.plotly_chart(evaluation.probability_figure(preds["probs"][index], classes, true, top=min(10, len(classes))),
                    key=f"{key}_probs", config={"displayModeBar": False})
    st.button("Explain this image fully", icon=":material/troubleshoot:", key=f"{key}_explain_fully",
              on_click=_open_sample, args=(rec.run_id, index),
              help="Attribution maps and the nearest training images, in the Sample tab")


def _sample_tab(rec, which, meta, images, preds) -> None:
    index = state.selected_sample(rec.run_id)
    if index is None or not 0 <= index < len(preds["labels"]):
        st.info("Press the number under any test image — in the galleries, a confusion cell or the projector — "
                "to explain it here. Or pick one by its index:")
        chosen = st.number_input("Test image", 0, len(preds["labels"]) - 1, None, step=1, key="evaluate_sample_pick",
                                 placeholder=f"0–{len(preds['labels']) - 1}")
        if chosen is None:
            return
        state.select_sample(rec.run_id, int(chosen))
        index = int(chosen)
    sample_view.show(rec, which, meta, images, preds, index, key="evaluate_sample")
    st.caption("This view's address links straight to this image (copy it from the browser's address bar).")


# ---- galleries -------------------------------------------------------------------------------------

def _class_filter(label: str, classes: list[str], key: str) -> int | None:
    return st.selectbox(label, [None, *range(len(classes))], key=key,
                        format_func=lambda i: "all classes" if i is None else classes[i])


def _gallery_tab(rec, which, meta, images, preds, *, kind: str) -> None:
    classes, key = meta["classes"], f"evaluate_{kind}"
    if kind == "cell":
        cell = st.session_state.get(CELL)
        if not cell or cell[0] != rec.run_id or max(cell[1:]) >= len(classes):
            st.info("Click a cell of the confusion matrix above to see exactly the test images in it.")
            return
        true, pred = cell[1:]
        indices = metrics.select_cell(preds["labels"], preds["preds"], true, pred)
        st.markdown(f"True **{classes[true]}**, predicted **{classes[pred]}**: {len(indices):,} images, "
                    "highest loss first.")
        order = np.argsort(-preds["losses"][indices], kind="stable")
        indices = indices[order]
    else:
        cols = st.columns(3)
        pred = None
        with cols[0]:
            true = _class_filter("True class" if kind == "wrong" else "Class", classes, f"{key}_true")
        if kind == "wrong":
            with cols[1]:
                pred = _class_filter("Predicted class", classes, f"{key}_pred")
        default = "highest loss first" if kind == "wrong" else "least confident first"
        order = cols[2].selectbox("Order", list(ORDERS), index=list(ORDERS).index(default), key=f"{key}_order")
        sort, descending = ORDERS[order]
        indices = metrics.gallery(preds["labels"], preds["preds"], preds["probs"], preds["losses"],
                                  correct=kind == "right", true_class=true, pred_class=pred, sort=sort,
                                  descending=descending)
    st.caption("Each tile: true class → predicted class · the probability given to the prediction. "
               f"Press a tile's number to explain it in the “{TAB_SAMPLE}” tab.")
    gallery.tiles(images, indices, lambda i: _caption(preds, classes, i), key=key, columns=6,
                  empty="No test images match these filters.", on_pick=lambda i: _open_sample(rec.run_id, i))


def _caption(preds, classes, i: int) -> str:
    true, pred = int(preds["labels"][i]), int(preds["preds"][i])
    color = "green" if true == pred else "red"
    return f"**{classes[true]}** → :{color}[**{classes[pred]}**] · {preds['probs'][i, pred]:.0%}"


def _start_galleries_afresh_for(run_id: str, which: str) -> None:
    """Gallery filters, page numbers and the inspected tile belong to one run's predictions: another
    run may have other classes, and tile #17 would be another image."""
    shown = (run_id, which)
    if st.session_state.get(GALLERIES_OF) not in (None, shown):
        for k in [k for k in st.session_state if k.startswith(GALLERY_KEYS)]:
            del st.session_state[k]
    st.session_state[GALLERIES_OF] = shown
    if state.selected_sample(run_id) is None:
        state.clear_sample_url()  # the URL must not name an image of another run


# ---- page ----------------------------------------------------------------------------------------

state.sample_from_url()  # a deep link (?sample=RUN:INDEX) picks its run before the run picker draws
rec, which = runpicker.pick_run_and_weights("evaluate", where="the Evaluate page", needs_predictions=True)
_start_galleries_afresh_for(rec.run_id, which)
preds = runpicker.load_predictions(rec, which)
meta = runpicker.load_meta(rec)
classes = meta["classes"]
try:
    metrics.check_predictions(preds, classes)
except metrics.MetricsError as exc:
    st.error(f"The stored test predictions of run {rec.run_id} ({which} weights) do not fit the run: {exc}. The file "
             f"{files.predictions(which)} is damaged; train the run again to evaluate it.")
    st.stop()
images = runpicker.load_test_images(rec)
if len(images) != len(preds["labels"]):
    st.error(f"The test split of {plain(rec.config.dataset)} now has {len(images):,} images but this run was evaluated "
             f"on {len(preds['labels']):,}; the dataset changed since training, so images and predictions no "
             "longer match. Train the run again to evaluate it.")
    st.stop()
result = _analysis(str(state.store().root), rec.run_id, which, runpicker.mtime(rec, files.predictions(which)), tuple(classes), preds)

tiles = st.columns(4)
reported = tables.reported(rec.status.preset)
tiles[0].metric("Test accuracy", f"{result['averages']['accuracy']:.2%}",
                help=f"The tutorial this preset reproduces reported {reported}." if reported else None)
tiles[1].metric("Mean test loss", f"{result['loss']:.4f}")
tiles[2].metric("Macro F1", f"{result['averages']['macro avg']['f1']:.2%}")
tiles[3].metric("Misclassified", f"{result['errors']:,} of {len(preds['labels']):,}")
if reported:
    st.caption(f":material/school: Tutorial reproduced by this run's preset reported **{reported}**; this run: "
               f"**{result['averages']['accuracy']:.2%}** test accuracy ({which} weights).")

left, right = st.columns([3, 2])
with left:
    _confusion(rec, which, result, classes)
with right:
    _tables(result)
per_class = st.expander("Precision, recall and F1 per class (chart)", key="evaluate_per_class_open",
                        on_change="rerun")
if per_class.open:  # built only when opened, like the galleries below
    with per_class:
        st.plotly_chart(evaluation.per_class_figure(result["report"]), key="evaluate_per_class")
scores.section(rec, which, runpicker.mtime(rec, files.predictions(which)), preds, classes)

if state.selected_sample(rec.run_id) is not None and TABS not in st.session_state:
    st.session_state[TABS] = TAB_SAMPLE  # arrived by a link to one image
tabs = st.tabs([TAB_WRONG, TAB_RIGHT, TAB_CELL, TAB_ISSUES, TAB_MAP, TAB_PROJECTOR, TAB_SAMPLE], key=TABS,
               on_change="rerun")
for tab, kind in zip(tabs, ("wrong", "right", "cell", "issues", "map", "projector", "sample")):
    if not tab.open:  # only the open tab is built
        continue
    with tab:
        if kind == "issues":
            data_quality.label_issues_tab(rec, which, meta, images, preds,
                                          partial(_brief, rec, which, meta, images, preds, key="evaluate_issues"))
        elif kind == "map":
            data_quality.data_map_tab(rec, which, meta)
        elif kind == "projector":
            projector.show(rec, which, meta, images, preds, on_open=lambda i: _open_sample(rec.run_id, i))
        elif kind == "sample":
            _sample_tab(rec, which, meta, images, preds)
        else:
            _gallery_tab(rec, which, meta, images, preds, kind=kind)
