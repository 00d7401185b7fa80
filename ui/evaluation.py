"""Pure Plotly builders for the Evaluate page: the confusion matrix (with clickable cells),
per-class bars, one sample's probabilities, heat-map overlays for attributions, and the
projector's scatter of test images.
No Streamlit here, so everything is testable on its own.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative, sample_colorscale

from core.metrics import normalize_rows

CELL_TRACE = "cells"        # name of the invisible marker grid that makes cells clickable
MAX_CELL_TEXT = 20          # above this many classes the numbers no longer fit in the cells
CORRECT_COLOR, WRONG_COLOR, OTHER_COLOR = "#2e7d32", "#d62728", "#9e9e9e"


# ---- confusion matrix -------------------------------------------------------------------

def confusion_figure(cm, class_names: Sequence[str], *, normalized: bool = False, height: int = 520,
                     title: str | None = None, clickable: bool = True) -> go.Figure:
    """Heatmap of a confusion matrix: true class down, predicted class across.

    Plotly heatmaps send no selection events, so `clickable` lays an invisible marker on each
    cell centre; clicking a cell selects that marker, whose customdata is (true, predicted).
    """
    counts = np.asarray(cm)
    n = counts.shape[0]
    names = [str(c) for c in class_names]
    shares = normalize_rows(counts)
    z = shares if normalized else counts
    text = _cell_text(counts, shares, normalized) if n <= MAX_CELL_TEXT else None
    fig = go.Figure(go.Heatmap(
        z=z, x=list(range(n)), y=list(range(n)), colorscale="Blues", zmin=0,
        zmax=1 if normalized else max(int(counts.max()), 1), text=text,
        texttemplate="%{text}" if text is not None else None, hoverinfo="skip" if clickable else None,
        colorbar=dict(title="share" if normalized else "count", thickness=12),
    ))
    if clickable:
        true_idx, pred_idx = np.divmod(np.arange(n * n), n)
        fig.add_trace(go.Scatter(
            x=pred_idx, y=true_idx, mode="markers", name=CELL_TRACE, showlegend=False,
            customdata=np.stack([true_idx, pred_idx, counts.ravel(), shares.ravel() * 100], axis=1),
            marker=dict(symbol="square", size=max(4, (height - 120) / n * 0.9), color="#ff4b4b", opacity=0),
            selected=dict(marker=dict(opacity=0.45)), unselected=dict(marker=dict(opacity=0)),
            hovertemplate=[f"true <b>{names[t]}</b> → predicted <b>{names[p]}</b><br>"
                           "%{customdata[2]} images (%{customdata[3]:.1f}% of the class)<extra></extra>"
                           for t, p in zip(true_idx, pred_idx)],
        ))
    axis = dict(tickmode="array", tickvals=list(range(n)), ticktext=names, showgrid=False, zeroline=False)
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10), title=title,
        xaxis=dict(axis, title="predicted class", range=[-0.5, n - 0.5], side="bottom"),
        yaxis=dict(axis, title="true class", range=[n - 0.5, -0.5]),
        clickmode="event+select", dragmode=False, hovermode="closest", hoverdistance=-1,
    )
    return fig


def _cell_text(counts: np.ndarray, shares: np.ndarray, normalized: bool) -> np.ndarray:
    # empty cells stay blank so the mistakes stand out; a rare mistake never reads as "0%"
    text = (np.char.mod("%.0f%%", shares * 100) if normalized else counts.astype(str)).astype(object)
    if normalized:
        text[(counts > 0) & (shares < 0.005)] = "<1%"
    text[counts == 0] = ""
    return text


def cell_from_selection(selection) -> tuple[int, int] | None:
    """(true, predicted) of the clicked cell from st.plotly_chart's selection state, if any."""
    points = (selection or {}).get("points") or []
    for point in points:
        data = point.get("customdata")
        if data is None:
            continue
        values = list(data.values()) if isinstance(data, dict) else list(data)
        if len(values) >= 2:
            return int(values[0]), int(values[1])
    return None


# ---- per-class and per-sample bars ---------------------------------------------------------

def per_class_figure(report, height: int = 320) -> go.Figure:
    """Grouped bars of precision, recall and F1 per class (from core.metrics.per_class_report)."""
    fig = go.Figure([
        go.Bar(name=metric, x=report["class"].astype(str), y=report[metric], hovertemplate="%{x}: %{y:.1%}")
        for metric in ("precision", "recall", "f1")
    ])
    fig.update_layout(barmode="group", height=height, margin=dict(l=10, r=10, t=10, b=10),
                      yaxis=dict(range=[0, 1], tickformat=".0%"), legend=dict(orientation="h", y=1.1),
                      xaxis=dict(type="category"))
    return fig


def probability_figure(probs, class_names: Sequence[str], true_class: int, top: int = 10,
                       height: int | None = None) -> go.Figure:
    """Horizontal bars of the `top` class probabilities, most likely on top.

    The true class is always shown (green); the prediction is red when it is wrong.
    """
    p = np.asarray(probs, dtype=np.float64)
    order = list(np.argsort(-p, kind="stable")[:top])
    if true_class not in order:
        order[-1] = true_class
    pred = int(np.argmax(p))
    colors = [CORRECT_COLOR if i == true_class else WRONG_COLOR if i == pred else OTHER_COLOR for i in order]
    fig = go.Figure(go.Bar(
        x=p[order], y=[str(class_names[i]) for i in order], orientation="h", marker_color=colors,
        text=[f"{v:.1%}" for v in p[order]], textposition="auto", hovertemplate="%{y}: %{x:.2%}<extra></extra>",
    ))
    fig.update_layout(height=height or 40 + 26 * len(order), margin=dict(l=10, r=10, t=10, b=10),
                      xaxis=dict(range=[0, 1], tickformat=".0%"),
                      yaxis=dict(autorange="reversed", type="category"))
    return fig


