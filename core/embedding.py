"""What the model's last hidden layer makes of each image: features, neighbours and 2-D maps.

    penultimate(model)                         -> ("fc1", the final Linear layer)
    extract(model, images, mean, std)          -> (N, D) float32: the final Linear layer's input
    features(store, run_id, which)             -> Features, computed once and cached in the run folder
    nearest(feats.train, feats.test[i], k)     -> (rows of feats.train, cosine similarities)
    embedding(store, run_id, which, "umap")    -> Embedding: (N, 2) coordinates of the test set

The caches (file names in core/run_files.py, bytes in core/checkpoints.py) record the stamp of the
weights they came from; new weights, or a damaged file, mean they are computed again. Computing
takes seconds to a minute, so the dashboard runs it in the job runner (core/jobs.py), never on a
page; the CLI (`python -m core embed`) calls the same functions.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core import checkpoints, data, trainer
from core import run_files as files
from core.inspect import _eval_mode
from core.runs import RunError, RunStore

TRAIN_CAP = 10_000     # training images whose features are kept for neighbours (a fixed random subset)
PCA_FIRST = 50         # UMAP and t-SNE start from this many principal components (speed, less noise)
BATCH = 500
METHOD_TITLES = {"pca": "PCA", "umap": "UMAP", "tsne": "t-SNE"}

Progress = Callable[[float, str], None] | None


class EmbeddingError(ValueError):
    """Features or a projection that cannot be computed; the message says why and what to do."""


@dataclass(frozen=True)
class Features:
    test: np.ndarray          # (N, D) float32, in test-set order
    train: np.ndarray         # (M, D) float32
    train_index: np.ndarray   # (M,) int64: which training images `train` holds
    layer: str                # the Linear layer whose input they are
    train_total: int          # size of the whole training split
    note: str = ""            # why it was (re)computed, when it was


@dataclass(frozen=True)
class Embedding:
    coords: np.ndarray        # (N, 2) float32, in test-set order
    method: str
    seconds: float            # how long the projection itself took
    note: str = ""
    from_cache: bool = False


def _say(progress: Progress, fraction: float, message: str) -> None:
    if progress is not None:
        progress(min(max(fraction, 0.0), 1.0), message)


# ---- features ------------------------------------------------------------------------------

def penultimate(model: nn.Module) -> tuple[str, nn.Linear]:
    """The model's final Linear layer (its input is the penultimate layer's output)."""
    linears = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise EmbeddingError("the model has no Linear layer, so it has no penultimate-layer features")
    return linears[-1]


def extract(model: nn.Module, images, mean, std, *, batch_size: int = BATCH, progress: Progress = None,
            share: tuple[float, float] = (0.0, 1.0), what: str = "images") -> np.ndarray:
    """Penultimate-layer features (N, D) float32 of uint8 images (N, C, H, W), normalised as in training."""
    x = torch.as_tensor(images)
    if x.ndim != 4 or x.dtype != torch.uint8:
        raise EmbeddingError(f"expected uint8 images shaped (N, C, H, W), got {x.dtype} {tuple(x.shape)}")
    _, layer = penultimate(model)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    channels = x.shape[1]
    m = torch.as_tensor(mean, dtype=torch.float32).reshape(-1).expand(channels).reshape(1, -1, 1, 1).to(device)
    s = torch.as_tensor(std, dtype=torch.float32).reshape(-1).expand(channels).reshape(1, -1, 1, 1).to(device)
    captured: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, inputs, _out: captured.append(inputs[0].detach()))
    out = []
    try:
        with _eval_mode(model), torch.no_grad():
            for start in range(0, len(x), batch_size):
                captured.clear()
                model(x[start:start + batch_size].to(device).float().div_(255).sub_(m).div_(s))
                out.append(captured[-1].flatten(1).float().cpu())
                done = min(start + batch_size, len(x)) / max(len(x), 1)
                _say(progress, share[0] + done * (share[1] - share[0]), f"features of {what}: {done:.0%}")
    except RuntimeError as exc:
        raise EmbeddingError(f"the model cannot take images shaped {tuple(x.shape[1:])}: "
                             f"{str(exc).splitlines()[0]}") from None
    finally:
        handle.remove()
    if not out:
        return np.zeros((0, layer.in_features), np.float32)
    return torch.cat(out).numpy()


def train_subset(total: int, cap: int = TRAIN_CAP, seed: int = 0) -> np.ndarray:
    """The training images whose features are kept: all of them, or `cap` chosen at random (sorted)."""
    if total <= cap:
        return np.arange(total, dtype=np.int64)
    g = torch.Generator().manual_seed(seed)
    return np.sort(torch.randperm(total, generator=g)[:cap].numpy()).astype(np.int64)


def cached_features(store: RunStore, run_id: str, which: str) -> tuple[Features | None, str]:
    """The cached features if they match the current weights, else (None, why they cannot be used)."""
    name = files.features(which)
    try:
        loaded = checkpoints.load_cache(store, run_id, name, {"test", "train", "train_index"})
    except RunError as exc:
        return None, f"the cached features could not be read ({exc}); they are computed again"
    if loaded is None:
        return None, ""
    tensors, meta = loaded
    if meta.get("weights") != checkpoints.weights_stamp(store, run_id, which):
        return None, f"the cached features came from older {which} weights; they are computed again"
    try:
        test, train = tensors["test"].float().numpy(), tensors["train"].float().numpy()
        index = tensors["train_index"].long().numpy()
        total = int(meta.get("train_total", len(index)))
        if test.ndim != 2 or train.ndim != 2 or len(index) != len(train) or train.shape[1] != test.shape[1]:
            raise ValueError("arrays of mismatched shapes")
    except (ValueError, TypeError) as exc:
        return None, f"the cached features are malformed ({exc}); they are computed again"
    return Features(test, train, index, meta.get("layer", ""), total), ""


def features(store: RunStore, run_id: str, which: str = "best", *, data_dir=None, progress: Progress = None,
             share: tuple[float, float] = (0.0, 1.0)) -> Features:
    """Cached features, or computed now (test set + up to TRAIN_CAP training images) and cached."""
    found, note = cached_features(store, run_id, which)
    if found is not None:
        return found
    stamp = checkpoints.weights_stamp(store, run_id, which)
    model, meta = trainer.load_model(store, run_id, which)
    cfg = store.read_config(run_id)
    try:
        ds = data.load(cfg.dataset, data_dir)
    except data.DatasetError as exc:
        raise EmbeddingError(f"the images of dataset {cfg.dataset} are not available here: {exc}") from None
    if tuple(ds.shape) != tuple(meta.image_shape):
        raise EmbeddingError(f"dataset {cfg.dataset} now has images of {tuple(ds.shape)}, but the run was trained "
                             f"on {tuple(meta.image_shape)}; train it again")
    layer, _ = penultimate(model)
    index = train_subset(len(ds.train))
    lo, hi = share
    middle = lo + (hi - lo) * len(ds.test) / max(len(ds.test) + len(index), 1)
    test = extract(model, ds.test.images, meta.mean, meta.std, progress=progress, share=(lo, middle),
                   what="the test images")
    train = extract(model, ds.train.images[torch.as_tensor(index)], meta.mean, meta.std, progress=progress,
                    share=(middle, hi), what="the training images")
    checkpoints.save_cache(store, run_id, files.features(which), {
        "test": torch.from_numpy(test).half(), "train": torch.from_numpy(train).half(),
        "train_index": torch.from_numpy(index)},
        {"weights": stamp, "layer": layer, "train_total": len(ds.train)})
    # float16 on disk; give back exactly what a later read will see
    return Features(test.astype(np.float16).astype(np.float32), train.astype(np.float16).astype(np.float32),
                    index, layer, len(ds.train), note)


def nearest(bank: np.ndarray, query: np.ndarray, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Rows of `bank` most similar to `query` by cosine similarity, most similar first, with their
    similarities. A zero vector has similarity 0 to everything."""
    bank = np.asarray(bank, np.float32)
    q = np.asarray(query, np.float32).reshape(-1)
    if bank.ndim != 2 or bank.shape[1] != q.shape[0]:
        raise EmbeddingError(f"features of size {q.shape[0]} cannot be compared with a bank of {bank.shape}")
    norms = np.linalg.norm(bank, axis=1) * np.linalg.norm(q)
    sims = np.divide(bank @ q, norms, out=np.zeros(len(bank), np.float32), where=norms > 0)
    k = min(k, len(bank))
    top = np.argpartition(-sims, k - 1)[:k] if k else np.zeros(0, np.int64)
    top = top[np.argsort(-sims[top], kind="stable")]
    return top, sims[top]


