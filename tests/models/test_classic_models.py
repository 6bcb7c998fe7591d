"""LeNet-5, ZFNet, Network in Network and the stochastic-depth ResNet-110 against PyTorch
definitions written from the papers (tests/models_torch_reference.py), with
test_models.py's procedure: same state-dict keys and printout, PyTorch's weights copied,
float64 logits, input gradient and every parameter's gradient in training mode, the
BatchNorm buffers after that step, then logits and gradients again in eval mode;
relative error < 1e-8.  Dropout and stochastic depth are switched off (p = 0) for the
parity runs (their masks come from different generators); what stochastic depth drops
is tested on its own below.
"""
import numpy as np
import pytest
import torch

import minicnn as mc
from minicnn.__main__ import main

from tests import models_torch_reference as ref
from tests.models.test_models import (NUM_CLASSES, assert_all_close, check_structure, prepare,
                                      run_step)

torch.set_num_threads(2)


def no_stochastic_depth(model):
    for m in model.modules():
        if type(m).__name__ == "StochasticDepth":
            m.p = 0.0
    return model


# (minicnn builder, PyTorch builder, input (C, H, W), batch)
CASES = {
    "lenet5": (lambda: mc.models.lenet5(num_classes=NUM_CLASSES),
               lambda: ref.LeNet5(num_classes=NUM_CLASSES), (1, 32, 32), 2),
    # no BatchNorm: one image is enough for the 224x224 float64 pass
    "zfnet": (lambda: mc.models.zfnet(num_classes=NUM_CLASSES),
              lambda: ref.ZFNet(num_classes=NUM_CLASSES), (3, 224, 224), 1),
    "nin_cifar10": (lambda: mc.models.nin_cifar10(num_classes=NUM_CLASSES),
                    lambda: ref.NiN(num_classes=NUM_CLASSES), (3, 32, 32), 2),
    "resnet110_stochastic_depth": (
        lambda: mc.models.resnet110_stochastic_depth(num_classes=NUM_CLASSES),
        lambda: ref.StochasticDepthResNet(110, num_classes=NUM_CLASSES),
        (3, 32, 32), 2),
}


def run_both(torch_model, mc_model, state, shape, batch):
    """test_models.run_both for any number of input channels, with a backward pass in
    training and in eval mode."""
    prepare(torch_model, state, np.float64)
    prepare(mc_model, state, np.float64)
    x = np.random.default_rng(0).standard_normal((batch, *shape))
    upstream = list(np.random.default_rng(1).standard_normal((1, batch, NUM_CLASSES)))
    results = {}
    for mode in ("train", "eval"):
        results[mode] = tuple(run_step(model, x, upstream, mode == "train", True)
                              for model in (mc_model, torch_model))
        mine, theirs = results[mode]
        assert list(mine) == list(theirs)
    return results


@pytest.mark.parametrize("case_name", list(CASES))
def test_parity_with_the_papers_in_pytorch(case_name):
    mc_builder, torch_builder, shape, batch = CASES[case_name]
    torch.manual_seed(0)
    mc.manual_seed(0)
    torch_model, mc_model = torch_builder(), mc_builder()
    check_structure(mc_model, torch_model)     # the printout: every block's p too
    no_stochastic_depth(torch_model), no_stochastic_depth(mc_model)
    state = {k: v.numpy() for k, v in torch_model.state_dict().items()}
    results = run_both(torch_model, mc_model, state, shape, batch)
    assert results["train"][0]["output 0"].shape == (batch, NUM_CLASSES)
    assert_all_close(case_name, results, rtol=1e-8, floor_fraction=1e-6)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_parameter_counts():
    # LeNet-5 as usually reconstructed: 156 + 2,416 + 48,120 + 10,164 + 850
    assert n_params(mc.models.lenet5()) == 61_706
    # ZFNet, 1000 classes (the paper gives no total): AlexNet's 2012 layout without groups
    assert n_params(mc.models.zfnet()) == 62_357_608
    # NiN on CIFAR-10 (the paper gives no total)
    assert n_params(mc.models.nin_cifar10()) == 966_986
    # stochastic depth adds no parameters: ResNet-110's 1.7M, the paper's figure
    count = n_params(mc.models.resnet110_stochastic_depth())
    assert count == n_params(mc.models.resnet110()) == 1_727_962
    assert round(count / 1e6, 1) == 1.7


def test_stochastic_depth_probabilities_decay_linearly():
    model = mc.models.resnet110_stochastic_depth(p_last=0.5)
    layers = [m for m in model.modules() if isinstance(m, mc.nn.StochasticDepth)]
    assert len(layers) == 54
    assert all(m.mode == "row" for m in layers)
    np.testing.assert_allclose([m.p for m in layers], np.arange(1, 55) / 54 * 0.5)
    assert layers[-1].p == 0.5
    model = mc.models.resnet110_stochastic_depth(p_last=0.8)
    assert [m.p for m in model.modules() if isinstance(m, mc.nn.StochasticDepth)][-1] == (
        pytest.approx(0.2))


@pytest.mark.parametrize("index", [0, 5])     # the downsampling block of layer2, and another
def test_stochastic_depth_drops_whole_rows_of_a_branch_in_training_only(index):
    mc.manual_seed(0)
    model = mc.models.resnet110_stochastic_depth(p_last=0.5).to(np.float64)
    block = model.layer2[index]
    block.stochastic_depth.p = 0.5
    planes = block.conv1.in_channels
    x = mc.tensor(np.abs(np.random.default_rng(0).standard_normal((16, planes, 16, 16))))

    def branch_and_shortcut():
        branch = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(x))))).numpy()
        shortcut = (x if block.downsample is None else block.downsample(x)).numpy()
        return branch, shortcut

    block.train()
    with mc.no_grad():
        out = block(x).numpy()
        branch, shortcut = branch_and_shortcut()     # batch statistics: the same branch
    dropped = np.array([np.array_equal(out[i], np.maximum(shortcut[i], 0)) for i in range(16)])
    kept = np.array([np.allclose(out[i], np.maximum(shortcut[i] + 2 * branch[i], 0),
                                 rtol=1e-12, atol=1e-12) for i in range(16)])
    assert (dropped ^ kept).all()             # every row wholly dropped or wholly kept (x2)
    assert 0 < dropped.sum() < 16
    block.eval()
    with mc.no_grad():
        out = block(x).numpy()
        branch, shortcut = branch_and_shortcut()
    np.testing.assert_allclose(out, np.maximum(shortcut + branch, 0), rtol=1e-12, atol=1e-12)
    assert not np.allclose(out, np.maximum(shortcut, 0))


def test_input_sizes_are_checked():
    with pytest.raises(ValueError, match="1x32x32"):
        mc.models.lenet5()(mc.tensor(np.zeros((1, 1, 36, 36), np.float32)))


def test_summary_on_the_command_line_gives_lenet5_one_32x32_channel(capsys):
    assert main(["summary", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert "61,706" in out and "1x32x32" in out and "120x1x1" in out
