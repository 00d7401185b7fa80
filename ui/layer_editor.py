"""The custom layer-stack editor: an editable table of layers whose shapes update as you type.

The table <-> layer-list conversion and the check are pure functions (tests call them); only
`render` touches Streamlit.
"""
from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from core import models
from ui import state
from ui.model_figures import checks_table

COLUMNS = ["type", "out", "kernel_size", "stride", "padding", "p"]
INT_COLUMNS = ["out", "kernel_size", "stride", "padding"]
OUT_KEY = {"conv": "out_channels", "linear": "out_features"}  # the one "out" column means either

BASE = state.LAYER_BASE  # the stack the table starts from (changes only on reset / load)
VERSION = state.LAYER_VERSION  # bumped to give the table a fresh key, dropping its edits
KEPT = state.LAYER_STACK  # the stack as last edited: outlives the table's widget state and a reload
ROW_PX = 35


def default_stack(num_classes: int = 10) -> list[dict]:
    """LeNet-like: two 5×5 convs with pooling, then three dense layers."""
    return [
        {"type": "conv", "out_channels": 6, "kernel_size": 5, "padding": 2},
        {"type": "relu"},
        {"type": "maxpool", "kernel_size": 2},
        {"type": "conv", "out_channels": 16, "kernel_size": 5},
        {"type": "relu"},
        {"type": "maxpool", "kernel_size": 2},
        {"type": "flatten"},
        {"type": "linear", "out_features": 120},
        {"type": "relu"},
        {"type": "linear", "out_features": 84},
        {"type": "relu"},
        {"type": "linear", "out_features": num_classes},
    ]


def to_frame(layers: list[dict]) -> pd.DataFrame:
    rows = []
    for layer in layers:
        row = {c: layer.get(c) for c in COLUMNS}
        row["out"] = layer.get("out_channels", layer.get("out_features"))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame[INT_COLUMNS] = frame[INT_COLUMNS].astype("Int64")  # whole numbers that may be blank
    frame["p"] = frame["p"].astype("Float64")
    return frame


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or bool(pd.isna(value))


def _plain(value):
    # numpy/pandas scalars -> int/float so the stack goes into config.json as it is
    value = value.item() if hasattr(value, "item") else value
    return int(value) if isinstance(value, float) and math.isfinite(value) and value.is_integer() else value


def to_layers(frame: pd.DataFrame) -> list[dict]:
    """Rows as layer dicts. Blank cells are dropped; a filled cell a type doesn't take is kept so
    the check can say so."""
    layers = []
    for _, row in frame.iterrows():
        kind = None if _blank(row.get("type")) else str(row["type"])
        layer = {"type": kind}
        for col in COLUMNS[1:]:
            value = row.get(col)
            if not _blank(value):
                key = OUT_KEY.get(kind, "out_channels") if col == "out" else col
                layer[key] = _plain(value)
        layers.append(layer)
    return layers


def check(layers: list[dict], shape: tuple, num_classes: int) -> tuple[list, str | None]:
    """(checks of the layers that work, error message or None).

    On an error the stack's working prefix is still checked, so the page can show every shape
    up to the broken layer next to the message naming it.
    """
    try:
        return models.check_layers(layers, shape, num_classes), None
    except models.SpecError as exc:
        error = str(exc)
    for n in range(len(layers), 0, -1):
        try:
            return models.check_layers(layers[:n], shape, None), error
        except models.SpecError:
            continue
    return [], error


# ---- Streamlit ----------------------------------------------------------------------------

def reset(layers: list[dict]) -> None:
    st.session_state[BASE] = [dict(layer) for layer in layers]
    state.put(KEPT, st.session_state[BASE])
    st.session_state[VERSION] = state.get(VERSION) + 1


def _column_config() -> dict:
    whole = dict(step=1, format="%d")
    return {
        "type": st.column_config.SelectboxColumn("type", options=list(models.LAYER_TYPES), width="small",
                                                 help="Layer type"),
        "out": st.column_config.NumberColumn("out", min_value=1, **whole,
                                             help="conv: output channels · linear: output features"),
        "kernel_size": st.column_config.NumberColumn("kernel", min_value=1, **whole,
                                                     help="conv / pool kernel size (pool default 2, conv 3)"),
        "stride": st.column_config.NumberColumn("stride", min_value=1, **whole,
                                                help="conv default 1; pool default = kernel size"),
        "padding": st.column_config.NumberColumn("padding", min_value=0, **whole, help="conv only; default 0"),
        "p": st.column_config.NumberColumn("p", min_value=0.0, max_value=0.99, step=0.05, format="%.2f",
                                           help="dropout only: share of values zeroed (default 0.5)"),
    }


def render(shape: tuple, num_classes: int, batch: int, start: list[dict]) -> tuple[list[dict], list, str | None]:
    """Draw the editor and its live shape table; return (layers, checks, error or None)."""
    kept = state.get(KEPT)  # after a reload: the stack saved on this server
    if not (isinstance(kept, list) and all(isinstance(layer, dict) for layer in kept)):
        kept = None  # nothing kept, or a saved file this version cannot read
    if state.get(BASE) is None and kept is None:
        reset(start)
    # after reset(): with the key from before it, the next run drew a new table and lost the first edit
    editor_key = f"layer_editor_{state.get(VERSION)}"
    if editor_key not in st.session_state and kept is not None:
        # back from another page or reloaded: the table's edits are gone, so start from the last stack
        st.session_state[BASE] = kept
    # tall enough to show the whole stack beside its shapes, row against row
    height = min(ROW_PX * (len(st.session_state[BASE]) + 2) + 3, 900)
    left, right = st.columns([3, 2])
    with left:
        edited = st.data_editor(
            to_frame(st.session_state[BASE]), num_rows="dynamic", hide_index=True, width="stretch",
            height=height, placeholder="–", row_height=ROW_PX,
            column_config=_column_config(), key=editor_key,
        )
    layers = to_layers(edited)
    state.put(KEPT, layers)
    checks, error = check(layers, shape, num_classes)
    with right:
        broken = (layers[len(checks)].get("type") or "?") if error and len(checks) < len(layers) else None
        st.dataframe(checks_table(checks, batch, broken), hide_index=True, width="stretch", height=height,
                     row_height=ROW_PX, placeholder="–",
                     column_config={"parameters": st.column_config.NumberColumn(format="localized")})
        st.caption(f"Input [{batch}, {', '.join(map(str, shape))}] · "
                   f"{sum(c.params for c in checks):,} parameters" + (" so far" if error else ""))
    if error:
        st.error(error, icon=":material/error:")
    return layers, checks, error
