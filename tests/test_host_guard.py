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


def test_allowed_hosts_adds_the_bound_address_but_not_a_wildcard_one():
    assert allowed_hosts([], "localhost") == list(LOCAL_HOSTS)
    assert allowed_hosts([], "192.168.1.5")[-1] == "192.168.1.5"
    assert allowed_hosts([], "[fe80::1]")[-1] == "fe80::1"
    for anywhere in ("0.0.0.0", "::", "", None, "unix:///tmp/app.sock"):
        assert allowed_hosts([], anywhere) == list(LOCAL_HOSTS)
    # the person's own names are kept (normalised), duplicates dropped, and applying it twice is stable
    once = allowed_hosts([" MyBox.lan. ", "localhost", ""], "10.0.0.7")
    assert once == [*LOCAL_HOSTS, "10.0.0.7", "mybox.lan"]
    assert allowed_hosts(once, "10.0.0.7") == once


@pytest.mark.parametrize("header", ALLOWED + REFUSED[:-3] + ["mybox.lan:8501", "x.lab.example"])
def test_the_rule_agrees_with_streamlits_own_websocket_check(header, monkeypatch):
    names = [*LOCAL_HOSTS, "mybox.lan", "*.lab.example"]
    monkeypatch.setattr(starlette_websocket.config, "get_option", lambda key: names if key == KEY else None)
    assert starlette_websocket.is_host_allowed(header) == is_host_allowed(header, names)


# ---- in the app (AppTest: the Host header is supplied by a monkeypatch) ------------------------

@pytest.fixture
def streamlit_hosts():
    """Streamlit's server options as configured, restored after the test (the guard widens them)."""
    saved = {k: (config.get_option(k), config.get_where_defined(k)) for k in (KEY, "server.address")}
    config.set_option(KEY, list(LOCAL_HOSTS))
    config.set_option("server.address", "10.0.0.7")
    yield
    for k, (value, where) in saved.items():
        config.set_option(k, value, where_defined=where)


def test_a_foreign_host_sees_why_and_how_to_opt_in_and_nothing_else(app, monkeypatch, streamlit_hosts):
    monkeypatch.setattr(host_guard, "_request_host", lambda: "evil.example:8501")
    at = app.run()
    assert not at.exception
    assert len(at.error) == 1 and len(at.main.children) == 1  # the refusal is all there is
    message = at.error[0].value
    assert "refuses requests addressed to `evil.example`" in message
    assert "--server.allowedHosts evil.example" in message and "http://localhost:8501" in message
    assert not at.sidebar.children and not at.title
    # and from now on Streamlit's own WebSocket check uses the same list, with the bound address
    assert config.get_option(KEY) == [*LOCAL_HOSTS, "10.0.0.7"]
    assert config.get_where_defined(KEY).startswith("ui/host_guard.py")


def test_a_local_host_gets_the_app(app, monkeypatch, streamlit_hosts):
    monkeypatch.setattr(host_guard, "_request_host", lambda: "localhost:8501")
    at = app.run()
    assert not at.exception and not at.error
    assert at.title and at.title[0].value  # the Home page
