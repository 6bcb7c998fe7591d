"""ResNeXt, Wide ResNet and MobileNet v2 against torchvision: parameter counts of every
constructor, and parity (float64 logits, every parameter's gradient, BatchNorm buffers,
train and eval mode) with the helpers of test_models.py, on inputs small enough to keep
this file fast: reduced ResNets ([1, 1, 1, 1] bottlenecks) with ResNeXt's grouped and
Wide ResNet's widened 3x3 conv, mobilenet_v2 at 64x64 (at 32x32 its last BatchNorms see
1x1 maps, 2 values per channel: see test_models.py), and one full resnext50_32x4d forward
pass at 64x64.

PyTorch runs on one thread here: its float64 depthwise convolutions on two OpenMP threads
took from 0.1 to 2.5 s a call on this 2-core machine when other processes were busy (the
threads wait for each other); on one thread a mobilenet_v2 step takes 0.1 s."""
import numpy as np
import pytest
import torch
import torchvision

import minicnn as mc
from minicnn.__main__ import main
from minicnn.utils import as_numpy

from tests.models.test_models import (Case, NUM_CLASSES, assert_all_close, check_structure,
                                      max_rel_error, prepare, run_both, tv)


PARAMETER_COUNTS = {            # torchvision 0.29, 1000 classes
    "resnext50_32x4d": 25_028_904,
    "resnext101_32x8d": 88_791_336,
    "resnext101_64x4d": 83_455_272,
    "wide_resnet50_2": 68_883_240,
    "wide_resnet101_2": 126_886_696,
    "mobilenet_v2": 3_504_872,
}


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def count(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", list(PARAMETER_COUNTS))
def test_parameter_count_equals_torchvisions(name):
    with torch.device("meta"):          # shapes only: no 100M random numbers
        theirs = getattr(torchvision.models, name)()
    mine = getattr(mc.models, name)()
    assert count(mine) == count(theirs) == PARAMETER_COUNTS[name]
    mine_state, theirs_state = mine.state_dict(), theirs.state_dict()
    assert list(mine_state) == list(theirs_state)
    assert all(mine_state[k].shape == tuple(v.shape) for k, v in theirs_state.items())
    assert repr(mine) == repr(theirs)


def reduced_resnet(lib, **kwargs):
    """A ResNet of one Bottleneck per stage, from torchvision's or minicnn's own class."""
    module = torchvision.models.resnet if lib is torch else mc.models.resnet
    return lambda **kw: module.ResNet(module.Bottleneck, [1, 1, 1, 1], **kwargs, **kw)


REDUCED = {
    "resnext_groups4_width8": dict(groups=4, width_per_group=8),     # grouped 3x3 conv
    "wide_width128": dict(width_per_group=128),                      # Wide ResNet's width
}
CASES = [
    *[Case(name, reduced_resnet(torch, **kw), 32, mc_kwargs=dict(kw))
      for name, kw in REDUCED.items()],
    Case("mobilenet_v2", tv("mobilenet_v2"), 64),
]


def check_parity(case, mc_constructor):
    torch.manual_seed(0)
    mc.manual_seed(0)
    torch_model = case.torch_model(num_classes=NUM_CLASSES)
    mc_model = mc_constructor(num_classes=NUM_CLASSES)
    check_structure(mc_model, torch_model)
    # BatchNorm's fresh affine (1, 0) makes some statistics exactly 0 in exact arithmetic:
    # an inverted residual ends with a BN and no activation, so the next block's 1x1 conv
    # output has a batch mean of W @ 0, and its running mean is rounding noise on both sides.
    # Random affine parameters make every statistic (and the bias paths) non-trivial.
    with torch.no_grad():
        for m in torch_model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.5)
    state = {k: v.numpy() for k, v in torch_model.state_dict().items()}
    results = run_both(case, torch_model, mc_model, state, np.float64, ("train", "eval"))
    assert_all_close(case.name, results, rtol=1e-8, floor_fraction=1e-6)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_parity_with_torchvision(case):
    """Logits, input gradient and every parameter's gradient in train and eval mode, and
    the BatchNorm buffers after the training step: relative error < 1e-8 in float64."""
    if case.name == "mobilenet_v2":
        constructor = mc.models.mobilenet_v2
    else:
        constructor = reduced_resnet(mc, **case.mc_kwargs)
    check_parity(case, constructor)


