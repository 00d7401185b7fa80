"""Runs trained by another process — a Ray worker, `python -m core train` in a terminal, another
dashboard server — shown live from their run folders, with Stop.

This server's own queue draws its runs in ui/live.py from the job runner's memory, batch by batch.
A run trained elsewhere is known only through its folder (status.json, metrics.csv), which changes
once per epoch, so this panel shows per-epoch progress and curves and looks again every REFRESH_S s
while such a run is queued or training. With none, it draws nothing and does not poll: a run
started elsewhere later shows up at the next page run.
"""
from __future__ import annotations

import streamlit as st

from core import ray_backend
from core.run_files import ACTIVE
from ui import state
from ui.text import plain

REFRESH_S = 5.0


def active_elsewhere(store) -> list:
    """Queued or running runs of the store that this server's job runner does not hold."""
    snap = state.snapshot()
    own = {j.run_id for j in snap["queue"]} | ({snap["live"].run_id} if snap["live"] else set())
    return [r for r in store.list() if not r.damaged and r.state in ACTIVE and r.run_id not in own]


def panel() -> None:
    store = state.store()
    shown = [r.run_id for r in active_elsewhere(store)]
    if not shown:
        return

    @st.fragment(run_every=REFRESH_S)
    def runs():
        records = [store.record(r) for r in shown]
        if not any(r.state in ACTIVE for r in records) or {r.run_id for r in active_elsewhere(store)} - set(shown):
            st.rerun()  # all ended, or another one started: redraw the page once (polling stops when none is left)
        st.markdown(f"**Training elsewhere** ({len(records)}) · from the run folders, every {REFRESH_S:g} s")
        for rec in records:
            _card(store, rec)

    runs()


def where(rec) -> str:
    s = rec.status
    if rec.state == "queued":
        return "waiting for a Ray worker" if s.backend == "ray" else f"queued by process {s.pid} on {s.host}"
    kind = "Ray worker" if s.backend == "ray" else "process"
    return f"{kind} {s.pid} on {s.host}" + (f" · {s.device}" if s.device else "")


def _stop(store, run_id: str) -> None:
    outcome = ray_backend.stop(store, run_id)
    st.toast({"removed": "Removed from the Ray queue.", "ended": "It had already ended."}.get(
        outcome, "Stopping after the current batch…"))


def _card(store, rec) -> None:
    from ui.train_figures import live_figure  # Plotly: only when something trains

    cfg, s = rec.config, rec.status
    with st.container(border=True):
        head, stop = st.columns([5, 1], vertical_alignment="center")
        head.markdown(f"**{plain(rec.name)}** · {rec.state}  \n`{rec.run_id}` · {cfg.arch} on {cfg.dataset} · "
                      f"{cfg.optimizer} lr {cfg.lr:g} · {where(rec)}")
        stopping = store.stop_requested(rec.run_id)
        if rec.state in ACTIVE:
            stop.button("Stopping…" if stopping else "Stop", key=f"elsewhere_stop_{rec.run_id}",
                        icon=":material/stop_circle:", disabled=stopping, on_click=_stop, args=(store, rec.run_id),
                        help="Ends within one batch wherever it trains; completed epochs and the last checkpoint "
                             "are kept.")
        epochs = s.epochs or cfg.epochs
        text = f"{s.epochs_done}/{epochs} epochs"
        if s.message:
            text += f" · {s.message}"
        st.progress(min(s.epochs_done / max(epochs, 1), 1.0), text=text)
        if not rec.metrics:
            return
        last = rec.metrics[-1]
        m = st.columns(4)
        m[0].metric("Val acc. (last epoch)", f"{last['val_acc']:.2%}")
        m[1].metric("Best", f"{s.best_val_acc:.2%}" if s.best_val_acc is not None else "–",
                    help=f"at epoch {s.best_epoch}" if s.best_epoch else None)
        m[2].metric("Seconds per epoch", f"{last['epoch_seconds']:.1f}")
        left = (epochs - s.epochs_done) * last["epoch_seconds"]
        m[3].metric("ETA", f"{left:.0f}s" if rec.state == "running" else "–")
        st.plotly_chart(live_figure([], rec.metrics, s.best_epoch), key=f"elsewhere_chart_{rec.run_id}")


# ---- sending a run to Ray from the Train page ----------------------------------------------------

BACKEND_TITLES = {"local": "This server's queue", "ray": "Ray"}
BACKEND_HELP = ("**This server's queue** trains one run at a time in this dashboard's process, with batch-by-batch "
                "progress. **Ray** sends each run to a Ray cluster as a task (on a GPU when the run's device is cuda, "
                "else its CPU threads), so several runs train at once; progress shows per epoch under *Training "
                f"elsewhere*. The cluster comes from ${ray_backend.ADDRESS_ENV}; without it a Ray is started on this "
                "machine (once, ~8 s).")


def backend_picker() -> str:
    """Where the Train button sends a run; says how to enable Ray when it is not installed."""
    if not ray_backend.installed():
        st.caption(":material/hub: Several runs at once, or on a GPU cluster: install Ray with "
                   f"`{ray_backend.INSTALL_HINT}` and restart the app.")
        return "local"

    def remember():
        state.put(state.TRAIN_BACKEND, st.session_state["train_backend_picker"] or "local")

    address = ray_backend.resolve_address()
    titles = {**BACKEND_TITLES, "ray": f"Ray ({'this machine' if address == ray_backend.LOCAL else address})"}
    st.session_state["train_backend_picker"] = state.get(state.TRAIN_BACKEND)
    st.segmented_control("Train on", list(titles), format_func=titles.get, key="train_backend_picker",
                         on_change=remember, help=BACKEND_HELP)
    return state.get(state.TRAIN_BACKEND) or "local"


def send_to_ray(cfg) -> str:
    """Create the run and submit it to Ray; RunError (RayUnavailable included) says why not."""
    from core import data

    store = state.store()
    ray_backend.connect()  # before the run exists: a missing or unreachable Ray leaves nothing behind
    run_id = store.create(cfg, status="queued")
    try:
        ray_backend.submit_runs(store, [run_id], data_dir=data.data_dir())
    except BaseException as exc:
        store.transition(run_id, "failed", f"could not be sent to Ray: {exc}")
        store.release(run_id)
        raise
    return run_id
