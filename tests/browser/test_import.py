"""Importing from a path on the server in a real browser: preview, Enter does not import, Cancel
mid-import leaves nothing written, then Import. Screenshots land in artifacts/screenshots/."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.browser.conftest import SHOTS
from tests.browser.test_journey import wait_idle

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def slow_split_folder(tmp_path_factory):
    """train/ + test/ of 200×200 noise JPEGs: each takes ~1 ms to decode, so an import of 4,000
    lasts long enough to press Cancel in the middle."""
    root = tmp_path_factory.mktemp("photos") / "shapes"
    rng = np.random.default_rng(0)
    blobs = []
    for k in range(20):  # a few distinct files, written many times: generating stays quick
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(buf, "JPEG", quality=90)
        blobs.append(buf.getvalue())
    for split, n in (("train", 1600), ("test", 400)):
        for cls in ("circle", "square"):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                (folder / f"{i:05d}.jpg").write_bytes(blobs[i % len(blobs)])
    return root


def _alerts(page) -> str:
    return "\n".join(page.locator('[data-testid="stAlert"]').all_inner_texts())


def test_preview_cancel_then_import_from_a_server_path(page, server, slow_split_folder):
    page.goto(server + "/data")
    page.get_by_text("Import your own images").click()
    page.locator(".st-key-data_import_path input").fill(str(slow_split_folder))
    page.get_by_role("button", name="Preview").click()
    page.get_by_text("split folders, 2 classes, 4,000 images").wait_for(timeout=60_000)
    wait_idle(page)
    assert "own test split is kept" in _alerts(page)
    assert page.locator(".st-key-data_import_name input").input_value() == "shapes"
    assert page.locator(".st-key-data_import_size input").input_value() == "200"
    page.screenshot(path=SHOTS / "import-1-preview.png", full_page=True)

    name = page.locator(".st-key-data_import_name input")
    name.fill("shapes32")
    name.press("Enter")  # must not import
    page.wait_for_timeout(1500)
    wait_idle(page)
    assert "Imported" not in _alerts(page)

    size = page.locator(".st-key-data_import_size input")
    size.fill("32")
    page.get_by_role("button", name="Import").click()
    page.get_by_text("images/s").first.wait_for(timeout=30_000)  # reading, with speed and time left
    page.screenshot(path=SHOTS / "import-2-progress.png", full_page=True)
    page.get_by_role("button", name="Cancel").click()
    page.get_by_text("Import cancelled; nothing was written.").wait_for(timeout=30_000)
    wait_idle(page)
    page.screenshot(path=SHOTS / "import-3-cancelled.png", full_page=True)
    assert "Imported" not in _alerts(page)

    page.get_by_role("button", name="Import").click()
    page.get_by_text("Imported").first.wait_for(timeout=120_000)
    wait_idle(page)
    text = _alerts(page)
    assert "3,200 train / 800 test images (its own test split)" in text
    page.screenshot(path=SHOTS / "import-4-imported.png", full_page=True)
