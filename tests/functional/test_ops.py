"""The op table's generic suites (tests/op_table.py): every op on every sample.

* parity with PyTorch: the outputs (values, dtypes, shapes, integer outputs exactly) and the
  gradient of every input of a random upstream gradient, in every dtype; an op whose
  kernels have a Numba version runs on the Numba path and on the NumPy references;
* float64 finite differences (``minicnn.gradcheck``) on every sample that allows them;
* the table itself: every public op of minicnn.functional has a row (or a reason in
  ``NOT_IN_TABLE``), every Function is reached by some sample, and every dispatched
  kernel is declared by the ops that run it -- and run by the ops that declare it.

Refusals are tests/functional/test_bad_input.py's; the GPU branch and the fast kernels
run the same samples in tests/cuda/ and tests/cpu/.
"""
import contextlib
import inspect

import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from minicnn import autograd, backend, dispatch
from minicnn.autograd import Function
from minicnn.utils import compare_with_torch
from tests.op_table import (FUNCTIONS_NOT_IN_TABLE, KERNELS_NOT_REPLAYED, NOT_IN_TABLE, OPS, first,
                            recording_kernels, reference_kernel_calls, run, run_double_backward)


def has_numba_kernels(op):
    return any("numba" in dispatch.implementations(k) for k in op.kernels)


def paths(op):
    """Where the op runs: both the Numba fast path and the NumPy reference if it has a
    Numba kernel, else its one implementation."""
    return ("numba", "numpy") if has_numba_kernels(op) else ("",)


@contextlib.contextmanager
def on_path(path):
    if path == "numba":
        if not backend.numba_enabled():
            pytest.skip("Numba is not installed (or MINICNN_NUMBA=0)")
        yield
    elif path == "numpy":
        with backend.numpy_reference():
            yield
    else:
        yield


def dtype_name(dtype):
    return np.dtype(dtype).name


def parity_cases():
    for op in OPS:
        for dtype in op.dtypes:
            for sample in op.sample_inputs(dtype):
                if not sample.parity:
                    continue
                for path in paths(op):
                    known = sample.known_failures.get(path)
                    yield pytest.param(op, sample, dtype, path, id="-".join(
                        filter(None, (op.name, sample.name, dtype_name(dtype), path))),
                        marks=[pytest.mark.xfail(strict=True, reason=f"known minicnn bug: {known}")] if known else [])


def can_gradcheck(sample):
    grad = sample.grad_positions()
    return sample.gradcheck and bool(grad)


def gradcheck_cases():
    for op in OPS:
        if np.float64 not in op.dtypes:
            continue
        for sample in op.sample_inputs(np.float64):
            if can_gradcheck(sample):
                for path in paths(op):
                    yield pytest.param(op, sample, path, id="-".join(filter(None, (op.name, sample.name, path))))


# NumPy warns on NaN, inf - inf and 0/0, PyTorch on 3-D dropout2d and even 'same' kernels:
# the samples that meet them check the values
@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")
@pytest.mark.parametrize("op, sample, dtype, path", list(parity_cases()))
def test_matches_torch(op, sample, dtype, path):
    with on_path(path):
        out, expected = compare_with_torch(op.call(sample), op.call_ref(sample), *sample.arrays,
                                           grad_inputs=list(sample.grad_positions()),
                                           **op.tolerance(sample, dtype))
    if sample.check is not None:
        sample.check(out, expected)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("op, sample, path", list(gradcheck_cases()))
def test_gradcheck(op, sample, path):
    grad = sample.grad_positions()
    inputs = [None if a is None else mc.tensor(a, requires_grad=i in grad) for i, a in enumerate(sample.arrays)]
    with on_path(path):
        assert mc.gradcheck(lambda *t: first(op.op(*t, **sample.kwargs)), *inputs)


# ----- the table covers minicnn -----------------------------------------------------------
def public_ops():
    """The functions minicnn.functional exports (its ops and array helpers)."""
    return {name for name, value in vars(F).items()
            if inspect.isfunction(value) and not name.startswith("_")
            and value.__module__.startswith("minicnn.functional")}


def test_every_public_op_has_a_row():
    covered = {name for op in OPS for name in op.functional}
    missing = public_ops() - covered - set(NOT_IN_TABLE)
    assert not missing, f"ops without a row in tests/op_table.py: {sorted(missing)}"
    assert set(NOT_IN_TABLE) <= public_ops(), sorted(set(NOT_IN_TABLE) - public_ops())
    assert not set(NOT_IN_TABLE) & covered


def all_functions():
    found, todo = set(), [Function]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub.__module__.startswith("minicnn.functional") and sub not in found:
                found.add(sub)
                todo.append(sub)
    return {f.__name__ for f in found}


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")
def test_every_function_is_reached_by_a_sample():
    """Each Function of minicnn.functional runs forward and backward on some sample, those
    that exist for double backward (``ConvInputGrad``, ...) in a backward of a backward."""
    seen = set()
    with autograd.observe(lambda fn, inputs, output: seen.add(type(fn).__name__)):
        for op in OPS:
            for sample in op.sample_inputs(np.float64):
                run(op, sample)
                if sample.gradcheck:
                    run_double_backward(op, sample)
    missing = all_functions() - seen - set(FUNCTIONS_NOT_IN_TABLE)
    assert not missing, f"Functions no sample of tests/op_table.py runs: {sorted(missing)}"
    assert set(FUNCTIONS_NOT_IN_TABLE) <= all_functions()


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")
@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_declared_kernels_are_the_ones_the_samples_run(op):
    """An op's ``kernels`` are exactly what its samples ask ``dispatch`` for (NumPy path):
    the GPU-branch and fast-path suites rely on the declaration."""
    ran = set()
    for dtype in op.dtypes:
        for sample in op.sample_inputs(dtype):
            ran |= {call.name for call in reference_kernel_calls(op, sample)}
    assert ran - set(KERNELS_NOT_REPLAYED) == op.kernels


def test_every_kernel_belongs_to_an_op():
    declared = set().union(*(op.kernels for op in OPS))
    assert declared | set(KERNELS_NOT_REPLAYED) == set(dispatch.names())


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_every_op_has_samples_in_each_dtype_and_for_each_suite(op):
    for dtype in op.dtypes:
        assert op.sample_inputs(dtype), f"{op.name}: no {dtype_name(dtype)} sample"
    differentiable = any(s.grad_positions() for s in op.sample_inputs(op.dtypes[-1]))
    if differentiable and np.float64 in op.dtypes:
        assert any(can_gradcheck(s) for s in op.sample_inputs(np.float64)), f"{op.name}: no gradcheck sample"
    if any("cuda" in dispatch.implementations(k) for k in op.kernels):
        device = [s for s in op.sample_inputs(op.dtypes[0]) if s.device]
        assert device, f"{op.name} has CUDA kernels but no device sample"
        claimed = set().union(*[s.kernels or set() for s in device])
        assert claimed == op.kernels, f"{op.name}: no device sample claims {sorted(op.kernels - claimed)}"


def test_recording_sees_every_dispatched_call():
    """The recorder the replay suites use records calls, arguments and results."""
    x = mc.tensor(np.array([-1.0, 2.0]), requires_grad=True)
    with recording_kernels() as calls:
        F.relu(x).sum().backward()
    assert [c.name for c in calls] == ["relu_forward", "relu_backward"]
    np.testing.assert_array_equal(calls[0].args[0], [-1.0, 2.0])
    np.testing.assert_array_equal(calls[0].result, [0.0, 2.0])
    assert dispatch.kernel("relu_forward", np.zeros(1)) is not None     # put back
