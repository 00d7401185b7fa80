"""The Data page through AppTest: states and fixes, samples, class balance, augmentation, import."""
from __future__ import annotations

import gzip
import io
import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from PIL import Image
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block

from core import data
from core.data import sources
from ui.text import plain

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
PAGE = "pages/data.py"


@pytest.fixture(autouse=True)
def fresh(monkeypatch, tmp_path):
    monkeypatch.setattr(sources, "DEBIAN_FASHION_DIR", tmp_path / "no-debian-here")
    data.clear_cache()
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    data.clear_cache()


def open_page(**state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def texts(elements) -> str:
    return "\n".join(e.value for e in elements)


def plotly_specs(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def test_mnist_sample_shows_facts_samples_and_balanced_distribution():
    at = open_page()
    assert at.selectbox(key="data_dataset").value == "mnist_sample"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Train images"] == "4,000" and metrics["Test images"] == "1,000"
    assert metrics["Image shape"] == "1×28×28" and metrics["Classes"] == "10"
    assert "mean (0.13" in texts(at.markdown) and "std (0.30" in texts(at.markdown)
    # 10 class rows of samples + 4 augmentation rows (original + 3 passes)
    assert len(at.get("image")) == 14
    assert "**7**  \n8 of 400" in [m.value for m in at.markdown]
    [spec] = plotly_specs(at)
    train, test = spec["data"]
    assert sum(train["y"]) == 4000 and sum(test["y"]) == 1000
    assert train["y"] == [400] * 10 and train["text"][0] == "10.0%"
    assert "Balanced" in texts(at.markdown)


def test_augmentation_preview_reseeds_and_follows_the_controls():
    at = open_page()

    def rows():
        return [img.proto.imgs[0].url for img in at.get("image")[-4:]]

    before = rows()
    button(at, "New samples").click().run()
    assert not at.exception
    after = rows()
    assert after[0] == before[0] and after[1:] != before[1:]  # originals stay, augmentations change
    for key in ("data_aug_translate", "data_aug_rotate", "data_aug_scale", "data_aug_erase"):
        at.slider(key=key).set_value(0).run()
    assert not at.exception
    off = rows()
    assert off[1] == off[0]  # nothing switched on: the augmented images are the originals


def test_missing_cifar10_shows_the_exact_fix_and_a_failed_download_is_a_message(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("<urlopen error [Errno -2] Name or service not known>")

    monkeypatch.setattr(sources, "_fetch", offline)
    at = open_page(data_dataset="cifar10")
    fix = sources.fix_text("cifar10", data.data_dir())
    assert fix in texts(at.warning)
    assert not at.metric  # nothing is shown as if it were loaded
    button(at, "Download cifar10").click().run()
    assert not at.exception
    assert "Downloading cifar10 failed (<urlopen error [Errno -2] Name or service not known>)" in texts(at.error)
    assert data.status("cifar10").state == "can_download"


def test_missing_mnist_points_to_the_bundled_sample():
    at = open_page(data_dataset="mnist")
    assert "python -m core download mnist" in texts(at.warning)
    assert "mnist_sample" in texts(at.info)
    button(at, "Show mnist_sample instead").click().run()
    assert not at.exception
    assert at.selectbox(key="data_dataset").value == "mnist_sample"
    assert {m.label: m.value for m in at.metric}["Train images"] == "4,000"


def _idx(array: np.ndarray) -> bytes:
    code = 0x08  # unsigned byte
    return struct.pack(">I", (code << 8) | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def test_debian_fashion_mnist_unpacks_with_a_button(tmp_path, monkeypatch):
    debian = tmp_path / "debian"
    debian.mkdir()
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(30) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(10) % 10).astype(np.uint8),
    }
    for name, array in arrays.items():
        (debian / f"{name}.gz").write_bytes(gzip.compress(_idx(array)))
    monkeypatch.setattr(sources, "DEBIAN_FASHION_DIR", debian)
    at = open_page(data_dataset="fashion_mnist")
    assert "Found Debian's copy in" in texts(at.caption) and "dataset-fashion-mnist" in texts(at.info)
    assert not at.metric and data.status("fashion_mnist").state == "debian"  # nothing unpacked yet
    button(at, "Unpack Debian's copy").click().run()
    assert not at.exception
    assert data.status("fashion_mnist").state == "present"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Train images"] == "30" and metrics["Test images"] == "10"


def _zip(classes: dict[str, int], extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for cls, n in classes.items():
            for i in range(n):
                png = io.BytesIO()
                Image.new("RGB", (20, 16), (40 * i % 255, 100, 200 if cls == "cats" else 20)).save(png, "PNG")
                zf.writestr(f"pets/{cls}/{i}.png", png.getvalue())
        for name, payload in (extra or {}).items():
            zf.writestr(name, payload)
    return buf.getvalue()


def _preview(at: AppTest, upload: bytes | None = None, path: str = "") -> AppTest:
    if upload is not None:
        at.file_uploader(key="data_import_zip").set_value(("pets.zip", upload, "application/zip"))
    at.text_input(key="data_import_path").set_value(path)
    return button(at, "Preview").click().run()


def _confirm(at: AppTest, name: str | None = None, overwrite: bool | None = None) -> AppTest:
    if name is not None:
        at.text_input(key="data_import_name").set_value(name)
    if overwrite is not None:
        at.checkbox(key="data_import_overwrite").set_value(overwrite)
    return button(at, "Import").click().run()


def _submit_import(at: AppTest, name: str, upload: bytes | None = None, path: str = "") -> AppTest:
    """Preview, then Import when the preview offers it (a source that cannot be read stops there)."""
    at = _preview(at, upload, path)
    if any(b.label == "Import" for b in at.button):
        at = _confirm(at, name)
    return at


def test_import_bad_zip_shows_the_message_and_writes_nothing():
    at = _submit_import(open_page(), "pets", upload=b"this is not a zip file")
    assert not at.exception
    assert "Could not read the archive" in texts(at.error)
    assert data.names() == list(data.DATASETS)


def test_import_needs_exactly_one_source(tmp_path):
    at = _submit_import(open_page(), "pets")
    assert "Give either a .zip upload or a folder path" in texts(at.error)
    not_zip = tmp_path / "notes.txt"
    not_zip.write_text("hello")
    at = _submit_import(at, "pets", path=str(not_zip))
    assert "is neither a folder nor a .zip file" in texts(at.error)


def test_import_zip_reports_and_selects_the_new_dataset():
    upload = _zip({"cats": 6, "dogs": 4}, extra={"pets/dogs/readme.txt": b"not an image"})
    at = _submit_import(open_page(), "pets", upload=upload)
    assert not at.exception
    assert at.selectbox(key="data_dataset").value == "folder:pets"
    assert "pets (folder:pets)" in at.selectbox(key="data_dataset").options
    assert f"Imported **{plain('folder:pets')}**: 2 classes" in texts(at.success)  # escaped Markdown
    counts, skipped = [df.value for df in at.dataframe if "class" in df.value or "reason" in df.value]
    assert counts.to_dict("list") == {"class": ["cats", "dogs"], "images": [6, 4], "train": [5, 3], "test": [1, 1]}
    assert skipped["file"].tolist() == ["pets/dogs/readme.txt"] and "image" in skipped["reason"][0]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Image shape"] == "3×28×28" and metrics["Classes"] == "2"  # colour images: RGB
    [spec] = plotly_specs(at)
    assert sum(spec["data"][0]["y"]) + sum(spec["data"][1]["y"]) == 10
    # the same name again is refused with a clear message unless replacing is ticked
    at = _submit_import(at, "pets", upload=upload)
    assert "already exists" in texts(at.error)


def test_many_classes_show_a_class_picker_and_ten_rows():
    data.import_image_folder(_zip({f"c{i:02d}": 2 for i in range(12)}), "many", test_share=0.5)
    at = open_page(data_dataset="folder:many")
    picker = at.multiselect(key="data_sample_classes")
    assert picker.value == [f"c{i:02d}" for i in range(10)]
    assert len(at.get("image")) == 10 + 4  # ten class rows, then the augmentation preview
    picker.set_value(["c11"]).run()
    assert not at.exception and len(at.get("image")) == 1 + 4
    assert "**c11**  \n1 of 1" in [m.value for m in at.markdown]


def test_damaged_import_is_a_message_not_a_traceback():
    data.import_image_folder(_zip({"cats": 3, "dogs": 3}), "pets")
    meta = data.data_dir() / "folders" / "pets" / "meta.json"
    meta.write_text("{ not json")
    at = open_page(data_dataset="folder:pets")
    assert not at.exception
    assert "damaged" in texts(at.error)


def test_augmentation_controls_take_their_ranges_from_the_config_and_offer_the_padding():
    from core.config import field_info

    at = open_page()
    for name in ("aug_translate", "aug_rotate", "aug_scale", "aug_erase"):
        assert at.slider(key=f"data_{name}").max == field_info(name)["max"], name  # zoom was capped at 0.5
    assert at.selectbox(key="data_aug_pad").value == "black"  # digits: black comes in, their background
    at.slider(key="data_aug_translate").set_value(4).run()
    at.selectbox(key="data_aug_pad").set_value("reflect").run()
    assert not at.exception


# ---- preview, then confirm ------------------------------------------------------------------

def _split_zip(train=3, test=2, wrapper="cifar10/", size=(32, 32)) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for split, n in (("train", train), ("test", test)):
            for cls, colour in (("cat", (250, 0, 0)), ("dog", (0, 0, 250))):
                for i in range(n):
                    jpg = io.BytesIO()
                    Image.new("RGB", size, colour).save(jpg, "JPEG")
                    zf.writestr(f"{wrapper}{split}/{cls}/{i:04d}.jpg", jpg.getvalue())
    return buf.getvalue()


def _forms(node) -> list:
    """The st.form blocks under `node`, as protos."""
    found = []
    for child in getattr(node, "children", {}).values():
        # a plain Block carries the whole Block proto (Expander, Column, … carry only their part)
        if type(child) is Block and child.proto is not None and child.proto.WhichOneof("type") == "form":
            found.append(child.proto.form)
        found += _forms(child)
    return found


def test_split_zip_is_previewed_then_imported_with_its_own_test_set_size_and_colour():
    at = _preview(open_page(), upload=_split_zip())
    assert not at.exception
    assert data.names() == list(data.DATASETS)  # the preview wrote nothing
    assert "split folders inside cifar10/, 2 classes, 10 images" in texts(at.markdown)
    [counts] = [df.value for df in at.dataframe if "train" in df.value]
    assert counts.to_dict("list") == {"class": ["cat", "dog"], "train": [3, 3], "test": [2, 2]}
    assert "own test split is kept" in texts(at.info)
    assert at.number_input(key="data_import_size").value == 32  # the images' own size
    assert at.radio(key="data_import_colour").value == "RGB"
    assert at.text_input(key="data_import_name").value == "pets"  # from the upload's name
    at = _confirm(at)
    assert not at.exception
    assert at.selectbox(key="data_dataset").value == "folder:pets"
    assert "6 train / 4 test images (its own test split)" in texts(at.success)
    [counts] = [df.value for df in at.dataframe if "images" in df.value]
    assert counts.to_dict("list") == {"class": ["cat", "dog"], "images": [5, 5], "train": [3, 3], "test": [2, 2]}
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Image shape"] == "3×32×32" and metrics["Train images"] == "6" and metrics["Test images"] == "4"


def test_the_preview_and_its_defaults_survive_a_visit_to_another_page():
    at = _preview(open_page(), upload=_split_zip())
    at.switch_page("pages/home.py").run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert at.number_input(key="data_import_size").value == 32 and at.radio(key="data_import_colour").value == "RGB"
    at = _confirm(at, "pets")
    assert "6 train / 4 test images" in texts(at.success)


def test_only_the_import_button_imports_and_replacing_is_not_sticky():
    at = _preview(open_page(), upload=_split_zip())
    source, confirm = _forms(at.main)
    assert confirm.enter_to_submit is False  # Enter in the name field does not import
    at.text_input(key="data_import_name").set_value("typed").run()  # typing alone never imports
    assert data.names() == list(data.DATASETS)
    at = _confirm(at, "pets")
    at = _confirm(_preview(at, upload=_split_zip(train=4)), "pets", overwrite=True)
    assert not at.exception and "8 train / 4 test" in texts(at.success)
    at = _preview(at, upload=_split_zip())
    assert at.checkbox(key="data_import_overwrite").value is False  # asked again for every import
    at = _confirm(at, "pets")
    assert "already exists" in texts(at.error)


def test_ambiguous_layout_is_reported_at_preview_and_offers_no_import():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for folder in ("cats", "dogs", "test"):
            png = io.BytesIO()
            Image.new("RGB", (8, 8)).save(png, "PNG")
            zf.writestr(f"{folder}/0.png", png.getvalue())
    at = _preview(open_page(), upload=buf.getvalue())
    assert not at.exception
    assert "Ambiguous layout: test/ beside cats/, dogs/" in texts(at.error)
    assert not [b for b in at.button if b.label == "Import"]


def test_a_folder_on_the_server_is_previewed_and_imported(tmp_path):
    src = tmp_path / "shapes"
    with zipfile.ZipFile(io.BytesIO(_split_zip(wrapper="", size=(16, 16)))) as zf:
        zf.extractall(src)
    at = _preview(open_page(), path=str(src))
    assert at.text_input(key="data_import_name").value == "shapes"
    assert at.number_input(key="data_import_size").value == 16
    at = _confirm(at)
    assert not at.exception and at.selectbox(key="data_dataset").value == "folder:shapes"
    assert {m.label: m.value for m in at.metric}["Image shape"] == "3×16×16"
