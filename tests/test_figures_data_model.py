"""Figure builders and the layer-editor logic of the Data and Model pages, without Streamlit."""
from __future__ import annotations

import io
import json

import pandas as pd
import pytest
import torch

from core import models
from core.config import RunConfig
from ui import data_figures, layer_editor, model_figures

# ---- data figures ---------------------------------------------------------------------------


def test_class_distribution_bars_counts_and_percentages():
    fig = data_figures.class_distribution(["a", "b", "c"], [50, 30, 20], [5, 3, 2])
    train, test = fig.data
    assert list(train.y) == [50, 30, 20] and list(test.y) == [5, 3, 2]
    assert list(train.x) == ["a", "b", "c"]
    assert list(train.text) == ["50.0%", "30.0%", "20.0%"]
    assert list(train.customdata) == pytest.approx([0.5, 0.3, 0.2])
    assert "%{customdata:.1%}" in train.hovertemplate and "%{y:,}" in train.hovertemplate
    assert train.name == "train (100)" and fig.layout.barmode == "group"


def test_class_distribution_drops_share_labels_for_many_classes():
    classes = [str(i) for i in range(100)]
    fig = data_figures.class_distribution(classes, [5] * 100, [1] * 100)
    assert all(trace.text is None for trace in fig.data)
    assert "%{customdata:.1%}" in fig.data[0].hovertemplate  # the share stays in the hover


def test_imbalance_note():
    assert data_figures.imbalance_note([100, 120, 150], ["a", "b", "c"]).startswith("Balanced")
    note = data_figures.imbalance_note([100, 400, 150], ["a", "b", "c"])
    assert note.startswith("Imbalanced") and "b has 4.0×" in note and "class a" in note
    assert "never learn" in data_figures.imbalance_note([0, 10], ["cat", "dog"])
    assert "No images" in data_figures.imbalance_note([0, 0], ["cat", "dog"])


def test_samples_per_class_and_strip():
    labels = torch.tensor([2, 0, 1, 0, 2, 0, 1])
    picks = data_figures.samples_per_class(labels, 4, per_class=2)
    assert [p.tolist() for p in picks] == [[1, 3], [2, 6], [0, 4], []]
    images = torch.stack([torch.full((1, 3, 4), v, dtype=torch.uint8) for v in (10, 20, 30)])
    out = data_figures.strip(images, gap=1)
    assert out.shape == (1, 3, 3 * 4 + 2) and out.dtype == torch.uint8
    assert out[0, 0, :4].tolist() == [10] * 4 and out[0, 0, 4].item() == 255 and out[0, 0, 5:9].tolist() == [20] * 4


def test_augment_preview_without_augmentation_gives_the_images_back():
    images = torch.randint(0, 256, (4, 1, 12, 12), dtype=torch.uint8)
    out = data_figures.augment_preview(images, (0.4,), (0.2,), RunConfig(), seed=0, repeats=2)
    assert len(out) == 2 and all(torch.equal(o, images) for o in out)


def test_augment_preview_flip_is_seeded_and_shows_what_training_sees():
    images = torch.randint(0, 256, (8, 3, 10, 10), dtype=torch.uint8)
    cfg = RunConfig(aug_hflip=True)
    first = data_figures.augment_preview(images, (0.5, 0.4, 0.3), (0.2, 0.25, 0.3), cfg, seed=1, repeats=3)
    again = data_figures.augment_preview(images, (0.5, 0.4, 0.3), (0.2, 0.25, 0.3), cfg, seed=1, repeats=3)
    other = data_figures.augment_preview(images, (0.5, 0.4, 0.3), (0.2, 0.25, 0.3), cfg, seed=2, repeats=3)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))
    flipped = 0
    for batch in first:
        for img, orig in zip(batch, images):
            assert torch.equal(img, orig) or torch.equal(img, orig.flip(2))
            flipped += not torch.equal(img, orig)
    assert 0 < flipped < 24


