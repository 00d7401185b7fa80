"""Dataset registry: real on-disk formats generated here, loaded through torchvision's own code."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import pickle
import stat
import struct
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core import data
from core.data import DatasetError, Split, importer, sources

IDX_NAMES = sources.IDX_FILES


pytestmark = pytest.mark.usefixtures("no_machine_datasets")


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "data"


def tree(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")} if path.exists() else set()


# ---- mnist_sample ---------------------------------------------------------------------

def test_mnist_sample_is_4000_train_1000_test_stratified_uint8():
    ds = data.load("mnist_sample")
    assert ds.shape == (1, 28, 28) and ds.num_classes == 10 and ds.is_digits
    assert ds.classes == [str(d) for d in range(10)]
    assert ds.train.images.dtype == torch.uint8 and ds.train.labels.dtype == torch.int64
    assert ds.train.images.shape == (4000, 1, 28, 28) and ds.test.images.shape == (1000, 1, 28, 28)
    assert torch.bincount(ds.train.labels).tolist() == [400] * 10
    assert torch.bincount(ds.test.labels).tolist() == [100] * 10
    assert 0.10 < ds.mean[0] < 0.16 and 0.28 < ds.std[0] < 0.34  # MNIST: 0.1307 / 0.3081
    assert ds.train.labels[:50].unique().numel() > 5  # interleaved, not sorted by digit
    # train and test are disjoint: all 5,000 images appear exactly once
    everything = torch.cat([ds.train.images, ds.test.images]).flatten(1)
    assert torch.unique(everything, dim=0).shape[0] == torch.unique(
        torch.from_numpy(np.loadtxt(data.sample.csv_path(), delimiter=",", dtype=np.uint8)[:, :-1]), dim=0
    ).shape[0]
    assert data.status("mnist_sample").state == "bundled"


def test_mnist_sample_is_deterministic_and_cached():
    first = data.load("mnist_sample")
    assert data.load("mnist_sample") is first
    data.clear_cache()
    again = data.load("mnist_sample")
    assert again is not first
    assert torch.equal(again.train.images, first.train.images)
    assert torch.equal(again.test.labels, first.test.labels)


# ---- torchvision layouts --------------------------------------------------------------

def idx_bytes(array: np.ndarray) -> bytes:
    magic = 0x00000800 | array.ndim  # 0x08 = unsigned byte
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()


def fake_idx(n_train=30, n_test=10, seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test)[::-1] % 10).astype(np.uint8),
    }


def write_idx(folder: Path, arrays: dict, gz: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        payload = idx_bytes(array)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(payload))
        else:
            (folder / name).write_bytes(payload)


def assert_matches_idx(ds, arrays):
    assert torch.equal(ds.train.images[:, 0], torch.from_numpy(arrays["train-images-idx3-ubyte"]))
    assert ds.train.labels.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert torch.equal(ds.test.images[:, 0], torch.from_numpy(arrays["t10k-images-idx3-ubyte"]))
    assert ds.test.labels.dtype == torch.int64


@pytest.mark.parametrize("name, folder, first_class", [
    ("mnist", "MNIST", "0"), ("fashion_mnist", "FashionMNIST", "T-shirt/top"), ("kmnist", "KMNIST", "o"),
])
def test_idx_files_in_torchvision_layout_load(root, name, folder, first_class):
    arrays = fake_idx()
    write_idx(root / folder / "raw", arrays)
    assert data.status(name, root).state == "present"
    ds = data.load(name, root)
    assert_matches_idx(ds, arrays)
    assert ds.shape == (1, 28, 28) and ds.classes[0] == first_class and len(ds.classes) == 10
    assert ds.is_digits == (name == "mnist")
    assert f"{folder} (torchvision layout)" in ds.source
    expected_mean = arrays["train-images-idx3-ubyte"].mean() / 255
    assert ds.mean[0] == pytest.approx(expected_mean, abs=1e-5)
    assert ds.std[0] == pytest.approx(arrays["train-images-idx3-ubyte"].std() / 255, abs=1e-5)
    assert data.load(name, root) is ds


def cifar_md5s(monkeypatch, cls, folder: Path):
    """torchvision checks each batch against the real files' md5s; point it at ours instead."""
    md5 = lambda f: hashlib.md5((folder / f).read_bytes()).hexdigest()  # noqa: E731
    monkeypatch.setattr(cls, "train_list", [[f, md5(f)] for f, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[f, md5(f)] for f, _ in cls.test_list])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5(cls.meta["filename"])})


