"""In a real browser: the Runs page's ONNX button builds the export when clicked and the file that
arrives runs in onnxruntime; the Playground turns two uploads into a table."""
from __future__ import annotations

import pytest

from tests.browser.conftest import SHOTS, chromium, trained_app
from tests.conftest import png_bytes

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def trained_server(tmp_path_factory):
    with trained_app(tmp_path_factory.mktemp("export_app")) as served:
        yield served


def test_the_onnx_button_downloads_a_checked_model_and_the_playground_tables_uploads(trained_server, tmp_path):
    import onnxruntime as ort

    from core import data, export, trainer

    url, store, run_id = trained_server
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1400, "height": 2200}, accept_downloads=True).new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{url}/runs?runs={run_id}")
        page.get_by_role("button", name="ONNX").wait_for()
        page.get_by_text("How to load the ONNX file").click()
        page.get_by_text("ort.InferenceSession").wait_for()
        page.wait_for_timeout(500)
        page.screenshot(path=str(SHOTS / "export_01_runs_buttons.png"), full_page=True)
        with page.expect_download(timeout=120_000) as info:
            page.get_by_role("button", name="ONNX").click()
        download = info.value
        assert download.suggested_filename == f"{run_id}_best.onnx"
        path = tmp_path / download.suggested_filename
        download.save_as(path)
        model, meta = trainer.load_model(store, run_id, "best")
        x = export.normalised(data.load("mnist_sample").test.images[:100], meta)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        logits = session.run(None, {"image": x.numpy()})[0]
        assert (logits.argmax(1) == model(x).argmax(1).numpy()).all()

        page.goto(f"{url}/playground")
        page.get_by_text("Draw one digit").wait_for()  # the page has loaded the model and drawn its modes
        page.screenshot(path=str(SHOTS / "export_02_playground_start.png"))
        page.get_by_text("Upload", exact=True).first.click()
        page.get_by_text("Choose one picture to classify").wait_for()
        test = data.load("mnist_sample").test
        files = [{"name": f"digit{i}.png", "mimeType": "image/png", "buffer": png_bytes(test.images[i, 0].numpy())}
                 for i in range(2)]
        page.locator("input[type=file]").set_input_files(files)
        page.get_by_text("Predictions for 2 of 2 pictures").wait_for()
        page.locator("[data-testid='stDataFrame']").first.wait_for()
        page.wait_for_timeout(1000)
        page.screenshot(path=str(SHOTS / "export_03_playground_table.png"), full_page=True)
