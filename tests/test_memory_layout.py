"""Memory layout: a CIFAR-format dataset stays uint8 in memory and is converted to float per batch.

Small synthetic data in the real on-disk format (cifar-10-batches-py pickles, read by
torchvision's CIFAR10), loaded through core.data and trained through core.trainer — the path the
CLI and the dashboard use. At CIFAR-10's size a float32 copy of the train split would be 614 MB
instead of 154 MB (benchmarks/memory.py measures that); here only the layout is checked.
"""
from __future__ import annotations

import gc
import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from core import data, trainer
from core.config import RunConfig
from core.runs import RunStore

N_PER_BATCH, N_TEST = 12, 20  # test set larger than a training batch: its calls are told apart
N_TRAIN = 5 * N_PER_BATCH
IMAGE_BYTES = 3 * 32 * 32


pytestmark = pytest.mark.usefixtures("no_machine_datasets")


@pytest.fixture
def cifar_root(tmp_path, monkeypatch) -> Path:
    import torchvision

    root = tmp_path / "data"
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, n in [(f"data_batch_{i}", N_PER_BATCH) for i in range(1, 6)] + [("test_batch", N_TEST)]:
        batch = {"batch_label": name, "labels": [int(x) for x in rng.integers(0, 10, n)],
                 "data": rng.integers(0, 256, (n, IMAGE_BYTES), dtype=np.uint8),
                 "filenames": [f"{name}_{i}.png" for i in range(n)]}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps(
        {"num_cases_per_batch": N_PER_BATCH, "label_names": [f"c{i}" for i in range(10)], "num_vis": IMAGE_BYTES}))
    # torchvision checks the published md5s: accept these files' own instead
    cls = torchvision.datasets.CIFAR10
    md5 = lambda name: hashlib.md5((folder / name).read_bytes()).hexdigest()
    monkeypatch.setattr(cls, "train_list", [[f, md5(f)] for f, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[f, md5(f)] for f, _ in cls.test_list])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5(cls.meta["filename"])})
    return root


def _tensors_on(ds: data.Dataset) -> dict[str, torch.Tensor]:
    return {f"{split}.{field}": t for split in ("train", "test")
            for field, t in vars(getattr(ds, split)).items() if isinstance(t, torch.Tensor)}


def _assert_uint8_layout(ds: data.Dataset) -> None:
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        images = getattr(ds, split).images
        assert images.dtype == torch.uint8 and tuple(images.shape) == (n, 3, 32, 32)
        assert images.is_contiguous()
        # exactly one byte per pixel behind the tensor: no float buffer or wider array underneath
        assert images.untyped_storage().nbytes() == n * IMAGE_BYTES
    for name, t in _tensors_on(ds).items():
        assert not t.is_floating_point(), f"{name} is {t.dtype}"


def test_cifar_is_held_as_uint8(cifar_root):
    ds = data.load("cifar10", cifar_root)
    _assert_uint8_layout(ds)
    assert ds.train.labels.dtype == torch.int64


def test_training_converts_per_batch_and_keeps_no_float_copy(cifar_root, tmp_path, monkeypatch):
    # no hold-out: the run trains on the cached train tensor itself and evaluates on the test set
    cfg = RunConfig(dataset="cifar10", arch="lenet5", batch_size=16, epochs=1, seed=0, val_split=0.0)
    seen = []  # (dtype in, batch size in, dtype out) of every normalize call
    prepared = []
    real_prepare = trainer.prepare

    def recording_prepare(*args, **kwargs):
        prep = real_prepare(*args, **kwargs)
        normalize = prep.normalize

        def recorded(x):
            out = normalize(x)
            seen.append((x.dtype, x.shape[0], out.dtype))
            return out

        prep.normalize = recorded
        prepared.append(prep)
        return prep

    monkeypatch.setattr(trainer, "prepare", recording_prepare)
    store = RunStore(tmp_path / "checkpoints")
    _, result = trainer.new_run(store, cfg, data_dir=cifar_root)
    assert result.status == "completed", result.message

    prep = prepared[0]
    ds = data.load("cifar10", cifar_root)  # the cached dataset the run trained on
    assert prep.dataset is ds
    # the engine trained on the cached uint8 tensor itself (no copy, no float version)
    assert prep.train.images.dtype == torch.uint8
    assert prep.train.images.data_ptr() == ds.train.images.data_ptr()
    # every conversion to float was one batch: uint8 in, float32 out, never the whole split
    assert all(dt_in == torch.uint8 and dt_out == torch.float32 for dt_in, _, dt_out in seen)
    sizes = [n for _, n, _ in seen]
    assert sum(n <= cfg.batch_size for n in sizes) == -(-N_TRAIN // cfg.batch_size)  # the training batches
    assert set(sizes) - set(range(1, cfg.batch_size + 1)) == {N_TEST}  # evaluation: the test set, ≤ EVAL_BATCH
    # after the epoch the dataset is unchanged and nothing float of its size is alive anywhere
    _assert_uint8_layout(ds)
    gc.collect()
    full = N_TRAIN * IMAGE_BYTES
    # (tensors with symbolic sizes are torch.export's fake tensors, left by the ONNX export tests:
    # they hold no memory)
    floats = [tuple(o.shape) for o in gc.get_objects()
              if issubclass(type(o), torch.Tensor) and o.is_floating_point()
              and all(type(d) is int for d in o.shape) and o.numel() >= full]
    assert floats == [], f"float tensors as large as the train split are still alive: {floats}"