def write_pickle(path: Path, obj) -> None:
    path.write_bytes(pickle.dumps(obj))


def test_cifar10_batches_load_as_nchw(root, monkeypatch):
    import torchvision

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    rows = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        rows[name] = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
        write_pickle(folder / name, {
            "batch_label": name, "labels": [int(x) for x in rng.integers(0, 10, 4)],
            "data": rows[name], "filenames": [f"{name}_{i}.png" for i in range(4)],
        })
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    write_pickle(folder / "batches.meta", {"num_cases_per_batch": 4, "label_names": classes, "num_vis": 3072})
    cifar_md5s(monkeypatch, torchvision.datasets.CIFAR10, folder)

    assert data.status("cifar10", root).state == "present"
    ds = data.load("cifar10", root)
    assert ds.shape == (3, 32, 32) and ds.classes == classes and not ds.is_digits
    assert ds.train.images.shape == (20, 3, 32, 32) and ds.test.images.shape == (4, 3, 32, 32)
    # CIFAR rows are planar R, G, B: channel-first must give the same planes back
    assert torch.equal(ds.train.images[0], torch.from_numpy(rows["data_batch_1"][0].reshape(3, 32, 32)))
    assert torch.equal(ds.test.images[3], torch.from_numpy(rows["test_batch"][3].reshape(3, 32, 32)))
    assert len(ds.mean) == 3 and len(ds.std) == 3


def test_cifar100_uses_fine_labels(root, monkeypatch):
    import torchvision

    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for name, n in (("train", 6), ("test", 2)):
        write_pickle(folder / name, {"data": np.zeros((n, 3072), np.uint8), "fine_labels": list(range(n)),
                                     "coarse_labels": [0] * n})
    write_pickle(folder / "meta", {"fine_label_names": [f"c{i}" for i in range(100)], "coarse_label_names": ["x"] * 20})
    cifar_md5s(monkeypatch, torchvision.datasets.CIFAR100, folder)
    ds = data.load("cifar100", root)
    assert ds.num_classes == 100 and ds.train.labels.tolist() == list(range(6))
    assert ds.std == (1.0, 1.0, 1.0)  # constant images must not give a zero std


def test_damaged_cifar_gives_clear_error(root):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for f in sources.LAYOUTS["cifar10"].files:
        (folder / f).write_bytes(b"not a pickle")
    with pytest.raises(DatasetError, match="damaged.*download cifar10"):
        data.load("cifar10", root)


def test_debian_fashion_is_unpacked_once_into_torchvision_layout(root, tmp_path, monkeypatch):
    debian = tmp_path / "debian"
    arrays = fake_idx(seed=3)
    write_idx(debian, arrays, gz=True)
    monkeypatch.setattr(sources, "DEBIAN_FASHION_DIR", debian)
    assert data.status("fashion_mnist", root).state == "debian"
    assert data.status("mnist", root).state == "can_download"  # Debian only carries Fashion-MNIST
    seen = []
    ds = data.load("fashion_mnist", root, progress=lambda f, m: seen.append(f))
    assert_matches_idx(ds, arrays)
    assert str(debian) in ds.source
    assert seen == sorted(seen) and seen[-1] == 1.0
    assert tree(root / "FashionMNIST" / "raw") == set(IDX_NAMES)  # no temp files left
    assert data.status("fashion_mnist", root).state == "present"


