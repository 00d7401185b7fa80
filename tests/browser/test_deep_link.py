"""A bookmarked page URL opened first on a fresh server still runs inside the app's router."""
import pytest

from tests.browser.conftest import SHOTS

pytestmark = pytest.mark.browser


def test_first_request_to_a_page_url_gets_the_router_sidebar_and_page(page, server):
    # ui/state._ensure_router reruns this first request inside the router; the query string (the
    # compared runs of a bookmarked comparison) must come through that rerun
    page.goto(server + "/runs?runs=some-run-id")
    page.get_by_text("Devices:").wait_for(timeout=60_000)  # our sidebar, drawn by streamlit_app.py
    page.get_by_role("heading", name="Runs").first.wait_for()
    page.screenshot(path=str(SHOTS / "00_deep_link_runs.png"))
    assert page.get_by_role("link", name="Playground").count() == 1  # titled navigation, not file names
    assert "runs=some-run-id" in page.url
