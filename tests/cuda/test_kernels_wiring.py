"""The ops' GPU branches, run without a GPU.

Each op asks ``minicnn.dispatch`` for its kernels, which sends CuPy arrays to CUDA.
To run those branches here, ``FakeCupy`` stands in for CuPy: its arrays are NumPy
arrays of a subclass that minicnn's backend takes for CuPy's (it looks at the
class's module), and ``minicnn.cuda.ops()`` launches the kernels through the CPU
emulation.  So ``F.conv2d`` on a "cuda" tensor takes exactly the path it takes on a
GPU -- the launch layer and the kernels included -- and must agree with the CPU.  The cases
are the op table's ``device`` samples (tests/op_table.py).
"""
import types

import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from minicnn import backend
from minicnn.autograd import Function
from minicnn.cuda import emulation
from minicnn.cuda.emulation import EmulationLoader
from minicnn.cuda.launch import KernelOps
from minicnn.utils import assert_close
from tests.op_table import FLOATS, OPS, first, recording_kernels, run

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
    monkeypatch.setattr(mc.cuda, "_ops", ops)
    return counting_kernel_calls(monkeypatch, ops)


def counting_kernel_calls(monkeypatch, ops):
    """Wrap every kernel-op method of ``ops`` (a KernelOps) to count its calls, for the rest of
    the test: returns {kernel op name: calls}, filled as they happen.  Shared with
    tests/cuda/test_kernels_gpu.py, which counts the real mc.cuda.ops()."""
    calls = {}
    for name in [n for n in dir(type(ops)) if not n.startswith("_")]:
        def counting(*args, _name=name, _fn=getattr(ops, name), **kwargs):
            calls[_name] = calls.get(_name, 0) + 1
            return _fn(*args, **kwargs)
        monkeypatch.setattr(ops, name, counting)
    return calls


def device_cases(dtypes=FLOATS):
    """The op table's ``device`` samples: odd sizes, every setting, empty batches."""
    for op in OPS:
        for dtype in dtypes:
            for sample in op.sample_inputs(dtype):
                if sample.device:
                    yield pytest.param(op, sample, dtype, id=f"{op.name}-{sample.name}-{np.dtype(dtype).name}")


def outputs(out):
    return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]


@pytest.mark.parametrize("op, sample, dtype", list(device_cases()))
def test_gpu_branch_of_op_matches_cpu(fake_gpu, op, sample, dtype):
    check_gpu_branch_matches_cpu(op, sample, fake_gpu)


def check_gpu_branch_matches_cpu(op, sample, kernel_calls):
    """Forward and backward (a random upstream gradient) on "cuda" tensors give the CPU's
    outputs and input gradients, and launch the kernels the CPU path dispatches (and the
    ones the sample names).  ``kernel_calls``: the counts of ``counting_kernel_calls`` on
    the ops "cuda" tensors use (emulated here, real CuPy in tests/cuda/test_kernels_gpu.py)."""
    with recording_kernels() as dispatched:
        out_cpu, inputs_cpu = run(op, sample, "cpu")
    assert not kernel_calls, "the CPU run must not touch the kernels"
    out_gpu, inputs_gpu = run(op, sample, "cuda")
    assert all(o.device == "cuda" for o in (out_gpu if isinstance(out_gpu, tuple) else (out_gpu,)))
    launched = set(kernel_calls)
    assert launched == {call.name for call in dispatched}, (
        f"the GPU launched {sorted(launched)}, the CPU path dispatched {sorted({c.name for c in dispatched})}")
    assert (sample.kernels or set()) <= launched, f"did not launch {sorted(set(sample.kernels) - launched)}"
    for k, (a, b) in enumerate(zip(outputs(out_gpu), outputs(out_cpu), strict=True)):
        assert_close(a, b, name=f"{op.name} output {k}")
    for i in sample.grad_positions():
        assert_close(inputs_gpu[i].grad.numpy(), inputs_cpu[i].grad.numpy(), name=f"{op.name} gradient {i}")


def saved_state(op, sample, device):
    """What each Function of the op's graph keeps: [(its class, its attributes' names, its
    saved values)], from the output back."""
    grad = sample.grad_positions()
    tensors = [None if a is None else mc.tensor(a, requires_grad=i in grad, device=device)
               for i, a in enumerate(sample.arrays)]
    out = first(op.op(*tensors, **sample.kwargs))
    state, todo, seen = [], [out.grad_fn], set()
    while todo:
        fn = todo.pop()
        if not isinstance(fn, Function) or id(fn) in seen:
            continue
        seen.add(id(fn))
        state.append((type(fn).__name__, sorted(vars(fn)), fn.saved))
        todo.extend(reversed(fn.parents))
    return state


@pytest.mark.parametrize("op, sample, dtype", list(device_cases()))
def test_op_saves_the_same_state_on_cpu_and_gpu(fake_gpu, op, sample, dtype):
    """An op's Functions keep the same attributes whichever implementation ran, and save the
    same arrays for backward (names, shapes, dtypes, values): the backward reads one set of
    names, not one per device."""
    cpu, gpu = saved_state(op, sample, "cpu"), saved_state(op, sample, "cuda")
    assert [(name, attributes) for name, attributes, _ in gpu] == [(name, attributes) for name, attributes, _ in cpu]
    for (name, _, on_gpu), (_, _, on_cpu) in zip(gpu, cpu):
        assert list(on_gpu) == list(on_cpu), name
        for key, value in on_cpu.items():
            if isinstance(value, np.ndarray):
                got = on_gpu[key]
                assert isinstance(got, FakeCupyArray), f"{name}.{key} is not on the device"
                assert got.shape == value.shape and got.dtype == value.dtype, f"{name}.{key}"
                assert_close(np.asarray(got), value, name=f"{name}.{key}")
            else:
                assert on_gpu[key] == value, f"{name}.{key}"


def run_on(device, fn, arrays, g):
    """fn on tensors on ``device``; returns the output and the input gradients (NumPy)."""
    tensors = [mc.tensor(a, requires_grad=True, device=device) for a in arrays]
    out = fn(*tensors)
    assert out.device == device
    out.backward(mc.tensor(g, device=device))
    return out.numpy(), [t.grad.numpy() for t in tensors]


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
