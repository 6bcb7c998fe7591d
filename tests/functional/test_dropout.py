"""dropout and dropout2d: inverted scaling, eval identity, mask/gradient consistency,
reproducibility with minicnn.manual_seed.  Their rows in tests/op_table.py add parity with
PyTorch on minicnn's own mask, finite differences and the refusals (bad p, integer input,
2-D input to dropout2d)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings, strategies as st

import minicnn as mc
import minicnn.functional as F
from minicnn.utils import assert_close


def positive(shape, dtype=np.float64, seed=0):
    """Inputs that are never 0, so a zero output means 'dropped' and nothing else."""
    return (1 + np.random.default_rng(seed).random(shape)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_inverted_scaling_and_gradient(dtype, p):
    x = positive((50, 40), dtype)
    X = mc.Tensor(x, requires_grad=True)
    y = F.dropout(X, p=p, training=True)
    assert y.dtype == dtype
    out = y.numpy()
    kept = out != 0
    assert_close(out[kept], x[kept] / (1 - p))            # kept units scaled by 1/(1-p)
    assert 0 < kept.sum() < kept.size
    g = np.random.default_rng(1).standard_normal(x.shape).astype(dtype)
    y.backward(g)
    assert_close(X.grad, kept * g / (1 - p))              # same mask in backward


def test_dropout_scaling_matches_torch():
    # the masks are random, but the value a kept unit takes must be the same as PyTorch's
    x = positive((200,))
    torch_out = TF.dropout(torch.tensor(x), p=0.3, training=True).numpy()
    ours = F.dropout(mc.tensor(x), p=0.3, training=True).numpy()
    assert_close(torch_out[torch_out != 0], x[torch_out != 0] / 0.7)
    assert_close(ours[ours != 0], x[ours != 0] / 0.7)


def test_dropout_drops_a_fraction_p():
    mc.manual_seed(0)
    out = F.dropout(mc.tensor(np.ones(200_000)), p=0.3).numpy()
    # binomial std is sqrt(0.21 / 2e5) ~ 0.001: 0.01 is ~10 standard deviations
    assert abs((out == 0).mean() - 0.3) < 0.01
    assert abs(out.mean() - 1.0) < 0.02                   # inverted dropout keeps the mean


@pytest.mark.parametrize("fn", [F.dropout, F.dropout2d])
def test_dropout_eval_is_identity(fn):
    x = mc.Tensor(positive((2, 3, 4, 4)), requires_grad=True)
    assert fn(x, p=0.5, training=False) is x
    assert fn(x, p=0.0, training=True) is x                # p == 0: nothing to drop


@pytest.mark.parametrize("fn", [F.dropout, F.dropout2d])
def test_dropout_p_1_gives_zeros_and_zero_grad(fn):
    x = mc.Tensor(positive((2, 3, 4, 4)), requires_grad=True)
    y = fn(x, p=1.0)
    assert_close(y, np.zeros(x.shape))
    y.backward(np.ones(x.shape))
    assert_close(x.grad, np.zeros(x.shape))


@pytest.mark.parametrize("fn", [F.dropout, F.dropout2d])
def test_dropout_is_reproducible_with_manual_seed(fn):
    x = mc.tensor(positive((4, 6, 3, 3)))
    mc.manual_seed(123)
    a, b = fn(x).numpy(), fn(x).numpy()
    mc.manual_seed(123)
    np.testing.assert_array_equal(fn(x).numpy(), a)
    np.testing.assert_array_equal(fn(x).numpy(), b)
    assert not np.array_equal(a, b)                        # successive calls draw new masks


@pytest.mark.parametrize("shape", [(8, 16, 3, 5), (8, 16, 7)])
def test_dropout2d_drops_whole_channels(shape):
    x = positive(shape)
    X = mc.Tensor(x, requires_grad=True)
    y = F.dropout2d(X, p=0.5)
    out = y.numpy().reshape(shape[0], shape[1], -1)
    dropped = (out == 0).all(axis=2)
    kept = (out != 0).all(axis=2)
    assert (dropped | kept).all()                          # never part of a channel
    assert dropped.any() and kept.any()
    assert_close(out[kept], (x.reshape(out.shape) / 0.5)[kept])
    g = np.random.default_rng(2).standard_normal(shape)
    y.backward(g)
    mask = np.broadcast_to(kept.reshape(shape[:2] + (1,) * (len(shape) - 2)), shape)
    assert_close(X.grad, mask * g / 0.5)


def test_dropout2d_channel_pattern_like_torch():
    # PyTorch zeroes whole (n, c) feature maps too: same structure, checked on torch's output
    x = positive((6, 10, 4, 4))
    t = TF.dropout2d(torch.tensor(x), p=0.5).numpy().reshape(6, 10, -1)
    assert ((t == 0).all(axis=2) | (t != 0).all(axis=2)).all()
    m = F.dropout2d(mc.tensor(x), p=0.5).numpy().reshape(6, 10, -1)
    assert ((m == 0).all(axis=2) | (m != 0).all(axis=2)).all()


def test_dropout_non_contiguous_input():
    x = positive((4, 5, 6, 3)).transpose(0, 3, 1, 2)
    X = mc.Tensor(x, requires_grad=True)
    y = F.dropout(X, p=0.4)
    kept = y.numpy() != 0
    assert_close(y.numpy()[kept], x[kept] / 0.6)
    g = np.random.default_rng(3).standard_normal(x.shape)
    y.backward(g)
    assert_close(X.grad, kept * g / 0.6)


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=3, max_size=4).map(tuple),
       p=st.floats(0.05, 0.95), seed=st.integers(0, 2**16), two_d=st.booleans())
def test_dropout_hypothesis(shape, p, seed, two_d):
    mc.manual_seed(seed)
    x = positive(shape, seed=seed)
    X = mc.Tensor(x, requires_grad=True)
    y = (F.dropout2d if two_d else F.dropout)(X, p=p)
    kept = y.numpy() != 0
    if two_d:   # the mask is constant over each (n, c) map
        flat = kept.reshape(shape[0], shape[1], -1)
        assert (flat.all(axis=2) | ~flat.any(axis=2)).all()
    assert_close(y.numpy()[kept], x[kept] / (1 - p))
    g = np.random.default_rng(seed + 1).standard_normal(shape)
    y.backward(g)
    assert_close(X.grad, kept * g / (1 - p))
