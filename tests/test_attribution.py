"""core.attribution: Captum's maps on tiny networks with known answers, and on every architecture."""
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from core import attribution, models
from core.inspect import InspectError
from tests.test_inspect import no_hooks_left, tiny_net


def linear_model(weights: torch.Tensor) -> nn.Module:
    fc = nn.Linear(weights.shape[1], weights.shape[0], bias=False)
    with torch.no_grad():
        fc.weight.copy_(weights)
    return nn.Sequential(nn.Flatten(), fc)


def test_saliency_of_a_linear_model_is_its_weight_magnitude():
    torch.manual_seed(2)
    w = torch.randn(3, 2 * 4 * 5)
    a = attribution.attribute(linear_model(w), torch.randn(1, 2, 4, 5), "saliency", target=1)
    expected = w[1].reshape(2, 4, 5).abs().amax(0)
    np.testing.assert_allclose(a.heat, (expected / expected.max()).numpy(), rtol=1e-5)
    assert not a.signed


def test_integrated_gradients_of_a_linear_model_is_input_times_weight():
    # for a linear score, IG from a zero baseline is exactly x * w (completeness, no approximation)
    torch.manual_seed(3)
    w, x = torch.randn(2, 1 * 3 * 3), torch.randn(1, 1, 3, 3)
    a = attribution.attribute(linear_model(w), x, "integrated_gradients", target=0)
    expected = (x[0, 0] * w[0].reshape(3, 3))
    np.testing.assert_allclose(a.heat, (expected / expected.abs().max()).numpy(), rtol=1e-4, atol=1e-6)
    assert a.signed and a.heat.min() < 0 < a.heat.max()


class LeftRight(nn.Module):
    """Channel 0 sees only the left half of the image, channel 1 only the right half."""

    def forward(self, x):
        left = torch.zeros_like(x)
        left[..., : x.shape[-1] // 2] = 1
        return torch.cat([x * left, x * (1 - left)], dim=1)


def left_right_classifier() -> nn.Sequential:
    # class 0 = mean of the left half, class 1 = mean of the right half
    return nn.Sequential(OrderedDict(
        pool=nn.MaxPool2d(2), split=LeftRight(), gap=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten()))


@pytest.mark.parametrize("method", ["grad_cam", "occlusion", "integrated_gradients"])
def test_every_method_points_at_the_evidence(method):
    model = left_right_classifier()
    x = torch.ones(1, 1, 28, 28)
    left = attribution.attribute(model, x, method, target=0, layer="split").heat
    right = attribution.attribute(model, x, method, target=1, layer="split").heat
    assert left.shape == (28, 28)
    assert left[:, :14].sum() > 0 and np.abs(left[:, 14:]).sum() < 0.05 * left[:, :14].sum()
    assert right[:, 14:].sum() > 0 and np.abs(right[:, :14]).sum() < 0.05 * right[:, 14:].sum()


def test_maps_touch_no_grads_keep_the_mode_and_leave_no_hooks():
    model = tiny_net().train()
    for method in attribution.METHODS:
        for smooth in (False, True):
            a = attribution.attribute(model, torch.randn(1, 1, 28, 28), method, layer="conv2", smooth=smooth)
            assert a.heat.shape == (28, 28) and np.abs(a.heat).max() <= 1
    assert all(p.grad is None for p in model.parameters())
    assert model.training and no_hooks_left(model)
    with pytest.raises(InspectError, match="outside 0..9"):
        attribution.attribute(model, torch.randn(1, 1, 28, 28), "saliency", target=10)
    with pytest.raises(InspectError, match="fc1 outputs a vector"):
        attribution.attribute(model, torch.randn(1, 1, 28, 28), "grad_cam", layer="fc1")
    assert no_hooks_left(model)


def test_smoothgrad_changes_the_gradient_maps_and_says_so():
    model = tiny_net()
    x = torch.randn(1, 1, 28, 28)
    plain = attribution.attribute(model, x, "saliency")
    smooth = attribution.attribute(model, x, "saliency", smooth=True)
    assert smooth.title == "Saliency + SmoothGrad" and not np.allclose(plain.heat, smooth.heat)


CUSTOM = [{"type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1}, {"type": "relu"},
          {"type": "maxpool", "kernel_size": 2}, {"type": "flatten"}, {"type": "linear", "out_features": 16},
          {"type": "relu"}, {"type": "linear", "out_features": 3}]


@pytest.mark.parametrize("arch,shape", [("lenet5", (1, 28, 28)), ("seed_cnn7", (1, 28, 28)), ("one_conv", (3, 20, 24)),
                                        ("fast_cnn", (3, 32, 32)), ("resnet18_cifar", (1, 16, 16)),
                                        ("resnet18_tv", (3, 16, 16)), ("custom", (3, 12, 12))])
def test_every_architecture_gives_maps_of_the_image_shape(arch, shape):
    torch.manual_seed(0)
    model = models.build_model(arch, shape, 3, CUSTOM if arch == "custom" else ())
    layer = models.feature_layers(model)[-1][0]
    # Occlusion and Integrated Gradients only run the model forward (dozens of times): the small
    # networks cover them; the ResNets check the gradient paths through residual blocks
    methods = ("saliency", "grad_cam") if arch.startswith("resnet") else attribution.METHODS
    for method in methods:
        a = attribution.attribute(model, torch.randn(*shape), method, layer=layer, black=[-1.0] * shape[0])
        assert a.heat.shape == shape[1:], (arch, method)
        assert np.isfinite(a.heat).all()
