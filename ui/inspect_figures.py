"""Pure figure builders for the Inspect and Playground pages: mosaics of filters and feature
maps, and the probability bars of one prediction. No Streamlit here, so tests call them directly.

A mosaic is ONE heatmap (or RGB image) of all tiles side by side with transparent gaps: one
trace draws 64 maps as fast as one, and hovering still says which map and which raw value.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

MAX_TILES = 64
_PRED_COLOUR = "#1f77b4"
_OTHER_COLOUR = "#aec7e8"
_TRUE_COLOUR = "#2ca02c"


# ---- arrays ------------------------------------------------------------------------------

def columns_for(count: int, max_columns: int = 8) -> int:
    """Tiles per row: all in one row when few, else rows of `max_columns`."""
    return max(1, min(count, max_columns))


def tile(images: Sequence[np.ndarray], columns: int, pad: int = 1, fill: float = np.nan) -> np.ndarray:
    """Same-shaped (h, w) or (h, w, 3) images in rows of `columns`, `pad` cells of `fill` between."""
    if len(images) == 0:
        raise ValueError("no images to tile")
    first = np.asarray(images[0])
    if any(np.asarray(img).shape != first.shape for img in images):
        raise ValueError("all tiles must have the same shape")
    h, w = first.shape[:2]
    rows = -(-len(images) // columns)
    out = np.full((rows * (h + pad) - pad, columns * (w + pad) - pad, *first.shape[2:]), fill, dtype=np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = img
    return out


def scale_each(maps: np.ndarray) -> np.ndarray:
    """Each map min-max scaled to [0, 1] on its own; a constant map becomes 0 (dark)."""
    maps = np.asarray(maps, dtype=np.float32)
    axes = tuple(range(1, maps.ndim))
    lo = maps.min(axis=axes, keepdims=True)
    span = maps.max(axis=axes, keepdims=True) - lo
    return np.where(span > 0, (maps - lo) / np.where(span > 0, span, 1), 0.0).astype(np.float32)


# ---- mosaics -----------------------------------------------------------------------------

def _mosaic_layout(fig: go.Figure, rows: int, columns: int, cell_px: int) -> go.Figure:
    axis = dict(visible=False, showgrid=False, zeroline=False)
    fig.update_layout(
        # the top margin keeps Plotly's hover toolbar off the first row of tiles
        width=max(columns * cell_px, 160) + 20, height=rows * cell_px + 44,
        margin=dict(l=10, r=10, t=34, b=10),
        xaxis=dict(axis, constrain="domain"),
        yaxis=dict(axis, autorange="reversed", scaleanchor="x", constrain="domain"),
        plot_bgcolor="rgba(0,0,0,0)", paper_bgcolor="rgba(0,0,0,0)",
    )
    return fig


def _index_mosaic(count: int, shape: tuple, columns: int, pad: int) -> np.ndarray:
    return tile([np.full(shape, i, dtype=np.float32) for i in range(count)], columns, pad, fill=-1)


def filter_figure(filters: Sequence[np.ndarray], *, columns: int | None = None, cell_px: int = 88) -> go.Figure:
    """Filters from `core.inspect.filter_grid_images` (values in [0, 1]): gray (kh, kw) tiles
    as a heatmap, colour (kh, kw, 3) tiles as an RGB image. At most MAX_TILES are drawn."""
    filters = list(filters)[:MAX_TILES]
    columns = columns or columns_for(len(filters))
    rows = -(-len(filters) // columns)
    kh, kw = np.asarray(filters[0]).shape[:2]
    pad = max(1, round(max(kh, kw) / 5))
    index = _index_mosaic(len(filters), (kh, kw), columns, pad)
    fig = go.Figure()
    if np.asarray(filters[0]).ndim == 3:
        rgb = tile(filters, columns, pad, fill=1.0)
        fig.add_trace(go.Image(z=(rgb * 255).round().astype(np.uint8), customdata=index,
                               hovertemplate="filter %{customdata}<extra></extra>"))
    else:
        fig.add_trace(go.Heatmap(
            z=tile(filters, columns, pad), customdata=index, colorscale="gray", zmin=0, zmax=1,
            showscale=False, hoverongaps=False,
            hovertemplate="filter %{customdata}<br>relative weight %{z:.2f}<extra></extra>",
        ))
    return _mosaic_layout(fig, rows, columns, cell_px)


def feature_map_figure(maps: np.ndarray, *, columns: int | None = None, cell_px: int = 110) -> go.Figure:
    """Feature maps (channels, h, w) of one image, each scaled to its own range; hover gives the
    map number and its raw activation. At most MAX_TILES maps are drawn."""
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3 or maps.shape[0] == 0:
        raise ValueError(f"feature maps must be shaped (channels, h, w), got {maps.shape}")
    maps = maps[:MAX_TILES]
    count, h, w = maps.shape
    columns = columns or columns_for(count)
    rows = -(-count // columns)
    pad = max(1, round(max(h, w) / 12))
    raw = tile(list(maps), columns, pad)
    index = _index_mosaic(count, (h, w), columns, pad)
    fig = go.Figure(go.Heatmap(
        z=tile(list(scale_each(maps)), columns, pad), customdata=np.stack([index, raw], axis=-1),
        colorscale="Viridis", zmin=0, zmax=1, showscale=False, hoverongaps=False,
        hovertemplate="map %{customdata[0]}<br>activation %{customdata[1]:.3f}<extra></extra>",
    ))
    return _mosaic_layout(fig, rows, columns, cell_px)


# ---- one prediction ------------------------------------------------------------------------

def top_classes(probs: Sequence[float], k: int) -> list[int]:
    """Indices of the k most probable classes, most probable first (ties: lower index first)."""
    p = np.asarray(probs, dtype=np.float64)
    return [int(i) for i in np.argsort(-p, kind="stable")[:k]]


def probability_figure(probs: Sequence[float], classes: Sequence[str], true_label: int | None = None,
                       max_bars: int = 10) -> go.Figure:
    """Horizontal bars of class probabilities; the predicted class in a strong colour, the true
    class (when known) outlined and marked. Up to `max_bars` classes are shown in class order;
    with more classes, the `max_bars` most probable ones, most probable on top."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 1 or len(p) != len(classes) or len(p) == 0:
        raise ValueError(f"{len(p)} probabilities for {len(classes)} classes")
    pred = int(p.argmax())
    shown = list(range(len(p))) if len(p) <= max_bars else top_classes(p, max_bars)
    names = [f"{classes[i]}  ✓ true" if i == true_label else str(classes[i]) for i in shown]
    fig = go.Figure(go.Bar(
        x=p[shown], y=names, orientation="h",
        marker=dict(color=[_PRED_COLOUR if i == pred else _OTHER_COLOUR for i in shown],
                    line=dict(color=[_TRUE_COLOUR if i == true_label else "rgba(0,0,0,0)" for i in shown],
                              width=3)),
        text=[f"{v:.1%}" for v in p[shown]], textposition="outside", cliponaxis=False,
        hovertemplate="%{y}: %{x:.2%}<extra></extra>",
    ))
    title = "Class probabilities" if len(shown) == len(p) else f"Top {len(shown)} of {len(p)} classes"
    fig.update_layout(
        title=dict(text=title, font=dict(size=14)), height=max(170, 60 + 26 * len(shown)),
        margin=dict(l=10, r=50, t=40, b=10), bargap=0.25, showlegend=False,
        xaxis=dict(range=[0, 1.0], tickformat=".0%", title=None),
        yaxis=dict(type="category", autorange="reversed", title=None),
    )
    return fig
