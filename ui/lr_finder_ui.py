"""The LR finder on the Train page: queued in the job runner, drawn from its result for this config.

The sweep runs in the training thread (core/jobs.py), so it never competes with a run for the
cores and never blocks the page. Its result lives in the runner keyed by the config it swept, so
it survives page switches and reloads and is never shown beside a config it does not describe.
"""
from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from core import lr_finder
from core.config import RunConfig
from ui import state

POLL_SECONDS = 1.0


def panel(cfg: RunConfig, use_lr: Callable[[float], None]) -> None:
    """The finder's button, progress and chart; `use_lr(value)` puts a suggestion into the form."""
    key = lr_finder.config_key(cfg)
    st.caption(f"The LR finder raises the learning rate exponentially over {lr_finder.STEPS} batches, with "
               "this run's augmentation and settings on a fresh copy of the model, and suggests where the "
               "loss falls fastest.")
    if st.button("Run the LR finder", icon=":material/search:", key="lr_find"):
        state.runner().submit_lr_finder(cfg)

    status, _ = state.runner().lr_finder(key) if state.runner_exists() else (None, None)

    @st.fragment(run_every=POLL_SECONDS if status in ("queued", "running") else None)
    def result_view():
        now, result = state.runner().lr_finder(key) if state.runner_exists() else (None, None)
        if now != status and status in ("queued", "running"):
            st.rerun()  # finished: redraw once so the polling stops
        if now == "queued":
            waiting = "after the current run finishes" if state.snapshot()["live"] is not None else "in a moment"
            st.info(f"The LR finder is queued; it starts {waiting} (it never runs beside training).",
                    icon=":material/hourglass_top:")
        elif now == "running":
            st.info("Sweeping learning rates…", icon=":material/search:")
        elif isinstance(result, str):
            st.error(result)
        elif result is not None:
            from ui.train_figures import lr_finder_figure

            st.plotly_chart(lr_finder_figure(result.lrs, result.losses, result.suggestion), key="lr_finder_chart")
            st.caption(result.note)
            if result.suggestion and st.button(f"Use {result.suggestion:.2g} as the learning rate", key="lr_use"):
                use_lr(float(f"{result.suggestion:.2g}"))
                st.rerun(scope="app")

    result_view()
