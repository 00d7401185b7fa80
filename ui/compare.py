"""Pure Plotly builders for comparing runs: overlaid curves, per-class accuracy by run, and two
runs against each other (the agreement matrix and per-class accuracy changes).
The confusion matrices reuse ui.evaluation.confusion_figure. No Streamlit here.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from core.config import STEPWISE_SCHEDULES

PALETTE = qualitative.Plotly
METRICS = {"loss": "Loss", "acc": "Accuracy", "lr": "Learning rate"}
X_AXES = {"epoch": "epoch", "elapsed_seconds": "wall time (s)"}


def curves_figure(frame: pd.DataFrame, metric: str, x: str = "epoch", height: int = 340) -> go.Figure:
    """One colour per run; validation solid, training dashed. `frame` is core.compare.curves."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if x not in X_AXES:
        raise ValueError(f"x must be one of {', '.join(X_AXES)}, got {x!r}")
    series = [("lr", "", "solid")] if metric == "lr" else [(f"val_{metric}", "val", "solid"),
                                                          (f"train_{metric}", "train", "dash")]
    fig = go.Figure()
    for i, (run, rows) in enumerate(frame.groupby("run", sort=False)):
        color = PALETTE[i % len(PALETTE)]
        # a point is the LR an epoch trained with, placed at the epoch's end: a stepwise schedule's
        # step comes before its point ("vh"), so a drop after epoch 2 shows at epoch 2
        stepwise = metric == "lr" and rows.get("schedule", pd.Series([""])).iloc[0] in STEPWISE_SCHEDULES
        for column, part, dash in series:
            fig.add_trace(go.Scatter(
                x=rows[x], y=rows[column], mode="lines+markers", name=f"{run} · {part}" if part else run,
                legendgroup=run, line=dict(color=color, dash=dash, shape="vh" if stepwise else "linear"),
                marker=dict(size=5),
                hovertemplate=f"{run}<br>{part or 'lr'} %{{y:.4g}} at {X_AXES[x]} %{{x:.4g}}<extra></extra>",
            ))
    yaxis = dict(title=METRICS[metric])
    if metric == "acc":
        yaxis["tickformat"] = ".0%"
    if metric == "lr":
        positive = frame["lr"][frame["lr"] > 0]
        # a log axis only when the rates span a decade; below that its digit labels are unreadable
        if len(positive) and positive.max() >= 10 * positive.min():
            yaxis.update(type="log", dtick=1, exponentformat="power")
        else:
            yaxis.update(exponentformat="e")
    xaxis = dict(title=X_AXES[x])
    if x == "epoch" and len(frame):  # whole epochs only: no tick at "epoch 1.5"
        xaxis.update(tickmode="linear", tick0=1, dtick=max(1, math.ceil(frame["epoch"].max() / 10)))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), xaxis=xaxis,
                      yaxis=yaxis, legend=dict(orientation="h", y=-0.25), hovermode="closest")
    return fig


def per_class_accuracy_figure(reports: dict[str, pd.DataFrame], height: int = 340) -> go.Figure:
    """Grouped bars: per-class accuracy (recall), one bar colour per run."""
    fig = go.Figure([
        go.Bar(name=run, x=report["class"].astype(str), y=report["accuracy"],
               marker_color=PALETTE[i % len(PALETTE)],
               hovertemplate=f"{run}<br>%{{x}}: %{{y:.1%}}<extra></extra>")
        for i, (run, report) in enumerate(reports.items())
    ])
    fig.update_layout(barmode="group", height=height, margin=dict(l=10, r=10, t=10, b=10),
                      yaxis=dict(title="accuracy", range=[0, 1], tickformat=".0%"),
                      xaxis=dict(title="class", type="category"), legend=dict(orientation="h", y=1.12))
    return fig


# ---- run against run, sample by sample ------------------------------------------------------

AGREEMENT_TRACE = "agreement cells"  # the invisible markers that make the 2×2 cells clickable
AGREEMENT_COLORS = ("#2e7d32", "#ef6c00", "#1565c0", "#c62828")  # both right, only A, only B, both wrong


