"""The ops' GPU branches, run without a GPU.

Each op asks ``minicnn.dispatch`` for its kernels, which sends CuPy arrays to CUDA.
To run those branches here, ``FakeCupy`` stands in for CuPy: its arrays are NumPy
arrays of a subclass that minicnn's backend takes for CuPy's (it looks at the
class's module), and ``minicnn.cuda.ops()`` launches the kernels through the CPU
emulation.  So ``F.conv2d`` on a "cuda" tensor takes exactly the path it takes on a
GPU -- the launch layer and the kernels included -- and must agree with the CPU.
"""
import types

import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from minicnn import backend
from minicnn.cuda import emulation
from minicnn.cuda.emulation import EmulationLoader
from minicnn.cuda.launch import KernelOps
from minicnn.utils import assert_close

pytestmark = pytest.mark.skipif(emulation.compiler() is None,
                                reason="no C++ compiler (g++ or $CXX) for the CUDA emulation")


class FakeCupyArray(np.ndarray):
    """A NumPy array that minicnn's backend takes for a CuPy array."""
    __module__ = "cupy_stand_in"

    def get(self):                                   # cupy.ndarray.get(): copy to the host
        return np.asarray(self).copy()


def _device(value):
    if isinstance(value, np.ndarray) and not isinstance(value, FakeCupyArray):
        return value.view(FakeCupyArray)
    if isinstance(value, tuple):
        return tuple(_device(v) for v in value)
    return value


class FakeCupy(types.ModuleType):
    """numpy, with every array it returns moved to the "device"."""

    ndarray = FakeCupyArray
    random = np.random

    def __init__(self):
        super().__init__("cupy_stand_in")

    def __getattr__(self, name):
        attr = getattr(np, name)
        if not callable(attr) or isinstance(attr, type):
            return attr
        return lambda *args, **kwargs: _device(attr(*args, **kwargs))


@pytest.fixture
def fake_gpu(monkeypatch):
    """Make 'cuda' tensors FakeCupyArrays and mc.cuda.ops() the emulated kernels;
    returns the count of kernel-op calls."""
    fake = FakeCupy()
    monkeypatch.setattr(backend, "_cupy", fake)
    ops = KernelOps(fake, EmulationLoader())
    calls = {}
    for name in [n for n in dir(KernelOps) if not n.startswith("_")]:
        def counting(*args, _name=name, _fn=getattr(ops, name), **kwargs):
            calls[_name] = calls.get(_name, 0) + 1
            return _fn(*args, **kwargs)
        monkeypatch.setattr(ops, name, counting)
    monkeypatch.setattr(mc.cuda, "_ops", ops)
    return calls


def run_on(device, fn, arrays, g, seed=0):
    """fn on tensors on ``device``; returns the output and the input gradients (NumPy)."""
    tensors = [mc.tensor(a, requires_grad=True, device=device) for a in arrays]
    out = fn(*tensors)
    assert out.device == device
    out.backward(mc.tensor(g, device=device))
    return out.numpy(), [t.grad.numpy() for t in tensors]


