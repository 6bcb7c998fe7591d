"""VGG configuration C (the paper's Table 1: VGG-16 with a 1x1 conv closing stages 3-5).

torchvision has no configuration C, so the reference is the paper's table, written out
here layer by layer.  One model is built (134M parameters take a few seconds).
"""
import numpy as np
import pytest

import minicnn as mc
from minicnn import nn

# Table 1, column C: (output channels, kernel) per conv layer, "M" for max pooling.
PAPER_C = [(64, 3), (64, 3), "M", (128, 3), (128, 3), "M", (256, 3), (256, 3), (256, 1), "M",
           (512, 3), (512, 3), (512, 1), "M", (512, 3), (512, 3), (512, 1), "M"]
# torchvision's VGG-16 (D) puts its convs at these indices of `features`; C keeps them.
CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]


@pytest.fixture(scope="module")
def model():
    mc.manual_seed(0)
    return mc.models.vgg16_c()


def test_parameter_count_matches_the_paper(model):
    convs, in_channels = 0, 3
    for layer in PAPER_C:
        if layer != "M":
            out, k = layer
            convs += in_channels * out * k * k + out
            in_channels = out
    fcs = (512 * 7 * 7 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    assert convs + fcs == 133_638_952                   # "134M" in the paper's Table 2
    assert sum(p.numel() for p in model.parameters()) == 133_638_952
    # C has D's (138,357,544) layers, three of them 1x1 instead of 3x3: 8 weights fewer per pair
    assert 138_357_544 - 133_638_952 == 8 * (256 * 256 + 2 * 512 * 512)


def test_layer_layout_follows_table_1(model):
    layers = list(model.features)
    convs = [l for l in layers if isinstance(l, nn.Conv2d)]
    expected = [l for l in PAPER_C if l != "M"]
    assert [(c.out_channels, c.kernel_size[0]) for c in convs] == expected
    assert all(c.kernel_size[0] == c.kernel_size[1] and c.padding == (c.kernel_size[0] // 2,) * 2
               for c in convs)                                       # sizes kept by every conv
    assert [type(l).__name__ for l in layers if not isinstance(l, (nn.Conv2d, nn.ReLU))] == \
        ["MaxPool2d"] * 5
    assert [i for i, l in enumerate(layers) if isinstance(l, nn.Conv2d)] == CONV_INDICES
    assert all(isinstance(layers[i + 1], nn.ReLU) for i in CONV_INDICES)
    keys = [k for k in model.state_dict() if k.startswith("features.")]
    assert keys == [f"features.{i}.{p}" for i in CONV_INDICES for p in ("weight", "bias")]
    assert model.features[14].weight.shape == (256, 256, 1, 1)


def test_forward_shape_on_a_small_input(model):
    x = mc.tensor(np.random.default_rng(0).standard_normal((2, 3, 32, 32), dtype=np.float32))
    model.eval()
    with mc.no_grad():
        assert model(x).shape == (2, 1000)
        assert model.features[:15](x).shape == (2, 256, 8, 8)   # a 1x1 conv keeps the size
