"""A real Streamlit server on a free localhost port, and headless Debian Chromium via Playwright."""
from __future__ import annotations

import contextlib

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if Path(p).exists()), None)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _missing(what: str):
    # CI installs Chromium and Playwright (.ci/run): there a missing browser is a failure, never a skip
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing; .ci/run should have installed it")
    pytest.skip(f"{what} is not installed (apt-get install chromium; pip install playwright)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(checkpoints: Path, data_root, log: Path):
    """A real `streamlit run` on a free port; returns (process, url) once it answers.

    Shared by the browser tests and the benchmarks. `data_root` None leaves the data folder at
    its default. The server's output goes to `log`; if it dies while starting, the error says why.
    """
    port = _free_port()
    env = {**os.environ, "CNN_STUDIO_CHECKPOINTS": str(checkpoints), "PYTHONUNBUFFERED": "1"}
    if data_root is not None:
        env["CNN_STUDIO_DATA"] = str(data_root)
    with open(log, "w") as out:  # the child keeps its own copy of the file descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=1)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(Path(log).read_text()) from None
            time.sleep(0.25)
    stop_server(proc)
    raise RuntimeError("the Streamlit server did not answer within a minute")


def stop_server(proc) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    scratch = tmp_path_factory.mktemp("app")
    proc, url = start_server(scratch / "checkpoints", scratch / "data", scratch / "server.log")
    try:
        yield url
    finally:
        stop_server(proc)
        shutil.copy(scratch / "server.log", SHOTS / "server.log") if SHOTS.exists() else None


@contextlib.contextmanager
def trained_app(scratch: Path, batch_size: int = 32):
    """A server over a run store holding one finished LeNet-5 run (1 epoch, MNIST sample):
    yields (url, store, run_id)."""
    from core import trainer
    from core.config import RunConfig
    from core.runs import RunStore

    store = RunStore(scratch / "checkpoints")
    run_id, result = trainer.new_run(store, RunConfig(dataset="mnist_sample", arch="lenet5", epochs=1,
                                                      optimizer="adam", lr=0.002, batch_size=batch_size))
    assert result.status == "completed", result.message
    proc, url = start_server(scratch / "checkpoints", scratch / "data", scratch / "server.log")
    try:
        yield url, store, run_id
    finally:
        stop_server(proc)


@contextlib.contextmanager
def chromium(*extra_args: str):
    """Debian's Chromium under Playwright (whose own browser download cannot work offline)."""
    if CHROMIUM is None:
        _missing("Chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, *extra_args])
        yield b
        b.close()


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 2000})
    p = context.new_page()
    p.set_default_timeout(30_000)
    yield p
    context.close()
