"""The live job panel: fragments that redraw every few seconds while something trains.

It reads `JobRunner.snapshot()` (a copy made under the runner's lock); the training thread never
touches Streamlit. When nothing is queued or running the fragment stops polling.
"""
from __future__ import annotations

import time

import streamlit as st

from ui import state
from ui.train_figures import live_figure



def _fmt_seconds(seconds) -> str:
    if seconds is None:
        return "estimating…"
    seconds = int(seconds)
    return f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


# Every redraw costs the browser CPU time that training on a laptop's few cores would otherwise
# get (benchmarks/dashboard_overhead.py, fast_mnist, 17.6 s from the CLI): numbers every 1 s and
# the chart every 3 s took 22-28 s with the Train page open; every 2 s and 5 s, 21-22 s; every
# 2 s and 10 s, 19 s; no redraws at all, 20 s.
STATUS_SECONDS = 2.0
CHART_SECONDS = 5.0


def panel(*, compact: bool = False) -> None:
    busy = state.snapshot()["busy"]

    @st.fragment(run_every=STATUS_SECONDS if busy else None)
    def live():
        snap = state.snapshot()
        if busy and not snap["busy"]:
            st.rerun()  # the job ended: redraw the page once (final metrics), then stop polling
        if snap["live"] is not None:
            _running(snap["live"])
        if snap["queue"]:
            _queue(snap["queue"], compact)
        if not snap["busy"]:
            _last_finished(snap["finished"], compact)

    @st.fragment(run_every=CHART_SECONDS if busy else None)
    def chart():
        live_run = state.snapshot()["live"]
        if live_run is not None and live_run.phase != "loading":
            st.plotly_chart(live_figure(live_run.steps, live_run.epoch_rows, live_run.best_epoch), key="live_chart")

    live()
    if not compact and busy:
        chart()


def _running(live) -> None:
    with st.container(border=True):
        head, stop = st.columns([5, 1])
        head.markdown(f"**Training:** {live.name}  \n`{live.run_id}` · {live.config['arch']} on "
                      f"{live.config['dataset']} · {live.config['optimizer']} lr {live.config['lr']:g}")
        if stop.button("Stop", key="live_stop", icon=":material/stop_circle:", type="secondary",
                       help="Ends within one batch; completed epochs and the last checkpoint are kept."):
            state.runner().stop()
            st.toast("Stopping after the current batch…")
        if live.phase == "loading":
            st.progress(0.0, text="Loading data and building the model…")
            return
        batch_text = f"batch {live.batch}/{live.batches}" if live.batches else ""
        st.progress(live.progress, text=f"Epoch {max(live.epoch, 1)}/{live.epochs} · {batch_text}"
                    + (" · final evaluation…" if live.phase == "evaluating" else ""))
        m = st.columns(4)
        m[0].metric("Images/s", f"{live.images_per_sec:,.0f}")
        m[1].metric("ETA", _fmt_seconds(live.eta_seconds))
        running = live.steps[-1][3] if live.steps else None
        m[2].metric("Running loss", f"{running:.4f}" if running is not None else "–")
        last = live.epoch_rows[-1] if live.epoch_rows else None
        m[3].metric("Validation acc.", f"{last['val_acc']:.2%}" if last else "–",
                    help=f"best {live.best_val_acc:.2%} at epoch {live.best_epoch}" if live.best_epoch else None)


def _queue(queue, compact: bool) -> None:
    st.markdown(f"**Queue** ({len(queue)})")
    for job in queue:
        a, b = st.columns([5, 1])
        a.write(f"{job.name} · `{job.run_id}`" + (" (resume)" if job.resume else ""))
        if not compact and b.button("Remove", key=f"unqueue_{job.run_id}", icon=":material/close:"):
            state.runner().cancel(job.run_id)
            st.rerun()


def _last_finished(finished, compact: bool) -> None:
    if not finished:
        st.caption("Nothing is training right now.")
        return
    done = finished[0]
    if time.time() - done.started_at > 24 * 3600:
        return
    kind = {"completed": st.success, "stopped": st.warning}.get(done.status, st.error)
    last = done.epoch_rows[-1] if done.epoch_rows else None
    detail = (f" Final validation accuracy {last['val_acc']:.2%}, best {done.best_val_acc:.2%} at epoch "
              f"{done.best_epoch}." if last else "")
    kind(f"Last run **{done.name}** {done.status}: {done.message}.{detail}")
    if last:
        if not compact:
            st.plotly_chart(live_figure(done.steps, done.epoch_rows, done.best_epoch), key="done_chart")
        if st.button("Evaluate this run", key=f"eval_{done.run_id}", icon=":material/fact_check:"):
            st.session_state[state.SELECTED_RUN] = done.run_id
            st.switch_page(state.EVALUATE)
