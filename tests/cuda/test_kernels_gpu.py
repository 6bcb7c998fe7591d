"""On a real GPU: the CUDA kernels and the ops built on them, against NumPy and PyTorch.

Run with ``pytest -m gpu`` on a machine with CuPy (the wheel for its CUDA version,
e.g. cupy-cuda12x) and an NVIDIA GPU; elsewhere every test here is skipped with the
reason (tests/conftest.py).  The checks:

* every kernel case of test_kernels_emulation.py, now on CuPy arrays through
  ``minicnn.cuda.ops()``: the GPU gives the NumPy backend's results -- the default cases,
  and its shared edge cases (empty batches, odd channel counts and sizes, batch norm's
  block reductions over channels shorter and longer than a block);
* the op table's ``device`` samples (tests/op_table.py), the check of
  test_kernels_wiring.py on real CuPy: "cuda" tensors give the CPU's outputs and
  gradients and launch the kernels the CPU path dispatches;
* the ops (conv2d with im2col and with Winograd, pools, batch norm, LRN, dropout, ReLU)
  on CuPy tensors, forward and backward of a random upstream gradient, against PyTorch
  on CUDA, and proof that they really ran the hand-written kernels;
* small models (ResNet-18, GoogLeNet with its BN-eps 1e-3, AlexNet) against
  torchvision on CUDA, with the same weights.

PyTorch may use TF32 tensor-core maths for convolutions on Ampere and newer, which
would make it less exact than the float32 it claims; it is switched off here.
"""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from minicnn import backend
from minicnn.functional import conv_algorithm
from minicnn.utils import assert_close, compare_with_torch
from tests.cuda.test_kernels_emulation import (BATCH_NORM_REDUCTION_SHAPES, CASES, EMPTY_BATCH_CASES,
                                               ODD_SIZE_CASES, case_batch_norm,
                                               case_batch_norm_reductions, check)
from tests.cuda.test_kernels_wiring import check_gpu_branch_matches_cpu, counting_kernel_calls, device_cases

pytestmark = pytest.mark.gpu

DTYPES = (np.float32, np.float64)


@pytest.fixture(scope="module")
def cp():
    return backend.require_cupy()


@pytest.fixture(scope="module")
def torch_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch was built without CUDA or sees no GPU")
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    return torch


