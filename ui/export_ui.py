"""The Runs page's "take the model away" row: ONNX / TorchScript / .pth downloads, each built and
checked only when clicked, each with its "how to load this" snippet."""
from __future__ import annotations

import streamlit as st

from core import export
from core.runs import RunError

ICONS = {"onnx": ":material/deployed_code:", "torchscript": ":material/code:", "pth": ":material/save:"}
LABELS = {"onnx": "ONNX", "torchscript": "TorchScript", "pth": "State dict (.pth)"}
# Why the last click on an export failed, per (store, run, format, weights). The export runs in
# Streamlit's download handler, outside the script, and the browser only says "Failed to generate
# file for download"; the page shows the reason here on its next run. One dict per server process.
FAILURES: dict[tuple, str] = {}


def build(store, run_id: str, fmt: str, which: str) -> bytes:
    """The download's bytes; a failure is remembered for the page before it is raised."""
    key = (str(store.root), run_id, fmt, which)
    try:
        blob = export.export_bytes(store, run_id, fmt, which=which)
    except (export.ExportError, RunError, OSError) as exc:
        FAILURES[key] = str(exc)
        raise
    FAILURES.pop(key, None)
    return blob


def export_downloads(store, rec) -> None:
    try:
        meta = store.read_model(rec.run_id)
        cfg = store.read_config(rec.run_id)
    except RunError as exc:
        st.caption(f"No model export: {exc}")
        return
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    left.markdown("**Export the model** — checked against PyTorch on the test set when you click; ONNX takes a "
                  "few seconds")
    which = right.segmented_control("Export weights", ["best", "last"], default="best",
                                    key="runs_export_which") or "best"
    names = {fmt: export.file_name(rec.run_id, fmt, which) for fmt in export.FORMATS}
    for col, fmt in zip(st.columns(len(export.FORMATS)), export.FORMATS):
        problem = export.missing_packages(fmt) or (
            None if rec.has_weights(which) else f"this run has no {which} weights yet (no finished epoch)")
        # data=callable: the export (seconds for ONNX) runs only when this button is clicked
        col.download_button(LABELS[fmt], data=lambda f=fmt: build(store, rec.run_id, f, which),
                            file_name=names[fmt], mime="application/octet-stream", key=f"runs_export_{fmt}",
                            icon=ICONS[fmt], disabled=problem is not None, width="stretch",
                            help=problem or f"{export.TITLE[fmt]} file of the {which} weights")
        failed = FAILURES.get((str(store.root), rec.run_id, fmt, which))
        if failed:
            col.error(f"The last {LABELS[fmt]} export failed: {failed}")
    # full width below the buttons: a snippet squeezed into a third of the page would scroll sideways
    for fmt in export.FORMATS:
        with st.expander(f"How to load the {LABELS[fmt]} file"):
            st.code(export.snippet(fmt, meta, names[fmt], run_id=rec.run_id, which=which,
                                   custom_layers=cfg.custom_layers), language="python")
