"""Pure Plotly builders for the Evaluate page's threshold-free scores: one-vs-rest precision-recall
and ROC curves, and the reliability diagram with its bin counts. Input is what core.metrics'
`one_vs_rest_curves` and `calibration` return. No Streamlit here.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

MAX_POINTS = 300  # per drawn curve: a 10,000-image ROC has ~1,000 corners, more than a chart shows
PALETTE = qualitative.Plotly + qualitative.Dark24


def thin(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most `max_points` of a curve, evenly spread along it, first and last kept."""
    if len(x) <= max_points:
        return x, y
    keep = np.unique(np.linspace(0, len(x) - 1, max_points).round().astype(int))
    return x[keep], y[keep]


def _curves(curves: dict, kind: str, shown: Sequence[int], score: str, names: list[str], x_title: str,
            y_title: str, height: int) -> go.Figure:
    table = curves["classes"]
    fig = go.Figure()
    for k in shown:
        if k not in curves[kind]:
            continue  # no test images of this class (or only them): no curve is defined
        x, y = thin(*curves[kind][k])
        label = f"{names[k]} ({score} {table[_SCORE_COLUMN[score]].iloc[k]:.4f})"
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=label, line=dict(color=PALETTE[k % len(PALETTE)], width=2),
                                 hovertemplate=f"class {names[k]}<br>{x_title} %{{x:.3f}}<br>{y_title} %{{y:.3f}}"
                                               "<extra></extra>"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), hovermode="closest",
                      xaxis=dict(title=x_title, range=[-0.01, 1.01], constrain="domain"),
                      yaxis=dict(title=y_title, range=[-0.01, 1.01], scaleanchor="x", scaleratio=1),
                      legend=dict(title="class (score)"))
    return fig


_SCORE_COLUMN = {"AP": "average_precision", "AUC": "roc_auc"}


def pr_figure(curves: dict, class_names: Sequence[str], shown: Sequence[int], height: int = 460) -> go.Figure:
    """Precision against recall, one line per shown class, its average precision in the legend."""
    return _curves(curves, "pr", shown, "AP", [str(c) for c in class_names], "recall", "precision", height)


def roc_figure(curves: dict, class_names: Sequence[str], shown: Sequence[int], height: int = 460,
               log_fpr: bool = False) -> go.Figure:
    """True-positive rate against false-positive rate per shown class, AUC in the legend, and the
    diagonal a guessing classifier would draw. `log_fpr` spreads out the corner where a good
    model's curves all sit (rates of 0 drop out of a log axis)."""
    fig = _curves(curves, "roc", shown, "AUC", [str(c) for c in class_names], "false positive rate",
                  "true positive rate", height)
    chance = np.logspace(-5, 0, 50) if log_fpr else np.array([0.0, 1.0])
    fig.add_trace(go.Scatter(x=chance, y=chance, mode="lines", name="chance (AUC 0.5)", hoverinfo="skip",
                             line=dict(color="#9e9e9e", dash="dash", width=1)))
    if log_fpr:
        fig.update_layout(xaxis=dict(type="log", range=[-4, 0], dtick=1, exponentformat="power"),
                          yaxis=dict(scaleanchor=None))
    return fig


def reliability_figure(result: dict, height: int = 520) -> go.Figure:
    """Top: each confidence bin's accuracy (bars) against the diagonal of perfect calibration, the
    gap to the bin's mean confidence hatched (above the bar: over-confident; inside it: under). Bottom: how many test images fall in each bin (log scale: most sit near 100%)."""
    bins = result["bins"]
    centre = ((bins["low"] + bins["high"]) / 2).to_numpy()
    width = (bins["high"] - bins["low"]).to_numpy()
    acc, conf, count = bins["accuracy"].to_numpy(), bins["confidence"].to_numpy(), bins["count"].to_numpy()
    custom = np.stack([bins["low"], bins["high"], count, conf, acc], axis=1)
    hover = ("confidence %{customdata[0]:.0%}–%{customdata[1]:.0%}: %{customdata[2]:,} images<br>"
             "mean confidence %{customdata[3]:.1%}, accuracy %{customdata[4]:.1%}<extra></extra>")
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28], vertical_spacing=0.06)
    fig.add_trace(go.Bar(x=centre, y=acc, width=width, name="accuracy in the bin", marker_color="#1f77b4",
                         marker_line=dict(color="white", width=1), customdata=custom, hovertemplate=hover), 1, 1)
    fig.add_trace(go.Bar(x=centre, y=conf - acc, base=acc, width=width, name="gap to its mean confidence",
                         # hatched, not filled: under-confident bins draw their gap inside the blue bar
                         marker=dict(color="rgba(0,0,0,0)", line=dict(color="#d62728", width=1),
                                     pattern=dict(shape="/", fgcolor="#d62728", size=6)),
                         customdata=custom, hovertemplate=hover), 1, 1)
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated", hoverinfo="skip",
                             line=dict(color="#555", dash="dash", width=1)), 1, 1)
    fig.add_trace(go.Bar(x=centre, y=count, width=width, name="images", marker_color="#7f7f7f", showlegend=False,
                         customdata=custom, hovertemplate=hover), 2, 1)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), barmode="overlay", bargap=0,
                      legend=dict(orientation="h", y=1.06), hovermode="closest")
    fig.update_yaxes(title_text="accuracy", range=[0, 1.02], tickformat=".0%", row=1, col=1)
    fig.update_yaxes(title_text="images", type="log", dtick=1, row=2, col=1)
    fig.update_xaxes(range=[0, 1], tickformat=".0%", row=1, col=1)
    fig.update_xaxes(title_text="confidence (probability of the predicted class)", range=[0, 1], tickformat=".0%",
                     row=2, col=1)
    return fig
