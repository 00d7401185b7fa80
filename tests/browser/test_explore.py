"""The sample view and the embedding projector in a real browser: a link to one test image opens
its explanation; the projector's PCA map (computed by the server's job runner) is lasso-selected and
a chosen image opens in the sample view, with its address in the URL."""
import pytest

from tests.browser.conftest import SHOTS, trained_app

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def trained_server(tmp_path_factory):
    with trained_app(tmp_path_factory.mktemp("explore"), batch_size=64) as (url, _store, run_id):
        yield url, run_id


def settled(page):
    page.wait_for_timeout(500)
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=60_000)
    page.wait_for_timeout(500)


def test_a_linked_image_is_explained_and_the_projector_opens_another(page, trained_server):
    url, run_id = trained_server
    page.goto(f"{url}/evaluate?sample={run_id}:3")
    page.get_by_text("Test image #3").wait_for(timeout=90_000)
    page.get_by_text("Integrated Gradients", exact=True).wait_for()
    page.get_by_text("Nearest training images").wait_for()
    page.screenshot(path=str(SHOTS / "explore_1_sample.png"))

    page.get_by_role("tab", name="Projector").click()
    page.get_by_text("Each point is one test image").wait_for(timeout=90_000)  # PCA, queued at once
    settled(page)
    area = page.locator(".js-plotly-plot .nsewdrag").last.bounding_box()
    x, y = area["x"] + area["width"] * 0.3, area["y"] + area["height"] * 0.3
    page.mouse.move(x, y)
    page.mouse.down()
    for dx, dy in ((area["width"] * 0.4, 0), (area["width"] * 0.4, area["height"] * 0.4), (0, area["height"] * 0.4),
                   (0, 0)):
        page.mouse.move(x + dx, y + dy, steps=4)
    page.mouse.up()
    page.get_by_text("selected (").wait_for(timeout=30_000)
    page.screenshot(path=str(SHOTS / "explore_2_projector.png"))

    tile = page.locator('[class*="st-key-evaluate_proj_tile_"] button').first
    index = tile.inner_text().strip("#")
    tile.click()
    page.get_by_text(f"Test image #{index}").wait_for(timeout=30_000)
    assert f"sample={run_id}%3A{index}" in page.url or f"sample={run_id}:{index}" in page.url
    page.screenshot(path=str(SHOTS / "explore_3_opened.png"))
