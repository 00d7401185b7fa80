"""core.embedding: the penultimate-layer hook on every architecture, neighbours, the run-folder
caches (keyed on the weights, malformed files recomputed), the job runner's analysis jobs and
`python -m core embed`."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch
from torch import nn

from core import embedding, models, trainer
from core import run_files as files
from core.cli import main
from core.config import RunConfig
from core.jobs import JobRunner
from tests.test_attribution import CUSTOM


@pytest.mark.parametrize("arch,shape", [("lenet5", (1, 28, 28)), ("lenet5_c3", (1, 28, 28)), ("seed_cnn7", (1, 28, 28)),
                                        ("one_conv", (3, 20, 24)), ("fast_cnn", (3, 32, 32)),
                                        ("resnet18_cifar", (1, 16, 16)), ("resnet18_tv", (3, 32, 32)),
                                        ("custom", (3, 12, 12))])
def test_features_are_the_final_linear_layers_input_on_every_architecture(arch, shape):
    torch.manual_seed(0)
    model = models.build_model(arch, shape, 3, CUSTOM if arch == "custom" else ()).train()
    name, last = embedding.penultimate(model)
    images = torch.randint(0, 256, (5, *shape), dtype=torch.uint8)
    feats = embedding.extract(model, images, [0.5] * shape[0], [0.25] * shape[0], batch_size=2)
    assert feats.shape == (5, last.in_features) and feats.dtype == np.float32
    # the final layer applied to the features gives the model's own scores
    x = (images.float() / 255 - 0.5) / 0.25
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(last(torch.from_numpy(feats)), model(x), rtol=1e-4, atol=1e-4)
    assert all(not m._forward_hooks for m in model.modules())


def test_a_model_without_a_linear_layer_says_so():
    with pytest.raises(embedding.EmbeddingError, match="no Linear layer"):
        embedding.penultimate(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten()))


def test_nearest_ranks_by_cosine_similarity():
    bank = np.array([[1, 0], [0, 1], [10, 1], [-1, 0], [0, 0]], np.float32)
    rows, sims = embedding.nearest(bank, np.array([2, 0], np.float32), k=3)
    assert rows.tolist() == [0, 2, 1]  # length does not matter, direction does
    np.testing.assert_allclose(sims, [1.0, 10 / np.sqrt(101), 0.0], atol=1e-6)


def test_the_training_subset_is_capped_fixed_and_sorted():
    assert embedding.train_subset(50, cap=100).tolist() == list(range(50))
    a, b = embedding.train_subset(1000, cap=100), embedding.train_subset(1000, cap=100)
    assert len(a) == 100 and (a == b).all() and (np.diff(a) > 0).all()


@pytest.fixture
def run(store, synthetic):
    run_id, result = trainer.new_run(store, RunConfig(dataset="synthetic", arch="lenet5", epochs=1, batch_size=32))
    assert result.status == "completed", result.message
    return run_id


def test_features_and_maps_are_cached_and_recomputed_for_new_weights(store, run, synthetic):
    emb = embedding.embedding(store, run, "best", "pca")
    assert emb.coords.shape == (len(synthetic.test), 2) and np.isfinite(emb.coords).all()
    feats, note = embedding.cached_features(store, run, "best")
    assert note == "" and feats.test.shape[0] == len(synthetic.test) and feats.train.shape[0] == len(synthetic.train)
    again = embedding.embedding(store, run, "best", "pca")
    np.testing.assert_array_equal(again.coords, emb.coords)
    assert again.seconds == pytest.approx(emb.seconds, abs=1e-3)  # read back, not recomputed

    weights = store.file(run, files.weights("best"))
    os.utime(weights, ns=(time.time_ns(), time.time_ns() + 10**9))  # new weights written later
    assert embedding.cached_features(store, run, "best")[0] is None
    fresh, why = embedding.cached_embedding(store, run, "best", "pca")
    assert fresh is None and "older best weights" in why
    redone = embedding.embedding(store, run, "best", "pca")
    assert "older best weights" in redone.note
    assert embedding.cached_embedding(store, run, "best", "pca")[0] is not None


def test_caches_stay_out_of_a_run_exported_as_zip(store, run):
    import io
    import zipfile

    embedding.embedding(store, run, "best", "pca")
    names = {n.split("/")[-1] for n in zipfile.ZipFile(io.BytesIO(store.export_zip(run))).namelist()}
    assert files.weights("best") in names
    assert files.features("best") not in names and files.embedding("best", "pca") not in names


@pytest.mark.parametrize("damage", [b"", b"not safetensors at all", b"\x08\x00\x00\x00\x00\x00\x00\x00{}"])
def test_a_malformed_cache_is_recomputed_with_a_note(store, run, damage):
    embedding.embedding(store, run, "best", "pca")
    store.file(run, files.embedding("best", "pca")).write_bytes(damage)
    store.file(run, files.features("best")).write_bytes(damage)
    found, why = embedding.cached_embedding(store, run, "best", "pca")
    assert found is None and "computed again" in why
    redone = embedding.embedding(store, run, "best", "pca")
    assert "could not be read" in redone.note
    assert embedding.cached_embedding(store, run, "best", "pca")[0] is not None


def test_tsne_gives_two_coordinates_per_image():
    # UMAP takes the same path; its first call compiles for ~a minute, so benchmarks/embedding_speed.py covers it
    feats = np.random.default_rng(0).normal(size=(60, 12)).astype(np.float32)
    out = embedding.project(feats, "tsne")
    assert out.shape == (60, 2) and np.isfinite(out).all()
    with pytest.raises(embedding.EmbeddingError, match="at least 5"):
        embedding.project(feats[:3], "pca")


def test_the_runner_computes_maps_queued_behind_training(store, run, synthetic):
    from tests.test_jobs import wait_for
    from tests.test_engine import cfg

    runner = JobRunner(store)
    training = runner.submit(cfg(epochs=1000))
    assert wait_for(lambda: runner.snapshot()["live"] is not None and runner.snapshot()["live"].phase == "training")
    job = runner.submit_analysis(run, "best", "pca")
    assert runner.submit_analysis(run, "best", "pca").state == "queued"  # asked twice: one job
    time.sleep(0.3)
    assert runner.analysis(run, "best", "pca").state == "queued", "it must never run beside training"
    runner.stop()
    assert wait_for(lambda: runner.analysis(run, "best", "pca").state == "done", 60)
    assert job.key == (run, "best", "pca") and embedding.cached_embedding(store, run, "best", "pca")[0] is not None
    assert store.read_status(training).status == "stopped"
    failed = runner.submit_analysis("no-such-run", "best", "pca")
    assert wait_for(lambda: runner.analysis(*failed.key).state == "failed", 30)
    assert "no saved best weights" in runner.analysis(*failed.key).message


def test_cli_embed_writes_the_cache_and_says_how_long(store, run, capsys):
    assert main(["--checkpoints", str(store.root), "embed", run, "--method", "pca"]) == 0
    out = capsys.readouterr().out
    assert "PCA map of 64 test images (best weights) computed in" in out
    assert store.file(run, files.embedding("best", "pca")).exists()
    assert main(["--checkpoints", str(store.root), "embed", run]) == 0
    assert "read from the cache in" in capsys.readouterr().out
    assert main(["--checkpoints", str(store.root), "embed", "missing-run"]) == 2
    assert "no saved best weights" in capsys.readouterr().err
