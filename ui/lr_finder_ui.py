"""The LR finder on the Train page: queued in the job runner, shown for the config it swept.

The sweep runs in the training thread (core/jobs.py), so it never competes with a run for the
cores and never blocks the page. Its result is kept with the key of the settings it depends on
(`core.lr_finder.config_key`) as a saved draft (ui/state.py), so it survives page switches, a
reload and a server restart, and is never shown beside a config it does not describe.
"""
from __future__ import annotations

import streamlit as st

from core import lr_finder
from core.config import RunConfig
from ui import config_form, state
from ui.text import plain

POLL_SECONDS = 1.0


def _keep(key: str, result) -> None:
    if isinstance(result, str):
        saved = {"error": result}
    else:
        saved = {"lrs": list(result.lrs), "losses": list(result.losses), "suggestion": result.suggestion,
                 "note": result.note}
    kept = state.get(state.LR_FINDER)
    if not (isinstance(kept, dict) and kept.get("key") == key):
        state.put(state.LR_FINDER, {"key": key, **saved})


def _status(key: str):
    return state.runner().lr_finder(key) if state.runner_exists() else (None, None)


def panel(cfg: RunConfig) -> None:
    """The finder's button, its progress while queued or sweeping, then its chart and suggestion."""
    key = lr_finder.config_key(cfg)
    st.caption(f"The LR finder raises the learning rate exponentially over {lr_finder.STEPS} batches, with "
               "this run's augmentation and settings on a fresh copy of the model, and suggests where the "
               "loss falls fastest.")
    if st.button("Run the LR finder", icon=":material/search:", key="lr_find"):
        state.runner().submit_lr_finder(cfg)
    status, result = _status(key)
    if status in ("queued", "running"):
        _waiting(key)
        return
    if status == "done":
        _keep(key, result)
    _show(key)


def _waiting(key: str) -> None:
    @st.fragment(run_every=POLL_SECONDS)
    def waiting():
        now, _ = _status(key)
        if now not in ("queued", "running"):
            st.rerun(scope="app")  # done: the page draws the result (outside this fragment) once
        if now == "queued":
            after = "after the current run finishes" if state.snapshot()["live"] is not None else "in a moment"
            st.info(f"The LR finder is queued; it starts {after} (it never runs beside training).",
                    icon=":material/hourglass_top:")
        else:
            st.info("Sweeping learning rates…", icon=":material/search:")

    waiting()


def _show(key: str) -> None:
    kept = state.get(state.LR_FINDER)
    if not isinstance(kept, dict):
        return
    if kept.get("key") != key:
        st.caption("The last LR-finder sweep was run with other settings (dataset, model, batch size, "
                   "optimizer or augmentation); run it again for these.")
        return
    if "error" in kept:
        st.error(plain(kept["error"]))
        return
    from ui.train_figures import lr_finder_figure

    st.plotly_chart(lr_finder_figure(kept["lrs"], kept["losses"], kept["suggestion"]), key="lr_finder_chart")
    st.caption(kept["note"])
    if kept["suggestion"]:
        suggested = float(f"{kept['suggestion']:.2g}")
        # a callback: it runs before the form's widgets exist, so it may set them
        st.button(f"Use {suggested:g} as the learning rate", key="lr_use",
                  on_click=config_form.set_values, kwargs={"lr": suggested})
