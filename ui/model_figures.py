"""Pure builders for the Model page: the layer table for a batch size and its CSV / Markdown
exports, the parameter-count chart, and readable numbers. No Streamlit here, so tests call them
directly."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from core.models import LayerCheck, ModelSummary

HIGHLIGHT, OTHERS = "#E45756", "#4C78A8"


def human(n: float) -> str:
    """12,345,678 -> '12.3 M': tiles must stay readable from 100 to 10^10."""
    for limit, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(n) >= limit:
            return f"{n / limit:.3g}{suffix}"
    return f"{n:,.0f}"


def summary_table(s: ModelSummary, batch: int) -> pd.DataFrame:
    """The layer table for `batch` images, from a summary taken at batch size 1.

    Every layer's input and output keep the batch as their first dimension and its multiply-adds
    grow linearly with it, so one cheap forward pass of a single image gives exact numbers for any
    batch size (a real batch of 4,096 through a ResNet would take minutes on a CPU).
    """
    return pd.DataFrame({
        "layer": [r["layer"] for r in s.rows],
        "type": [r["type"] for r in s.rows],
        "input shape": [str([batch, *r["input_shape"][1:]]) for r in s.rows],
        "output shape": [str([batch, *r["output_shape"][1:]]) for r in s.rows],
        "parameters": [r["params"] for r in s.rows],
        "trainable": [r["trainable"] for r in s.rows],
        "MACs": [r["macs"] * batch for r in s.rows],
    })


def summary_totals(s: ModelSummary, batch: int) -> dict[str, str]:
    """The totals a lab report quotes under the table, as the page's tiles show them."""
    return {
        "Parameters": f"{s.total_params:,}",
        "Trainable": f"{s.trainable_params:,}",
        "Non-trainable": f"{s.non_trainable_params:,}",
        f"MACs per batch of {batch}": f"{s.total_macs * batch:,}",
        "Model size": f"{s.state_mb:.2f} MB",
    }


def table_csv(table: pd.DataFrame) -> str:
    """The layer table alone, one row per layer, so a spreadsheet can sum and plot it."""
    return table.to_csv(index=False)


def table_markdown(table: pd.DataFrame, title: str, totals: dict[str, str]) -> str:
    """A heading, the layer table and its totals: a section to paste into a lab report."""
    lines = [f"### {title}", "", table.to_markdown(index=False, intfmt=","), ""]
    lines += [f"- **{name}:** {value}" for name, value in totals.items()]
    return "\n".join(lines) + "\n"


def checks_table(checks: list[LayerCheck], batch: int, broken: str | None = None) -> pd.DataFrame:
    """Shapes and parameter counts of a custom stack, one row per layer as numbered in the editor.

    `broken` is the type of the layer after the last working one, shown as a marked row so the
    table lines up with the editor up to the layer the error message names.
    """
    frame = pd.DataFrame({
        "#": [c.index for c in checks],
        "type": [c.type for c in checks],
        "output shape": [str([batch, *c.output_shape]) for c in checks],
        "parameters": pd.array([c.params for c in checks], dtype="Int64"),
    })
    if broken is not None:
        frame.loc[len(frame)] = [len(checks) + 1, broken, "✖ error", pd.NA]
    return frame


def param_comparison(titles: list[str], counts: list[int], highlight: str | None = None) -> go.Figure:
    """Horizontal bars of parameter counts on a log axis (they span 10^4 to 10^7)."""
    order = sorted(range(len(counts)), key=counts.__getitem__)
    fig = go.Figure(go.Bar(
        x=[counts[i] for i in order], y=[titles[i] for i in order], orientation="h",
        marker_color=[HIGHLIGHT if titles[i] == highlight else OTHERS for i in order],
        text=[human(counts[i]) for i in order], textposition="outside", cliponaxis=False,
        hovertemplate="%{y}: %{x:,} parameters<extra></extra>",
    ))
    fig.update_layout(
        xaxis=dict(type="log", title="parameters (log scale)"), yaxis_title=None,
        margin=dict(t=20, b=40, l=10, r=60), height=60 + 40 * len(counts), showlegend=False,
    )
    return fig
