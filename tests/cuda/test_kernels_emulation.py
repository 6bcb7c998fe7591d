"""The CUDA kernels, run on the CPU, give the NumPy backend's results.

Each kernel in kernels/*.cu is compiled with g++ and the emulation header
(minicnn/cuda/emulation.py) and launched through the real launch layer
(minicnn/cuda/launch.py, the code the GPU runs) on NumPy arrays.  Its results are
compared with the CPU ops: the array-level NumPy references and the ``F.*`` ops
(forward, and backward of a random upstream gradient).

Launches vary: the launch layer's own sizes, and odd ones (1 block of 1 thread,
3 blocks of 7 threads, a grid capped at 2 blocks) that only give the right answer
if every kernel's grid-stride loop is right.  "Checked" launches run each thread
alone on private copies of the arrays, with guard bands around them: a race
between threads or an out-of-bounds write fails the test.  Outputs are allocated
full of NaN bytes (``PoisonedNumpy``), so an element no thread writes cannot pass.

float64 results must agree to rounding error; float32 ones to the float32
tolerances of ``assert_close`` (kernels and NumPy sum in different orders).

Two kinds of cases: every kernel call the op table's samples make (tests/op_table.py: the
arguments the ops really pass), replayed under every launch; and the kernel cases below
(``CASES``, shared with tests/cuda/test_kernels_gpu.py), with hypothesis over shapes and
named traps.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import assume, given, settings, strategies as st

import minicnn as mc
import minicnn.functional as F
from minicnn.cuda import emulation, loader
from minicnn.cuda.emulation import EmulationLoader, PoisonedNumpy
from minicnn.cuda.launch import KernelOps
from minicnn import geometry
from minicnn.functional import conv, depthwise, norm, pool, winograd
from minicnn.utils import assert_close
from tests.op_table import KERNELS_NOT_REPLAYED, OPS, assert_kernel_result, reference_kernel_calls

pytestmark = pytest.mark.skipif(emulation.compiler() is None,
                                reason="no C++ compiler (g++ or $CXX) for the CUDA emulation")

_LOADERS = {False: EmulationLoader(checked=False), True: EmulationLoader(checked=True)}
LAUNCHES = {                       # name -> KernelOps settings
    "default": dict(),                                  # block 256, as on the GPU
    "default-checked": dict(checked=True),
    "grid1-block1": dict(grid=1, block=1, checked=True),
    "grid3-block7": dict(grid=3, block=7, checked=True),
    "block32-maxgrid2": dict(block=32, max_grid=2, checked=True),
}
DTYPES = (np.float32, np.float64)
SETTINGS = settings(max_examples=15, deadline=None)


def make_ops(launch="default", loader_=None):
    options = dict(LAUNCHES[launch])
    checked = options.pop("checked", False)
    return KernelOps(PoisonedNumpy(), loader_ or _LOADERS[checked], **options)


def randn(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def no_ties(rng, shape, dtype):
    """Distinct values in random order: the argmax of any window is unambiguous."""
    return rng.permutation(np.linspace(-3, 3, int(np.prod(shape)))).reshape(shape).astype(dtype)


def assert_equal(actual, expected, name):
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == expected.dtype, f"{name}: dtype {actual.dtype} != {expected.dtype}"
    np.testing.assert_array_equal(actual, expected, err_msg=name)


def run_op(fn, inputs, grad_out):
    """Forward of the F.* op on NumPy tensors, then backward of ``grad_out``: (out, grads)."""
    tensors = [mc.tensor(a, requires_grad=True) for a in inputs]
    out = fn(*tensors)
    out.backward(mc.tensor(grad_out))
    return out.numpy(), [t.grad.numpy() for t in tensors]


# ----- the cases: each launches kernels and returns (name, got, expected, exact) ------------
def case_im2col_col2im(ops, dtype, rng, n=2, c=3, h=7, w=6, k=(3, 2), s=(2, 1), p=(1, 1), d=(1, 2)):
    x = randn(rng, (n, c, h, w), dtype)
    col_ref = conv.im2col_numpy(x, k, s, p, d)
    dcol = randn(rng, col_ref.shape, dtype)
    return [("im2col", ops.im2col(x, k, s, p, d), col_ref, True),
            ("col2im", ops.col2im(dcol, x.shape, k, s, p, d),
             conv.col2im_numpy(dcol, x.shape, k, s, p, d), False)]


def case_winograd(ops, dtype, rng, n=2, c=3, o=2, h=7, w=6, padding=(1, 2)):
    """The four transforms against their NumPy references: odd sizes (the last tiles stick
    out), uneven padding, and the backward ones fed random gradients."""
    x = randn(rng, (n, c, h, w), dtype)
    V_ref = winograd.winograd_input_numpy(x, padding)
    (oh, ow), _ = geometry.winograd_tiles((h, w), padding)
    M = randn(rng, (16, o, V_ref.shape[2]), dtype)
    g = randn(rng, (n, o, oh, ow), dtype)
    dV = randn(rng, V_ref.shape, dtype)
    return [("winograd_input", ops.winograd_input(x, padding), V_ref, False),
            ("winograd_output", ops.winograd_output(M, g.shape),
             winograd.winograd_output_numpy(M, g.shape), False),
            ("winograd_output_adjoint", ops.winograd_output_adjoint(g),
             winograd.winograd_output_adjoint_numpy(g), False),
            ("winograd_input_adjoint", ops.winograd_input_adjoint(dV, x.shape, padding),
             winograd.winograd_input_adjoint_numpy(dV, x.shape, padding), False)]


def case_depthwise(ops, dtype, rng, n=2, c=3, m=2, h=7, w=6, k=(3, 2), s=(2, 1), p=(1, 2), d=(1, 2)):
    """The three depthwise kernels against their NumPy references: odd sizes, a channel
    multiplier, padding wider than half the kernel, uneven stride and dilation; the
    backward ones fed a random gradient."""
    x, weight = randn(rng, (n, c, h, w), dtype), randn(rng, (c * m, 1) + k, dtype)
    y_ref = depthwise.depthwise_forward_numpy(x, weight, s, p, d)
    g = randn(rng, y_ref.shape, dtype)
    return [("depthwise_forward", ops.depthwise_forward(x, weight, s, p, d), y_ref, False),
            ("depthwise_backward_input", ops.depthwise_backward_input(g, weight, x.shape, s, p, d),
             depthwise.depthwise_backward_input_numpy(g, weight, x.shape, s, p, d), False),
            ("depthwise_backward_weight", ops.depthwise_backward_weight(g, x, k, s, p, d),
             depthwise.depthwise_backward_weight_numpy(g, x, k, s, p, d), False)]


def _zero_no_taps(rows, cols, *arrays):
    """MaxPool.backward's rule: windows with no input tap send no gradient."""
    no_taps = geometry.windows_without_taps(rows, cols)
    return [a if no_taps is None else np.where(no_taps, 0, a).astype(a.dtype) for a in arrays]