def test_augment_preview_rotation_changes_images_but_keeps_dtype_and_range():
    images = torch.zeros((2, 1, 16, 16), dtype=torch.uint8)
    images[:, :, 2:14, 7:9] = 255  # a vertical bar
    out = data_figures.augment_preview(images, (0.1,), (0.3,), RunConfig(aug_rotate=90.0), seed=0, repeats=1)[0]
    assert out.dtype == torch.uint8 and out.shape == images.shape
    assert not torch.equal(out, images)


# ---- model figures --------------------------------------------------------------------------

def test_human_numbers():
    assert model_figures.human(950) == "950"
    assert model_figures.human(61_706) == "61.7 k"
    assert model_figures.human(11_172_810) == "11.2 M"
    assert model_figures.human(2.5e9) == "2.5 G"


def test_summary_table_for_any_batch_matches_a_real_batch():
    model = models.build_model("seed_cnn7", (1, 28, 28), 10)
    one = models.summary(model, (1, 1, 28, 28))
    real = models.summary(model, (16, 1, 28, 28))
    table = model_figures.summary_table(one, 16)
    assert table["output shape"].tolist() == [str(r["output_shape"]) for r in real.rows]
    assert table["MACs"].tolist() == [r["macs"] for r in real.rows]
    assert table["parameters"].tolist() == [r["params"] for r in real.rows]
    conv1 = table[table.layer == "conv1"].iloc[0]
    assert conv1["output shape"] == "[16, 16, 24, 24]" and conv1["parameters"] == 416
    fc1 = table[table.layer == "fc1"].iloc[0]
    assert fc1["output shape"] == "[16, 64]" and fc1["parameters"] == 25_664


def test_layer_table_exports_for_a_lab_report():
    one = models.summary(models.build_model("lenet5", (1, 28, 28), 10), (1, 1, 28, 28))
    table = model_figures.summary_table(one, 16)
    csv = pd.read_csv(io.StringIO(model_figures.table_csv(table)))
    assert list(csv.columns) == ["layer", "type", "input shape", "output shape", "parameters", "trainable", "MACs"]
    fc1 = csv.set_index("layer").loc["fc1"]
    assert (fc1["input shape"], fc1["output shape"], fc1["trainable"]) == ("[16, 400]", "[16, 120]", 48_120)
    assert csv["parameters"].sum() == 61_706 and len(csv) == len(one.rows)  # layers only, no total row
    totals = model_figures.summary_totals(one, 16)
    assert totals["Non-trainable"] == "0" and totals["Parameters"] == totals["Trainable"] == "61,706"
    md = model_figures.table_markdown(table, "LeNet-5 on MNIST, batch of 16", totals).splitlines()
    assert md[0] == "### LeNet-5 on MNIST, batch of 16"
    header = [c.strip() for c in md[2].strip("|").split("|")]
    assert header == list(table.columns)
    conv1 = [c.strip() for c in md[4].strip("|").split("|")]
    assert conv1 == ["conv1", "Conv2d", "[16, 1, 28, 28]", "[16, 6, 28, 28]", "156", "156", "1,956,864"]
    assert "- **Trainable:** 61,706" in md and "- **Non-trainable:** 0" in md


def test_checks_table():
    checks = models.check_layers(layer_editor.default_stack(10), (1, 28, 28), 10)
    table = model_figures.checks_table(checks, 4)
    assert table["#"].tolist() == list(range(1, 13))
    assert table["output shape"].iloc[0] == "[4, 6, 28, 28]" and table["output shape"].iloc[-1] == "[4, 10]"
    assert table["parameters"].sum() == models.param_count("lenet5", (1, 28, 28), 10)


def test_checks_table_marks_the_broken_layer():
    checks = models.check_layers([{"type": "conv", "out_channels": 2, "kernel_size": 3}], (1, 8, 8), None)
    table = model_figures.checks_table(checks, 1, broken="linear")
    assert table["#"].tolist() == [1, 2] and table["type"].tolist() == ["conv", "linear"]
    assert table["output shape"].iloc[1].startswith("✖") and pd.isna(table["parameters"].iloc[1])


