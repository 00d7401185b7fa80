"""Responsiveness at scale: the Runs page with 200 runs, Evaluate with 10,000 test predictions.

Builds a throw-away run store in the real on-disk format (config.json, status.json, model.json,
metrics.csv with 10 epochs, weights, resume checkpoint and predictions for every run) and a
torchvision-layout MNIST whose test split has 10,000 real digits (the bundled 5,000 twice), starts
a real Streamlit server on them and times, in headless Chromium, after one warm-up visit each:

  Runs      click "Runs" in the navigation → the runs table is visible and the script has finished
  Evaluate  click "Evaluate" (the 10k-prediction run selected) → the confusion matrix and the 24
            images of the first gallery page are drawn and the script has finished

  Versus    click "Runs" with the first and the newest run compared → the sample-by-sample agreement
            matrix and the 24 images of its first cell are drawn and the script has finished
  Scores    on Evaluate, click "Curves, calibration and top-k accuracy" → the precision-recall
            curves are drawn (computed on first open, then cached)

Each visit starts on Home. Both bars are 1 s (issue "Performance", bar 4). Also reported: the CPU
time server and browser spend on a visit (what the visit costs on an idle machine, whatever else
is running here) and the server-side script time of each page alone, with AppTest in this
process. Needs Debian's Chromium and Playwright. Not a test.

    python benchmarks/responsiveness.py --repeats 5
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.conftest import ARGS, CHROMIUM, start_server, stop_server

BAR_SECONDS = 1.0
N_RUNS, N_EPOCHS, N_TEST = 200, 10, 10_000
GALLERY_TILES = 24          # ui.gallery.tiles' per_page
TILE_PX = 28 * 3            # a 28×28 digit drawn at scale 3
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


# ---- a torchvision-layout MNIST with a 10,000-image test split ----------------------------------

def _idx_bytes(array: np.ndarray) -> bytes:
    magic = 0x00000800 | array.ndim  # 0x08 = unsigned byte
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()


def write_mnist(data_root: Path) -> None:
    """Real digits from the bundled sample: 4,000 train, and 10,000 test (the 5,000 twice)."""
    from core.data import sample

    train, test, _ = sample.load()
    every = np.concatenate([train.images[:, 0].numpy(), test.images[:, 0].numpy()])
    every_labels = np.concatenate([train.labels.numpy(), test.labels.numpy()])
    raw = data_root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    arrays = {"train-images-idx3-ubyte": train.images[:, 0].numpy(),
              "train-labels-idx1-ubyte": train.labels.numpy(),
              "t10k-images-idx3-ubyte": np.concatenate([every, every])[:N_TEST],
              "t10k-labels-idx1-ubyte": np.concatenate([every_labels, every_labels])[:N_TEST]}
    for name, array in arrays.items():
        (raw / name).write_bytes(_idx_bytes(array))


# ---- a run store with 200 runs ------------------------------------------------------------------

def _fake_predictions(labels: np.ndarray, accuracy: float, seed: int) -> dict:
    """Probabilities that are right `accuracy` of the time, with their cross-entropy losses."""
    import torch

    rng = np.random.default_rng(seed)
    n, classes = len(labels), 10
    preds = np.where(rng.random(n) < accuracy, labels, (labels + rng.integers(1, classes, n)) % classes)
    logits = rng.normal(0, 1, (n, classes))
    logits[np.arange(n), preds] += rng.uniform(2, 9, n)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    losses = -np.log(probs[np.arange(n), labels])
    return {"labels": torch.from_numpy(labels), "preds": torch.from_numpy(preds),
            "probs": torch.from_numpy(probs), "losses": torch.from_numpy(losses)}


def build_store(ck: Path, data_root: Path) -> tuple[str, str]:
    """200 completed LeNet-5 runs on MNIST; returns the first and the newest run's ids (the newest
    is the Evaluate default; the two are compared sample by sample).

    The first run's weights, checkpoint and predictions are written with the project's own
    functions; the other runs get hard links to those files (same bytes on disk, much less space),
    except the newest run's predictions, which are its own (so it differs from the first).
    """
    from core import checkpoints, data, models
    from core.config import OPTIMIZERS, RunConfig
    from core.run_files import ModelMeta
    from core.runs import RunStore

    store = RunStore(ck)
    ds = data.load("mnist", data_root)
    model = models.build_model("lenet5", (1, 28, 28), 10)
    params = sum(p.numel() for p in model.parameters())
    labels = ds.test.labels.numpy()
    base = time.time() - N_RUNS * 3600
    first, newest = None, None
    for i in range(N_RUNS):
        cfg = RunConfig(dataset="mnist", arch="lenet5", optimizer=OPTIMIZERS[i % len(OPTIMIZERS)],
                        lr=[0.1, 0.01, 0.001][i % 3], epochs=N_EPOCHS, batch_size=64, seed=i)
        run_id = store.create(cfg)
        rng = np.random.default_rng(i)
        acc = np.minimum(0.995, 0.9 + np.cumsum(rng.uniform(0, 0.02, N_EPOCHS)))
        rows = [{"epoch": e + 1, "train_loss": 0.5 / (e + 1), "train_acc": acc[e] - 0.005, "val_loss": 0.4 / (e + 1),
                 "val_acc": acc[e], "lr": cfg.lr, "epoch_seconds": 6.0, "elapsed_seconds": 6.0 * (e + 1)}
                for e in range(N_EPOCHS)]
        store.write_metrics(run_id, rows)
        store.write_model(run_id, ModelMeta.parse({
            "classes": ds.classes, "mean": list(ds.mean), "std": list(ds.std), "image_shape": list(ds.shape),
            "arch": "lenet5", "params": params, "dataset_title": ds.title, "digits": True}))
        best = int(np.argmax(acc))
        store.transition(run_id, "running", started_at=base + i * 3600)
        store.transition(run_id, "completed", message=f"finished {N_EPOCHS} epochs", name=f"run {i:03d}",
                         created_at=base + i * 3600, finished_at=base + i * 3600 + 60,
                         epochs_done=N_EPOCHS, best_epoch=best + 1, best_val_acc=float(acc[best]),
                         last_val_acc=float(acc[-1]), train_seconds=60.0, params=params,
                         test_acc=float(acc[-1]), best_test_acc=float(acc[best]))
        store.release(run_id)
        folder = store.path(run_id)
        if first is None:
            first = folder
            for which in ("last", "best"):
                checkpoints.save_weights(store, run_id, which, model, N_EPOCHS)
                p = _fake_predictions(labels, float(acc[-1] if which == "last" else acc[best]), seed=i)
                checkpoints.save_predictions(store, run_id, which, p["labels"], p["preds"], p["probs"], p["losses"])
            checkpoints.save_resume_state(store, run_id, {"model": model.state_dict(), "epoch": N_EPOCHS,
                                                          "history": rows})
        else:
            for name in ("weights_last.safetensors", "weights_best.safetensors", "checkpoint_last.pt",
                         "predictions_last.safetensors", "predictions_best.safetensors"):
                if i == N_RUNS - 1 and name.startswith("predictions"):
                    which = name.split("_")[1].split(".")[0]
                    p = _fake_predictions(labels, float(acc[-1] if which == "last" else acc[best]), seed=i)
                    checkpoints.save_predictions(store, run_id, which, p["labels"], p["preds"], p["probs"],
                                                 p["losses"])
                else:
                    os.link(first / name, folder / name)
        newest = run_id
    return _first_id(store), newest


def _first_id(store) -> str:
    return min(store.list(), key=lambda r: r.status.created_at).run_id


# ---- the server and the browser -----------------------------------------------------------------

def _nav(page, title: str):
    return page.locator('[data-testid="stSidebarNav"] a', has_text=title).first


# The page predicates take one object argument: {idle, ...}; they are polled every animation frame.
RUNS_READY = """(a) => document.querySelector(a.idle) !== null
    && document.body.innerText.includes(`of ${a.runs} runs shown`)
    && document.querySelector('[data-testid="stDataFrame"] canvas') !== null"""

EVALUATE_READY = """(a) => {
    if (!document.querySelector(a.idle)) return false;
    if (!document.querySelector(`.st-key-${a.chart} .main-svg`)) return false;
    const tiles = [...document.querySelectorAll('[data-testid="stMain"] img')]
        .filter(img => img.complete && img.naturalWidth === a.px);
    return tiles.length >= a.tiles;
}"""

VERSUS_READY = """(a) => {
    if (!document.querySelector(a.idle)) return false;
    if (!document.querySelector('.st-key-runs_versus_matrix .main-svg')) return false;
    const tiles = [...document.querySelectorAll('[data-testid="stMain"] img')]
        .filter(img => img.complete && img.naturalWidth === a.px);
    return tiles.length >= a.tiles;
}"""

SCORES_READY = """(a) => document.querySelector(a.idle) !== null
    && document.querySelector('.st-key-evaluate_scores_average_precision_chart .main-svg') !== null"""

HOME_READY = """(a) => document.querySelector(a.idle) !== null
    && !document.querySelector('[data-testid="stDataFrame"], [data-testid="stPlotlyChart"]')"""


def _go_home(page) -> None:
    _nav(page, "Home").click()
    page.get_by_text("Start in one click").wait_for()
    page.wait_for_function(HOME_READY, arg={"idle": IDLE})


def _tree_cpu_seconds() -> float:
    """CPU seconds used so far by this process's descendants: the server, Playwright, Chromium.

    On a machine shared with other work the wall-clock figures grow with the load; this one
    barely does, so it tells what the same visit costs on an idle machine."""
    parents, cpu = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process just ended
        pid = int(stat.parent.name)
        parents[pid], cpu[pid] = int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    mine, todo = set(), [os.getpid()]
    while todo:
        pid = todo.pop()
        children = [p for p, parent in parents.items() if parent == pid and p not in mine]
        mine.update(children)
        todo.extend(children)
    return sum(cpu[p] for p in mine)


def time_click(page, title: str, ready: str, arg: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds of server + browser) from clicking a navigation link (from
    Home) until `ready` holds."""
    _go_home(page)
    link = _nav(page, title)
    link.wait_for()
    cpu0, t0 = _tree_cpu_seconds(), time.perf_counter()
    link.click()
    page.wait_for_function(ready, arg={"idle": IDLE, **arg}, timeout=60_000)
    wall = time.perf_counter() - t0
    return wall, _tree_cpu_seconds() - cpu0


