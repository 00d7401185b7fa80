"""Run against run, sample by sample: the agreement of two runs' stored predictions, the per-class
changes, why two runs cannot be compared, and the Runs page section that shows them."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core import checkpoints, compare, trainer
from core.config import RunConfig
from ui import compare as compare_figs
from ui import state

LABELS = np.array([0, 0, 1, 1, 2, 2, 3, 3])
A = np.array([0, 0, 1, 0, 2, 3, 0, 3])  # wrong at 3, 5, 6
B = np.array([0, 1, 1, 1, 2, 2, 1, 3])  # wrong at 1, 6


def test_agreement_counts_each_image_once_in_its_cell():
    result = compare.agreement(LABELS, A, B)
    assert result["counts"] == {"both right": 4, "only A right": 1, "only B right": 2, "both wrong": 1}
    assert compare.AGREEMENT[result["cell"][1]] == "only A right"
    assert result["same_wrong"] == 0  # image 6: A says 0, B says 1
    assert list(compare.agreement_indices(result["cell"], "only B right")) == [3, 5]
    assert list(compare.agreement_indices(result["cell"], "only B right", true_class=2, labels=LABELS)) == [5]
    order = np.array([0, 0, 0, 0.1, 0, 0.9, 0, 0])
    assert list(compare.agreement_indices(result["cell"], "only B right", order)) == [5, 3]


def test_the_same_mistake_by_both_runs_is_counted():
    assert compare.agreement([1, 1], [0, 2], [0, 3])["same_wrong"] == 1


def test_class_deltas_say_what_B_fixed_and_broke_largest_loss_first():
    table = compare.class_deltas(LABELS, A, B, ["a", "b", "c", "d"]).set_index("class")
    assert list(table.index) == ["a", "d", "b", "c"]  # changes -0.5, 0, +0.5, +0.5 (stable among equals)
    assert table.loc["a", "change"] == pytest.approx(-0.5) and table.loc["a", "broken by B"] == 1
    assert table.loc["c", "accuracy A"] == 0.5 and table.loc["c", "accuracy B"] == 1.0
    assert table.loc["c", "fixed by B"] == 1 and table["support"].tolist() == [2, 2, 2, 2]


def _preds(labels, preds=None):
    return {"labels": np.asarray(labels), "preds": np.asarray(labels if preds is None else preds)}


@pytest.mark.parametrize("b, dataset_b, classes_b, says", [
    (_preds([0, 1, 1]), "mnist", "ab", "dataset mnist_sample and B on mnist"),
    (_preds([0, 1]), "mnist_sample", "ab", "A was tested on 3 images and B on 2"),
    (_preds([0, 1, 0]), "mnist_sample", "ab", "differ at 1 of 3 positions"),
    (_preds([0, 1, 1]), "mnist_sample", "ba", "different classes"),
])
def test_runs_on_different_test_sets_are_refused_with_the_reason(b, dataset_b, classes_b, says):
    with pytest.raises(compare.VersusError, match=says):
        compare.check_comparable(_preds([0, 1, 1]), b, dataset_a="mnist_sample", dataset_b=dataset_b,
                                 classes_a=list("ab"), classes_b=list(classes_b))


def test_the_agreement_figure_puts_each_count_in_its_cell_and_knows_which_was_clicked():
    counts = {"both right": 90, "only A right": 3, "only B right": 5, "both wrong": 2}
    fig = compare_figs.agreement_figure(counts, "sgd", "adam")
    text = np.asarray(fig.data[0].text)
    assert "only A right</b><br>3 (3.0%)" in text[0][1] and "only B right</b><br>5" in text[1][0]
    assert compare_figs.agreement_cell_from_selection({"points": [{"customdata": ["both wrong"]}]}) == "both wrong"
    assert compare_figs.agreement_cell_from_selection({"points": []}) is None


# ---- the Runs page ------------------------------------------------------------------------------

def _run(store, **changes) -> str:
    run_id, result = trainer.new_run(store, RunConfig(dataset="synthetic", arch="lenet5", epochs=1, batch_size=32,
                                                      **changes))
    assert result.status == "completed", result.message
    return run_id


def _put_predictions(store, run_id, labels, preds, which="best"):
    n, k = len(labels), 4
    probs = torch.full((n, k), 0.1)
    probs[torch.arange(n), preds] = 0.7
    losses = -torch.log(probs[torch.arange(n), labels])
    checkpoints.save_predictions(store, run_id, which, labels, preds, probs, losses)


@pytest.fixture
def pair(store, synthetic):
    """Two runs whose stored predictions are known: A is wrong on every 4th image, B on every 8th
    and on image 1."""
    a, b = _run(store, optimizer="sgd", lr=0.05), _run(store, optimizer="adam", lr=0.001)
    labels = synthetic.test.labels
    i = torch.arange(len(labels))
    wrong_a, wrong_b = i % 4 == 0, (i % 8 == 0) | (i == 1)
    _put_predictions(store, a, labels, torch.where(wrong_a, (labels + 1) % 4, labels))
    _put_predictions(store, b, labels, torch.where(wrong_b, (labels + 1) % 4, labels))
    store.rename(a, "sgd run")
    store.rename(b, "adam run")
    return a, b


def open_runs(at, selected):
    at.session_state[state.COMPARE_RUNS] = list(selected)
    at.switch_page(state.RUNS).run()
    assert not at.exception, at.exception
    return at


def _markdown(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_the_comparison_shows_the_agreement_and_opens_a_cells_images(app, pair):
    at = open_runs(app, pair)
    # the table lists the newest run first; A is the older run, B the newer experiment
    assert [at.selectbox(key=f"runs_versus_{s}").value for s in "AB"] == list(pair)
    chart = next(el for el in at.get("plotly_chart") if "agreement" in el.proto.spec)
    text = json.loads(chart.proto.spec)["data"][0]["text"]
    # 64 test images: A wrong on 16 (i % 4 == 0), B on 8 (i % 8 == 0) and #1
    assert "both right</b><br>47" in text[0][0] and "only A right</b><br>1 " in text[0][1]
    assert "only B right</b><br>8 " in text[1][0] and "both wrong</b><br>8 " in text[1][1]
    assert "B fixed **8** images" in _markdown(at)
    at.segmented_control(key="runs_versus_cell").set_value("only B right").run()
    tiles = [c.value for c in at.caption if c.value.startswith("true **q")]
    assert len(tiles) == 8 and all(":red[" in t.split("\nB")[0] and ":green[" in t.split("\nB")[1] for t in tiles)
    deltas = next(df.value for df in at.dataframe if "fixed by B" in df.value.columns)
    assert deltas["fixed by B"].sum() == 8 and deltas["broken by B"].sum() == 1


def test_runs_on_another_dataset_say_why_they_cannot_be_compared(app, pair, store, synthetic, monkeypatch):
    from core import data

    cfg_path = store.file(pair[1], "config.json")
    cfg = json.loads(cfg_path.read_text())
    cfg["dataset"] = "mnist_sample"
    cfg_path.write_text(json.dumps(cfg))
    at = open_runs(app, pair)
    assert any("cannot be compared image by image" in w.value and "mnist_sample" in w.value for w in at.warning)
    assert not any("agreement" in el.proto.spec for el in at.get("plotly_chart"))


def test_a_damaged_predictions_file_is_named_and_the_page_carries_on(app, pair, store):
    store.file(pair[1], "predictions_best.safetensors").write_bytes(b"not a safetensors file")
    at = open_runs(app, pair)
    warning = next(w.value for w in at.warning if "cannot be compared" in w.value)
    assert "predictions_best.safetensors is damaged" in warning
    assert any("Comparing 2 runs" in s.value for s in at.subheader)


def test_the_same_run_against_itself_needs_other_weights(app, pair, store, synthetic):
    at = open_runs(app, pair)
    at.selectbox(key="runs_versus_B").set_value(pair[0]).run()
    assert any("A and B are the same predictions" in i.value for i in at.info)
    labels = synthetic.test.labels
    _put_predictions(store, pair[0], labels, (labels + 1) % 4, which="last")  # the last epoch: all wrong
    at.segmented_control(key="runs_versus_B_weights").set_value("last").run()
    assert not at.exception, at.exception
    assert "B fixed **0** images A got wrong and broke **48**" in _markdown(at)


def test_predictions_for_other_classes_are_refused(app, pair, store, synthetic):
    labels = synthetic.test.labels
    checkpoints.save_predictions(store, pair[1], "best", labels, labels.clone(), torch.full((len(labels), 3), 1 / 3),
                                 torch.zeros(len(labels)))
    at = open_runs(app, pair)
    assert any("probabilities for 3 classes but the run has 4" in w.value for w in at.warning)


def test_images_wait_while_a_compared_run_trains(app, pair, store):
    from tests.conftest import put_status

    put_status(store, pair[1], status="queued", pid=None)
    store.claim(pair[1])  # this process holds it, so it reads as queued, not interrupted
    at = open_runs(app, pair)
    assert any("hidden while a compared run" in c.value for c in at.caption)
    assert not any(c.value.startswith("true **q") for c in at.caption)
    assert any("agreement" in el.proto.spec for el in at.get("plotly_chart"))
    store.release(pair[1])
