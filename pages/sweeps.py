"""Sweeps: one sweep's runs with their live status, a parallel-coordinates plot of what was varied
against the accuracy reached, which fields mattered, and the best configuration with one-click
follow-ups (train it longer, or on the full dataset)."""
from __future__ import annotations

import streamlit as st

from core import data, run_files, sweeps
from core.config import ConfigError, best_basis_note, field_info
from core.runs import RunError
from ui import live, state
from ui import sweep_figures as figs
from ui.text import plain

state.init()
st.title("Sweeps")
state.show_flash()
store = state.store()
found, unreadable = sweeps.list_sweeps(store)
for line in unreadable:
    st.warning(f"{plain(line)} — the file in {run_files.SWEEPS}/ may have been edited or truncated; its runs "
               "are still on the Runs page.")
if not found:
    st.info("No sweeps yet. On the Train page, switch on **Sweep: try several values** under the form, or run "
            "`python -m core sweep --preset lenet5_mnist_sample --grid lr=0.003,0.01,0.03 --grid optimizer=sgd,adam "
            "--epochs 1`.")
    st.page_link(state.TRAIN, label="Go to Train", icon=":material/play_circle:")
    st.stop()

by_id = {s.sweep_id: s for s in found}
if state.get(state.SWEEP_SELECTED) not in by_id:
    st.session_state[state.SWEEP_SELECTED] = found[0].sweep_id
sweep = by_id[st.selectbox("Sweep", list(by_id), key=state.SWEEP_SELECTED, format_func=lambda i: by_id[i].title)]

PERCENT = {"format": "%.1f%%", "width": "small"}
COLUMNS = {
    "status": st.column_config.TextColumn("Status", width="small"),
    "epochs_done": st.column_config.NumberColumn("Epochs done", width="small"),
    "best_val_acc": st.column_config.NumberColumn("Best val acc", **PERCENT),
    "final_val_acc": st.column_config.NumberColumn("Final val acc", **PERCENT),
    "test_acc": st.column_config.NumberColumn("Test acc", **PERCENT),
    "train_seconds": st.column_config.NumberColumn("Training time", format="%.1f s"),
    "message": st.column_config.TextColumn("Note", width="large"),
    "run_id": st.column_config.TextColumn("Run id"),
}
stopping = (f"median stopping rule from epoch {sweep.grace_epochs}" if sweep.early_stopping
            else "no early stopping")
st.caption(f"Varies {', '.join(sweep.fields)} · backend {sweep.backend} · {stopping} · id `{sweep.sweep_id}`")


def _frame():
    return sweeps.table(store, sweep)


def _active(frame) -> bool:
    return bool(frame["status"].isin(["queued", "running"]).any())


first = _frame()


@st.fragment(run_every=live.cadence(state.snapshot()["live"])[0] if _active(first) else None)
def runs_table():
    frame = _frame()
    done = int(frame["status"].isin(["completed", "stopped", "failed", "interrupted"]).sum())
    st.progress(done / max(len(frame), 1), text=f"{done} of {len(frame)} runs ended")
    shown = frame.assign(**{c: frame[c] * 100 for c in ("best_val_acc", "final_val_acc", "test_acc")})
    labels = {f: st.column_config.Column(field_info(f)["label"]) for f in sweep.fields}
    st.dataframe(shown, hide_index=True, column_config={**COLUMNS, **labels}, key="sweep_table", placeholder="—",
                 column_order=["status", *sweep.fields, "epochs_done", "best_val_acc", "final_val_acc",
                               "test_acc", "train_seconds", "message", "run_id"])
    if len(sweeps.finished(frame)) != len(sweeps.finished(first)) or _active(frame) != _active(first):
        st.rerun(scope="app")  # a run ended: the plot, importances and best configuration change


runs_table()


def _stop_sweep() -> None:
    """Take the sweep's waiting runs off the queue and stop the one training (local backend)."""
    runner = state.runner()
    removed = sum(runner.cancel(run_id) for run_id in sweep.run_ids)
    live_run = runner.snapshot()["live"]
    stopped = live_run is not None and live_run.run_id in sweep.run_ids and runner.stop()
    state.flash("info", f"Removed {removed} waiting run(s) from the queue" + (" and stopped the one training" if stopped
                else "") + "; finished runs are kept, and stopped ones can be resumed from the Runs page.")


