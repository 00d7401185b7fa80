"""The Data page's import: choose a source, see the plan (layout, classes, counts, skipped files),
then confirm with the name, size and colour. Nothing is decoded or written before Import.

Two forms, so that typing never imports: the source form only previews, and the confirm form has
Enter-to-submit off, so only its Import button imports.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import streamlit as st

from core import data
from core.data import layout
from ui.text import plain

PLAN = "data_import_plan"  # (ImportPlan, source, label) of the last preview
IMPORTED = "data_import_report"  # the last ImportReport, shown above the form
PICK_NEXT = "data_dataset_next"  # the page selects this dataset on its next run
UPLOAD, PATH = "data_import_zip", "data_import_path"
NAME, SIZE, COLOUR, SHARE, OVERWRITE = ("data_import_name", "data_import_size", "data_import_colour",
                                        "data_import_share", "data_import_overwrite")
CANCELLED = "data_import_cancelled"  # set by Cancel's callback, shown on the next run
COLOURS = ["Grayscale", "RGB"]


# ---- step 1: the source, previewed ------------------------------------------------------------

def source_form() -> None:
    with st.form("data_import_source", border=False):
        upload = st.file_uploader("A .zip of images", type="zip", key=UPLOAD,
                                  help="One sub-folder per class, or train/ and test/ folders of class sub-folders.")
        path = st.text_input("…or a folder (or .zip) on this machine", key=PATH,
                             placeholder="/home/me/pets  (holding cats/, dogs/, … or train/, test/)",
                             help="Best for large datasets: nothing goes through the browser.")
        previewed = st.form_submit_button("Preview", icon=":material/preview:")
    if previewed:
        _preview(upload, path.strip())


def _preview(upload, path: str) -> None:
    st.session_state.pop(PLAN, None)
    if bool(upload) == bool(path):
        st.error("Give either a .zip upload or a folder path (one of the two).")
        return
    source, label = (upload.getvalue(), upload.name) if upload else (path, path)
    try:
        with st.spinner("Reading the file list…"):
            plan = data.preview_import(source)
    except data.DatasetError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    st.session_state[PLAN] = (plan, source, label)
    _suggest(plan, label)


def _suggest(plan: data.ImportPlan, label: str) -> None:
    """Fresh defaults for the confirm form from this source (drawn below, so they can be set now)."""
    from core.data.importer import suggested_size

    stem = Path(label.rstrip("/")).stem or plan.wrapper
    if not st.session_state.get(NAME):
        st.session_state[NAME] = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")[:64]
    st.session_state[SIZE] = suggested_size(plan)
    st.session_state[COLOUR] = "RGB" if plan.colour else "Grayscale"
    st.session_state[OVERWRITE] = False


# ---- step 2: the plan, then Import --------------------------------------------------------------

def plan_view(plan: data.ImportPlan, label: str) -> None:
    where = f" inside {plain(plan.wrapper)}/" if plan.wrapper else ""
    st.markdown(f"**{plain(label)}**: {plan.layout}{where}, {len(plan.classes)} classes, "
                f"{len(plan.members):,} images.")
    if plan.image_size:
        w, h = plan.image_size
        st.caption(f"The sampled images are all {w}×{h}, {'colour' if plan.colour else 'grayscale'}.")
    counts = pd.DataFrame({"class": plan.classes, **{
        layout.column_name(split): list(per_class.values())
        for split, per_class in plan.counts.items()}})
    st.dataframe(counts, hide_index=True, width="content")
    for note in plan.notes:
        st.info(plain(note), icon=":material/info:")
    if plan.skipped:
        st.warning(f"{len(plan.skipped):,} file(s) will be skipped:")
        st.dataframe(pd.DataFrame(plan.skipped[:1000], columns=["file", "reason"]), hide_index=True)


def confirm_form() -> None:
    cancelled = st.session_state.pop(CANCELLED, False)
    held = st.session_state.get(PLAN)
    if held is None:  # no preview, or the import finished (a Cancel that came too late)
        return
    plan, source, label = held
    if cancelled:  # the plan is still here, so the import did not finish
        st.info("Import cancelled; nothing was written.", icon=":material/cancel:")
    plan_view(plan, label)
    if SIZE not in st.session_state:  # widget values vanish while another page is shown
        _suggest(plan, label)
    # no Enter-to-submit: only the Import button imports
    with st.form("data_import_form", enter_to_submit=False):
        c1, c2, c3, c4 = st.columns(4)
        name = c1.text_input("Dataset name", key=NAME, placeholder="pets",
                             help="Letters, digits, - and _. It becomes the dataset folder:<name>.")
        size = c2.number_input("Image size (pixels)", 4, 512, key=SIZE,
                               help="Every image is resized to size × size (default: the images' own size).")
        colour = c3.radio("Colour", COLOURS, horizontal=True, key=COLOUR)
        if plan.has_test_split:
            c4.caption("Test set: the dataset's own test split.")
            share = 0.2
        else:
            share = c4.slider("Test share", 0.05, 0.5, 0.2, 0.05, key=SHARE,
                              help="Part of each class held out as the test set.")
        overwrite = st.checkbox("Replace an existing dataset of that name", key=OVERWRITE)
        go = st.form_submit_button("Import", icon=":material/upload:", type="primary")
    if go:
        _import(source, name.strip(), int(size), colour == "Grayscale", float(share), overwrite)


def _cancelled() -> None:
    st.session_state[CANCELLED] = True


def _import(source, name: str, size: int, grayscale: bool, share: float, overwrite: bool) -> None:
    bar = st.progress(0.0, text="Reading images…")
    # Cancel reruns the page, which stops this script at its next Streamlit call: a progress
    # update while reading or just before writing. The dataset is written only after that, so
    # nothing is left half-written; the update after writing is skipped (it is the only one a
    # stop could hit once the dataset exists, and it would lose the report).
    st.button("Cancel", icon=":material/cancel:", key="data_import_cancel", on_click=_cancelled)

    def progress(fraction: float, message: str) -> None:
        if fraction < 1.0:
            bar.progress(fraction, text=message)

    try:
        report = data.import_image_folder(source, name, image_size=size, grayscale=grayscale, test_share=share,
                                          overwrite=overwrite, progress=progress)
    except data.DatasetError as exc:
        bar.empty()
        st.error(str(exc), icon=":material/error:")
        return
    for key in (PLAN, OVERWRITE):  # done with this source; replacing is asked again next time
        st.session_state.pop(key, None)
    st.session_state[IMPORTED] = report
    st.session_state[PICK_NEXT] = report.dataset
    st.rerun()


# ---- after an import ---------------------------------------------------------------------------

def import_report(chosen: str) -> None:
    report = st.session_state.get(IMPORTED)
    if report is None or report.dataset != chosen:
        return
    test = "its own test split" if report.plan and report.plan.has_test_split else "held out by the test share"
    st.success(f"Imported **{plain(report.dataset)}**: {len(report.classes)} classes, {report.train_count:,} train / "
               f"{report.test_count:,} test images ({test}). It is selected above and can be trained on from the "
               "Train page.")
    counts = pd.DataFrame({"class": list(report.per_class), "images": list(report.per_class.values()),
                           **{split: list(n.values()) for split, n in report.per_split.items()}})
    st.dataframe(counts, hide_index=True, width="content")
    if report.skipped:
        st.warning(f"Skipped {len(report.skipped)} file(s):")
        st.dataframe(pd.DataFrame(report.skipped, columns=["file", "reason"]), hide_index=True)
