"""Pure Plotly builders for training dynamics: the data map (confidence against variability, one
point per training image, coloured by how often it was right) and one image's confidence by epoch."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from core.datamap import AMBIGUOUS, AMBIGUOUS_VARIABILITY, EASY, EASY_CONFIDENCE, HARD
from ui.evaluation import CORRECT_COLOR, WRONG_COLOR

LEVELS = 5  # over 5 epochs, correctness is drawn in LEVELS + 1 colours: right in ~0%, 20%, ... 100%
# never right (red) through half (orange: visible on white, unlike a diverging scale's pale middle)
# to always right (blue)
_SCALE = [[0.0, "rgb(178, 24, 43)"], [0.5, "rgb(240, 160, 40)"], [1.0, "rgb(33, 102, 172)"]]
REGION_TEXT = {
    EASY: "easy-to-learn", AMBIGUOUS: "ambiguous", HARD: "hard-to-learn",
}


def data_map_figure(table: pd.DataFrame, class_names, *, height: int = 560) -> go.Figure:
    """Scatter of `core.datamap.summarize`'s table. customdata[0] is the row, so a box or lasso
    selection names the images; the region boundaries are drawn as dashed lines."""
    names = np.asarray([str(c) for c in class_names], dtype=object)
    shown = table[table["epochs"] > 0]
    epochs = int(shown["epochs"].max()) if len(shown) else 0
    steps = epochs if 0 < epochs <= LEVELS else LEVELS  # few epochs: one colour per "right k of E"
    level = np.rint(shown["correctness"].to_numpy() * steps).astype(int)
    fig = go.Figure()
    for k in range(steps + 1):
        part = shown[level == k]
        if part.empty:
            continue
        rows = part.index.to_numpy()
        name = f"right {k} of {epochs} epochs" if steps == epochs else f"right ~{k / steps:.0%} of epochs"
        color = sample_colorscale(_SCALE, [k / steps])[0]
        fig.add_trace(go.Scattergl(
            x=part["variability"].to_numpy(np.float32), y=part["confidence"].to_numpy(np.float32), mode="markers",
            name=name, marker=dict(size=4, color=color, opacity=0.7),
            customdata=np.stack([rows, part["index"].to_numpy()], axis=1),
            text=names[part["label"].to_numpy()],
            hovertemplate=("training image #%{customdata[1]} · label <b>%{text}</b><br>confidence %{y:.2f}, "
                           "variability %{x:.2f}<extra>%{fullData.name}</extra>"),
        ))
    top = max(0.5, float(shown["variability"].max()) * 1.05 if len(shown) else 0.5)
    line = dict(color="#555", width=1, dash="dash")
    fig.add_shape(type="line", x0=AMBIGUOUS_VARIABILITY, x1=AMBIGUOUS_VARIABILITY, y0=0, y1=1, line=line)
    fig.add_shape(type="line", x0=0, x1=AMBIGUOUS_VARIABILITY, y0=EASY_CONFIDENCE, y1=EASY_CONFIDENCE, line=line)
    for text, x, y in ((REGION_TEXT[EASY], AMBIGUOUS_VARIABILITY / 2, 0.98),
                       (REGION_TEXT[HARD], AMBIGUOUS_VARIABILITY / 2, 0.02),
                       (REGION_TEXT[AMBIGUOUS], (AMBIGUOUS_VARIABILITY + top) / 2, 0.5)):
        fig.add_annotation(x=x, y=y, text=f"<b>{text}</b>", showarrow=False, bgcolor="rgba(255,255,255,0.8)",
                           bordercolor="#888", borderwidth=1, font=dict(size=12))
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=10, b=10), dragmode="lasso", hovermode="closest",
        xaxis=dict(title="variability (std of the confidence over epochs)", range=[-0.01, top]),
        yaxis=dict(title="confidence (mean probability of the label)", range=[-0.02, 1.02]),
        legend=dict(title="correctness", orientation="h", y=-0.15, itemsizing="constant"),
    )
    return fig


def epochs_figure(confidence, correct, height: int = 220) -> go.Figure:
    """One image's probability of its label in each epoch, right epochs green, wrong ones red
    (NaN: not trained on that epoch)."""
    conf = np.asarray(confidence, dtype=np.float32)
    epochs = np.arange(1, len(conf) + 1)
    colors = [CORRECT_COLOR if c == 1 else WRONG_COLOR for c in np.asarray(correct)]
    fig = go.Figure(go.Scatter(x=epochs, y=conf, mode="lines+markers", marker=dict(color=colors, size=9),
                               line=dict(color="#999"), hovertemplate="epoch %{x}: %{y:.1%}<extra></extra>"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), showlegend=False,
                      xaxis=dict(title="epoch", tickmode="linear", dtick=max(1, len(conf) // 10)),
                      yaxis=dict(title="probability of the label", range=[0, 1], tickformat=".0%"))
    return fig
