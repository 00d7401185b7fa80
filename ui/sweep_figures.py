"""Plotly figures of a sweep: parallel coordinates (hyperparameters → accuracy) and importances.
Pure builders: they take a results table (core.sweeps.table) and return figures."""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from core.config import field_info


def _axis(name: str, values: list) -> dict:
    """One parallel-coordinates dimension. Categories and booleans become ticks at 0, 1, 2...;
    positive numbers spanning 10× or more (learning rates) a log10 axis labelled in real values."""
    label = field_info(name)["label"] if name in _fields() else name
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if not numeric:
        order = sorted({str(v) for v in values})
        return {"label": label, "values": [order.index(str(v)) for v in values],
                "tickvals": list(range(len(order))), "ticktext": order, "range": [-0.3, len(order) - 0.7]}
    arr = np.asarray(values, dtype=float)
    if arr.min() > 0 and arr.max() / arr.min() >= 10:
        lo, hi = math.floor(np.log10(arr.min())), math.ceil(np.log10(arr.max()))
        ticks = list(range(lo, hi + 1))
        return {"label": f"{label} (log)", "values": np.log10(arr).tolist(), "tickvals": ticks,
                "ticktext": [f"{10.0 ** t:g}" for t in ticks], "range": [lo, hi]}
    if arr.min() == arr.max():
        return {"label": label, "values": arr.tolist(), "range": [arr.min() - 1, arr.max() + 1]}
    return {"label": label, "values": arr.tolist()}


def _fields() -> set:
    from dataclasses import fields

    from core.config import RunConfig

    return {f.name for f in fields(RunConfig)}


def parallel_coordinates(frame, fields: list[str], metric: str = "best_val_acc", metric_label: str = "Best val acc"):
    """One line per finished run, from its varied values to its accuracy (colour = accuracy)."""
    acc = (frame[metric].astype(float) * 100).tolist()
    dims = [_axis(f, frame[f].tolist()) for f in fields]
    dims.append({"label": f"{metric_label} (%)", "values": acc})
    fig = go.Figure(go.Parcoords(
        line={"color": acc, "colorscale": "Viridis", "showscale": True,
              "colorbar": {"title": {"text": "%"}}},
        dimensions=dims, labelangle=0, labelside="top", labelfont={"size": 14}, tickfont={"size": 13}))
    fig.update_layout(height=380, margin={"l": 60, "r": 40, "t": 60, "b": 30})
    return fig


def importance_bars(values: dict):
    """Horizontal bars, most important at the top."""
    items = sorted(values.items(), key=lambda kv: kv[1])
    labels = [field_info(k)["label"] for k, _ in items]
    fig = go.Figure(go.Bar(x=[v for _, v in items], y=labels, orientation="h",
                           hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    fig.update_layout(height=80 + 36 * len(items), margin={"l": 10, "r": 10, "t": 10, "b": 40},
                      xaxis_title="drop in R² when the field is shuffled")
    return fig
