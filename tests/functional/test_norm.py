"""batch_norm and local_response_norm: PyTorch parity, the traps of pytorch-semantics.md,
finite differences and bad-input errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings, strategies as st

import minicnn as mc
import minicnn.functional as F
from minicnn.utils import assert_close, compare_with_torch

# float32: batch statistics are sums of thousands of terms, accumulated in a different
# order than PyTorch's, and the input gradient subtracts two such means from g: ~1e-6
# relative error per value, so compare to 1e-4.
F32 = dict(rtol=1e-4, atol=1e-4)
TOL = {np.float64: {}, np.float32: F32}


# ----- batch norm ------------------------------------------------------------
def run_bn_pair(x, training, affine=True, momentum=0.1, eps=1e-5, running=True, seed=0, tol=None):
    """Run minicnn and torch batch_norm on the same data with a random upstream gradient;
    compare output, every input gradient and the running statistics."""
    rng = np.random.default_rng(seed)
    dtype, c = x.dtype.type, x.shape[1]
    w, b = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    rm, rv = rng.standard_normal(c).astype(dtype), (rng.random(c) + 0.5).astype(dtype)
    X, Xt = mc.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    W, Wt = (mc.Tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)) if affine else (None, None)
    B, Bt = (mc.Tensor(b, requires_grad=True), torch.tensor(b, requires_grad=True)) if affine else (None, None)
    RM, RMt = (mc.tensor(rm), torch.tensor(rm)) if running else (None, None)
    RV, RVt = (mc.tensor(rv), torch.tensor(rv)) if running else (None, None)
    y = F.batch_norm(X, RM, RV, W, B, training=training, momentum=momentum, eps=eps)
    yt = TF.batch_norm(Xt, RMt, RVt, Wt, Bt, training=training, momentum=momentum, eps=eps)
    g = rng.standard_normal(y.shape).astype(dtype)
    y.backward(g)
    yt.backward(torch.tensor(g))
    tol = TOL[dtype] if tol is None else tol
    assert_close(y, yt, name="output", **tol)
    assert_close(X.grad, Xt.grad, name="input grad", **tol)
    if affine:
        assert_close(W.grad, Wt.grad, name="weight grad", **tol)
        assert_close(B.grad, Bt.grad, name="bias grad", **tol)
    if running:
        assert_close(RM, RMt, name="running_mean", **tol)
        assert_close(RV, RVt, name="running_var", **tol)
    return y, RM, RV


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(6, 4), (3, 5, 4, 6)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_bn_matches_torch(dtype, shape, training, affine):
    x = (np.random.default_rng(1).standard_normal(shape) * 3 + 2).astype(dtype)
    run_bn_pair(x, training, affine=affine, momentum=0.3)


def test_bn_3d_input_matches_torch():
    run_bn_pair(np.random.default_rng(2).standard_normal((4, 3, 7)), training=True)


@pytest.mark.parametrize("training", [True, False])
def test_bn_float32_large_mean_matches_torch(training):
    """1000 + randn in float32: a one-pass variance (E[x^2] - E[x]^2) cancels catastrophically
    here (x^2 ~ 1e6 has float32 steps of 0.06) and is off by ~0.1; two passes are exact.
    Tolerance: float32 resolves x near 1000 only to 6e-5, so each x - mean carries that much
    rounding, and the weight gradient sums 128 of them: 1e-3 is what float32 can promise here,
    and 50 times finer than the one-pass error."""
    x = (1000 + np.random.default_rng(20).standard_normal((8, 3, 4, 4))).astype(np.float32)
    tol = dict(rtol=1e-3, atol=2e-3)
    y, RM, RV = run_bn_pair(x, training, momentum=1.0, tol=tol)   # running stats = this batch's
    if training:
        assert_close(RV, x.astype(np.float64).var(axis=(0, 2, 3), ddof=1), **tol)


@pytest.mark.parametrize("shape", [(0, 3, 4, 4), (0, 3), (2, 3, 0, 4)],
                         ids=["empty batch", "empty batch 1d", "no rows"])
@pytest.mark.parametrize("training", [True, False])
def test_bn_zero_size_input_matches_torch(shape, training):
    """Empty output, empty input gradient, zero weight/bias gradients; in training the
    running statistics stay as they were (an empty batch has none), as in PyTorch."""
    y, RM, RV = run_bn_pair(np.zeros(shape), training)
    assert y.shape == shape


def test_bn_running_var_is_unbiased():
    # momentum 1 makes running_var the batch's variance; it must be the unbiased one (1/(M-1))
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 2, 2))                # M = 8 values per channel
    rm, rv = mc.tensor(np.zeros(3)), mc.tensor(np.ones(3))
    F.batch_norm(mc.tensor(x), rm, rv, training=True, momentum=1.0)
    assert_close(rv, x.var(axis=(0, 2, 3), ddof=1))
    assert_close(rm, x.mean(axis=(0, 2, 3)))
    assert not np.allclose(rv.numpy(), x.var(axis=(0, 2, 3)), rtol=1e-3)   # biased is 7/8 of it
    # and the exponential average with the default momentum, against torch
    run_bn_pair(x, training=True, momentum=0.1)


def test_bn_normalizes_with_biased_variance():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 2, 2, 1)) * 5           # M = 6: biased/unbiased differ by 5/6
    y = F.batch_norm(mc.tensor(x), None, None, training=True, eps=1e-5)
    mean, var = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)
    assert_close(y, (x - mean) / np.sqrt(var + 1e-5))
    # per channel the output has biased variance 1 (unbiased normalisation would give 5/6)
    assert_close(y.numpy().var(axis=(0, 2, 3)), np.ones(2) / (1 + 1e-5 / var.ravel()), rtol=1e-8)


def test_bn_eval_uses_running_stats_and_leaves_them_alone():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 3, 2, 2))
    rm, rv = rng.standard_normal(3), rng.random(3) + 0.5
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    RM, RV = mc.tensor(rm), mc.tensor(rv)
    y = F.batch_norm(mc.tensor(x), RM, RV, mc.tensor(w), mc.tensor(b), training=False, eps=1e-3)
    c = lambda v: v.reshape(1, 3, 1, 1)   # noqa: E731
    assert_close(y, (x - c(rm)) / np.sqrt(c(rv) + 1e-3) * c(w) + c(b))
    assert_close(RM, rm)
    assert_close(RV, rv)
    run_bn_pair(x, training=False, eps=1e-3)           # gradients, against torch


def test_bn_updates_running_stats_in_place():
    rm, rv = mc.tensor(np.zeros(3)), mc.tensor(np.ones(3))
    arrays = rm.data, rv.data
    F.batch_norm(mc.tensor(np.random.default_rng(6).standard_normal((5, 3))), rm, rv, training=True)
    assert rm.data is arrays[0] and rv.data is arrays[1]
    assert not np.allclose(rm.numpy(), 0)


def test_bn_training_without_running_stats_matches_torch():
    run_bn_pair(np.random.default_rng(7).standard_normal((4, 3, 3, 3)), training=True, running=False)


def test_bn_float32_running_stats_stay_float32():
    rm, rv = mc.tensor(np.zeros(3, np.float32)), mc.tensor(np.ones(3, np.float32))
    y = F.batch_norm(mc.tensor(np.ones((4, 3), np.float32)), rm, rv, training=True)
    assert y.dtype == np.float32 and rm.dtype == np.float32 and rv.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bn_non_contiguous_input(dtype):
    nhwc = np.random.default_rng(8).standard_normal((3, 4, 5, 6)).astype(dtype)
    x = nhwc.transpose(0, 3, 1, 2)                     # (N, C, H, W) view, not contiguous
    assert not x.flags.c_contiguous
    run_bn_pair(x, training=True)
    run_bn_pair(x[:, ::2], training=False)


@pytest.mark.parametrize("training", [True, False])
def test_bn_gradcheck(training):
    rng = np.random.default_rng(9)
    x = mc.Tensor(rng.standard_normal((3, 2, 3, 2)), requires_grad=True)
    w = mc.Tensor(rng.standard_normal(2), requires_grad=True)
    b = mc.Tensor(rng.standard_normal(2), requires_grad=True)
    rm, rv = mc.tensor(rng.standard_normal(2)), mc.tensor(rng.random(2) + 0.5)
    mc.gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=training), x, w, b)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 4), c=st.integers(1, 5), hw=st.sampled_from([(), (1, 1), (2, 3), (4, 1)]),
       training=st.booleans(), momentum=st.floats(0.0, 1.0), seed=st.integers(0, 2**16))
def test_bn_hypothesis(n, c, hw, training, momentum, seed):
    x = np.random.default_rng(seed).standard_normal((n, c) + hw) * 2 - 1
    run_bn_pair(x, training, momentum=momentum, seed=seed)


def test_bn_bad_inputs():
    x = mc.tensor(np.zeros((4, 3, 2, 2)))
    with pytest.raises(ValueError, match=r"batch_norm: expected running_mean of shape \(3,\).*got \(4,\)"):
        F.batch_norm(x, mc.tensor(np.zeros(4)), mc.tensor(np.ones(3)), training=True)
    with pytest.raises(ValueError, match=r"batch_norm: expected weight of shape \(3,\)"):
        F.batch_norm(x, None, None, weight=mc.tensor(np.ones(2)), training=True)
    with pytest.raises(ValueError, match="batch_norm: running_mean and running_var must be given"):
        F.batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match="batch_norm: expected more than 1 value per channel"):
        F.batch_norm(mc.tensor(np.zeros((1, 3))), None, None, training=True)
    with pytest.raises(ValueError, match="batch_norm: expected more than 1 value per channel"):
        F.batch_norm(mc.tensor(np.zeros((1, 3, 1, 1))), None, None, training=True)
    for dtype in (np.int64, np.int32, bool):           # PyTorch: NotImplementedError
        with pytest.raises(NotImplementedError):
            TF.batch_norm(torch.zeros((2, 3), dtype=torch.from_numpy(np.zeros(1, dtype)).dtype),
                          torch.zeros(3), torch.ones(3))
        with pytest.raises(TypeError, match=f"batch_norm: expected a floating-point input, got dtype "
                                            f"{np.dtype(dtype)}"):
            F.batch_norm(mc.tensor(np.zeros((2, 3), dtype)), mc.tensor(np.zeros(3)),
                         mc.tensor(np.ones(3)))
    with pytest.raises(ValueError, match=r"batch_norm: expected input of shape \(N, C, ...\)"):
        F.batch_norm(mc.tensor(np.zeros(3)), None, None, training=True)


# ----- local response norm ----------------------------------------------------
def lrn_pair(x, size, alpha=1e-4, beta=0.75, k=1.0, dtype=np.float64):
    return compare_with_torch(lambda t: F.local_response_norm(t, size, alpha, beta, k),
                              lambda t: TF.local_response_norm(t, size, alpha, beta, k),
                              x, dtype=dtype, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6, 9])
def test_lrn_matches_torch(dtype, size):
    x = np.random.default_rng(size).standard_normal((2, 7, 3, 4)) * 2
    lrn_pair(x, size, alpha=1.0, beta=0.75, k=2.0, dtype=dtype)     # large alpha: see below
    lrn_pair(x, size, dtype=dtype)                                    # PyTorch's defaults


def test_lrn_even_size_asymmetric_window():
    # All channels 1 except channel j = 10: channel c's output shrinks exactly when j is in
    # window(c) = [c - n//2, c + (n-1)//2], i.e. c in [j - (n-1)//2, j + n//2].
    n, j, C = 4, 4, 9
    x = np.ones((1, C, 1, 1))
    x[0, j] = 10.0
    y = F.local_response_norm(mc.tensor(x), n, alpha=1.0).numpy()
    y_flat = F.local_response_norm(mc.tensor(np.ones((1, C, 1, 1))), n, alpha=1.0).numpy()
    changed = np.flatnonzero(~np.isclose(y, np.where(np.arange(C) == j, 10, 1)[None, :, None, None] * y_flat).ravel())
    assert changed.tolist() == [j - 1, j, j + 1, j + 2]          # one left, two right of j
    lrn_pair(x, n, alpha=1.0)


def _lrn_reference(x, n, alpha, beta, k, shift=0):
    """Straight from the formula, one channel at a time; ``shift`` moves the window
    (shift != 0 is a deliberately wrong implementation)."""
    C = x.shape[1]
    out = np.empty_like(x)
    for c in range(C):
        lo, hi = c - n // 2 + shift, c + (n - 1) // 2 + shift
        window = x[:, max(lo, 0):min(hi, C - 1) + 1]
        out[:, c] = x[:, c] * (k + alpha / n * (window ** 2).sum(axis=1)) ** -beta
    return out


def test_lrn_alpha_1_catches_off_by_one():
    x = np.random.default_rng(10).standard_normal((2, 6, 3, 3))
    for n in (2, 3, 5):
        want = TF.local_response_norm(torch.tensor(x), n, alpha=1.0, beta=0.75, k=1.0).numpy()
        assert_close(F.local_response_norm(mc.tensor(x), n, alpha=1.0), want)
        assert_close(_lrn_reference(x, n, 1.0, 0.75, 1.0), want)
        # an off-by-one window is far off at alpha=1 (this is what the test would catch)
        for shift in (-1, 1):
            assert np.abs(_lrn_reference(x, n, 1.0, 0.75, 1.0, shift) - want).max() > 1e-2


def test_lrn_alexnet_paper_constants():
    # Krizhevsky et al. 2012: b = a / (k + alpha * sum_{|c'-c| <= n/2} a_c'^2)^beta with
    # k=2, n=5, alpha=1e-4 (not divided by n), beta=0.75.  In PyTorch terms alpha = 5 * 1e-4.
    x = np.random.default_rng(11).standard_normal((2, 8, 3, 3)) * 30   # big enough to matter
    C = x.shape[1]
    paper = np.empty_like(x)
    for c in range(C):
        s = (x[:, max(0, c - 2):min(C - 1, c + 2) + 1] ** 2).sum(axis=1)
        paper[:, c] = x[:, c] / (2 + 1e-4 * s) ** 0.75
    y = F.local_response_norm(mc.tensor(x), 5, alpha=5 * 1e-4, beta=0.75, k=2.0)
    assert_close(y, paper)
    assert np.abs(paper - x / 2 ** 0.75).max() > 0.1     # the alpha term is not negligible
    lrn_pair(x, 5, alpha=5e-4, beta=0.75, k=2.0)


def test_lrn_other_ranks_and_non_contiguous():
    rng = np.random.default_rng(12)
    lrn_pair(rng.standard_normal((2, 5, 7)), 3, alpha=0.5)                  # (N, C, L)
    lrn_pair(rng.standard_normal((2, 5, 2, 3, 2)), 4, alpha=0.5)            # (N, C, D, H, W)
    x = rng.standard_normal((2, 4, 5, 6)).transpose(0, 3, 1, 2)             # NHWC -> NCHW view
    assert not x.flags.c_contiguous
    lrn_pair(x, 3, alpha=0.5)
    lrn_pair(x.astype(np.float32), 3, alpha=0.5, dtype=np.float32)


@pytest.mark.parametrize("size", [2, 3])
def test_lrn_gradcheck(size):
    x = mc.Tensor(np.random.default_rng(13).standard_normal((2, 5, 2, 3)), requires_grad=True)
    mc.gradcheck(lambda t: F.local_response_norm(t, size, alpha=1.0, beta=0.75, k=1.5), x)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 8), h=st.integers(1, 4), w=st.integers(1, 4),
       size=st.integers(1, 10), alpha=st.sampled_from([1e-4, 0.3, 1.0]),
       beta=st.sampled_from([0.5, 0.75, 1.0]), k=st.sampled_from([1.0, 2.0]), seed=st.integers(0, 2**16))
def test_lrn_hypothesis(n, c, h, w, size, alpha, beta, k, seed):
    x = np.random.default_rng(seed).standard_normal((n, c, h, w)) * 2
    lrn_pair(x, size, alpha, beta, k)


@pytest.mark.parametrize("shape", [(0, 5, 2, 3), (2, 0, 2, 3), (2, 5, 0, 3), (0, 4, 3)])
def test_lrn_zero_size_input_matches_torch(shape):
    y, _ = lrn_pair(np.zeros(shape), 3, alpha=1.0)
    assert y.shape == shape


def test_lrn_bad_inputs():
    with pytest.raises(TypeError, match=r"local_response_norm: expected a floating-point input, got dtype int64"):
        F.local_response_norm(mc.tensor(np.zeros((1, 3, 2, 2), np.int64)), 2)
    with pytest.raises(ValueError, match=r"local_response_norm: expected input of 3 or more dims.*\(4, 3\)"):
        F.local_response_norm(mc.tensor(np.zeros((4, 3))), 2)
    with pytest.raises(ValueError, match="local_response_norm: size must be a positive integer"):
        F.local_response_norm(mc.tensor(np.zeros((1, 3, 2, 2))), 0)
    with pytest.raises(ValueError, match="local_response_norm: size must be a positive integer"):
        F.local_response_norm(mc.tensor(np.zeros((1, 3, 2, 2))), 2.5)
