"""ResNet-18 in two flavours, both from torchvision's building blocks.

`resnet18_cifar` is the usual small-image variant (3×3 stride-1 stem, no max-pool), so a 32×32
image still has 4×4 feature maps in the last stage. `resnet18_tv` is torchvision's ImageNet
model unchanged apart from the input channels, for comparison.
"""
from __future__ import annotations

from collections import OrderedDict

from torch import nn

# torchvision is imported inside the builders: importing it costs ~1.5 s (it pulls in
# torch._dynamo), which every page of the dashboard would otherwise pay on a fresh server.

STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))  # (channels, stride of the first block)


def _stage(in_ch: int, out_ch: int, stride: int, blocks: int = 2) -> nn.Sequential:
    from torchvision.models.resnet import BasicBlock

    downsample = None
    if stride != 1 or in_ch != out_ch:
        # the shortcut must match the block's output shape to be added to it
        downsample = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
        )
    first = BasicBlock(in_ch, out_ch, stride, downsample)
    return nn.Sequential(first, *(BasicBlock(out_ch, out_ch) for _ in range(blocks - 1)))


def resnet18_cifar(image_shape: tuple, num_classes: int, _custom: tuple = ()) -> nn.Module:
    layers = [
        ("conv1", nn.Conv2d(image_shape[0], 64, 3, padding=1, bias=False)),
        ("bn1", nn.BatchNorm2d(64)),
        ("relu1", nn.ReLU()),
    ]
    in_ch = 64
    for i, (out_ch, stride) in enumerate(STAGES, start=1):
        layers.append((f"layer{i}", _stage(in_ch, out_ch, stride)))
        in_ch = out_ch
    layers += [
        ("avgpool", nn.AdaptiveAvgPool2d(1)),
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(in_ch, num_classes)),
    ]
    return nn.Sequential(OrderedDict(layers))


def resnet18_tv(image_shape: tuple, num_classes: int, _custom: tuple = ()) -> nn.Module:
    import torchvision

    model = torchvision.models.resnet18(weights=None, num_classes=num_classes)
    old = model.conv1
    model.conv1 = nn.Conv2d(
        image_shape[0], old.out_channels, old.kernel_size, old.stride, old.padding, bias=False
    )
    # torchvision's stem ReLU works in place, which would overwrite bn1's output before a
    # feature-map hook on bn1 could read it
    model.relu = nn.ReLU()
    return model
