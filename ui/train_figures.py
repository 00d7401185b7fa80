"""Pure Plotly builders for the Train page: LR preview, LR finder, live curves."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

HEIGHT = 300


def _layout(fig: go.Figure, title: str, height: int = HEIGHT) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", yanchor="top", y=-0.22, x=0, xanchor="left"))
    return fig


def _lr_range(lrs) -> list[float]:
    # from zero, so a constant LR is a flat line at its value, not one centred on a ±1 axis
    top = max(lrs) if lrs else 1.0
    return [0, top * 1.1 if top > 0 else 1.0]


def lr_preview_figure(lrs: list[float], steps_per_epoch: int, note: str = "", *, steps: bool = False,
                      log: bool = False, stalled: list[float] | None = None) -> go.Figure:
    """The LR of every batch. `steps` draws a stepwise schedule as the staircase it is (each point is
    the LR from the start of its batch on); `stalled` adds ReduceLROnPlateau's other bound."""
    x = [i / steps_per_epoch for i in range(len(lrs))]
    shape = "hv" if steps else "linear"
    hover = "epoch %{x:.2f}<br>lr %{y:.3g}<extra></extra>"
    fig = go.Figure(go.Scatter(x=x, y=lrs, mode="lines", line_shape=shape, hovertemplate=hover,
                               name="while val loss improves" if stalled is not None else "learning rate"))
    if stalled is not None:
        fig.add_trace(go.Scatter(x=x, y=stalled, mode="lines", line_shape=shape, line_dash="dash",
                                 name="if val loss never improves", hovertemplate=hover))
        fig.add_annotation(text="depends on the validation loss: the run's LR lies between these lines",
                           xref="paper", yref="paper", x=0.5, y=1.0, yanchor="bottom", showarrow=False,
                           font=dict(size=11))
    fig.update_xaxes(title="epoch")
    if log:
        fig.update_yaxes(title="learning rate (log scale)", type="log", exponentformat="power")
    else:
        fig.update_yaxes(title="learning rate", range=_lr_range(lrs + (stalled or [])))
    fig.update_layout(showlegend=stalled is not None)
    return _layout(fig, "Learning-rate schedule" + (f" ({note})" if note else ""), 260 + 40 * (stalled is not None))


def lr_finder_figure(lrs, losses, suggestion=None) -> go.Figure:
    fig = go.Figure(go.Scatter(x=lrs, y=losses, mode="lines", name="smoothed loss",
                               hovertemplate="lr %{x:.2g}<br>loss %{y:.4f}<extra></extra>"))
    if suggestion:
        fig.add_vline(x=suggestion, line_dash="dash", line_color="green",
                      annotation_text=f"suggested {suggestion:.2g}")
    fig.update_xaxes(type="log", title="learning rate")
    fig.update_yaxes(title="loss")
    return _layout(fig, "LR finder", 280)


def live_figure(steps: list[tuple], epoch_rows: list[dict], best_epoch: int = 0, lr_steps: bool = False) -> go.Figure:
    """Loss (per batch and per epoch), accuracy per epoch and LR, sharing the epoch axis.

    `lr_steps` draws a stepwise schedule's LR as steps: each point is a batch's LR at the batch's
    end, so the step comes before the point ("vh")."""
    fig = make_subplots(rows=1, cols=3, subplot_titles=("Loss", "Accuracy", "Learning rate"),
                        horizontal_spacing=0.07)
    if steps:
        x = [s[1] for s in steps]
        fig.add_trace(go.Scatter(x=x, y=[s[2] for s in steps], mode="lines", name="batch loss",
                                 line=dict(width=1, color="rgba(99,110,250,0.35)")), 1, 1)
        fig.add_trace(go.Scatter(x=x, y=[s[3] for s in steps], mode="lines", name="running loss",
                                 line=dict(color="#636efa")), 1, 1)
        fig.add_trace(go.Scatter(x=x, y=[s[4] for s in steps], mode="lines", name="lr",
                                 line=dict(color="#00a37a", shape="vh" if lr_steps else "linear"),
                                 showlegend=False), 1, 3)
    if epoch_rows:
        ep = [r["epoch"] for r in epoch_rows]
        fig.add_trace(go.Scatter(x=ep, y=[r["train_loss"] for r in epoch_rows], mode="lines+markers",
                                 name="train loss (epoch)", line=dict(color="#1f3bbf")), 1, 1)
        fig.add_trace(go.Scatter(x=ep, y=[r["val_loss"] for r in epoch_rows], mode="lines+markers",
                                 name="val loss", line=dict(color="#ef553b")), 1, 1)
        fig.add_trace(go.Scatter(x=ep, y=[r["train_acc"] for r in epoch_rows], mode="lines+markers",
                                 name="train acc", line=dict(color="#1f3bbf")), 1, 2)
        fig.add_trace(go.Scatter(x=ep, y=[r["val_acc"] for r in epoch_rows], mode="lines+markers",
                                 name="val acc", line=dict(color="#ef553b")), 1, 2)
        if not steps:  # a run known only from its folder (trained elsewhere): the LR of each epoch
            fig.add_trace(go.Scatter(x=ep, y=[r["lr"] for r in epoch_rows], mode="lines+markers", name="lr",
                                     line=dict(color="#00a37a"), showlegend=False), 1, 3)
        if best_epoch:
            best = next((r for r in epoch_rows if r["epoch"] == best_epoch), None)
            if best:
                fig.add_trace(go.Scatter(x=[best_epoch], y=[best["val_acc"]], mode="markers+text",
                                         name="best", text=[f"best {best['val_acc']:.1%}"],
                                         textposition="bottom center",
                                         marker=dict(symbol="star", size=14, color="gold",
                                                     line=dict(color="black", width=1))), 1, 2)
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(tickformat=".0%", row=1, col=2)
    fig.update_yaxes(range=_lr_range([s[4] for s in steps] or [r["lr"] for r in epoch_rows]), row=1, col=3)
    if not steps and not epoch_rows:  # before the first batch: the panel titles without made-up axes
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
    return _layout(fig, "", 380)
