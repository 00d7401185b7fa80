"""The model registry: built-in architectures, custom stacks, summaries and layer lists."""
from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from torch import nn

from core import models
from core.models import (
    ModelError,
    SpecError,
    build_model,
    check_layers,
    input_problem,
    summary,
)

BUILTIN = [name for name in models.MODELS if name != "custom"]
# every shape once and both class counts (each pairing costs a ResNet forward+backward)
CASES = [((1, 28, 28), 10), ((3, 32, 32), 100), ((1, 16, 16), 100), ((3, 64, 64), 10)]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---- built-in architectures ------------------------------------------------------------

@pytest.mark.parametrize("shape, num_classes", CASES, ids=lambda v: "x".join(map(str, v)) if isinstance(v, tuple) else str(v))
@pytest.mark.parametrize("arch", BUILTIN)
def test_builtin_model_trains_on_each_shape(arch, shape, num_classes):
    if shape[1] < models.MODELS[arch].min_size:
        assert input_problem(arch, shape) is not None
        return
    torch.manual_seed(0)
    model = build_model(arch, shape, num_classes)
    out = model(torch.randn(2, *shape))
    assert out.shape == (2, num_classes)
    out.logsumexp(1).sum().backward()
    convs = [conv for _, conv in models.conv_layers(model)]
    assert convs[0].in_channels == shape[0]
    learned = next(c for c in convs if c.weight.requires_grad)  # a whitening first conv is fitted, not learned
    assert learned.weight.grad is not None and learned.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("arch", BUILTIN)
def test_min_size_is_accepted_and_anything_smaller_refused(arch):
    size = models.MODELS[arch].min_size
    for shape in [(1, size, size), (3, size, size + 5), (1, size + 3, size), (1, size + 7, size + 7)]:
        assert input_problem(arch, shape) is None
        assert models.param_count(arch, shape, 10) > 0  # the shape really builds
    message = input_problem(arch, (1, size - 1, size + 10))
    assert message == f"{arch} needs images of at least {size}×{size} pixels, got {size - 1}×{size + 10}"


def test_seed_cnn7_refuses_8x8_with_a_clear_message():
    text = "seed_cnn7 needs images of at least 16×16 pixels, got 8×8"
    assert input_problem("seed_cnn7", (1, 8, 8)) == text
    with pytest.raises(ModelError, match=f"^{text}$"):
        build_model("seed_cnn7", (1, 8, 8), 10)


def test_seed_cnn7_layer_shapes_and_params_match_the_lab_answer():
    # By hand, batch 16 of 1×28×28: conv1 5×5 → 24×24, 1·25·16+16 = 416; pool → 12×12;
    # conv2 3×3 → 10×10, 16·9·32+32 = 4,640; pool → 5×5; conv3 1×1 → 5×5, 32·16+16 = 528;
    # flatten 16·5·5 = 400; fc1 400·64+64 = 25,664; fc2 64·10+10 = 650.
    expected = {
        "conv1": ([16, 16, 24, 24], 416), "relu1": ([16, 16, 24, 24], 0),
        "pool1": ([16, 16, 12, 12], 0), "conv2": ([16, 32, 10, 10], 4640),
        "relu2": ([16, 32, 10, 10], 0), "pool2": ([16, 32, 5, 5], 0),
        "conv3": ([16, 16, 5, 5], 528), "relu3": ([16, 16, 5, 5], 0),
        "flatten": ([16, 400], 0), "fc1": ([16, 64], 25664), "relu4": ([16, 64], 0),
        "fc2": ([16, 10], 650),
    }
    result = summary(build_model("seed_cnn7", (1, 28, 28), 10), (16, 1, 28, 28))
    assert {r["layer"]: (r["output_shape"], r["params"]) for r in result.rows} == expected
    assert [r["layer"] for r in result.rows] == list(expected)  # forward order
    assert result.total_params == 31898


