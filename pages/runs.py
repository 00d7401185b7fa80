"""Runs: every saved run in one table. Tick one run to rename, delete, clone, resume, open or
download it; tick two or more to compare their curves, settings and results side by side."""
from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from core import compare, metrics, run_files, tables
from core.runs import RunError
from ui import compare as compare_figs
from ui import elsewhere, evaluation, export_ui, runpicker, state, versus
from ui.text import plain

state.init()
st.title("Runs")
store = state.store()
records = store.list()
if not records:
    st.info("No runs saved yet. Train one first — the preset “LeNet-5 on the MNIST sample” takes "
            "about ten seconds and works offline.")
    st.page_link(state.TRAIN, label="Go to Train", icon=":material/play_circle:")
    st.stop()
by_id = {r.run_id: r for r in records}
elsewhere.panel()  # runs a Ray worker or a terminal trains, live (this server's own: the Train page)

PERCENT = {"format": "%.1f%%", "width": "small"}
COLUMN_CONFIG = {
    "status": st.column_config.TextColumn("Status", width="small"),
    "name": st.column_config.TextColumn("Name", width="medium"),
    "dataset": "Dataset", "arch": "Architecture", "optimizer": "Optimizer",
    "lr": st.column_config.NumberColumn("LR", format="%.4g"),
    "schedule": "Schedule",
    "epochs": st.column_config.NumberColumn("Epochs", width="small"),
    "best_val_acc": st.column_config.NumberColumn(
        "Best val acc", **PERCENT, help="the best epoch-end accuracy: on the run's validation share, or on the "
        "test set for runs without one (the tutorial presets), which makes it optimistic"),
    "best_epoch": st.column_config.NumberColumn("Best epoch", width="small"),
    "final_val_acc": st.column_config.NumberColumn("Final val acc", **PERCENT),
    "test_acc": st.column_config.NumberColumn("Test acc", **PERCENT),
    "reported": st.column_config.TextColumn("Tutorial reported", help="for runs started from a tutorial preset"),
    "train_seconds": st.column_config.NumberColumn("Training time", format="%.1f s"),
    "params": st.column_config.NumberColumn("Parameters", format="compact"),
    "created": st.column_config.DatetimeColumn("Created", format="YYYY-MM-DD HH:mm"),
    "message": st.column_config.TextColumn("Problem / note", width="medium",
                                           help="why a run failed, stopped or cannot be read"),
    "run_id": st.column_config.TextColumn("Run id"),
}
_FIRST = ["status", "name", "message"]
COLUMN_ORDER = [*_FIRST, *[c for c in tables.COLUMNS if c not in (*_FIRST, "run_id")], "run_id"]


# ---- table, filters and selection ---------------------------------------------------------

