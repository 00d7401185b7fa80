"""The DNS-rebinding rule: only this computer's names unless the person running the app adds more."""
from __future__ import annotations

import pytest
from streamlit import config
from streamlit.web.server.starlette import starlette_websocket

from ui import host_guard
from ui.host_guard import LOCAL_HOSTS, allowed_hosts, host_name, is_host_allowed

KEY = "server.allowedHosts"


@pytest.mark.parametrize("header, name", [
    ("localhost:8501", "localhost"), ("Example.COM:8501", "example.com"), ("[::1]:8501", "::1"),
    ("localhost.", "localhost"), ("127.0.0.1", "127.0.0.1"),
    ("", None), (None, None), ("localhost:99999", None), ("localhost:port", None),
    ("user@localhost", None), ("localhost/path", None), ("evil.example localhost", None), ("[::1", None),
    ("(garbage:8501", None), ("a..b", None), ("<script>", None),
])
def test_host_name(header, name):
    assert host_name(header) == name


ALLOWED = ["localhost:8501", "LOCALHOST:8501", "127.0.0.1:8501", "[::1]:8501", "app.localhost:8501",
           "localhost.", "127.0.0.1"]
REFUSED = ["evil.example:8501", "localhost.evil.example:8501", "evillocalhost:8501", "127.0.0.1.nip.io:8501",
           "127.0.0.2:8501", "0.0.0.0:8501", "", None, "localhost:99999", "user@localhost:8501"]


@pytest.mark.parametrize("header", ALLOWED)
def test_local_names_are_allowed(header):
    assert is_host_allowed(header, LOCAL_HOSTS)


@pytest.mark.parametrize("header", REFUSED)
def test_other_names_are_refused(header):
    assert not is_host_allowed(header, LOCAL_HOSTS)


def test_opting_in_to_names_wildcards_and_everything():
    assert is_host_allowed("mybox.lan:8501", [*LOCAL_HOSTS, "mybox.lan"])
    assert is_host_allowed("gpu3.lab.example:8501", ["*.lab.example"])
    assert not is_host_allowed("lab.example.evil:8501", ["*.lab.example"])
    assert is_host_allowed("evil.example:8501", ["*"])
    assert not is_host_allowed("(garbage:8501", ["*"])  # even "*" wants a well-formed Host


def test_allowed_hosts_always_holds_the_local_names_and_keeps_the_configured_ones():
    assert allowed_hosts([]) == list(LOCAL_HOSTS)
    once = allowed_hosts([" MyBox.lan. ", "localhost", "", "192.168.1.20"])
    assert once == [*LOCAL_HOSTS, "mybox.lan", "192.168.1.20"]  # normalised, duplicates dropped
    assert allowed_hosts(once) == once  # applying it again changes nothing


@pytest.mark.parametrize("header", ALLOWED + REFUSED[:-3] + ["mybox.lan:8501", "x.lab.example"])
def test_the_rule_agrees_with_streamlits_own_websocket_check(header, monkeypatch):
    names = [*LOCAL_HOSTS, "mybox.lan", "*.lab.example"]
    monkeypatch.setattr(starlette_websocket.config, "get_option", lambda key: names if key == KEY else None)
    assert starlette_websocket.is_host_allowed(header) == is_host_allowed(header, names)


# ---- in the app (AppTest: the Host header is supplied by a monkeypatch) ------------------------

@pytest.fixture
def streamlit_hosts():
    """Streamlit's server options as configured, restored after the test (the guard widens them)."""
    before, where = config.get_option(KEY), config.get_where_defined(KEY)
    config.set_option(KEY, ["mybox.lan"])  # as `--server.allowedHosts mybox.lan` would
    yield
    config.set_option(KEY, before, where_defined=where)


def test_a_foreign_host_sees_why_and_how_to_opt_in_and_nothing_else(app, monkeypatch, streamlit_hosts):
    monkeypatch.setattr(host_guard, "_request_host", lambda: "evil.example:8501")
    at = app.run()
    assert not at.exception
    assert len(at.error) == 1 and len(at.main.children) == 1  # the refusal is all there is
    message = at.error[0].value
    assert "refuses requests addressed to `evil.example`" in message
    assert "--server.allowedHosts evil.example" in message and "http://localhost:8501" in message
    assert not at.sidebar.children and not at.title
    # and from now on Streamlit's own WebSocket check uses the same list
    assert config.get_option(KEY) == [*LOCAL_HOSTS, "mybox.lan"]
    assert config.get_where_defined(KEY).startswith("ui/host_guard.py")


@pytest.mark.parametrize("host", ["localhost:8501", "mybox.lan:8501"])
def test_local_and_configured_hosts_get_the_app(app, monkeypatch, streamlit_hosts, host):
    monkeypatch.setattr(host_guard, "_request_host", lambda: host)
    at = app.run()
    assert not at.exception and not at.error
    assert at.title and at.title[0].value  # the Home page