# ----- the kernel cases on the GPU -------------------------------------------------------------
class OnGpu:
    """minicnn.cuda.ops() with NumPy in and out: the emulation's cases run unchanged."""

    def __init__(self, cp):
        self.cp, self.ops = cp, mc.cuda.ops()

    def __getattr__(self, name):
        kernel_op = getattr(self.ops, name)

        def run(*args):
            args = [self.cp.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
            out = kernel_op(*args)
            return tuple(map(backend.to_numpy, out)) if isinstance(out, tuple) else backend.to_numpy(out)
        return run


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_kernel_cases_on_gpu_match_numpy(cp, dtype):
    for name, case in sorted(CASES.items()):
        check(case(OnGpu(cp), dtype, np.random.default_rng(0)))
    check(case_batch_norm(OnGpu(cp), dtype, np.random.default_rng(0), training=False))


@pytest.mark.parametrize("case, kwargs", EMPTY_BATCH_CASES + ODD_SIZE_CASES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_kernel_edge_cases_on_gpu_match_numpy(cp, case, kwargs, dtype):
    """N=0 (CUDA refuses an empty grid: nothing may be launched) and odd sizes: Winograd's
    and the pools' last tiles and windows sticking out, 5, 7 and 33 channels, 1x1 maps."""
    check(CASES[case](OnGpu(cp), dtype, np.random.default_rng(0), **kwargs))


@pytest.mark.parametrize("shape", BATCH_NORM_REDUCTION_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_batch_norm_block_reductions_on_gpu_match_numpy(cp, shape, dtype):
    """The per-channel block reductions (real __shared__ memory and __syncthreads here, not
    the emulation's fibers): one block, channels longer than a block and no multiple of it,
    odd channel counts, an (N, C) input; x around 1e4, where a one-pass variance cancels."""
    check(case_batch_norm_reductions(OnGpu(cp), dtype, np.random.default_rng(0), shape))


def test_kernels_compile_once_per_process(cp):
    ops = mc.cuda.ops()
    assert mc.cuda.ops() is ops
    x = cp.ones((4, 4), cp.float32)
    ops.relu_forward(x)
    modules = dict(ops.loader._modules)
    ops.relu_forward(x)
    assert ops.loader._modules == modules and ("activation", np.dtype(np.float32)) in modules


# ----- ops against PyTorch on CUDA -------------------------------------------------------------
# compare_with_torch(..., device="cuda"): CuPy tensors against CUDA torch tensors, forward and
# every input gradient of a random upstream gradient.
def no_ties(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.permutation(np.linspace(-4, 4, int(np.prod(shape)))).reshape(shape)


@pytest.fixture
def kernel_calls(monkeypatch, cp):
    """Counts the calls of each minicnn.cuda.ops() function: proves an op used its kernel."""
    return counting_kernel_calls(monkeypatch, mc.cuda.ops())


@pytest.mark.parametrize("op, sample, dtype", list(device_cases()))
def test_gpu_branch_of_op_matches_cpu_on_gpu(kernel_calls, op, sample, dtype):
    """test_kernels_wiring.py's check with real CuPy and the compiled kernels: forward and
    backward of a random upstream gradient on "cuda" tensors give the CPU's results."""
    check_gpu_branch_matches_cpu(op, sample, kernel_calls)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("stride, padding, dilation, groups",
                         [(1, 1, 1, 1), ((2, 1), (1, 2), (1, 2), 2), (2, 0, 1, 1)])
def test_conv2d_matches_torch(torch_cuda, kernel_calls, dtype, stride, padding, dilation, groups):
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 4, 9, 8)), rng.standard_normal((6, 4 // groups, 3, 3)), \
        rng.standard_normal(6)
    compare_with_torch(lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups),
                       lambda x, w, b: torch_cuda.nn.functional.conv2d(x, w, b, stride, padding,
                                                                       dilation, groups),
                       x, w, b, dtype=dtype, device="cuda")
    assert kernel_calls.get("im2col") and kernel_calls.get("col2im")


WINOGRAD_KERNELS = {"winograd_input", "winograd_output", "winograd_output_adjoint",
                    "winograd_input_adjoint"}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape, padding", [((2, 5, 9, 7), 1), ((1, 3, 6, 11), (0, 2)),
                                            ((3, 4, 1, 1), 1)])
def test_winograd_conv2d_matches_torch(torch_cuda, kernel_calls, dtype, shape, padding):
    """conv2d with conv_algorithm.use("winograd"): odd sizes (the last tiles stick out),
    uneven padding, a 1x1 map; it must launch the four Winograd kernels, and no im2col."""
    rng = np.random.default_rng(10)
    x, w, b = rng.standard_normal(shape), rng.standard_normal((7, shape[1], 3, 3)), rng.standard_normal(7)
    with conv_algorithm.use("winograd"):
        compare_with_torch(lambda x, w, b: F.conv2d(x, w, b, 1, padding),
                           lambda x, w, b: torch_cuda.nn.functional.conv2d(x, w, b, 1, padding),
                           x, w, b, dtype=dtype, device="cuda")
    assert WINOGRAD_KERNELS <= set(kernel_calls), f"never called: {sorted(WINOGRAD_KERNELS - set(kernel_calls))}"
    assert "im2col" not in kernel_calls and "col2im" not in kernel_calls


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kernel_size, stride, padding, dilation, ceil_mode",
                         [(3, 2, 1, 1, True), (2, 2, 0, 1, False), (3, 1, 1, 2, False),
                          (3, 2, 0, 1, True)])
def test_max_pool2d_matches_torch(torch_cuda, kernel_calls, dtype, kernel_size, stride, padding,
                                  dilation, ceil_mode):
    x = no_ties((2, 3, 9, 8))
    for return_indices in (False, True):
        compare_with_torch(
            lambda t: F.max_pool2d(t, kernel_size, stride, padding, dilation, ceil_mode,
                                   return_indices),
            lambda t: torch_cuda.nn.functional.max_pool2d(t, kernel_size, stride, padding,
                                                          dilation, ceil_mode, return_indices),
            x, dtype=dtype, device="cuda")
    assert kernel_calls.get("max_pool_forward") and kernel_calls.get("max_pool_backward")