def case_max_pool(ops, dtype, rng, n=2, c=2, h=7, w=6, k=3, s=2, p=1, d=1, ceil_mode=True,
                  adaptive=None):
    x = no_ties(rng, (n * c, h, w), dtype)
    if adaptive:
        rows, cols = geometry.adaptive_windows(h, adaptive[0]), geometry.adaptive_windows(w, adaptive[1])
    else:
        rows = geometry.sliding_windows(h, k, s, p, d, ceil_mode)
        cols = geometry.sliding_windows(w, k, s, p, d, ceil_mode)
    values_ref, argmax_ref = pool.max_pool_forward_numpy(x, rows, cols)
    values, argmax = ops.max_pool_forward(x, rows, cols)
    g, argmax_b = _zero_no_taps(rows, cols, randn(rng, values_ref.shape, dtype), argmax_ref)
    return [("max_pool values", values, values_ref, True),
            ("max_pool argmax", argmax, argmax_ref, True),
            ("max_pool backward", ops.max_pool_backward(g, argmax_b, h, w, rows, cols),
             pool.max_pool_backward_numpy(g, argmax_b, h, w, rows, cols), False)]


def avg_divisor(rows, cols, count_include_pad, divisor_override, dtype):
    """The divisor table avg_pool2d hands to its kernels (checked against F.avg_pool2d)."""
    if divisor_override:
        counts = np.full((len(rows.start), len(cols.start)), divisor_override)
    elif count_include_pad:
        counts = np.outer(rows.count, cols.count)
    else:
        counts = np.outer(rows.stop - rows.start, cols.stop - cols.start)
    return counts.astype(dtype)


def case_avg_pool(ops, dtype, rng, n=2, c=2, h=7, w=6, k=3, s=2, p=1, ceil_mode=True,
                  count_include_pad=True, divisor_override=None):
    x = randn(rng, (n, c, h, w), dtype)
    rows = geometry.sliding_windows(h, k, s, p, 1, ceil_mode)
    cols = geometry.sliding_windows(w, k, s, p, 1, ceil_mode)
    div = avg_divisor(rows, cols, count_include_pad, divisor_override, dtype)
    planes = x.reshape(n * c, h, w)
    out = ops.avg_pool_forward(planes, rows, cols, div)
    g = randn(rng, out.shape, dtype)
    out_ref, (gx_ref,) = run_op(
        lambda t: F.avg_pool2d(t, k, s, p, ceil_mode, count_include_pad, divisor_override),
        [x], g.reshape((n, c) + out.shape[1:]))
    return [("avg_pool forward", out, out_ref.reshape(out.shape), False),
            ("avg_pool forward (array reference)", out,
             pool.avg_pool_forward_numpy(planes, rows, cols, div), False),
            ("avg_pool backward", ops.avg_pool_backward(g, rows, cols, div, h, w),
             gx_ref.reshape(planes.shape), False)]