def no_ties(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.permutation(np.linspace(-4, 4, int(np.prod(shape)))).reshape(shape)


OPS = {   # name -> (function, input shapes, kernel ops it must call)
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, (2, 1), 1, (1, 2), groups=2),
               [(2, 4, 7, 6), (6, 2, 3, 3), (6,)], {"im2col", "col2im"}),
    "max_pool2d": (lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), [(2, 3, 7, 6)],
                   {"max_pool_forward", "max_pool_backward"}),
    "max_pool2d dilated": (lambda x: F.max_pool2d(x, 3, 1, 1, dilation=2), [(1, 2, 7, 6)],
                           {"max_pool_forward", "max_pool_backward"}),
    "adaptive_max_pool2d": (lambda x: F.adaptive_max_pool2d(x, (3, 4)), [(2, 3, 7, 6)],
                            {"max_pool_forward", "max_pool_backward"}),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
                   [(2, 3, 7, 6)], {"avg_pool_forward", "avg_pool_backward"}),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x, (4, 3)), [(2, 3, 7, 6)],
                            {"avg_pool_forward", "avg_pool_backward"}),
    "batch_norm train": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                         [(3, 4, 2, 3), (4,), (4,)],
                         {"batch_norm_stats", "batch_norm_forward", "batch_norm_backward_sums",
                          "batch_norm_backward"}),
    "batch_norm eval": (lambda x: F.batch_norm(
                            x, mc.tensor(np.arange(4.0), device=x.device),
                            mc.tensor(np.arange(1.0, 5.0), device=x.device), training=False),
                        [(3, 4, 2)], {"batch_norm_forward", "batch_norm_backward"}),
    "local_response_norm": (lambda x: F.local_response_norm(x, 4, 1.0, 0.75, 2.0),
                            [(2, 7, 3, 2)], {"lrn_forward", "lrn_backward"}),
    "relu": (F.relu, [(3, 4, 5)], {"relu_forward", "relu_backward"}),
    # unbatched input and uneven padding='same' (the extra zero on the right/bottom)
    "conv2d unbatched same": (lambda x, w: F.conv2d(x, w, padding="same", dilation=(1, 2)),
                              [(4, 7, 6), (6, 4, 2, 3)], {"im2col", "col2im"}),
    # empty batches (N=0): empty outputs and input gradients, zero parameter gradients
    "conv2d empty batch": (lambda x, w, b: F.conv2d(x, w, b, 2, 1), [(0, 4, 7, 6), (6, 4, 3, 3), (6,)],
                           {"im2col", "col2im"}),
    "max_pool2d empty batch": (lambda x: F.max_pool2d(x, 3, 2, 1), [(0, 3, 7, 6)],
                               {"max_pool_forward", "max_pool_backward"}),
    "avg_pool2d empty batch": (lambda x: F.avg_pool2d(x, 2), [(0, 3, 7, 6)],
                               {"avg_pool_forward", "avg_pool_backward"}),
    "batch_norm train empty batch": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                                     [(0, 4, 2, 3), (4,), (4,)],   # no statistics to take
                                     {"batch_norm_forward", "batch_norm_backward_sums",
                                      "batch_norm_backward"}),
    "local_response_norm empty batch": (lambda x: F.local_response_norm(x, 3, 1.0), [(0, 5, 3, 2)],
                                        {"lrn_forward", "lrn_backward"}),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", sorted(OPS))
def test_gpu_branch_of_op_matches_cpu(fake_gpu, name, dtype):
    fn, shapes, kernels = OPS[name]
    rng = np.random.default_rng(1)
    arrays = [no_ties(s, seed=i).astype(dtype) for i, s in enumerate(shapes)]
    with mc.no_grad():
        out_shape = fn(*[mc.tensor(a) for a in arrays]).shape
    g = rng.standard_normal(out_shape).astype(dtype)
    out_cpu, grads_cpu = run_on("cpu", fn, arrays, g)
    assert not fake_gpu, "the CPU run must not touch the kernels"
    out_gpu, grads_gpu = run_on("cuda", fn, arrays, g)
    assert kernels <= set(fake_gpu), f"{name} did not launch {sorted(kernels - set(fake_gpu))}"
    assert_close(out_gpu, out_cpu, name=f"{name} forward")
    for i, (a, b) in enumerate(zip(grads_gpu, grads_cpu)):
        assert_close(a, b, name=f"{name} gradient {i}")


@pytest.mark.parametrize("name", sorted(OPS) + ["dropout"])
def test_op_saves_the_same_state_on_cpu_and_gpu(fake_gpu, name):
    """An op's Function keeps the same attributes whichever implementation ran: the
    backward reads one set of names, not one per device."""
    fn, shapes, _ = OPS[name] if name != "dropout" else (
        lambda x: F.dropout(x, 0.5, training=True), [(2, 3, 4)], None)
    arrays = [no_ties(s, seed=i) for i, s in enumerate(shapes)]
    saved = {}
    for device in ("cpu", "cuda"):
        out = fn(*[mc.tensor(a, requires_grad=True, device=device) for a in arrays])
        saved[device] = sorted(vars(out._creator))
    assert saved["cpu"] == saved["cuda"]


@pytest.mark.parametrize("dropout", [F.dropout, F.dropout2d])
def test_gpu_branch_of_dropout_applies_its_mask(fake_gpu, dropout):
    x = np.ones((4, 6, 3, 3), np.float32)
    g = np.random.default_rng(2).standard_normal(x.shape).astype(np.float32)
    mc.manual_seed(3)
    out, (gx,) = run_on("cuda", lambda t: dropout(t, 0.25, training=True), [x], g)
    assert fake_gpu.get("masked_scale") == 2                       # forward and backward
    kept = out != 0
    np.testing.assert_allclose(out[kept], 1 / 0.75)
    np.testing.assert_allclose(gx, np.where(kept, g / 0.75, 0), rtol=1e-6)
    assert 0 < kept.mean() < 1