def test_truncated_gz_leaves_no_file_that_looks_present(root, tmp_path, monkeypatch):
    debian = tmp_path / "debian"
    write_idx(debian, fake_idx(), gz=True)
    good = (debian / "train-images-idx3-ubyte.gz").read_bytes()
    (debian / "train-images-idx3-ubyte.gz").write_bytes(good[: len(good) // 2])
    monkeypatch.setattr(sources, "DEBIAN_FASHION_DIR", debian)
    with pytest.raises(DatasetError, match="Could not unpack"):
        data.load("fashion_mnist", root)
    assert tree(root / "FashionMNIST" / "raw") == set()
    assert data.status("fashion_mnist", root).state == "debian"


# ---- missing data and downloads --------------------------------------------------------

def test_missing_dataset_says_which_folder_and_files(root):
    st = data.status("mnist", root)
    assert st.state == "can_download" and not st.ready
    raw = str((root / "MNIST" / "raw").resolve())
    for text in [raw, *IDX_NAMES, "python -m core download mnist", "mnist_sample"]:
        assert text in st.fix
    with pytest.raises(DatasetError) as err:
        data.load("mnist", root)
    for text in [raw, "train-images-idx3-ubyte", "python -m core download mnist", "mnist_sample"]:
        assert text in str(err.value)
    assert not (root / "MNIST").exists()  # load never downloads


def test_partial_folder_is_reported_incomplete(root):
    arrays = fake_idx()
    del arrays["t10k-labels-idx1-ubyte"]
    write_idx(root / "KMNIST" / "raw", arrays)
    st = data.status("kmnist", root)
    assert st.state == "can_download" and "missing t10k-labels-idx1-ubyte" in st.detail


def test_failed_download_leaves_nothing_present(root, monkeypatch):
    from torchvision.datasets import utils

    def offline(url, download_root, filename=None, md5=None, **kw):
        Path(download_root).mkdir(parents=True, exist_ok=True)
        (Path(download_root) / filename).write_bytes(b"half a file")
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(utils, "download_and_extract_archive", offline)
    with pytest.raises(DatasetError) as err:
        data.download("mnist", root)
    message = str(err.value)
    assert "Name or service not known" in message and "mnist_sample" in message
    assert str((root / "MNIST" / "raw").resolve()) in message
    assert data.status("mnist", root).state == "can_download"
    assert tree(root) == set()  # the staging folder is gone too


def test_failed_cifar_download_leaves_nothing(root, monkeypatch):
    from torchvision.datasets import cifar

    def offline(url, download_root, filename=None, md5=None, **kw):
        (Path(download_root) / filename).write_bytes(b"partial")
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(cifar, "download_and_extract_archive", offline)
    with pytest.raises(DatasetError, match="cifar-10-batches-py"):
        data.download("cifar10", root)
    assert tree(root) == set() and data.status("cifar10", root).state == "can_download"


def test_successful_download_moves_files_into_place(root, monkeypatch):
    from torchvision.datasets import utils

    arrays = fake_idx(seed=5)
    calls, progress = [], []

    def fake(url, download_root, filename=None, md5=None, **kw):
        calls.append(url)
        raw = Path(download_root)
        raw.mkdir(parents=True, exist_ok=True)
        name = filename.removesuffix(".gz")
        (raw / filename).write_bytes(gzip.compress(idx_bytes(arrays[name])))
        (raw / name).write_bytes(idx_bytes(arrays[name]))

    monkeypatch.setattr(utils, "download_and_extract_archive", fake)
    st = data.download("mnist", root, progress=lambda f, m: progress.append(m))
    assert st.state == "present" and len(calls) == 4
    assert sum("Downloading" in m for m in progress) == 4
    assert set(IDX_NAMES) <= tree(root / "MNIST" / "raw")
    assert not [p for p in root.iterdir() if p.name.startswith(".")]
    assert_matches_idx(data.load("mnist", root), arrays)
    assert data.download("mnist", root).state == "present" and len(calls) == 4  # no second download


def test_download_of_fashion_uses_debian_copy(root, tmp_path, monkeypatch):
    debian = tmp_path / "debian"
    write_idx(debian, fake_idx(), gz=True)
    monkeypatch.setattr(sources, "DEBIAN_FASHION_DIR", debian)
    assert data.download("fashion_mnist", root).state == "present"


# ---- registry -------------------------------------------------------------------------

def test_registry_names_info_and_data_dir(root, tmp_path, monkeypatch):
    assert data.names(root) == ["mnist_sample", "mnist", "fashion_mnist", "kmnist", "cifar10", "cifar100"]
    assert data.info("cifar10").channels == 3 and data.info("cifar100").num_classes == 100
    assert data.info("mnist").digits and not data.info("kmnist").digits
    assert data.is_known("folder:pets") and not data.is_known("folder:../x") and not data.is_known("imagenet")
    with pytest.raises(DatasetError, match="Unknown dataset 'imagenet'.*mnist_sample"):
        data.load("imagenet")
    assert data.data_dir() == data.REPO_ROOT / "data"
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "env"))
    assert data.data_dir() == tmp_path / "env"
    assert data.data_dir(root) == root
    assert data.status("folder:nothing", root).state == "missing"
    with pytest.raises(DatasetError, match="No imported dataset named 'nothing'"):
        data.load("folder:nothing", root)


