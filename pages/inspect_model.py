"""Inspect: what a trained model learned — its conv filters, and the feature maps and
prediction one image produces."""
from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from core import models
from core.augment import normalizer
from core.inspect import InspectError, feature_maps, filter_grid_images, predict_proba
from core.preprocess import (
    INVERT_CHOICES, MAX_UPLOAD_BYTES, SUPPORTED_UPLOAD_TYPES, ImageInputError, image_to_input,
)
from ui import inspect_figures as figs
from ui import runpicker, state
from ui.images import to_pil
from ui.text import plain

state.init()

TEST, UPLOAD = "Test image", "Upload"


def _conv_label(name: str, conv: torch.nn.Conv2d) -> str:
    kh, kw = conv.kernel_size
    return f"{name} — {conv.out_channels} filters of {conv.in_channels}×{kh}×{kw}"


def _filters_caption(conv: torch.nn.Conv2d, colour: bool, in_channel: int | None) -> str:
    kh, kw = conv.kernel_size
    if colour:
        return (f"Each square is one {kh}×{kw} filter of the first layer, its red, green and blue "
                "weights drawn as one colour picture. The filter responds most to image patches that "
                "look like it; bright = large positive weight, dark = negative. Each filter is scaled "
                "to its own range.")
    if conv.in_channels == 1:
        return (f"Each square is one {kh}×{kw} filter: bright pixels are large positive weights, dark "
                "pixels negative ones. A filter responds most to image patches that look like it — "
                "e.g. a bright-next-to-dark pattern finds edges in that direction. Each filter is "
                "scaled to its own range.")
    shown = ("the average of its weights over all input channels — a summary, since a filter of "
             "this layer adds up what it sees in every one of them"
             if in_channel is None else f"only the kernel it applies to input channel {in_channel}")
    return (f"A filter of this layer looks at all {conv.in_channels} maps of the layer before, so it is "
            f"a stack of {conv.in_channels} kernels of {kh}×{kw}. Shown for each filter: {shown}. Deeper "
            "filters combine features rather than pixels, so they are harder to read than the first "
            "layer's. Each filter is scaled to its own range.")


def _filters(model: torch.nn.Module, image_channels: int) -> None:
    st.subheader("Learned filters")
    convs = dict(models.conv_layers(model))
    if not convs:
        st.info("This model has no convolution layers, so there are no filters to show.")
        return
    left, right = st.columns([2, 1])
    name = left.selectbox("Convolution layer", list(convs), format_func=lambda n: _conv_label(n, convs[n]),
                          key="inspect_conv")
    conv = convs[name]
    colour = conv.in_channels == 3 and image_channels == 3
    in_channel = None
    if conv.in_channels > 1 and not colour:
        # keyed per layer: each layer has its own number of input channels
        in_channel = right.selectbox(
            "Show", [None, *range(conv.in_channels)], key=f"inspect_in_channel_{name}",
            format_func=lambda c: "average over input channels" if c is None else f"input channel {c}",
        )
    images = filter_grid_images(conv, rgb=colour, in_channel=in_channel)
    st.caption(_filters_caption(conv, colour, in_channel))
    if len(images) > figs.MAX_TILES:
        st.caption(f"Showing the first {figs.MAX_TILES} of {len(images)} filters.")
    st.plotly_chart(figs.filter_figure(images), width="content", key="inspect_filter_chart")


