"""The Inspect page (AppTest, on a really trained LeNet-5) and its pure figure builders."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import data
from tests.conftest import png_bytes
from ui import inspect_figures as figs

PAGE = "pages/inspect_model.py"


# ---- fixtures ----------------------------------------------------------------------------

@pytest.fixture
def with_run(trained_run):
    return trained_run


def open_page() -> AppTest:
    at = AppTest.from_file("../streamlit_app.py", default_timeout=120)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def chart(at: AppTest, key: str) -> dict:
    found = [c for c in at.get("plotly_chart") if c.proto.id.endswith(key)]
    assert found, f"no chart {key}"
    return json.loads(found[0].proto.spec)


def array(value) -> np.ndarray:
    """A figure array from its JSON: plain lists, or Plotly's base64 typed arrays."""
    if isinstance(value, dict) and "bdata" in value:
        shape = [int(s) for s in str(value.get("shape", "-1")).split(",")]
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).reshape(shape)
    return np.asarray(value, dtype=float)


def tile_count(trace: dict) -> int:
    index = array(trace["customdata"])
    index = index[..., 0] if index.ndim == 3 else index
    return len(np.unique(index[index >= 0]))


# ---- the page ----------------------------------------------------------------------------

def test_filters_feature_maps_and_prediction_of_a_trained_run(with_run):
    at = open_page()
    assert at.selectbox(key="inspect_run").value == with_run
    assert at.selectbox(key="inspect_conv").options == ["conv1 — 6 filters of 1×5×5", "conv2 — 16 filters of 6×5×5"]
    filters = chart(at, "inspect_filter_chart")["data"][0]
    assert filters["type"] == "heatmap" and tile_count(filters) == 6
    assert array(filters["z"]).shape == (5, 6 * 6 - 1)  # six 5×5 filters in one row, 1-pixel gaps
    maps = chart(at, "inspect_maps_chart")["data"][0]
    assert tile_count(maps) == 6
    assert "6 maps of 28×28" in at.caption[-1].value
    bars = chart(at, "inspect_proba_chart")["data"][0]
    assert len(array(bars["x"])) == 10 and abs(array(bars["x"]).sum() - 1) < 1e-4
    true = int(data.load("mnist_sample").test.labels[0])
    assert f"true label **{true}**" in at.markdown[-1].value


def test_deeper_layer_filters_offer_an_input_channel(with_run):
    at = open_page()
    at.selectbox(key="inspect_conv").set_value("conv2").run()
    channel = at.selectbox(key="inspect_in_channel_conv2")
    assert channel.options == ["average over input channels"] + [f"input channel {c}" for c in range(6)]
    assert tile_count(chart(at, "inspect_filter_chart")["data"][0]) == 16
    assert any("average of its weights" in c.value for c in at.caption)
    channel.set_value(2).run()
    assert not at.exception
    assert any("input channel 2" in c.value for c in at.caption)


def test_feature_maps_follow_the_layer_and_the_test_image(with_run):
    at = open_page()
    at.selectbox(key="inspect_layer").set_value("pool2").run()
    assert tile_count(chart(at, "inspect_maps_chart")["data"][0]) == 16
    assert "16 maps of 5×5" in at.caption[-1].value
    at.number_input(key="inspect_index").set_value(7).run()
    true = int(data.load("mnist_sample").test.labels[7])
    assert f"true label **{true}**" in at.markdown[-1].value


def test_uploads_are_classified_and_bad_files_refused(with_run):
    at = open_page()
    at.segmented_control(key="inspect_source").set_value("Upload").run()
    assert "Upload a picture" in at.info[0].value
    digit = np.full((60, 40), 255, np.uint8)
    digit[10:50, 18:24] = 0  # a dark "1" on white paper
    at.file_uploader(key="inspect_upload").set_value(("one.png", png_bytes(digit), "image/png")).run()
    assert not at.exception and not at.error
    assert chart(at, "inspect_proba_chart") and chart(at, "inspect_maps_chart")
    assert at.markdown[-1].value.startswith("Prediction **")
    at.file_uploader(key="inspect_upload").set_value(("notes.png", b"not an image", "image/png")).run()
    assert not at.exception
    assert "notes.png" in at.error[0].value and "not an image" in at.error[0].value
    assert chart(at, "inspect_filter_chart")  # the rest of the page still works