# ---- holdout --------------------------------------------------------------------------

def make_split(counts) -> Split:
    labels = torch.cat([torch.full((n,), c, dtype=torch.int64) for c, n in enumerate(counts)])
    images = torch.arange(len(labels), dtype=torch.int64).remainder(256).to(torch.uint8).view(-1, 1, 1, 1)
    return Split(images.expand(-1, 1, 2, 2).contiguous(), labels)


def test_holdout_is_stratified_deterministic_and_disjoint():
    split = make_split([10, 7, 3, 1])
    kept, held = data.holdout(split, 0.3, seed=4)
    assert len(kept) + len(held) == 21 and len(held) == round(21 * 0.3)
    per_class = torch.bincount(held.labels, minlength=4).tolist()
    assert per_class[0] == 3 and per_class[1] in (2, 3) and per_class[2] in (0, 1) and per_class[3] == 0
    assert torch.bincount(kept.labels, minlength=4).min() >= 1  # every class keeps training examples
    ids = lambda s: set(s.images[:, 0, 0, 0].tolist())  # noqa: E731  (ids unique below 256)
    assert ids(kept).isdisjoint(ids(held)) and len(ids(kept) | ids(held)) == 21
    again_kept, again_held = data.holdout(split, 0.3, seed=4)
    assert torch.equal(again_held.images, held.images) and torch.equal(again_kept.labels, kept.labels)
    big = make_split([100, 100])
    assert not torch.equal(data.holdout(big, 0.2, 1)[1].images, data.holdout(big, 0.2, 2)[1].images)


def test_holdout_zero_and_invalid_share():
    split = make_split([4, 4])
    kept, held = data.holdout(split, 0.0, seed=0)
    assert kept is split and len(held) == 0 and held.images.shape[1:] == split.images.shape[1:]
    for bad in (-0.1, 1.0):
        with pytest.raises(DatasetError):
            data.holdout(split, bad, seed=0)


# ---- image folder import ----------------------------------------------------------------

def png(value, size=(12, 9), mode="L") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, value).save(buf, format="PNG")
    return buf.getvalue()


def class_files(n=5) -> dict[str, bytes]:
    files = {f"cats/c{i}.png": png(255) for i in range(n)}
    files.update({f"dogs/d{i}.png": png(0) for i in range(n)})
    return files


