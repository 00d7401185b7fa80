"""Peak memory: CLI training on full MNIST, the dashboard after a run, CIFAR-10-sized data.

Issue "Performance", bar 5. Three measurements, each with a reference taken in the same invocation:

  CLI        `python -m core train --preset lenet5_mnist --epochs 1` on full MNIST, in its own
             process. Reference: the tutorials' loop (torchvision MNIST + ToTensor/Normalize +
             DataLoader with 2 workers, `run_reference` of engine_vs_reference.py), one epoch, in
             its own process. Bar: 1 GiB.
  dashboard  a real Streamlit server on the same data folder; in headless Chromium the Train page
             trains LeNet-5 on MNIST for one epoch, then Evaluate (confusion matrix + gallery) and
             Inspect (filters + feature maps) are opened for that run; then the server's VmHWM
             (peak) and VmRSS (now) are read from /proc. Reference: the same server right after
             its Home page was shown. Bar: 1.5 GiB.
  CIFAR      a synthetic CIFAR-10-sized set (50,000 + 10,000 × 3×32×32) in the real on-disk format
             (cifar-10-batches-py pickles) loaded through core.data and trained for a few batches
             through the real engine (core.trainer.prepare + core.engine), in its own process.
             What the data adds (peak RSS minus RSS before loading) is compared with one float32
             copy of the train split (614 MB = 586 MiB); the dataset must stay uint8 (147 MiB).
             Reference: the same process holding the train split as one normalised float32 copy
             (the `TensorDataset(X.float() / 255)` way; making it briefly needs two more).

How processes are counted. "peak RSS" of a child is its ru_maxrss from os.wait4 after it exits:
the high-water mark of the largest single process among it and its reaped children. DataLoader
workers are separate (forked) processes: they share most pages with their parent, so their RSS
would count those pages twice; the reference row therefore also gives the peak of the summed PSS
(proportional set size, shared pages split between the sharers) of the process and all its
descendants, sampled every 0.2 s. The engine and the dashboard use no worker processes. ru_maxrss
includes the interpreter's exit, where the static destructors of the CUDA build of PyTorch
(libcublasLt, libcusparseLt, libtorch_cuda) page in another 50–130 MiB of those shared libraries
(compare the "VmHWM before exit" column: the child's own peak read from /proc while it ran).
1 GiB = 1,024 MiB; all figures are MiB.

    python benchmarks/memory.py --data-dir /tmp/bench_data            # full MNIST in DIR/MNIST/raw
    python benchmarks/memory.py --data-dir DIR --skip-dashboard --keep

Needs Debian's Chromium and Playwright for the dashboard row. A script, not a test.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MIB = 1024 * 1024
CLI_BAR, DASHBOARD_BAR = 1024, 1536  # MiB
CIFAR_N, CIFAR_TEST, CIFAR_SHAPE = 50_000, 10_000, (3, 32, 32)
FLOAT_COPY_MIB = CIFAR_N * 3 * 32 * 32 * 4 / MIB  # 586 MiB (614 MB)
UINT8_MIB = CIFAR_N * 3 * 32 * 32 / MIB           # 146.5 MiB (154 MB)
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


# ---- /proc helpers ------------------------------------------------------------------------------

def proc_status(pid: int | str = "self") -> dict[str, float]:
    """VmHWM, VmRSS, RssAnon, RssFile of a process in MiB."""
    text = Path(f"/proc/{pid}/status").read_text()
    return {k: int(v) / 1024 for k, v in re.findall(r"(VmHWM|VmRSS|RssAnon|RssFile):\s+(\d+) kB", text)}


def reset_peak() -> bool:
    """Start VmHWM again from the current RSS (Linux: writing 5 to clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def tree_pss(pid: int) -> float:
    """Summed PSS (MiB) of a process and its descendants."""
    total = 0
    for p in _descendants(pid):
        try:
            m = re.search(r"^Pss:\s+(\d+) kB", Path(f"/proc/{p}/smaps_rollup").read_text(), re.MULTILINE)
        except OSError:
            continue
        total += int(m.group(1)) if m else 0
    return total / 1024


def measure(cmd: list[str], *, env=None, log: Path) -> dict:
    """Run `cmd` to its end; its peak RSS (wait4's ru_maxrss), peak tree PSS, and its last JSON line."""
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    peak_pss, hwm, done = [0.0], [0.0], threading.Event()

    def sample():
        while not done.wait(0.2):
            try:
                hwm[0] = max(hwm[0], proc_status(proc.pid)["VmHWM"])
                peak_pss[0] = max(peak_pss[0], tree_pss(proc.pid))
            except (OSError, KeyError):  # it has just exited
                pass

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    done.set()
    sampler.join()
    lines = log.read_text().splitlines()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n" + "\n".join(lines[-30:]))
    info = next((json.loads(line) for line in reversed(lines) if line.startswith("{")), {})
    return {"peak": usage.ru_maxrss / 1024, "hwm_before_exit": hwm[0], "tree_pss": peak_pss[0],
            "seconds": time.perf_counter() - start, **info}


# ---- children (run as `memory.py --child NAME ...`) --------------------------------------------

def child_reference(args) -> None:
    """The tutorials' loop on MNIST for one epoch; the constants are the tutorials' own."""
    from benchmarks.engine_vs_reference import run_reference

    ips, acc = run_reference("mnist", args.data_dir, "lenet5", (1, 28, 28), 10, (0.1307,), (0.3081,),
                             64, 1, 0, args.workers)
    print(json.dumps({"images_per_sec": ips, "acc": acc}))


def write_cifar(root: Path, n_train: int = CIFAR_N, n_test: int = CIFAR_TEST, seed: int = 0) -> Path:
    """Random pixels in torchvision's cifar-10-batches-py layout (5 train pickles + test + meta)."""
    import numpy as np

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    per = n_train // 5
    for name, n in [(f"data_batch_{i}", per) for i in range(1, 6)] + [("test_batch", n_test)]:
        batch = {"batch_label": name, "labels": rng.integers(0, 10, n).tolist(),
                 "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 "filenames": [f"{name}_{i}.png" for i in range(n)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=4))
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({"num_cases_per_batch": per, "label_names": classes,
                                                        "num_vis": 3072}))
    return folder


def accept_cifar_md5s(folder: Path) -> None:
    """torchvision checks the published md5s; let it accept these generated files instead."""
    from torchvision.datasets import CIFAR10

    md5 = lambda name: hashlib.md5((folder / name).read_bytes()).hexdigest()
    CIFAR10.train_list = [[f, md5(f)] for f, _ in CIFAR10.train_list]
    CIFAR10.test_list = [[f, md5(f)] for f, _ in CIFAR10.test_list]
    CIFAR10.meta = {**CIFAR10.meta, "md5": md5(CIFAR10.meta["filename"])}


def child_cifar(args) -> None:
    """Load the CIFAR-sized set through core.data and train a few batches through the real engine."""
    import torch

    from core import models, trainer
    from core.config import RunConfig
    from core.engine import Batches, Callback, StopTraining, evaluate, train_one_epoch
    from core.optim import build_optimizer

    accept_cifar_md5s(Path(args.data_dir) / "cifar-10-batches-py")
    cfg = RunConfig(dataset="cifar10", arch="lenet5", batch_size=64, epochs=1, seed=0)
    # Pay the one-off imports (model shape inference and the optimizer pull in torch._dynamo,
    # sympy and triton: ~200 MiB) before the baseline, so the growth is the data's and the loop's.
    warm = models.build_model(cfg.arch, CIFAR_SHAPE, 10)
    build_optimizer(warm.parameters(), cfg)
    del warm
    before = proc_status()["VmRSS"]
    reset_peak()

    prep = trainer.prepare(cfg, data_dir=args.data_dir)
    train, normalize = prep.train, prep.normalize
    if args.float_copy:  # the reference: the whole train split as one normalised float32 tensor
        train = Batches(normalize(prep.train.images), prep.train.labels)
        normalize = lambda x: x  # already normalised

    class StopAfter(Callback):
        def on_batch_end(self, event, state):
            if event.batch >= args.batches:
                raise StopTraining()

    try:
        train_one_epoch(prep.state, train, cfg, normalize, epoch=1, callbacks=[StopAfter()],
                        channels_last=True)
    except StopTraining:
        pass
    evaluate(prep.state.model, prep.test, prep.normalize, channels_last=True)
    after = proc_status()
    ds = prep.dataset
    held = {f"{split}.{field}": (str(t.dtype).replace("torch.", ""), t.untyped_storage().nbytes() / MIB)
            for split in ("train", "test") for field, t in vars(getattr(ds, split)).items()
            if isinstance(t, torch.Tensor)}
    print(json.dumps({"before": before, "growth": after["VmHWM"] - before, "held": held,
                      "train_shares_dataset": prep.train.images.data_ptr() == ds.train.images.data_ptr(),
                      "floats_on_dataset": [k for k, (dt, _) in held.items() if dt.startswith("float")]}))


# ---- the dashboard ------------------------------------------------------------------------------

def _nav(page, title: str):
    return page.locator('[data-testid="stSidebarNav"] a', has_text=title).first


EVALUATE_READY = """(a) => {
    if (!document.querySelector(a.idle)) return false;
    if (!document.querySelector(`.st-key-${a.chart} .main-svg`)) return false;
    const tiles = [...document.querySelectorAll('[data-testid="stMain"] img')]
        .filter(img => img.complete && img.naturalWidth === 84);
    return tiles.length >= 24;
}"""

INSPECT_READY = """(a) => document.querySelector(a.idle) !== null
    && document.querySelector('.st-key-inspect_filter_chart .main-svg') !== null
    && document.querySelector('.st-key-inspect_maps_chart .main-svg') !== null"""


def _settle(page) -> None:
    time.sleep(0.5)  # the idle marker can be stale right after a click
    page.wait_for_selector(IDLE, timeout=120_000)


def dashboard(data_dir: str, scratch: Path, shots: Path | None) -> dict:
    from playwright.sync_api import sync_playwright

    from core.runs import RunStore
    from tests.browser.conftest import ARGS, CHROMIUM, start_server, stop_server

    ck = scratch / "dashboard-checkpoints"
    proc, url = start_server(ck, data_dir, scratch / "server.log")
    shot = (lambda page, name: page.screenshot(path=str(shots / f"{name}.png"), full_page=True)) if shots \
        else (lambda page, name: None)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 2000})
            page.set_default_timeout(120_000)
            page.goto(url)
            page.get_by_text("Start in one click").wait_for()
            _settle(page)
            home = proc_status(proc.pid)
            shot(page, "1-home")

            _nav(page, "Train").click()
            page.locator(".st-key-cfg_dataset").wait_for()
            _settle(page)
            page.locator(".st-key-cfg_dataset [role='combobox']").click()
            page.get_by_role("option", name=re.compile(r"^MNIST$")).click()
            _settle(page)
            epochs = page.locator(".st-key-cfg_epochs input")
            epochs.fill("1")
            epochs.press("Enter")
            _settle(page)
            time.sleep(1)
            shot(page, "2-train-form")
            page.locator(".st-key-train_submit button").click()
            page.get_by_text(re.compile(r"Last run .* completed")).wait_for(timeout=1_800_000)
            _settle(page)
            shot(page, "3-trained")
            after_train = proc_status(proc.pid)
            rec = RunStore(ck).list()[0]
            if rec.config.dataset != "mnist" or rec.status.status != "completed":
                raise RuntimeError(f"unexpected run {rec.run_id}: {rec.config.dataset} {rec.status}")

            _nav(page, "Evaluate").click()
            page.wait_for_function(EVALUATE_READY, arg={"idle": IDLE, "chart": f"evaluate_cm_{rec.run_id}"},
                                   timeout=300_000)
            shot(page, "4-evaluate")
            _nav(page, "Inspect").click()
            page.wait_for_function(INSPECT_READY, arg={"idle": IDLE}, timeout=300_000)
            _settle(page)
            shot(page, "5-inspect")
            end = proc_status(proc.pid)
            browser.close()
        return {"home": home, "after_train": after_train, "end": end, "run_id": rec.run_id,
                "acc": rec.status.test_acc, "children": len(_descendants(proc.pid)) - 1}
    finally:
        stop_server(proc)


