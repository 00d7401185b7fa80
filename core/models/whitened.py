"""Whitened CNNs: the CIFAR-10 speed-run design (airbench, hlb-CIFAR10) as registry models.

What makes them learn fast, and where each piece lives:
- a 2×2 conv whose filters are the whitening transform of the training images' 2×2 patches
  (`Whitening.fit_to_data`, called by trainer.prepare with the first normalised training images)
  and never trained: the first layer starts where a trained one would end up;
- conv–pool–BatchNorm–GELU–conv–BatchNorm–GELU groups whose convs start as identity maps (dirac)
  and whose BatchNorms learn only their shift, at `lr_scale` × the run's learning rate
  (core/optim.build_optimizer reads that attribute);
- a head scaled by 1/9, so the logits start small and label smoothing acts from the first step.
Training-side pieces (Nesterov SGD, triangular one-cycle, label smoothing, flips, whole-pixel
translations, flip test-time augmentation) are config fields that the presets set.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

WHITEN_PATCH = 2
BN_SHIFT_LR_SCALE = 64.0  # airbench's "bias_scaler": the shifts are few and need large steps
HEAD_SCALE = 1 / 9


class Whitening(nn.Conv2d):
    """A frozen 2×2 conv initialised so its outputs are decorrelated, unit-variance patch components."""

    def __init__(self, channels: int):
        width = 2 * channels * WHITEN_PATCH ** 2  # every eigenvector with both signs (GELU follows)
        super().__init__(channels, width, WHITEN_PATCH, bias=True)
        self.weight.requires_grad = False
        nn.init.zeros_(self.bias)

    @torch.no_grad()
    def fit_to_data(self, images: torch.Tensor, eps: float = 5e-4) -> None:
        """Set the filters from normalised float images [N, C, H, W] (a few thousand are plenty)."""
        c, k = self.in_channels, WHITEN_PATCH
        patches = images.float().unfold(2, k, 1).unfold(3, k, 1)  # N, C, H', W', k, k
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * k * k)
        cov = patches.T @ patches / max(len(patches), 1)
        vals, vecs = torch.linalg.eigh(cov.double())
        vecs = vecs.T.flip(0).reshape(-1, c, k, k)  # largest components first
        scaled = (vecs / torch.sqrt(vals.flip(0).clamp_min(0) + eps).view(-1, 1, 1, 1)).float()
        self.weight.copy_(torch.cat((scaled, -scaled)).to(self.weight))


class _ShiftOnlyBN(nn.BatchNorm2d):
    def __init__(self, n: int):
        super().__init__(n, eps=1e-12, momentum=0.4)
        self.weight.requires_grad = False
        self.bias.lr_scale = BN_SHIFT_LR_SCALE


def _identity_conv(cin: int, cout: int) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
    with torch.no_grad():
        nn.init.dirac_(conv.weight[:min(cin, cout)])  # an implicit residual path at the start
    return conv


class ConvGroup(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1, self.pool, self.norm1 = _identity_conv(cin, cout), nn.MaxPool2d(2), _ShiftOnlyBN(cout)
        self.conv2, self.norm2 = _identity_conv(cout, cout), _ShiftOnlyBN(cout)

    def forward(self, x):
        x = F.gelu(self.norm1(self.pool(self.conv1(x))))
        return F.gelu(self.norm2(self.conv2(x)))


class WhitenedCNN(nn.Module):
    def __init__(self, image_shape: tuple, num_classes: int, widths: tuple):
        super().__init__()
        channels = image_shape[0]
        self.whiten = Whitening(channels)
        cin = self.whiten.out_channels
        self.block1 = ConvGroup(cin, widths[0])
        self.block2 = ConvGroup(widths[0], widths[1])
        self.block3 = ConvGroup(widths[1], widths[2])
        self.pool = nn.AdaptiveMaxPool2d(1)  # 32×32 inputs end at 3×3, as airbench's MaxPool2d(3)
        self.fc = nn.Linear(widths[2], num_classes, bias=False)

    def forward(self, x):
        x = F.gelu(self.whiten(x))
        x = self.block3(self.block2(self.block1(x)))
        return self.fc(torch.flatten(self.pool(x), 1)) * HEAD_SCALE


def whitened_cnn(image_shape: tuple, num_classes: int, _custom: tuple = ()) -> nn.Module:
    # Half the widths' cost of airbench94's: about 30 s per CIFAR-10 epoch on a 2-core CPU with bf16
    return WhitenedCNN(image_shape, num_classes, (48, 128, 128))


def whitened_cnn_wide(image_shape: tuple, num_classes: int, _custom: tuple = ()) -> nn.Module:
    # airbench94's widths: the whitened_cifar10 preset's network (README "CIFAR-10 in 10 minutes")
    return WhitenedCNN(image_shape, num_classes, (64, 256, 256))