def test_max_pool2d_padding_is_minus_inf_on_gpu(torch_cuda):
    x = -1 - no_ties((1, 2, 5, 5)) ** 2            # all negative: a padded 0 must not win
    compare_with_torch(lambda t: F.max_pool2d(t, 3, 2, 1),
                       lambda t: torch_cuda.nn.functional.max_pool2d(t, 3, 2, 1), x,
                       dtype=np.float64, device="cuda")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kernel_size, stride, padding, ceil_mode, count_include_pad, divisor",
                         [(3, 1, 1, False, True, None), (3, 2, 1, True, True, None),
                          (3, 2, 1, True, False, None), (2, 2, 0, False, True, 3)])
def test_avg_pool2d_matches_torch(torch_cuda, kernel_calls, dtype, kernel_size, stride, padding,
                                  ceil_mode, count_include_pad, divisor):
    x = np.random.default_rng(2).standard_normal((2, 3, 9, 8))
    compare_with_torch(
        lambda t: F.avg_pool2d(t, kernel_size, stride, padding, ceil_mode, count_include_pad,
                               divisor),
        lambda t: torch_cuda.nn.functional.avg_pool2d(t, kernel_size, stride, padding, ceil_mode,
                                                      count_include_pad, divisor),
        x, dtype=dtype, device="cuda")
    assert kernel_calls.get("avg_pool_forward") and kernel_calls.get("avg_pool_backward")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("in_size, out_size", [((13, 13), (6, 6)), ((7, 7), (7, 7)),
                                               ((9, 7), (4, 3)), ((5, 6), (1, 1))])
def test_adaptive_avg_pool2d_matches_torch(torch_cuda, dtype, in_size, out_size):
    x = np.random.default_rng(3).standard_normal((2, 3) + in_size)
    compare_with_torch(lambda t: F.adaptive_avg_pool2d(t, out_size),
                       lambda t: torch_cuda.nn.functional.adaptive_avg_pool2d(t, out_size), x,
                       dtype=dtype, device="cuda")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_torch(torch_cuda, kernel_calls, dtype, training):
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((4, 3, 5, 6)), rng.standard_normal(3), rng.standard_normal(3)
    mean, var = rng.standard_normal(3).astype(dtype), rng.uniform(0.5, 2, 3).astype(dtype)
    stats = {"mine": (mc.tensor(mean, device="cuda"), mc.tensor(var, device="cuda")),
             "theirs": (torch_cuda.tensor(mean, device="cuda"), torch_cuda.tensor(var, device="cuda"))}
    compare_with_torch(
        lambda x, w, b: F.batch_norm(x, *stats["mine"], w, b, training, 0.1, 1e-3),
        lambda x, w, b: torch_cuda.nn.functional.batch_norm(x, *stats["theirs"], w, b, training,
                                                            0.1, 1e-3),
        x, w, b, dtype=dtype, device="cuda")
    for mine, theirs in zip(stats["mine"], stats["theirs"]):     # running statistics
        assert_close(mine, theirs, name="running statistics")
    used = {"batch_norm_forward", "batch_norm_backward_sums", "batch_norm_backward"}
    used |= {"batch_norm_stats"} if training else set()
    assert used <= set(kernel_calls), f"never called: {sorted(used - set(kernel_calls))}"


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("size", [2, 5])
def test_local_response_norm_matches_torch(torch_cuda, kernel_calls, dtype, size):
    x = np.random.default_rng(5).standard_normal((2, 7, 4, 5))
    # alpha = 1: with the default 1e-4 an off-by-one window would still pass
    compare_with_torch(
        lambda t: F.local_response_norm(t, size, 1.0, 0.75, 2.0),
        lambda t: torch_cuda.nn.functional.local_response_norm(t, size, 1.0, 0.75, 2.0),
        x, dtype=dtype, device="cuda")
    assert kernel_calls.get("lrn_forward") and kernel_calls.get("lrn_backward")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_relu_matches_torch(torch_cuda, kernel_calls, dtype):
    x = np.random.default_rng(6).standard_normal((3, 4, 5))
    x.flat[::5] = 0.0
    compare_with_torch(F.relu, torch_cuda.relu, x, dtype=dtype, device="cuda")
    assert kernel_calls.get("relu_forward") and kernel_calls.get("relu_backward")


