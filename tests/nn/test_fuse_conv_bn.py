"""Batch norm folded into the convolution before it (nn.utils.fuse_conv_bn_eval and
fuse_conv_bn_eval_model): the folded model computes the unfused eval output, to float64
rounding (and float32's), and refuses what it cannot fold."""
import numpy as np
import pytest
import torch
from torch.nn.utils.fusion import fuse_conv_bn_eval as torch_fuse_conv_bn_eval

import minicnn as mc
from minicnn import models, nn
from minicnn.nn.utils import fuse_conv_bn_eval, fuse_conv_bn_eval_model


def randomise_batch_norms(model, seed=0):
    """Running statistics and affine parameters far from 0 and 1, so that every fold matters."""
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.data[:] = rng.normal(0, 0.5, c)
            m.running_var.data[:] = rng.uniform(0.5, 2.0, c)
            if m.weight is not None:
                m.weight.data[:] = rng.uniform(0.5, 1.5, c)
            if m.bias is not None:
                m.bias.data[:] = rng.normal(0, 0.3, c)
    return model


@pytest.mark.parametrize("bias, affine, groups", [(True, True, 1), (False, True, 1),
                                                   (True, False, 1), (False, True, 2)])
def test_one_pair_matches_torch(bias, affine, groups):
    rng = np.random.default_rng(1)
    conv = nn.Conv2d(4, 6, 3, padding=1, bias=bias, groups=groups).double().eval()
    bn = randomise_batch_norms(nn.BatchNorm2d(6, eps=1e-3, affine=affine).double().eval())
    theirs_conv = torch.nn.Conv2d(4, 6, 3, padding=1, bias=bias, groups=groups).double().eval()
    theirs_bn = torch.nn.BatchNorm2d(6, eps=1e-3, affine=affine).double().eval()
    theirs_conv.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in conv.state_dict().items()})
    theirs_bn.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in bn.state_dict().items()})
    mine, theirs = fuse_conv_bn_eval(conv, bn), torch_fuse_conv_bn_eval(theirs_conv, theirs_bn)
    np.testing.assert_allclose(mine.weight.numpy(), theirs.weight.detach().numpy(), rtol=1e-13, atol=0)
    np.testing.assert_allclose(mine.bias.numpy(), theirs.bias.detach().numpy(), rtol=1e-13, atol=1e-15)
    x = mc.tensor(rng.standard_normal((2, 4, 5, 5)))
    np.testing.assert_allclose(mine(x).numpy(), bn(conv(x)).numpy(), rtol=1e-12, atol=1e-12)
    assert conv.bias is None or not np.allclose(conv.bias.numpy(), mine.bias.numpy())  # unchanged


MODELS = {   # name -> (maker, input height = width)
    "small_cnn": (lambda: models.small_cnn(in_channels=3), 28),
    "resnet18": (models.resnet18, 32),
    "vgg11_bn": (models.vgg11_bn, 32),
    "googlenet": (models.googlenet, 32),
}


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-11), (np.float32, 2e-5)])
@pytest.mark.parametrize("name", list(MODELS))
def test_folded_model_computes_the_unfused_eval_output(name, dtype, tol):
    make, size = MODELS[name]
    mc.manual_seed(0)
    model = randomise_batch_norms(make()).eval().to(dtype)
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    x = mc.tensor(np.random.default_rng(2).standard_normal((2, 3, size, size)).astype(dtype))
    with mc.no_grad():
        expected = model(x).numpy()
    fused = fuse_conv_bn_eval_model(model, x[:1])
    # in these models every batch norm follows a convolution: all that run in eval are folded
    # (GoogLeNet's auxiliary classifiers run in training only)
    left = [name for name, m in fused.named_modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(name.startswith("aux") for name in left), left
    assert sum(isinstance(m, nn.Identity) for m in fused.modules()) >= n_bn - len(left) > 0
    with mc.no_grad():
        got = fused(x).numpy()
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=0, atol=tol * scale)
    assert not fused.training and got.dtype == dtype
    for key, value in model.state_dict().items():        # the model itself is untouched
        assert np.array_equal(value.numpy(), before[key]), key


