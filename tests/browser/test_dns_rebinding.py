"""A page whose own name resolves to 127.0.0.1 (DNS rebinding) gets no app; 127.0.0.1 does.

Chromium's --host-resolver-rules plays the attacker's DNS: http://evil.example:PORT reaches the
real server on 127.0.0.1 with `Host: evil.example:PORT`, exactly as a rebound page would.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import ROOT, SHOTS, _free_port, chromium, stop_server

pytestmark = pytest.mark.browser

SIDEBAR = "Devices:"  # drawn by streamlit_app.py's sidebar: the app is running for this page


def handshake(url: str, host: str) -> str:
    """The status line the server answers a WebSocket upgrade with, sent with this Host header."""
    port = urlsplit(url).port
    request = (f"GET /_stcore/stream HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               f"Sec-WebSocket-Version: 13\r\nOrigin: http://{host}\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request.encode())
        return s.recv(4096).decode("latin-1").split("\r\n", 1)[0]


@pytest.fixture(scope="module")
def rebinding_browser():
    with chromium("--host-resolver-rules=MAP evil.example 127.0.0.1") as b:
        yield b
        b.close()


def open_page(browser, url: str):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    return context, page


def test_the_websocket_of_a_foreign_host_is_refused_before_any_script_runs(server):
    port = urlsplit(server).port
    assert handshake(server, f"evil.example:{port}") == "HTTP/1.1 403 Forbidden"
    assert handshake(server, f"localhost.evil.example:{port}") == "HTTP/1.1 403 Forbidden"
    assert handshake(server, f"127.0.0.1:{port}") == "HTTP/1.1 101 Switching Protocols"
    assert handshake(server, f"localhost:{port}") == "HTTP/1.1 101 Switching Protocols"


def test_a_rebound_name_gets_no_app_and_127_0_0_1_does(rebinding_browser, server):
    port = urlsplit(server).port
    context, page = open_page(rebinding_browser, f"http://evil.example:{port}/")
    try:
        # Streamlit's page shell loads, but each WebSocket attempt gets 403 (the server log names
        # the refused Host): the page stays a loading skeleton, with no app, no data, no actions
        page.wait_for_timeout(12_000)
        page.screenshot(path=str(SHOTS / "dns_rebinding_refused.png"))
        assert page.get_by_text(SIDEBAR).count() == 0
        assert page.inner_text("body").strip() == "Skip to main content"
    finally:
        context.close()
    context, page = open_page(rebinding_browser, server)
    try:
        page.get_by_text(SIDEBAR).wait_for()
        page.screenshot(path=str(SHOTS / "dns_rebinding_local_ok.png"))
    finally:
        context.close()


@pytest.fixture(scope="module")
def server_without_config(tmp_path_factory):
    """The app deployed without its .streamlit folder (only the code copied): no host list there."""
    scratch = tmp_path_factory.mktemp("elsewhere")
    app = scratch / "app"
    app.mkdir()
    shutil.copy(ROOT / "streamlit_app.py", app)
    for folder in ("core", "ui", "pages"):
        (app / folder).symlink_to(ROOT / folder)
    port, log = _free_port(), scratch / "server.log"
    env = {**os.environ, "CNN_STUDIO_CHECKPOINTS": str(scratch / "ck"), "CNN_STUDIO_DATA": str(scratch / "data"),
           "PYTHONUNBUFFERED": "1"}
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=app, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(log.read_text()) from None
                time.sleep(0.25)
        yield url
    finally:
        stop_server(proc)
        shutil.copy(log, SHOTS / "server_without_config.log") if SHOTS.exists() else None


def test_without_the_config_the_router_refuses_and_then_so_does_the_websocket(rebinding_browser,
                                                                              server_without_config):
    port = urlsplit(server_without_config).port
    # Streamlit's default accepts any Host; the first script run is the router's to refuse
    assert handshake(server_without_config, f"evil.example:{port}") == "HTTP/1.1 101 Switching Protocols"
    context, page = open_page(rebinding_browser, f"http://evil.example:{port}/train")
    try:
        page.get_by_text("CNN Studio refuses requests addressed to").wait_for()
        page.wait_for_timeout(1000)
        page.screenshot(path=str(SHOTS / "dns_rebinding_router_message.png"))
        assert "--server.allowedHosts evil.example" in page.inner_text("body")
        assert page.get_by_text(SIDEBAR).count() == 0
        assert page.get_by_role("link", name="Playground").count() == 0  # no navigation either
    finally:
        context.close()
    # that run set Streamlit's list: now the WebSocket itself is refused, and local names still work
    assert handshake(server_without_config, f"evil.example:{port}") == "HTTP/1.1 403 Forbidden"
    assert handshake(server_without_config, f"127.0.0.1:{port}") == "HTTP/1.1 101 Switching Protocols"
