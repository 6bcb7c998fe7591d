"""conv2d, im2col and col2im beyond the op table: hypothesis over geometries, groups and
depthwise filters checked channel by channel, the output-size formula, non-contiguous
inputs, the skipped input gradient, im2col/col2im against unfold/fold, NumPy-vs-Numba,
and CuPy.  conv2d's parity with PyTorch on fixed samples (every setting, 'same', unbatched,
N=0, NaN), its finite differences and its refusals are rows of tests/op_table.py."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import assume, example, given, settings, strategies as st

import minicnn as mc
import minicnn.functional as F
from minicnn import backend
from minicnn import geometry
from minicnn.functional import conv as conv_module
from minicnn.utils import assert_close, compare_with_torch, to_torch

# float32 sums C*kh*kw products in a different order than PyTorch (BLAS blocking),
# so agreement is to a few ulps of the output's magnitude, not to rounding of each term.
TOL32 = dict(rtol=1e-4, atol=1e-4)
SETTINGS = dict(max_examples=30, deadline=None)


def _tol(dtype):
    return TOL32 if dtype == np.float32 else {}


def check_conv2d(x, w, b=None, dtype=np.float64, **kw):
    """F.conv2d(x, w, b, **kw) against TF.conv2d, forward and every gradient; returns the output."""
    y, _ = compare_with_torch(lambda *t: F.conv2d(*t, **kw), lambda *t: TF.conv2d(*t, **kw),
                              x, w, b, dtype=dtype, **_tol(dtype))
    return y


# ----- PyTorch parity on random geometries -------------------------------------------
@settings(**SETTINGS)
@given(n=st.integers(1, 2), cin_g=st.integers(1, 3), cout_g=st.integers(1, 3), groups=st.integers(1, 3),
       h=st.integers(1, 9), w=st.integers(1, 9), kh=st.integers(1, 4), kw=st.integers(1, 4),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
       dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       bias=st.booleans(), seed=st.integers(0, 2**16))
def test_conv2d_matches_torch_hypothesis(n, cin_g, cout_g, groups, h, w, kh, kw, stride, padding,
                                         dilation, bias, seed):
    assume(geometry.output_size(h, kh, stride[0], padding[0], dilation[0]) >= 1)
    assume(geometry.output_size(w, kw, stride[1], padding[1], dilation[1]) >= 1)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, cin_g * groups, h, w))
    wt = rng.standard_normal((cout_g * groups, cin_g, kh, kw))
    b = rng.standard_normal(cout_g * groups) if bias else None
    check_conv2d(x, wt, b, stride=stride, padding=padding, dilation=dilation, groups=groups)


# ----- named tests: groups, output size, non-contiguous inputs -----------------------
def test_grouped_conv_groups2_alexnet_2012():
    """The 2012 AlexNet split conv2 over two GPUs: 96 -> 256 channels, 5x5, pad 2, groups=2,
    so each half of the filters sees only its own 48 input channels."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 96, 6, 6))
    w = rng.standard_normal((256, 48, 5, 5)) * 0.1
    b = rng.standard_normal(256)
    y = check_conv2d(x, w, b, padding=2, groups=2)
    assert y.shape == (1, 256, 6, 6)
    # Changing the first 48 input channels leaves the second 128 outputs untouched.
    x2 = x.copy()
    x2[:, :48] += 1.0
    y2 = F.conv2d(mc.tensor(x2), mc.tensor(w), mc.tensor(b), padding=2, groups=2)
    assert_close(y2.numpy()[:, 128:], y.numpy()[:, 128:])
    assert np.abs(y2.numpy()[:, :128] - y.numpy()[:, :128]).max() > 1e-3


@pytest.mark.parametrize("multiplier", [1, 2])
def test_depthwise_conv(multiplier):
    """groups = channels: every channel convolved with its own filter(s) only."""
    rng = np.random.default_rng(5)
    C = 5
    x = rng.standard_normal((2, C, 7, 7))
    w = rng.standard_normal((C * multiplier, 1, 3, 3))
    b = rng.standard_normal(C * multiplier)
    y = check_conv2d(x, w, b, stride=2, padding=1, groups=C)
    # Independently: output channel o is the plain convolution of input channel o // multiplier.
    for o in range(C * multiplier):
        c = o // multiplier
        single = TF.conv2d(torch.from_numpy(x[:, c:c + 1]), torch.from_numpy(w[o:o + 1]),
                           torch.from_numpy(b[o:o + 1]), stride=2, padding=1)
        assert_close(y.numpy()[:, o:o + 1], single, name=f"channel {o}")


