"""Dashboard vs CLI: the same config trained from the Train page (live panel open) and the CLI.

Also measures the time from the browser connecting to the first usable page on a fresh server.
Training time is each run's own `elapsed_seconds` (the engine's clock over the training batches),
so start-up costs are not counted on either side. Needs Debian's Chromium and Playwright.

    python benchmarks/dashboard_overhead.py --epochs 10 --repeats 3

The config is the Train form's default (LeNet-5, SGD, the bundled MNIST sample) with --epochs,
or a preset started with Home's "Train now", which opens the Train page with the live panel
(`--preset fast_mnist --data-dir DIR`: full MNIST, ~17 s of training, long enough for the live
panel's steady state to dominate).
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


def elapsed_of_latest(ck: Path) -> float:
    from core.runs import RunStore

    rec = RunStore(ck).list()[0]
    assert rec.status.get("status") == "completed", rec.status
    return rec.metrics[-1]["elapsed_seconds"]


def cli_run(args, ck: Path) -> float:
    how = ["--preset", args.preset] if args.preset else ["--epochs", str(args.epochs)]
    data = ["--data-dir", args.data_dir] if args.data_dir else []
    subprocess.run([sys.executable, "-m", "core", "--checkpoints", str(ck), "train", *how, *data],
                   cwd=ROOT, check=True, capture_output=True)
    return elapsed_of_latest(ck)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--preset", default=None, help="load this preset into the Train form instead")
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)
    from playwright.sync_api import sync_playwright

    scratch = Path(tempfile.mkdtemp())
    cli = [cli_run(args, scratch / f"cli{i}") for i in range(args.repeats)]
    ui, first_page = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for i in range(args.repeats):
            ck = scratch / f"ui{i}"
            proc, url = start_server(ck, args.data_dir, scratch / f"ui{i}.log")
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                t0 = time.perf_counter()
                page.goto(url)
                page.get_by_text("Start in one click").wait_for(timeout=60_000)
                first_page.append(time.perf_counter() - t0)
                idle = '[data-testid="stApp"][data-test-script-state="notRunning"]'
                if args.preset:  # Home's "Train now" card queues it and opens the Train page
                    page.wait_for_selector(idle)
                    time.sleep(1)
                    page.locator(f".st-key-home_{args.preset} button").click()
                else:
                    page.get_by_role("link", name="Train").click()
                    epochs = page.locator(".st-key-cfg_epochs input")
                    epochs.fill(str(args.epochs))
                    epochs.press("Enter")
                    page.wait_for_selector(idle)
                    time.sleep(1)
                    page.locator(".st-key-train_submit button").click()
                page.get_by_text(re.compile(r"Last run .* completed")).wait_for(timeout=600_000)
                ui.append(elapsed_of_latest(ck))
                page.close()
            finally:
                stop_server(proc)
        browser.close()
    med_cli, med_ui = statistics.median(cli), statistics.median(ui)
    what = f"preset {args.preset}" if args.preset else f"Train-form defaults with {args.epochs} epochs"
    print(f"machine: {os.cpu_count()} cores; {what}; "
          f"{args.repeats} runs each\n")
    print("| | median training s | runs |")
    print("|---|---:|---|")
    print(f"| CLI | {med_cli:.2f} | {', '.join(f'{v:.2f}' for v in cli)} |")
    print(f"| dashboard, live panel open | {med_ui:.2f} | {', '.join(f'{v:.2f}' for v in ui)} |")
    print(f"\ndashboard / CLI = {med_ui / med_cli:.3f} ({(med_ui / med_cli - 1):+.1%})")
    print(f"first usable page after the browser connects (fresh server): median "
          f"{statistics.median(first_page):.2f} s ({', '.join(f'{v:.2f}' for v in first_page)})")


if __name__ == "__main__":
    main()
