"""Train: the current run live at the top; below it, configure a run (presets, every field, the LR
schedule explained and previewed per batch and per epoch, the LR finder) and start it.

While something trains the form is tucked behind a toggle: the page is then mostly the live panel,
and redrawing a form nobody is editing would cost the browser CPU that training needs.
"""
import streamlit as st

from core import data
from core.config import STEPWISE_SCHEDULES, ConfigError, RunConfig, schedule_explanation
from core.optim import lr_preview, lr_table
from core.runs import RunError
from ui import config_form, elsewhere, live, lr_finder_ui, presets_ui, state, sweep_form
from ui.text import plain
from ui.train_figures import lr_preview_figure

NEXT_RUN = "train_next_run"  # the "set up another run" toggle shown while one trains
LR_LOG = "train_lr_log"  # the LR preview's log-scale toggle

state.init()
st.title("Train")
state.show_flash()  # the router shows it first; under AppTest pages run without the router

live.panel()
elsewhere.panel()

prefill = state.get(state.TRAIN_PREFILL)
busy = state.snapshot()["busy"]
if busy:
    if prefill:
        st.session_state[NEXT_RUN] = True  # a preset or clone sent here: show it in the form
    if not st.toggle("Set up another run while this one trains", key=NEXT_RUN,
                     help="Runs wait in the queue and start one after the other."):
        st.stop()

st.subheader("New run")
if prefill:
    try:
        config_form.load_into_form(RunConfig.from_dict(prefill, strict=False))
    except ValueError as exc:
        st.error(f"Could not load that configuration into the form: {plain(exc)}")
    state.put(state.TRAIN_PREFILL, None)

presets_ui.picker(key="train_preset")

values = config_form.render()
cfg, problems = config_form.to_config(values)


@st.cache_data(show_spinner=False)
def _steps(config_json: str, data_root: str) -> int | None:
    from core import trainer

    c = RunConfig.from_json(config_json)
    try:
        return trainer.steps_per_epoch(data.load(c.dataset, data_root), c)  # exactly as training counts
    except data.DatasetError:
        return None


def steps_per_epoch(c: RunConfig) -> tuple[int, str]:
    n = _steps(c.replace(name="").to_json(), str(data.data_dir()))
    if n is None:
        return 100, "dataset not loaded: 100 steps per epoch assumed"
    return max(1, n), ""


def fix_these(problems: list[str]) -> str:
    return "Fix these before training:\n" + "\n".join(f"- {p}" for p in problems)


def submit() -> None:
    """The Train button's callback: it runs before the page does, so the page that follows
    already shows the new run in the live panel."""
    values = config_form.current_values()
    config_form.remember()  # the page that follows may leave the form out: save what was typed now
    c, errors = config_form.to_config(values)
    if errors:
        state.flash("error", fix_these(errors))
        return
    queued = state.snapshot()["busy"]
    on_ray = state.get(state.TRAIN_BACKEND) == "ray"
    try:
        run_id = elsewhere.send_to_ray(c) if on_ray else state.runner().submit(c)
    except (ConfigError, RunError, OSError) as exc:
        state.flash("error", f"The run could not be started: {plain(exc)}")
        return
    if on_ray:
        state.flash("success", f"Run `{run_id}` sent to Ray; it shows under *Training elsewhere* below.")
    else:
        state.flash("success", f"Run `{run_id}` {'queued' if queued else 'started'}.")
    # a name belongs to one run: pressing Train again (other settings, same name) must not make
    # two runs that Runs cannot tell apart; the next one is named by its id unless named anew
    config_form.set_values(name="")


@st.cache_data(show_spinner=False, max_entries=32)
def _lrs(config_json: str, spe: int) -> tuple[list[float], list[float] | None]:
    # ~0.3 s for 20 epochs of full MNIST: not again for a flip of the log scale or the page's reruns
    c = RunConfig.from_json(config_json)
    return lr_preview(c, spe), lr_preview(c, spe, stalled=True) if c.schedule == "plateau" else None


def lr_schedule(c: RunConfig) -> None:
    """The preview: what the schedule does in one line, its LR per batch and per epoch."""
    spe, note = steps_per_epoch(c)
    lrs, stalled = _lrs(c.replace(name="").to_json(), spe)
    st.caption(schedule_explanation(c))
    state.restore_widget(LR_LOG, False)
    log = st.toggle("Log scale", key=LR_LOG, help="Shows decays by ×0.1 as equal steps and small LRs clearly.")
    state.keep_widget(LR_LOG)
    st.plotly_chart(lr_preview_figure(lrs, spe, note, steps=c.schedule in STEPWISE_SCHEDULES, log=log,
                                      stalled=stalled), key="lr_preview")
    table = lr_table(lrs, spe, stalled)
    st.dataframe(table, hide_index=True, key="lr_per_epoch", height=min(38 + 35 * len(table), 218),
                 width="content", column_config={"epoch": st.column_config.NumberColumn(width="small"),
                                **{col: st.column_config.NumberColumn(format="%.4g") for col in table.columns[1:]}})


if problems:
    st.error(fix_these(problems))
else:
    left, right = st.columns(2)
    with left:
        lr_schedule(cfg)
    with right:
        lr_finder_ui.panel(cfg)

status = data.status(cfg.dataset) if cfg else None
if status is not None and not status.ready:
    st.warning(f"Dataset {plain(cfg.dataset)} is not available here: {status.detail} {status.fix}")
    st.page_link(state.DATA, label="Get it on the Data page", icon=":material/dataset:")
blocked = bool(problems) or (status is not None and not status.ready)
if sweep_form.render(cfg):
    st.button("Start sweep", type="primary", icon=":material/tune:", key="sweep_submit",
              on_click=sweep_form.start, disabled=blocked)
    if state.get(state.SWEEP_SELECTED):
        st.page_link(state.SWEEPS, label="Open the Sweeps page", icon=":material/tune:")
else:
    backend = elsewhere.backend_picker()  # the sweep form shows this same picker above its Start
    st.button("Send to Ray" if backend == "ray" else "Add to queue" if busy else "Train", type="primary",
              icon=":material/play_arrow:", key="train_submit", on_click=submit, disabled=blocked)
