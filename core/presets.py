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


def _p(name, title, description, reported="", group="Quick start", *, val_split, **cfg) -> Preset:
    # val_split is required: presets keep their published setup (most score each epoch on the
    # test set, val_split=0) rather than follow RunConfig's default hold-out
    return Preset(name, title, description, RunConfig(name=title, val_split=val_split, **cfg), reported, group)


_AUG = {"aug_rotate": 10.0, "aug_translate": 2}       # the tutorials' RandomRotation + RandomAffine
# The speed-run recipe (airbench94) in this engine's terms: its lr 11.5 and wd 0.0153 "per 1024
# examples" with Nesterov momentum 0.85 are lr 1.5 and weight decay 0.0013 for a mean loss
_SPEEDRUN = dict(dataset="cifar10", val_split=0.0, arch="whitened_cnn_wide", optimizer="sgd", lr=1.5, momentum=0.85,
                 nesterov=True, weight_decay=0.0013, batch_size=1024, schedule="triangle", lookahead=True,
                 aug_hflip=True, aug_hflip_alternate=True, aug_translate=2, aug_pad="reflect",
                 label_smoothing=0.2, tta_flip=True)
_LAB = {"arch": "seed_cnn7", "batch_size": 64, "epochs": 10, "schedule": "multistep", "milestones": (5, 8),
        "gamma": 0.1,                                  # MultiStepLR ending at 0.01x the initial LR
        "val_split": 0.0}                              # the lab scored every epoch on the test set
_LAB_SGD = {**_LAB, "optimizer": "sgd", "lr": 0.01, "momentum": 0.9}
_LAB_ADAM = {**_LAB, "optimizer": "adam", "lr": 0.001}
_T = "Tutorials"
FAST = "Fastest on a CPU"

