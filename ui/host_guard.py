"""Refuse requests addressed to a name that is not this computer (DNS rebinding, issue #11).

A web page on evil.example can re-point its own name at 127.0.0.1; the browser then treats this
app as part of evil.example and lets the page drive it. The only trace is the Host header, which
says evil.example. So, as Jupyter does, only local names are accepted unless the person running
the app lists others in Streamlit's own option `server.allowedHosts` (README, "Server settings").

Three layers, one rule (`allowed_hosts` + `is_host_allowed`):
1. .streamlit/config.toml (read beside the script, whatever the working folder) sets
   server.allowedHosts to the local names, so from the moment the server starts Streamlit itself
   refuses the WebSocket of any other Host (HTTP 403; its own check, added in Streamlit 1.61,
   empty by default). Such a page stays a loading skeleton: no session, so not even the
   script-less requests (clear_cache) that a session could send;
2. the router calls `refuse_foreign_host()` before drawing anything: every action is a script
   run, so a session with a foreign Host can do nothing, and the person sees why and what to do;
3. that call also makes Streamlit's list the same rule (the local names are always in it) and
   sets it when config.toml is missing (only the code deployed), so from then on the WebSocket
   check and the message agree. Streamlit reads the option on every handshake.

Opting in uses Streamlit's own option (--server.allowedHosts, STREAMLIT_SERVER_ALLOWED_HOSTS),
which the server reads when it starts. Neither a variable of ours nor the bound --server.address
is added here: anything this module adds takes effect only after a first script run, i.e. after a
visit by a name already allowed, so it would work or not depending on which name was opened first.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

import streamlit as st

LOCAL_HOSTS = ("localhost", "*.localhost", "127.0.0.1", "::1")
_WHERE = "ui/host_guard.py (server.allowedHosts plus the local names)"


# ---- the rule (pure) -----------------------------------------------------------------------

def host_name(host_header: str | None) -> str | None:
    """The name in a Host header, lower case, without port or trailing dot; None if malformed.

    "Example.COM:8501" -> "example.com", "[::1]:8501" -> "::1".
    """
    if not host_header or any(c in host_header for c in "/?#@\\ \t"):
        return None
    try:
        parts = urlsplit(f"//{host_header}")
        name, _ = parts.hostname, parts.port  # reading .port checks it is a number in range
    except ValueError:
        return None
    name = (name or "").rstrip(".")
    # DNS names and IP addresses only (IPv6 without its brackets)
    return name if re.fullmatch(r"[a-z0-9_:-]+(\.[a-z0-9_-]+)*", name) else None


def allowed_hosts(configured: Iterable[str]) -> list[str]:
    """The names to accept: the local ones and those the person running the app configured."""
    names = [*LOCAL_HOSTS, *(h.strip().lower().rstrip(".") for h in configured if h and h.strip())]
    return list(dict.fromkeys(names))  # de-duplicated, order kept


def is_host_allowed(host_header: str | None, allowed: Iterable[str]) -> bool:
    """Whether a Host header names one of `allowed`: exact names, "*.suffix" or "*" (any).

    Matches Streamlit's own server.allowedHosts check, so the message and the WebSocket agree.
    """
    name = host_name(host_header)
    if name is None:
        return False
    for pattern in allowed:
        pattern = pattern.strip().lower().rstrip(".")
        if pattern == "*" or name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:])):
            return True
    return False


# ---- in the app ------------------------------------------------------------------------------

def _request_host() -> str | None:
    """The Host header of this session's WebSocket; None without one (AppTest, bare mode)."""
    return st.context.headers.get("Host")


def _effective_hosts() -> list[str]:
    from streamlit import config  # Streamlit's config module: the server reads the same values

    configured = config.get_option("server.allowedHosts") or []
    wanted = allowed_hosts(configured)
    if list(configured) != wanted:
        # the WebSocket check reads this option on every connection, so it applies at once
        config.set_option("server.allowedHosts", wanted, where_defined=_WHERE)
    return wanted


def _refused() -> None:
    """The only page a refused session has (never run: the script stops first)."""


def refuse_foreign_host() -> None:
    """Stop this script run, with the reason and the fix, unless the Host is allowed."""
    host = _request_host()
    if host is None:  # no browser connection behind this run: nothing to rebind
        return
    allowed = _effective_hosts()
    if is_host_allowed(host, allowed):
        return
    # replaces the file-name page list a first request for a page URL shows (see ui/state.py)
    st.navigation([st.Page(_refused, title="Refused")], position="hidden")
    name = host_name(host) or host
    port = f":{urlsplit(f'//{host}').port}" if host_name(host) and urlsplit(f"//{host}").port else ""
    st.error(
        f"**CNN Studio refuses requests addressed to `{name}`.** It only answers to this computer's "
        f"own names ({', '.join(allowed)}): another web page can point a name of its own at this "
        "computer and use that page to drive the app (DNS rebinding).\n\n"
        f"If you opened `{name}` on purpose, restart the app allowing it, e.g. "
        f"`streamlit run streamlit_app.py --server.allowedHosts localhost --server.allowedHosts {name}` "
        f"(`*` allows any name: only on a network you trust). Otherwise open http://localhost{port} instead.",
        icon=":material/gpp_bad:",
    )
    st.stop()
