"""Dashboard vs CLI: the same config trained from the Train page (live panel open) and the CLI.

Also measures the time from the browser connecting to the first usable page on a fresh server.
Training time is each run's own `elapsed_seconds` (the engine's clock over the training batches),
so start-up costs are not counted on either side. Needs Debian's Chromium and Playwright.

    python benchmarks/dashboard_overhead.py --epochs 10 --repeats 3

The config is the Train form's default (LeNet-5, SGD, the bundled MNIST sample) with --epochs,
or a preset (`--preset fast_mnist --data-dir DIR`: full MNIST, ~20 s of training) loaded into the
Train form from its Presets box. `--via home` starts the preset with Home's "Train now" instead,
which opens the Train page while the run is already loading. CLI and dashboard runs alternate so
that a slow patch of the machine hits both. The browser's CPU seconds during each dashboard run
are printed too: on a saturated CPU they are what training loses.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.conftest import ARGS, CHROMIUM, start_server, stop_server

IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
TICK = os.sysconf("SC_CLK_TCK")


def browser_cpu_seconds() -> float:
    """User + system CPU seconds of every Chromium process on the machine."""
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if "chrom" not in Path(f"/proc/{pid}/comm").read_text():
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def elapsed_of_latest(ck: Path) -> float:
    from core.runs import RunStore

    rec = RunStore(ck).list()[0]
    assert rec.status.status == "completed", rec.status
    return rec.metrics[-1]["elapsed_seconds"]


def preset_titles() -> dict:
    from core import presets

    return {name: p.title for name, p in presets.PRESETS.items()}


PRESET_TITLES = preset_titles()


def cli_run(args, ck: Path) -> float:
    how = ["--preset", args.preset] if args.preset else ["--epochs", str(args.epochs)]
    data = ["--data-dir", args.data_dir] if args.data_dir else []
    subprocess.run([sys.executable, "-m", "core", "--checkpoints", str(ck), "train", *how, *data],
                   cwd=ROOT, check=True, capture_output=True)
    return elapsed_of_latest(ck)


def start_from_train_page(page, args) -> None:
    """Open the Train page, load the preset (or set the epochs) in the form, press Train."""
    page.get_by_role("link", name="Train").click()
    if args.preset:
        page.get_by_text("Presets").click()
        page.locator(f".st-key-train_preset input").fill(PRESET_TITLES[args.preset])
        time.sleep(0.5)
        page.keyboard.press("Enter")
        page.wait_for_selector(IDLE)
        time.sleep(0.5)
        page.locator(".st-key-train_preset_load button").click()
    else:
        epochs = page.locator(".st-key-cfg_epochs input")
        epochs.fill(str(args.epochs))
        epochs.press("Enter")
    time.sleep(1)
    page.wait_for_selector(IDLE)
    time.sleep(1)
    page.locator(".st-key-train_submit button").click()


def dashboard_run(browser, args, ck: Path, log: Path) -> tuple[float, float, float]:
    """(training seconds, browser CPU seconds meanwhile, seconds to the first usable page)."""
    proc, url = start_server(ck, args.data_dir, log)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        t0 = time.perf_counter()
        page.goto(url)
        page.get_by_text("Start in one click").wait_for(timeout=60_000)
        first_page = time.perf_counter() - t0
        page.wait_for_selector(IDLE)
        time.sleep(1)
        if args.via == "home":
            cpu0 = browser_cpu_seconds()
            page.locator(f".st-key-home_{args.preset} button").click()
        else:
            cpu0 = None
            start_from_train_page(page, args)
        cpu0 = browser_cpu_seconds() if cpu0 is None else cpu0
        if args.refresh:  # the Light / Smooth choice under the live panel
            page.locator(".st-key-live_refresh_picker button", has_text=args.refresh.capitalize()).click()
        page.get_by_text(re.compile(r"Last run .* completed")).wait_for(timeout=600_000)
        cpu = browser_cpu_seconds() - cpu0
        page.close()
        return elapsed_of_latest(ck), cpu, first_page
    finally:
        stop_server(proc)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--preset", default=None, help="load this preset into the Train form instead")
    p.add_argument("--via", choices=("train", "home"), default="train",
                   help="start from the Train page's form (default) or Home's one-click card (needs --preset)")
    p.add_argument("--refresh", choices=("light", "smooth"), default=None,
                   help="pick this live-update choice once training starts (default: the app's own)")
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)
    if args.via == "home" and not args.preset:
        p.error("--via home needs --preset")
    from playwright.sync_api import sync_playwright

    scratch = Path(tempfile.mkdtemp())
    cli, ui, browser_cpu, first_page = [], [], [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for i in range(args.repeats):
            cli.append(cli_run(args, scratch / f"cli{i}"))
            seconds, cpu, first = dashboard_run(browser, args, scratch / f"ui{i}", scratch / f"ui{i}.log")
            ui.append(seconds)
            browser_cpu.append(cpu)
            first_page.append(first)
        browser.close()
    med_cli, med_ui = statistics.median(cli), statistics.median(ui)
    what = f"preset {args.preset}" if args.preset else f"Train-form defaults with {args.epochs} epochs"
    how = "Home's Train now" if args.via == "home" else "the Train page's form"
    refresh = f"; live updates: {args.refresh}" if args.refresh else ""
    print(f"machine: {os.cpu_count()} cores; {what}, started from {how}{refresh}; "
          f"{args.repeats} runs each, alternating\n")
    print("| | median training s | runs | browser CPU s during the run |")
    print("|---|---:|---|---|")
    print(f"| CLI | {med_cli:.2f} | {', '.join(f'{v:.2f}' for v in cli)} | |")
    print(f"| dashboard, live panel open | {med_ui:.2f} | {', '.join(f'{v:.2f}' for v in ui)} | "
          f"{', '.join(f'{v:.1f}' for v in browser_cpu)} |")
    print(f"\ndashboard / CLI = {med_ui / med_cli:.3f} ({(med_ui / med_cli - 1):+.1%})")
    print(f"first usable page after the browser connects (fresh server): median "
          f"{statistics.median(first_page):.2f} s ({', '.join(f'{v:.2f}' for v in first_page)})")


if __name__ == "__main__":
    main()
