"""Engine vs the tutorials' training loop: images/s and test accuracy, same model/data/epochs.

The reference is written the way the PyTorch tutorials teach it: a torchvision dataset with
per-sample ToTensor + Normalize, a DataLoader with two worker processes, and the classic loop.
Run it on full MNIST (see ../shared/datasets/README.md for a copy) or Fashion-MNIST:

    python benchmarks/engine_vs_reference.py --data-dir DIR --dataset mnist --archs lenet5,seed_cnn7 \
        --batch-sizes 64,256 --epochs 1

It prints a Markdown table (paste it into the README) with the ratio engine / reference.
ResNet18 runs at ~60-400 images/s on a laptop CPU, so for those rows `--limit N` times both loops
on the same first N training images (accuracy after a fraction of an epoch is not compared):

    python benchmarks/engine_vs_reference.py --data-dir DIR --archs resnet18_cifar,resnet18_tv --limit 5120

On a CUDA machine, `--device cuda` runs both loops on the GPU; the engine then uses autocast and
channels_last (the dashboard's "mixed precision" default) and the reference the tutorials' fp32.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import torch.nn.functional as F

from core import data, models
from core.augment import normalizer
from core.config import RunConfig
from core.engine import (
    Batches,
    TrainState,
    autocast_for,
    evaluate,
    train_one_epoch,
    uses_channels_last,
)
from core.optim import Schedule, build_optimizer

TV_CLASSES = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "kmnist": "KMNIST"}


def run_engine(ds, arch, batch_size, epochs, seed, limit=None, device=torch.device("cpu")):
    cfg = RunConfig(dataset=ds.name, arch=arch, batch_size=batch_size, epochs=epochs, lr=0.01,
                    momentum=0.9, seed=seed)
    torch.manual_seed(seed)
    model = models.build_model(arch, ds.shape, ds.num_classes).to(device)
    fast = uses_channels_last(device, cfg)
    amp = autocast_for(device, cfg.mixed_precision)
    if fast:
        model = model.to(memory_format=torch.channels_last)
    opt = build_optimizer(model.parameters(), cfg)
    steps = -(-len(ds.train) // batch_size)
    state = TrainState(model, opt, Schedule(opt, cfg, steps), torch.Generator().manual_seed(seed))
    norm = normalizer(ds.mean, ds.std, device)
    train = Batches(ds.train.images[:limit].to(device), ds.train.labels[:limit].to(device))
    test = Batches(ds.test.images.to(device), ds.test.labels.to(device))
    seconds = 0.0
    for epoch in range(1, epochs + 1):  # loss.item() after each batch synchronises a GPU
        seconds += train_one_epoch(state, train, cfg, norm, epoch=epoch, channels_last=fast,
                                   autocast=amp)["seconds"]
    acc = None if limit else evaluate(model, test, norm, channels_last=fast, autocast=amp)["acc"]
    return len(train) * epochs / seconds, acc


def run_reference(ds_name, root, arch, shape, classes, mean, std, batch_size, epochs, seed, workers, limit=None,
                  device=torch.device("cpu")):
    import torchvision
    from torchvision import transforms

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])
    cls = getattr(torchvision.datasets, TV_CLASSES[ds_name])
    train = cls(root, train=True, download=False, transform=tf)
    if limit:
        train = torch.utils.data.Subset(train, range(min(limit, len(train))))
    test = cls(root, train=False, download=False, transform=tf)
    loader = torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=True, num_workers=workers,
                                         pin_memory=device.type == "cuda")
    test_loader = torch.utils.data.DataLoader(test, batch_size=1000, num_workers=workers)
    torch.manual_seed(seed)
    model = models.build_model(arch, shape, classes).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    seconds, seen = 0.0, 0
    for _ in range(epochs):
        model.train()
        start = time.perf_counter()
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            seen += len(y)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds += time.perf_counter() - start
    if limit:
        return seen / seconds, None
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in test_loader:
            correct += (model(x.to(device)).argmax(1).cpu() == y).sum().item()
    return seen / seconds, correct / len(test)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--dataset", default="mnist", choices=sorted(TV_CLASSES))
    p.add_argument("--archs", default="lenet5,seed_cnn7")
    p.add_argument("--batch-sizes", default="64,256")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only (slow models)")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: PyTorch sees no CUDA GPU on this machine")
    ds = data.load(args.dataset, args.data_dir)
    root = str(data.data_dir(args.data_dir))
    gpu = f", GPU {torch.cuda.get_device_name()}" if device.type == "cuda" else ""
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores{gpu}, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads; dataset {args.dataset} "
          f"({len(ds.train)} train / {len(ds.test)} test), {args.epochs} epoch(s)"
          + (f" over the first {args.limit} training images" if args.limit else "") + "\n")
    print("| model | batch | engine img/s | reference img/s | ratio | engine acc | reference acc |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for arch in args.archs.split(","):
        for bs in map(int, args.batch_sizes.split(",")):
            e_ips, e_acc = run_engine(ds, arch, bs, args.epochs, args.seed, args.limit, device)
            r_ips, r_acc = run_reference(args.dataset, root, arch, ds.shape, ds.num_classes, ds.mean,
                                         ds.std, bs, args.epochs, args.seed, args.workers, args.limit, device)
            acc = lambda a: "–" if a is None else f"{a:.2%}"
            print(f"| {arch} | {bs} | {e_ips:,.0f} | {r_ips:,.0f} | {e_ips / r_ips:.2f}× | "
                  f"{acc(e_acc)} | {acc(r_acc)} |", flush=True)


if __name__ == "__main__":
    main()