@pytest.mark.parametrize("h, k, s, p, d, expected", [
    (224, 11, 4, 2, 1, 55),    # AlexNet conv1
    (224, 7, 2, 3, 1, 112),    # ResNet conv1
    (56, 3, 1, 1, 1, 56),      # VGG/ResNet 3x3 "same"
    (299, 3, 2, 0, 1, 149),    # Inception v3 Conv2d_1a
    (10, 3, 2, 0, 1, 4),       # floor((10 - 3) / 2) + 1 = 4: the last column is never covered
    (10, 3, 1, 0, 2, 6),       # dilation 2: a 3-tap kernel spans 5 pixels
    (5, 5, 1, 0, 1, 1),        # kernel exactly as large as the input
    (1, 3, 1, 1, 1, 1),
])
def test_conv_output_size_formula(h, k, s, p, d, expected):
    assert (h + 2 * p - d * (k - 1) - 1) // s + 1 == expected
    x = mc.tensor(np.zeros((1, 1, h, h + 1), np.float32))
    w = mc.tensor(np.zeros((1, 1, k, 1), np.float32))
    y = F.conv2d(x, w, stride=s, padding=(p, 0), dilation=d)
    assert y.shape == (1, 1, expected, (h + 1 - 1) // s + 1)
    assert TF.conv2d(to_torch(x), to_torch(w), stride=s, padding=(p, 0), dilation=d).shape == y.shape


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_non_contiguous_inputs(dtype):
    rng = np.random.default_rng(6)
    x_t = rng.standard_normal((2, 3, 8, 7)).astype(dtype).transpose(0, 1, 3, 2)   # transposed H/W
    x_s = rng.standard_normal((2, 6, 9, 16)).astype(dtype)[:, ::2, 1:, ::-2]      # sliced, reversed
    w = rng.standard_normal((3, 4, 3, 3)).astype(dtype).transpose(1, 0, 3, 2)     # (4, 3, 3, 3)
    for x in (x_t, x_s):
        assert not x.flags.c_contiguous
        for padding in (0, 1):
            xm, wm = mc.Tensor(x, requires_grad=True), mc.Tensor(w, requires_grad=True)
            xt, wt = to_torch(x, True), to_torch(w, True)
            y = F.conv2d(xm, wm, stride=(1, 2), padding=padding)
            yt = TF.conv2d(xt, wt, stride=(1, 2), padding=padding)
            g = rng.standard_normal(y.shape[::-1]).astype(dtype).T                 # non-contiguous too
            y.backward(g)
            yt.backward(torch.from_numpy(np.ascontiguousarray(g)))
            assert_close(y, yt, **_tol(dtype))
            assert_close(xm.grad, xt.grad, **_tol(dtype))
            assert_close(wm.grad, wt.grad, **_tol(dtype))


def test_conv2d_skips_input_grad_when_not_needed(monkeypatch):
    """The first layer's input needs no gradient: backward must not pay for col2im."""
    def fail(*args, **kwargs):
        raise AssertionError("col2im called although the input needs no gradient")
    monkeypatch.setattr(conv_module, "col2im", fail)
    rng = np.random.default_rng(7)
    x = mc.tensor(rng.standard_normal((2, 3, 6, 6)))
    w = mc.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    g = rng.standard_normal((2, 4, 6, 6))
    F.conv2d(x, w, padding=1).backward(g)
    wt = to_torch(w, True)
    TF.conv2d(to_torch(x), wt, padding=1).backward(torch.from_numpy(g))
    assert x.grad is None
    assert_close(w.grad, wt.grad)


# ----- im2col / col2im ----------------------------------------------------------------
window_settings = dict(
    n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 8), w=st.integers(1, 8),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)), seed=st.integers(0, 2**16))


def _fits(h, w, kernel, stride, padding, dilation):
    return (geometry.output_size(h, kernel[0], stride[0], padding[0], dilation[0]) >= 1 and
            geometry.output_size(w, kernel[1], stride[1], padding[1], dilation[1]) >= 1)


def test_im2col_docstring_example():
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)          # a..i = 1..9
    expected = [[1, 2, 4, 5], [2, 3, 5, 6], [4, 5, 7, 8], [5, 6, 8, 9]]
    assert_close(F.im2col(x, 2), np.array([expected], dtype=float))
    assert_close(F.col2im(np.ones((1, 4, 4)), (1, 1, 3, 3), 2),
                 np.array([[[[1, 2, 1], [2, 4, 2], [1, 2, 1]]]], dtype=float))


@settings(**SETTINGS)
@given(**window_settings)
def test_im2col_col2im_match_torch_unfold_fold(n, c, h, w, kernel, stride, padding, dilation, seed):
    assume(_fits(h, w, kernel, stride, padding, dilation))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    kw = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation)
    col = F.im2col(x, **kw)
    assert_close(col, TF.unfold(torch.from_numpy(x), **kw), name="im2col")
    c_rand = rng.standard_normal(col.shape)
    assert_close(F.col2im(c_rand, x.shape, **kw),
                 TF.fold(torch.from_numpy(c_rand), output_size=(h, w), **kw), name="col2im")


