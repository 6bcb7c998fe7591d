"""Gradient routing through the two ways CNNs join branches, on NCHW tensors:
channel concatenation (Inception modules) and residual addition (ResNet blocks),
including a branch used twice.  PyTorch parity with random upstream gradients."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import minicnn as mc
import minicnn.functional as F
from minicnn.utils import assert_close, compare_with_torch

# float32: a handful of elementwise ops (exp, tanh) whose float32 results may differ from
# PyTorch's vectorised versions in the last bit or two.
TOL = {np.float64: {}, np.float32: dict(rtol=1e-5, atol=1e-6)}


def inception_block(lib):
    """Four branches of different widths concatenated along channels; branch ``a`` twice.

    lib: minicnn.functional or torch (both spell cat/relu/exp/tanh the same).
    x: (N, 4, H, W), w: (N, 3, H, W) -> (N, 2 + 4 + 3 + 2, H, W)
    """
    def block(x, w):
        a = x[:, 1:3] * 2.0                     # (N, 2, H, W): a channel slice
        b = lib.exp(x * 0.5)                    # (N, 4, H, W)
        c = lib.tanh(w) * x[:, :3]              # (N, 3, H, W): two inputs
        return lib.cat([a, b, c, a], dim=1)     # a used twice: its gradient is the sum
    return block


def residual_block(lib):
    """ResNet-style: out = relu(x + f(x)) + f(x), with f(x) used in two places.

    x, w: (N, C, H, W) -> (N, C, H, W); no broadcasting anywhere.
    """
    def block(x, w):
        f = lib.tanh(x * w)
        return lib.relu(x + f) + f
    return block


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inception_cat_over_channels_matches_torch(dtype):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 4, 3, 5)), rng.standard_normal((2, 3, 3, 5))
    out, _ = compare_with_torch(inception_block(F), inception_block(torch), x, w,
                                dtype=dtype, **TOL[dtype])
    assert out.shape == (2, 11, 3, 5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_residual_add_matches_torch(dtype):
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 3, 4, 4)), rng.standard_normal((2, 3, 4, 4))
    compare_with_torch(residual_block(F), residual_block(torch), x, w, dtype=dtype, **TOL[dtype])


def test_branch_used_twice_gets_both_gradients():
    # cat([a, a]) along channels: d/da of sum(g * out) is g[:, :C] + g[:, C:]
    a = mc.Tensor(np.random.default_rng(2).standard_normal((2, 3, 2, 2)), requires_grad=True)
    g = np.random.default_rng(3).standard_normal((2, 6, 2, 2))
    F.cat([a, a], dim=1).backward(g)
    assert_close(a.grad, g[:, :3] + g[:, 3:])


def test_inception_then_residual_non_contiguous_inputs():
    # NHWC arrays viewed as NCHW (as after a permute), fed through cat then a residual add
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 5, 4)).transpose(0, 3, 1, 2)     # (2, 4, 3, 5) view
    w = rng.standard_normal((2, 3, 5, 3)).transpose(0, 3, 1, 2)     # (2, 3, 3, 5) view
    assert not x.flags.c_contiguous and not w.flags.c_contiguous

    def both(lib):
        inception, residual = inception_block(lib), residual_block(lib)
        def net(x, w):
            y = inception(x, w)                        # (2, 11, 3, 5)
            return residual(y, y * 0.3)                # y used as input and as weight
        return net
    compare_with_torch(both(F), both(torch), x, w)


def test_cat_rejects_mismatched_spatial_sizes():
    with pytest.raises(ValueError, match="cat: shapes must match except in dim 1"):
        F.cat([mc.tensor(np.zeros((1, 2, 4, 4))), mc.tensor(np.zeros((1, 2, 3, 4)))], dim=1)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 3), widths=st.lists(st.integers(1, 4), min_size=1, max_size=5),
       h=st.integers(1, 4), w=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_cat_channels_hypothesis(n, widths, h, w, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((n, c, h, w)) for c in widths]

    def net(lib):
        # each branch passes through its own op; the last branch appears twice
        return lambda *xs: lib.cat([x * (i + 1.0) for i, x in enumerate(xs)] + [xs[-1]], dim=1)
    compare_with_torch(net(F), net(torch), *arrays, seed=seed)