# ---- 2-D projections ----------------------------------------------------------------------

def project(feats: np.ndarray, method: str, *, seed: int = 0, progress: Progress = None) -> np.ndarray:
    """(N, 2) float32 coordinates of (N, D) features by PCA, UMAP (umap-learn) or t-SNE (scikit-learn)."""
    from sklearn.decomposition import PCA

    x = np.asarray(feats, np.float32)
    if method not in files.EMBED_METHODS:
        raise EmbeddingError(f"unknown method {method!r} — choose one of {', '.join(files.EMBED_METHODS)}")
    if x.ndim != 2 or len(x) < 5:
        raise EmbeddingError(f"a 2-D map needs at least 5 images, got {len(x)}")
    dims = min(x.shape)
    if method == "pca":
        out = PCA(n_components=min(2, dims), random_state=seed).fit_transform(x)
    else:
        _say(progress, 0.05, f"{METHOD_TITLES[method]}: first {min(PCA_FIRST, dims)} principal components")
        x = PCA(n_components=min(PCA_FIRST, dims), random_state=seed).fit_transform(x)
        _say(progress, 0.1, f"{METHOD_TITLES[method]}: laying out {len(x):,} points (this takes a while)")
        if method == "umap":
            import umap  # imported here: it takes seconds and compiles with numba on first use

            # 200 epochs is umap-learn's own choice above 10,000 points; at 10,000 it would run 500
            out = umap.UMAP(n_components=2, n_neighbors=min(15, len(x) - 1), min_dist=0.1, n_epochs=200,
                            random_state=seed, n_jobs=1).fit_transform(x)
        else:
            from sklearn.manifold import TSNE

            # 500 iterations (half the default) settle 10,000 points; the rest refines little
            out = TSNE(n_components=2, perplexity=min(30.0, (len(x) - 1) / 3), init="pca", max_iter=500,
                       random_state=seed).fit_transform(x)
    out = np.asarray(out, np.float32)
    if out.shape[1] < 2:
        out = np.pad(out, ((0, 0), (0, 2 - out.shape[1])))
    return out


