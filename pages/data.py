"""Data: every dataset's state and fix, a look at the images and class balance, an augmentation
preview, and importing your own images (ui/import_form.py: preview, then confirm)."""
from __future__ import annotations

import pandas as pd
import streamlit as st
import torch

from core import data
from core.augment import is_active
from core.config import RunConfig, field_info, form_label
from ui import data_figures as figs
from ui import import_form, state
from ui.config_form import pending_values
from ui.images import to_pil
from ui.text import plain

state.init()

PICK = "data_dataset"
PICK_NEXT = import_form.PICK_NEXT  # set before st.rerun() to select a just-imported dataset
AUG_SEED = "data_aug_seed"
IMPORT_OPEN = "data_import_open"
PER_CLASS = 8
MAX_CLASS_ROWS = 10  # CIFAR-100 would otherwise draw 100 rows of samples

BADGES = {
    "present": ("green", ":material/check_circle:", "on disk"),
    "bundled": ("green", ":material/inventory_2:", "bundled, works offline"),
    "debian": ("blue", ":material/package_2:", "Debian package, unpack once"),
    "can_download": ("orange", ":material/download:", "can download"),
    "missing": ("red", ":material/error:", "missing"),
}


def _info(name: str) -> data.DatasetInfo | None:
    try:
        return data.info(name)
    except data.DatasetError:  # an imported folder whose meta.json is damaged
        return None


def _title(name: str) -> str:
    info = _info(name)
    return info.title if info else name


def _numbers(values) -> str:
    return ", ".join(f"{v:.4f}" for v in values)


def _overview(names: list[str]) -> pd.DataFrame:
    rows = []
    for name in names:
        status, info = data.status(name), _info(name)
        shape = f"{info.channels}×{info.size[0]}×{info.size[1]}" if info else "?"
        classes = info.num_classes if info else None
        rows.append({"dataset": name, "title": _title(name), "classes": classes, "image (C×H×W)": shape,
                     "state": BADGES[status.state][2], "where": status.detail})
    return pd.DataFrame(rows)


def _default_dataset(names: list[str]) -> str:
    # the last choice here (widget values vanish while another page is shown), else the Train form's
    for wanted in (state.get(state.KEPT).get(PICK), pending_values().get("dataset")):
        if wanted in names:
            return wanted
    return "mnist_sample"


def _use_sample() -> None:
    st.session_state[PICK] = "mnist_sample"


def _point_to_sample(name: str) -> None:
    info = _info(name)
    if name != "mnist_sample" and info and info.digits:
        st.info("Meanwhile, `mnist_sample` has 5,000 real MNIST digits bundled with the app and works offline.")
        st.button("Show mnist_sample instead", on_click=_use_sample, icon=":material/swap_horiz:")


def _fetch(name: str, verb: str) -> None:
    """Download (or unpack Debian's copy) with a progress bar; failures become a message."""
    bar = st.progress(0.0, text=f"{verb} {name}…")
    try:
        result = data.download(name, progress=lambda f, msg: bar.progress(f, text=msg))
    except data.DatasetError as exc:
        bar.empty()
        st.error(str(exc), icon=":material/cloud_off:")
        return
    state.flash("success", f"{plain(name)}: {plain(result.detail)}")
    st.rerun()


def _source_state(name: str) -> data.SourceStatus:
    status = data.status(name)
    colour, icon, text = BADGES[status.state]
    info = _info(name)
    if info:
        st.caption(info.description)
    st.caption(f":{colour}-badge[{icon} {text}] {status.detail}")
    if status.state == "can_download":
        st.warning(status.fix, icon=":material/download:")
        if st.button(f"Download {name}", icon=":material/download:", type="primary", key="data_download"):
            _fetch(name, "Downloading")
        _point_to_sample(name)
    elif status.state == "debian":
        st.info("Fashion-MNIST is installed from Debian's package `dataset-fashion-mnist`; unpack it into "
                "the data folder once (about 5 seconds) to use it.", icon=":material/package_2:")
        if st.button("Unpack Debian's copy", icon=":material/unarchive:", type="primary", key="data_unpack"):
            _fetch(name, "Unpacking")
    elif status.state == "missing":
        st.error(status.fix, icon=":material/error:")
        _point_to_sample(name)
    return status


# ---- the loaded dataset --------------------------------------------------------------------

def _facts(ds: data.Dataset) -> None:
    c, h, w = ds.shape
    cols = st.columns(4)
    cols[0].metric("Train images", f"{len(ds.train):,}")
    cols[1].metric("Test images", f"{len(ds.test):,}")
    cols[2].metric("Image shape", f"{c}×{h}×{w}", help="channels × height × width")
    cols[3].metric("Classes", ds.num_classes)
    st.markdown(f"**Normalisation** (per channel, from the train split, on the [0, 1] scale): "
                f"mean ({_numbers(ds.mean)}), std ({_numbers(ds.std)}). Training subtracts the mean and "
                "divides by the std.")
    st.caption(f"Source: {ds.source}")