# ---- pure figure builders ------------------------------------------------------------------

def test_tile_lays_images_out_in_rows_with_gaps():
    tiles = [np.full((2, 3), i, np.float32) for i in range(5)]
    mosaic = figs.tile(tiles, columns=2, pad=1)
    assert mosaic.shape == (3 * 2 + 2, 2 * 3 + 1)
    assert mosaic[0, 0] == 0 and mosaic[0, 4] == 1 and mosaic[3, 0] == 2 and mosaic[6, 0] == 4
    assert np.isnan(mosaic[2, 0]) and np.isnan(mosaic[0, 3]) and np.isnan(mosaic[6, 4])  # gaps, empty slot
    rgb = figs.tile([np.ones((2, 2, 3))] * 2, columns=2, fill=0.0)
    assert rgb.shape == (2, 5, 3) and rgb[:, 2].sum() == 0
    with pytest.raises(ValueError):
        figs.tile([np.zeros((2, 2)), np.zeros((3, 3))], columns=2)


def test_scale_each_scales_maps_separately():
    maps = np.stack([np.array([[0.0, 2.0]]), np.array([[-1.0, -3.0]]), np.full((1, 2), 5.0)])
    scaled = figs.scale_each(maps)
    assert np.allclose(scaled[0], [[0, 1]]) and np.allclose(scaled[1], [[1, 0]]) and np.allclose(scaled[2], 0)


def test_filter_figure_gray_and_colour():
    gray = figs.filter_figure([np.random.rand(3, 3) for _ in range(10)])
    assert gray.data[0].type == "heatmap"
    assert gray.data[0].z.shape == (2 * 3 + 1, 8 * 3 + 7)  # 8 per row
    assert set(np.unique(gray.data[0].customdata)) == set(range(-1, 10))
    colour = figs.filter_figure([np.random.rand(5, 5, 3) for _ in range(6)])
    assert colour.data[0].type == "image" and colour.data[0].z.dtype == np.uint8
    assert colour.data[0].z.shape[2] == 3


def test_mosaics_are_capped():
    many = figs.filter_figure([np.random.rand(3, 3) for _ in range(100)])
    assert np.nanmax(many.data[0].customdata) == figs.MAX_TILES - 1
    maps = figs.feature_map_figure(np.random.rand(200, 4, 4))
    assert np.nanmax(maps.data[0].customdata[..., 0]) == figs.MAX_TILES - 1


def test_feature_map_hover_carries_raw_values():
    maps = np.stack([np.full((2, 2), 7.0), np.arange(4.0).reshape(2, 2)])
    fig = figs.feature_map_figure(maps)
    custom = fig.data[0].customdata
    assert custom[0, 0, 0] == 0 and custom[0, 0, 1] == 7.0
    assert custom[1, 4, 0] == 1 and custom[1, 4, 1] == 3.0
    assert fig.data[0].z[1, 4] == 1.0 and fig.data[0].z[0, 0] == 0.0  # shown scaled per map
    with pytest.raises(ValueError):
        figs.feature_map_figure(np.zeros(5))


def test_probability_figure_marks_prediction_and_truth():
    probs = [0.1, 0.6, 0.3]
    fig = figs.probability_figure(probs, ["cat", "dog", "fox"], true_label=2)
    bar = fig.data[0]
    assert list(bar.y) == ["cat", "dog", "fox  ✓ true"]
    assert bar.marker.color[1] != bar.marker.color[0] == bar.marker.color[2]  # prediction stands out
    assert bar.marker.line.color[2] != bar.marker.line.color[0]  # truth outlined
    assert list(bar.text) == ["10.0%", "60.0%", "30.0%"]
    with pytest.raises(ValueError):
        figs.probability_figure([0.5, 0.5], ["a", "b", "c"])


def test_probability_figure_shows_top_classes_of_many():
    probs = np.full(100, 0.001)
    probs[[42, 7, 99]] = [0.5, 0.3, 0.1]
    fig = figs.probability_figure(probs, [f"c{i}" for i in range(100)], max_bars=10)
    assert list(fig.data[0].y[:3]) == ["c42", "c7", "c99"] and len(fig.data[0].y) == 10
    assert "Top 10 of 100" in fig.layout.title.text
    assert figs.top_classes([0.2, 0.5, 0.2, 0.1], 3) == [1, 0, 2]