def test_lenet5_on_28x28_matches_the_tutorial():
    model = build_model("lenet5", (1, 28, 28), 10)
    # 156 + 2,416 + (400·120+120) + (120·84+84) + (84·10+10) = 61,706
    assert n_params(model) == 61706
    assert model.fc1.in_features == 16 * 5 * 5  # padding 2 makes 28×28 act like 32×32
    # the PyTorch CIFAR-10 tutorial net: 3×32×32, no padding, 62,006 parameters
    assert n_params(build_model("lenet5", (3, 32, 32), 10)) == 62006


def test_lenet5_c3_uses_a_third_conv_instead_of_the_first_dense_layer():
    model = build_model("lenet5_c3", (1, 28, 28), 10)
    assert [name for name, _ in models.conv_layers(model)] == ["conv1", "conv2", "conv3"]
    assert model.conv3.out_channels == 120 and model.fc1.in_features == 120
    assert [m.out_features for m in model if isinstance(m, nn.Linear)] == [84, 10]


def test_one_conv_has_one_strided_conv_and_one_dense_layer():
    model = build_model("one_conv", (1, 28, 28), 10)
    (_, conv), = models.conv_layers(model)
    assert (conv.out_channels, conv.kernel_size, conv.stride) == (10, (8, 8), (2, 2))
    (fc,) = [m for m in model if isinstance(m, nn.Linear)]
    assert fc.in_features == 10 * 11 * 11  # (28 − 8) // 2 + 1 = 11


def test_resnet18_parameter_counts():
    # torchvision's resnet18 has 11,689,512 parameters (3 channels, 1,000 classes); one input
    # channel removes 2·64·7·7 = 6,272 and 10 classes remove 990·(512+1) = 507,870.
    tv = build_model("resnet18_tv", (1, 28, 28), 10)
    assert n_params(tv) == 11_175_370
    assert (tv.conv1.in_channels, tv.conv1.kernel_size, tv.conv1.stride, tv.conv1.padding) == (
        1, (7, 7), (2, 2), (3, 3))
    # the CIFAR ResNet-18 (3×3 stem) is the well-known 11,173,962 on CIFAR-10
    cifar = build_model("resnet18_cifar", (3, 32, 32), 10)
    assert n_params(cifar) == 11_173_962
    assert (cifar.conv1.kernel_size, cifar.conv1.stride) == ((3, 3), (1, 1))
    assert not any(isinstance(m, nn.MaxPool2d) for m in cifar.modules())


def test_param_count_matches_the_built_model():
    for arch in ("lenet5", "seed_cnn7", "fast_cnn"):
        assert models.param_count(arch, (3, 32, 32), 7) == n_params(build_model(arch, (3, 32, 32), 7))
    assert models.param_count("resnet18_tv", (1, 28, 28), 10) == 11_175_370


@pytest.mark.parametrize("arch", BUILTIN)
def test_feature_layers_give_image_like_maps_in_forward_order(arch):
    model = build_model(arch, (1, 28, 28), 10).eval()
    layers = models.feature_layers(model)
    assert layers and all(not isinstance(m, (nn.Linear, nn.Flatten)) for _, m in layers)
    seen = []
    handles = [m.register_forward_hook(lambda m, i, o, n=n: seen.append((n, o.dim()))) for n, m in layers]
    with torch.no_grad():
        model(torch.zeros(1, 1, 28, 28))
    for h in handles:
        h.remove()
    assert [n for n, _ in seen] == [n for n, _ in layers]
    assert all(dim == 4 for _, dim in seen)


def test_resnet_feature_layers_are_whole_blocks():
    names = [n for n, _ in models.feature_layers(build_model("resnet18_cifar", (3, 32, 32), 10))]
    assert names == ["conv1", "bn1", "relu1"] + [f"layer{i}.{j}" for i in range(1, 5) for j in (0, 1)]
    convs = [n for n, _ in models.conv_layers(build_model("resnet18_tv", (3, 32, 32), 10))]
    assert len(convs) == 20 and convs[0] == "conv1" and "layer2.0.downsample.0" in convs


