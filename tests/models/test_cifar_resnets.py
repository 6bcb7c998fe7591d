"""The CIFAR ResNets and plain nets (He et al. 2015, section 4.2), the pre-activation ResNets
(He et al. 2016) and the Wide ResNets (Zagoruyko & Komodakis 2016) against PyTorch
definitions written from the papers (tests/models_torch_reference.py), with
test_models.py's procedure: same state-dict keys and printout, PyTorch's weights copied,
float64 logits, input gradient, every parameter's gradient and the BatchNorm buffers
after a training step, then eval-mode logits, relative error < 1e-8.

The smallest members of each family keep this file fast: resnet20, plain20, the 20-layer
pre-activation bottleneck net (n=2: a projection and an identity block per stage),
preact_resnet18 and a one-block-per-stage bottleneck net of the same ImageNet form at
32x32, and WRN-10-2.  The parameter counts are checked for every
constructor (no forward pass).
"""
import numpy as np
import pytest
import torch

import minicnn as mc
from minicnn.__main__ import main

from tests import models_torch_reference as ref
from tests.models.test_models import (NUM_CLASSES, Case, assert_all_close, check_structure,
                                      run_both)

torch.set_num_threads(2)

# (test id, minicnn builder, PyTorch builder, input size, batch)
CASES = {
    "resnet20": (lambda: mc.models.resnet20(num_classes=NUM_CLASSES),
                 lambda: ref.CifarResNet(20, num_classes=NUM_CLASSES), 32, 2),
    "plain20": (lambda: mc.models.plain20(num_classes=NUM_CLASSES),
                lambda: ref.CifarResNet(20, num_classes=NUM_CLASSES, residual=False), 32, 2),
    # depth 20 (n=2): a projection block and an identity block per stage (depth 11, the
    # smallest, has only projection blocks)
    "preact_cifar_depth20": (
        lambda: mc.models.preact_resnet_cifar(20, num_classes=NUM_CLASSES),
        lambda: ref.PreActResNetCifar(20, num_classes=NUM_CLASSES), 32, 2),
    # layer4 sees 1x1 maps at 32x32: batch 3 gives its BatchNorms 3 values per channel
    # (with 2 the normalised output is +-1 whatever the input)
    "preact_resnet18": (lambda: mc.models.preact_resnet18(num_classes=NUM_CLASSES),
                        lambda: ref.PreActResNet(ref.PreActBasicBlock, [2, 2, 2, 2],
                                                 num_classes=NUM_CLASSES), 32, 3),
    # the ImageNet form with bottlenecks (stride on the 3x3, layer1's first block without
    # its own BN-ReLU), one block per stage
    "preact_bottlenecks_1111": (
        lambda: mc.models.PreActResNet(mc.models.preact_resnet.PreActBottleneck, [1, 1, 1, 1],
                                       num_classes=NUM_CLASSES),
        lambda: ref.PreActResNet(ref.PreActBottleneck, [1, 1, 1, 1], num_classes=NUM_CLASSES),
        32, 3),
    # dropout 0.3 puts the Dropout modules in the tree (structure, printout); the parity
    # run sets p = 0 in both, as test_models.py does
    "wrn_10_2": (lambda: mc.models.wrn(10, 2, num_classes=NUM_CLASSES, dropout=0.3),
                 lambda: ref.WideResNet(10, 2, num_classes=NUM_CLASSES, dropout=0.3), 32, 2),
}


@pytest.mark.parametrize("case_name", list(CASES))
def test_parity_with_the_papers_in_pytorch(case_name):
    mc_builder, torch_builder, size, batch = CASES[case_name]
    torch.manual_seed(0)
    mc.manual_seed(0)
    torch_model, mc_model = torch_builder(), mc_builder()
    check_structure(mc_model, torch_model)
    state = {k: v.numpy() for k, v in torch_model.state_dict().items()}
    case = Case(case_name, None, size, batch=batch)
    results = run_both(case, torch_model, mc_model, state, np.float64, ("train",))
    assert_all_close(case_name, results, rtol=1e-8, floor_fraction=1e-6)


def test_option_a_shortcut_subsamples_and_pads_with_zero_channels():
    x = mc.tensor(np.arange(2 * 3 * 4 * 4, dtype=np.float64).reshape(2, 3, 4, 4),
                  requires_grad=True)
    y = mc.models.cifar_resnet.ZeroPadShortcut(5, stride=2)(x)
    assert y.shape == (2, 8, 2, 2)
    np.testing.assert_array_equal(y.numpy()[:, :3], x.numpy()[:, :, ::2, ::2])
    assert not y.numpy()[:, 3:].any()
    y.sum().backward()
    expected = np.zeros((2, 3, 4, 4))
    expected[:, :, ::2, ::2] = 1
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


# constructor: (minicnn's count with 10 classes, the paper's figure in millions, its digits)
PAPER_COUNTS = {
    "resnet20": (269_722, 0.27, 2), "resnet32": (464_154, 0.46, 2),
    "resnet44": (658_586, 0.66, 2), "resnet56": (853_018, 0.85, 2),
    "resnet110": (1_727_962, 1.7, 1),
    "preact_resnet164": (1_703_258, 1.7, 1),
    "wrn40_4": (8_949_210, 8.9, 1), "wrn16_8": (10_961_370, 11.0, 1),
    "wrn28_10": (36_479_194, 36.5, 1),
}


@pytest.mark.parametrize("name", list(PAPER_COUNTS))
def test_parameter_counts_round_to_the_papers(name):
    count, paper, digits = PAPER_COUNTS[name]
    model = getattr(mc.models, name)()
    assert n_params(model) == count
    assert round(count / 1e6, digits) == paper
    if name.startswith("resnet"):      # option A has no parameters: the plain twin is as big
        assert n_params(getattr(mc.models, name.replace("resnet", "plain"))()) == count


def test_parameter_counts_of_the_other_constructors():
    # ResNet-1001: 10,327,706 is 10.3M; the paper's "10.2M" is the count without the
    # BatchNorms' scales and shifts (149,216 of them)
    model = mc.models.preact_resnet1001()
    bn = sum(n_params(m) for m in model.modules() if isinstance(m, mc.nn.BatchNorm2d))
    assert (n_params(model), bn) == (10_327_706, 149_216)
    assert round((n_params(model) - bn) / 1e6, 1) == 10.2
    # the WRNs of the paper's Table 1 and 4 through wrn(depth, k)
    for (depth, k), paper in {(40, 1): 0.6, (40, 2): 2.2, (16, 4): 2.7, (22, 8): 17.2}.items():
        assert round(n_params(mc.models.wrn(depth, k)) / 1e6, 1) == paper, (depth, k)
    # ImageNet form, 1000 classes: torchvision's ResNet minus the BN of each projection
    # shortcut, plus the final BN
    assert [n_params(getattr(mc.models, f"preact_resnet{d}")()) for d in (18, 34, 50)] == [
        11_687_720, 21_795_880, 25_549_352]


def test_depths_that_do_not_fit_the_pattern_are_refused():
    with pytest.raises(ValueError, match="6n\\+2"):
        mc.models.CifarResNet(21)
    with pytest.raises(ValueError, match="9n\\+2"):
        mc.models.preact_resnet_cifar(12)
    with pytest.raises(ValueError, match="6n\\+4"):
        mc.models.wrn(12, 2)


def test_summary_on_the_command_line_uses_32x32_and_10_classes(capsys):
    assert main(["summary", "resnet20"]) == 0
    out = capsys.readouterr().out
    assert "269,722" in out and "64x8x8" in out            # 10 classes; 32x32 -> 8x8 maps
