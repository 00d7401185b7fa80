"""Named configurations: one click on the Home/Train pages, `--preset NAME` in the CLI."""
from __future__ import annotations

from dataclasses import dataclass

from core.config import RunConfig


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    description: str
    config: RunConfig
    reported: str = ""          # what the tutorial this reproduces reported
    group: str = "Quick start"


def _p(name, title, description, reported="", group="Quick start", **cfg) -> Preset:
    return Preset(name, title, description, RunConfig(name=title, **cfg), reported, group)


PRESETS: dict[str, Preset] = {p.name: p for p in [
    _p("lenet5_mnist_sample", "LeNet-5 on the MNIST sample, 3 epochs",
       "The classic LeNet-5 with Adam on the 5,000 bundled MNIST digits (4,000 train / 1,000 test). "
       "Works offline; about 10 s on a laptop CPU and ≈ 96% test accuracy.",
       dataset="mnist_sample", arch="lenet5", optimizer="adam", lr=0.002, epochs=3, batch_size=32),
    _p("seed_cnn7_mnist_sample", "7-layer lab CNN on the MNIST sample, SGD + MultiStepLR",
       "The lab assignment's network with SGD and a MultiStepLR schedule ending at 0.01× the LR. Offline.",
       dataset="mnist_sample", arch="seed_cnn7", optimizer="sgd", lr=0.05, momentum=0.9, epochs=6,
       batch_size=32, schedule="multistep", milestones=(3, 5), gamma=0.1),
    _p("lenet5_mnist", "LeNet-5 on MNIST (PyTorch tutorial)",
       "LeNet-5, SGD lr 0.01 momentum 0.5, batch 64, 5 epochs, as in the PyTorch MNIST tutorial.",
       reported="≈ 98% test", group="Tutorials", dataset="mnist", arch="lenet5", optimizer="sgd", lr=0.01,
       momentum=0.5, batch_size=64, epochs=5),
    _p("fashion_resnet18_tv", "ResNet18 (torchvision) on Fashion-MNIST",
       "torchvision's ResNet18 with a 1-channel conv1, flips and rotation, Adam, 5 epochs.",
       reported="> 90% test", group="Tutorials", dataset="fashion_mnist", arch="resnet18_tv",
       optimizer="adam", lr=0.001, batch_size=128, epochs=5, aug_hflip=True, aug_rotate=10.0),
    _p("lenet5_cifar10", "LeNet-5 on CIFAR-10 (PyTorch tutorial)",
       "The '60-minute blitz' classifier: SGD lr 0.001 momentum 0.9, batch 4, 2 epochs.",
       reported="57.2% test", group="Tutorials", dataset="cifar10", arch="lenet5", optimizer="sgd",
       lr=0.001, momentum=0.9, batch_size=4, epochs=2),
]}


def get(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r} — choose one of: {', '.join(PRESETS)}") from None
