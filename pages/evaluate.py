"""Evaluate: how a trained run does on the test set — accuracy, per-class scores, the confusion
matrix (click a cell to see exactly those images) and galleries of mistakes and successes, each
image explained by its probabilities, a saliency map and Grad-CAM."""
from __future__ import annotations

from functools import partial

import numpy as np
import streamlit as st
import torch

from core import metrics, models, tables
from core import run_files as files
from core.inspect import InspectError, grad_cam, saliency
from ui import data_quality, evaluation, gallery, runpicker, scores, state
from ui.images import to_pil
from ui.text import plain

TABS, CELL = "evaluate_tabs", "evaluate_cell"
TAB_WRONG, TAB_RIGHT, TAB_CELL = "Misclassified", "Correct", "Confusion cell"
TAB_ISSUES, TAB_MAP = "Label issues", "Data map (training)"
GALLERIES_OF = "evaluate_galleries_of"  # (run id, weights) the galleries' widget state belongs to
GALLERY_KEYS = ("evaluate_wrong_", "evaluate_right_", "evaluate_cell_", f"{data_quality.ISSUES}_",
                f"{data_quality.MAP}_")
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

def _explain(rec, which: str, meta: dict, image: torch.Tensor, target: int) -> None:
    model, _ = runpicker.load_model(rec, which)
    mean = torch.tensor(meta["mean"], dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(meta["std"], dtype=torch.float32).view(-1, 1, 1)
    x = (image.float() / 255 - mean) / std
    maps = {}
    try:
        maps["Saliency"] = saliency(model, x, target)
        convs = models.conv_layers(model)
        if convs:
            maps[f"Grad-CAM ({convs[-1][0]})"] = grad_cam(model, convs[-1][0], x, target)
    except InspectError as exc:
        st.warning(f"This model cannot be explained: {exc}")
    cols = st.columns(1 + len(maps))
    cols[0].image(to_pil(image, 4), caption="image", width="stretch", output_format="PNG")
    for col, (title, heat) in zip(cols[1:], maps.items()):
        overlay = evaluation.heat_overlay(image.numpy(), heat).transpose(2, 0, 1)
        col.image(to_pil(overlay, 4), caption=title, width="stretch", output_format="PNG")


def _detail(rec, which, meta, images, preds, idx: int | None, key: str) -> None:
    if idx is None:
        st.caption("Press the number under an image to see its probabilities, saliency map and Grad-CAM.")
        return
    classes = meta["classes"]
    true, pred = int(preds["labels"][idx]), int(preds["preds"][idx])
    st.markdown(f"**Test image #{idx}** — true **{classes[true]}**, predicted **{classes[pred]}** "
                f"({preds['probs'][idx, pred]:.1%}), loss {preds['losses'][idx]:.3f}")
    explain = st.segmented_control("Explain the score of", ["prediction", "true class"], default="prediction",
                                   key=f"{key}_explain", disabled=true == pred)
    _explain(rec, which, meta, images[idx], true if explain == "true class" else pred)
    st.plotly_chart(evaluation.probability_figure(preds["probs"][idx], classes, true, top=min(10, len(classes))),
                    key=f"{key}_probs", config={"displayModeBar": False})


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
               "Press a tile's number to inspect it.")
    left, right = st.columns([3, 2])
    with left:
        chosen = gallery.tiles(images, indices, lambda i: _caption(preds, classes, i), key=key,
                               empty="No test images match these filters.")
    with right, st.container(border=True):
        _detail(rec, which, meta, images, preds, chosen, key)


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


# ---- page ----------------------------------------------------------------------------------------

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

tabs = st.tabs([TAB_WRONG, TAB_RIGHT, TAB_CELL, TAB_ISSUES, TAB_MAP], key=TABS, on_change="rerun")
for tab, kind in zip(tabs, ("wrong", "right", "cell", "issues", "map")):
    if tab.open:  # only the open tab's gallery is built
        with tab:
            if kind == "issues":
                data_quality.label_issues_tab(rec, which, meta, images, preds,
                                              partial(_detail, rec, which, meta, images, preds, key="evaluate_issues"))
            elif kind == "map":
                data_quality.data_map_tab(rec, which, meta)
            else:
                _gallery_tab(rec, which, meta, images, preds, kind=kind)
