"""The CPU speed and memory work keeps the numbers: the convolution op built a few images
at a time, batch norm's recomputed xhat, every Numba kernel against its NumPy reference on the
calls the op table's samples make (tests/op_table.py), the threads of Numba and OpenBLAS, and
image-parallel convolution."""
import sys
import warnings

import numpy as np
import pytest
import torch.nn.functional as TF

import minicnn as mc
import minicnn.functional as F
from minicnn import geometry
from minicnn.functional import columns
from minicnn.utils import compare_with_torch


@pytest.mark.parametrize("budget_images", [1, 2, 5])
@pytest.mark.parametrize("kw", [dict(stride=2, padding=1), dict(),
                                dict(padding=(0, 1), dilation=2, groups=2)])
def test_conv2d_in_chunks_of_images_matches_torch(monkeypatch, budget_images, kw):
    """The op builds columns a few images at a time (a 1x1 kernel: none at all); each chunk's
    weight gradient is one GEMM.  Chunks of 1, 2 (5 = 2 + 2 + 1) and all 5 images agree
    with PyTorch, forward and every gradient."""
    rng = np.random.default_rng(3)
    for kernel in (3, 1):
        x = rng.standard_normal((5, 4, 7, 6))
        w = rng.standard_normal((6, 4 // kw.get("groups", 1), kernel, kernel))
        b = rng.standard_normal(6)
        K = w.shape[1] * kernel * kernel
        L = np.prod(geometry.output_hw(x.shape, *(geometry.pair(v, name, "test") for v, name in (
            (kernel, "kernel"), (kw.get("stride", 1), "stride"), (kw.get("padding", 0), "padding"),
            (kw.get("dilation", 1), "dilation")))))
        per_image = int(K * kw.get("groups", 1) * L)                 # column elements
        monkeypatch.setattr(columns, "COLUMN_BUDGET_BYTES", budget_images * per_image * 8)
        assert len(columns.image_chunks(x, per_image)) == -(-5 // budget_images)
        compare_with_torch(lambda *t: F.conv2d(*t, **kw), lambda *t: TF.conv2d(*t, **kw), x, w, b)


def test_batch_norm_keeps_no_normalised_copy_of_its_input():
    """Backward recomputes xhat from the saved input and statistics: besides the input itself
    the op keeps nothing of the input's size (the gradients are checked in test_norm.py)."""
    x = mc.Tensor(np.random.default_rng(4).standard_normal((4, 3, 5, 5)), requires_grad=True)
    y = F.batch_norm(x, None, None, training=True)
    big = [name for name, v in vars(y.grad_fn).items()
           if isinstance(v, np.ndarray) and v.size == x.numel()]
    assert big == ["x"]
    assert vars(y.grad_fn)["x"] is x.data


# ----- the Numba kernels equal their NumPy references ----------------------------------
numba_kernels = pytest.importorskip("minicnn.cpu", reason="Numba is not installed")
from minicnn import dispatch  # noqa: E402
from tests.op_table import KERNELS_NOT_REPLAYED, OPS, assert_kernel_result, reference_kernel_calls  # noqa: E402


def numba_replay_cases():
    """Each sample of the op table (tests/op_table.py) that dispatches a kernel with a Numba
    version, both dtypes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                      # NaN samples in the references
        for op in OPS:
            if not any("numba" in dispatch.implementations(k) for k in op.kernels):
                continue
            for dtype in op.dtypes:
                for sample in op.sample_inputs(dtype):
                    if any("numba" in dispatch.implementations(c.name) for c in reference_kernel_calls(op, sample)
                           if c.name not in KERNELS_NOT_REPLAYED):
                        known = sample.known_failures.get("numba-kernels")
                        marks = [pytest.mark.xfail(strict=True, reason=f"known minicnn bug: {known}")] if known else []
                        yield pytest.param(op, sample, dtype, marks=marks,
                                           id=f"{op.name}-{sample.name}-{np.dtype(dtype).name}")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")        # NaN samples in the references
@pytest.mark.parametrize("op, sample, dtype", list(numba_replay_cases()))
def test_numba_kernels_equal_the_references_on_the_ops_calls(op, sample, dtype):
    """The op runs forward and backward on the NumPy references, which records every kernel
    call with the arguments the op really passes (window tables, statistics, gradients);
    each call with a Numba version is replayed through it and must give the reference's
    result: exactly where the kernel selects or copies, to rounding where it sums (batch
    norm's: to 2e-6 / 1e-13 of a value in float32 / float64, its reductions 10 times that).
    The batch-norm samples include the shapes these kernels meet: odd channel lengths,
    (N, C), one row, 5-D, an empty batch, no channels; with and without weight and bias."""
    calls = [c for c in reference_kernel_calls(op, sample) if c.name not in KERNELS_NOT_REPLAYED]
    for call in calls:
        fast = dispatch.implementations(call.name).get("numba")
        if fast is not None:
            assert_kernel_result(call.name, fast(*call.args, **call.kwargs), call.result)




def both(name, *args):
    """(numba result, numpy result) of kernel ``name``, each as a tuple of arrays."""
    found = dispatch.implementations(name)
    results = [found[kind](*args) for kind in ("numba", "numpy")]
    return [r if isinstance(r, tuple) else (r,) for r in results]


def assert_same(fast, reference, rtol, name):
    for f, r in zip(fast, reference, strict=True):
        assert f.dtype == r.dtype and f.shape == r.shape, name
        np.testing.assert_allclose(f, r, rtol=rtol, atol=rtol, equal_nan=True, err_msg=name)


def test_numba_batch_norm_stats_are_exact_for_a_large_mean_and_pass_nan():
    rng = np.random.default_rng(6)
    x = (1e4 + rng.standard_normal((4, 3, 6, 6))).astype(np.float32)
    (mean, var), (mean_ref, var_ref) = both("batch_norm_stats", x)
    exact = x.astype(np.float64).var(axis=(0, 2, 3))
    np.testing.assert_allclose(var, exact, rtol=1e-4)           # E[x^2]-E[x]^2 would be ~0 or <0
    np.testing.assert_allclose(var_ref, exact, rtol=1e-4)
    x[1, 2, 3, 4] = np.nan
    x[0, 0, 0, 0] = np.inf
    with np.errstate(invalid="ignore"):          # the reference's inf - inf
        (mean, var), _ = both("batch_norm_stats", x)
    assert np.isnan(mean[2]) and np.isnan(var[2]) and np.isinf(mean[0]) and np.isfinite(mean[1])


def test_numba_kernels_take_strided_inputs():
    """A transposed or sliced input reaches the kernels as it is: same numbers as the reference."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 6, 5, 4)).astype(np.float32).transpose(0, 1, 3, 2)[:, ::2]
    c = x.shape[1]
    mean, invstd = np.zeros(c, np.float32), np.ones(c, np.float32)
    assert_same(*both("batch_norm_stats", x), 2e-5, "stats")
    assert_same(*both("batch_norm_forward", x, mean, invstd), 0, "forward")
    assert_same(*both("relu_forward", x), 0, "relu")
    assert_same(*both("relu_backward", x, x[::-1]), 0, "relu backward")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numba_relu_equals_the_reference_on_nan_inf_and_zeros(dtype):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 4, 5)).astype(dtype)
    x.flat[::7] = 0.0
    x.flat[3] = np.nan
    x.flat[5] = -np.inf
    x.flat[6] = np.inf
    g = rng.standard_normal(x.shape).astype(dtype)
    g.flat[::5] = np.inf
    g.flat[4] = np.nan
    (out,), (out_ref,) = both("relu_forward", x)
    assert_same((out,), (out_ref,), 0, "relu forward")
    assert_same(*both("relu_backward", g, out), 0, "relu backward")
    assert_same(*both("relu_forward", x[:0]), 0, "empty")


def test_numba_batch_norm_eval_backward_ignores_a_nan_xhat():
    """Eval: grad_x = grad_out * scale; the statistics' paths are absent, not times zero."""
    rng = np.random.default_rng(9)
    g, xhat = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    xhat[1, 2, 3] = np.nan
    (fast,), (ref,) = both("batch_norm_backward", g, xhat, rng.standard_normal(3))
    assert np.isfinite(ref).all()
    assert_same((fast,), (ref,), 0, "eval backward")


def _thread_settings(before):
    """Run ``before``, then load minicnn's Numba kernels and run one, in a fresh process
    without OMP_WAIT_POLICY; return (the policy then, Numba's threading layer)."""
    import os
    import subprocess
    import sys
    code = before + (
        "; import os, numpy as np, minicnn.cpu, numba"
        "; from minicnn.cpu.activation import relu_forward; relu_forward(np.zeros(3, np.float32))"
        "; print(os.environ.get('OMP_WAIT_POLICY'), numba.threading_layer())")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "NUMBA_THREADING_LAYER")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    return out[0], out[1]


@pytest.mark.parametrize("before, expected", [
    ("pass", ("PASSIVE", "omp")),                      # minicnn alone: OpenMP, threads passive
    ("import torch", ("PASSIVE", "workqueue")),        # torch's OpenMP already started
    ("import os; os.environ['OMP_WAIT_POLICY'] = 'ACTIVE'", ("ACTIVE", "omp")),   # the user's
], ids=["alone", "torch-first", "user-policy"])
def test_numba_threads_do_not_spin_against_blas(before, expected):
    """Spinning OpenMP threads after each Numba kernel took the cores from the next BLAS call
    (resnet18's step 2.4x slower): loading the kernels makes them passive, or gives Numba
    its own pool when PyTorch's OpenMP started first; a policy the user chose is kept."""
    assert _thread_settings(before) == expected


def _idle_blas_cpu_seconds(user_timeout):
    """In a fresh process: a matrix product, minicnn's kernels loaded, another product, then
    0.3 s of sleep; return the CPU time the process used while it slept (OpenBLAS's idle
    threads spinning) and the timeout OpenBLAS holds."""
    import os
    import subprocess
    import sys
    code = ("import time, ctypes, numpy as np; a = np.ones((600, 600), np.float32); a @ a"
            "; import minicnn.cpu; a @ a; start = time.process_time(); time.sleep(0.3)"
            "; idle = time.process_time() - start"
            "; print(idle, *[ctypes.CDLL(p).openblas_thread_timeout() "
            "for p in minicnn.cpu.runtime.loaded_openblas()])")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_THREAD_TIMEOUT", "OMP_NUM_THREADS",
                                                          "OPENBLAS_NUM_THREADS")}
    env["OPENBLAS_NUM_THREADS"] = "2"        # a second thread, even on a one-core machine
    if user_timeout is not None:
        env["OPENBLAS_THREAD_TIMEOUT"] = str(user_timeout)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    return float(out[0]), [int(t) for t in out[1:]]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds OpenBLAS in /proc/self/maps (Linux)")