def test_unknown_arch_and_bad_class_count_are_refused():
    with pytest.raises(ModelError, match="unknown architecture 'vgg' — choose one of: lenet5"):
        build_model("vgg", (1, 28, 28), 10)
    with pytest.raises(ModelError, match="number of classes"):
        build_model("lenet5", (1, 28, 28), 0)


@pytest.mark.parametrize("arch, shape, layers", [
    (None, (1, 28, 28), ()), (5, (1, 28, 28), ()), ("lenet5", None, ()), ("lenet5", "1x28x28", ()),
    ("lenet5", (1, 28), ()), ("lenet5", (0, 28, 28), ()), ("lenet5", (1.5, 28, 28), ()),
    ("custom", (1, 28, 28), 5), ("custom", (1, 28, 28), [None]), ("custom", (1, 28, 28), "conv"),
    ("custom", (1, 28, 28), [{"type": "conv", "out_channels": "many"}]),
    ("custom", (1, 4, 4), [{"type": "maxpool", "kernel_size": 8}]),
])
def test_input_problem_reports_instead_of_raising(arch, shape, layers):
    problem = input_problem(arch, shape, layers)
    assert isinstance(problem, str) and problem


def test_input_problem_is_none_for_valid_inputs():
    for arch in BUILTIN:
        assert input_problem(arch, (1, 28, 28)) is None
    assert input_problem("custom", (3, 32, 32), LENETISH) is None


def test_describe_lists_every_model_on_one_line():
    rows = models.describe()
    assert [r["name"] for r in rows] == list(models.MODELS)
    for r in rows:
        assert set(r) == {"name", "title", "description", "min_size"}
        assert r["description"] and "\n" not in r["description"]


# ---- custom layer stacks ---------------------------------------------------------------

LENETISH = [
    {"type": "conv", "out_channels": 6, "kernel_size": 5},
    {"type": "relu"},
    {"type": "maxpool"},
    {"type": "batchnorm"},
    {"type": "flatten"},
    {"type": "linear", "out_features": 84},
    {"type": "batchnorm"},
    {"type": "dropout", "p": 0.2},
    {"type": "linear", "out_features": 10},
]


def test_custom_stack_infers_shapes_and_counts_params():
    checks = check_layers(LENETISH, (3, 32, 32), 10)
    assert [(c.index, c.type, c.output_shape, c.params) for c in checks] == [
        (1, "conv", (6, 28, 28), 3 * 25 * 6 + 6),
        (2, "relu", (6, 28, 28), 0),
        (3, "maxpool", (6, 14, 14), 0),
        (4, "batchnorm", (6, 14, 14), 12),
        (5, "flatten", (1176,), 0),
        (6, "linear", (84,), 1176 * 84 + 84),  # in_features inferred
        (7, "batchnorm", (84,), 168),
        (8, "dropout", (84,), 0),
        (9, "linear", (10,), 850),
    ]


def test_custom_model_builds_with_readable_names_and_matching_batchnorm():
    model = build_model("custom", (3, 32, 32), 10, LENETISH)
    assert list(dict(model.named_children())) == [
        "conv1", "relu1", "pool1", "bn1", "flatten1", "fc1", "bn2", "dropout1", "fc2"]
    assert isinstance(model.bn1, nn.BatchNorm2d) and isinstance(model.bn2, nn.BatchNorm1d)
    assert model.fc1.in_features == 1176
    out = model(torch.randn(4, 3, 32, 32))
    assert out.shape == (4, 10)
    assert n_params(model) == sum(c.params for c in check_layers(LENETISH, (3, 32, 32), 10))