def _uploaded(meta: dict) -> np.ndarray | None:
    channels, height, width = meta["image_shape"]
    upload = st.file_uploader(f"An image (it is resized to {height}×{width}, "
                              f"{'gray' if channels == 1 else 'colour'})",
                              type=SUPPORTED_UPLOAD_TYPES, key="inspect_upload",
                              max_upload_size=MAX_UPLOAD_BYTES // 2**20)
    invert, center = "auto", False
    if channels == 1:
        invert = st.segmented_control("Invert colours", INVERT_CHOICES, default="auto", key="inspect_invert",
                                      help="auto inverts a light picture (dark ink on paper) so it is light on "
                                           "dark like the training images") or "auto"
        center = st.toggle("Centre like MNIST", value=bool(meta.get("digits")), key="inspect_center",
                           help="Crop to the digit, scale it into 20×20 and centre it, as MNIST was made")
    if upload is None:
        st.info("Upload a picture to see what the model makes of it.")
        return None
    try:
        return image_to_input(upload, channels, (height, width), invert=invert, center=center)
    except ImageInputError as exc:
        st.error(f"{plain(upload.name)}: {plain(exc)}")
        return None


def _test_image(rec) -> tuple[np.ndarray, int]:
    test = runpicker.load_test_split(rec)
    images, labels = test.images, test.labels
    index = st.number_input(f"Test image (0–{len(images) - 1})", 0, len(images) - 1, 0, step=1,
                            key="inspect_index")
    state.sample_button(rec, int(index), key="inspect_explain")
    return images[int(index)].numpy(), int(labels[int(index)])


def _prediction(model, meta: dict, x: np.ndarray, true_label: int | None, where: tuple) -> None:
    classes = meta["classes"]
    probs = predict_proba(model, x, meta["mean"], meta["std"])[0].numpy()
    pred = int(probs.argmax())
    with where[0]:
        scale = max(1, 160 // max(x.shape[1:]))
        truth = "" if true_label is None else f" · true label **{classes[true_label]}**"
        st.image(to_pil(x, scale), width=scale * x.shape[2])
        st.markdown(f"Prediction **{classes[pred]}** ({probs[pred]:.1%}){truth}")
    where[1].plotly_chart(figs.probability_figure(probs, classes, true_label), width="stretch",
                          key="inspect_proba_chart")


def _feature_maps(model, meta: dict, x: np.ndarray) -> None:
    layers = dict(models.feature_layers(model))
    if not layers:
        st.info("This model has no layers with image-like outputs to show.")
        return
    name = st.columns([1, 2])[0].selectbox("Feature maps of layer", list(layers), key="inspect_layer",
                                           format_func=lambda n: f"{n} ({type(layers[n]).__name__})")
    batch = normalizer(meta["mean"], meta["std"], "cpu")(torch.as_tensor(x)[None])
    try:
        maps = feature_maps(model, name, batch)
    except InspectError as exc:
        st.warning(str(exc))
        return
    count, h, w = maps.shape
    more = f" — showing the first {figs.MAX_TILES}" if count > figs.MAX_TILES else ""
    st.caption(f"**{name}** turns this image into {count} maps of {h}×{w}{more}. Each tile is one "
               "channel: yellow = strong response, dark blue = weak. Early layers keep the picture's layout "
               "(strokes, edges); deeper ones are smaller and more abstract. Each map is scaled to its own "
               "range, so an all-dark map is (nearly) constant; hover a pixel for its raw value.")
    st.plotly_chart(figs.feature_map_figure(maps), width="content", key="inspect_maps_chart")


# ---- page --------------------------------------------------------------------------------

st.title("Inspect")
st.caption("What a trained model learned: the filters of its convolution layers, and what each layer "
           "makes of one image.")
rec, which = runpicker.pick_run_and_weights("inspect", where="the Inspect page")
model, meta = runpicker.load_model(rec, which)

_filters(model, meta["image_shape"][0])

st.subheader("One image through the model")
pick, shown, chart = st.columns([1.2, 1, 2], gap="medium")
with pick:
    source = st.segmented_control("Image", [TEST, UPLOAD], default=TEST, key="inspect_source") or TEST
    if source == TEST:
        x, true_label = _test_image(rec)
    else:
        x, true_label = _uploaded(meta), None
if x is not None:
    _prediction(model, meta, x, true_label, (shown, chart))
    _feature_maps(model, meta, x)
