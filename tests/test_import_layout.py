"""Import layouts: class folders vs train/test split folders, planned from names before decoding."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import Image

from core import data
from core.data import DatasetError
from core.data.layout import ALL, CLASS_FOLDERS, SPLIT_FOLDERS, TEST, TRAIN, plan_import


def image(fmt="PNG", size=(32, 32), colour=(200, 30, 30), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, colour if mode == "RGB" else colour[0]).save(buf, format=fmt)
    return buf.getvalue()


def split_files(prefix="", train=3, test=2, classes=("cat", "dog"), fmt="PNG", splits=("train", "test"), **kw):
    """`prefix` + train/<class>/… and test/<class>/…: each class one colour, so labels can be checked."""
    colours = {"cat": (250, 0, 0), "dog": (0, 0, 250), "frog": (0, 250, 0)}
    ext = "jpg" if fmt == "JPEG" else "png"
    files = {}
    for split, n in zip(splits, (train, test)):
        for c in classes:
            for i in range(n):
                files[f"{prefix}{split}/{c}/{i:04d}.{ext}"] = image(fmt, colour=colours[c], **kw)
    return files


def zipped(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, payload in files.items():
            zf.writestr(name, payload)
    return buf.getvalue()


def written(files: dict[str, bytes], folder: Path) -> Path:
    for rel, payload in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(payload)
    return folder


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "data"


# ---- the plan, from names alone ----------------------------------------------------------

@pytest.mark.parametrize("paths, layout, wrapper, counts", [
    (["cats/a.png", "dogs/b.jpg", "dogs/c.JPEG"], CLASS_FOLDERS, "", {ALL: {"cats": 1, "dogs": 2}}),
    (["pets/cats/a.png", "pets/dogs/b.png"], CLASS_FOLDERS, "pets", {ALL: {"cats": 1, "dogs": 1}}),
    (["train/a/1.png", "train/b/1.png", "train/b/2.png", "test/a/1.png", "test/b/1.png"], SPLIT_FOLDERS, "",
     {TRAIN: {"a": 1, "b": 2}, TEST: {"a": 1, "b": 1}}),
    (["cifar10/TRAIN/a/1.jpg", "cifar10/TRAIN/b/1.jpg", "cifar10/Test/a/1.jpg", "cifar10/Test/b/1.jpg"],
     SPLIT_FOLDERS, "cifar10", {TRAIN: {"a": 1, "b": 1}, TEST: {"a": 1, "b": 1}}),
    (["Training/a/1.png", "Training/b/1.png", "Testing/a/1.png", "Testing/b/1.png"], SPLIT_FOLDERS, "",
     {TRAIN: {"a": 1, "b": 1}, TEST: {"a": 1, "b": 1}}),
    (["x/y/train/a/1.png", "x/y/train/b/1.png", "x/y/validation/a/1.png", "x/y/validation/b/1.png"],
     SPLIT_FOLDERS, "x/y", {TRAIN: {"a": 1, "b": 1}, TEST: {"a": 1, "b": 1}}),
    # test/ is the test set, valid/ joins train
    (["train/a/1.png", "train/b/1.png", "valid/a/1.png", "valid/b/1.png", "test/a/1.png", "test/b/1.png"],
     SPLIT_FOLDERS, "", {TRAIN: {"a": 2, "b": 2}, TEST: {"a": 1, "b": 1}}),
    # a lone train/ is class folders: the test share is held out later
    (["ds/train/a/1.png", "ds/train/b/1.png"], CLASS_FOLDERS, "ds/train", {ALL: {"a": 1, "b": 1}}),
])
def test_layouts_are_recognised(paths, layout, wrapper, counts):
    plan = plan_import(paths)
    assert (plan.layout, plan.wrapper, plan.counts) == (layout, wrapper, counts)
    assert sum(plan.total(s) for s in plan.counts) == len(plan.members) == len(paths)
    assert plan.has_test_split == (layout == SPLIT_FOLDERS)


def test_train_members_come_first_and_notes_say_what_happened_to_val():
    paths = ["test/b/1.png", "val/a/1.png", "test/a/1.png", "train/b/1.png", "train/a/1.png", "val/b/2.png"]
    plan = plan_import(paths)
    assert [m.split for m in plan.members] == [TRAIN] * 4 + [TEST] * 2
    assert [paths[m.index] for m in plan.members[4:]] == ["test/a/1.png", "test/b/1.png"]
    assert any("val/ is merged into train" in n for n in plan.notes)
    assert any("val/ is the test set" in n for n in plan_import(["train/a/1.png", "train/b/1.png",
                                                                  "val/a/1.png", "val/b/1.png"]).notes)


def test_skipped_files_say_why_and_junk_is_silent():
    plan = plan_import(["train/a/1.png", "train/b/1.png", "test/a/1.png", "test/b/1.png", "README.md",
                        "train/a/notes.txt", "train/labels.csv", "__MACOSX/train/a/._1.png", "train/.DS_Store"])
    skipped = dict(plan.skipped)
    assert set(skipped) == {"README.md", "train/a/notes.txt", "train/labels.csv"}
    assert skipped["train/a/notes.txt"].startswith("not an image")
    assert "class folder" in skipped["train/labels.csv"] and "class folder" in skipped["README.md"]
    wrapped = plan_import(["pets/readme.txt", "pets/cats/1.png", "pets/dogs/1.png"])  # a file inside the wrapper
    assert wrapped.wrapper == "pets" and wrapped.skipped == [("pets/readme.txt", "not inside a class folder")]


AMBIGUOUS = {
    "class named test": (["cats/1.png", "dogs/1.png", "test/1.png"], "test/ beside cats/, dogs/"),
    "class named Val, wrapped": (["w/cats/1.png", "w/Val/1.png"], "inside w/: Val/ beside cats/"),
    "different classes": (["train/a/1.png", "train/b/1.png", "test/a/1.png", "test/c/1.png"],
                          "only in train/: b; only in test/: c"),
    "val classes differ": (["train/a/1.png", "train/b/1.png", "test/a/1.png", "test/b/1.png", "val/a/1.png"],
                           "only in train/: b"),
    "images directly in train": (["train/a/1.png", "train/b/1.png", "train/x.png", "test/a/1.png",
                                  "test/b/1.png"], "directly in a split folder (e.g. train/x.png)"),
    "images directly in a lone train": (["train/a/1.png", "train/b/1.png", "train/x.png"], "e.g. train/x.png"),
    "two train splits": (["train/a/1.png", "training/a/1.png", "test/a/1.png"], "train/ and training/ are both"),
    "no train split": (["test/a/1.png", "test/b/1.png"], "no train/"),
    "empty test split": (["train/a/1.png", "train/b/1.png"], "test/ holds no image files"),
    "a class without images": (["train/a/1.png", "train/b/x.txt", "test/a/1.png", "test/b/1.png"],
                               "b hold no readable images"),
}


@pytest.mark.parametrize("case", list(AMBIGUOUS))
def test_ambiguous_layouts_are_reported_not_guessed(case):
    paths, message = AMBIGUOUS[case]
    dirs = ["test/a/", "test/b/"] if case == "empty test split" else []
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        plan_import(paths, dirs)


# ---- preview and import end to end ---------------------------------------------------------

@pytest.mark.parametrize("prefix", ["", "cifar10/"])
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_split_zip_keeps_its_test_set_and_the_images_own_size_and_colour(root, prefix, fmt):
    payload = zipped(split_files(prefix, train=4, test=2, classes=("cat", "dog", "frog"), fmt=fmt))
    plan = data.preview_import(payload)
    assert plan.layout == SPLIT_FOLDERS and plan.classes == ["cat", "dog", "frog"]
    assert plan.image_size == (32, 32) and plan.colour is True
    assert not root.exists()  # the preview writes nothing

    rep = data.import_image_folder(payload, "cifar", root, test_share=0.5)  # the share is not used
    assert rep.classes == ["cat", "dog", "frog"]  # today: ["test", "train"]
    assert (rep.train_count, rep.test_count) == (12, 6)
    ds = data.load("folder:cifar", root)
    assert ds.shape == (3, 32, 32)  # the images' own size, in colour
    assert torch.bincount(ds.test.labels).tolist() == [2, 2, 2]
    red = ds.train.images[ds.train.labels == 0].float().mean((0, 2, 3))
    assert red[0] > 200 and red[2] < 50  # cat images are red: labels follow class folders
    meta = data.folders.read_meta(root, "cifar")
    assert meta["layout"] == SPLIT_FOLDERS and meta["test_share"] is None


def test_split_folder_on_disk_with_val_merged_into_train(root, tmp_path):
    files = split_files(train=3, test=2, splits=("train", "test"), fmt="PNG")
    files.update({k.replace("train/", "val/", 1): v for k, v in split_files(train=1, test=0).items()})
    rep = data.import_image_folder(written(files, tmp_path / "src"), "pets", root, image_size=8)
    assert (rep.train_count, rep.test_count) == (8, 4)
    assert any("val/ is merged into train" in n for n in rep.plan.notes)


def test_class_folders_keep_the_test_share_and_grayscale_stays_grayscale(root):
    files = {f"{c}/{i}.png": image(colour=(v, v, v), mode="L", size=(20, 20)) for c, v in (("a", 10), ("b", 240))
             for i in range(5)}
    plan = data.preview_import(zipped(files))
    assert plan.layout == CLASS_FOLDERS and plan.image_size == (20, 20) and plan.colour is False
    rep = data.import_image_folder(zipped(files), "gray", root, test_share=0.2)
    assert (rep.train_count, rep.test_count) == (8, 2)
    assert data.load("folder:gray", root).shape == (1, 20, 20)


def test_mixed_sizes_fall_back_to_the_default_size(root):
    files = {"a/1.png": image(size=(10, 12)), "a/2.png": image(size=(30, 30)), "b/1.png": image(size=(10, 12))}
    assert data.preview_import(zipped(files)).image_size is None
    rep = data.import_image_folder(zipped(files), "mixed", root, test_share=0.34)
    assert data.load("folder:mixed", root).shape == (3, 28, 28) and rep.plan.colour


@pytest.mark.parametrize("case", ["class named test", "different classes", "images directly in train"])
def test_ambiguous_zip_writes_nothing(root, case):
    paths, message = AMBIGUOUS[case]
    payload = zipped({p: image() for p in paths})
    with pytest.raises(DatasetError, match="Ambiguous layout"):
        data.preview_import(payload)
    with pytest.raises(DatasetError, match="Ambiguous layout"):
        data.import_image_folder(payload, "pets", root)
    assert not (root / "folders" / "pets").exists()


def test_describe_lists_layout_counts_notes_and_skipped():
    plan = plan_import(["c10/train/a/1.png", "c10/train/b/1.png", "c10/test/a/1.png", "c10/test/b/1.png",
                        "c10/train/a/x.txt"], source="c10.zip")
    text = "\n".join(plan.describe())
    assert "Layout: split folders inside c10/" in text and "Classes (2): a, b" in text
    assert "train" in text and "test" in text and "Skipped 1 file(s):" in text and "c10/train/a/x.txt" in text


# ---- progress and cancel -------------------------------------------------------------------

def test_progress_says_count_speed_and_time_left_and_stop_writes_nothing(root, monkeypatch):
    import threading

    from core.data import importer

    monkeypatch.setattr(importer, "REPORT_EVERY", 4)
    payload = zipped(split_files(train=6, test=2))
    messages = []
    data.import_image_folder(payload, "ok", root, progress=lambda f, msg: messages.append((f, msg)))
    reading = [m for _, m in messages if m.startswith("Reading images")]
    assert reading[0] == "Reading images: 0 of 16"
    assert "Reading images: 4 of 16, " in reading[1] and "images/s, about " in reading[1] and " left" in reading[1]
    assert [f for f, _ in messages] == sorted(f for f, _ in messages) and messages[-1][0] == 1.0

    stop = threading.Event()

    def cancel_midway(fraction, message):
        if fraction > 0:
            stop.set()  # what the Data page's Cancel or a CLI's Ctrl+C handler would do

    before = sorted(p.name for p in (root / "folders").iterdir())
    with pytest.raises(importer.ImportCancelled, match="nothing was written"):
        data.import_image_folder(payload, "cancelled", root, progress=cancel_midway, stop=stop)
    assert sorted(p.name for p in (root / "folders").iterdir()) == before == ["ok"]


def test_an_interrupt_while_writing_leaves_no_half_dataset(root, monkeypatch):
    from safetensors import torch as st_torch

    calls = []

    def interrupted(tensors, path, *a, **k):
        calls.append(path)
        if len(calls) == 2:  # train written, then Ctrl+C while writing test
            raise KeyboardInterrupt
        return real(tensors, path, *a, **k)

    real = st_torch.save_file
    monkeypatch.setattr(st_torch, "save_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        data.import_image_folder(zipped(split_files()), "pets", root)
    assert [p.name for p in (root / "folders").iterdir()] == []
