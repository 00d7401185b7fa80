"""The main journey in a real browser (Playwright driving Debian's Chromium).

open the app → Train form (LeNet-5 on the MNIST sample, 300 epochs) → Train → Smooth live updates →
the live chart grows while it trains → Stop → the run
is kept and appears on Runs → Evaluate: confusion matrix, selecting a cell shows images →
Playground: draw a stroke, get a prediction. Screenshots land in artifacts/screenshots/.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SHOTS

pytestmark = pytest.mark.browser


def wait_idle(page, timeout=30_000):
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)


LIVE_POINTS_JS = """() => {
    const plots = [...document.querySelectorAll('.st-key-live_chart .js-plotly-plot')];
    let n = 0;
    for (const p of plots) for (const t of (p.data || [])) if (t.name === 'running loss') n = Math.max(n, t.x.length);
    return n;
}"""


def live_points(page) -> int:
    """Points in the live chart's running-loss trace (read from Plotly's DOM data); the finished
    run's chart has another key, so it does not count."""
    return page.evaluate(LIVE_POINTS_JS)


def test_main_journey(page, server):
    page.goto(server)
    page.get_by_text("Start in one click").wait_for(timeout=60_000)
    page.screenshot(path=str(SHOTS / "01_home.png"), full_page=True)

    # Home's one-click quick start trains the bundled sample in ~10 s, too short to watch the
    # curves grow; the journey trains the same defaults from the Train form for more epochs than any
    # CPU finishes while the chart is watched (a fast one does 30 in 5 s), then stops the run
    page.get_by_role("link", name="Train").click()
    epochs = page.locator(".st-key-cfg_epochs input")
    epochs.wait_for(timeout=60_000)
    wait_idle(page)
    # one field at a time, each committed and its rerun finished before the next
    for field, text in ((page.locator(".st-key-cfg_name input"), "LeNet-5 on the MNIST sample"), (epochs, "300")):
        field.fill(text)
        field.press("Enter")
        page.wait_for_timeout(300)
        wait_idle(page)
    train = page.locator(".st-key-train_submit button")
    try:
        expect(train).to_be_enabled(timeout=30_000)
    except AssertionError:
        page.screenshot(path=str(SHOTS / "02_train_disabled.png"), full_page=True)
        alerts = page.locator('[data-testid="stAlert"]').all_inner_texts()
        raise AssertionError(f"Train stayed disabled; epochs={epochs.input_value()!r}, alerts={alerts}") from None
    train.click()
    page.get_by_text("Training:").wait_for(timeout=60_000)
    # on the CPU the panel starts with light refreshes; a person who wants smoother curves picks Smooth
    page.locator(".st-key-live_refresh_picker button", has_text="Smooth").click()
    page.wait_for_function(f"() => ({LIVE_POINTS_JS})() > 0", timeout=60_000)
    first = live_points(page)
    # with Smooth the live chart gets new data every 5 s (ui/live.py REFRESH)
    try:
        page.wait_for_function(f"() => ({LIVE_POINTS_JS})() > {first}", timeout=30_000)
    except Exception:
        page.screenshot(path=str(SHOTS / "02_live_chart_did_not_grow.png"), full_page=True)
        raise
    assert page.locator(".st-key-live_stop button").first.is_visible(), "still training: the growth was live"
    page.screenshot(path=str(SHOTS / "02_training_live.png"), full_page=True)

    page.locator(".st-key-live_stop button").first.click()
    # a stopped run keeps its epochs and is evaluated on the test set like a completed one
    page.get_by_text(re.compile(r"Last run .* stopped")).wait_for(timeout=180_000)
    wait_idle(page)
    # the form, folded away while the run trained, still holds what was typed into it
    assert page.locator(".st-key-cfg_epochs input").input_value() == "300"
    page.screenshot(path=str(SHOTS / "03_training_done.png"), full_page=True)

    page.get_by_role("link", name="Runs").click()
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for(timeout=30_000)
    wait_idle(page)
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 20, box["y"] + 35 + 18)  # select the first (only) run's row
    page.get_by_role("heading", name="LeNet-5 on the MNIST sample").wait_for(timeout=30_000)
    page.screenshot(path=str(SHOTS / "04_runs.png"), full_page=True)

    page.get_by_role("button", name="Open in Evaluate").click()
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    wait_idle(page)
    page.screenshot(path=str(SHOTS / "05_evaluate.png"), full_page=True)
    _click_confusion_cell(page)
    page.get_by_text(re.compile(r"True .+, predicted .+: [\d,]+ images")).first.wait_for(timeout=30_000)
    page.screenshot(path=str(SHOTS / "06_evaluate_cell.png"), full_page=True)

    page.get_by_role("link", name="Playground").click()
    canvas = page.locator("canvas").last
    canvas.wait_for(timeout=60_000)
    wait_idle(page)
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    for i in range(1, 21):
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * (0.2 + 0.03 * i), steps=2)
    page.mouse.up()
    page.get_by_text(re.compile(r"\d% sure")).first.wait_for(timeout=30_000)
    page.screenshot(path=str(SHOTS / "07_playground.png"), full_page=True)


def _click_confusion_cell(page):
    """Click the diagonal cell of the confusion matrix heatmap with the most samples (digit 1)."""
    plot = page.locator(".js-plotly-plot").first  # the confusion matrix is the page's first chart
    plot.scroll_into_view_if_needed()
    box = plot.locator(".nsewdrag").first.bounding_box()
    # cell (true 1, predicted 1) of a 10×10 matrix; y axis runs top-down
    page.mouse.click(box["x"] + box["width"] * 0.15, box["y"] + box["height"] * 0.15)
