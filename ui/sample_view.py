"""One test image, fully explained: what the model sees, every class's probability, its loss, Captum's
attribution maps side by side, and the training images nearest to it in the model's feature space.

Pages call `show(...)` with a run, its predictions and a test index (ui/state.py owns which one).
Attributions are computed on demand for one image (well under a second for the small models);
the features for neighbours come from the run folder's cache, computed in the job runner.
"""
from __future__ import annotations

import time

import numpy as np
import streamlit as st
import torch

from core import attribution, data, embedding, models
from core import run_files as files
from core.inspect import InspectError
from ui import evaluation, runpicker, state
from ui.images import to_pil
from ui.text import plain

NEIGHBOURS = 8
POLL_SECONDS = 1.0


# ---- cached computations -----------------------------------------------------------------

@st.cache_data(show_spinner=False, max_entries=64)
def _attributions(root: str, run_id: str, which: str, mtime: float, index: int, target: int, layer: str | None,
                  smooth: bool, _model, _x, _black) -> list[attribution.Attribution] | str:
    """Every method's map for one image (`_model`/`_x` are identified by run, weights mtime and index)."""
    maps = []
    try:
        for method in attribution.METHODS:
            if method == "grad_cam" and not layer:
                continue
            maps.append(attribution.attribute(_model, _x, method, target, layer=layer, smooth=smooth, black=_black))
    except InspectError as exc:
        return str(exc)
    return maps


@st.cache_resource(show_spinner=False, max_entries=4)  # read only; a cache_data copy would cost a pickle per rerun
def _features(root: str, run_id: str, which: str, mtime: float, weights_mtime: float):
    found, note = embedding.cached_features(state.store(), run_id, which)
    return found, note


@st.cache_resource(show_spinner=False, max_entries=2)
def _train_images(dataset: str, data_root: str):
    # the training split as uint8 tensors; shared, read only (the dataset loader caches it too)
    return data.load(dataset).train


def load_features(rec, which: str):
    """(Features | None, note) from the run folder's cache; re-read when the file or the weights change."""
    return _features(str(state.store().root), rec.run_id, which, runpicker.mtime(rec, files.features(which)),
                     runpicker.mtime(rec, files.weights(which)))


# ---- the view --------------------------------------------------------------------------------