def case_adaptive_avg_pool(ops, dtype, rng, n=2, c=2, h=7, w=5, oh=4, ow=3):
    x = randn(rng, (n, c, h, w), dtype)
    rows, cols = geometry.adaptive_windows(h, oh), geometry.adaptive_windows(w, ow)
    div = np.outer(rows.count, cols.count).astype(dtype)
    out = ops.avg_pool_forward(x.reshape(n * c, h, w), rows, cols, div)
    g = randn(rng, out.shape, dtype)
    out_ref, (gx_ref,) = run_op(lambda t: F.adaptive_avg_pool2d(t, (oh, ow)), [x],
                                g.reshape(n, c, oh, ow))
    return [("adaptive_avg_pool forward", out, out_ref.reshape(out.shape), False),
            ("adaptive_avg_pool backward", ops.avg_pool_backward(g, rows, cols, div, h, w),
             gx_ref.reshape(n * c, h, w), False)]


def case_batch_norm(ops, dtype, rng, shape=(3, 4, 2, 3), training=True, affine=True, eps=1e-5):
    x = randn(rng, shape, dtype)
    c = shape[1]
    weight, bias = (randn(rng, c, dtype), randn(rng, c, dtype)) if affine else (None, None)
    running_mean, running_var = randn(rng, c, dtype), rng.uniform(0.5, 2, c).astype(dtype)
    g = randn(rng, shape, dtype)
    # minicnn's op, forward and backward, on NumPy
    ts = [mc.tensor(a, requires_grad=True) for a in (x, weight, bias) if a is not None]
    out_ref = F.batch_norm(ts[0], mc.tensor(running_mean.copy()), mc.tensor(running_var.copy()),
                           *ts[1:], training=training, eps=eps)
    out_ref.backward(mc.tensor(g))
    # the kernels, in the order the op calls them on a GPU
    mean, var = ops.batch_norm_stats(x) if training else (running_mean, running_var)
    invstd = (1 / np.sqrt(var + eps)).astype(dtype)
    out = ops.batch_norm_forward(x, mean, invstd, weight, bias)
    xhat = ops.batch_norm_forward(x, mean, invstd)          # backward's recomputation
    sum_g, sum_gxhat = ops.batch_norm_backward_sums(g, xhat)
    scale = invstd if weight is None else invstd * weight
    count = max(x.size // c, 1)          # values per channel (an empty batch: the op's 1)
    means = (sum_g / count, sum_gxhat / count) if training else (None, None)
    gx = ops.batch_norm_backward(g, xhat, scale, *means)
    per_channel = (1, c) + (1,) * (len(shape) - 2)
    results = [("batch_norm forward", out, out_ref.numpy(), False),
               ("batch_norm xhat", xhat,
                (x - mean.reshape(per_channel)) * invstd.reshape(per_channel), False),
               ("batch_norm backward", gx, ts[0].grad.numpy(), False)]
    if affine:       # the op's weight and bias gradients are the two sums
        results += [("batch_norm sum_gxhat", sum_gxhat, ts[1].grad.numpy(), False),
                    ("batch_norm sum_g", sum_g, ts[2].grad.numpy(), False)]
    return results


def case_batch_norm_reductions(ops, dtype, rng, shape=(3, 5, 9, 11), offset=1e4):
    """Channels of 3*99 = 297 values: odd, and no multiple of any launch's block size, so
    some threads take one value more than others.  x lies around ``offset`` with spread 1,
    where a one-pass variance, E[x^2] - E[x]^2, cancels: float64 keeps only about 8 of its
    16 digits, float32 none."""
    x = (offset + rng.standard_normal(shape)).astype(dtype)
    return batch_norm_reductions(ops, x, randn(rng, shape, dtype), randn(rng, shape, dtype))


def batch_norm_reductions(ops, x, g, xhat):
    """The per-channel reduction kernels against their NumPy references."""
    runs = [("batch_norm_backward_sums", ("sum_g", "sum_gxhat"),
             ops.batch_norm_backward_sums(g, xhat), norm.batch_norm_backward_sums_numpy(g, xhat))]
    if x.size // x.shape[1] > 0:                   # an empty batch has no statistics
        runs.append(("batch_norm_stats", ("mean", "var"), ops.batch_norm_stats(x),
                     norm.batch_norm_stats_numpy(x)))
    return [(f"{kernel} {name}", got, expected, False) for kernel, names, gots, expecteds in runs
            for name, got, expected in zip(names, gots, expecteds)]


def case_lrn(ops, dtype, rng, shape=(2, 7, 2, 3), size=4, alpha=1.0, beta=0.75, k=2.0):
    # alpha = 1: with PyTorch's default 1e-4 an off-by-one window would still pass
    x = randn(rng, shape, dtype)
    g = randn(rng, shape, dtype)
    out_ref, (gx_ref,) = run_op(lambda t: F.local_response_norm(t, size, alpha, beta, k), [x], g)
    out, s = ops.lrn_forward(x, size, alpha, beta, k)
    return [("lrn forward", out, out_ref, False),
            ("lrn backward", ops.lrn_backward(g, x, out, s, size, alpha, beta), gx_ref, False)]


def case_masked_scale(ops, dtype, rng, shape=(2, 3, 4, 5), per_channel=False, p=0.4):
    x = randn(rng, shape, dtype)
    mask_shape = shape[:2] + (1,) * (len(shape) - 2) if per_channel else shape
    mask = (rng.random(mask_shape) >= p).astype(dtype) * dtype(1 / (1 - p))
    return [("masked_scale", ops.masked_scale(x, mask), x * mask, True)]


def case_relu(ops, dtype, rng, shape=(3, 4, 5)):
    x = randn(rng, shape, dtype)
    x.flat[::7] = 0.0                        # the kink: gradient 0 there, as in PyTorch
    x.flat[3 % x.size] = np.nan              # NaN stays NaN, and passes its gradient on
    g = randn(rng, shape, dtype)
    g.flat[::7] = np.inf                     # an off unit stops even an infinite gradient
    out_ref, (gx_ref,) = run_op(F.relu, [x], g)
    out = ops.relu_forward(x)
    return [("relu forward", out, out_ref, True),
            ("relu backward", ops.relu_backward(g, out), gx_ref, True)]


CASES = {"conv": case_im2col_col2im, "max_pool": case_max_pool, "avg_pool": case_avg_pool,
         "adaptive_avg_pool": case_adaptive_avg_pool, "batch_norm": case_batch_norm,
         "batch_norm_reductions": case_batch_norm_reductions, "lrn": case_lrn,
         "masked_scale": case_masked_scale, "relu": case_relu, "winograd": case_winograd,
         "depthwise": case_depthwise}

# ----- edge cases, shared with tests/cuda/test_kernels_gpu.py (one list: the GPU runs what the
# emulation checked) ------------------------------------------------------------------------
# N = 0 (and C = 0 for LRN): (CASES key, keyword arguments)
EMPTY_BATCH_CASES = [
    ("conv", dict(n=0)), ("depthwise", dict(n=0)), ("max_pool", dict(n=0)), ("avg_pool", dict(n=0)),
    ("adaptive_avg_pool", dict(n=0)), ("batch_norm", dict(shape=(0, 4, 2, 3), training=False)),
    ("batch_norm_reductions", dict(shape=(0, 3, 5))),
    ("lrn", dict(shape=(0, 7, 2, 3))), ("lrn", dict(shape=(2, 0, 2, 3))),
    ("masked_scale", dict(shape=(0, 3, 4, 5), per_channel=True))]
# Odd sizes: channel counts 5, 7 and 33, maps whose tiles and windows stick out, a 1x1 map
ODD_SIZE_CASES = [
    ("winograd", dict(n=1, c=5, o=7, h=9, w=11, padding=(0, 1))),
    ("winograd", dict(n=3, c=1, o=1, h=1, w=1, padding=(1, 1))),
    ("winograd", dict(n=1, c=33, o=5, h=5, w=3, padding=(2, 0))),
    ("depthwise", dict(n=1, c=33, m=1, h=9, w=5, k=(3, 3), s=(1, 1), p=(1, 1), d=(1, 1))),
    ("depthwise", dict(n=3, c=5, m=3, h=7, w=11, k=(5, 3), s=(2, 3), p=(2, 0), d=(1, 1))),
    ("depthwise", dict(n=2, c=7, m=1, h=1, w=1, k=(3, 3), s=(1, 1), p=(1, 1), d=(1, 1))),
    ("batch_norm", dict(shape=(3, 33, 5, 7))), ("batch_norm", dict(shape=(5, 7))),
    ("lrn", dict(shape=(2, 33, 3, 5), size=5)), ("max_pool", dict(n=1, c=33, h=9, w=5)),
    ("avg_pool", dict(n=1, c=7, h=11, w=9, k=3, s=2, p=1))]
# The per-channel block reductions of batch norm, shapes (N, C, S): C=1 (a grid of one block);
# channels of 1000 and 3*1025 values (more than a block of 256 threads, and no multiple of it);
# 7 and 33 channels of 5 values (fewer than a block); an (N, C) input (S = 1)
BATCH_NORM_REDUCTION_SHAPES = [(7, 1, 37), (1, 1, 1000), (3, 7, 1025), (2, 33, 5), (5, 7), (2, 3)]


def check(results):
    for name, got, expected, exact in results:
        if exact:
            assert_equal(got, expected, name)
        else:
            assert got.dtype == expected.dtype, f"{name}: dtype {got.dtype} != {expected.dtype}"
            assert_close(got, expected, name=name)


# ----- every kernel under every launch, both dtypes ----------------------------------------------
@pytest.mark.parametrize("launch", sorted(LAUNCHES))
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_kernel_matches_numpy_under_launch(case, launch, dtype):
    check(CASES[case](make_ops(launch), dtype, np.random.default_rng(0)))


def test_cases_launch_every_kernel():
    """The cases above reach every kernel in kernels/*.cu, in both dtypes."""
    launched = set()
    record = _LOADERS[False]

    def recording_loader(file, name, dtype):
        launched.add(loader.entry_name(name, dtype))
        return record(file, name, dtype)

    ops = make_ops("default", recording_loader)
    for case in CASES.values():
        for dtype in DTYPES:
            case(ops, dtype, np.random.default_rng(0))
    case_batch_norm(ops, np.float32, np.random.default_rng(0), training=False)
    defined = {loader.entry_name(n, d) for f in loader.kernel_files()
               for n in loader.kernel_names(f) for d in DTYPES}
    assert defined and launched == defined, f"never launched: {sorted(defined - launched)}"


# ----- every kernel call of the op table's samples, under every launch ---------------------------
def replay_cases():
    """Each sample of an op with kernels (tests/op_table.py), both dtypes."""
    for op in OPS:
        if op.kernels:
            for dtype in op.dtypes:
                for sample in op.sample_inputs(dtype):
                    known = sample.known_failures.get("cuda")
                    yield pytest.param(op, sample, dtype, id=f"{op.name}-{sample.name}-{np.dtype(dtype).name}",
                                       marks=[pytest.mark.xfail(strict=True, reason=f"known minicnn bug: {known}")]
                                       if known else [])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")        # NaN samples in the references
@pytest.mark.parametrize("op, sample, dtype", list(replay_cases()))
def test_op_kernel_calls_match_the_references_under_every_launch(op, sample, dtype):
    """The op runs forward and backward on the NumPy references, which records every kernel
    call -- the window tables, divisors, statistics and gradients the op really passes --;
    each call is replayed through the launch layer (the CUDA kernel, emulated) under every
    launch and must give the reference's result."""
    calls = [c for c in reference_kernel_calls(op, sample) if c.name not in KERNELS_NOT_REPLAYED]
    for launch in sorted(LAUNCHES):
        ops = make_ops(launch)
        for call in calls:
            got = getattr(ops, call.name)(*call.args, **call.kwargs)
            assert_kernel_result(call.name, got, call.result, tolerances={}, where=f" ({launch})")


# ----- hypothesis: shapes and options ---------------------------------------------------------
launches = st.sampled_from(sorted(LAUNCHES))
dtypes = st.sampled_from(DTYPES)
seeds = st.integers(0, 2**32 - 1)


@SETTINGS
@given(launch=launches, dtype=dtypes, seed=seeds, n=st.integers(1, 2), c=st.integers(1, 3),
       h=st.integers(1, 7), w=st.integers(1, 7), kh=st.integers(1, 3), kw=st.integers(1, 3),
       sh=st.integers(1, 3), sw=st.integers(1, 3), ph=st.integers(0, 2), pw=st.integers(0, 2),
       dh=st.integers(1, 2), dw=st.integers(1, 2))
def test_im2col_col2im_hypothesis(launch, dtype, seed, n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw):
    k, s, p, d = (kh, kw), (sh, sw), (ph, pw), (dh, dw)
    assume(min(geometry.output_hw((h, w), k, s, p, d)) >= 1)
    check(case_im2col_col2im(make_ops(launch), dtype, np.random.default_rng(seed),
                             n, c, h, w, k, s, p, d))


@SETTINGS
@given(launch=launches, dtype=dtypes, seed=seeds, n=st.integers(1, 2), c=st.integers(1, 3),
       m=st.integers(1, 2), h=st.integers(1, 7), w=st.integers(1, 7), kh=st.integers(1, 3),
       kw=st.integers(1, 3), sh=st.integers(1, 3), sw=st.integers(1, 3), ph=st.integers(0, 2),
       pw=st.integers(0, 2), dh=st.integers(1, 2), dw=st.integers(1, 2))
def test_depthwise_hypothesis(launch, dtype, seed, n, c, m, h, w, kh, kw, sh, sw, ph, pw, dh, dw):
    k, s, p, d = (kh, kw), (sh, sw), (ph, pw), (dh, dw)
    assume(min(geometry.output_hw((h, w), k, s, p, d)) >= 1)
    check(case_depthwise(make_ops(launch), dtype, np.random.default_rng(seed), n, c, m, h, w, k, s, p, d))


@SETTINGS
@given(launch=launches, dtype=dtypes, seed=seeds, h=st.integers(1, 8), w=st.integers(1, 8),
       k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2), d=st.integers(1, 3),
       ceil_mode=st.booleans())
