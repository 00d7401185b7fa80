"""The Playground page under AppTest: a digit run offers the canvas, any run takes uploads and
test images, bad files are refused, and a non-digit run explains why it has no canvas."""
from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import trainer
from core.config import RunConfig
from core.runs import RunStore
from tests.conftest import png_bytes

PAGE = "pages/playground.py"


@pytest.fixture
def digit_run(trained_run, store):
    return store.path(trained_run)


def open_page() -> AppTest:
    at = AppTest.from_file("../streamlit_app.py", default_timeout=120)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def proba_chart(at: AppTest) -> dict | None:
    found = [c for c in at.get("plotly_chart") if c.proto.id.endswith("play_proba_chart")]
    return json.loads(found[0].proto.spec) if found else None


def prediction(at: AppTest) -> str:
    """The class shown in large text."""
    big = [m.value for m in at.markdown if "font-size:3.5rem" in m.value]
    assert len(big) == 1
    return big[0].split(">")[1].split("<")[0]


def canvases(at: AppTest) -> list:
    return [c for c in at.get("bidi_component") if "drawable_canvas" in c.proto.component_name]


def image_captions(at: AppTest) -> list[str]:
    return [c for img in at.get("image") for c in img.captions]


def test_a_digit_run_offers_the_canvas_and_waits_for_a_drawing(digit_run):
    at = open_page()
    mode = at.segmented_control(key="play_mode_True")
    assert mode.options == ["Draw", "Upload", "Test image"] and mode.value == "Draw"
    assert len(canvases(at)) == 1
    assert any("Draw a digit" in i.value for i in at.info)
    assert proba_chart(at) is None


def test_a_random_test_image_is_classified_with_its_true_label(digit_run):
    at = open_page()
    at.segmented_control(key="play_mode_True").set_value("Test image").run()
    assert not at.exception and not canvases(at)
    index = at.session_state["play_test_index"]
    assert 0 <= index < 1000
    assert f"test image {index}" in image_captions(at)
    bars = proba_chart(at)["data"][0]
    assert len(bars["y"]) == 10 and sum(1 for y in bars["y"] if "✓ true" in y) == 1
    assert prediction(at) in [str(d) for d in range(10)]
    assert any("correct" in m.value or "wrong" in m.value for m in at.markdown)
    at.button(key="play_shuffle").click().run()
    assert not at.exception and 0 <= at.session_state["play_test_index"] < 1000


def test_uploads_are_classified_and_bad_files_refused(digit_run):
    at = open_page()
    at.segmented_control(key="play_mode_True").set_value("Upload").run()
    assert at.toggle(key="play_center").value is True  # digit runs centre uploads like MNIST
    digit = np.full((80, 60), 255, np.uint8)
    digit[10:70, 27:34] = 0  # a dark "1" on paper
    at.file_uploader(key="play_upload").set_value(("one.png", png_bytes(digit), "image/png")).run()
    assert not at.exception and not at.error
    assert prediction(at) in [str(d) for d in range(10)]
    assert "one.png, as 28×28 gray pixels" in image_captions(at)
    at.file_uploader(key="play_upload").set_value(("notes.txt.png", b"\x00not an image", "image/png")).run()
    assert not at.exception
    assert "notes.txt.png" in at.error[0].value and "not an image" in at.error[0].value
    assert proba_chart(at) is None
    at.file_uploader(key="play_upload").set_value(("empty.png", b"", "image/png")).run()
    assert "empty" in at.error[0].value


def test_runs_without_the_digits_flag_fall_back_to_the_mnist_shape(digit_run):
    meta = json.loads((digit_run / "model.json").read_text())
    del meta["digits"]
    (digit_run / "model.json").write_text(json.dumps(meta))
    at = open_page()
    assert len(canvases(at)) == 1


def test_a_non_digit_run_has_no_canvas_but_takes_uploads_and_test_images(synthetic):
    trainer.new_run(RunStore(), RunConfig(dataset="synthetic", arch="lenet5", epochs=1, batch_size=32))
    at = open_page()
    mode = at.segmented_control(key="play_mode_False")
    assert mode.options == ["Upload", "Test image"]
    assert not canvases(at)
    assert any("No drawing canvas" in c.value for c in at.caption)
    square = np.zeros((12, 12), np.uint8)
    square[:6, :6] = 220
    at.file_uploader(key="play_upload").set_value(("q.png", png_bytes(square), "image/png")).run()
    assert not at.exception and prediction(at) in synthetic.classes
    mode.set_value("Test image").run()
    assert not at.exception and prediction(at) in synthetic.classes
