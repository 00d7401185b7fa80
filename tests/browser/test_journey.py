"""The main journey in a real browser (Playwright driving Debian's Chromium).

open the app → preset "LeNet-5 on the MNIST sample" → Train → the live chart grows → the run
completes and appears on Runs → Evaluate: confusion matrix, selecting a cell shows images →
Playground: draw a stroke, get a prediction. Screenshots land in artifacts/screenshots/.
"""
from __future__ import annotations

import re
import time

import pytest

from tests.browser.conftest import SHOTS

pytestmark = pytest.mark.browser


def wait_idle(page, timeout=30_000):
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)


LIVE_POINTS_JS = """() => {
    const plots = [...document.querySelectorAll('.js-plotly-plot')];
    let n = 0;
    for (const p of plots) for (const t of (p.data || [])) if (t.name === 'running loss') n = Math.max(n, t.x.length);
    return n;
}"""


def live_points(page) -> int:
    """Number of points in the live chart's running-loss trace (read from Plotly's DOM data)."""
    return page.evaluate(LIVE_POINTS_JS)


def test_main_journey(page, server):
    page.goto(server)
    page.get_by_text("Start in one click").wait_for(timeout=60_000)
    page.screenshot(path=str(SHOTS / "01_home.png"), full_page=True)

    page.locator(".st-key-home_lenet5_mnist_sample button").click()
    page.get_by_text("Training:").wait_for(timeout=60_000)
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].some("
                           "p => (p.data || []).some(t => t.name === 'running loss' && t.x.length > 0))",
                           timeout=60_000)
    first = live_points(page)
    assert first > 0
    # the chart redraws every few seconds (ui/live.py CHART_SECONDS)
    page.wait_for_function(f"() => ({LIVE_POINTS_JS})() > {first}", timeout=30_000)
    page.screenshot(path=str(SHOTS / "02_training_live.png"), full_page=True)

    page.get_by_text(re.compile(r"Last run .* completed")).wait_for(timeout=180_000)
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
