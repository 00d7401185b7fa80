"""Training-step speed of bfloat16 autocast against float32 on this CPU, for the registry's models.

The engine trains under bf16 autocast on a CPU with native bf16 (core/engine.autocast_for); this
prints the ratio that rule rests on. Each pair times a few steps of one side, then of the other
(alternating, so a slow spell of a shared machine hits both), and the table gives the median and
the spread of the per-pair ratios. Same layout (channels_last), optimizer and loss as the engine.

    python benchmarks/precision_speed.py [--pairs 5] [--arch whitened_cnn --arch lenet5 ...]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from core import engine, models  # noqa: E402

# (arch, image shape, batch size): the presets' usual pairings
CASES = [("lenet5", (1, 28, 28), 64), ("seed_cnn7", (1, 28, 28), 64), ("fast_cnn", (1, 28, 28), 64),
         ("fast_cnn", (3, 32, 32), 128), ("whitened_cnn", (3, 32, 32), 1024),
         ("whitened_cnn_wide", (3, 32, 32), 1024), ("resnet18_cifar", (3, 32, 32), 128),
         ("lenet5", (3, 32, 32), 4)]


def images_per_second(model, opt, x, y, bf16: bool, steps: int) -> float:
    ctx = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else (lambda: torch.autocast("cpu", enabled=False))
    start = time.perf_counter()
    for _ in range(steps):
        with ctx():
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * len(x) / (time.perf_counter() - start)


def measure(arch: str, shape: tuple, batch: int, pairs: int) -> dict:
    torch.manual_seed(0)
    model = models.build_model(arch, shape, 10).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3, momentum=0.9)
    x = torch.randn(batch, *shape).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))
    steps = max(2, 2048 // batch) if arch != "resnet18_cifar" else 2
    for bf16 in (False, True):  # warm-up: oneDNN picks and caches its kernels on first use
        images_per_second(model, opt, x, y, bf16, 1)
    fp32, bf16, ratios = [], [], []
    for _ in range(pairs):
        a = images_per_second(model, opt, x, y, False, steps)
        b = images_per_second(model, opt, x, y, True, steps)
        fp32.append(a)
        bf16.append(b)
        ratios.append(b / a)
    return {"fp32": statistics.median(fp32), "bf16": statistics.median(bf16), "ratio": statistics.median(ratios),
            "lo": min(ratios), "hi": max(ratios)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=5)
    p.add_argument("--arch", action="append", default=[], help="only these architectures")
    args = p.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, native bf16 on this CPU: "
          f"{engine.cpu_has_fast_bf16()}")
    print("| model | input | batch | float32 img/s | bf16 autocast img/s | bf16 / float32, median (min–max) |")
    print("|---|---|---:|---:|---:|---:|")
    for arch, shape, batch in CASES:
        if args.arch and arch not in args.arch:
            continue
        r = measure(arch, shape, batch, args.pairs)
        print(f"| {arch} | {'×'.join(map(str, shape))} | {batch} | {r['fp32']:,.0f} | {r['bf16']:,.0f} | "
              f"{r['ratio']:.2f}× ({r['lo']:.2f}–{r['hi']:.2f}) |", flush=True)


if __name__ == "__main__":
    main()
