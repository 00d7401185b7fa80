"""Load PyTorch and the training code on a background thread, once per server process.

Importing torch takes 2–4 s on a laptop (far longer from a cold disk). The first page a person
sees (Home, with the sidebar) is drawn without it; the router calls `start()` once that page is
out, so by the time they click anything the import is done. A page that needs torch earlier just
imports it: Python's import lock makes it wait for the background import instead of doing it twice.
The thread only imports modules; it never calls Streamlit.
"""
from __future__ import annotations

import importlib
import sys
import threading

MODULES = ("torch", "core.jobs", "core.trainer", "core.models", "core.inspect", "core.metrics")

_lock = threading.Lock()
_thread: threading.Thread | None = None


def _import_all() -> None:
    for name in MODULES:
        importlib.import_module(name)


def start() -> None:
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_import_all, name="cnn-studio-warmup", daemon=True)
            _thread.start()


def ready() -> bool:
    """True once everything in MODULES is imported (by the warm-up thread or anyone else)."""
    thread = _thread
    if thread is not None and thread.is_alive():
        return False
    return all(name in sys.modules for name in MODULES)