def agreement_figure(counts: dict[str, int], label_a: str, label_b: str, height: int = 300) -> go.Figure:
    """The 2×2 agreement matrix (rows: A right / wrong, columns: B right / wrong) with counts and
    shares; clicking a cell selects its marker, whose customdata[0] is the cell's name."""
    names = list(counts)  # core.compare.AGREEMENT order: both right, only A, only B, both wrong
    total = max(sum(counts.values()), 1)
    z = [[0, 1], [2, 3]]
    text = [[f"<b>{names[i]}</b><br>{counts[names[i]]:,} ({counts[names[i]] / total:.1%})" for i in row] for row in z]
    scale = [[i / 4 + e, c] for i, c in enumerate(AGREEMENT_COLORS) for e in (0, 0.25)]
    fig = go.Figure(go.Heatmap(z=z, x=[0, 1], y=[0, 1], text=text, texttemplate="%{text}", colorscale=scale,
                               zmin=-0.5, zmax=3.5, showscale=False, hoverinfo="skip", opacity=0.85,
                               textfont=dict(color="white", size=15), xgap=3, ygap=3))
    fig.add_trace(go.Scatter(
        x=[0, 1, 0, 1], y=[0, 0, 1, 1], mode="markers", name=AGREEMENT_TRACE, showlegend=False,
        customdata=[[n] for n in names], marker=dict(symbol="square", size=(height - 90) / 2 * 0.9, opacity=0),
        selected=dict(marker=dict(opacity=0.25, color="white")), unselected=dict(marker=dict(opacity=0)),
        hovertemplate="%{customdata[0]}: click to see these images<extra></extra>",
    ))
    axis = dict(tickmode="array", tickvals=[0, 1], showgrid=False, zeroline=False, fixedrange=True)
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=10, b=10), clickmode="event+select", dragmode=False,
        hovermode="closest", hoverdistance=-1,  # a click anywhere in a cell picks its marker, not only near it
        xaxis=dict(axis, ticktext=["right", "wrong"], title=f"B: {label_b}", range=[-0.5, 1.5], side="top"),
        yaxis=dict(axis, ticktext=["right", "wrong"], title=f"A: {label_a}", range=[1.5, -0.5]),
    )
    return fig


def agreement_cell_from_selection(selection) -> str | None:
    """The clicked agreement cell's name from st.plotly_chart's selection state, if any."""
    for point in (selection or {}).get("points") or []:
        data = point.get("customdata")
        values = list(data.values()) if isinstance(data, dict) else list(data or [])
        if values and isinstance(values[0], str):
            return values[0]
    return None


def class_delta_figure(deltas: pd.DataFrame, height: int | None = None) -> go.Figure:
    """Horizontal bars of B's per-class accuracy minus A's (core.compare.class_deltas), in the
    table's order (largest loss on top); green where B is better, red where worse."""
    change = deltas["change"].fillna(0.0)
    colors = ["#2e7d32" if v > 0 else "#c62828" if v < 0 else "#9e9e9e" for v in change]
    custom = deltas[["accuracy A", "accuracy B", "fixed by B", "broken by B", "support"]].to_numpy()
    fig = go.Figure(go.Bar(
        x=change * 100, y=deltas["class"].astype(str), orientation="h", marker_color=colors, customdata=custom,
        text=[f"{v * 100:+.1f}" for v in change], textposition="outside", cliponaxis=False,
        hovertemplate="class %{y}: %{x:+.2f} points<br>A %{customdata[0]:.1%} → B %{customdata[1]:.1%}<br>"
                      "fixed %{customdata[2]}, broken %{customdata[3]} of %{customdata[4]} images<extra></extra>",
    ))
    span = max(float(np.abs(change).max()) * 100, 0.5) * 1.25
    fig.update_layout(height=height or 60 + 24 * len(deltas), margin=dict(l=10, r=30, t=10, b=10),
                      xaxis=dict(title="accuracy of B minus A (percentage points)", range=[-span, span],
                                 zeroline=True, zerolinecolor="#888"),
                      yaxis=dict(type="category", autorange="reversed", title="class"))
    return fig
