"""Time to accuracy of a preset: train it with several seeds, report when it reached the target.

Each seed is a real run through the same code path as `python -m core train --preset NAME`
(trainer.new_run into a throw-away run store). "Seconds" are the cumulative `epoch_seconds` of
metrics.csv: training time only, without data loading or the per-epoch test pass. A reference
preset (by default the PyTorch tutorial's LeNet-5 setup) is trained in the same invocation on the
same data, so the ratio is measured on the same machine under the same load.

    python benchmarks/time_to_accuracy.py --preset fast_mnist --target 0.99 --data-dir DIR
    python benchmarks/time_to_accuracy.py --preset fast_fashion_mnist --target 0.92 --data-dir DIR

`--set key=value` overrides a config field (for experiments: `--set epochs=8 --set lr=0.1`).

CIFAR-10 against the speed-run peer, accuracy at equal training time and time to 85% / 90%:

    python benchmarks/time_to_accuracy.py --preset whitened_cifar10 --set dataset=folder:cifar10 \
        --data-dir DIR --target 0.85,0.9 --reference airbench94 --reference-seeds 0,1,2 --budget 600
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

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
    seconds, points = 0.0, []
    for row in rows:
        seconds += row["epoch_seconds"]
        points.append((row["epoch"], seconds, row["val_acc"]))
    return summarise(points, target)


def summarise(points: list[tuple], target: float) -> dict:
    """points: (epoch, cumulative training seconds, accuracy) after each epoch."""
    reached = next(((e, s) for e, s, a in points if a >= target), None)
    return {"acc": points[-1][2], "seconds": points[-1][1], "reached": reached, "points": points,
            "curve": [(e, a) for e, _, a in points]}


def when(points: list[tuple], target: float) -> float | None:
    return next((s for _, s, a in points if a >= target), None)


def at(points: list[tuple], budget: float) -> float:
    """Accuracy of the last epoch that ended within `budget` seconds of training (0 if none did)."""
    done = [a for _, s, a in points if s <= budget]
    return done[-1] if done else 0.0


def spread(values: list[float], fmt: str) -> str:
    med = statistics.median(values)
    return f"{fmt.format(med)} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def airbench_runs(cfg: RunConfig, data_dir, seeds: list[int], budget: float) -> list[list[tuple]]:
    """The airbench94 reference on the same data, its schedule fitted into `budget` seconds."""
    import airbench_reference as ref

    from core import data, engine

    ds = data.load(cfg.dataset, data_dir=data_dir)
    args = (ds.train.images, ds.train.labels, ds.test.images, ds.test.labels, ds.mean, ds.std)
    # the same precision as our side gets from the engine on this machine
    bf16 = cfg.mixed_precision and engine.cpu_has_fast_bf16()
    per_epoch = ref.seconds_per_epoch(ds.train.images, ds.mean, ds.std, bf16=bf16)
    epochs = min(ref.EPOCHS, max(0.5, math.floor(10 * budget / per_epoch) / 10))
    print(f"airbench94 reference ({'bf16 autocast' if bf16 else 'float32'}): {per_epoch:.0f} s per epoch here, "
          f"so its {ref.EPOCHS:g}-epoch schedule would take {ref.EPOCHS * per_epoch / 60:.1f} min; within "
          f"{budget:.0f} s: {epochs:g} epochs", flush=True)
    runs = []
    for seed in seeds:
        points = ref.train(*args, epochs=epochs, seed=seed, bf16=bf16)
        runs.append(points)
        print(f"reference seed {seed}: " + " ".join(f"{e:g}:{a:.2%}@{s:.0f}s" for e, s, a in points), flush=True)
    return runs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", required=True, choices=sorted(presets.PRESETS))
    p.add_argument("--target", default="", help="test accuracy to reach, e.g. 0.99, or several: 0.85,0.9")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--reference", default="lenet5_mnist",
                   help="preset trained once on the same dataset for the ratio, or 'airbench94' for the "
                        "CIFAR-10 speed-run recipe (benchmarks/airbench_reference.py); '' to skip")
    p.add_argument("--reference-seeds", default="0")
    p.add_argument("--budget", type=float, default=600.0,
                   help="seconds of training at which both sides' accuracy is compared (airbench94 reference)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    targets = [float(t) for t in args.target.split(",") if t] or [0.0]
    target = targets[-1]
    cfg = presets.get(args.preset).config.replace(**overrides(args.set))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads")
    print(f"preset {args.preset}: {cfg.arch}, {cfg.optimizer} lr {cfg.lr}, {cfg.schedule}, batch "
          f"{cfg.batch_size}, {cfg.epochs} epoch(s), dataset {cfg.dataset}; targets "
          f"{', '.join(f'{t:.1%}' for t in targets)}\n")
    seeds = [int(v) for v in args.seeds.split(",")]
    ref_seeds = [int(v) for v in args.reference_seeds.split(",")]
    runs, ref_runs = [], []
    for i, seed in enumerate(seeds):
        if args.reference == "airbench94" and i < len(ref_seeds):
            # alternate the two sides, so a slow spell of this shared machine hits both
            ref_runs += airbench_runs(cfg, args.data_dir, [ref_seeds[i]], args.budget)
        r = train(cfg.replace(seed=seed), args.data_dir, target)
        runs.append(r)
        reached = f"epoch {r['reached'][0]}, {r['reached'][1]:.1f} s" if r["reached"] else "not reached"
        curve = " ".join(f"{acc:.2%}" for _, acc in r["curve"])
        print(f"seed {seed}: final {r['acc']:.2%} after {r['seconds']:.1f} s; target: {reached}; "
              f"per epoch: {curve}", flush=True)
    print()
    if args.reference == "airbench94":
        return compare_airbench(args, runs, ref_runs, targets)
    print("| preset | seeds | final test acc, median (min–max) | training s, median (min–max) | "
          "target reached |")
    print("|---|---:|---:|---:|---:|")
    hit = sum(r["reached"] is not None for r in runs)
    print(f"| {args.preset} | {len(runs)} | {spread([r['acc'] * 100 for r in runs], '{:.2f}%')} | "
          f"{spread([r['seconds'] for r in runs], '{:.1f}')} | {hit}/{len(runs)} |")
    if args.reference:
        ref_cfg = presets.get(args.reference).config.replace(dataset=cfg.dataset, seed=0)
        ref = train(ref_cfg, args.data_dir, target)
        fast = statistics.median(r["seconds"] for r in runs)
        print(f"| reference {args.reference} ({ref_cfg.epochs} epochs) | 1 | {ref['acc']:.2%} | "
              f"{ref['seconds']:.1f} | {'yes' if ref['reached'] else 'no'} |")
        print(f"\nreference / fast training time: {ref['seconds'] / fast:.2f}×; accuracy "
              f"{statistics.median(r['acc'] for r in runs) - ref['acc']:+.2%} points")


def compare_airbench(args, runs: list[dict], ref_runs: list[list[tuple]], targets: list[float]) -> None:
    sides = [(args.preset, [r["points"] for r in runs]), ("airbench94 reference", ref_runs)]
    head = " | ".join(f"time to {t:.0%}, s" for t in targets)
    print(f"| side | seeds | test acc at {args.budget:.0f} s, median (min–max) | final acc | training s | {head} |")
    print("|---|---:|---:|---:|---:|" + "---:|" * len(targets))
    for name, points in sides:
        if not points:
            continue
        cells = []
        for t in targets:
            times = [when(p, t) for p in points]
            hit = [x for x in times if x is not None]
            cells.append(f"{spread(hit, '{:.0f}')} ({len(hit)}/{len(times)})" if hit else f"not reached (0/{len(times)})")
        print(f"| {name} | {len(points)} | {spread([at(p, args.budget) * 100 for p in points], '{:.2f}%')} | "
              f"{spread([p[-1][2] * 100 for p in points], '{:.2f}%')} | {spread([p[-1][1] for p in points], '{:.0f}')} | "
              + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