def test_max_pool_hypothesis(launch, dtype, seed, h, w, k, s, p, d, ceil_mode):
    assume(p <= k // 2)
    assume(min(geometry.output_size(n, k, s, p, d, ceil_mode) for n in (h, w)) >= 1)
    check(case_max_pool(make_ops(launch), dtype, np.random.default_rng(seed), 1, 2, h, w,
                        k, s, p, d, ceil_mode))


@SETTINGS
@given(launch=launches, dtype=dtypes, seed=seeds, h=st.integers(1, 8), w=st.integers(1, 8),
       oh=st.integers(1, 5), ow=st.integers(1, 5))
def test_adaptive_pools_hypothesis(launch, dtype, seed, h, w, oh, ow):
    rng = np.random.default_rng(seed)
    check(case_adaptive_avg_pool(make_ops(launch), dtype, rng, 2, 2, h, w, oh, ow))
    check(case_max_pool(make_ops(launch), dtype, rng, 1, 2, h, w, adaptive=(oh, ow)))


@SETTINGS
@given(launch=launches, dtype=dtypes, seed=seeds, h=st.integers(1, 8), w=st.integers(1, 8),
       k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2), ceil_mode=st.booleans(),
       count_include_pad=st.booleans(), divisor_override=st.sampled_from([None, 1, 5]))