def check_dropout(name, y, gx, g, p):
    kept = y != 0
    assert np.allclose(y[kept], 1 / (1 - p)), f"{name}: kept units not scaled by 1/(1-p)"
    assert abs(kept.mean() - (1 - p)) < 0.01, f"{name}: kept {kept.mean():.4f}, expected {1 - p}"
    np.testing.assert_allclose(gx, np.where(kept, g / (1 - p), 0), rtol=1e-6, err_msg=name)


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_mask_semantics_match_torch(torch_cuda, kernel_calls, p):
    """The masks are random, so check what both promise: each unit is zeroed with
    probability p, kept ones are scaled by 1/(1-p), and the gradient uses the same mask."""
    mc.manual_seed(0)
    shape = (64, 32, 8, 8)                                          # 131072 units
    ones = np.ones(shape, np.float32)
    g = np.random.default_rng(7).standard_normal(shape).astype(np.float32)

    x = mc.tensor(ones, requires_grad=True, device="cuda")
    y = F.dropout(x, p, training=True)
    y.backward(mc.tensor(g, device="cuda"))
    check_dropout("minicnn", y.numpy(), x.grad.numpy(), g, p)
    assert kernel_calls.get("masked_scale")

    xt = torch_cuda.tensor(ones, requires_grad=True, device="cuda")
    yt = torch_cuda.nn.functional.dropout(xt, p, training=True)
    yt.backward(torch_cuda.tensor(g, device="cuda"))
    check_dropout("torch", yt.detach().cpu().numpy(), xt.grad.cpu().numpy(), g, p)

    # dropout2d zeroes whole channels: every plane is all 0 or all 1/(1-p)
    planes = F.dropout2d(mc.tensor(ones, device="cuda"), p, training=True).numpy().reshape(64 * 32, -1)
    assert (planes == planes[:, :1]).all()
    assert abs((planes[:, 0] != 0).mean() - (1 - p)) < 0.05


# ----- small models against torchvision ---------------------------------------------------------
MODELS = {   # name -> (input shape, extra constructor arguments)
    "resnet18": ((2, 3, 64, 64), {}),
    "googlenet": ((2, 3, 64, 64), {"aux_logits": False, "init_weights": False}),
    "alexnet": ((2, 3, 96, 96), {}),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_on_gpu_matches_torchvision(torch_cuda, name):
    """One training step's forward and backward, float64 on both sides (exact enough to
    catch a wrong index anywhere, while float32 noise could hide one)."""
    tv = pytest.importorskip("torchvision")
    models = pytest.importorskip("minicnn.models")
    shape, kwargs = MODELS[name]
    torch_cuda.manual_seed(0)
    theirs = getattr(tv.models, name)(weights=None, num_classes=10, **kwargs).double().cuda()
    mine = getattr(models, name)(num_classes=10, **kwargs)
    mine.load_state_dict({k: v.detach().cpu().numpy() for k, v in theirs.state_dict().items()})
    mine = mine.double().cuda()
    for m in (mine, theirs):
        m.train()
        for mod in m.modules():                     # dropout is random: compare without it
            if type(mod).__name__.startswith("Dropout"):
                mod.eval()
    x = np.random.default_rng(8).standard_normal(shape)
    g = np.random.default_rng(9).standard_normal((shape[0], 10))
    out = mine(mc.tensor(x, device="cuda"))
    ref = theirs(torch_cuda.tensor(x, device="cuda"))
    assert_close(out, ref, rtol=1e-7, atol=1e-9, name=f"{name} logits")
    out.backward(mc.tensor(g, device="cuda"))
    ref.backward(torch_cuda.tensor(g, device="cuda"))
    mine_params = dict(mine.named_parameters())
    for key, p in theirs.named_parameters():
        assert_close(mine_params[key].grad, p.grad, rtol=1e-6, atol=1e-9, name=f"{name} {key}.grad")
