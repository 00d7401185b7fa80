"""The sidebar every page shares: device, data folder and the current job."""
from __future__ import annotations

import streamlit as st

from core import data
from ui import live as live_panel, state, warmup
from ui.text import plain


def render(*, poll: bool = True) -> None:
    """`poll=False` on pages with their own live panel: one polling view of the job is enough."""
    with st.sidebar:
        _devices()
        st.caption(f":material/folder: Data: `{data.data_dir()}`")
        st.caption(f":material/save: Runs: `{state.store().root}`")
        snap = state.snapshot()
        _job_status(run_every=live_panel.cadence(snap["live"])[0] if snap["busy"] and poll else None,
                    poll=poll)


def _devices() -> None:
    if warmup.ready():
        from core.trainer import available_devices

        devices = available_devices()
        st.caption(f":material/memory: Devices: **{', '.join(devices)}**"
                   + ("" if len(devices) > 1 else " (no GPU found; training runs on the CPU)"))
        return

    @st.fragment(run_every=0.5)
    def pending():
        # asking torch which devices exist would make the first page wait for its import
        if warmup.ready():
            st.rerun()  # once: the page redraws with the device list and this stops polling
        st.caption(":material/memory: Devices: loading PyTorch…")

    pending()


def _job_status(run_every, poll: bool):
    @st.fragment(run_every=run_every)
    def job_status():
        snap = state.snapshot()
        live, queue = snap["live"], snap["queue"]
        if live is None and not queue:
            st.caption(":material/check_circle: Nothing training in this server's queue.")
            if run_every:  # the job just ended: redraw the page once so it stops polling
                st.rerun()
            return
        if live is not None:
            st.markdown(f"**Training** {plain(live.name)}")
            if not poll:  # this page's own live panel shows the progress; a frozen copy would mislead
                st.caption("Progress is in the live panel on this page.")
                return
            st.progress(live.progress, text=f"epoch {max(live.epoch, 1)}/{live.epochs} · "
                        f"{live.images_per_sec:,.0f} img/s")
        if queue:
            st.caption(f"{len(queue)} run(s) queued")
        st.page_link(state.TRAIN, label="Open the live panel", icon=":material/monitoring:")

    job_status()
