"""Bad input to every op, each row compared with what PyTorch does with it.

The rows are the op table's ``bad_inputs`` (tests/op_table.py): wrong ranks, shapes,
settings and dtypes, empty channels.  minicnn raises the row's error class with a message
that starts "minicnn: <op>" and matches the row; PyTorch, given the same input, raises
the row's ``torch_error`` -- or computes something, where minicnn departs on purpose (its
pools and LRN are floating-point only: a clear TypeError beats a silently truncated integer
average; its pools refuse empty channels that PyTorch's adaptive pools pass forward and
then fail in backward).  What PyTorch computes for empty tensors, NaN and infinities,
minicnn computes too: those are samples of the table, in tests/functional/test_ops.py.

Error classes: where PyTorch raises TypeError, ValueError or IndexError, minicnn raises
the same class.  PyTorch's C++ core raises RuntimeError (or NotImplementedError for a dtype
it has no kernel for) where Python code would raise ValueError or TypeError.  The basic
ops raise errors of both kinds (``InvalidValueError`` is a ValueError and a RuntimeError,
``InvalidDtypeError`` a TypeError and a NotImplementedError); the CNN ops keep Python's
classes: a bad shape or value is a ValueError, a bad type or dtype a TypeError.  Each row
records both sides, so a change on either shows up here.
"""
import warnings

import numpy as np
import pytest
import torch

import minicnn as mc
import minicnn.functional as F
from tests.op_table import OPS


def bad_input_cases():
    for op in OPS:
        for row in op.bad_inputs:
            marks = [pytest.mark.xfail(strict=True, reason=f"known minicnn bug: {row.known_failure}")] \
                if row.known_failure else []
            yield pytest.param(op, row, id=f"{op.name}-{row.name}", marks=marks)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("op, row", list(bad_input_cases()))
def test_bad_input_is_refused_like_torch(op, row):
    theirs = [None if a is None else torch.from_numpy(np.array(a)).requires_grad_(a.dtype.kind == "f")
              for a in row.arrays]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # PyTorch's deprecation notes are not the point
        if row.torch_error is None:            # a departure: PyTorch computes something
            op.ref(*theirs, **row.kwargs)
        else:
            with pytest.raises(row.torch_error):
                op.ref(*theirs, **row.kwargs)
    errors = row.error if isinstance(row.error, tuple) else (row.error,)
    with pytest.raises(errors[0], match=row.match) as caught:
        op.op(*[None if a is None else mc.tensor(a) for a in row.arrays], **row.kwargs)
    for error in errors:
        assert isinstance(caught.value, error), f"{caught.value!r} is not a {error.__name__}"
    assert str(caught.value).startswith("minicnn: "), f"messages name minicnn and the op: {caught.value}"


def test_every_op_that_checks_its_arguments_has_rows():
    """Ops with settings or shape rules have bad-input rows (elementwise ones may not)."""
    without = {op.name for op in OPS if not op.bad_inputs}
    assert without <= {"conv2d_winograd", "sigmoid", "tanh", "mul", "add", "div", "pow", "exp", "log", "sqrt",
                       "view", "transpose", "T", "getitem", "to_dtype"}, sorted(without)


# ----- named cases --------------------------------------------------------------------------
def test_a_clear_error_message_names_the_op_and_what_arrived():
    rng = np.random.default_rng(7)
    with pytest.raises(RuntimeError, match=r"minicnn: linear: expected both arguments to have the "
                                           r"same dtype, got float64 and float32"):
        F.linear(mc.tensor(rng.standard_normal((2, 3))), mc.tensor(rng.standard_normal((4, 3)).astype(np.float32)))
    with pytest.raises(TypeError, match=r"minicnn: softmax: expected a floating-point tensor, got dtype int64"):
        F.softmax(mc.tensor([1, 2]), 0)
    with pytest.raises(IndexError, match=r"minicnn: max: expected reduction dim 0 to have non-zero size"):
        mc.tensor(np.zeros((0, 3))).max(0)


def test_a_pool_refuses_an_array_that_is_not_a_tensor():
    with pytest.raises(TypeError, match=r"avg_pool2d: expected a minicnn Tensor, got ndarray"):
        F.avg_pool2d(np.zeros((1, 1, 4, 4)), 2)
