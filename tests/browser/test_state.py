"""UI state in a real browser (issue #11, cases 9-12): what survives a page switch and a reload,
the Runs comparison of runs that still train, the run name, and Light mode's first curves.

The tests share one server and run in order: the first one's run is on Runs for the second.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SHOTS
from tests.browser.test_journey import LIVE_POINTS_JS, wait_idle

pytestmark = pytest.mark.browser

NAME = "LeNet **x** [click](evil.example)"  # Markdown, if it were rendered: bold and a link


def fill(page, key: str, text: str) -> None:
    """Type into a text/number input and wait for the rerun it starts."""
    field = page.locator(f".st-key-{key} input")
    field.fill(text)
    field.press("Enter")
    page.wait_for_timeout(300)
    wait_idle(page)


def open_train(page, url: str) -> None:
    page.goto(url + "/train")
    page.locator(".st-key-cfg_epochs input").wait_for(timeout=60_000)
    wait_idle(page)


def started_run_id(page, verb: str) -> str:
    alert = page.get_by_text(re.compile(rf"Run \S+ {verb}\.")).first
    alert.wait_for(timeout=60_000)
    return re.search(rf"Run (\S+) {verb}", alert.inner_text()).group(1)


def test_light_mode_draws_curves_early_and_the_name_and_form_survive_a_reload(page, server):
    open_train(page, server)
    fill(page, "cfg_name", NAME)
    fill(page, "cfg_epochs", "600")  # stopped below; a fast CPU does 60 epochs of the sample in 9 s
    page.locator(".st-key-train_submit button").click()
    page.get_by_text("Training:").wait_for(timeout=60_000)
    # 12. Light mode (the CPU default) used to draw the first curves 30 s after the page did, when
    # a short run was over; now they come within ~5 s of the first batch
    expect(page.get_by_role("radio", name="Light")).to_be_checked()
    page.get_by_text(re.compile(r"Epoch \d+/600")).first.wait_for(timeout=60_000)  # the first batch is done
    try:
        page.wait_for_function(f"() => ({LIVE_POINTS_JS})() > 0", timeout=12_000)
    finally:
        page.screenshot(path=str(SHOTS / "state_01_light_curves_early.png"), full_page=True)
    # the name is shown as typed: no bold, no link
    head = page.locator("[data-testid='stMarkdownContainer']", has_text="Training:").first
    assert "**x** [click](evil.example)" in head.inner_text()
    assert page.locator("a[href*='evil']").count() == 0
    page.locator(".st-key-live_stop button").first.click()
    page.get_by_text(re.compile(r"Last run .* stopped")).wait_for(timeout=60_000)
    wait_idle(page)
    # 11. the name belongs to the run it named: the form's name is empty for the next run
    assert page.locator(".st-key-cfg_name input").input_value() == ""
    # 9. a reload is a new session: the form comes back from the draft saved on the server
    page.reload()
    page.locator(".st-key-cfg_epochs input").wait_for(timeout=60_000)
    wait_idle(page)
    assert page.locator(".st-key-cfg_name input").input_value() == ""
    assert page.locator(".st-key-cfg_epochs input").input_value() == "600"
    page.screenshot(path=str(SHOTS / "state_02_train_form_after_reload.png"), full_page=True)


def test_runs_comparison_follows_training_runs_and_survives_a_reload(page, server):
    open_train(page, server)
    fill(page, "cfg_epochs", "40")  # stopped below, once the comparison has shown it training
    page.locator(".st-key-train_submit button").click()
    first = started_run_id(page, "started")
    page.locator(".st-key-train_next_run label").click()  # set up another run while this one trains
    page.locator(".st-key-train_submit button").wait_for(timeout=30_000)
    wait_idle(page)
    fill(page, "cfg_epochs", "2")
    page.locator(".st-key-train_submit button").click()
    second = started_run_id(page, "queued")

    # 9. the compared runs are in the URL, so this link (and a reload) opens the comparison
    page.goto(f"{server}/runs?runs={first},{second}")
    page.get_by_role("heading", name="Comparing 2 runs").wait_for(timeout=60_000)
    # 10. it refreshes by itself while a compared run trains, and says why cells are blank
    page.get_by_text("Updates every 5 s").wait_for(timeout=30_000)
    page.screenshot(path=str(SHOTS / "state_03_runs_comparing_while_training.png"), full_page=True)
    # the curves appear without a click once the first epoch ends
    page.locator(".st-key-runs_curve_loss .js-plotly-plot").wait_for(timeout=60_000)
    page.screenshot(path=str(SHOTS / "state_04_runs_curves_filled_in.png"), full_page=True)

    page.reload()
    page.get_by_role("heading", name="Comparing 2 runs").wait_for(timeout=60_000)
    param = parse_qs(urlparse(page.url).query)["runs"][0]
    assert sorted(param.split(",")) == sorted([first, second])  # in the table's order
    page.goto(server + "/train")
    page.locator(".st-key-live_stop button").first.click()  # the second run starts and ends by itself
    page.get_by_text("Stopping after the current batch").wait_for(timeout=30_000)
    page.goto(f"{server}/runs?runs={first},{second}")
    page.get_by_role("heading", name="Comparing 2 runs").wait_for(timeout=60_000)
    # both done: the section redraws by itself and stops polling
    expect(page.get_by_text("Updates every 5 s")).to_have_count(0, timeout=120_000)
    wait_idle(page)
    page.screenshot(path=str(SHOTS / "state_05_runs_compared_done.png"), full_page=True)


def test_custom_stack_and_lr_finder_survive_a_reload(page, server):
    page.goto(server + "/model")
    page.get_by_role("tab", name="Build your own").click()
    caption = page.get_by_text(re.compile(r"Input \[16, 1, 28, 28\] · [\d,]+ parameters"))
    caption.wait_for(timeout=60_000)
    wait_idle(page)
    before = caption.inner_text()
    grid = page.locator("[class*='st-key-layer_editor_'] [data-testid='stDataFrameResizable']")
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 160, box["y"] + 35 + 17)  # row 1's "out" cell: 6 channels
    page.wait_for_timeout(500)
    page.keyboard.type("8")
    page.wait_for_timeout(500)
    page.screenshot(path=str(SHOTS / "state_06_model_stack_edit.png"))
    page.keyboard.press("Enter")
    expect(caption).not_to_have_text(before, timeout=30_000)
    wait_idle(page)
    edited = caption.inner_text()
    page.reload()
    page.get_by_role("tab", name="Build your own").click()
    caption.wait_for(timeout=60_000)
    wait_idle(page)
    assert caption.inner_text() == edited, f"before {before!r}, edited {edited!r}"
    page.screenshot(path=str(SHOTS / "state_06_model_stack_after_reload.png"), full_page=True)

    open_train(page, server)
    page.locator(".st-key-lr_find button").click()
    page.locator(".st-key-lr_finder_chart .js-plotly-plot").wait_for(timeout=60_000)
    page.reload()
    page.locator(".st-key-lr_finder_chart .js-plotly-plot").wait_for(timeout=60_000)
    wait_idle(page)
    page.locator(".st-key-lr_finder_chart").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "state_07_lr_finder_after_reload.png"), full_page=True)
