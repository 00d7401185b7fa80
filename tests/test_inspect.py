"""core.inspect on tiny networks built here, some with weights chosen so the answer is known."""
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from core import inspect as ins
from core.inspect import InspectError


def tiny_net(in_channels: int = 1) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(in_channels, 4, 3, padding=1),
        relu1=nn.ReLU(),
        pool1=nn.MaxPool2d(2),
        conv2=nn.Conv2d(4, 8, 3, padding=1),
        bn2=nn.BatchNorm2d(8),
        relu2=nn.ReLU(inplace=True),  # in-place after the hooked layer, as in torchvision models
        flatten=nn.Flatten(),
        fc1=nn.Linear(8 * 14 * 14, 10),
    ))


def no_hooks_left(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._backward_hooks for m in model.modules())


@pytest.fixture
def image():
    torch.manual_seed(1)
    return torch.randn(1, 1, 28, 28)


# ---- filters ---------------------------------------------------------------------------

def test_conv_filters_shape_and_dtype():
    w = ins.conv_filters(tiny_net().conv2)
    assert w.shape == (8, 4, 3, 3) and w.dtype == np.float32
    with pytest.raises(InspectError, match="Conv2d"):
        ins.conv_filters(nn.Linear(2, 2))


def test_filter_images_of_an_rgb_first_layer_are_colour():
    images = ins.filter_grid_images(tiny_net(in_channels=3).conv1, rgb=True)
    assert len(images) == 4
    for im in images:
        assert im.shape == (3, 3, 3)
        assert im.min() == pytest.approx(0.0) and im.max() == pytest.approx(1.0)


def test_filter_images_of_deeper_layers_are_gray():
    conv = tiny_net().conv2
    images = ins.filter_grid_images(conv, rgb=True)
    assert len(images) == 8 and all(im.shape == (3, 3) for im in images)
    picked = ins.filter_grid_images(conv, in_channel=2)
    w = conv.weight.detach()[0, 2].numpy()
    np.testing.assert_allclose(picked[0], (w - w.min()) / (w.max() - w.min()), rtol=1e-5, atol=1e-6)
    with pytest.raises(InspectError, match="outside 0..3"):
        ins.filter_grid_images(conv, in_channel=4)


def test_constant_filter_is_flat_gray_not_nan():
    conv = nn.Conv2d(1, 1, 3)
    nn.init.constant_(conv.weight, 0.3)
    (im,) = ins.filter_grid_images(conv)
    np.testing.assert_array_equal(im, np.full((3, 3), 0.5, dtype=np.float32))


# ---- feature maps ------------------------------------------------------------------------

def test_feature_maps_are_the_layer_output(image):
    model = tiny_net()
    maps = ins.feature_maps(model, "conv1", image)
    assert maps.shape == (4, 28, 28) and maps.dtype == np.float32
    np.testing.assert_allclose(maps, model.conv1(image)[0].detach().numpy(), rtol=1e-5, atol=1e-6)
    assert ins.feature_maps(model, "pool1", image[0]).shape == (4, 14, 14)  # (C, H, W) accepted
    assert no_hooks_left(model)


def test_feature_maps_restore_each_modules_mode(image):
    model = tiny_net().train()
    model.bn2.eval()  # e.g. frozen BatchNorm: must stay in eval
    ins.feature_maps(model, "conv2", image)
    assert model.training and model.conv1.training and not model.bn2.training


def test_feature_maps_of_a_vector_layer_say_so_and_leave_no_hook(image):
    model = tiny_net().train()
    with pytest.raises(InspectError, match="layer fc1 outputs a vector, not maps"):
        ins.feature_maps(model, "fc1", image)
    assert no_hooks_left(model) and model.training


def test_unknown_layer_lists_the_layers(image):
    with pytest.raises(InspectError, match="no layer 'conv9'.*conv1, relu1"):
        ins.feature_maps(tiny_net(), "conv9", image)


def test_spatial_layers_lists_map_producing_layers_in_order(image):
    model = tiny_net()
    assert ins.spatial_layers(model, image) == ["conv1", "relu1", "pool1", "conv2", "bn2", "relu2"]
    assert no_hooks_left(model)


# ---- predict_proba -----------------------------------------------------------------------

def test_predict_proba_normalises_like_training_and_batches():
    model = tiny_net(in_channels=3).train()
    torch.manual_seed(3)
    x = torch.randint(0, 256, (1100, 3, 28, 28), dtype=torch.uint8)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    probs = ins.predict_proba(model, x, mean, std)
    assert probs.shape == (1100, 10) and probs.device.type == "cpu"
    torch.testing.assert_close(probs.sum(1), torch.ones(1100))
    model.eval()
    with torch.no_grad():
        m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
        expected = torch.softmax(model((x[:7].float() / 255 - m) / s), dim=1)
    torch.testing.assert_close(probs[:7], expected)
    torch.testing.assert_close(probs[1000:], ins.predict_proba(model, x[1000:], mean, std))


def test_predict_proba_single_image_and_mode_restored():
    model = tiny_net().train()
    one = np.full((1, 28, 28), 128, dtype=np.uint8)  # what preprocess returns
    probs = ins.predict_proba(model, one, 0.1307, 0.3081)
    assert probs.shape == (1, 10)
    assert model.training


def test_predict_proba_refuses_bad_input():
    model = tiny_net()
    with pytest.raises(InspectError, match="uint8"):
        ins.predict_proba(model, torch.zeros(1, 1, 28, 28), 0.5, 0.5)
    with pytest.raises(InspectError, match="mean has 3 values for 1-channel"):
        ins.predict_proba(model, torch.zeros(1, 1, 28, 28, dtype=torch.uint8), (0.5, 0.5, 0.5), 0.5)
    with pytest.raises(InspectError, match="cannot take images shaped"):
        ins.predict_proba(model, torch.zeros(1, 1, 32, 32, dtype=torch.uint8), 0.5, 0.5)