# ---- server-side script time (AppTest, in this process) ---------------------------------------------

def time_scores(page, target: str) -> tuple[float, float]:
    """(wall, CPU) from clicking the Evaluate page's scores expander until its first chart is drawn;
    the section is closed again afterwards (a fresh session starts it closed)."""
    time_click(page, "Evaluate", EVALUATE_READY, {"chart": f"evaluate_cm_{target}", "px": TILE_PX,
                                                  "tiles": GALLERY_TILES})
    header = page.get_by_text("Curves, calibration and top-k accuracy")
    cpu0, t0 = _tree_cpu_seconds(), time.perf_counter()
    header.click()
    page.wait_for_function(SCORES_READY, arg={"idle": IDLE}, timeout=60_000)
    wall = time.perf_counter() - t0
    cpu = _tree_cpu_seconds() - cpu0
    header.click()
    page.wait_for_function(f"() => !document.querySelector('.st-key-evaluate_scores_average_precision_chart')"
                           f" && document.querySelector('{IDLE}') !== null")
    return wall, cpu


def script_seconds(ck: Path, data_root: Path, page: str, repeats: int, session: dict | None = None) -> list[float]:
    os.environ["CNN_STUDIO_CHECKPOINTS"], os.environ["CNN_STUDIO_DATA"] = str(ck), str(data_root)
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    for key, value in (session or {}).items():
        at.session_state[key] = value
    at.switch_page(page).run()  # warm-up: fills the caches
    assert not at.exception, at.exception
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t0)
        assert not at.exception, at.exception
    return times


