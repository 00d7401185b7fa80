"""Time to accuracy of a preset: train it with several seeds, report when it reached the target.

Each seed is a real run through the same code path as `python -m core train --preset NAME`
(trainer.new_run into a throw-away run store). "Seconds" are the cumulative `epoch_seconds` of
metrics.csv: training time only, without data loading or the per-epoch test pass. A reference
preset (by default the PyTorch tutorial's LeNet-5 setup) is trained in the same invocation on the
same data, so the ratio is measured on the same machine under the same load.

    python benchmarks/time_to_accuracy.py --preset fast_mnist --target 0.99 --data-dir DIR
    python benchmarks/time_to_accuracy.py --preset fast_fashion_mnist --target 0.92 --data-dir DIR

`--set key=value` overrides a config field (for experiments: `--set epochs=8 --set lr=0.1`).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from core import presets, trainer  # noqa: E402
from core.config import RunConfig, coerce  # noqa: E402
from core.runs import RunStore  # noqa: E402


def overrides(pairs: list[str]) -> dict:
    fields = RunConfig.__dataclass_fields__
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in fields:
            raise SystemExit(f"--set {pair}: unknown config field {key!r}")
        out[key] = coerce(fields[key], value)
    return out


def train(cfg: RunConfig, data_dir: str | None, target: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(Path(tmp))
        run_id, result = trainer.new_run(store, cfg, data_dir=data_dir)
        if result.status != "completed":
            raise SystemExit(f"{cfg.name}: {result.status}: {result.message}")
        rows = store.read_metrics(run_id)
    seconds, reached = 0.0, None
    for row in rows:
        seconds += row["epoch_seconds"]
        if reached is None and row["val_acc"] >= target:
            reached = (row["epoch"], seconds)
    return {"acc": rows[-1]["val_acc"], "seconds": seconds, "reached": reached,
            "curve": [(r["epoch"], r["val_acc"]) for r in rows]}


def spread(values: list[float], fmt: str) -> str:
    med = statistics.median(values)
    return f"{fmt.format(med)} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", required=True, choices=sorted(presets.PRESETS))
    p.add_argument("--target", type=float, required=True, help="test accuracy to reach, e.g. 0.99")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--reference", default="lenet5_mnist",
                   help="preset trained once on the same dataset for the ratio ('' to skip)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    cfg = presets.get(args.preset).config.replace(**overrides(args.set))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads")
    print(f"preset {args.preset}: {cfg.arch}, {cfg.optimizer} lr {cfg.lr}, {cfg.schedule}, batch "
          f"{cfg.batch_size}, {cfg.epochs} epoch(s), dataset {cfg.dataset}; target {args.target:.1%}\n")
    runs = []
    for seed in map(int, args.seeds.split(",")):
        r = train(cfg.replace(seed=seed), args.data_dir, args.target)
        runs.append(r)
        when = f"epoch {r['reached'][0]}, {r['reached'][1]:.1f} s" if r["reached"] else "not reached"
        curve = " ".join(f"{acc:.2%}" for _, acc in r["curve"])
        print(f"seed {seed}: final {r['acc']:.2%} after {r['seconds']:.1f} s; target: {when}; "
              f"per epoch: {curve}", flush=True)
    print()
    print("| preset | seeds | final test acc, median (min–max) | training s, median (min–max) | "
          "target reached |")
    print("|---|---:|---:|---:|---:|")
    hit = sum(r["reached"] is not None for r in runs)
    print(f"| {args.preset} | {len(runs)} | {spread([r['acc'] * 100 for r in runs], '{:.2f}%')} | "
          f"{spread([r['seconds'] for r in runs], '{:.1f}')} | {hit}/{len(runs)} |")
    if args.reference:
        ref_cfg = presets.get(args.reference).config.replace(dataset=cfg.dataset, seed=0)
        ref = train(ref_cfg, args.data_dir, args.target)
        fast = statistics.median(r["seconds"] for r in runs)
        print(f"| reference {args.reference} ({ref_cfg.epochs} epochs) | 1 | {ref['acc']:.2%} | "
              f"{ref['seconds']:.1f} | {'yes' if ref['reached'] else 'no'} |")
        print(f"\nreference / fast training time: {ref['seconds'] / fast:.2f}×; accuracy "
              f"{statistics.median(r['acc'] for r in runs) - ref['acc']:+.2%} points")


if __name__ == "__main__":
    main()