def test_param_comparison_sorted_log_axis_and_highlight():
    fig = model_figures.param_comparison(["big", "small", "mid"], [10_000_000, 5_000, 60_000], highlight="mid")
    bar = fig.data[0]
    assert list(bar.y) == ["small", "mid", "big"] and list(bar.x) == [5_000, 60_000, 10_000_000]
    assert list(bar.marker.color) == [model_figures.OTHERS, model_figures.HIGHLIGHT, model_figures.OTHERS]
    assert fig.layout.xaxis.type == "log" and list(bar.text) == ["5 k", "60 k", "10 M"]


# ---- layer editor logic ---------------------------------------------------------------------

def test_default_stack_round_trips_through_the_table():
    stack = layer_editor.default_stack(7)
    frame = layer_editor.to_frame(stack)
    assert frame.columns.tolist() == layer_editor.COLUMNS
    layers = layer_editor.to_layers(frame)
    assert layers == stack
    json.dumps(layers)  # goes into config.json as it is
    assert all(type(v) in (str, int, float) for layer in layers for v in layer.values())
    checks, error = layer_editor.check(layers, (1, 28, 28), 7)
    assert error is None and checks[-1].output_shape == (7,)


def test_edited_table_values_become_layer_parameters():
    frame = pd.DataFrame([
        {"type": "conv", "out": 8.0, "kernel_size": 3.0, "stride": 2.0, "padding": 1.0, "p": None},
        {"type": "dropout", "out": pd.NA, "kernel_size": pd.NA, "stride": None, "padding": float("nan"), "p": 0.25},
        {"type": "flatten"},
        {"type": "linear", "out": 10},
    ])
    layers = layer_editor.to_layers(frame)
    assert layers == [
        {"type": "conv", "out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1},
        {"type": "dropout", "p": 0.25},
        {"type": "flatten"},
        {"type": "linear", "out_features": 10},
    ]
    checks, error = layer_editor.check(layers, (1, 28, 28), 10)
    assert error is None and checks[0].output_shape == (8, 14, 14)


def test_errors_name_the_broken_layer_and_keep_the_shapes_before_it():
    layers = [{"type": "conv", "out_channels": 4, "kernel_size": 3}, {"type": "relu"},
              {"type": "linear", "out_features": 10}]
    checks, error = layer_editor.check(layers, (1, 28, 28), 10)
    assert error.startswith("layer 3 (linear)") and "flatten" in error
    assert [c.output_shape for c in checks] == [(4, 26, 26), (4, 26, 26)]


@pytest.mark.parametrize("row, expected", [
    ({"type": None}, "layer 2: missing type"),
    ({"type": "relu", "out": 5}, "layer 2 (relu): unknown parameter 'out_channels'"),
    ({"type": "conv", "kernel_size": 3}, "layer 2 (conv): needs out_channels"),
    ({"type": "conv", "out": 4, "kernel_size": 40}, "layer 2 (conv): kernel 40×40 is larger"),
    ({"type": "dropout", "p": 1.5}, "layer 2 (dropout): p must be between 0 and 1"),
])
def test_table_mistakes_get_messages_naming_the_layer(row, expected):
    frame = pd.DataFrame([{"type": "conv", "out": 4, "kernel_size": 3}, row, {"type": "flatten"},
                          {"type": "linear", "out": 10}])
    _, error = layer_editor.check(layer_editor.to_layers(frame), (1, 28, 28), 10)
    assert error is not None and error.startswith(expected)


def test_wrong_ending_is_reported():
    stack = layer_editor.default_stack(10)
    checks, error = layer_editor.check(stack, (3, 32, 32), 100)
    assert "100 classes" in error and "linear(out_features=100)" in error
    assert len(checks) == len(stack)  # every layer works; only the ending is wrong