def as_percent(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """Shares times 100, so every percentage shows with the same number of decimals."""
    return frame.assign(**{c: frame[c] * 100 for c in columns if c in frame})


def _filtered(table: pd.DataFrame) -> pd.DataFrame:
    cols = st.columns([1, 1, 1, 1.4])
    mask = pd.Series(True, index=table.index)
    for col, (column, label) in zip(cols, (("status", "Status"), ("dataset", "Dataset"), ("arch", "Architecture"))):
        chosen = col.multiselect(label, sorted(table[column].dropna().unique()), key=f"runs_filter_{column}",
                                 placeholder="all")
        if chosen:
            mask &= table[column].isin(chosen)
    text = cols[3].text_input("Search", key="runs_search", placeholder="part of a name or run id").strip()
    if text:
        mask &= (table["name"].str.contains(text, case=False, regex=False)
                 | table["run_id"].str.contains(text, case=False, regex=False))
    return table[mask].reset_index(drop=True)


def _clear_selection() -> None:
    state.set_compare_runs([])
    st.session_state["runs_table_generation"] = st.session_state.get("runs_table_generation", 0) + 1


def _selectable_table(view: pd.DataFrame) -> list[str]:
    """Show the table; return the selected run ids (kept in the session and the page's URL)."""
    chosen = [r for r in state.compare_runs() if r in by_id]
    visible = list(view["run_id"])
    # the key follows the visible rows, so a new filter starts from COMPARE_RUNS, not stale row numbers
    digest = hashlib.md5("|".join(visible).encode()).hexdigest()[:10]
    generation = st.session_state.get("runs_table_generation", 0)
    shown = as_percent(view, ("best_val_acc", "final_val_acc", "test_acc"))
    event = st.dataframe(
        shown, key=f"runs_table_{digest}_{generation}", hide_index=True, column_config=COLUMN_CONFIG,
        column_order=COLUMN_ORDER, placeholder="—",
        on_select="rerun", selection_mode="multi-row",
        selection_default={"selection": {"rows": [i for i, r in enumerate(visible) if r in chosen]}},
    )
    hidden = [r for r in chosen if r not in visible]
    selected = hidden + [visible[i] for i in event.selection.rows if i < len(visible)]
    if selected != state.compare_runs():
        state.set_compare_runs(selected)
    if hidden:
        st.caption(f"{len(hidden)} selected run(s) are hidden by the filters and still count as selected.")
    return selected


# ---- actions on one run ------------------------------------------------------------------------

def copy_name(name: str) -> str:
    """The name a clone starts with: the run's own, marked as a copy (within the 80-character limit)."""
    return f"{name[:73].rstrip()} (copy)"


def _rename(rec) -> None:
    with st.form(f"runs_rename_form_{rec.run_id}", border=False):
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        name = left.text_input("Name", value=rec.name, key=f"runs_rename_{rec.run_id}", max_chars=80)
        if right.form_submit_button("Rename", icon=":material/edit:", width="stretch"):
            try:
                store.rename(rec.run_id, name)
            except RunError as exc:
                st.error(str(exc))
            else:
                state.flash("success", f"Renamed run {rec.run_id} to “{plain(name)}”.")
                st.rerun()


def _delete(rec) -> None:
    confirm_key = "runs_confirm_delete"
    if st.session_state.get(confirm_key) != rec.run_id:
        if st.button("Delete…", key="runs_delete", icon=":material/delete:"):
            st.session_state[confirm_key] = rec.run_id
            st.rerun()
        return
    st.warning(f"Delete run **{plain(rec.name)}** (`{rec.run_id}`) with its weights, metrics and predictions? "
               "This cannot be undone.")
    yes, no = st.columns(2)
    if no.button("Cancel", key="runs_delete_cancel", width="stretch"):
        st.session_state[confirm_key] = None
        st.rerun()
    if yes.button("Yes, delete it", key="runs_delete_confirm", type="primary", width="stretch"):
        st.session_state[confirm_key] = None
        try:
            store.delete(rec.run_id)
        except RunError as exc:
            st.error(str(exc))
        else:
            state.set_compare_runs([r for r in state.compare_runs() if r != rec.run_id])
            state.flash("success", f"Deleted run {plain(rec.name)}.")
            st.rerun()


def _navigate(rec) -> None:
    has_predictions = rec.has_predictions("best")
    cols = st.columns(3)
    if cols[0].button("Open in Evaluate", key="runs_open_evaluate", icon=":material/fact_check:",
                      disabled=not has_predictions, width="stretch",
                      help=None if has_predictions else "this run has no test predictions yet (no finished epoch)"):
        state.put(state.SELECTED_RUN, rec.run_id)
        st.switch_page(state.EVALUATE)
    if cols[1].button("Clone into Train", key="runs_clone", icon=":material/content_copy:",
                      disabled=rec.config is None, width="stretch",
                      help="load this run's settings into the Train form"):
        state.put(state.TRAIN_PREFILL, {**rec.config.to_dict(), "name": copy_name(rec.name)})
        st.switch_page(state.TRAIN)
    resumable = rec.resumable
    if cols[2].button("Resume", key="runs_resume", icon=":material/resume:", disabled=not resumable,
                      width="stretch", help="continue from the last completed epoch" if resumable
                      else "only stopped, interrupted or failed runs can be resumed"):
        try:
            state.runner().submit_resume(rec.run_id)
        except RunError as exc:
            st.error(str(exc))
        else:
            state.flash("success", f"Run {plain(rec.name)} is queued to resume.")
            st.switch_page(state.TRAIN)


def _downloads(rec) -> None:
    files = [(run_files.weights(w), f"Weights ({w})", "application/octet-stream") for w in ("best", "last")]
    files += [(run_files.METRICS, "Metrics CSV", "text/csv"), (run_files.CONFIG, "Config JSON", "application/json")]
    cols = st.columns(len(files) + 1)
    for col, (name, label, mime) in zip(cols, files):
        path = store.file(rec.run_id, name)
        # a callable is read only when clicked: listing the page never loads weights
        col.download_button(label, data=lambda p=path: p.read_bytes(), file_name=f"{rec.run_id}_{name}",
                            mime=mime, key=f"runs_download_{name}", icon=":material/download:",
                            disabled=not path.exists(), width="stretch")
    cols[-1].download_button("Whole run (zip)", data=lambda: store.export_zip(rec.run_id),
                             file_name=f"{rec.run_id}.zip", mime="application/zip", key="runs_download_zip",
                             icon=":material/folder_zip:", width="stretch")


def _one_run(rec) -> None:
    with st.container(border=True):
        st.subheader(plain(rec.name))
        st.caption(f"`{rec.run_id}` · {rec.state}" + (f" · {rec.epochs_done}/"
                   f"{rec.config.epochs} epochs" if rec.config else ""))
        if rec.damaged:
            st.error(f"This run folder is damaged: {plain(rec.damaged)}. You can still download or delete it.")
        elif rec.message and (rec.state in ("failed", "stopped", "interrupted") or rec.problems):
            st.warning(plain(rec.message))
        if not rec.damaged:
            _navigate(rec)
            _rename(rec)
        _downloads(rec)
        if not rec.damaged:
            export_ui.export_downloads(store, rec)
        _delete(rec)


# ---- comparing runs ------------------------------------------------------------------------------

def _classes(rec) -> list[str] | None:
    try:
        return list(store.read_model(rec.run_id).classes)
    except RunError:
        return None


COMPARE_EVERY = 5.0  # s; a redraw of the section costs the browser CPU that training on the CPU needs


def _comparison(run_ids: list[str]) -> None:
    """The comparison, redrawn every few seconds while one of its runs is queued or training."""
    active = any(by_id[r].state in compare.ACTIVE for r in run_ids)

    @st.fragment(run_every=COMPARE_EVERY if active else None)
    def section():
        records = [store.record(r) for r in run_ids]  # read again: they may have trained meanwhile
        if active and not any(r.state in compare.ACTIVE for r in records):
            st.rerun()  # the last one finished: redraw the whole page once (its table too); polling stops
        _compare(records)
        if active:
            st.caption(f":material/autorenew: Updates every {COMPARE_EVERY:g} s while a compared run is queued "
                       "or training.")

    section()


def _compare(selected) -> None:
    labels = compare.run_labels(selected)
    st.subheader(f"Comparing {len(selected)} runs")
    curves = compare.curves(selected)
    x = st.segmented_control("X axis", ["epoch", "wall time"], default="epoch", key="runs_compare_x")
    x = "elapsed_seconds" if x == "wall time" else "epoch"
    if curves.empty:
        st.info("None of the selected runs has finished an epoch yet, so there are no curves.")
    else:
        left, right = st.columns(2)
        left.markdown("**Loss** (validation solid, training dashed)")
        left.plotly_chart(compare_figs.curves_figure(curves, "loss", x), key="runs_curve_loss")
        right.markdown("**Accuracy** (validation solid, training dashed)")
        right.plotly_chart(compare_figs.curves_figure(curves, "acc", x), key="runs_curve_acc")
        with st.expander("Learning rate"):
            st.plotly_chart(compare_figs.curves_figure(curves, "lr", x, height=280), key="runs_curve_lr")

    st.markdown("**Settings that differ**")
    diff = compare.config_diff(selected)
    if diff.empty:
        st.caption("The selected runs were trained with the same settings.")
    else:
        st.dataframe(diff, key="runs_config_diff")

    st.markdown("**Results**")
    finals = compare.final_metrics(selected)
    percent = st.column_config.NumberColumn(format="%.2f%%")
    st.dataframe(as_percent(finals, ("best val accuracy", "final val accuracy", "test accuracy")),
                 key="runs_final_metrics", placeholder="–",
                 column_order=["why blank", *compare.FINAL_METRICS], column_config={
        "why blank": st.column_config.TextColumn("why –", help="why some of this run's cells have no value yet"),
        "best val accuracy": percent, "final val accuracy": percent, "test accuracy": percent,
        "training time (s)": st.column_config.NumberColumn(format="%.1f s"),
        "parameters": st.column_config.NumberColumn(format="compact"),
    })
    _compare_predictions(selected, labels)
    versus.section(selected, labels)


def _compare_predictions(selected, labels) -> None:
    st.markdown("**Confusion matrices** (best weights, share of each true class)")
    reports, missing = {}, []
    cols = st.columns(min(len(selected), 3))
    shown = 0
    for label, rec in zip(labels, selected):
        classes = _classes(rec)
        if classes is None or not rec.has_predictions("best"):
            missing.append((label, "no stored test predictions yet"))
            continue
        try:  # a damaged file leaves out this run, not the rest of the comparison
            preds = runpicker.read_predictions(rec, "best")
            cm = metrics.confusion_matrix(preds["labels"], preds["preds"], len(classes))
        except (RunError, metrics.MetricsError) as exc:
            missing.append((label, f"its predictions cannot be read ({exc})"))
            continue
        fig = evaluation.confusion_figure(cm, classes, normalized=True, height=380, title=label, clickable=False)
        cols[shown % len(cols)].plotly_chart(fig, key=f"runs_cm_{rec.run_id}")
        shown += 1
        reports[label] = (classes, metrics.per_class_report(preds["labels"], preds["preds"], classes))
    for label, why in missing:
        st.caption(f"{plain(label)}: {plain(why)}, so no confusion matrix.")
    if len(reports) < 1:
        return
    first_classes = next(iter(reports.values()))[0]
    same = {k: rep for k, (classes, rep) in reports.items() if classes == first_classes}
    st.markdown("**Per-class accuracy**")
    st.plotly_chart(compare_figs.per_class_accuracy_figure(same), key="runs_per_class")
    for label in reports.keys() - same.keys():
        st.caption(f"{plain(label)} has other classes than {plain(next(iter(same)))}; it is left out of the per-class chart.")


# ---- page -------------------------------------------------------------------------------------

table = tables.runs_table(records)
view = _filtered(table)
selected_ids = _selectable_table(view)
selected = [by_id[r] for r in selected_ids]
left, right = st.columns([4, 1], vertical_alignment="center")
left.caption(f"{len(view)} of {len(table)} runs shown · {len(selected)} selected. Tick one run for its actions "
             "and downloads; tick two or more to compare them. Click a column header to sort.")
if selected:
    right.button("Clear selection", key="runs_clear", on_click=_clear_selection, width="stretch")
if len(selected) == 1:
    _one_run(selected[0])
elif len(selected) > 1:
    _comparison(selected_ids)