def test_avg_pool_hypothesis(launch, dtype, seed, h, w, k, s, p, ceil_mode, count_include_pad,
                             divisor_override):
    assume(p <= k // 2)
    assume(min(geometry.output_size(n, k, s, p, 1, ceil_mode) for n in (h, w)) >= 1)
    check(case_avg_pool(make_ops(launch), dtype, np.random.default_rng(seed), 2, 1, h, w, k, s, p,
                        ceil_mode, count_include_pad, divisor_override))


@SETTINGS
@given(launch=launches, dtype=dtypes, seed=seeds,
       shape=st.lists(st.integers(1, 4), min_size=2, max_size=4).map(tuple),
       training=st.booleans(), affine=st.booleans(), eps=st.sampled_from([1e-5, 1e-3]))
def test_batch_norm_hypothesis(launch, dtype, seed, shape, training, affine, eps):
    assume(not training or np.prod(shape) // shape[1] > 1)    # batch statistics need 2 values
    check(case_batch_norm(make_ops(launch), dtype, np.random.default_rng(seed), shape, training,
                          affine, eps))


@SETTINGS
@given(launch=launches, dtype=dtypes, seed=seeds,
       shape=st.lists(st.integers(1, 4), min_size=3, max_size=4).map(tuple),
       size=st.integers(1, 6), alpha=st.sampled_from([1e-4, 1.0]), beta=st.sampled_from([0.5, 0.75]),
       k=st.sampled_from([1.0, 2.0]))
def test_lrn_hypothesis(launch, dtype, seed, shape, size, alpha, beta, k):
    check(case_lrn(make_ops(launch), dtype, np.random.default_rng(seed), shape, size, alpha, beta, k))


@SETTINGS
@given(launch=launches, dtype=dtypes, seed=seeds,
       shape=st.lists(st.integers(1, 4), min_size=2, max_size=4).map(tuple),
       per_channel=st.booleans(), p=st.sampled_from([0.0, 0.3, 0.9]))
def test_elementwise_hypothesis(launch, dtype, seed, shape, per_channel, p):
    rng = np.random.default_rng(seed)
    check(case_masked_scale(make_ops(launch), dtype, rng, shape, per_channel, p))
    check(case_relu(make_ops(launch), dtype, rng, shape))


# ----- named cases --------------------------------------------------------------------------
def test_max_pool_padding_is_minus_inf_not_zero():
    """All-negative input: a padded 0 must not win (a known bug elsewhere)."""
    x = -1 - no_ties(np.random.default_rng(1), (1, 4, 4), np.float64) ** 2
    rows = cols = geometry.sliding_windows(4, 3, 2, 1, 1, False)
    values, argmax = make_ops("grid3-block7").max_pool_forward(x, rows, cols)
    assert (values < 0).all()
    assert_equal(values, pool.max_pool_forward_numpy(x, rows, cols)[0], "max_pool values")


# Windows (h, w, k, s, p, d, ceil_mode) for the tie tests: overlapping, padded, ceil mode,
# dilated with gaps; the last has windows with no tap in the input (1 row, taps at -1 and 1).
TIE_GEOMETRIES = [(7, 6, 3, 1, 1, 1, False), (7, 6, 3, 2, 1, 1, True), (8, 7, 3, 1, 1, 2, False),
                  (1, 5, 2, 1, 1, 2, False)]


def _torch_max_pool(x, g, k, s, p, d, ceil_mode):
    """PyTorch's values, indices and (if ``g`` is given) input gradient for planes x: (B, H, W)."""
    t = torch.from_numpy(x.copy()).requires_grad_(g is not None)
    values, indices = TF.max_pool2d(t, k, s, p, d, ceil_mode, return_indices=True)
    if g is not None:
        values.backward(torch.from_numpy(g))
    return values.detach().numpy(), indices.numpy(), None if g is None else t.grad.numpy()


@pytest.mark.parametrize("launch", ["default", "grid3-block7"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("geometry_", TIE_GEOMETRIES, ids=str)
def test_max_pool_ties_pick_the_first_maximum_like_torch(launch, dtype, geometry_):
    """Tied values: the kernel keeps the first maximum in row-major order, as PyTorch's loop
    does (a >= would keep the last).  Windows that see only -inf report their first tap; the
    CUDA kernel, the NumPy reference and the Numba path give PyTorch's values, indices and
    gradients."""
    from minicnn.cpu import pool as cpu_pool
    h, w, k, s, p, d, ceil_mode = geometry_
    rng = np.random.default_rng(7)
    x = rng.integers(-1, 2, (3, h, w)).astype(dtype)       # three values: ties everywhere
    x[1] = -np.inf                                          # a plane of -inf only
    x[2, : (h + 1) // 2] = -np.inf                          # and windows half of -inf
    rows, cols = geometry.sliding_windows(h, k, s, p, d, ceil_mode), geometry.sliding_windows(w, k, s, p, d, ceil_mode)
    g = randn(rng, (3, len(rows.start), len(cols.start)), dtype)
    # A window with no tap in the input gets an index outside its plane from PyTorch, whose
    # backward then writes out of bounds (it aborted this test): only its forward is run there.
    no_taps = geometry.windows_without_taps(rows, cols)
    values_t, argmax_t, grad_t = _torch_max_pool(x, g if no_taps is None else None, k, s, p, d,
                                                 ceil_mode)
    ops = make_ops(launch)
    for name, forward in (("cuda", ops.max_pool_forward), ("numpy", pool.max_pool_forward_numpy),
                          ("numba", cpu_pool.max_pool_forward)):
        values, argmax = forward(x, rows, cols)
        assert_equal(values, values_t, f"{name} values")
        assert_equal(argmax, argmax_t, f"{name} argmax")
    if no_taps is None:
        assert ((argmax_t >= 0) & (argmax_t < h * w)).all(), "an index inside its plane"
        assert_close(ops.max_pool_backward(g, argmax_t, h, w, rows, cols), grad_t, name="cuda backward")


def test_max_pool_adaptive_ties_like_torch():
    rng = np.random.default_rng(8)
    x = rng.integers(-1, 2, (2, 7, 5)).astype(np.float32)
    x[1, :4] = -np.inf
    rows, cols = geometry.adaptive_windows(7, 4), geometry.adaptive_windows(5, 3)
    values_t, argmax_t = TF.adaptive_max_pool2d(torch.from_numpy(x), (4, 3), return_indices=True)
    for launch in ("default", "grid3-block7"):
        values, argmax = make_ops(launch).max_pool_forward(x, rows, cols)
        assert_equal(values, values_t.numpy(), f"{launch} values")
        assert_equal(argmax, argmax_t.numpy(), f"{launch} argmax")


@pytest.mark.parametrize("case, kwargs", EMPTY_BATCH_CASES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_empty_batch_through_the_launch_layer(case, kwargs, dtype):
    """N=0: every kernel's launch wrapper returns empty arrays of the right shape (CUDA
    refuses an empty grid, so nothing is launched), equal to the NumPy backend's."""
    check(CASES[case](make_ops("default-checked"), dtype, np.random.default_rng(0), **kwargs))


@pytest.mark.parametrize("case, kwargs", ODD_SIZE_CASES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_odd_sizes_through_the_launch_layer(case, kwargs, dtype):
    """Odd channel counts and sizes (tiles and windows that stick out, 1x1 maps) at the
    launch layer's own block size, as the GPU launches them."""
    check(CASES[case](make_ops("default-checked"), dtype, np.random.default_rng(0), **kwargs))


@pytest.mark.parametrize("shape", BATCH_NORM_REDUCTION_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_batch_norm_reductions_one_channel_long_channels_and_2d_input(shape, dtype):
    """C=1 (a grid of one block); channels longer than a block, each thread taking several
    values and some one more than others; odd channel counts; an (N, C) input (S = 1)."""
    check(case_batch_norm_reductions(make_ops("default-checked"), dtype,
                                     np.random.default_rng(0), shape))


def test_reductions_cap_their_blocks_at_the_shared_array_size():
    """KernelOps(block=1024) still launches the reductions with at most COOPERATIVE_THREADS
    threads per block: block_sum's SHARED array holds one value per thread."""
    ops = KernelOps(PoisonedNumpy(), _LOADERS[True], block=1024)
    check(case_batch_norm_reductions(ops, np.float64, np.random.default_rng(0), (2, 3, 300)))


def test_reductions_sum_float32_in_double():
    """One thread adds up a whole channel of 2^20 float32 values 0.1: a float32 running sum
    would drift by about 1% (each addition rounds the same way); a double one stays exact."""
    x = np.full((1, 1, 2**20), 0.1, np.float32)
    check(batch_norm_reductions(make_ops("grid1-block1"), x, x, x))


def test_max_pool_nan_wins_like_numpy_reference():
    x = no_ties(np.random.default_rng(2), (2, 5, 5), np.float32)
    x[0, 1, 1] = x[1, 4, 3] = np.nan
    rows = cols = geometry.sliding_windows(5, 3, 2, 1, 1, True)
    values, argmax = make_ops("default-checked").max_pool_forward(x, rows, cols)
    ref_values, ref_argmax = pool.max_pool_forward_numpy(x, rows, cols)
    assert np.isnan(values).sum() > 0
    assert_equal(values, ref_values, "values")
    assert_equal(argmax, ref_argmax, "argmax")


def test_max_pool_dilated_windows_with_gaps():
    """Dilation 3 with padding 2: windows skip rows, and the windows holding a row are not
    a contiguous run (the backward's inverse tables must still find them all)."""
    check(case_max_pool(make_ops("grid3-block7"), np.float64, np.random.default_rng(3), 1, 2,
                        9, 8, k=4, s=1, p=2, d=3, ceil_mode=False))


def test_avg_pool_count_include_pad_divides_border_by_full_window():
    """Inception v3's avg_pool2d(3, stride=1, padding=1): a corner output is sum / 9."""
    x = np.ones((1, 1, 4, 4))
    rows = cols = geometry.sliding_windows(4, 3, 1, 1, 1, False)
    div = avg_divisor(rows, cols, True, None, np.float64)
    out = make_ops("grid3-block7").avg_pool_forward(x.reshape(1, 4, 4), rows, cols, div)
    assert out[0, 0, 0] == pytest.approx(4 / 9)


def test_lrn_even_size_window_is_asymmetric():
    check(case_lrn(make_ops("grid1-block1"), np.float64, np.random.default_rng(4),
                   (1, 6, 1, 1), size=2, alpha=1.0))


def test_kernels_take_noncontiguous_inputs():
    """The launch layer makes inputs contiguous: kernels see raw memory, not strides."""
    rng = np.random.default_rng(5)
    ops = make_ops("grid3-block7")
    x = randn(rng, (2, 6, 5, 3), np.float64).transpose(0, 3, 2, 1)[:, :, ::2]   # (2, 3, 3, 6)
    assert not x.flags.c_contiguous
    k, s, p, d = (2, 3), (1, 2), (1, 1), (1, 1)
    assert_equal(ops.im2col(x, k, s, p, d), conv.im2col_numpy(x, k, s, p, d), "im2col")
    assert_equal(ops.relu_forward(x), np.maximum(x, 0), "relu")


def test_launch_layer_errors():
    ops = make_ops()
    with pytest.raises(TypeError, match="float32 or float64.*int64"):
        ops.im2col(np.zeros((1, 1, 3, 3), np.int64), 2)
    with pytest.raises(ValueError, match=r"cuda col2im: expected col of shape \(4, 8\)"):
        ops.col2im(np.zeros((2, 4, 4)), (2, 1, 3, 3), 2)      # (N, K, L): not the kernels' layout
    with pytest.raises(ValueError, match="cuda dropout: mask of shape"):
        ops.masked_scale(np.zeros((2, 3, 4)), np.zeros((2, 1, 4)))


def test_empty_input_launches_nothing():
    out = make_ops().relu_forward(np.zeros((0, 3), np.float32))
    assert out.shape == (0, 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_eval_backward_skips_the_statistics_paths(dtype):
    """In eval mode the statistics are constants: grad_x = grad_out * scale, even where
    xhat is NaN (a NaN input).  Multiplying the absent paths by zero would give NaN there."""
    rng = np.random.default_rng(11)
    g, xhat = randn(rng, (2, 3, 4), dtype), randn(rng, (2, 3, 4), dtype)
    xhat[0, 1, 2] = np.nan
    scale = randn(rng, 3, dtype)
    from minicnn.functional.norm import batch_norm_backward_numpy
    expected = batch_norm_backward_numpy(g, xhat, scale)
    assert np.isfinite(expected).all()
    assert_equal(make_ops("default-checked").batch_norm_backward(g, xhat, scale), expected,
                 "eval backward")