# ---- report -------------------------------------------------------------------------------------

def mib(x: float) -> str:
    return f"{x:,.0f} MiB"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True, help="folder with full MNIST in torchvision's layout (MNIST/raw)")
    p.add_argument("--cifar-batches", type=int, default=50, help="training batches of the CIFAR row")
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers of the reference loop")
    p.add_argument("--skip-dashboard", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder (logs, screenshots)")
    p.add_argument("--child", choices=["reference", "cifar"], help=argparse.SUPPRESS)
    p.add_argument("--batches", type=int, default=50, help=argparse.SUPPRESS)
    p.add_argument("--float-copy", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        {"reference": child_reference, "cifar": child_cifar}[args.child](args)
        return

    from core import data

    if not data.status("mnist", args.data_dir).ready:
        sys.exit(f"full MNIST is not in {args.data_dir}: {data.status('mnist', args.data_dir).fix}")
    scratch = Path(tempfile.mkdtemp(prefix="memory-"))
    me = [sys.executable, str(Path(__file__).resolve())]
    try:
        log = lambda what: print(f"[{time.strftime('%H:%M:%S')}] {what}", file=sys.stderr, flush=True)
        log("CLI: lenet5_mnist, 1 epoch")
        cli = measure([sys.executable, "-m", "core", "--checkpoints", str(scratch / "cli-checkpoints"),
                       "--data-dir", args.data_dir, "train", "--preset", "lenet5_mnist", "--epochs", "1"],
                      log=scratch / "cli.log")
        log("reference: the tutorials' loop, 1 epoch")
        ref = measure(me + ["--child", "reference", "--data-dir", args.data_dir, "--workers", str(args.workers)],
                      log=scratch / "reference.log")
        log("CIFAR-10-sized set: writing it")
        cifar_root = scratch / "cifar-data"
        write_cifar(cifar_root)
        log("CIFAR: core.data + engine")
        cifar = measure(me + ["--child", "cifar", "--data-dir", str(cifar_root), "--batches", str(args.cifar_batches)],
                        log=scratch / "cifar.log")
        log("CIFAR reference: one float32 copy")
        cifar_ref = measure(me + ["--child", "cifar", "--data-dir", str(cifar_root), "--batches",
                                  str(args.cifar_batches), "--float-copy"], log=scratch / "cifar-float.log")
        dash = None
        if not args.skip_dashboard:
            log("dashboard: Train (MNIST, 1 epoch) → Evaluate → Inspect")
            shots = scratch / "screenshots" if args.keep else None
            if shots:
                shots.mkdir()
            dash = dashboard(args.data_dir, scratch, shots)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)

    import torch

    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__} "
          f"({'CUDA build' if torch.version.cuda else 'CPU build'}), {torch.get_num_threads()} threads\n")
    print("| what | peak RSS | VmHWM before exit | bar | peak / bar | reference | reference peak RSS |")
    print("|---|---:|---:|---:|---:|---|---:|")
    print(f"| CLI: `train --preset lenet5_mnist --epochs 1`, full MNIST | {mib(cli['peak'])} | "
          f"{mib(cli['hwm_before_exit'])} | {mib(CLI_BAR)} | {cli['peak'] / CLI_BAR:.2f} | tutorials' loop, 1 epoch "
          f"(main process; with its {args.workers} DataLoader workers: tree PSS peak {mib(ref['tree_pss'])}) | "
          f"{mib(ref['peak'])} (before exit {mib(ref['hwm_before_exit'])}) |")
    if dash:
        end = dash["end"]
        print(f"| dashboard server after Train (MNIST, 1 epoch) + Evaluate + Inspect: VmHWM (VmRSS now "
              f"{mib(end['VmRSS'])}) | {mib(end['VmHWM'])} | (live) | {mib(DASHBOARD_BAR)} | "
              f"{end['VmHWM'] / DASHBOARD_BAR:.2f} | same server after its Home page: VmHWM | "
              f"{mib(dash['home']['VmHWM'])} |")
    print(f"| CIFAR-10-sized (50k×3×32×32) via core.data + {args.cifar_batches} engine batches + a test pass: "
          f"what loading and training add to the process (peak RSS {mib(cifar['peak'])}) | "
          f"+{mib(cifar['growth'])} | {mib(cifar['hwm_before_exit'])} | {mib(FLOAT_COPY_MIB)} (one float32 "
          f"copy) | {cifar['growth'] / FLOAT_COPY_MIB:.2f} | same, train split held as one float32 copy "
          f"(peak RSS {mib(cifar_ref['peak'])}) | +{mib(cifar_ref['growth'])} |")
    print()
    print(f"- \"VmHWM before exit\": the child's own peak, last read from /proc 0.2 s before it ended; "
          f"the difference to peak RSS is the interpreter's exit. Reference loop: "
          f"{ref['images_per_sec']:,.0f} img/s, {ref['acc']:.2%} test accuracy; CLI run took {cli['seconds']:.0f} s.")
    print(f"- In decimal units the CLI peak is {cli['peak'] * MIB / 1e6:,.0f} MB (against 1 GB = 1,000 MB: "
          f"{cli['peak'] * MIB / 1e9:.2f}).")
    if dash:
        print(f"- dashboard: VmRSS after Home {mib(dash['home']['VmRSS'])}, after training "
              f"{mib(dash['after_train']['VmRSS'])} (VmHWM {mib(dash['after_train']['VmHWM'])}), after "
              f"Evaluate + Inspect {mib(dash['end']['VmRSS'])}; RssAnon {mib(dash['end']['RssAnon'])}, RssFile "
              f"{mib(dash['end']['RssFile'])}; child processes of the server: {dash['children']}; "
              f"run test accuracy {dash['acc']:.2%}.")
    held = ", ".join(f"{k} {dt} {v:,.1f} MiB" for k, (dt, v) in cifar["held"].items())
    print(f"- CIFAR dataset as held in memory: {held} (uint8 train split = {UINT8_MIB:,.1f} MiB; float32 "
          f"would be {FLOAT_COPY_MIB:,.0f} MiB). Float tensors on the Dataset: "
          f"{', '.join(cifar['floats_on_dataset']) or 'none'}; engine trains on the cached tensor without a "
          f"copy: {cifar['train_shares_dataset']}. RSS before loading {mib(cifar['before'])}.")


if __name__ == "__main__":
    main()
