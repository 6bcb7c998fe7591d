"""Type promotion follows PyTorch: a table of op x operand kinds, each compared with torch
(result dtype and values, or the same error class), and the gradients' dtypes."""
import operator

import numpy as np
import pytest
import torch

import minicnn as mc
from minicnn.utils import compare_with_torch

# name -> the operand as a NumPy array (a tensor) or a Python number
TENSORS = {
    "bool": np.array([True, False, True]),
    "uint8": np.array([1, 2, 3], np.uint8),
    "int32": np.array([1, 2, 3], np.int32),
    "int64": np.array([1, 2, 3], np.int64),
    "float32": np.array([0.5, 1.5, 2.5], np.float32),
    "float64": np.array([0.5, 1.5, 2.5], np.float64),
    "0d_bool": np.array(True),
    "0d_int64": np.array(2, np.int64),
    "0d_float32": np.array(1.5, np.float32),
    "0d_float64": np.array(1.5, np.float64),
}
NUMBERS = {"py_bool": True, "py_int": 2, "py_float": 2.5}
OPS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
       "truediv": operator.truediv, "pow": operator.pow}


def as_mc(kind):
    return mc.tensor(TENSORS[kind]) if kind in TENSORS else NUMBERS[kind]


def as_torch(kind):
    return torch.from_numpy(TENSORS[kind]) if kind in TENSORS else NUMBERS[kind]


def run_both(op, left, right):
    """(minicnn result or exception, torch result or exception)."""
    results = []
    for convert in (as_mc, as_torch):
        try:
            results.append(OPS[op](convert(left), convert(right)))
        except Exception as e:     # noqa: BLE001 -- compared with torch's below
            results.append(e)
    return results


CASES = [(op, left, right) for op in OPS for left in TENSORS for right in [*TENSORS, *NUMBERS]]
CASES += [(op, left, right) for op in OPS for left in NUMBERS for right in TENSORS]
# Where minicnn knowingly differs: torch computes a bool tensor ** a Python bool (x ** True
# is x, x ** False all True) but refuses every other power of bools; minicnn refuses them all.
REFUSED_BY_MINICNN_ONLY = {("pow", "bool", "py_bool"), ("pow", "0d_bool", "py_bool")}
CASES = [case for case in CASES if case not in REFUSED_BY_MINICNN_ONLY]


@pytest.mark.filterwarnings("ignore:.*divide:RuntimeWarning")   # x / False is inf, as in torch
@pytest.mark.parametrize("op,left,right", CASES)
def test_result_dtype_and_values_match_torch(op, left, right):
    got, want = run_both(op, left, right)
    if isinstance(want, Exception):
        assert isinstance(got, type(want)), f"torch raises {want!r}; minicnn gave {got!r}"
        return
    assert not isinstance(got, Exception), f"minicnn raised {got!r}; torch gives {want}"
    want = want.numpy()
    assert got.dtype == want.dtype, f"dtype {got.dtype}, torch gives {want.dtype}"
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("op,left,right", sorted(REFUSED_BY_MINICNN_ONLY))
def test_powers_of_bools_are_refused(op, left, right):
    got, _ = run_both(op, left, right)
    assert isinstance(got, TypeError) and "pow" in str(got)


@pytest.mark.parametrize("expression,expected", [
    (lambda: mc.tensor([1, 2, 3]) * 2.5, [2.5, 5.0, 7.5]),      # the examples
    (lambda: mc.tensor([1, 2, 3]) + 0.5, [1.5, 2.5, 3.5]),
    (lambda: mc.tensor([1, 2, 3]) / 2, [0.5, 1.0, 1.5]),
])
def test_int_tensor_with_python_float_is_float32(expression, expected):
    result = expression()
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result.numpy(), np.array(expected, np.float32))


@pytest.mark.parametrize("dtypes", [(np.float32, np.float64), (np.float64, np.float32),
                                    (np.float32, np.int64), (np.int64, np.float64)])
def test_mixed_dtype_gradients_keep_each_inputs_dtype(dtypes):
    """The result is in the promoted dtype; each float input's gradient comes back in its own."""
    a = np.array([[0.5, -1.5, 2.0]]).astype(dtypes[0])
    b = np.array([[1.0], [2.0]]).astype(dtypes[1])

    def expression(x, y):      # compare_with_torch checks the result's dtype against torch's
        return (x * y + x / (y + 3)) - y

    compare_with_torch(expression, expression, a, b, rtol=1e-6, atol=1e-6)


def test_float_gradient_dtype_survives_promotion():
    x = mc.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    y = mc.tensor(np.array([3.0, 4.0], np.float64), requires_grad=True)
    (x * y).sum().backward()
    assert x.grad.dtype == np.float32 and y.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])


def test_int_power_with_negative_exponent_is_refused_like_torch():
    with pytest.raises(RuntimeError, match="negative integer powers"):
        mc.tensor([1, 2]) ** -1
    assert (mc.tensor([1, 2]) ** -1.0).dtype == np.float32
