"""Pooling beyond the op table: max_pool2d, avg_pool2d, adaptive_avg_pool2d and
adaptive_max_pool2d on random geometries (hypothesis) and on the named PyTorch traps.

The pools' parity with PyTorch on fixed samples (every setting, unbatched, N=0, NaN,
non-contiguous), their finite differences and their refusals are rows of tests/op_table.py,
run on both paths by tests/functional/test_ops.py.  Here too every parity test runs twice:
on the Numba fast path and on the NumPy reference (``path`` fixture), so the two
implementations are held to the same answers.
"""
import contextlib

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings, strategies as st

import minicnn as mc
import minicnn.functional as F
from minicnn import backend
from minicnn.utils import assert_close, compare_with_torch


@pytest.fixture(params=["numba", "numpy"])
def path(request):
    """Run the test body on the Numba fast path or on the NumPy reference."""
    if request.param == "numba":
        if not backend.numba_enabled():
            pytest.skip("Numba is not installed (or MINICNN_NUMBA=0)")
        yield "numba"
    else:
        with backend.numpy_reference():
            yield "numpy"


def no_ties(shape, dtype=np.float64, seed=0):
    """Distinct values in random order, so every max-pool window has a unique argmax."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    return rng.permutation(np.linspace(-5, 5, n)).reshape(shape).astype(dtype)


# ----- -inf ------------------------------------------------------------------
def test_maxpool_all_minus_inf_window_reports_its_first_tap_like_torch(path):
    """Nothing beats -inf: the index is the window's first tap inside the input (a valid index)."""
    x = np.full((1, 2, 4, 5), -np.inf)
    x[0, 1, 3, 4] = 1.0
    for kw in [dict(kernel_size=2, stride=1, padding=1), dict(kernel_size=2, stride=2, dilation=2),
               dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)]:
        y, idx = F.max_pool2d(mc.Tensor(x), **kw, return_indices=True)
        yt, idx_t = TF.max_pool2d(torch.from_numpy(x), **kw, return_indices=True)
        np.testing.assert_array_equal(y.numpy(), yt.numpy())
        np.testing.assert_array_equal(idx.numpy(), idx_t.numpy())
        assert ((0 <= idx.numpy()) & (idx.numpy() < 4 * 5)).all()
    y, idx = F.adaptive_max_pool2d(mc.Tensor(x), (3, 2), return_indices=True)
    yt, idx_t = TF.adaptive_max_pool2d(torch.from_numpy(x), (3, 2), return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), idx_t.numpy())


