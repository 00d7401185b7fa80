"""In a real browser: clicking a cell of the Runs comparison's agreement matrix (a Plotly selection,
which AppTest cannot make) opens exactly that cell's images."""
from __future__ import annotations

import shutil

import pytest
import torch

from tests.browser.conftest import SHOTS, start_server, stop_server
from tests.conftest import put_status

pytestmark = pytest.mark.browser
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


@pytest.fixture
def two_runs_server(tmp_path, _trained_once):
    """The trained MNIST-sample run twice: A as trained; B right on every test image but on five
    that A gets right (so the page opens on "only A right", 5 images)."""
    from core import checkpoints
    from core.runs import RunStore

    store = RunStore(tmp_path / "checkpoints")
    for later, name in enumerate(("a-run", "b-run")):
        shutil.copytree(_trained_once, store.root / name)
        store.rename(name, f"{name} name")
        put_status(store, name, created_at=1.7e9 + later)  # A is the older run
    p = checkpoints.load_predictions(store, "b-run", "best")
    labels, right_a = p["labels"], p["preds"] == p["labels"]
    preds = labels.clone()
    broken = torch.nonzero(right_a).flatten()[:5]
    preds[broken] = (labels[broken] + 1) % 10
    probs = torch.nn.functional.one_hot(preds, p["probs"].shape[1]).float()
    checkpoints.save_predictions(store, "b-run", "best", labels, preds, probs, torch.zeros(len(probs)))
    fixed = int((~right_a).sum())
    proc, url = start_server(store.root, tmp_path / "data", tmp_path / "server.log")
    try:
        yield url, fixed
    finally:
        stop_server(proc)


def test_clicking_an_agreement_cell_opens_its_images(page, two_runs_server):
    url, fixed = two_runs_server
    page.set_default_timeout(40_000)
    page.goto(f"{url}/runs?runs=a-run,b-run")
    matrix = page.locator(".st-key-runs_versus_matrix .main-svg").first
    matrix.wait_for()
    page.wait_for_selector(IDLE)
    page.get_by_text("5 images · showing 1–5").wait_for()  # "only A right" at first
    assert fixed > 5
    matrix.scroll_into_view_if_needed()
    # Plotly takes clicks once it has laid the chart out (its div then carries _fullLayout)
    page.wait_for_function("() => document.querySelector('.st-key-runs_versus_matrix .js-plotly-plot')"
                           "?._fullLayout !== undefined")
    page.wait_for_timeout(500)
    box = page.locator(".st-key-runs_versus_matrix .nsewdrag").first.bounding_box()  # the plot area
    page.mouse.click(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.8)  # A wrong, B right
    page.get_by_text(f"{fixed:,} images · showing 1–{min(fixed, 24)}").wait_for()
    page.locator(".st-key-runs_versus_cell").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "versus_01_only_B_right.png"))
