"""The live job panel: fragments that redraw every few seconds while something trains.

It reads `JobRunner.snapshot()` (a copy made under the runner's lock); the training thread never
touches Streamlit. When nothing is queued or running the fragment stops polling.
"""
from __future__ import annotations

import time

import streamlit as st

from ui import state
from ui.text import plain

# While a run trains on the CPU, the browser drawing this panel competes with PyTorch for the same
# cores, and a second of browser CPU costs training about a second (both compute threads wait
# whenever one is descheduled). Measured in headless Chromium on a 2-core CPU
# (benchmarks/dashboard_overhead.py): a redraw of the three-panel Plotly chart whose data changed
# costs ~0.4 s of browser CPU whatever its number of points (its first draw ~0.8 s), a refresh of
# the numbers ~0.1 s, and Streamlit's animations (skeleton shimmer, the running indicator, fades)
# burn CPU for as long as they play.
REFRESH = {  # mode: (numbers every s, chart every s)
    "light": (5.0, 30.0),
    "smooth": (1.5, 5.0),
}
REFRESH_TITLES = {"light": "Light", "smooth": "Smooth"}
REFRESH_HELP = ("How often the live panel redraws. On the CPU every redraw takes time from training: "
                "**Light** (numbers every 5 s, curves every 30 s) kept the slowdown within 3% on a 2-core "
                "CPU, **Smooth** (1.5 s / 5 s) made the same run a third slower. On a GPU, Smooth is "
                "the default.")
STILL_CSS = "<style>*, *::before, *::after { animation: none !important; transition: none !important; }</style>"


def refresh_mode(live_run) -> str:
    chosen = state.get(state.LIVE_REFRESH)
    if chosen in REFRESH:
        return chosen
    return "light" if live_run is None or live_run.on_cpu else "smooth"


def cadence(live_run) -> tuple[float, float]:
    """(numbers, chart) refresh seconds for this session and this run."""
    return REFRESH[refresh_mode(live_run)]


def hold_still() -> None:
    """Switch off the app's animations while a run trains on the CPU (called by the router)."""
    live_run = state.snapshot()["live"]
    if live_run is not None and live_run.on_cpu:
        st.html(STILL_CSS)


def _fmt_seconds(seconds) -> str:
    if seconds is None:
        return "estimating…"
    seconds = int(seconds)
    return f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def panel(*, compact: bool = False) -> None:
    snap = state.snapshot()
    busy, shown = snap["busy"], snap["live"]
    numbers_s, chart_s = cadence(shown)
    if shown is not None:
        _header(shown)  # drawn once per page run, not on every tick

    @st.fragment(run_every=numbers_s if busy else None)
    def numbers():
        snap = state.snapshot()
        now = snap["live"]
        if (busy and not snap["busy"]) or (now is not None and (shown is None or now.run_id != shown.run_id)):
            st.rerun()  # the job ended or the next one started: redraw the page once
        if now is not None:
            _progress(now)
        if snap["queue"]:
            _queue(snap["queue"], compact)
        if not snap["busy"]:
            _last_finished(snap["finished"], compact)

    # The chart has a fragment of its own so that a tick of the numbers does not send it again. It
    # looks every few seconds but takes new data only when curves_to_draw says so (see there).
    @st.fragment(run_every=min(chart_s, max(numbers_s, EARLY_LOOK_S)) if busy else None)
    def chart():
        now = state.snapshot()["live"]
        if now is not None:
            _chart(curves_to_draw(now, chart_s), chart_s)

    numbers()
    if busy and not compact:
        redraw_curves()  # a page run shows the curves as they are now
        chart()
        _refresh_picker(shown)


# ---- when the curves take new data ---------------------------------------------------------------
# Light mode redraws the curves every 30 s: a run of 16 s would show none while it trains. So the
# chart fragment looks every EARLY_LOOK_S and takes new data early twice per run - its first steps,
# its first finished epoch - and otherwise every `every` seconds. Sending the same data again costs
# the browser almost nothing (measured: ~15 ms per tick against ~0.4 s for a redraw with new data),
# so the extra looks stay far below the 5% the dashboard may cost training.
EARLY_LOOK_S = 5.0


def redraw_curves() -> None:
    """Make the chart take the run's current data at its next draw."""
    drawn = state.get(state.LIVE_CHART)
    if drawn:
        drawn["at"] = 0.0


def curves_to_draw(live, every: float):
    """The live run as the chart should show it now: `live` when a redraw is due, else the copy
    the chart drew last."""
    drawn = state.get(state.LIVE_CHART)
    due = (not drawn or drawn["run_id"] != live.run_id
           or (not drawn["live"].steps and live.steps)                  # the first curves
           or (not drawn["live"].epoch_rows and live.epoch_rows)        # the first finished epoch
           or time.time() - drawn["at"] >= every)
    if due:
        drawn = {"run_id": live.run_id, "live": live, "at": time.time()}
        state.put(state.LIVE_CHART, drawn)
    return drawn["live"]


