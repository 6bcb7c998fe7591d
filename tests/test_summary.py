"""mc.summary reproduces the figures the lectures quote. Each expected number below is
derived by hand in the comment next to it (or quoted from the paper), not read off the code."""
import re

import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from minicnn import nn
from minicnn.cli import main
from minicnn.models.googlenet import NaiveInception
from minicnn.summary import human
from minicnn.models import (alexnet_2012, googlenet, googlenet_2014, inception_v3, resnet18,
                            resnet34, resnet50, resnet101, resnet152, small_cnn, vgg16)


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


def test_vgg16_lecture_memory_table(vgg16_summary):
    """The lecture's VGG16 table, row by row: values stored per image in a forward pass
    (each ReLU works in place, so a conv row holds the values after its ReLU)."""
    s = vgg16_summary
    rows = [(r.kind, r.activations) for r in s.shown if r.kind != "ReLU" and r.kind != "Dropout"]
    stage = lambda size, c, convs: [("Conv2d", size * size * c)] * convs + [
        ("MaxPool2d", (size // 2) ** 2 * c)]
    assert rows == (stage(224, 64, 2) + stage(112, 128, 2) + stage(56, 256, 3) + stage(28, 512, 3)
                    + stage(14, 512, 3)        # 3,211,264 ... 100,352; pools 802,816 ... 25,088
                    + [("AdaptiveAvgPool2d", 25_088)]  # torchvision's, not in the paper: a copy
                    + [("Linear", 4096), ("Linear", 4096), ("Linear", 1000)])
    assert s.input_values == 224 * 224 * 3 == 150_528                 # the lecture's "150K"
    # input 150,528 + conv 2*3,211,264 + 2*1,605,632 + 3*802,816 + 3*401,408 + 3*100,352
    # (= 13,547,520) + pools 802,816 + 401,408 + 200,704 + 100,352 + 25,088 (= 1,530,368)
    # + fc 4,096 + 4,096 + 1,000 (= 9,192) = 15,237,608 values: the sum of the lecture's rows,
    # which it totals as "24M"; 15,237,608 * 4 bytes = 60,950,432 bytes = 61.0 MB (58.1 MiB).
    # minicnn's total adds torchvision's adaptive average pooling (7x7 -> 7x7, a copy):
    assert s.total_activations == 150_528 + 13_547_520 + 1_530_368 + 9_192 + 25_088 == 15_262_696
    assert s.total_activation_bytes == 4 * 15_262_696 == 61_050_784
    # parameters: 138,357,544 * 4 bytes = 553,430,176 bytes = 527.8 MiB (the lecture's "528MB")
    assert s.total.param_bytes == 4 * 138_357_544 == 553_430_176
    text = str(s)
    assert "15,262,696" in text and "58.2MiB" in text and "527.8MiB" in text and "150,528" in text


def small_resnet_summary(depth):
    return mc.summary(resnet18(num_classes=10), (3, 32, 32), depth=depth)


def test_memory_is_the_same_at_every_depth_and_rows_add_up():
    totals = set()
    for depth in (None, 0, 1, 2, 3):
        s = small_resnet_summary(depth)
        assert s.input_values + sum(r.activations for r in s.shown) == s.total_activations
        assert sum(r.macs for r in s.shown) == s.total.macs
        totals.add((s.total_activations, s.total_activation_bytes))
    assert len(totals) == 1
    # a block's residual addition is an op of the block's own forward: a row of its own
    leaf_names = [r.name for r in small_resnet_summary(None).shown]
    assert "layer1.0 (own ops)" in leaf_names


def test_memory_counts_each_distinct_tensor_once_in_its_dtype():
    """conv 2x8x8 (128 values) -> ReLU (in place: 0) -> flatten (a view: 0) -> linear (3)."""
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(inplace=True), nn.Flatten(),
                        nn.Linear(128, 3))
    s = mc.summary(net, (1, 8, 8))
    assert [r.activations for r in s.shown] == [128, 0, 0, 3]
    assert s.total_activations == 64 + 128 + 3 and s.total_activation_bytes == 4 * 195
    d = mc.summary(net.double(), (1, 8, 8), dtype=np.float64)
    assert d.total_activation_bytes == 8 * 195 and d.total.param_bytes == 8 * d.total.params


def test_auxiliary_heads_are_not_in_the_totals():
    g = mc.summary(googlenet(), (3, 224, 224), depth=1)
    assert g.total.params == 6_624_904                        # torchvision's GoogLeNet in eval
    assert {r.name: r.params for r in g.not_run} == {"aux1": 3_188_968, "aux2": 3_191_016}
    assert "aux1, aux2: 6,379,984 params" in str(g) and "13,004,888" not in str(g)
    p = mc.summary(googlenet_2014(), (3, 224, 224), depth=1)
    assert p.total.params == 6_998_552                        # the paper's network
    # 60,965,224 / 6,998,552 = 8.71: "12x fewer parameters than AlexNet" is 8.7x
    assert round(mc.summary(alexnet_2012(), (3, 227, 227), depth=0).total.params
                 / p.total.params, 1) == 8.7


def test_inception_v3_totals_and_square_receptive_fields():
    s = mc.summary(inception_v3(), (3, 299, 299), depth=1)
    assert s.total.params == 23_834_568 and [r.name for r in s.not_run] == ["AuxLogits"]
    assert s.not_run[0].params == 27_161_264 - 23_834_568 == 3_326_696
    # Mixed_7a ends at 1055 with jump 32 (five stride-2 steps); Mixed_7b's deepest branch,
    # 1x1 -> 3x3 -> (1x3 | 3x1), adds (3 - 1) * 32 + (3 - 1) * 32 = 128 on each axis
    assert s["Mixed_7a"].receptive_field == (1055, 1055)
    assert s["Mixed_7b"].receptive_field == (1183, 1183)


class Side(nn.Module):
    """A 1x3 conv beside a 3x1 conv, concatenated (Inception v3's InceptionE ends so)."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(1, 1, (1, 3), padding=(0, 1)), nn.Conv2d(1, 1, (3, 1), padding=(1, 0))

    def forward(self, x):
        return F.cat([self.a(x), self.b(x)], 1)


def test_receptive_field_of_parallel_branches_is_per_axis():
    # 1x3 sees 1 row and 3 columns, 3x1 sees 3 rows and 1 column: together 3x3
    assert mc.summary(Side(), (1, 8, 8)).total.receptive_field == (3, 3)


class ConvPoolConv(nn.Module):
    def __init__(self, pool):
        super().__init__()
        self.c1, self.c2, self.pool = nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3), pool

    def forward(self, x):
        return self.c2(self.pool(self.c1(x), 2))


@pytest.mark.parametrize("pool", [F.max_pool2d, F.avg_pool2d])
def test_functional_pooling_grows_the_receptive_field(pool):
    # conv3: 3 (jump 1); pool 2/2: 3 + 1*1 = 4, jump 2; conv3: 4 + 2*2 = 8
    s = mc.summary(ConvPoolConv(pool), (1, 16, 16))
    assert s["c2"].receptive_field == (8, 8)


def test_padded_and_adaptive_pooling_strides():
    # 3x3/2 pool padded by 1 (ResNet's stem): windows in the padding start closer together,
    # the stride is still 2: conv3 -> 3; pool -> 3 + 2 = 5, jump 2; conv3 -> 5 + 2*2 = 9
    net = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.MaxPool2d(3, 2, padding=1),
                        nn.Conv2d(1, 1, 3, padding=1))
    assert [r.receptive_field for r in mc.summary(net, (1, 16, 16)).shown] == [(3, 3), (5, 5), (9, 9)]
    # adaptive 8 -> 4 is a 2/2 pool: 2, jump 2; conv3 -> 2 + 2*2 = 6 on a 2x2 map; global
    # pooling spans that map: 6 + (2 - 1) * 2 = 8
    net = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Conv2d(1, 1, 3), nn.AdaptiveAvgPool2d(1))
    assert [r.receptive_field for r in mc.summary(net, (1, 8, 8)).shown] == [(2, 2), (6, 6), (8, 8)]


def run_summary_cli(capsys, *argv):
    assert main(["summary", *argv]) == 0
    return capsys.readouterr().out


def test_cli_picks_each_models_input_and_classes(capsys):
    out = run_summary_cli(capsys, "alexnet_2012", "--depth", "0")     # needs 227x227
    assert "input 3x227x227" in out and "60,965,224" in out
    out = run_summary_cli(capsys, "small_cnn")            # the network `minicnn train` trains
    assert "input 1x8x8" in out and f"{sum(p.numel() for p in small_cnn().parameters()):,}" in out
    assert re.search(r"^fc \(Linear\) +10 ", out, flags=re.M)
    out = run_summary_cli(capsys, "small_cnn", "--num-classes", "3", "--depth", "1")
    assert re.search(r"^fc \(Linear\) +3 ", out, flags=re.M)


def test_cli_stride_in_1x1(capsys):
    """At 224 the two placements cost 3.86 and 4.09 G (above); 32x32 keeps the test quick."""
    macs = {v1: mc.summary(resnet50(stride_in_1x1=v1), (3, 32, 32)).total.macs for v1 in (True, False)}
    assert macs[True] < macs[False]
    flag = ("--stride-in-1x1",)
    for v1 in (True, False):
        out = run_summary_cli(capsys, "resnet50", "--input", "3,32,32", "--depth", "0", *flag[:v1])
        assert re.search(rf"^total .* {human(macs[v1])}$", out, flags=re.M)
    with pytest.raises(SystemExit, match="bottleneck"):
        main(["summary", "resnet18", "--stride-in-1x1"])


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
    # (the lecture's slide, seed 002, lists these six convolutions, prints the 5x5 term as
    # 96x96 -- rows adding up to 331.6M -- and the total as 358M)
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


def test_summary_counts_the_same_whichever_convolution_algorithm_runs(monkeypatch):
    """conv2d may run as im2col or Winograd (the default picks by shape): the table describes
    the layer, so multiply-adds and receptive fields are those of the direct convolution."""
    from minicnn.functional import conv_algorithm
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))
    tables = {}
    for algorithm in ("im2col", "winograd"):
        monkeypatch.setattr(conv_algorithm, "CONV_ALGORITHM", algorithm)
        tables[algorithm] = mc.summary(model, (3, 16, 16))
    second = [r for r in tables["winograd"].rows if r.kind == "Conv2d"][1]
    assert second.macs == 16 * 16 * 8 * (8 * 3 * 3)          # each output: 8 channels x 3x3
    assert second.receptive_field == (5, 5)                         # two 3x3 windows: 3 + 2
    assert str(tables["winograd"]) == str(tables["im2col"])


# ----- the kernel/stride column, and the notes under the table ----------------------------
def test_kernel_stride_column_reads_the_lectures_layers():
    """The lecture's AlexNet: "CONV1: 96 11x11 filters at stride 4", "MAX POOL1: 3x3 filters
    at stride 2", "CONV2: 256 5x5 filters at stride 1", "CONV3: 384 3x3 filters at stride 1"."""
    s = mc.summary(alexnet_2012(), (3, 227, 227))
    windows = [(r.kind, r.window) for r in s.shown if r.window]
    assert windows == [("Conv2d", "11x11/4"), ("MaxPool2d", "3x3/2"), ("Conv2d", "5x5/1"),
                       ("MaxPool2d", "3x3/2"), ("Conv2d", "3x3/1"), ("Conv2d", "3x3/1"),
                       ("Conv2d", "3x3/1"), ("MaxPool2d", "3x3/2")]
    assert all(r.window == "" for r in s.shown if r.kind in ("ReLU", "Linear", "LocalResponseNorm"))
    assert re.search(r"^features\.0 \(Conv2d\) +96x55x55 +11x11/4 +34,944 ", str(s), flags=re.M)


def test_kernel_stride_of_asymmetric_dilated_strided_and_adaptive_windows():
    net = nn.Sequential(nn.Conv2d(1, 1, (1, 7), padding=(0, 3)),        # 1 row, 7 columns
                        nn.Conv2d(1, 1, 3, stride=(2, 1), padding=1),   # stride 2 down, 1 across
                        nn.Conv2d(1, 1, 3, dilation=2, padding=2),      # 3 taps, 2 pixels apart
                        nn.MaxPool2d(2),
                        nn.AdaptiveAvgPool2d(3))                        # 8x16 -> 3x3: uneven bins
    s = mc.summary(net, (1, 32, 32))
    # the pool sees 16x32 (the strided conv halves the rows) and gives 8x16; adaptive bins
    # [floor(i*n/3), ceil((i+1)*n/3)): 8 rows -> [0,3) [2,6) [5,8), the widest 4 rows;
    # 16 columns -> [0,6) [5,11) [10,16), 6 columns
    assert [r.window for r in s.shown] == ["1x7/1", "3x3/2x1", "3x3/1 d2", "2x2/2",
                                           "4x6 adaptive"]


def test_a_block_shows_its_window_only_when_it_slides_one():
    g = mc.summary(googlenet_2014(), (3, 224, 224), depth=1)
    assert g["conv1"].window == "7x7/2"            # ConvReLU: conv -> ReLU, one window
    assert g["inception3a"].window == ""           # four branches: several windows
    r = mc.summary(resnet18(), (3, 224, 224), depth=1)
    assert r["layer1"].window == "" and r["maxpool"].window == "3x3/2"


def test_bias_additions_are_counted_apart_and_match_torchinfos_count():
    """torchinfo counts a bias addition per output value of a conv / linear layer as a
    mult-add; minicnn leaves them out of mult-adds and says how many there are.  torchvision's
    AlexNet: conv 64x55x55 + 192x27x27 + 384x13x13 + 256x13x13 + 256x13x13 (193,600 + 139,968
    + 64,896 + 43,264 + 43,264) + fc 4,096 + 4,096 + 1,000 = 494,184, counted here from the
    outputs of torch's own layers."""
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    reference = torchvision.models.alexnet()
    counted = []
    for layer in reference.modules():
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear)) and layer.bias is not None:
            layer.register_forward_hook(lambda m, i, out: counted.append(out.numel()))
    with torch.no_grad():
        reference(torch.zeros(1, 3, 224, 224))
    assert sum(counted) == 494_184
    s = mc.summary(mc.models.alexnet(), (3, 224, 224))
    assert s.total.bias_adds == 494_184
    assert s["features.0"].macs == 64 * 55 * 55 * (11 * 11 * 3)   # products only, no bias
    assert "not counted: the 494,184 bias additions" in str(s)
    # no bias, no additions: ResNet's convs have none, only its fc (1,000)
    assert mc.summary(resnet18(), (3, 64, 64)).total.bias_adds == 1000


def test_receptive_field_note_only_when_a_field_passes_the_image():
    small = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, padding=1))
    assert "RF:" not in str(mc.summary(small, (1, 8, 8)))              # 3 + 2 = 5 on 8x8
    assert "RF: 5x5 is more than the 4x4 image" in str(mc.summary(small, (1, 4, 4)))
    assert "RF: 5x5 is more than the 5x4 image" in str(mc.summary(small, (1, 5, 4)))
    assert "RF:" not in str(mc.summary(small, (1, 5, 5)))              # equal is not more