def test_batch_norm_after_something_else_stays():
    """Pre-activation order (BN after ReLU) is not a pair: only the conv -> BN pair folds."""
    model = randomise_batch_norms(nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.ReLU(), nn.BatchNorm2d(4), nn.Conv2d(4, 5, 1), nn.BatchNorm2d(5))).double().eval()
    x = mc.tensor(np.random.default_rng(3).standard_normal((2, 3, 6, 6)))
    fused = fuse_conv_bn_eval_model(model, x)
    assert [type(m).__name__ for m in fused] == ["Conv2d", "ReLU", "BatchNorm2d", "Conv2d", "Identity"]
    np.testing.assert_allclose(fused(x).numpy(), model(x).numpy(), rtol=1e-12, atol=1e-12)


class SkipFromConv(nn.Module):
    """bn(conv(x)) + conv(x): the convolution's output has two users."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y


class SharedPair(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3)

    def forward(self, x):
        return self.bn(self.conv(self.bn(self.conv(x))))


def test_what_cannot_be_folded_is_a_clear_error():
    x = mc.tensor(np.ones((1, 3, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"eval mode only; in training mode: Sequential"):
        fuse_conv_bn_eval_model(nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3)), x)
    half = nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3)).eval()
    half[1].train()
    with pytest.raises(ValueError, match=r"in training mode: 1 "):
        fuse_conv_bn_eval_model(half, x)
    with pytest.raises(ValueError, match=r"folding bn into conv changes the model's output"):
        fuse_conv_bn_eval_model(randomise_batch_norms(SkipFromConv()).eval(), x)
    with pytest.raises(ValueError, match=r"conv, bn runs 2 times in one forward"):
        fuse_conv_bn_eval_model(SharedPair().eval(), x)
    no_stats = nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3, track_running_stats=False)).eval()
    with pytest.raises(ValueError, match=r"no running statistics"):
        fuse_conv_bn_eval_model(no_stats, x)
    with pytest.raises(TypeError, match=r"expected an nn.Conv2d and an nn.BatchNorm2d, got Linear"):
        fuse_conv_bn_eval(nn.Linear(2, 3), nn.BatchNorm2d(3))
    with pytest.raises(ValueError, match=r"4 channels, the convolution 3"):
        fuse_conv_bn_eval(nn.Conv2d(3, 3, 1).eval(), nn.BatchNorm2d(4).eval())


def test_inplace_folds_the_model_itself_and_puts_it_back_when_the_check_fails():
    """``inplace=True`` (what ``minicnn evaluate`` and ``predict`` use): the same function as
    the copy, no copy of any weight; a model that cannot be folded is left as it was."""
    mc.manual_seed(0)
    model = randomise_batch_norms(models.resnet18(num_classes=5)).eval().double()
    x = mc.tensor(np.random.default_rng(4).standard_normal((2, 3, 32, 32)))
    with mc.no_grad():
        expected = model(x).numpy()
    conv1 = model.conv1
    fused = fuse_conv_bn_eval_model(model, x[:1], inplace=True)
    assert fused is model and isinstance(model.bn1, nn.Identity) and model.conv1 is not conv1
    with mc.no_grad():
        np.testing.assert_allclose(model(x).numpy(), expected, rtol=0, atol=1e-11 * np.abs(expected).max())
    skip = randomise_batch_norms(SkipFromConv()).eval()
    conv, bn = skip.conv, skip.bn
    with pytest.raises(ValueError, match="changes the model's output"):
        fuse_conv_bn_eval_model(skip, mc.tensor(np.ones((1, 3, 5, 5), np.float32)), inplace=True)
    assert skip.conv is conv and skip.bn is bn                      # put back