def test_blas_threads_do_not_spin_against_numba():
    """After each product OpenBLAS's threads spun for 2**28 ticks (~0.1 s) on the core the
    next Numba kernel needed (resnet18's im2col + col2im 510 -> 370 ms per step without it):
    loading the kernels restarts them with the shortest timeout; a timeout the user set is
    kept (and then they do spin: 2**30 ticks is most of the 0.3 s)."""
    idle, timeouts = _idle_blas_cpu_seconds(None)
    if not timeouts:
        pytest.skip("NumPy does not use OpenBLAS here")
    assert timeouts and all(t == 4 for t in timeouts), timeouts
    assert idle < 0.03, f"OpenBLAS threads used {idle:.3f} s of CPU while the process slept"
    idle, timeouts = _idle_blas_cpu_seconds(30)
    assert all(t == 30 for t in timeouts), timeouts
    assert idle > 0.06, f"with the user's long timeout the threads should spin; used {idle:.3f} s"


# ----- image-parallel convolution: one thread per core, single-threaded BLAS -----------------
from minicnn.cpu import threads as conv_threads  # noqa: E402


@pytest.fixture
def two_cores(monkeypatch):
    """The image-parallel path whatever this machine has (it needs 2+ cores to be taken)."""
    monkeypatch.setattr(conv_threads, "cores", lambda: 2)
    if not conv_threads._blas_thread_setters():
        pytest.skip("NumPy's BLAS here is not an OpenBLAS whose thread count minicnn can set")