def test_custom_stack_accepts_table_cells():
    # an edited table gives floats, numeric strings and blank cells for other types' columns
    layers = [
        {"type": "Conv", "out_channels": 4.0, "kernel_size": "3", "stride": None, "padding": ""},
        {"type": "maxpool", "kernel_size": 2, "stride": float("nan"), "out_channels": pd.NA},
        {"type": "flatten"},
        {"type": "linear", "out_features": "10", "in_features": 4 * 13 * 13},
    ]
    assert check_layers(layers, (1, 28, 28), 10)[-1].output_shape == (10,)


@pytest.mark.parametrize("layers, message", [
    ([{"type": "flatten"}, {"type": "relu"}, {"type": "relu"},
      {"type": "linear", "out_features": 10, "in_features": 400}],
     "layer 4 (linear): expects 400 inputs, gets 784"),
    ([{"type": "conv", "out_channels": 8, "kernel_size": 26}, {"type": "conv", "out_channels": 8, "kernel_size": 5}],
     "layer 2 (conv): kernel 5×5 is larger than its 3×3 input"),
    ([{"type": "conv", "out_channels": 8}, {"type": "relu"}, {"type": "linear", "out_features": 10}],
     "layer 3 (linear): needs flattened input — add a flatten layer before it"),
    ([{"type": "flatten"}, {"type": "linear", "out_features": 120}, {"type": "linear", "out_features": 84}],
     "the last layer outputs 84 values but the dataset has 10 classes — end with linear(out_features=10)"),
    ([{"type": "conv", "out_channels": 3}],
     ("the last layer outputs 3×26×26 feature maps but the dataset has 10 classes — end with "
      "flatten and linear(out_features=10)")),
    ([{"type": "flatten"}, {"type": "linear", "out_features": 10}, {"type": "relu"}],
     "the last layer is relu; end with linear(out_features=10) so the model outputs raw class scores"),
    ([], "the layer stack is empty — add layers ending with flatten and linear(out_features=10)"),
    ([{"type": "pool"}], ("layer 1: unknown type 'pool' — choose one of: conv, maxpool, avgpool, "
                          "batchnorm, relu, dropout, flatten, linear")),
    ([{"out_channels": 3}], "layer 1: missing type — choose one of: conv, maxpool"),
    ([{"type": "conv"}], "layer 1 (conv): needs out_channels (a positive whole number)"),
    ([{"type": "conv", "out_channels": 0}], "layer 1 (conv): out_channels must be a positive whole number, got 0"),
    ([{"type": "conv", "out_channels": 4, "padding": -1}], "layer 1 (conv): padding must be ≥ 0, got -1"),
    ([{"type": "conv", "out_channels": 2.5}], "layer 1 (conv): out_channels must be a whole number, got 2.5"),
    ([{"type": "flatten"}, {"type": "linear", "out_features": -3}],
     "layer 2 (linear): out_features must be a positive whole number, got -3"),
    ([{"type": "dropout", "p": 1}], "layer 1 (dropout): p must be between 0 and 1"),
    ([{"type": "relu", "inplace": True}], "layer 1 (relu): unknown parameter 'inplace' — relu takes no parameters"),
    ([{"type": "conv", "out_channels": 4, "kernel": 3}],
     "layer 1 (conv): unknown parameter 'kernel' — valid: out_channels, kernel_size, stride, padding"),
    ([{"type": "flatten"}, {"type": "maxpool"}],
     "layer 2 (maxpool): needs image-shaped input (channels×height×width) but gets 784 flat values"),
    ([{"type": "avgpool", "kernel_size": 29}], "layer 1 (avgpool): kernel 29×29 is larger than its 28×28 input"),
])
def test_custom_stack_errors_name_the_broken_layer(layers, message):
    with pytest.raises(SpecError) as info:
        check_layers(layers, (1, 28, 28), 10)
    assert str(info.value).startswith(message)
    with pytest.raises(ModelError):  # build_model refuses the same stack
        build_model("custom", (1, 28, 28), 10, layers)