@settings(**SETTINGS)
@given(**window_settings)
@example(n=1, c=1, h=2, w=5, kernel=(1, 2), stride=(1, 1), padding=(0, 0), dilation=(1, 1), seed=67)
def test_im2col_col2im_adjoint_and_numba_equals_numpy(n, c, h, w, kernel, stride, padding, dilation,
                                                      seed):
    """<im2col(x), c> == <x, col2im(c)> for the kernels' side-by-side layout (C*kh*kw, N*OH*OW);
    and the Numba im2col and col2im give the NumPy references' numbers."""
    assume(_fits(h, w, kernel, stride, padding, dilation))
    from minicnn.cpu import conv as cpu_conv
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    pairs = (kernel, stride, padding, dilation)
    col = conv_module.im2col_numpy(x, *pairs)
    assert col.shape == (c * kernel[0] * kernel[1], n * np.prod(geometry.output_hw(x.shape, *pairs)))
    c_rand = rng.standard_normal(col.shape)
    for dtype in (np.float64, np.float32):
        x_d = x.astype(dtype)
        np.testing.assert_array_equal(cpu_conv.im2col_numba(x_d, *pairs), conv_module.im2col_numpy(x_d, *pairs))
        reference = conv_module.col2im_numpy(c_rand.astype(dtype), x.shape, *pairs)
        fast = cpu_conv.col2im_numba(c_rand.astype(dtype), x.shape, *pairs)
        assert fast.dtype == reference.dtype == dtype
        assert_close(fast, reference, name=f"numba col2im {np.dtype(dtype)}")
        # <col, c> against <x, col2im(c)> with the same (rounded) c on both sides; float32
        # rounding is relative to the terms summed, not to the sum, which may cancel to ~0
        # (hypothesis found a sum of -4.6e-4 from terms of ~1 off by 7.5e-8)
        c_d = c_rand.astype(dtype).astype(np.float64)
        terms = np.vdot(np.abs(x), np.abs(fast.astype(np.float64)))
        error = abs(np.vdot(col, c_d) - np.vdot(x, fast.astype(np.float64)))
        assert error <= (1e-4 if dtype == np.float32 else 1e-10) * terms, (error, terms)


def test_conv2d_numba_and_numpy_paths_agree():
    rng = np.random.default_rng(8)
    x, w = rng.standard_normal((2, 4, 9, 8)), rng.standard_normal((6, 2, 3, 3))
    g = rng.standard_normal((2, 6, 4, 3))
    grads = []
    for use_reference in (False, True):
        xm, wm = mc.tensor(x, requires_grad=True), mc.tensor(w, requires_grad=True)
        if use_reference:
            with backend.numpy_reference():
                F.conv2d(xm, wm, stride=2, padding=(0, 1), dilation=(1, 2), groups=2).backward(g)
        else:
            F.conv2d(xm, wm, stride=2, padding=(0, 1), dilation=(1, 2), groups=2).backward(g)
        grads.append((xm.grad.numpy(), wm.grad.numpy()))
    assert_close(grads[0][0], grads[1][0])
    assert_close(grads[0][1], grads[1][1])


def test_col2im_1x1_kernel_is_a_reshape():
    rng = np.random.default_rng(9)
    c = rng.standard_normal((2, 3, 20))
    assert_close(F.col2im(c, (2, 3, 4, 5), 1), c.reshape(2, 3, 4, 5))
    assert_close(F.col2im(c[:, :, :6], (2, 3, 4, 5), 1, stride=2),
                 TF.fold(torch.from_numpy(np.ascontiguousarray(c[:, :, :6])), (4, 5), 1, stride=2))


# ----- bad input to the array functions (conv2d's: the op table) -------------------------
def test_im2col_col2im_bad_input_errors():
    with pytest.raises(ValueError, match=r"im2col: expected a 4-D array"):
        F.im2col(np.zeros((3, 5, 5)), 3)
    with pytest.raises(ValueError, match=r"im2col: kernel .* larger than the padded input"):
        F.im2col(np.zeros((1, 1, 2, 2)), 3)
    with pytest.raises(ValueError, match=r"col2im: expected col of shape \(1, 9, 9\)"):
        F.col2im(np.zeros((1, 9, 8)), (1, 1, 5, 5), 3)


# ----- GPU (CuPy) ------------------------------------------------------------------------
@pytest.mark.skipif(not backend.cuda_available(), reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_on_cupy_matches_numpy(dtype):
    """The xp-generic im2col/col2im and the GEMMs run unchanged on CuPy arrays."""
    cp = backend.require_cupy()
    rng = np.random.default_rng(10)
    arrays = [rng.standard_normal(s).astype(dtype) for s in ((2, 4, 9, 8), (6, 2, 3, 3), (6,))]
    g = rng.standard_normal((2, 6, 5, 3)).astype(dtype)
    kw = dict(stride=(2, 3), padding=(1, 2), dilation=(1, 2), groups=2)
    results = []
    for to_device in (lambda a: a, cp.asarray):
        ts = [mc.Tensor(to_device(a), requires_grad=True) for a in arrays]
        y = F.conv2d(*ts, **kw)
        y.backward(to_device(g))
        results.append([y.numpy()] + [t.grad.numpy() for t in ts])
        assert y.device == ("cpu" if to_device is not cp.asarray else "cuda")
    for name, a, b in zip(("forward", "grad input", "grad weight", "grad bias"), *results):
        assert_close(a, b, name=name, **_tol(dtype))