def _conv_step(x, w, b, g, **settings):
    xt, wt, bt = (mc.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv2d(xt, wt, bt, **settings)
    y.backward(mc.tensor(g))
    return y.data, xt.grad.data, wt.grad.data, bt.grad.data


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, weight, settings", [
    ((6, 4, 9, 9), (5, 4, 3, 3), dict(padding=1)),
    ((5, 6, 8, 7), (4, 3, 3, 2), dict(stride=2, padding=(1, 0), groups=2)),
    ((7, 3, 6, 6), (8, 3, 1, 1), dict()),                                   # 1x1: no columns
], ids=["3x3", "grouped-strided", "1x1"])
def test_image_parallel_conv_equals_the_serial_loop_and_torch(two_cores, monkeypatch, shape, weight,
                                                              settings, dtype):
    """Chunks of images run on two threads (forced small chunks: one image each); the results
    equal the one-thread loop's, and the weight gradient, summed in chunk order, is the same
    every run (no dependence on which thread finished first)."""
    rng = np.random.default_rng(11)
    x, w = rng.standard_normal(shape).astype(dtype), rng.standard_normal(weight).astype(dtype)
    b = rng.standard_normal(weight[0]).astype(dtype)
    y_shape = F.conv2d(mc.tensor(x), mc.tensor(w), **settings).shape
    g = rng.standard_normal(y_shape).astype(dtype)
    per_image = weight[1] * weight[2] * weight[3] * (shape[1] // weight[1]) * y_shape[2] * y_shape[3]
    monkeypatch.setattr(columns, "COLUMN_BUDGET_BYTES", per_image * x.itemsize)   # 1 image/chunk
    ran_on = []
    original = conv_threads.map_chunks

    def watched(work, parts):
        ran_on.append(len(parts))
        return original(lambda part: (ran_on.append(conv_threads.in_worker()), work(part))[1], parts)
    monkeypatch.setattr(conv_threads, "map_chunks", watched)
    threaded = _conv_step(x, w, b, g, **settings)
    again = _conv_step(x, w, b, g, **settings)
    assert ran_on[0] == shape[0] and ran_on.count(True) == 4 * shape[0]     # fwd + bwd, twice
    monkeypatch.setattr(conv_threads, "map_chunks", lambda work, parts: None)
    serial = _conv_step(x, w, b, g, **settings)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for name, a, s, r in zip(("y", "gx", "gw", "gb"), threaded, serial, again):
        np.testing.assert_array_equal(a, r, err_msg=name)
        np.testing.assert_allclose(a, s, rtol=tol, atol=tol, err_msg=name)
    compare_with_torch(lambda x_, w_, b_: F.conv2d(x_, w_, b_, **settings),
                       lambda x_, w_, b_: TF.conv2d(x_, w_, b_, **settings), x, w, b, seed=3)


def test_image_parallel_conv_puts_blas_threads_back_even_after_an_error(two_cores):
    get = conv_threads._blas_thread_setters()[0][0]
    before = get()

    def fails(part):
        if part == 1:
            raise RuntimeError("planted")
        return part
    with pytest.raises(RuntimeError, match="planted"):
        conv_threads.map_chunks(fails, [0, 1, 2])
    assert get() == before
    assert conv_threads.map_chunks(lambda part: (part, get()), [0, 1]) == [(0, 1), (1, 1)]
    assert get() == before


def test_image_parallel_conv_is_not_taken_where_it_cannot_help(two_cores, monkeypatch):
    assert conv_threads.map_chunks(lambda p: p, [0]) is None                 # fewer parts than cores
    assert conv_threads.map_chunks(lambda p: conv_threads.map_chunks(lambda q: q, [0, 1]),
                                   [0, 1]) == [None, None]                   # no nesting
    monkeypatch.setattr(conv_threads, "cores", lambda: 1)
    assert conv_threads.map_chunks(lambda p: p, [0, 1]) is None              # one core


def test_serial_twins_of_im2col_and_col2im_equal_the_parallel_kernels():
    from minicnn.cpu import conv as cpu_conv
    rng = np.random.default_rng(12)
    x = rng.standard_normal((3, 4, 7, 6)).astype(np.float32)
    cols = [np.empty((4, 3, 2, 3, 4, 3), np.float32) for _ in range(2)]
    cpu_conv._im2col_kernel(x, cols[0], 2, 2, 1, 0, 1, 2)
    cpu_conv._im2col_serial(x, cols[1], 2, 2, 1, 0, 1, 2)
    np.testing.assert_array_equal(cols[0], cols[1])
    folded = [k(cols[0], 7, 6, 2, 2, 1, 0, 1, 2) for k in (cpu_conv._col2im_kernel, cpu_conv._col2im_serial)]
    np.testing.assert_array_equal(*folded)


def test_image_parallel_conv_after_importing_torch_in_a_fresh_process():
    """PyTorch imported first gives Numba its "workqueue" pool, which aborts the process if
    two threads enter a parallel kernel at once: the workers must run the serial twins, also
    when Numba's on-disk cache already holds the parallel kernels (a shared name once made
    the cache hand the twin the parallel code).  A one-chunk convolution runs the parallel
    kernels on the main thread first; then eight chunks run on two threads."""
    import os
    import subprocess
    code = ("import torch, numpy as np, minicnn as mc, minicnn.functional as F"
            "; from minicnn.functional import columns; from minicnn.cpu import threads"
            "; threads.cores = lambda: 2; columns.COLUMN_BUDGET_BYTES = 4 * 9 * 64 * 4"
            "; one = mc.tensor(np.ones((1, 4, 8, 8), np.float32), requires_grad=True)"   # 1 chunk:
            "; F.conv2d(one, mc.tensor(np.ones((3, 4, 3, 3), np.float32)), padding=1).sum().backward()"
            "; x = mc.tensor(np.ones((8, 4, 8, 8), np.float32), requires_grad=True)"
            "; F.conv2d(x, mc.tensor(np.ones((3, 4, 3, 3), np.float32)), padding=1).sum().backward()"
            "; import numba; print(numba.config.THREADING_LAYER, float(x.grad.data.sum()))")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "NUMBA_THREADING_LAYER")}
    for _ in range(2):               # the second process finds the first one's cache
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
    layer, total = out.stdout.split()
    assert layer == "workqueue" and float(total) == 8 * 4 * (6 * 6 * 9 + 4 * 6 * 6 + 4 * 4) * 3