def cached_embedding(store: RunStore, run_id: str, which: str, method: str) -> tuple[Embedding | None, str]:
    """The cached projection if it matches the current weights, else (None, why not)."""
    name = files.embedding(which, method)
    try:
        loaded = checkpoints.load_cache(store, run_id, name, {"coords"})
    except RunError as exc:
        return None, f"the cached {METHOD_TITLES[method]} map could not be read ({exc}); it is computed again"
    if loaded is None:
        return None, ""
    tensors, meta = loaded
    try:
        stamp = checkpoints.weights_stamp(store, run_id, which)
    except RunError as exc:
        return None, str(exc)
    if meta.get("weights") != stamp:
        return None, f"the cached {METHOD_TITLES[method]} map came from older {which} weights; it is computed again"
    coords = tensors["coords"].float().numpy()
    try:
        seconds = float(meta.get("seconds", "nan"))
    except ValueError:
        seconds = float("nan")
    if coords.ndim != 2 or coords.shape[1] != 2 or not np.isfinite(coords).all():
        return None, f"the cached {METHOD_TITLES[method]} map is malformed; it is computed again"
    return Embedding(coords, method, seconds, from_cache=True), ""


def embedding(store: RunStore, run_id: str, which: str = "best", method: str = "pca", *, data_dir=None,
              progress: Progress = None) -> Embedding:
    """The test set's 2-D map by `method`: from the cache, or computed now (features first) and cached."""
    if method not in files.EMBED_METHODS:
        raise EmbeddingError(f"unknown method {method!r} — choose one of {', '.join(files.EMBED_METHODS)}")
    found, note = cached_embedding(store, run_id, which, method)
    if found is not None:
        return found
    stamp = checkpoints.weights_stamp(store, run_id, which)
    feats = features(store, run_id, which, data_dir=data_dir, progress=progress,
                     share=(0.0, 0.1 if method == "pca" else 0.3))
    started = time.perf_counter()

    def later(fraction: float, message: str) -> None:
        _say(progress, 0.3 + 0.7 * fraction, message)

    coords = project(feats.test, method, progress=later if method != "pca" else None)
    seconds = time.perf_counter() - started
    checkpoints.save_cache(store, run_id, files.embedding(which, method), {"coords": torch.from_numpy(coords)},
                           {"weights": stamp, "seconds": f"{seconds:.3f}", "layer": feats.layer})
    _say(progress, 1.0, f"{METHOD_TITLES[method]} map ready")
    return Embedding(coords, method, seconds, " ".join(n for n in (note, feats.note) if n))

