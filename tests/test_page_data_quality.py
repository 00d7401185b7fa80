"""Evaluate's Label issues and Data map tabs under AppTest, on a real run of the synthetic dataset."""
from __future__ import annotations

import json

import pytest
import torch

from core import checkpoints, datamap, trainer
from core import run_files as files
from core.config import RunConfig
from tests.test_page_evaluate import array, open_evaluate

PLANTED = (5, 17, 40)


@pytest.fixture
def run(store, synthetic):
    run_id, result = trainer.new_run(store, RunConfig(dataset="synthetic", arch="lenet5", epochs=2, batch_size=32))
    assert result.status == "completed", result.message
    # confident, right predictions of every test image, and three given labels made wrong
    truth = synthetic.test.labels
    probs = torch.full((len(truth), 4), 0.02)
    probs[torch.arange(len(truth)), truth] = 0.94
    labels = truth.clone()
    for i in PLANTED:
        labels[i] = (truth[i] + 1) % 4
    losses = -torch.log(probs[torch.arange(len(truth)), labels])
    checkpoints.save_predictions(store, run_id, "best", labels, truth, probs, losses)
    return run_id


def test_label_issues_tab_shows_the_planted_flips_with_thumbnails(app, run):
    at = open_evaluate(app, evaluate_tabs="Label issues")
    assert any("**3** of 64 images in the test set" in m.value for m in at.markdown)
    captions = [c.value for c in at.caption if c.value.startswith("given")]
    assert len(captions) == 3 and all("→ :orange[" in c for c in captions)
    assert {b.key for b in at.button if b.key and b.key.startswith("evaluate_issues_test_tile_")} == \
        {f"evaluate_issues_test_tile_{i}" for i in PLANTED}
    at.button(key=f"evaluate_issues_test_tile_{PLANTED[0]}").click().run()
    assert not at.exception, at.exception
    assert any(f"Test image #{PLANTED[0]}" in m.value for m in at.markdown)


def test_data_map_tab_plots_every_training_image_and_opens_a_region(app, run, store, synthetic):
    at = open_evaluate(app, evaluate_tabs="Data map (training)")
    specs = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    spec = next(s for s in specs if any(t["type"] == "scattergl" for t in s["data"]))
    points = sum(len(array(t["x"])) for t in spec["data"] if t["type"] == "scattergl")
    dm = store.read_data_map(run)
    assert points == dm.confidence.shape[1] and dm.epochs == 2
    region = datamap.summarize(dm)["region"].value_counts().idxmax()
    at.segmented_control(key="evaluate_map_region").set_value(region).run()
    assert not at.exception, at.exception
    first = next(b for b in at.button if b.key and b.key.startswith(f"evaluate_map_{region.split('-')[0]}_tile_"))
    first.click().run()
    assert not at.exception, at.exception
    assert any(m.value.startswith("**Training image #") for m in at.markdown)


def test_a_damaged_data_map_says_so_and_the_rest_of_the_page_works(app, run, store):
    path = store.file(run, files.DATA_MAP)
    path.write_bytes(path.read_bytes()[:100])
    at = open_evaluate(app, evaluate_tabs="Data map (training)")
    assert any("data map of run" in i.value and "cannot be used" in i.value for i in at.info)
    assert at.metric[0].label == "Test accuracy"
