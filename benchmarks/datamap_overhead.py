"""What recording the data map costs: the same run trained with and without it, alternating.

    python benchmarks/datamap_overhead.py --data-dir DIR [--preset fast_mnist] [--pairs 3] [--epochs 2]

Each pair trains the preset twice in this process (recording off, then on, or the reverse in every
other pair, so a slow patch of a shared machine hits both), with the same seed and data. It prints
each run's training time (the engine's own `elapsed_seconds`, which includes the per-batch
recording) and its whole wall time (which also includes writing data_map.safetensors with each
epoch's checkpoint and the final predictions), then the medians and the overhead. Not a test.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import presets, trainer  # noqa: E402
from core import run_files as files  # noqa: E402
from core.runs import RunStore  # noqa: E402


def one_run(store: RunStore, cfg, record: bool, data_dir) -> tuple[float, float, int]:
    start = time.perf_counter()
    run_id, result = trainer.new_run(store, cfg.replace(record_data_map=record), data_dir=data_dir)
    wall = time.perf_counter() - start
    if result.status != "completed":
        raise SystemExit(f"run failed: {result.message}")
    size = store.file(run_id, files.DATA_MAP).stat().st_size if record else 0
    return store.read_status(run_id).train_seconds, wall, size


def direct_cost(n: int, batch: int, classes: int, epochs: int) -> tuple[float, float]:
    """Seconds per batch of the recorder itself, and per epoch of writing the map (n images,
    `epochs` columns): measured alone, so a busy machine blurs them far less than whole runs."""
    import torch

    from core.datamap import DataMapRecorder
    from core.engine import BatchEvent

    recorder = DataMapRecorder(torch.arange(n), torch.arange(n) % classes)
    order = torch.randperm(n)
    logits = torch.randn(batch, classes)
    batches = n // batch
    start = time.perf_counter()
    for e in range(1, epochs + 1):
        for b in range(batches):
            idx = order[b * batch:(b + 1) * batch]
            recorder.on_batch_end(BatchEvent(e, b + 1, batches, b, 0.0, 0.0, 0.0, 0.0, 0.0, idx, logits,
                                             recorder.labels[idx]), None)
        recorder.table(e)
    per_batch = (time.perf_counter() - start) / (epochs * batches)
    with tempfile.TemporaryDirectory() as root:
        store = RunStore(root)
        path = Path(root) / "x"
        path.mkdir()
        start = time.perf_counter()
        store.write_data_map("x", recorder.table(epochs))
        write = time.perf_counter() - start
    return per_batch, write


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--preset", default="fast_mnist")
    parser.add_argument("--dataset", help="override the preset's dataset (e.g. mnist_sample)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: the preset's)")
    args = parser.parse_args()
    cfg = presets.get(args.preset).config.replace(epochs=args.epochs)
    if args.dataset:
        cfg = cfg.replace(dataset=args.dataset)
    if args.threads:
        cfg = cfg.replace(threads=args.threads)
    times = {False: [], True: []}
    walls = {False: [], True: []}
    size = 0
    with tempfile.TemporaryDirectory() as root:
        store = RunStore(root)
        one_run(store, cfg.replace(epochs=1), False, args.data_dir)  # warm-up: data cache, kernels
        for pair in range(args.pairs):
            order = (False, True) if pair % 2 == 0 else (True, False)
            for record in order:
                train, wall, written = one_run(store, cfg, record, args.data_dir)
                times[record].append(train)
                walls[record].append(wall)
                size = written or size
                print(f"pair {pair + 1} recording {'on ' if record else 'off'}: training {train:7.2f} s, "
                      f"wall {wall:7.2f} s", flush=True)
    per_batch, write = direct_cost(54_000, cfg.batch_size, 10, args.epochs)
    print(f"\nthe recorder alone: {per_batch * 1e6:.0f} µs per batch of {cfg.batch_size}; writing the map of "
          f"54,000 images × {args.epochs} epochs: {write * 1e3:.1f} ms")
    print(f"\n{args.preset} on {cfg.dataset}, {args.epochs} epochs, {args.pairs} pairs; data map file {size:,} bytes")
    for name, values in (("training (elapsed_seconds)", times), ("wall, whole run", walls)):
        off, on = statistics.median(values[False]), statistics.median(values[True])
        pairs = [f"{(b / a - 1) * 100:+.1f}%" for a, b in zip(values[False], values[True])]
        print(f"{name:28} off {off:7.2f} s   on {on:7.2f} s   overhead {(on / off - 1) * 100:+.1f}%   "
              f"pairs {', '.join(pairs)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
