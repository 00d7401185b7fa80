"""Embedding projector speed: features, PCA, UMAP and t-SNE of a run's test set, as the job runner does them.

    python -m core --data-dir /tmp/mnistdata train --preset fast_mnist --epochs 1 --checkpoints /tmp/ck
    python benchmarks/embedding_speed.py RUN_ID --checkpoints /tmp/ck --data-dir /tmp/mnistdata

The bar in issue #13 is 10,000 MNIST test images: PCA view ≤ 3 s, UMAP and t-SNE ≤ 60 s on the
2-core machine. Prints, each measured in this one process:
  features   penultimate-layer features of the test set + up to 10,000 training images (once per weights)
  pca view   features already cached: PCA + writing its cache + reading it back + building the figure
  umap warm  UMAP of 300 random points: its first call in a process compiles numba code (the dashboard
             pays it once per server process, the CLI once per command)
  umap/tsne  the projection alone (after the warm-up for UMAP)
The run's caches are deleted first so nothing is reused; they are left written afterwards.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(label: str, fn, bar: float | None = None):
    """Wall time, and this process's CPU time: on a busy machine the CPU time is close to what
    the wall time would be on a quiet one (work spread over both cores counts twice)."""
    started, cpu = time.perf_counter(), time.process_time()
    out = fn()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    verdict = "" if bar is None else ("  ok" if seconds <= bar else f"  OVER the {bar:g} s bar")
    print(f"{label:<38} {seconds:7.2f} s wall {cpu:7.2f} s CPU  load {os.getloadavg()[0]:4.1f}{verdict}", flush=True)
    return out, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_id")
    parser.add_argument("--checkpoints", default=os.environ.get("CNN_STUDIO_CHECKPOINTS", "checkpoints"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--which", default="best", choices=("best", "last"))
    parser.add_argument("--skip", nargs="*", default=(), choices=("umap", "tsne"), help="methods not to time")
    args = parser.parse_args()

    import numpy as np  # imported before measuring: every front end has them loaded already
    import sklearn.decomposition  # noqa: F401
    import torch

    from core import checkpoints, embedding
    from core import run_files as files
    from core.runs import RunStore
    from ui import evaluation

    store = RunStore(args.checkpoints)
    for name in (files.features(args.which), *(files.embedding(args.which, m) for m in files.EMBED_METHODS)):
        store.file(args.run_id, name).unlink(missing_ok=True)
    print(f"run {args.run_id} ({args.which} weights), {torch.get_num_threads()} torch threads, "
          f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} (others share this machine)")

    feats, _ = timed("features (test + training subset)", lambda: embedding.features(
        store, args.run_id, args.which, data_dir=args.data_dir))
    print(f"  {len(feats.test):,} test and {len(feats.train):,} training images, {feats.test.shape[1]} features")
    preds = {k: v.numpy() for k, v in checkpoints.load_predictions(store, args.run_id, args.which).items()}

    def pca_view():
        emb = embedding.embedding(store, args.run_id, args.which, "pca", data_dir=args.data_dir)
        cached, _ = embedding.cached_embedding(store, args.run_id, args.which, "pca")
        evaluation.embedding_figure(cached.coords, preds["labels"], preds["preds"], preds["probs"],
                                    [str(i) for i in range(preds["probs"].shape[1])])
        return emb

    timed("pca view (features cached)", pca_view, bar=3.0)
    if "umap" not in args.skip:
        warm = np.random.default_rng(0).normal(size=(300, 16)).astype(np.float32)
        timed("UMAP first call (numba compile)", lambda: embedding.project(warm, "umap"))
    for method in ("umap", "tsne"):
        if method in args.skip:
            continue
        coords, _ = timed(f"{embedding.METHOD_TITLES[method]} projection", lambda: embedding.project(feats.test, method),
                          bar=60.0)
        assert np.isfinite(coords).all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
