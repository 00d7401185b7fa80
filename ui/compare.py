"""Pure Plotly builders for comparing runs: overlaid curves and per-class accuracy by run.
The confusion matrices reuse ui.evaluation.confusion_figure. No Streamlit here.
"""
from __future__ import annotations

import math

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