def show(rec, which: str, meta: dict, images, preds: dict, index: int, *, key: str = "sample") -> None:
    classes = meta["classes"]
    true, pred = int(preds["labels"][index]), int(preds["preds"][index])
    verdict = ":green[right]" if true == pred else ":red[wrong]"
    st.markdown(f"#### Test image #{index} — {verdict}: true **{plain(classes[true])}**, predicted "
                f"**{plain(classes[pred])}** ({preds['probs'][index, pred]:.1%}) · loss {preds['losses'][index]:.3f}")
    left, right = st.columns([1, 2], gap="medium")
    channels, height, width = meta["image_shape"]
    with left:
        scale = max(1, 200 // max(height, width))
        st.image(to_pil(images[index], scale), width=scale * width, output_format="PNG")
        st.caption(f"What the model sees: {height}×{width} {'grey' if channels == 1 else 'colour'} pixels "
                   "(normalised before the first layer). The loss is −log of the probability of the true class.")
    with right:
        st.plotly_chart(evaluation.probability_figure(preds["probs"][index], classes, true, top=len(classes)),
                        key=f"{key}_probs", config={"displayModeBar": False})
    _attribution_panel(rec, which, meta, images[index], index, true, pred, key)
    _neighbour_panel(rec, which, meta, index, key)


def _attribution_panel(rec, which, meta, image, index, true, pred, key) -> None:
    st.markdown("**Why: attribution maps** (Captum)")
    model, _ = runpicker.load_model(rec, which)
    found = models.feature_layers(model)
    layers = [name for name, _ in found]
    # default: the last layer that convolves (finer maps than the pooling after it)
    convolving = [i for i, (_, m) in enumerate(found) if any(isinstance(c, torch.nn.Conv2d) for c in m.modules())]
    default = convolving[-1] if convolving else len(layers) - 1
    cols = st.columns([1.2, 1.5, 1])
    explain = cols[0].segmented_control("Explain the score of", ["prediction", "true class"], default="prediction",
                                        key=f"{key}_explain", disabled=true == pred) or "prediction"
    layer = cols[1].selectbox("Grad-CAM layer", layers, index=default, key=f"{key}_layer",
                              help="Late layers see whole parts of the image but have coarse maps; early "
                                   "layers are sharp but see only edges.") if layers else None
    smooth = cols[2].toggle("SmoothGrad", key=f"{key}_smooth",
                            help=f"Average Saliency and Integrated Gradients over {attribution.SMOOTH_SAMPLES} "
                                 "noisy copies of the image (Captum's NoiseTunnel): less speckle, slower.")
    target = true if explain == "true class" else pred
    mean = torch.tensor(meta["mean"], dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(meta["std"], dtype=torch.float32).view(-1, 1, 1)
    x = (torch.as_tensor(image).float() / 255 - mean) / std
    black = [(-m / s) for m, s in zip(meta["mean"], meta["std"])]
    with st.spinner("Computing attributions…"):
        maps = _attributions(str(state.store().root), rec.run_id, which, runpicker.mtime(rec, files.weights(which)),
                             int(index), int(target), layer, bool(smooth), model, x, black)
    if isinstance(maps, str):
        st.warning(f"This model cannot be explained this way: {plain(maps)}")
        return
    if not layers:
        st.caption("No Grad-CAM: this model has no convolution or pooling layers with image-like outputs.")
    img = np.asarray(image)
    scale = max(1, 160 // max(img.shape[1:]))
    for col, a in zip(st.columns(len(maps)), maps):
        overlay = evaluation.signed_overlay(img, a.heat) if a.signed else evaluation.heat_overlay(img, a.heat)
        col.image(to_pil(overlay.transpose(2, 0, 1), scale), width="stretch", output_format="PNG")
        col.markdown(f"**{a.title}**")
        col.caption(a.note)
    st.caption(f"Maps explain the score of **{meta['classes'][target]}**; each is scaled to its own largest "
               "value. Integrated Gradients and Occlusion use a black image as the reference.")


def _neighbour_panel(rec, which, meta, index, key) -> None:
    st.markdown("**Nearest training images** in the model's feature space")
    feats, note = load_features(rec, which)
    if feats is None:
        _features_missing(rec, which, note, key)
        return
    if not 0 <= index < len(feats.test):
        st.warning("The cached features do not cover this image; compute them again from the Projector tab.")
        return
    rows, sims = embedding.nearest(feats.train, feats.test[index], NEIGHBOURS)
    try:
        train = _train_images(rec.config.dataset, str(data.data_dir()))
    except data.DatasetError as exc:
        st.warning(f"The training images of {plain(rec.config.dataset)} are not available here: {plain(exc)}")
        return
    classes = meta["classes"]
    cols = st.columns(NEIGHBOURS)
    for col, row, sim in zip(cols, rows, sims):
        i = int(feats.train_index[row])
        if i >= len(train.images):
            continue
        label = int(train.labels[i])
        col.image(to_pil(train.images[i], 3), width="stretch", output_format="PNG")
        col.caption(f"**{plain(classes[label])}** · train #{i} · cos {sim:.2f}")
    subset = (f"a fixed random {len(feats.train):,} of the {feats.train_total:,} training images"
              if len(feats.train) < feats.train_total else f"all {feats.train_total:,} training images")
    st.caption(f"The inputs of the final layer ({plain(feats.layer)}) compared by cosine similarity with "
               f"{subset}. If the neighbours carry the predicted class rather than the true one, the model "
               "saw this image as one of those.")


def _features_missing(rec, which, note, key) -> None:
    if note:
        st.caption(plain(note))
    job = state.runner().analysis(rec.run_id, which, "pca") if state.runner_exists() else None
    if job is not None and job.state in ("queued", "running"):
        progress(rec.run_id, which, "pca")
        return
    if job is not None and job.state == "failed":
        st.error(f"Computing the features failed: {plain(job.message)}")
    st.caption("This needs the penultimate-layer features of the test set and of up to "
               f"{embedding.TRAIN_CAP:,} training images, computed once in the background and kept in the run "
               "folder (seconds for small models; the Projector uses them too).")
    if st.button("Compute features", icon=":material/hub:", key=f"{key}_features"):
        state.runner().submit_analysis(rec.run_id, which, "pca")
        st.rerun()


def progress(run_id: str, which: str, method: str) -> None:
    """A polling fragment showing an analysis job; reruns the page once when it ends."""
    @st.fragment(run_every=POLL_SECONDS)
    def waiting():
        job = state.runner().analysis(run_id, which, method)
        if job is None or job.state not in ("queued", "running"):
            st.rerun(scope="app")
        if job.state == "queued":
            busy = state.snapshot()["live"] is not None
            st.info("Queued: it starts " + ("after the current training run (it never runs beside one)."
                                            if busy else "in a moment."), icon=":material/hourglass_top:")
        else:
            # UMAP and t-SNE report no progress of their own while they lay points out: show the time
            spent = f" · {time.time() - job.started_at:.0f} s" if job.started_at else ""
            st.progress(job.fraction, text=plain(job.message or "starting…") + spent)

    waiting()