def test_padding_counts_towards_the_input_a_kernel_must_fit():
    fits = [{"type": "conv", "out_channels": 2, "kernel_size": 5, "padding": 1}]
    assert check_layers(fits, (1, 3, 3), None)[0].output_shape == (2, 1, 1)
    with pytest.raises(SpecError, match=r"kernel 5×5 is larger than its 2×2 input \(padded by 1"):
        check_layers(fits, (1, 2, 2), None)


def test_custom_input_problem_skips_only_the_class_count():
    ends_at_84 = [{"type": "flatten"}, {"type": "linear", "out_features": 84}]
    assert input_problem("custom", (1, 28, 28), ends_at_84) is None
    assert input_problem("custom", (1, 28, 28), [{"type": "conv", "out_channels": 4, "kernel_size": 30}]) == (
        "layer 1 (conv): kernel 30×30 is larger than its 28×28 input")


# ---- summaries -------------------------------------------------------------------------

@pytest.mark.parametrize("arch, shape", [
    ("lenet5", (1, 28, 28)), ("fast_cnn", (1, 28, 28)), ("resnet18_cifar", (3, 32, 32)),
    ("resnet18_tv", (1, 28, 28)),
])
def test_summary_totals_match_the_model(arch, shape):
    model = build_model(arch, shape, 10)
    result = summary(model, (4, *shape))
    assert result.total_params == result.trainable_params == n_params(model)
    assert sum(r["params"] for r in result.rows) == n_params(model)  # no layer counted twice
    assert result.total_macs > 0 and sum(r["macs"] for r in result.rows) == result.total_macs
    assert result.size_mb == pytest.approx(n_params(model) * 4 / 2**20)
    assert all(r["output_shape"][0] == 4 for r in result.rows)
    assert result.rows[-1]["output_shape"] == [4, 10]
    assert sum(r["trainable"] for r in result.rows) == result.trainable_params
    frame = result.to_frame()
    assert list(frame.columns) == ["layer", "type", "input_shape", "output_shape", "params", "trainable", "macs"]
    assert len(frame) == len(result.rows)


def test_lenet5_layer_table_for_a_batch_of_16_matches_the_hand_computed_answer():
    # By hand, batch 16 of 1×28×28: conv1 5×5 with padding 2 keeps 28×28, 1·25·6+6 = 156;
    # pool → 14×14; conv2 5×5 → 10×10, 6·25·16+16 = 2,416; pool → 5×5; flatten 16·5·5 = 400;
    # fc1 400·120+120 = 48,120; fc2 120·84+84 = 10,164; fc3 84·10+10 = 850.
    expected = [
        ("conv1", [16, 1, 28, 28], [16, 6, 28, 28], 156), ("relu1", [16, 6, 28, 28], [16, 6, 28, 28], 0),
        ("pool1", [16, 6, 28, 28], [16, 6, 14, 14], 0), ("conv2", [16, 6, 14, 14], [16, 16, 10, 10], 2416),
        ("relu2", [16, 16, 10, 10], [16, 16, 10, 10], 0), ("pool2", [16, 16, 10, 10], [16, 16, 5, 5], 0),
        ("flatten", [16, 16, 5, 5], [16, 400], 0), ("fc1", [16, 400], [16, 120], 48120),
        ("relu3", [16, 120], [16, 120], 0), ("fc2", [16, 120], [16, 84], 10164),
        ("relu4", [16, 84], [16, 84], 0), ("fc3", [16, 84], [16, 10], 850),
    ]
    result = summary(build_model("lenet5", (1, 28, 28), 10), (16, 1, 28, 28))
    assert [(r["layer"], r["input_shape"], r["output_shape"], r["trainable"]) for r in result.rows] == expected
    assert result.total_params == result.trainable_params == 61_706 and result.non_trainable_params == 0
    # RGB 32×32 is not padded: conv1 3·25·6+6 = 456 → 28×28, and the rest is the same
    rgb = summary(build_model("lenet5", (3, 32, 32), 10), (16, 3, 32, 32)).rows
    assert (rgb[0]["input_shape"], rgb[0]["output_shape"], rgb[0]["params"]) == ([16, 3, 32, 32], [16, 6, 28, 28], 456)


