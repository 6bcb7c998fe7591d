"""batch_norm and local_response_norm beyond the op table: the traps of pytorch-semantics.md
(unbiased running variance, biased normalisation, in-place running statistics, LRN's
asymmetric even window and the paper's constants) and hypothesis against PyTorch.  Their
parity on fixed samples (every mode and rank, large means, N=0, NaN, non-contiguous),
finite differences and refusals are rows of tests/op_table.py."""
import numpy as np
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


def test_bn_float32_running_stats_stay_float32():
    rm, rv = mc.tensor(np.zeros(3, np.float32)), mc.tensor(np.ones(3, np.float32))
    y = F.batch_norm(mc.tensor(np.ones((4, 3), np.float32)), rm, rv, training=True)
    assert y.dtype == np.float32 and rm.dtype == np.float32 and rv.dtype == np.float32


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 4), c=st.integers(1, 5), hw=st.sampled_from([(), (1, 1), (2, 3), (4, 1)]),
       training=st.booleans(), momentum=st.floats(0.0, 1.0), seed=st.integers(0, 2**16))
def test_bn_hypothesis(n, c, hw, training, momentum, seed):
    x = np.random.default_rng(seed).standard_normal((n, c) + hw) * 2 - 1
    run_bn_pair(x, training, momentum=momentum, seed=seed)


# ----- local response norm ----------------------------------------------------
def lrn_pair(x, size, alpha=1e-4, beta=0.75, k=1.0, dtype=np.float64):
    return compare_with_torch(lambda t: F.local_response_norm(t, size, alpha, beta, k),
                              lambda t: TF.local_response_norm(t, size, alpha, beta, k),
                              x, dtype=dtype, **TOL[dtype])


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


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 8), h=st.integers(1, 4), w=st.integers(1, 4),
       size=st.integers(1, 10), alpha=st.sampled_from([1e-4, 0.3, 1.0]),
       beta=st.sampled_from([0.5, 0.75, 1.0]), k=st.sampled_from([1.0, 2.0]), seed=st.integers(0, 2**16))
def test_lrn_hypothesis(n, c, h, w, size, alpha, beta, k, seed):
    x = np.random.default_rng(seed).standard_normal((n, c, h, w)) * 2
    lrn_pair(x, size, alpha, beta, k)