PRESETS: dict[str, Preset] = {p.name: p for p in [
    _p("lenet5_mnist_sample", "LeNet-5 on the MNIST sample, 3 epochs",
       "The classic LeNet-5 with Adam on the 5,000 bundled MNIST digits (4,000 train / 1,000 test). "
       "Works offline; about 10 s on a laptop CPU and ≈ 96% test accuracy.",
       dataset="mnist_sample", val_split=0.0, arch="lenet5", optimizer="adam", lr=0.002, epochs=3, batch_size=32),
    _p("seed_cnn7_mnist_sample", "7-layer lab CNN on the MNIST sample, SGD + MultiStepLR",
       "The lab assignment's network with SGD and a MultiStepLR schedule ending at 0.01× the LR. Offline.",
       dataset="mnist_sample", val_split=0.0, arch="seed_cnn7", optimizer="sgd", lr=0.05, momentum=0.9, epochs=6,
       batch_size=32, schedule="multistep", milestones=(3, 5), gamma=0.1),
    _p("lenet5_c3_mnist", "LeNet-5 (3-conv) on MNIST",
       "LeNet-5 with a third 5×5 conv of 120 kernels; SGD lr 0.01 momentum 0.9, batch 32, 10 epochs, "
       "no augmentation.", reported="98.52% test", group=_T, dataset="mnist", val_split=0.0, arch="lenet5_c3",
       optimizer="sgd", lr=0.01, momentum=0.9, batch_size=32, epochs=10),
    _p("lenet5_c3_mnist_aug", "LeNet-5 (3-conv) on MNIST with augmentation",
       "As above with random rotation (±10°) and shifts (±2 px).", reported="98.39% test", group=_T,
       dataset="mnist", val_split=0.0, arch="lenet5_c3", optimizer="sgd", lr=0.01, momentum=0.9, batch_size=32,
       epochs=10, **_AUG),
    _p("resnet18_cifar_mnist", "ResNet18 (CIFAR-style stem) on MNIST",
       "ResNet18 with a 3×3 stride-1 stem; SGD lr 0.01 momentum 0.9 weight decay 5e-4, batch 128, 10 "
       "epochs. Slow on a CPU (hours); meant for a GPU.", reported="not stated", group=_T, dataset="mnist",
       val_split=0.0,
       arch="resnet18_cifar", optimizer="sgd", lr=0.01, momentum=0.9, weight_decay=5e-4, batch_size=128,
       epochs=10),
    _p("lenet5_mnist", "LeNet-5 on MNIST (PyTorch tutorial)",
       "LeNet-5, SGD lr 0.01 momentum 0.5, batch 64, 5 epochs, as in the PyTorch MNIST tutorial.",
       reported="≈ 98% test", group=_T, dataset="mnist", val_split=0.0, arch="lenet5", optimizer="sgd", lr=0.01,
       momentum=0.5, batch_size=64, epochs=5),
    _p("one_conv_mnist", "One conv layer + dense on MNIST",
       "A single 8×8 conv of 10 kernels with stride 2, then one dense layer; plain SGD lr 0.01, batch 64, "
       "10 epochs.", reported="93.9% test", group=_T, dataset="mnist", val_split=0.0, arch="one_conv", optimizer="sgd",
       lr=0.01, momentum=0.0, batch_size=64, epochs=10),
    _p("seed_cnn7_mnist_sgd", "7-layer lab CNN on MNIST, SGD",
       "The lab's CNN with SGD lr 0.01 momentum 0.9 and MultiStepLR (×0.1 after epochs 5 and 8), batch 64, "
       "10 epochs.", reported="> 95% test", group=_T, dataset="mnist", **_LAB_SGD),
    _p("seed_cnn7_mnist_adam", "7-layer lab CNN on MNIST, Adam",
       "The lab's CNN with Adam lr 0.001 and MultiStepLR (×0.1 after epochs 5 and 8), batch 64, 10 epochs.",
       reported="> 95% test", group=_T, dataset="mnist", **_LAB_ADAM),
    _p("fashion_resnet18_tv", "ResNet18 (torchvision) on Fashion-MNIST",
       "torchvision's ResNet18 with a 1-channel conv1, flips and rotation, Adam, 5 epochs.",
       reported="> 90% test", group=_T, dataset="fashion_mnist", val_split=0.0, arch="resnet18_tv",
       optimizer="adam", lr=0.001, batch_size=128, epochs=5, aug_hflip=True, aug_rotate=10.0),
    _p("fast_mnist", "Fastest to 99% on MNIST (CPU)",
       "A small BatchNorm CNN with SGD, a one-cycle LR schedule, label smoothing and 1-pixel shifts: "
       "one epoch, ≥ 99% test accuracy in under 20 s of training on a 2-core laptop CPU.", group=FAST,
       dataset="mnist", val_split=0.0, arch="fast_cnn", optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True,
       weight_decay=5e-4, batch_size=64, epochs=1, schedule="onecycle", label_smoothing=0.1, aug_translate=1),
    _p("fast_fashion_mnist", "Fastest to 92% on Fashion-MNIST (CPU)",
       "The fast BatchNorm CNN with random horizontal flips, label smoothing and a one-cycle LR "
       "schedule: 9 epochs, ≥ 92% test accuracy in under 3 minutes of training on a 2-core laptop CPU.",
       group=FAST, dataset="fashion_mnist", val_split=0.0, arch="fast_cnn", optimizer="sgd", lr=0.2, momentum=0.9,
       nesterov=True, weight_decay=5e-4, batch_size=128, epochs=9, schedule="onecycle", aug_hflip=True,
       label_smoothing=0.1),
    _p("fast_cifar10", "Fast CIFAR-10 on a CPU (≈ 82%)",
       "The Fashion-MNIST recipe (fast BatchNorm CNN, SGD with a one-cycle schedule, label smoothing, "
       "flips) plus the usual 4-pixel crops of a reflect-padded image: 25 epochs, 81.9% test accuracy "
       "in 2.8 minutes of training on a 2-core CPU (one seed, the CIFAR-10 JPEG copy). Import "
       "CIFAR-10 on the Data page and pick it as the dataset if torchvision's copy is not here.",
       group=FAST, dataset="cifar10", val_split=0.0, arch="fast_cnn", optimizer="sgd", lr=0.2, momentum=0.9,
       nesterov=True, weight_decay=5e-4, batch_size=128, epochs=25, schedule="onecycle", aug_hflip=True,
       aug_translate=4, aug_pad="reflect", label_smoothing=0.1),
    _p("whitened_cifar10", "CIFAR-10 to 90% in 10 minutes on a CPU (whitened CNN)",
       "The CIFAR-10 speed-run recipe (airbench94) in this engine: a whitening first layer fitted to the "
       "images, three conv–BatchNorm–GELU groups of 64/256/256 channels, Nesterov SGD at batch 1024 with "
       "the triangle schedule, Lookahead averaging, label smoothing 0.2, alternating flips, 2-pixel shifts "
       "of a reflect-padded image, and mirror test-time augmentation. 9 epochs, under 10 minutes "
       "of training on a 2-core CPU with bf16; see the README for the measured accuracy.",
       group=FAST, epochs=9, **_SPEEDRUN),
    _p("airbench_cifar10", "airbench94 on CIFAR-10 (for a GPU)",
       "The same recipe for airbench94's 10 epochs: about 94% test accuracy in its authors' runs; seconds "
       "on a GPU, about 10 minutes of training on a 2-core CPU with bf16.",
       group=FAST, epochs=10, **_SPEEDRUN),
    _p("lenet5_cifar10", "LeNet-5 on CIFAR-10 (PyTorch tutorial)",
       "The '60-minute blitz' classifier: SGD lr 0.001 momentum 0.9, batch 4, 2 epochs.",
       reported="57.2% test", group=_T, dataset="cifar10", val_split=0.0, arch="lenet5", optimizer="sgd",
       # float32 as in the tutorial; at batch 4 bf16 autocast is slower than float32 anyway
       lr=0.001, momentum=0.9, batch_size=4, epochs=2, mixed_precision=False),
]}


@dataclass(frozen=True)
class Pair:
    """Two runs that answer one of the lab's questions, compared side by side on the Runs page."""
    name: str
    title: str
    question: str
    configs: tuple  # (RunConfig, RunConfig) on full MNIST; `for_dataset` moves them


PAIRS: dict[str, Pair] = {p.name: p for p in [
    Pair("compare_optimizers", "Compare optimizers: SGD vs Adam", "Did Adam beat SGD on the lab's CNN?",
         (RunConfig(name="lab CNN · SGD", dataset="mnist", **_LAB_SGD),
          RunConfig(name="lab CNN · Adam", dataset="mnist", **_LAB_ADAM))),
    Pair("compare_augmentation", "Compare augmentation: without vs with",
         "Did rotation and shift augmentation help the lab's CNN?",
         (RunConfig(name="lab CNN · no augmentation", dataset="mnist", **_LAB_SGD),
          RunConfig(name="lab CNN · augmented", dataset="mnist", **_LAB_SGD, **_AUG))),
]}


def pair_configs(pair: Pair, dataset: str) -> tuple:
    """The pair's two configs on `dataset` (the bundled sample when full MNIST is absent)."""
    return tuple(c.replace(dataset=dataset, name=f"{c.name} ({dataset})") for c in pair.configs)


def get(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r} — choose one of: {', '.join(PRESETS)}") from None
