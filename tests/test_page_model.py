"""The Model page through AppTest: the lab question, totals, the custom stack editor, the chart."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
import streamlit as st
from PIL import Image
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from core import data, models
from core.config import RunConfig
from ui import config_form, layer_editor, state

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
PAGE = "pages/model.py"


@pytest.fixture(autouse=True)
def fresh():
    data.clear_cache()
    st.cache_data.clear()
    st.cache_resource.clear()
    yield


def open_page(**session) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    for key, value in session.items():
        at.session_state[key] = value
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def layer_table(at: AppTest):
    return next(df.value for df in at.dataframe if "layer" in df.value.columns)


def stack_table(at: AppTest):
    return next(df.value for df in at.dataframe if "#" in df.value.columns)


def test_fresh_page_shows_lenet5_on_the_mnist_sample():
    at = open_page()
    assert at.selectbox(key="model_arch").value == "lenet5"
    assert at.selectbox(key="model_dataset").value == "mnist_sample"
    assert at.number_input(key="model_batch").value == 16
    assert metrics(at)["Parameters"] == f"{models.param_count('lenet5', (1, 28, 28), 10):,}"
    assert layer_table(at)["output shape"].iloc[0] == "[16, 6, 28, 28]"
    assert not at.error


def test_lab_question_seed_cnn7_batch_16_on_mnist():
    at = open_page()
    at.selectbox(key="model_arch").set_value("seed_cnn7")
    at.number_input(key="model_batch").set_value(16)
    at.run()
    assert not at.exception
    table = layer_table(at).set_index("layer")
    expected = {
        "conv1": ("[16, 16, 24, 24]", 416), "pool1": ("[16, 16, 12, 12]", 0),
        "conv2": ("[16, 32, 10, 10]", 4_640), "pool2": ("[16, 32, 5, 5]", 0),
        "conv3": ("[16, 16, 5, 5]", 528), "flatten": ("[16, 400]", 0),
        "fc1": ("[16, 64]", 25_664), "fc2": ("[16, 10]", 650),
    }
    for layer, (shape, params) in expected.items():
        assert (table.loc[layer, "output shape"], table.loc[layer, "parameters"]) == (shape, params), layer
    tiles = metrics(at)
    assert tiles["Parameters"] == tiles["Trainable"] == "31,898"
    assert tiles["MACs per batch of 16"] == "11.9 M"
    # another batch size changes only the first dimension and the MACs
    at.number_input(key="model_batch").set_value(3).run()
    table3 = layer_table(at).set_index("layer")
    assert table3.loc["conv1", "output shape"] == "[3, 16, 24, 24]"
    assert table3.loc["conv1", "MACs"] * 16 == table.loc["conv1", "MACs"] * 3
    assert table3["parameters"].tolist() == table["parameters"].tolist()


def test_layer_table_has_input_shapes_totals_and_lab_report_downloads(monkeypatch):
    offered = {}  # what the download buttons hand the browser, by file name
    keep = MemoryMediaFileStorage.load_and_get_id

    def record(self, data, mimetype, kind, filename=None):
        offered[filename] = data.decode() if isinstance(data, bytes) else data
        return keep(self, data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    at = open_page()
    table = layer_table(at).set_index("layer")
    assert (table.loc["fc1", "input shape"], table.loc["fc1", "output shape"]) == ("[16, 400]", "[16, 120]")
    assert table.loc["conv2", "trainable"] == 2_416
    tiles = metrics(at)
    assert tiles["Non-trainable"] == "0" and tiles["Model size"] == "0.24 MB"
    csv = offered["layers-lenet5-mnist-sample-batch16.csv"]
    assert csv.splitlines()[1] == 'conv1,Conv2d,"[16, 1, 28, 28]","[16, 6, 28, 28]",156,156,1956864'
    md = offered["layers-lenet5-mnist-sample-batch16.md"]
    assert md.startswith("### LeNet-5") and "batch of 16" in md.splitlines()[0]
    assert "- **Trainable:** 61,706" in md
    # RGB: the table starts from the colour image, whatever the architecture
    at.selectbox(key="model_dataset").set_value("cifar10")
    at.selectbox(key="model_arch").set_value("resnet18_tv").run()
    assert not at.exception
    rgb = layer_table(at)
    assert rgb["input shape"].iloc[0] == "[16, 3, 32, 32]" and rgb["output shape"].iloc[-1] == "[16, 10]"
    assert "layers-resnet18-tv-cifar10-batch16.csv" in offered


def test_shape_comes_from_the_dataset_description_without_loading():
    at = open_page()
    at.selectbox(key="model_dataset").set_value("cifar100").run()  # not downloaded here
    assert not at.exception
    assert data.status("cifar100").state == "can_download"
    assert "16 × 3 × 32 × 32" in "\n".join(c.value for c in at.caption)
    assert layer_table(at)["output shape"].iloc[-1] == "[16, 100]"
    # the stack built for MNIST's 10 classes: the editor says what to change
    assert "end with linear(out_features=100)" in "\n".join(e.value for e in at.error)


def _tiny_folder(size: int) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for cls in ("a", "b"):
            for i in range(5):
                png = io.BytesIO()
                Image.new("L", (10, 10), 50 * i if cls == "a" else 250 - 20 * i).save(png, "PNG")
                zf.writestr(f"{cls}/{i}.png", png.getvalue())
    return data.import_image_folder(buf.getvalue(), "tiny", image_size=size).dataset


def test_too_small_images_give_a_message_not_a_traceback():
    name = _tiny_folder(8)
    at = open_page(model_dataset=name, model_arch="seed_cnn7")
    assert not at.exception
    assert "seed_cnn7 needs images of at least 16×16 pixels, got 8×8" in "\n".join(e.value for e in at.error)
    assert not at.metric  # no table pretending to work
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    shown = chart["data"][0]["y"]
    assert models.MODELS["one_conv"].title in shown and models.MODELS["seed_cnn7"].title not in shown


def test_broken_custom_stack_names_the_layer_and_cannot_go_to_train():
    broken = [{"type": "conv", "out_channels": 8, "kernel_size": 3}, {"type": "relu"},
              {"type": "linear", "out_features": 10}]
    at = open_page(**{layer_editor.BASE: broken, "model_arch": "custom"})
    errors = "\n".join(e.value for e in at.error)
    assert "layer 3 (linear): needs flattened input — add a flatten layer before it" in errors
    assert "Your custom stack" in errors  # the Layers tab says why it has no table
    assert stack_table(at)["output shape"].tolist() == ["[16, 8, 26, 26]", "[16, 8, 26, 26]", "✖ error"]
    assert stack_table(at)["type"].tolist() == ["conv", "relu", "linear"]
    use = next(b for b in at.button if b.label == "Use this stack in Train")
    assert use.disabled


def test_reset_restores_the_default_stack():
    at = open_page(**{layer_editor.BASE: [{"type": "relu"}]})
    assert len(stack_table(at)) == 1
    next(b for b in at.button if b.label.startswith("Start again")).click().run()
    assert not at.exception and not at.error
    assert len(stack_table(at)) == len(layer_editor.default_stack())


def test_edited_stack_survives_a_visit_to_another_page():
    at = open_page(model_arch="custom")
    edited = layer_editor.default_stack(10)[:6] + [{"type": "flatten"}, {"type": "linear", "out_features": 10}]
    at.session_state[layer_editor.KEPT] = edited  # what the table held when the page was left
    at.switch_page("pages/data.py").run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert stack_table(at)["type"].tolist() == [layer["type"] for layer in edited]
    assert metrics(at)["Parameters"] == f"{sum(c.params for c in models.check_layers(edited, (1, 28, 28), 10)):,}"


def test_custom_arch_summary_matches_the_editor_stack():
    at = open_page(model_arch="custom")
    assert metrics(at)["Parameters"] == f"{models.param_count('lenet5', (1, 28, 28), 10):,}"
    assert layer_table(at)["layer"].tolist()[:3] == ["conv1", "relu1", "pool1"]


def test_use_this_stack_in_train_fills_the_train_form_and_keeps_its_other_values():
    at = open_page(**{state.TRAIN_PREFILL: RunConfig(lr=0.123, epochs=3).to_dict()})
    next(b for b in at.button if b.label == "Use this stack in Train").click().run()
    assert not at.exception
    assert at.title[0].value == "Train"
    form = at.session_state[config_form.VALUES]  # the Train page loaded the prefill into its form
    assert form["arch"] == "custom" and list(form["custom_layers"]) == layer_editor.default_stack(10)
    assert form["lr"] == 0.123 and form["epochs"] == 3 and form["dataset"] == "mnist_sample"
    cfg = RunConfig.from_dict(dict(form))
    assert cfg.validate(image_shape=(1, 28, 28)) is cfg


def test_comparison_chart_has_every_builtin_architecture():
    at = open_page()
    [spec] = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    bars = dict(zip(spec["data"][0]["y"], spec["data"][0]["x"]))
    for name, info in models.MODELS.items():
        if name != "custom":
            assert bars[info.title] == models.param_count(name, (1, 28, 28), 10)
    assert bars["Your custom stack (Build your own)"] == models.param_count("lenet5", (1, 28, 28), 10)
    highlighted = [t for t, c in zip(spec["data"][0]["y"], spec["data"][0]["marker"]["color"]) if c == "#E45756"]
    assert highlighted == [models.MODELS["lenet5"].title]
    assert spec["layout"]["xaxis"]["type"] == "log"


def test_damaged_imported_dataset_gives_a_message_and_a_link():
    name = _tiny_folder(28)
    (data.data_dir() / "folders" / "tiny" / "meta.json").write_text("{ not json")
    at = open_page(model_dataset=name)
    assert not at.exception
    assert "damaged" in "\n".join(e.value for e in at.error)
    link = next(el for el in at.get("page_link") if el.proto.label == "Go to Data")
    assert link.proto.page == "data"