def zip_bytes(files: dict[str, bytes], infos=()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, payload in files.items():
            zf.writestr(name, payload)
        for info, payload in infos:
            zf.writestr(info, payload)
    return buf.getvalue()


def test_import_directory_skips_non_images_and_loads(root, tmp_path):
    src = tmp_path / "src"
    for rel, payload in {**class_files(), "cats/notes.txt": b"hello", "dogs/broken.png": b"\x89PNG garbage",
                         "dogs/.DS_Store": b"junk", "README.md": b"top-level file"}.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(payload)
    before = tree(src)
    rep = data.import_image_folder(src, "pets", root, image_size=16, test_share=0.2, seed=0)
    assert rep.classes == ["cats", "dogs"] and rep.per_class == {"cats": 5, "dogs": 5}
    assert (rep.train_count, rep.test_count) == (8, 2) and rep.dataset == "folder:pets"
    skipped = dict(rep.skipped)
    assert set(skipped) == {"cats/notes.txt", "dogs/broken.png", "README.md"}
    assert skipped["cats/notes.txt"].startswith("not an image (unrecognised file format); use a PNG")
    assert "class folder" in skipped["README.md"]
    assert tree(src) == before

    stored = root / "folders" / "pets"
    assert tree(stored) == {"meta.json", "train.safetensors", "test.safetensors"}
    meta = json.loads((stored / "meta.json").read_text())
    assert meta["classes"] == ["cats", "dogs"] and meta["size"] == [16, 16] and meta["skipped_count"] == 3
    assert "folder:pets" in data.names(root) and data.info("folder:pets", root).kind == "folder"
    assert data.status("folder:pets", root).state == "present"

    ds = data.load("folder:pets", root)
    assert ds.shape == (1, 16, 16) and ds.classes == ["cats", "dogs"] and not ds.is_digits
    assert torch.bincount(ds.test.labels).tolist() == [1, 1]
    images = torch.cat([ds.train.images, ds.test.images])
    labels = torch.cat([ds.train.labels, ds.test.labels])
    assert (images[labels == 0] == 255).all() and (images[labels == 1] == 0).all()  # cats white, dogs black


def test_import_zip_bytes_with_nested_top_folder_in_rgb(root, tmp_path):
    files = {f"export/{k}": v for k, v in class_files().items()}
    files["export/cats/red.png"] = png((255, 0, 0), mode="RGB")
    files["__MACOSX/export/cats/._c0.png"] = b"resource fork"
    rep = data.import_image_folder(zip_bytes(files), "rgb_pets", root, image_size=(8, 10), grayscale=False)
    assert rep.classes == ["cats", "dogs"] and rep.per_class == {"cats": 6, "dogs": 5} and rep.skipped == []
    ds = data.load("folder:rgb_pets", root)
    assert ds.shape == (3, 8, 10)
    images = torch.cat([ds.train.images, ds.test.images])
    red = images[(images[:, 1] == 0).flatten(1).all(1) & (images[:, 0] == 255).flatten(1).all(1)]
    assert len(red) == 1  # the red image kept its colour
    stored = {"data/folders/rgb_pets/" + f for f in ("meta.json", "train.safetensors", "test.safetensors")}
    assert tree(tmp_path) == {"data", "data/folders", "data/folders/rgb_pets", *stored}


def test_import_zip_file_path_and_overwrite(root, tmp_path):
    archive = tmp_path / "pets.zip"
    archive.write_bytes(zip_bytes(class_files(3)))
    data.import_image_folder(archive, "pets", root)
    first = data.load("folder:pets", root)
    with pytest.raises(DatasetError, match="already exists"):
        data.import_image_folder(archive, "pets", root)
    archive.write_bytes(zip_bytes({**class_files(3), **{f"birds/b{i}.png": png(128) for i in range(3)}}))
    rep = data.import_image_folder(archive, "pets", root, overwrite=True)
    assert rep.classes == ["birds", "cats", "dogs"]
    assert data.load("folder:pets", root).classes == ["birds", "cats", "dogs"] and first.num_classes == 2
    assert not [p for p in (root / "folders").iterdir() if p.name.startswith(".")]


def symlink_entry():
    info = zipfile.ZipInfo("cats/link.png")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, "/etc/passwd"


REJECTED_ZIPS = {
    "dotdot": (lambda: zip_bytes({**class_files(), "../evil.png": png(1)}), "outside the archive"),
    "dotdot_inside": (lambda: zip_bytes({**class_files(), "cats/../../evil.png": png(1)}), "outside the archive"),
    "absolute": (lambda: zip_bytes({**class_files(), "/tmp/evil.png": png(1)}), "outside the archive"),
    "windows_drive": (lambda: zip_bytes({**class_files(), "C:/evil.png": png(1)}), "outside the archive"),
    "symlink": (lambda: zip_bytes(class_files(), infos=[symlink_entry()]), "symbolic link"),
    "bomb": (lambda: zip_bytes({**class_files(), "cats/bomb.png": bytes(20 << 20)}), "zip bomb"),
    "not_a_zip": (lambda: b"PK\x03\x04 definitely not a zip", "valid .zip"),
    "one_class": (lambda: zip_bytes({f"cats/c{i}.png": png(9) for i in range(4)}), "need at least 2"),
    "empty_class": (lambda: zip_bytes(class_files(), infos=[(zipfile.ZipInfo("birds/"), b"")]),
                    "birds hold no readable"),
    "unreadable_class": (lambda: zip_bytes({**class_files(), "birds/a.png": b"nope"}), "birds hold no readable"),
    "nothing_readable": (lambda: zip_bytes({"a/x.png": b"1", "b/y.png": b"2"}), "None of the 2 files"),
}


@pytest.mark.parametrize("case", list(REJECTED_ZIPS))
def test_bad_zips_are_rejected_and_nothing_is_written(root, tmp_path, case):
    make, message = REJECTED_ZIPS[case]
    payload = make()
    with pytest.raises(DatasetError, match=message):
        data.import_image_folder(payload, "pets", root)
    assert tree(root / "folders") <= {""}  # at most the empty folders/ directory
    assert not list(tmp_path.parent.rglob("evil.png"))
    assert tree(tmp_path) <= {"data", "data/folders"}


def test_limits_on_file_count_and_size(root, monkeypatch):
    monkeypatch.setattr(importer, "MAX_FILES", 6)
    with pytest.raises(DatasetError, match="the limit is 6"):
        data.import_image_folder(zip_bytes(class_files(5)), "pets", root)
    monkeypatch.setattr(importer, "MAX_FILES", 50_000)
    monkeypatch.setattr(importer, "MAX_TOTAL_BYTES", 300)
    with pytest.raises(DatasetError, match="the limit is 0.0 MiB"):
        data.import_image_folder(zip_bytes(class_files(5)), "pets", root)
    src = root.parent / "src"
    for rel, payload in class_files(5).items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(payload)
    with pytest.raises(DatasetError, match="the limit"):
        data.import_image_folder(src, "pets", root)


def test_directory_with_an_empty_class_folder_is_rejected(root, tmp_path):
    src = tmp_path / "src"
    for rel, payload in class_files().items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(payload)
    (src / "birds").mkdir()
    with pytest.raises(DatasetError, match="birds hold no readable images"):
        data.import_image_folder(src, "pets", root)


@pytest.mark.parametrize("name", ["", "a b", "../up", "x.y", "a/b", "n" * 65, "ünï"])
def test_invalid_names_are_rejected(root, name):
    with pytest.raises(DatasetError, match="letters, digits"):
        data.import_image_folder(zip_bytes(class_files()), name, root)
    assert not (root / "folders").exists()


def test_bad_import_options(root, tmp_path):
    with pytest.raises(DatasetError, match="neither a folder nor a .zip"):
        data.import_image_folder(tmp_path / "missing", "pets", root)
    with pytest.raises(DatasetError, match="Image size"):
        data.import_image_folder(zip_bytes(class_files()), "pets", root, image_size=2)
    with pytest.raises(DatasetError, match="test share"):
        data.import_image_folder(zip_bytes(class_files()), "pets", root, test_share=0)


def test_gzipped_idx_files_in_raw_are_unpacked_on_load(root):
    arrays = fake_idx(seed=7)
    write_idx(root / "MNIST" / "raw", arrays, gz=True)
    assert data.status("mnist", root).state == "present"
    assert_matches_idx(data.load("mnist", root), arrays)
    assert set(IDX_NAMES) <= tree(root / "MNIST" / "raw")