def held_out(live) -> str:
    """What the epoch-end accuracy is measured on: a validation share, or the test set without one."""
    return "validation" if live.config.get("val_split") else "test"


def _basis(live) -> str:
    from core.config import RunConfig, best_basis_note

    try:
        return best_basis_note(RunConfig.from_dict(live.config, strict=False))
    except ValueError:
        return ""


def _header(live) -> None:
    head, stop = st.columns([5, 1], vertical_alignment="center")
    head.markdown(f"**Training:** {plain(live.name)}  \n`{live.run_id}` · {live.config['arch']} on "
                  f"{live.config['dataset']} · {live.config['optimizer']} lr {live.config['lr']:g} · {live.device}")
    if stop.button("Stop", key="live_stop", icon=":material/stop_circle:", type="secondary",
                   help="Ends within one batch; completed epochs and the last checkpoint are kept."):
        state.runner().stop()
        st.toast("Stopping after the current batch…")


def _progress(live) -> None:
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
    on = held_out(live)
    m[3].metric(f"{on.capitalize()} acc.", f"{last['val_acc']:.2%}" if last else "–",
                help=(f"best {live.best_val_acc:.2%} at epoch {live.best_epoch}. " if live.best_epoch else "")
                + _basis(live))


def _lr_steps(live) -> bool:
    from core.config import STEPWISE_SCHEDULES

    return live.config.get("schedule") in STEPWISE_SCHEDULES


def _chart(live, every: float) -> None:
    from ui.train_figures import live_figure  # Plotly: not needed for a first page with no runs

    if live.steps:
        drawn = state.get(state.LIVE_CHART)
        if drawn and drawn["live"] is live:  # sent again unchanged: build it once (~30 ms of CPU)
            figure = drawn.get("figure") or drawn.setdefault(
                "figure", live_figure(live.steps, live.epoch_rows, live.best_epoch, _lr_steps(live)))
        else:
            figure = live_figure(live.steps, live.epoch_rows, live.best_epoch, _lr_steps(live))
        st.plotly_chart(figure, key="live_chart")
    else:
        # empty axes while the data loads: the browser builds the chart before the training clock
        # starts (a first draw costs about twice a redraw), and the page does not jump later
        st.plotly_chart(live_figure([], [], 0), key="live_chart")
        st.caption(f"The loss, accuracy and learning-rate curves fill in here every {every:g} s.")
    if every > 10:
        # a click reruns only this fragment: the curves as they are now, without faster refreshes
        st.button("Redraw the curves now", key="live_chart_now", icon=":material/refresh:",
                  on_click=redraw_curves, help=f"The curves redraw by themselves every {every:g} s.")


def _refresh_picker(live_run) -> None:
    def remember():
        state.put(state.LIVE_REFRESH, st.session_state["live_refresh_picker"])

    st.session_state["live_refresh_picker"] = refresh_mode(live_run)
    st.segmented_control("Live updates", list(REFRESH), format_func=REFRESH_TITLES.get,
                         key="live_refresh_picker", on_change=remember, help=REFRESH_HELP)


def _queue(queue, compact: bool) -> None:
    st.markdown(f"**Queue** ({len(queue)})")
    for job in queue:
        a, b = st.columns([5, 1])
        a.write(f"{plain(job.name)} · `{job.run_id}`" + (" (resume)" if job.resume else ""))
        if not compact and b.button("Remove", key=f"unqueue_{job.run_id}", icon=":material/close:"):
            state.runner().cancel(job.run_id)
            st.rerun()


def _last_finished(finished, compact: bool) -> None:
    if not finished:
        st.caption("Nothing is training in this server's queue right now.")
        return
    done = finished[0]
    if time.time() - done.started_at > 24 * 3600:
        return
    kind = {"completed": st.success, "stopped": st.warning}.get(done.status, st.error)
    last = done.epoch_rows[-1] if done.epoch_rows else None
    detail = (f" Final {held_out(done)} accuracy {last['val_acc']:.2%}, best {done.best_val_acc:.2%} at epoch "
              f"{done.best_epoch}." if last else "")
    kind(f"Last run **{plain(done.name)}** {done.status}: {plain(done.message)}.{detail}")
    if last:
        if not compact:
            from ui.train_figures import live_figure

            st.plotly_chart(live_figure(done.steps, done.epoch_rows, done.best_epoch, _lr_steps(done)),
                            key="done_chart")
        if st.button("Evaluate this run", key=f"eval_{done.run_id}", icon=":material/fact_check:"):
            state.put(state.SELECTED_RUN, done.run_id)
            st.switch_page(state.EVALUATE)
