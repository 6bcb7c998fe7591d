"""mc.summary reproduces the figures the lectures quote. Each expected number below is
derived by hand in the comment next to it (or quoted from the paper), not read off the code."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from minicnn import nn
from minicnn.models import (alexnet_2012, googlenet_2014, resnet18, resnet34, resnet50, resnet101,
                            resnet152, vgg16)


def first(summary, kind):
    return next(r for r in summary.rows if r.kind == kind and r.output_shape)


def test_alexnet_2012_conv1():
    s = mc.summary(alexnet_2012(), (3, 227, 227))
    conv1 = first(s, "Conv2d")
    assert conv1.output_shape == (96, 55, 55)          # (227 - 11) / 4 + 1 = 55
    assert conv1.weights == 11 * 11 * 3 * 96 == 34_848
    assert conv1.receptive_field == (11, 11)


@pytest.fixture(scope="module")
def vgg16_summary():
    return mc.summary(vgg16(), (3, 224, 224))


def test_vgg16_per_layer_memory_and_parameters(vgg16_summary):
    s = vgg16_summary
    convs = [r for r in s.rows if r.kind == "Conv2d"]
    fcs = [r for r in s.rows if r.kind == "Linear"]
    assert len(convs) == 13 and len(fcs) == 3
    assert convs[0].activations == 224 * 224 * 64      # conv3-64: 3.2M activations
    assert convs[0].weights == 3 * 3 * 3 * 64 == 1_728
    assert convs[1].weights == 3 * 3 * 64 * 64 == 36_864
    assert fcs[0].weights == 7 * 7 * 512 * 4096 == 102_760_448
    assert fcs[1].weights == 4096 * 4096 and fcs[2].weights == 4096 * 1000
    assert s.total.params == 138_357_544                # the famous 138M
    # the lecture's memory column: conv 13,547,520 + pool 1,530,368 + fc 9,192 values,
    # plus the 150,528-value input: ~15.2M values * 4 bytes ~ 58 MB per image (forward only)
    conv_pool_fc = [r for r in s.shown if r.kind in ("Conv2d", "MaxPool2d", "Linear")]
    assert sum(r.activations for r in conv_pool_fc) == 13_547_520 + 1_530_368 + 9_192
    assert convs[-1].receptive_field == (196, 196)      # thirteen 3x3 convs + four pools before it


def test_summary_table_is_a_string_and_data(vgg16_summary):
    text = str(vgg16_summary)
    assert "138,357,544" in text and "102,760,448" in text
    data = vgg16_summary.to_dict()
    assert data["total_params"] == 138_357_544
    layer = next(l for l in data["layers"] if l["name"] == "features.0")
    assert layer["output_shape"] == (64, 224, 224) and layer["weights"] == 1_728


def test_googlenet_2014_inception_3a_3b():
    s = mc.summary(googlenet_2014(), (3, 224, 224), depth=1)
    a, b = s["inception3a"], s["inception3b"]
    # 3a on 28x28x192: 1x1 64 | 1x1 96 -> 3x3 128 | 1x1 16 -> 5x5 32 | pool -> 1x1 32
    w3a = 192 * 64 + 192 * 96 + 9 * 96 * 128 + 192 * 16 + 25 * 16 * 32 + 192 * 32
    # 3b on 28x28x256: 1x1 128 | 1x1 128 -> 3x3 192 | 1x1 32 -> 5x5 96 | pool -> 1x1 64
    w3b = 256 * 128 + 256 * 128 + 9 * 128 * 192 + 256 * 32 + 25 * 32 * 96 + 256 * 64
    assert a.weights == w3a == 163_328       # the paper's table prints 159K
    assert b.weights == w3b == 388_096       # the paper's table prints 380K
    assert a.macs == 28 * 28 * w3a and round(a.macs / 1e6) == 128
    assert b.macs == 28 * 28 * w3b and round(b.macs / 1e6) == 304
    assert a.output_shape == (256, 28, 28) and b.output_shape == (480, 28, 28)


@pytest.mark.parametrize("ctor, gmacs", [(resnet18, 1.81), (resnet34, 3.66)])
def test_resnet_basic_block_multiply_adds(ctor, gmacs):
    assert round(mc.summary(ctor(), (3, 224, 224)).total.macs / 1e9, 2) == gmacs


@pytest.mark.parametrize("ctor, paper, torchvision", [
    (resnet50, 3.86, 4.09), (resnet101, 7.57, 7.80), (resnet152, 11.28, 11.51)])
def test_resnet_bottleneck_stride_placement(ctor, paper, torchvision):
    """The paper puts the stride on the first 1x1 ("v1"): the 3x3 then runs on the smaller map.
    torchvision ("v1.5") strides the 3x3 instead, costing ~0.23 G more multiply-adds."""
    v1 = mc.summary(ctor(stride_in_1x1=True), (3, 224, 224)).total.macs
    v15 = mc.summary(ctor(), (3, 224, 224)).total.macs
    assert round(v1 / 1e9, 2) == paper
    assert round(v15 / 1e9, 2) == torchvision


class NaiveInception(nn.Module):
    """The 'naive' inception module of the lecture: 1x1, 3x3 and 5x5 convs and a 3x3 pool
    side by side on the same input, concatenated."""

    def __init__(self, c_in, c1, c3, c5):
        super().__init__()
        self.b1 = nn.Conv2d(c_in, c1, 1)
        self.b3 = nn.Conv2d(c_in, c3, 3, padding=1)
        self.b5 = nn.Conv2d(c_in, c5, 5, padding=2)
        self.pool = nn.MaxPool2d(3, stride=1, padding=1)

    def forward(self, x):
        return F.cat([self.b1(x), self.b3(x), self.b5(x), self.pool(x)], 1)


class BottleneckInception(nn.Module):
    """The same module with 1x1 'bottleneck' convs reducing depth before the 3x3 and 5x5,
    and after the pool."""

    def __init__(self, c_in, c1, r3, c3, r5, c5, pool_proj):
        super().__init__()
        self.b1 = nn.Conv2d(c_in, c1, 1)
        self.b3 = nn.Sequential(nn.Conv2d(c_in, r3, 1), nn.Conv2d(r3, c3, 3, padding=1))
        self.b5 = nn.Sequential(nn.Conv2d(c_in, r5, 1), nn.Conv2d(r5, c5, 5, padding=2))
        self.bp = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(c_in, pool_proj, 1))

    def forward(self, x):
        return F.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], 1)


def test_naive_vs_bottleneck_inception_module():
    naive = mc.summary(NaiveInception(256, 128, 192, 96), (256, 28, 28))
    reduced = mc.summary(BottleneckInception(256, 128, 64, 192, 64, 96, 64), (256, 28, 28))
    # naive:   28*28 * (128*1*1*256 + 192*3*3*256 + 96*5*5*256)                 = 854M
    assert naive.total.macs == 28 * 28 * (128 * 256 + 192 * 9 * 256 + 96 * 25 * 256)
    assert round(naive.total.macs / 1e6) == 854
    assert naive.rows[0].output_shape == (128 + 192 + 96 + 256, 28, 28)      # 672 channels
    # bottleneck: 28*28 * (128*256 + 64*256 + 192*9*64 + 64*256 + 96*25*64 + 64*256) = 271M
    # (a widely copied slide lists these very six convolutions but prints 358M)
    assert reduced.total.macs == 28 * 28 * (128 * 256 + 64 * 256 + 192 * 9 * 64
                                            + 64 * 256 + 96 * 25 * 64 + 64 * 256)
    assert round(reduced.total.macs / 1e6) == 271
    assert reduced.rows[0].output_shape == (480, 28, 28)


def test_5x5_conv_with_and_without_1x1_reduction():
    direct = mc.summary(nn.Conv2d(480, 48, 5, padding=2), (480, 14, 14))
    reduced = mc.summary(nn.Sequential(nn.Conv2d(480, 16, 1), nn.Conv2d(16, 48, 5, padding=2)),
                         (480, 14, 14))
    assert direct.total.macs == 14 * 14 * 48 * 5 * 5 * 480 == 112_896_000     # 112.9M
    assert reduced.total.macs == 14 * 14 * 16 * 480 + 14 * 14 * 48 * 25 * 16  # 5.3M
    assert round(reduced.total.macs / 1e6, 1) == 5.3


def test_three_stacked_3x3_convs_see_7x7_with_fewer_weights():
    c = 64
    stack = nn.Sequential(*[nn.Conv2d(c, c, 3, padding=1, bias=False) for _ in range(3)])
    single = nn.Conv2d(c, c, 7, padding=3, bias=False)
    s3, s7 = mc.summary(stack, (c, 16, 16)), mc.summary(single, (c, 16, 16))
    assert [r.receptive_field for r in s3.shown] == [(3, 3), (5, 5), (7, 7)]
    assert s7.shown[0].receptive_field == (7, 7)
    assert s3.total.params == 27 * c * c and s7.total.params == 49 * c * c


def test_receptive_field_of_asymmetric_and_dilated_convs():
    net = nn.Sequential(nn.Conv2d(1, 1, (1, 7), padding=(0, 3)), nn.Conv2d(1, 1, (7, 1), padding=(3, 0)),
                        nn.Conv2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 3, dilation=2))
    rfs = [r.receptive_field for r in mc.summary(net, (1, 32, 32)).shown]
    # 1x7 -> (1, 7); 7x1 -> (7, 7); 3x3/2 -> (9, 9), jump 2; 3x3 dilation 2 -> 9 + 2*2*2 = 17
    assert rfs == [(1, 7), (7, 7), (9, 9), (17, 17)]


def test_summary_bad_input_size():
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        mc.summary(nn.Conv2d(1, 1, 3), (1, 8))