@pytest.mark.parametrize("arch", [*BUILTIN, "custom"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)], ids=["gray", "rgb"])
def test_every_layer_takes_what_the_layer_before_gives(arch, shape):
    custom = [{"type": "conv", "out_channels": 4, "kernel_size": 3}, {"type": "batchnorm"}, {"type": "relu"},
              {"type": "maxpool"}, {"type": "flatten"}, {"type": "linear", "out_features": 10}]
    rows = summary(build_model(arch, shape, 10, custom if arch == "custom" else []), (16, *shape)).rows
    assert rows[0]["input_shape"] == [16, *shape]
    for before, after in zip(rows, rows[1:]):  # equal sizes: a functional flatten may sit between
        assert math.prod(after["input_shape"]) == math.prod(before["output_shape"]), (before, after)
    assert rows[-1]["output_shape"] == [16, 10]


def test_frozen_weights_count_as_non_trainable_and_buffers_count_in_the_size():
    model = build_model("fast_cnn", (1, 28, 28), 10)
    model.conv1.weight.requires_grad_(False)
    result = summary(model, (16, 1, 28, 28))
    conv1 = next(r for r in result.rows if r["layer"] == "conv1")
    assert conv1["trainable"] == conv1["params"] - model.conv1.weight.numel()
    assert result.non_trainable_params == model.conv1.weight.numel()
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    assert buffers > 0 and result.state_mb == pytest.approx((n_params(model) * 4 + buffers) / 2**20)


def test_summary_macs_scale_with_the_batch():
    model = build_model("seed_cnn7", (1, 28, 28), 10)
    one, sixteen = summary(model, (1, 1, 28, 28)), summary(model, (16, 1, 28, 28))
    assert sixteen.total_macs == 16 * one.total_macs
    conv1 = next(r for r in sixteen.rows if r["layer"] == "conv1")
    assert conv1["macs"] == 16 * (400 + 16) * 24 * 24  # each weight and bias once per output pixel


def test_resnet_summary_has_one_row_per_block():
    rows = summary(build_model("resnet18_tv", (3, 32, 32), 10), (1, 3, 32, 32)).rows
    assert [r["layer"] for r in rows] == ["conv1", "bn1", "relu", "maxpool"] + [
        f"layer{i}.{j}" for i in range(1, 5) for j in (0, 1)] + ["avgpool", "fc"]
    assert rows[4]["type"] == "BasicBlock" and rows[4]["params"] == 2 * (64 * 64 * 9 + 128)


def test_summary_leaves_no_hooks_modes_or_statistics_changed():
    model = build_model("fast_cnn", (1, 28, 28), 10).train()
    model.bn2.eval()  # a mixed-mode model, e.g. with some BatchNorm frozen
    before = {m: m.training for m in model.modules()}
    stats = model.bn1.running_mean.clone()
    summary(model, (8, 1, 28, 28))
    assert {m: m.training for m in model.modules()} == before
    assert torch.equal(model.bn1.running_mean, stats)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    model.eval()
    summary(model, (8, 1, 28, 28))
    assert not any(m.training for m in model.modules())


def test_summary_of_a_mismatched_input_raises_a_model_error():
    model = build_model("lenet5", (1, 28, 28), 10)
    with pytest.raises(ModelError, match=r"cannot run the model on input of size \(2, 3, 28, 28\)"):
        summary(model, (2, 3, 28, 28))
    with pytest.raises(ModelError, match="input size must be"):
        summary(model, (1, 28, 28))


def test_fast_cnn_is_small():
    # it is meant to train at thousands of images/s on a 2-core CPU: keep it near 2 M MACs
    result = summary(build_model("fast_cnn", (1, 28, 28), 10), (1, 1, 28, 28))
    assert result.total_macs < 3_000_000 and result.total_params == 98554