# ---- report ---------------------------------------------------------------------------------------

def _row(what: str, values: list[float], cpu: list[float] | None = None) -> str:
    med = statistics.median(values)
    cpu_text = f"{statistics.median(cpu):.2f} s" if cpu else "—"
    return (f"| {what} | {med:.2f} s | {min(values):.2f}–{max(values):.2f} s | {BAR_SECONDS:.0f} s | "
            f"{med / BAR_SECONDS:.2f} | {cpu_text} |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--keep", action="store_true", help="keep the temporary store and screenshots")
    args = p.parse_args(argv)
    import torch
    from playwright.sync_api import sync_playwright

    scratch = Path(tempfile.mkdtemp(prefix="responsiveness-"))
    ck, data_root = scratch / "checkpoints", scratch / "data"
    t0 = time.perf_counter()
    write_mnist(data_root)
    first, target = build_store(ck, data_root)
    print(f"built {N_RUNS} runs and a {N_TEST:,}-image test split in {time.perf_counter() - t0:.1f} s "
          f"under {scratch}", file=sys.stderr)

    proc, url = start_server(ck, data_root, scratch / "server.log")
    runs, evaluate, versus, scores = [], [], [], []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 2000})
            page.set_default_timeout(120_000)
            runs_arg = {"runs": N_RUNS}
            eval_arg = {"chart": f"evaluate_cm_{target}", "px": TILE_PX, "tiles": GALLERY_TILES}
            page.goto(url)
            page.get_by_text("Start in one click").wait_for()
            # warm-up: one visit of each page loads the dataset and fills every cache
            time_click(page, "Runs", RUNS_READY, runs_arg)
            time_click(page, "Evaluate", EVALUATE_READY, eval_arg)
            picker = page.locator(".st-key-evaluate_run").evaluate(
                "el => el.innerText + [...el.querySelectorAll('input')].map(i => i.value).join(' ')")
            if f"run {N_RUNS - 1:03d}" not in picker:
                raise RuntimeError("Evaluate does not show the 10k-prediction run")
            for _ in range(args.repeats):
                runs.append(time_click(page, "Runs", RUNS_READY, runs_arg))
                evaluate.append(time_click(page, "Evaluate", EVALUATE_READY, eval_arg))
            # the comparison is kept in the session: a click on "Runs" from Home opens it again
            versus_arg = {"px": TILE_PX, "tiles": GALLERY_TILES}
            page.goto(f"{url}/runs?runs={first},{target}")
            page.wait_for_function(VERSUS_READY, arg={"idle": IDLE, **versus_arg}, timeout=120_000)
            time_click(page, "Runs", VERSUS_READY, versus_arg)  # warm-up
            time_scores(page, target)  # warm-up: imports scikit-learn, fills the cache
            for _ in range(args.repeats):
                versus.append(time_click(page, "Runs", VERSUS_READY, versus_arg))
                scores.append(time_scores(page, target))
            load = os.getloadavg()[0]
            if args.keep:
                page.screenshot(path=str(scratch / "evaluate.png"), full_page=True)
                time_click(page, "Runs", RUNS_READY, runs_arg)
                page.screenshot(path=str(scratch / "runs.png"), full_page=True)
            browser.close()
    finally:
        stop_server(proc)
    script_runs = script_seconds(ck, data_root, "pages/runs.py", args.repeats)
    script_eval = script_seconds(ck, data_root, "pages/evaluate.py", args.repeats)
    script_versus = script_seconds(ck, data_root, "pages/runs.py", args.repeats, {"compare_runs": [first, target]})
    script_scores = script_seconds(ck, data_root, "pages/evaluate.py", args.repeats, {"evaluate_scores_open": True})

    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"load average {load:.1f} during the browser visits; {N_RUNS} runs × {N_EPOCHS} epochs, "
          f"{N_TEST:,} test predictions; {args.repeats} timed visits after one warm-up\n")
    print("| what | median | min–max | bar | median / bar | CPU per visit (server + browser) |")
    print("|---|---:|---:|---:|---:|---:|")
    print(_row(f"Runs page, {N_RUNS} runs: click → table shown, script done",
               [w for w, _ in runs], [c for _, c in runs]))
    print(_row(f"Evaluate, {N_TEST:,} predictions: click → confusion matrix + first {GALLERY_TILES} "
               "gallery images shown, script done", [w for w, _ in evaluate], [c for _, c in evaluate]))
    print(_row(f"Runs comparing 2 runs sample by sample, {N_TEST:,} predictions each: click → agreement matrix "
               f"+ first {GALLERY_TILES} images of a cell shown, script done", [w for w, _ in versus],
               [c for _, c in versus]))
    print(_row("Evaluate: click “Curves, calibration and top-k” → precision-recall curves drawn (cached)",
               [w for w, _ in scores], [c for _, c in scores]))
    print(_row("Runs page script alone (AppTest, server side)", script_runs))
    print(_row("Runs page script with the 2-run comparison alone (AppTest)", script_versus))
    print(_row("Evaluate page script with the scores section open alone (AppTest)", script_scores))
    print(_row("Evaluate page script alone (AppTest, server side)", script_eval))
    if args.keep:
        print(f"\nstore, server log and screenshots kept in {scratch}")
    else:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
