"""Playground: draw a digit, upload a picture or pick a test image, and see what a trained model
predicts — with the exact input the model sees."""
from __future__ import annotations

import html
import random

import numpy as np
import pandas as pd
import streamlit as st

from core import predict
from core.inspect import predict_proba
from core.preprocess import (
    INVERT_CHOICES, MAX_UPLOAD_BYTES, SUPPORTED_UPLOAD_TYPES, ImageInputError, drawing_to_mnist,
    image_to_input,
)
from core.run_files import ModelMeta
from ui import inspect_figures as figs
from ui import runpicker, state
from ui.images import to_pil
from ui.text import plain

state.init()

DRAW, UPLOAD, TEST = "Draw", "Upload", "Test image"
TEST_INDEX = "play_test_index"


def is_digit_run(meta: dict) -> bool:
    # runs saved before model.json had "digits" fall back to MNIST's shape
    return bool(meta.get("digits", tuple(meta["image_shape"]) == (1, 28, 28)))


def _drawn() -> tuple[np.ndarray | None, str]:
    # the component cannot be imported outside a running app (see STACK.md), so not at the top
    from streamlit_drawable_canvas import st_canvas

    st.space(40)  # room for the canvas's floating toolbar, which would cover the buttons above
    canvas = st_canvas(stroke_width=18, stroke_color="#FFFFFF", background_color="#000000",
                       height=280, width=280, drawing_mode="freedraw", return_image_data=True,
                       key="play_canvas")
    st.caption("Draw one digit, large, with the mouse or a finger. The bin button above the canvas "
               "clears it.")
    try:
        digit = drawing_to_mnist(canvas.image_data)
    except ImageInputError as exc:
        st.error(str(exc))
        return None, ""
    if digit is None:
        st.info("Draw a digit in the black box — the prediction appears as soon as you lift the mouse.")
        return None, ""
    return digit[None], "your drawing, cropped, scaled into 20×20 and centred by mass like MNIST"


def _uploaded(meta: dict):
    """(input, caption, None) for one upload; (None, "", (files, options)) for several, which the page
    shows as the same table as `python -m core predict`."""
    channels, height, width = meta["image_shape"]
    uploads = st.file_uploader("Image files", type=SUPPORTED_UPLOAD_TYPES, key="play_upload",
                               accept_multiple_files=True, max_upload_size=MAX_UPLOAD_BYTES // 2**20,
                               help="PNG, JPEG, BMP, GIF, WebP or TIFF; each is fitted into "
                                    f"{height}×{width} pixels keeping its aspect ratio. One picture shows "
                                    "what the model sees; several give a table.")
    invert, center = "auto", False
    if channels == 1:
        invert = st.segmented_control("Invert colours", INVERT_CHOICES, default="auto", key="play_invert",
                                      help="auto inverts a light picture (dark ink on paper) so it is light "
                                           "on dark like the training images") or "auto"
        center = st.toggle("Crop and centre like MNIST", value=is_digit_run(meta), key="play_center",
                           help="For a photo of a digit with wide margins: crop to the digit, scale it "
                                "into 20×20 and centre it")
    if not uploads:
        st.info("Choose one picture to classify, or several for a table of predictions.")
        return None, "", None
    if len(uploads) > 1:
        return None, "", ([(u.name, u.getvalue()) for u in uploads], {"invert": invert, "center": center})
    upload = uploads[0]
    try:
        x = image_to_input(upload, channels, (height, width), invert=invert, center=center)
    except ImageInputError as exc:
        st.error(f"{plain(upload.name)}: {plain(exc)}")
        return None, "", None
    return x, f"{upload.name}, as {height}×{width} {'gray' if channels == 1 else 'colour'} pixels", None


def _table(model, meta: dict, files: list, options: dict) -> None:
    """Several uploads: one row per picture, as `python -m core predict` writes its CSV."""
    rows, skipped = predict.classify(model, ModelMeta.parse(meta), files, **options)
    st.markdown(f"**Predictions for {len(rows)} of {len(files)} pictures**")
    if rows:
        st.dataframe(pd.DataFrame(rows, columns=predict.COLUMNS), key="play_table", hide_index=True,
                     column_config={"probability": st.column_config.NumberColumn("probability", format="%.4f"),
                                    "top3": st.column_config.TextColumn("top 3", width="large")})
        st.download_button("Download CSV", predict.to_csv(rows), file_name="predictions.csv", mime="text/csv",
                           key="play_table_csv", icon=":material/download:")
    for s in skipped:
        st.error(f"{plain(s.file)}: {plain(s.reason)}")


def _test_image(rec) -> tuple[np.ndarray, int, str]:
    test = runpicker.load_test_split(rec)
    images, labels = test.images, test.labels
    if st.button("Another random test image", icon=":material/shuffle:", key="play_shuffle") \
            or not 0 <= st.session_state.get(TEST_INDEX, -1) < len(images):
        st.session_state[TEST_INDEX] = random.randrange(len(images))
    index = st.session_state[TEST_INDEX]
    state.sample_button(rec, index, key="play_explain")
    return images[index].numpy(), int(labels[index]), f"test image {index}"


def _result(model, meta: dict, x: np.ndarray, true_label: int | None, caption: str) -> None:
    classes = meta["classes"]
    probs = predict_proba(model, x, meta["mean"], meta["std"])[0].numpy()
    pred = int(probs.argmax())
    seen, verdict = st.columns([1, 2])
    with seen:
        st.markdown("**What the model sees**")
        scale = max(1, 168 // max(x.shape[1:]))
        st.image(to_pil(x, scale), width=scale * x.shape[2], caption=caption)
    with verdict:
        st.markdown("**Prediction**")
        st.markdown(f"<div style='font-size:3.5rem;font-weight:700;line-height:1.1'>"
                    f"{html.escape(str(classes[pred]))}</div>", unsafe_allow_html=True)
        sure = f"{probs[pred]:.1%} sure"
        if true_label is not None:
            sure += (" · :green[correct]" if pred == true_label
                     else f" · :red[wrong — the true label is {classes[true_label]}]")
        st.markdown(sure)
    st.plotly_chart(figs.probability_figure(probs, classes, true_label), width="stretch",
                    key="play_proba_chart")


# ---- page --------------------------------------------------------------------------------

st.title("Playground")
st.caption("Give a trained model a picture and see what it predicts.")
rec, which = runpicker.pick_run_and_weights("play", where="the Playground")
model, meta = runpicker.load_model(rec, which)
digits = is_digit_run(meta)

modes = [DRAW, UPLOAD, TEST] if digits else [UPLOAD, TEST]
# keyed by run kind: the two kinds offer different modes
mode = st.segmented_control("Input", modes, default=modes[0], key=f"play_mode_{digits}") or modes[0]
if not digits:
    st.caption(f":material/info: No drawing canvas for this run: it was trained on "
               f"{plain(meta.get('dataset_title', rec.config.dataset))}, not on handwritten digits, and a "
               "mouse sketch looks nothing like its photos. Upload a picture or try a test image.")

left, right = st.columns([1, 2], gap="large")
with left:
    true_label, many = None, None
    if mode == DRAW:
        x, caption = _drawn()
    elif mode == UPLOAD:
        x, caption, many = _uploaded(meta)
    else:
        x, true_label, caption = _test_image(rec)
with right:
    if many is not None:
        _table(model, meta, *many)
    elif x is not None:
        _result(model, meta, x, true_label, caption)