# ----- hypothesis: random geometries against PyTorch ----------------------------
@st.composite
def pool_geometry(draw, dilation=True):
    k = draw(st.tuples(st.integers(1, 4), st.integers(1, 4)))
    s = draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
    p = tuple(draw(st.integers(0, ki // 2)) for ki in k)
    d = draw(st.tuples(st.integers(1, 3), st.integers(1, 3))) if dilation else (1, 1)
    # smallest input the window fits in: d*(k-1) + 1 <= H + 2p
    hw = tuple(max(1, di * (ki - 1) + 1 - 2 * pi) + draw(st.integers(0, 6))
               for ki, pi, di in zip(k, p, d))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    return dict(shape=(n, c) + hw, k=k, s=s, p=p, d=d, ceil=draw(st.booleans()))


@settings(max_examples=40, deadline=None)
@given(g=pool_geometry(), seed=st.integers(0, 2**16))
@pytest.mark.filterwarnings("ignore:invalid value encountered")  # -inf - -inf in assert_close
def test_max_pool2d_random_geometry_matches_torch(g, seed):
    x = no_ties(g["shape"], seed=seed)
    kw = dict(kernel_size=g["k"], stride=g["s"], padding=g["p"], dilation=g["d"],
              ceil_mode=g["ceil"], return_indices=True)
    with torch.no_grad():
        finite = torch.isfinite(TF.max_pool2d(torch.from_numpy(x), **{**kw, "return_indices": False}))
    # a dilated window can miss the input entirely (-inf); PyTorch then routes gradient to a
    # wrong element (see test_maxpool_dilated_window_outside_the_input), so compare grads elsewhere
    compare_with_torch(lambda t: F.max_pool2d(t, **kw), lambda t: TF.max_pool2d(t, **kw), x,
                       grad_inputs=None if finite.all() else [])


@settings(max_examples=40, deadline=None)
@given(g=pool_geometry(dilation=False), count_include_pad=st.booleans(),
       divisor_override=st.sampled_from([None, None, 1, 2, 7]), seed=st.integers(0, 2**16))
def test_avg_pool2d_random_geometry_matches_torch(g, count_include_pad, divisor_override, seed):
    x = np.random.default_rng(seed).standard_normal(g["shape"])
    kw = dict(kernel_size=g["k"], stride=g["s"], padding=g["p"], ceil_mode=g["ceil"],
              count_include_pad=count_include_pad, divisor_override=divisor_override)
    compare_with_torch(lambda t: F.avg_pool2d(t, **kw), lambda t: TF.avg_pool2d(t, **kw), x)


@settings(max_examples=30, deadline=None)
@given(hw=st.tuples(st.integers(1, 15), st.integers(1, 15)),
       out=st.tuples(st.none() | st.integers(1, 9), st.integers(1, 9)), seed=st.integers(0, 2**16))
def test_adaptive_pools_random_sizes_match_torch(hw, out, seed):
    x = no_ties((2, 2) + hw, seed=seed)
    compare_with_torch(lambda t: F.adaptive_avg_pool2d(t, out), lambda t: TF.adaptive_avg_pool2d(t, out), x)
    compare_with_torch(lambda t: F.adaptive_max_pool2d(t, out, True),
                       lambda t: TF.adaptive_max_pool2d(t, out, True), x)


@settings(max_examples=30, deadline=None)
@given(g=pool_geometry(), op=st.sampled_from(["max", "avg", "adaptive_avg", "adaptive_max"]),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_numpy_reference_equals_numba(g, op, dtype, seed):
    if not backend.numba_enabled():
        pytest.skip("Numba is not installed (or MINICNN_NUMBA=0)")
    x = no_ties(g["shape"], dtype, seed)
    grad_out = None
    fn = {"max": lambda t: F.max_pool2d(t, g["k"], g["s"], g["p"], g["d"], g["ceil"], True),
          "avg": lambda t: F.avg_pool2d(t, g["k"], g["s"], g["p"], g["ceil"], seed % 2 == 0),
          "adaptive_avg": lambda t: F.adaptive_avg_pool2d(t, g["k"]),
          "adaptive_max": lambda t: F.adaptive_max_pool2d(t, g["k"], True)}[op]
    results = []
    for reference in (False, True):
        with backend.numpy_reference() if reference else contextlib.nullcontext():
            t = mc.Tensor(x, requires_grad=True)
            y = fn(t)
            values, indices = y if isinstance(y, tuple) else (y, None)
            if grad_out is None:
                grad_out = np.random.default_rng(seed).standard_normal(values.shape).astype(dtype)
            values.backward(grad_out)
            results.append((values, indices, t.grad))
    (v1, i1, g1), (v2, i2, g2) = results
    if op.endswith("max"):   # max pooling selects: both paths must agree bit for bit
        np.testing.assert_array_equal(v1.numpy(), v2.numpy())
        np.testing.assert_array_equal(i1.numpy(), i2.numpy())
    assert_close(v1, v2, name="output")
    assert_close(g1, g2, name="input gradient")


# ----- named PyTorch traps (shared/pytorch-semantics.md) -----------------------
def test_maxpool_padding_is_minus_inf_with_negative_inputs(path):
    x = no_ties((1, 2, 4, 4)) - 6              # all values in [-11, -1]
    y, _ = compare_with_torch(lambda t: F.max_pool2d(t, 3, 2, padding=1),
                              lambda t: TF.max_pool2d(t, 3, 2, padding=1), x)
    # zero padding would make every border window's maximum 0
    assert (y.numpy() < 0).all()
    # the top-left window covers x[0:2, 0:2] plus padding: its max is the max of those four
    np.testing.assert_array_equal(y.numpy()[..., 0, 0], x[..., :2, :2].max(axis=(-2, -1)))


def test_maxpool_ceil_mode_drops_window_starting_in_padding(path):
    # H = 5, k = 3, s = 3, p = 1: the ceil formula gives floor((5 + 2 - 3 + 2) / 3) + 1 = 3
    # windows, but the third would start at 2*3 - 1 = 5 = H, in the right padding: dropped.
    x = no_ties((1, 1, 5, 5))
    kw = dict(kernel_size=3, stride=3, padding=1, ceil_mode=True)
    y, _ = compare_with_torch(lambda t: F.max_pool2d(t, **kw), lambda t: TF.max_pool2d(t, **kw), x)
    assert y.shape == (1, 1, 2, 2)
    # the second window covers rows/columns 2..4
    assert y.numpy()[0, 0, 1, 1] == x[0, 0, 2:5, 2:5].max()


def test_avgpool_ceil_mode_border_divisors(path):
    # H = W = 6, k = 3, s = 2, p = 1, ceil mode: 4 windows per axis starting at -1, 1, 3, 5.
    #   window [-1, 2): 3 positions counting the padding, 2 real
    #   window [ 5, 8): overhangs the padded input [-1, 7); counted part [5, 7) = 2, real 1
    x = np.ones((1, 1, 6, 6))
    kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)
    y, _ = compare_with_torch(lambda t: F.avg_pool2d(t, **kw), lambda t: TF.avg_pool2d(t, **kw), x)
    per_axis = np.array([2 / 3, 1, 1, 1 / 2])  # real count / counted size
    assert_close(y.numpy()[0, 0], np.outer(per_axis, per_axis))
    # count_include_pad=False divides by the real count: the mean of ones is 1 everywhere
    y, _ = compare_with_torch(lambda t: F.avg_pool2d(t, **kw, count_include_pad=False),
                              lambda t: TF.avg_pool2d(t, **kw, count_include_pad=False), x)
    assert_close(y.numpy(), np.ones((1, 1, 4, 4)))


def test_avgpool_inception_border_divides_by_9(path):
    x = np.ones((1, 1, 5, 5))
    y, _ = compare_with_torch(lambda t: F.avg_pool2d(t, 3, stride=1, padding=1),
                              lambda t: TF.avg_pool2d(t, 3, stride=1, padding=1), x)
    expected = np.full((5, 5), 9.0)
    expected[0, :] = expected[-1, :] = expected[:, 0] = expected[:, -1] = 6.0   # edges
    expected[0, 0] = expected[0, -1] = expected[-1, 0] = expected[-1, -1] = 4.0  # corners
    assert_close(y.numpy()[0, 0], expected / 9)


def test_adaptive_avg_pool_13_to_6(path):
    # bins [floor(i*13/6), ceil((i+1)*13/6)): overlapping, all of size 3
    bins = [(0, 3), (2, 5), (4, 7), (6, 9), (8, 11), (10, 13)]
    x = np.random.default_rng(0).standard_normal((2, 3, 13, 13))
    y, _ = compare_with_torch(lambda t: F.adaptive_avg_pool2d(t, (6, 6)),
                              lambda t: TF.adaptive_avg_pool2d(t, (6, 6)), x)
    expected = np.array([[x[..., a:b, c:e].mean(axis=(-2, -1)) for c, e in bins] for a, b in bins])
    assert_close(y.numpy(), expected.transpose(2, 3, 0, 1))


def test_adaptive_avg_pool_7_to_7_identity(path):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 7))
    y, _ = compare_with_torch(lambda t: F.adaptive_avg_pool2d(t, (7, 7)),
                              lambda t: TF.adaptive_avg_pool2d(t, (7, 7)), x)
    np.testing.assert_array_equal(y.numpy(), x)
    t = mc.Tensor(x, requires_grad=True)
    g = np.random.default_rng(1).standard_normal(x.shape)
    F.adaptive_avg_pool2d(t, 7).backward(g)
    np.testing.assert_array_equal(t.grad.numpy(), g)


def test_googlenet_ceil_mode_shapes(path):
    # torchvision GoogLeNet on 224x224: every MaxPool2d has ceil_mode=True
    cases = [((1, 64, 112, 112), dict(kernel_size=3, stride=2), (56, 56)),   # floor mode: 55
             ((1, 192, 56, 56), dict(kernel_size=3, stride=2), (28, 28)),    # floor mode: 27
             ((1, 480, 28, 28), dict(kernel_size=3, stride=2), (14, 14)),
             ((1, 832, 14, 14), dict(kernel_size=2, stride=2), (7, 7)),
             ((1, 256, 28, 28), dict(kernel_size=3, stride=1, padding=1), (28, 28))]  # branch 4
    for shape, kw, out in cases:
        x = no_ties(shape, np.float32)
        y, _ = compare_with_torch(lambda t: F.max_pool2d(t, ceil_mode=True, **kw),
                                  lambda t: TF.max_pool2d(t, ceil_mode=True, **kw), x)
        assert y.shape[-2:] == out


def test_return_indices_match_torch(path):
    x = no_ties((2, 3, 11, 10))
    for kw in [dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2, stride=1, dilation=2),
               dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 1), ceil_mode=True)]:
        y, idx = F.max_pool2d(mc.Tensor(x), **kw, return_indices=True)
        yt, idx_t = TF.max_pool2d(torch.from_numpy(x), **kw, return_indices=True)
        assert idx.dtype == np.int64
        np.testing.assert_array_equal(idx.numpy(), idx_t.numpy())
        # flat indices into each H*W plane select the pooled values
        planes = x.reshape(2, 3, -1)
        np.testing.assert_array_equal(np.take_along_axis(planes, idx.numpy().reshape(2, 3, -1), -1),
                                      y.numpy().reshape(2, 3, -1))


