"""The pure Plotly builders of the Evaluate and Runs pages, without Streamlit."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from core import metrics
from ui import compare as compare_figs
from ui import evaluation

CM = np.array([[5, 1, 0], [2, 3, 1], [0, 0, 0]])
NAMES = ["cat", "dog", "eel"]


def test_confusion_figure_counts_are_the_matrix_and_cells_are_clickable():
    fig = evaluation.confusion_figure(CM, NAMES)
    heat, cells = fig.data
    assert isinstance(heat, go.Heatmap) and isinstance(cells, go.Scatter)
    np.testing.assert_array_equal(np.asarray(heat.z), CM)
    # one invisible marker per cell, centred on it, carrying (true, predicted, count)
    assert len(cells.x) == CM.size
    data = np.asarray(cells.customdata)
    for (true, pred, count, _share), x, y in zip(data, cells.x, cells.y):
        assert (x, y) == (pred, true) and count == CM[int(true), int(pred)]
    assert cells.marker.opacity == 0
    assert list(fig.layout.yaxis.ticktext) == NAMES
    assert fig.layout.yaxis.range[0] > fig.layout.yaxis.range[1]  # first class on top


def test_confusion_figure_normalised_rows_sum_to_one_and_empty_rows_stay_zero():
    fig = evaluation.confusion_figure(CM, NAMES, normalized=True, clickable=False)
    assert len(fig.data) == 1
    z = np.asarray(fig.data[0].z)
    np.testing.assert_allclose(z, metrics.normalize_rows(CM))
    np.testing.assert_allclose(z[:2].sum(axis=1), 1.0)
    assert z[2].sum() == 0
    assert fig.data[0].text[0][0] == "83%" and fig.data[0].text[0][2] == ""  # empty cells stay blank


def test_cell_text_blanks_empty_cells_and_never_rounds_a_mistake_to_zero():
    cm = np.array([[999, 1], [0, 5]])
    counts = evaluation.confusion_figure(cm, ["a", "b"]).data[0].text
    assert counts.tolist() == [["999", "1"], ["", "5"]]
    shares = evaluation.confusion_figure(cm, ["a", "b"], normalized=True).data[0].text
    assert shares.tolist() == [["100%", "<1%"], ["", "100%"]]


def test_many_classes_drop_the_cell_text():
    cm = np.eye(30, dtype=int)
    fig = evaluation.confusion_figure(cm, [str(i) for i in range(30)])
    assert fig.data[0].text is None


@pytest.mark.parametrize("selection, cell", [
    ({"points": [{"x": 1, "y": 0, "customdata": [0, 1, 1, 16.7]}]}, (0, 1)),
    ({"points": [{"customdata": {"0": 2, "1": 0, "2": 0, "3": 0}}]}, (2, 0)),  # as Streamlit sends it
    ({"points": [{"x": 1, "y": 1}]}, None),  # a click that hit no marker
    ({"points": []}, None),
    (None, None),
])
def test_cell_from_selection(selection, cell):
    assert evaluation.cell_from_selection(selection) == cell


def test_probability_figure_always_shows_the_true_class_and_colours_right_and_wrong():
    probs = np.array([0.05, 0.6, 0.3, 0.05])
    fig = evaluation.probability_figure(probs, ["a", "b", "c", "d"], true_class=3, top=2)
    bar = fig.data[0]
    assert list(bar.y) == ["b", "d"]  # the top-2 would be b, c; the true class d replaces c
    assert list(bar.marker.color) == [evaluation.WRONG_COLOR, evaluation.CORRECT_COLOR]
    np.testing.assert_allclose(bar.x, [0.6, 0.05])


def test_per_class_figure_has_precision_recall_f1():
    report = metrics.per_class_report([0, 1, 1, 2], [0, 1, 2, 2], NAMES)
    fig = evaluation.per_class_figure(report)
    assert [t.name for t in fig.data] == ["precision", "recall", "f1"]
    np.testing.assert_allclose(fig.data[1].y, report["recall"])


def test_heat_overlay_blends_an_image_with_a_heat_map():
    image = np.full((1, 4, 5), 200, dtype=np.uint8)
    heat = np.zeros((4, 5))
    heat[0, 0] = 1.0
    out = evaluation.heat_overlay(image, heat, alpha=0.5)
    assert out.shape == (4, 5, 3) and out.dtype == np.uint8
    assert not np.array_equal(out[0, 0], out[1, 1])  # the hot pixel differs from the cold ones
    assert np.all(out[1, 1] == out[2, 2])
    with pytest.raises(ValueError, match="does not match"):
        evaluation.heat_overlay(image, np.zeros((3, 3)))


def _curves():
    rows = []
    for run, offset in (("a", 0.0), ("b", 0.1)):
        for epoch in (1, 2):
            rows.append({"run": run, "epoch": epoch, "elapsed_seconds": epoch * 2.0, "train_loss": 1 - offset,
                         "val_loss": 1.1, "train_acc": 0.5 + offset, "val_acc": 0.6, "lr": 0.01})
    return pd.DataFrame(rows)


def test_curves_figure_draws_train_and_val_per_run_on_the_chosen_x():
    fig = compare_figs.curves_figure(_curves(), "acc", x="elapsed_seconds")
    assert [t.name for t in fig.data] == ["a · val", "a · train", "b · val", "b · train"]
    assert list(fig.data[0].x) == [2.0, 4.0]
    assert fig.data[0].line.color == fig.data[1].line.color != fig.data[2].line.color
    assert fig.data[1].line.dash == "dash"
    lr = compare_figs.curves_figure(_curves(), "lr")
    assert len(lr.data) == 2 and lr.layout.yaxis.type is None  # one rate: a plain axis
    spread = _curves().assign(lr=[0.1, 0.1, 0.001, 0.001])
    assert compare_figs.curves_figure(spread, "lr").layout.yaxis.type == "log"
    with pytest.raises(ValueError):
        compare_figs.curves_figure(_curves(), "f1")


def test_lr_curves_of_stepwise_schedules_are_drawn_as_steps():
    frame = _curves().assign(schedule=["multistep", "multistep", "cosine", "cosine"])
    lr = {t.name: t.line.shape for t in compare_figs.curves_figure(frame, "lr").data}
    assert lr == {"a": "vh", "b": "linear"}  # each run by its own schedule
    assert {t.line.shape for t in compare_figs.curves_figure(frame, "loss").data} == {"linear"}


def test_per_class_accuracy_figure_groups_bars_by_run():
    reports = {"a": metrics.per_class_report([0, 1], [0, 1], ["x", "y"]),
               "b": metrics.per_class_report([0, 1], [1, 1], ["x", "y"])}
    fig = compare_figs.per_class_accuracy_figure(reports)
    assert [t.name for t in fig.data] == ["a", "b"] and fig.layout.barmode == "group"
    np.testing.assert_allclose(fig.data[1].y, [0.0, 1.0])