# ---- saliency overlay ----------------------------------------------------------------------

@lru_cache(maxsize=1)
def _lut() -> np.ndarray:
    rgb = sample_colorscale("Inferno", list(np.linspace(0, 1, 256)), colortype="tuple")
    return (np.asarray(rgb, dtype=np.float32) * 255).astype(np.uint8)


def heat_overlay(image, heat, alpha: float = 0.55) -> np.ndarray:
    """A (H, W, 3) uint8 picture: the uint8 image (C, H, W) in grey or colour, blended with a
    heat map in [0, 1] of the same height and width coloured with Inferno."""
    img = np.asarray(image)
    if img.ndim == 3:
        img = np.repeat(img, 3, axis=0) if img.shape[0] == 1 else img
        img = np.transpose(img, (1, 2, 0))
    h = np.clip(np.asarray(heat, dtype=np.float32), 0, 1)
    if h.shape != img.shape[:2]:
        raise ValueError(f"heat map {h.shape} does not match the image {img.shape[:2]}")
    colored = _lut()[(h * 255).astype(np.uint8)].astype(np.float32)
    return (img.astype(np.float32) * (1 - alpha) + colored * alpha).clip(0, 255).astype(np.uint8)


def signed_overlay(image, heat, alpha: float = 0.7) -> np.ndarray:
    """A (H, W, 3) uint8 picture for a signed map in [-1, 1]: the image in grey, red where the map is
    positive (evidence for the class), blue where negative (against it), stronger for larger |value|."""
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 3:
        img = img.mean(axis=0)  # grey, so the red/blue reads as the map and not as the photo's colours
    h = np.clip(np.asarray(heat, dtype=np.float32), -1, 1)
    if h.shape != img.shape:
        raise ValueError(f"heat map {h.shape} does not match the image {img.shape}")
    grey = np.repeat((img * 0.6)[..., None], 3, axis=2)
    red, blue = np.array([230, 30, 30], np.float32), np.array([40, 110, 255], np.float32)
    color = np.where(h[..., None] >= 0, red, blue)
    weight = (np.abs(h) * alpha)[..., None]
    return (grey * (1 - weight) + color * weight).clip(0, 255).astype(np.uint8)


# ---- embedding projector -------------------------------------------------------------------

def class_colors(n: int) -> list[str]:
    palette = qualitative.Plotly + qualitative.Dark24
    return [palette[i % len(palette)] for i in range(n)]


def embedding_figure(coords, labels, preds, probs, class_names: Sequence[str], *, color_by: str = "true",
                     mistakes_only: bool = False, index=None, height: int = 620) -> go.Figure:
    """Scatter of the test images' 2-D map, one WebGL trace per class (the legend toggles classes).

    Mistakes are drawn as crosses with a dark outline on top of the correct dots. Each point's
    customdata is (test index, true, predicted, probability of the prediction), which hover shows and
    a box/lasso selection returns; `index` gives the test index of each row when the rows are a subset.
    """
    xy = np.asarray(coords, dtype=np.float32)
    test_index = np.arange(len(xy)) if index is None else np.asarray(index)
    y, p = np.asarray(labels), np.asarray(preds)
    conf = np.asarray(probs)[np.arange(len(p)), p] if len(p) else np.zeros(0)
    names = [str(c) for c in class_names]
    by = y if color_by == "true" else p
    wrong = y != p
    colors = class_colors(len(names))
    fig = go.Figure()
    for k, name in enumerate(names):
        for mistakes in (False, True):
            if mistakes_only and not mistakes:
                continue
            idx = np.flatnonzero((by == k) & (wrong == mistakes))
            if len(idx) == 0:
                continue
            fig.add_trace(go.Scattergl(
                x=xy[idx, 0], y=xy[idx, 1], mode="markers", name=name, legendgroup=name,
                showlegend=not mistakes or mistakes_only,
                customdata=np.stack([test_index[idx], y[idx], p[idx], conf[idx]], axis=1),
                marker=dict(color=colors[k], size=9 if mistakes else 5, opacity=1.0 if mistakes else 0.55,
                            symbol="x" if mistakes else "circle",
                            line=dict(width=1 if mistakes else 0, color="#222")),
                hovertemplate=[f"#{test_index[i]}: true <b>{names[y[i]]}</b> → predicted <b>{names[p[i]]}</b>"
                               f" ({conf[i]:.0%})<extra></extra>" for i in idx],
            ))
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=36, b=10), dragmode="lasso", hovermode="closest",  # room for the toolbar
        legend=dict(title=f"{'true' if color_by == 'true' else 'predicted'} class", itemsizing="constant"),
        xaxis=dict(showticklabels=False, zeroline=False, title=None),
        yaxis=dict(showticklabels=False, zeroline=False, title=None, scaleanchor="x"),
    )
    return fig


def points_from_selection(selection) -> list[int]:
    """The first customdata value (a test index, or a data-map row) of each point in st.plotly_chart's
    selection state (box, lasso or clicks), sorted, once each."""
    out: list[int] = []
    for point in (selection or {}).get("points") or []:
        data = point.get("customdata")
        if data is None:
            continue
        values = list(data.values()) if isinstance(data, dict) else list(data)
        if values:
            out.append(int(values[0]))
    return sorted(set(out))