def test_maxpool_ties_and_nan_pick_like_torch(path):
    # Not a gradient check (those need tie-free inputs): PyTorch keeps the first maximum
    # of a window in row-major order, and a NaN wins over any number.
    x = np.round(no_ties((2, 2, 7, 6)))            # integers in [-5, 5]: many ties
    x[0, 0, 2, 3] = x[1, 1, 5, 0] = np.nan
    kw = dict(kernel_size=3, stride=1, padding=1, return_indices=True)
    y, idx = F.max_pool2d(mc.Tensor(x), **kw)
    yt, idx_t = TF.max_pool2d(torch.from_numpy(x), **kw)
    np.testing.assert_array_equal(y.numpy(), yt.numpy())    # NaNs in the same places
    np.testing.assert_array_equal(idx.numpy(), idx_t.numpy())


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # -inf - -inf in assert_close
def test_maxpool_dilated_window_outside_the_input(path):
    # k=2, dilation=2, padding=1 on a 1-row input: row taps -1 and 1 both miss row 0.
    x = np.array([[[[1.0, -2.0, 3.0]]]])
    kw = dict(kernel_size=2, stride=1, padding=1, dilation=2, return_indices=True)
    (y, _), _ = compare_with_torch(lambda t: F.max_pool2d(t, **kw),
                                   lambda t: TF.max_pool2d(t, **kw), x, grad_inputs=[])
    assert np.isneginf(y.numpy()).all()
    # the outputs are constant (-inf): no gradient reaches the input.  (PyTorch agrees here;
    # in other such cases it sends the gradient to the reported, unrelated index.)
    t = mc.Tensor(x, requires_grad=True)
    F.max_pool2d(t, **{**kw, "return_indices": False}).backward(np.ones((1, 1, 1, 3)))
    np.testing.assert_array_equal(t.grad.numpy(), np.zeros_like(x))


def test_no_grad_input_gives_plain_tensor():
    y, idx = F.max_pool2d(mc.Tensor(no_ties((1, 1, 4, 4))), 2, return_indices=True)
    assert not y.requires_grad and not idx.requires_grad