def _stop_ray_sweep() -> None:
    """Stop every run of a sweep on Ray, wherever its task is (the store's stop request)."""
    from core import ray_backend

    outcomes = [ray_backend.stop(state.store(), run_id) for run_id in sweep.run_ids]
    state.flash("info", f"Removed {outcomes.count('removed')} waiting run(s) from the Ray queue and asked "
                f"{outcomes.count('requested')} to stop after their current batch; finished runs are kept, and "
                "stopped ones can be resumed from the Runs page.")


if _active(first) and sweep.backend == "local" and state.runner_exists():
    st.button("Stop the sweep", icon=":material/stop:", key="sweep_stop", on_click=_stop_sweep)
elif _active(first) and sweep.backend == "ray":
    st.button("Stop the sweep", icon=":material/stop:", key="sweep_stop", on_click=_stop_ray_sweep)

finished = sweeps.finished(first)
if finished.empty:
    st.info("The plot, importances and best configuration appear as runs finish.")
    st.stop()

st.subheader("What was tried, and what it reached")
st.plotly_chart(figs.parallel_coordinates(finished, sweep.fields), key="sweep_parcoords")
st.caption("One line per finished run (completed, or stopped after some epochs), from its values to the best "
           "validation accuracy it reached; drag along an axis to keep only the lines crossing there.")


@st.cache_data(show_spinner=False, max_entries=32)
def _importance(rows: tuple, fields: tuple) -> dict:
    import pandas as pd

    return sweeps.importance(pd.DataFrame(list(rows), columns=[*fields, sweeps.METRIC]), list(fields))


st.subheader("Which fields mattered")
rows = tuple(map(tuple, finished[[*sweep.fields, sweeps.METRIC]].itertuples(index=False)))
scores = _importance(rows, tuple(sweep.fields))
if not scores:
    st.info(f"Importances need at least {sweeps.MIN_FOR_IMPORTANCE} finished runs ({len(finished)} so far).")
else:
    st.plotly_chart(figs.importance_bars(scores), key="sweep_importance")
    st.caption(f"Permutation importance (scikit-learn) of a random forest fitted to the {len(finished)} finished "
               "runs: how much worse the forest predicts the best validation accuracy when one field's values are "
               "shuffled. With few runs it is a rough guide; a seed that scores high means the differences are "
               "mostly noise.")

st.subheader("Best configuration")
top = sweeps.best(first)
rec = store.record(top["run_id"])
cfg = rec.config
values = ", ".join(f"{f} = {top[f]}" for f in sweep.fields)
st.markdown(f"**{plain(rec.name)}** — {values}: best validation accuracy **{top['best_val_acc']:.2%}**"
            + (f", test accuracy {top['test_acc']:.2%}" if top["test_acc"] == top["test_acc"] else "") + ".")
st.caption(best_basis_note(cfg))


def _queue(make, what: str) -> None:
    try:
        run_id = state.runner().submit(make(cfg))
    except (ConfigError, RunError, OSError) as exc:
        state.flash("error", f"Could not queue {what}: {plain(exc)}")
        return
    state.flash("success", f"Queued `{run_id}` ({what}); it shows on the Runs page and the Train page's live panel.")


left, right = st.columns(2)
longer = sweeps.longer(cfg)
left.button(f"Train this longer ({longer.epochs} epochs)", icon=":material/more_time:", key="sweep_longer",
            on_click=_queue, args=(sweeps.longer, f"the best configuration for {longer.epochs} epochs"))
full = sweeps.on_full_dataset(cfg)
if full is None:
    right.button("On the full dataset", key="sweep_full", disabled=True,
                 help=f"{cfg.dataset} is already a full dataset.")
else:
    ready = data.status(full.dataset).ready
    right.button(f"Train on the full dataset ({data.info(full.dataset).title})", icon=":material/dataset:",
                 key="sweep_full", disabled=not ready, on_click=_queue,
                 args=(sweeps.on_full_dataset, f"the best configuration on {full.dataset}"),
                 help=None if ready else f"{full.dataset} is not available here yet: get it on the Data page.")
    if not ready:
        right.caption(f"{data.info(full.dataset).title} is not in the data folder yet.")
        right.page_link(state.DATA, label="Get it on the Data page", icon=":material/dataset:")