def test_an_image_over_the_budget_runs_in_bands_of_rows_on_both_cores(two_cores, monkeypatch):
    """A chunk per core in flight would multiply the column memory (VGG's 224x224 layers:
    115 MB per image), so such an image is cut into bands of output rows whose columns fit:
    the forward runs every band of the batch on the pool, the backward a few whole images'
    bands at a time (their gradient rows are added in band order).  An image over the
    budget by less than 2x keeps the one-image-at-a-time loop (measured faster)."""
    calls = []
    original = conv_threads.map_chunks
    monkeypatch.setattr(conv_threads, "map_chunks",
                        lambda work, parts: (calls.append(len(parts)), original(work, parts))[1])
    x = mc.tensor(np.ones((4, 2, 6, 6), np.float32), requires_grad=True)
    w = mc.tensor(np.ones((3, 2, 3, 3), np.float32), requires_grad=True)
    per_image = 2 * 9 * 36 * 4                                   # bytes of one image's columns
    monkeypatch.setattr(columns, "COLUMN_BUDGET_BYTES", per_image)
    F.conv2d(x, w, padding=1).sum().backward()
    assert calls == [4, 4]                                       # fits: chunks of images
    fitting = x.grad.numpy().copy(), w.grad.numpy().copy()
    calls.clear()
    monkeypatch.setattr(columns, "COLUMN_BUDGET_BYTES", per_image - 1)  # over, but not 2x over:
    F.conv2d(x, w, padding=1).sum().backward()                       # one image at a time, in turn
    assert calls == []
    x.grad = w.grad = None
    monkeypatch.setattr(columns, "COLUMN_BUDGET_BYTES", per_image // 2 - 1)  # 2 rows fit: 2+2+2
    F.conv2d(x, w, padding=1).sum().backward()
    assert calls == [12, 6, 6]              # backward: whole images, at least 4 bands per call
    np.testing.assert_array_equal(x.grad.numpy(), fitting[0])
    np.testing.assert_array_equal(w.grad.numpy(), fitting[1])


BAND_GEOMETRIES = [dict(padding=1), dict(stride=2, padding=1),
                   dict(stride=(2, 1), padding=(2, 3), dilation=(1, 2), groups=2),
                   dict(padding=3), dict(stride=3, padding=4, dilation=2), dict(),
                   dict(stride=5, padding=6)]


@pytest.mark.parametrize("rows_per_band", [1, 3])
@pytest.mark.parametrize("kernel, settings", list(zip([(3, 3), (3, 3), (5, 3), (1, 1), (3, 3), (7, 7), (2, 2)],
                                                      BAND_GEOMETRIES)), ids=str)
def test_conv2d_in_bands_of_rows_matches_torch(monkeypatch, kernel, settings, rows_per_band):
    """Bands of 1 and 3 output rows (the last one short) through every geometry that changes
    which input rows a band reads: stride, dilation, padding wider than the kernel (bands
    of padding only), a kernel taller than the stride (bands overlap), groups.  Forward and
    every gradient of a random upstream gradient, float64, against PyTorch."""
    rng = np.random.default_rng(14)
    groups = settings.get("groups", 1)
    x = rng.standard_normal((2, 4, 13, 11))
    w = rng.standard_normal((6, 4 // groups) + kernel)
    b = rng.standard_normal(6)
    ow = F.conv2d(mc.tensor(x), mc.tensor(w), **settings).shape[3]
    per_row = 4 * kernel[0] * kernel[1] * ow * x.itemsize      # column bytes of an output row
    monkeypatch.setattr(columns, "COLUMN_BUDGET_BYTES", rows_per_band * per_row)
    monkeypatch.setattr(columns, "BANDS_FROM", 1)                   # small maps: bands anyway
    oh = F.conv2d(mc.tensor(x), mc.tensor(w), **settings).shape[2]
    bands = columns.output_row_bands(x, oh, per_row // x.itemsize)
    assert bands is not None and len(bands) == 2 * -(-oh // rows_per_band)
    compare_with_torch(lambda *t: F.conv2d(*t, **settings), lambda *t: TF.conv2d(*t, **settings),
                       x, w, b, seed=5)


# ----- depthwise convolution: its own op against the grouped im2col path ---------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("C, M, settings", [(6, 1, dict(padding=1)), (6, 1, dict(stride=2, padding=1)),
                                            (3, 2, dict(stride=(1, 2), padding=(2, 0), dilation=(2, 1)))],
                         ids=["3x3", "3x3-stride2", "multiplier-2"])
def test_depthwise_op_equals_the_grouped_im2col_path(C, M, settings, dtype):
    """The same layer (groups = C) by DepthwiseConv2d on the Numba kernels and by Conv2d's C
    grouped GEMMs: equal outputs and gradients, to float rounding."""
    from minicnn.functional import conv_algorithm
    rng = np.random.default_rng(13)
    x, w = rng.standard_normal((3, C, 9, 8)).astype(dtype), rng.standard_normal((C * M, 1, 3, 3)).astype(dtype)
    b = rng.standard_normal(C * M).astype(dtype)
    y_shape = F.conv2d(mc.tensor(x), mc.tensor(w), groups=C, **settings).shape
    g = rng.standard_normal(y_shape).astype(dtype)
    results = {}
    for algorithm in ("depthwise", "im2col"):
        with conv_algorithm.use(algorithm):
            xt, wt, bt = (mc.tensor(a, requires_grad=True) for a in (x, w, b))
            y = F.conv2d(xt, wt, bt, groups=C, **settings)
            y.backward(mc.tensor(g))
            results[algorithm] = (type(y.grad_fn).__name__, y.data, xt.grad.data, wt.grad.data, bt.grad.data)
    assert results["depthwise"][0] == "DepthwiseConv2d" and results["im2col"][0] == "Conv2d"
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for name, a, r in zip(("y", "gx", "gw", "gb"), results["depthwise"][1:], results["im2col"][1:]):
        np.testing.assert_allclose(a, r, rtol=tol, atol=tol, err_msg=name)