def _samples(ds: data.Dataset) -> None:
    which = st.segmented_control("Split", ["train", "test"], default="train", key="data_sample_split") or "train"
    split = ds.train if which == "train" else ds.test
    shown = list(range(ds.num_classes))
    if ds.num_classes > MAX_CLASS_ROWS:
        picked = st.multiselect("Classes", ds.classes, default=ds.classes[:MAX_CLASS_ROWS], key="data_sample_classes")
        shown = [ds.classes.index(c) for c in picked]
    scale = max(1, 64 // ds.shape[2])
    picks = figs.samples_per_class(split.labels, ds.num_classes, PER_CLASS)
    for k in shown:
        index = picks[k]
        name_col, img_col = st.columns([1, 6], vertical_alignment="center")
        name_col.markdown(f"**{ds.classes[k]}**  \n{len(index)} of {int((split.labels == k).sum()):,}")
        if len(index):
            img_col.image(to_pil(figs.strip(split.images[index]), scale))
        else:
            img_col.caption("no images of this class in this split")


def _balance(ds: data.Dataset) -> None:
    train = figs.class_counts(ds.train.labels, ds.num_classes)
    test = figs.class_counts(ds.test.labels, ds.num_classes)
    st.plotly_chart(figs.class_distribution(ds.classes, train, test), key="data_balance_chart")
    st.markdown(f"**Train:** {figs.imbalance_note(train, ds.classes)}  \n"
                f"**Test:** {figs.imbalance_note(test, ds.classes)}")


def _aug_control(col, name: str, value, key: str):
    """A preview control for one augmentation field, with the label, range and help RunConfig gives
    it (the same the Train form uses), as a slider: quicker to play with than a number box."""
    info, label = field_info(name), form_label(name)
    if "choices" in info:
        return col.selectbox(label, info["choices"], index=info["choices"].index(value), key=key, help=info["help"])
    if info["type"] == "bool":
        return col.toggle(label, value, key=key, help=info["help"])
    if info["type"] == "int":
        return col.slider(label, int(info["min"]), int(info["max"]), int(value), key=key, help=info["help"])
    return col.slider(label, float(info["min"]), float(info["max"]), float(value), float(info.get("step", 0.05)),
                      key=key, help=info["help"])


def _aug_controls(ds_channels: int) -> RunConfig:
    aug = {k: v for k, v in pending_values().items() if k.startswith("aug_")}
    try:
        base = RunConfig.from_dict(aug)
    except ValueError:  # a half-edited form; the preview then starts from the defaults
        base = RunConfig()
    if not is_active(base):
        base = base.replace(aug_translate=2, aug_rotate=10.0, aug_scale=0.1)  # something visible to start
    if ds_channels == 3:
        base = base.replace(aug_pad="reflect")  # photos: no black frames
    names = ("aug_translate", "aug_rotate", "aug_scale", "aug_erase", "aug_hflip", "aug_pad")
    values = {}
    for col, name in zip(st.columns(len(names)), names):
        # the padding has one control for colour datasets and one for the rest, each with its default
        key = f"data_{name}" + ("_rgb" if name == "aug_pad" and ds_channels == 3 else "")
        values[name] = _aug_control(col, name, getattr(base, name), key)
    return RunConfig(**values)


def _augmentation(ds: data.Dataset) -> None:
    st.caption("The same random augmentations training applies to each batch (set them in the Train form). "
               "Each row below is one pass over the same 8 test images.")
    cfg = _aug_controls(ds.shape[0])
    if st.button("New samples", icon=":material/casino:", key="data_aug_reseed"):
        st.session_state[AUG_SEED] = st.session_state.get(AUG_SEED, 0) + 1
    index = torch.cat(figs.samples_per_class(ds.test.labels, ds.num_classes, 1))[:8]
    if len(index) < 8:
        index = torch.arange(min(8, len(ds.test)))
    images = ds.test.images[index]
    rows = [("original", images)] + [
        (f"augmented {i + 1}", aug)
        for i, aug in enumerate(figs.augment_preview(images, ds.mean, ds.std, cfg, st.session_state.get(AUG_SEED, 0), 3))
    ]
    scale = max(1, 64 // ds.shape[2])
    for label, batch in rows:
        name_col, img_col = st.columns([1, 6], vertical_alignment="center")
        name_col.markdown(f"**{plain(label)}**")
        img_col.image(to_pil(figs.strip(batch), scale))


def _explore(name: str) -> None:
    status = _source_state(name)
    if status.state not in ("present", "bundled"):  # Debian's copy: unpacked by the button, with progress
        return
    try:
        with st.spinner(f"Loading {name}…"):
            ds = data.load(name)
    except data.DatasetError as exc:
        st.error(str(exc), icon=":material/error:")
        _point_to_sample(name)
        return
    _facts(ds)
    samples, balance, augmentation = st.tabs(["Samples per class", "Class balance", "Augmentation preview"])
    with samples:
        _samples(ds)
    with balance:
        _balance(ds)
    with augmentation:
        _augmentation(ds)


# ---- page ------------------------------------------------------------------------------------

st.title("Data")
names = data.names()
if st.session_state.get(PICK_NEXT) in names:  # just imported: select it and keep its report open
    st.session_state[PICK] = st.session_state.pop(PICK_NEXT)
    st.session_state[IMPORT_OPEN] = True
if st.session_state.get(PICK) not in names:
    st.session_state[PICK] = _default_dataset(names)

with st.expander("All datasets", icon=":material/list:", key="data_overview_open"):
    st.dataframe(_overview(names), hide_index=True)
chosen = st.selectbox("Dataset", names, key=PICK,
                      format_func=lambda n: f"{_title(n)} ({n})" if _title(n) != n else n)
state.keep_widget(PICK)
# keyed and stateful, so a message appearing above it (a flash) cannot collapse it mid-import
with st.expander("Import your own images", icon=":material/upload:", key=IMPORT_OPEN, on_change="rerun"):
    import_form.import_report(chosen)
    import_form.source_form()
    import_form.confirm_form()
_explore(chosen)
