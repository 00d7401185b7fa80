"""The same batch of runs through the local queue and through a local Ray: total time and Ray's start-up.

The batch: LeNet-5 on the MNIST sample (4,000 training images, the preset "LeNet-5 on the MNIST
sample"), one run per learning rate. The local queue (core/jobs.py) trains them one after the
other in this process; Ray trains as many at once as it has CPUs. Both use --threads PyTorch threads
per run (default 1: Ray gives each task one CPU; on a busy machine PyTorch's default of every core
oversubscribes it, which measured here made the local queue many times slower, not Ray faster).

    python benchmarks/ray_vs_local.py                 # 4 runs x 3 epochs, Ray with every core
    python benchmarks/ray_vs_local.py --runs 8 --epochs 2 --cpus 2

It prints a Markdown table (paste it into the README): the local total; Ray's start-up
(`ray.init`), the first batch (which includes starting the worker processes and importing torch in
each) and a second, identical batch on the warm workers.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import ray_backend  # noqa: E402
from core.config import RunConfig  # noqa: E402
from core.runs import RunStore  # noqa: E402

LRS = (0.002, 0.001, 0.004, 0.0005, 0.003, 0.006, 0.0015, 0.008)


def configs(runs: int, epochs: int, threads: int) -> list[RunConfig]:
    return [RunConfig(dataset="mnist_sample", arch="lenet5", optimizer="adam", lr=LRS[i % len(LRS)], epochs=epochs,
                      batch_size=32, seed=i, threads=threads, name=f"bench lr {LRS[i % len(LRS)]}")
            for i in range(runs)]


def run_local(root: Path, cfgs) -> tuple[float, list[float]]:
    from core.jobs import JobRunner

    store = RunStore(root / "local")
    runner = JobRunner(store)
    t0 = time.perf_counter()
    ids = [runner.submit(c) for c in cfgs]
    assert runner.wait_idle(3600), "the local queue did not finish"
    total = time.perf_counter() - t0
    return total, [_accuracy(store, r) for r in ids]


def run_ray(store: RunStore, cfgs) -> tuple[float, list[float]]:
    t0 = time.perf_counter()
    ids = [store.create(c) for c in cfgs]
    batch = ray_backend.submit_runs(store, ids)
    assert batch.wait(3600), "the Ray batch did not finish"
    total = time.perf_counter() - t0
    return total, [_accuracy(store, r) for r in ids]


def _accuracy(store: RunStore, run_id: str) -> float:
    rec = store.record(run_id)
    assert rec.state == "completed", f"{run_id} ended {rec.state}: {rec.message}"
    return rec.status.test_acc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=None, help="CPUs for the local Ray (default: every core)")
    parser.add_argument("--threads", type=int, default=1,
                        help="PyTorch threads per run, both ways (default 1; 0 = PyTorch's choice, every core)")
    parser.add_argument("--skip-local", action="store_true")
    args = parser.parse_args()
    cfgs = configs(args.runs, args.epochs, args.threads)
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        local = None if args.skip_local else run_local(root, cfgs)
        t0 = time.perf_counter()
        ray_backend.connect(ray_backend.LOCAL, num_cpus=args.cpus)
        start = time.perf_counter() - t0
        store = RunStore(root / "ray")
        cold = run_ray(store, cfgs)
        warm = run_ray(store, cfgs)

    print(f"\n{args.runs} runs of LeNet-5 on the MNIST sample, {args.epochs} epochs each; {platform.processor() or platform.machine()}, "
          f"{cores} cores, PyTorch threads per run: {args.threads or 'all'}; Ray CPUs: {args.cpus or cores}\n")
    print("| how | total (s) | mean test acc. |")
    print("|---|---:|---:|")
    if local:
        print(f"| local queue (one run at a time) | {local[0]:.1f} | {sum(local[1]) / len(local[1]):.2%} |")
    print(f"| Ray start-up (`ray.init`, once per process) | {start:.1f} | |")
    print(f"| Ray, first batch (starts the workers) | {cold[0]:.1f} | {sum(cold[1]) / len(cold[1]):.2%} |")
    print(f"| Ray, second batch (warm workers) | {warm[0]:.1f} | {sum(warm[1]) / len(warm[1]):.2%} |")
    print(f"| Ray, start-up + first batch | {start + cold[0]:.1f} | |")


if __name__ == "__main__":
    main()
