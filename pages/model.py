"""Model: every layer's input and output shape, parameters and MACs for a dataset's input and a
batch size (downloadable as CSV / Markdown); a custom layer-stack builder; parameter counts of all
architectures side by side."""
from __future__ import annotations

import json
import re

import streamlit as st

from core import data, models
from core.config import RunConfig
from ui import layer_editor, state
from ui import model_figures as figs
from ui.config_form import pending_values
from ui.text import plain

state.init()

ARCH, DATASET, BATCH = "model_arch", "model_dataset", "model_batch"
LOCALIZED = st.column_config.NumberColumn(format="localized")
CUSTOM_TITLE = "Your custom stack (Build your own)"


def _title(name: str) -> str:
    try:
        return data.info(name).title
    except data.DatasetError:  # an imported folder whose meta.json is damaged; chosen, it says so
        return name


@st.cache_data(show_spinner=False, max_entries=64)
def _summary(arch: str, shape: tuple, num_classes: int, layers_json: str) -> models.ModelSummary:
    # batch 1: figs.summary_table scales to any batch size exactly
    model = models.build_model(arch, shape, num_classes, json.loads(layers_json))
    return models.summary(model, (1, *shape))


@st.cache_data(show_spinner=False, max_entries=32)
def _param_counts(shape: tuple, num_classes: int) -> tuple[dict[str, int], dict[str, str]]:
    counts, refused = {}, {}
    for name in models.MODELS:
        if name == "custom":
            continue
        problem = models.input_problem(name, shape)
        if problem:
            refused[name] = problem
        else:
            counts[name] = models.param_count(name, shape, num_classes)
    return counts, refused


def _layer_table(arch: str, dataset: str, shape: tuple, num_classes: int, batch: int, layers: list,
                 error: str | None) -> None:
    if arch == "custom" and error:
        st.error(f"Your custom stack (tab “Build your own”) cannot be built yet: {error}", icon=":material/error:")
        return
    custom = layers if arch == "custom" else []
    problem = models.input_problem(arch, shape, custom)
    if problem:
        st.error(f"{problem}. Pick a dataset with larger images or another architecture.", icon=":material/error:")
        return
    try:
        s = _summary(arch, shape, num_classes, json.dumps(custom))
    except models.ModelError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    totals = figs.summary_totals(s, batch)
    cols = st.columns(5)
    cols[0].metric("Parameters", totals["Parameters"])
    cols[1].metric("Trainable", totals["Trainable"], help="Parameters the optimizer updates.")
    cols[2].metric("Non-trainable", totals["Non-trainable"],
                   help="Frozen parameters (requires_grad=False). BatchNorm's running mean and variance are "
                        "buffers in PyTorch, not parameters, so they are not counted here (Keras lists them "
                        "as non-trainable); they are in the model size.")
    cols[3].metric(f"MACs per batch of {batch}", figs.human(s.total_macs * batch),
                   help=f"{s.total_macs * batch:,} multiply-adds for one forward pass "
                        f"({s.total_macs:,} per image)")
    cols[4].metric("Model size", f"{s.state_mb:.2f} MB",
                   help=f"About the size of the saved weights: float32 parameters {s.size_mb:.2f} MB "
                        f"+ buffers {s.buffers_mb:.2f} MB (BatchNorm running statistics)")
    table = figs.summary_table(s, batch)
    st.dataframe(table, hide_index=True, key="model_summary_table", height=min(38 + 35 * len(table), 640),
                 column_config={"parameters": LOCALIZED, "trainable": LOCALIZED, "MACs": LOCALIZED})
    _downloads(table, totals, arch, dataset, batch)


def _downloads(table, totals: dict, arch: str, dataset: str, batch: int) -> None:
    title = CUSTOM_TITLE if arch == "custom" else models.MODELS[arch].title
    stem = re.sub(r"[^A-Za-z0-9]+", "-", f"layers-{arch}-{dataset}-batch{batch}").strip("-")
    row = st.container(horizontal=True)
    row.download_button("Layer table (CSV)", figs.table_csv(table), f"{stem}.csv", "text/csv",
                         key="model_table_csv", icon=":material/download:",
                         help="One row per layer, for a spreadsheet")
    row.download_button("Layer table (Markdown)", figs.table_markdown(
        table, f"{title} on {_title(dataset)}, batch of {batch}", totals), f"{stem}.md", "text/markdown",
        key="model_table_md", icon=":material/download:", help="The table and its totals, for a lab report")