def test_the_reduced_resnext_really_is_grouped():
    """The parity above is about grouped convolutions: the 3x3 conv has groups=4 and
    4 * 8 = 32 channels at the first stage, Wide ResNet's 128 (torchvision's meaning)."""
    resnext = reduced_resnet(mc, **REDUCED["resnext_groups4_width8"])()
    conv = resnext.layer1[0].conv2
    assert conv.groups == 4 and conv.weight.shape == (32, 8, 3, 3)
    wide = reduced_resnet(mc, **REDUCED["wide_width128"])()
    assert wide.layer1[0].conv2.weight.shape == (128, 128, 3, 3)
    assert wide.layer1[0].conv3.weight.shape == (256, 128, 1, 1)
    mobilenet = mc.models.mobilenet_v2()
    depthwise = mobilenet.features[2].conv[1][0]
    assert depthwise.groups == 96 and depthwise.weight.shape == (96, 1, 3, 3)
    assert [m.use_res_connect for m in mobilenet.features[1:4]] == [False, False, True]
    with pytest.raises(ValueError, match="BasicBlock only supports groups=1"):
        mc.models.ResNet(mc.models.BasicBlock, [1, 1, 1, 1], groups=2)


def test_full_resnext50_32x4d_logits_equal_torchvisions():
    """The whole resnext50_32x4d, forward only (train-mode batch statistics, then eval with
    the updated running statistics), float64 at 64x64."""
    torch.manual_seed(0)
    mc.manual_seed(0)
    torch_model = torchvision.models.resnext50_32x4d(num_classes=NUM_CLASSES)
    mc_model = mc.models.resnext50_32x4d(num_classes=NUM_CLASSES)
    state = {k: v.numpy() for k, v in torch_model.state_dict().items()}
    prepare(torch_model, state, np.float64)
    prepare(mc_model, state, np.float64)
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64))
    for train in (True, False):
        torch_model.train(train)
        mc_model.train(train)
        with torch.no_grad(), mc.no_grad():
            expected = torch_model(torch.from_numpy(x)).numpy()
            actual = mc_model(mc.tensor(x)).numpy()
        assert actual.dtype == np.float64
        assert max_rel_error(actual, expected) < 1e-8, ("train" if train else "eval")
    for key, value in torch_model.state_dict().items():         # running statistics
        mine = as_numpy(mc_model.state_dict()[key]).astype(np.float64)
        assert max_rel_error(mine, value.numpy().astype(np.float64)) < 1e-8, key


def test_cli_summary_of_mobilenet_v2(capsys):
    code = main(["summary", "mobilenet_v2", "--input", "3,64,64", "--depth", "1"])
    out = capsys.readouterr().out
    assert code == 0 and "features" in out and "classifier" in out
    assert "3,504,872" in out
    code = main(["summary", "resnext50_32x4d", "--input", "3,64,64", "--depth", "1"])
    assert code == 0 and "25,028,904" in capsys.readouterr().out
    code = main(["summary", "wide_resnet50_2", "--input", "3,64,64", "--depth", "1",
                 "--stride-in-1x1"])                   # the bottleneck option reaches them
    assert code == 0 and "68,883,240" in capsys.readouterr().out


def test_cli_gradcheck_of_mobilenet_v2(capsys):
    """`minicnn gradcheck mobilenet_v2` passes: at 64x64 (its default there), with the
    gradients that are 0 in exact arithmetic (the bias of each block's last batch norm,
    which reaches the loss only through 1x1 convs and batch norms) floored, as above."""
    code = main(["gradcheck", "mobilenet_v2", "--show", "1"])
    out = capsys.readouterr().out
    assert "batch 2 x 3 x 64 x 64" in out and "PASS" in out and code == 0, out