def _use_in_train(layers: list, dataset: str) -> None:
    # the whole config, so the Train form keeps every other value it had
    prefill = {**RunConfig().to_dict(), **pending_values()}
    prefill.update(arch="custom", custom_layers=layers, dataset=dataset)
    state.put(state.TRAIN_PREFILL, prefill)
    state.flash("success", f"Loaded your {len(layers)}-layer custom stack into the Train form "
                           f"(dataset {plain(dataset)}).")
    st.switch_page(state.TRAIN)


def _builder(dataset: str, shape: tuple, num_classes: int, batch: int) -> tuple[list, list, str | None]:
    st.caption("Edit the table (add rows at the bottom, delete with the row checkboxes); shapes and "
               "parameters on the right update as you type. Blank cells take the defaults.")
    start = pending_values().get("custom_layers") or layer_editor.default_stack(num_classes)
    layers, checks, error = layer_editor.render(shape, num_classes, batch, list(start))
    left, right = st.columns(2)
    if left.button("Use this stack in Train", icon=":material/play_circle:", type="primary",
                   disabled=error is not None, key="model_use_stack",
                   help="Fix the stack first" if error else "Opens Train with arch = custom and this stack"):
        _use_in_train(layers, dataset)
    right.button("Start again from the LeNet-like stack", icon=":material/restart_alt:", key="model_reset_stack",
                 on_click=layer_editor.reset, args=(layer_editor.default_stack(num_classes),))
    return layers, checks, error


def _comparison(shape: tuple, num_classes: int, arch: str, custom_params: int | None) -> None:
    counts, refused = _param_counts(shape, num_classes)
    titles = [models.MODELS[a].title for a in counts]
    values = list(counts.values())
    if custom_params is not None:
        titles.append(CUSTOM_TITLE)
        values.append(custom_params)
    chosen = CUSTOM_TITLE if arch == "custom" else models.MODELS[arch].title
    st.plotly_chart(figs.param_comparison(titles, values, chosen), key="model_param_chart")
    for name, problem in refused.items():
        st.caption(f"Not shown — {problem}.")


# ---- page ----------------------------------------------------------------------------------

st.title("Model")
names = data.names()
defaults = pending_values()
state.restore_widget(ARCH, defaults.get("arch") if defaults.get("arch") in models.MODELS else "lenet5")
state.restore_widget(DATASET, defaults.get("dataset") if defaults.get("dataset") in names else "mnist_sample")
state.restore_widget(BATCH, 16)
if st.session_state[DATASET] not in names:  # e.g. an imported folder deleted meanwhile
    st.session_state[DATASET] = "mnist_sample"

c1, c2, c3 = st.columns([2, 2, 1])
arch = c1.selectbox("Architecture", list(models.MODELS), key=ARCH, format_func=lambda a: models.MODELS[a].title)
dataset = c2.selectbox("Input shape and classes from", names, key=DATASET, format_func=_title)
batch = int(c3.number_input("Batch size", 1, 65536, key=BATCH,
                            help="Only the first dimension of every output shape and the MACs depend on it."))
for key in (ARCH, DATASET, BATCH):
    state.keep_widget(key)
st.caption(models.MODELS[arch].description)

try:
    info = data.info(dataset)
except data.DatasetError as exc:
    st.error(str(exc), icon=":material/error:")
    st.page_link(state.DATA, label="Go to Data", icon=":material/dataset:")
    st.stop()
shape, num_classes = (info.channels, *info.size), info.num_classes
st.caption(f"Input: {batch} × {info.channels} × {info.size[0]} × {info.size[1]} "
           f"({'grayscale' if info.channels == 1 else 'RGB'} {plain(info.title)} images) → {num_classes} classes. "
           "Shapes come from the dataset's description; the dataset need not be downloaded.")

table_tab, builder_tab, compare_tab = st.tabs(["Layers", "Build your own", "Compare architectures"])
with builder_tab:
    layers, checks, error = _builder(dataset, shape, num_classes, batch)
with table_tab:
    _layer_table(arch, dataset, shape, num_classes, batch, layers, error)
with compare_tab:
    st.caption(f"Parameters of every architecture for {info.channels}×{info.size[0]}×{info.size[1]} input and "
               f"{num_classes} classes; the chosen one is highlighted.")
    _comparison(shape, num_classes, arch, None if error else sum(c.params for c in checks))
