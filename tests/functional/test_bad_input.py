"""Bad input to the basic ops, each compared with what PyTorch does with it.

Wrong ranks, shapes and dtypes, empty tensors, NaN and infinities.  Where PyTorch raises,
minicnn raises an error of the same class (its own InvalidValueError and InvalidDtypeError
are also ValueError / TypeError), with a message that starts "minicnn: <op>".  Where PyTorch
computes a result, minicnn computes the same one: dtype, values (NaN where PyTorch has NaN)
and, for float inputs, the gradients of a random upstream gradient.
(The CNN ops have their own table: tests/functional/test_bad_input_cnn.py.)
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import minicnn as mc
import minicnn.functional as F
from minicnn.utils import compare_with_torch

rng = np.random.default_rng(7)


def randn(*shape):
    return rng.standard_normal(shape)


def with_nan(*shape):
    x = randn(*shape)
    x.flat[1] = np.nan
    return x


def ints(*shape):
    return rng.integers(-3, 4, shape)


def same(fn):
    """One function for both libraries (they spell the op the same way)."""
    return fn, fn


def both(mc_op, torch_op):
    return mc_op, torch_op


# name: (minicnn fn, torch fn, input arrays); the op names of minicnn.functional and torch
# differ, so each case gives both.
CASES = {
    # ----- wrong ranks
    "linear_0d_input": (*both(F.linear, TF.linear), [np.array(1.0), randn(2, 1)]),
    "matmul_0d": (*both(F.matmul, torch.matmul), [np.array(1.0), randn(2)]),
    "cross_entropy_0d_logits": (*both(F.cross_entropy, TF.cross_entropy), [np.array(1.0), np.array(0)]),
    "softmax_dim_of_1d": (lambda x: F.softmax(x, 1), lambda x: torch.softmax(x, 1), [randn(3)]),
    "sum_dim_of_0d": (*same(lambda x: x.sum(1)), [np.array(2.0)]),
    "cat_0d": (lambda x: F.cat([x, x]), lambda x: torch.cat([x, x]), [np.array(1.0)]),
    "cat_different_ranks": (lambda x, y: F.cat([x, y]), lambda x, y: torch.cat([x, y]), [randn(2, 3), randn(3)]),
    "permute_too_few_dims": (*same(lambda x: x.permute(1, 0)), [randn(2, 3, 4)]),
    "flatten_start_after_end": (lambda x: F.flatten(x, 2, 1), lambda x: torch.flatten(x, 2, 1), [randn(2, 3, 4)]),
    # ----- wrong shapes
    "linear_features": (*both(F.linear, TF.linear), [randn(2, 3), randn(4, 5)]),
    "linear_bias_shape": (*both(F.linear, TF.linear), [randn(2, 3), randn(4, 3), randn(5)]),
    "matmul_align": (*both(F.matmul, torch.matmul), [randn(2, 3), randn(4, 2)]),
    "cat_shapes": (lambda x, y: F.cat([x, y], 1), lambda x, y: torch.cat([x, y], 1), [randn(2, 3), randn(3, 3)]),
    "stack_shapes": (lambda x, y: F.stack([x, y]), lambda x, y: torch.stack([x, y]), [randn(2, 3), randn(3, 2)]),
    "reshape_size": (*same(lambda x: x.reshape(4, 2)), [randn(2, 3)]),
    "cross_entropy_target_batch": (*both(F.cross_entropy, TF.cross_entropy), [randn(2, 3), np.array([0, 1, 2])]),
    "cross_entropy_target_range": (*both(F.cross_entropy, TF.cross_entropy), [randn(2, 3), np.array([0, 3])]),
    "cross_entropy_target_negative": (*both(F.cross_entropy, TF.cross_entropy), [randn(2, 3), np.array([-1, 0])]),
    "cross_entropy_probabilities_shape": (*both(F.cross_entropy, TF.cross_entropy), [randn(2, 3), randn(2, 4)]),
    "cross_entropy_weight_shape": (lambda x, t, w: F.cross_entropy(x, t, weight=w),
                                   lambda x, t, w: TF.cross_entropy(x, t, weight=w),
                                   [randn(2, 3), np.array([0, 1]), np.ones(4)]),
    "mse_loss_unbroadcastable": (*both(F.mse_loss, TF.mse_loss), [randn(2), randn(3)]),
    # ----- dtypes
    "softmax_int": (lambda x: F.softmax(x, 0), lambda x: torch.softmax(x, 0), [ints(3)]),
    "log_softmax_int": (lambda x: F.log_softmax(x, 0), lambda x: torch.log_softmax(x, 0), [ints(3)]),
    "relu_bool": (*both(F.relu, torch.relu), [np.array([True, False])]),
    "relu_int": (*both(F.relu, torch.relu), [ints(5)]),
    "neg_bool": (*same(lambda x: -x), [np.array([True, False])]),
    "sub_bool": (*same(lambda x: x - x), [np.array([True, False])]),
    "mean_int": (*same(lambda x: x.mean()), [ints(4)]),
    "sum_bool": (*same(lambda x: x.sum()), [np.array([True, False, True])]),
    "sum_uint8": (*same(lambda x: x.sum(0)), [np.array([200, 100], np.uint8)]),
    "exp_int": (*both(F.exp, torch.exp), [ints(4)]),
    "sigmoid_int": (*both(F.sigmoid, torch.sigmoid), [ints(4)]),
    "tanh_int": (*both(F.tanh, torch.tanh), [ints(4)]),
    "int_true_division": (*same(lambda x, y: x / y), [ints(3) + 10, np.array([4, 5, 6])]),
    "linear_mixed_dtypes": (*both(F.linear, TF.linear), [randn(2, 3), randn(4, 3).astype(np.float32)]),
    "matmul_mixed_dtypes": (*both(F.matmul, torch.matmul), [randn(2, 3).astype(np.float32), randn(3, 2)]),
    "linear_int": (*both(F.linear, TF.linear), [ints(2, 3), ints(4, 3)]),
    "cross_entropy_int_logits": (*both(F.cross_entropy, TF.cross_entropy), [ints(2, 3), np.array([0, 1])]),
    "cross_entropy_float_indices": (*both(F.cross_entropy, TF.cross_entropy), [randn(2, 3), np.array([0.0, 1.0])]),
    "cross_entropy_int_probabilities": (*both(F.cross_entropy, TF.cross_entropy), [randn(2, 3), ints(2, 3)]),
    "cross_entropy_float32_probabilities": (*both(F.cross_entropy, TF.cross_entropy),
                                            [randn(2, 3), np.full((2, 3), 1 / 3, np.float32)]),
    "mse_loss_int": (*both(F.mse_loss, TF.mse_loss), [ints(3), ints(3)]),
    # ----- empty tensors
    "sum_empty": (*same(lambda x: x.sum()), [np.zeros((0, 3))]),
    "sum_empty_dim": (*same(lambda x: x.sum(0)), [np.zeros((0, 3))]),
    "mean_empty": (*same(lambda x: x.mean()), [np.zeros((0, 3))]),
    "mean_empty_dim": (*same(lambda x: x.mean(1)), [np.zeros((2, 0))]),
    "max_empty": (*same(lambda x: x.max()), [np.zeros((0, 3))]),
    "max_empty_dim": (lambda x: x.max(0), lambda x: x.max(0).values, [np.zeros((0, 3))]),
    "max_empty_other_dim": (lambda x: x.max(1), lambda x: x.max(1).values, [np.zeros((0, 3))]),
    "argmax_empty": (*same(lambda x: x.argmax()), [np.zeros((0, 3))]),
    "softmax_empty": (lambda x: F.softmax(x, 1), lambda x: torch.softmax(x, 1), [np.zeros((2, 0))]),
    "log_softmax_empty_batch": (lambda x: F.log_softmax(x, 1), lambda x: torch.log_softmax(x, 1),
                                [np.zeros((0, 4))]),
    "linear_empty_batch": (*both(F.linear, TF.linear), [np.zeros((0, 3)), randn(4, 3), randn(4)]),
    "linear_no_features": (*both(F.linear, TF.linear), [np.zeros((2, 0)), np.zeros((4, 0)), randn(4)]),
    "cross_entropy_empty_batch": (*both(F.cross_entropy, TF.cross_entropy), [np.zeros((0, 3)), np.zeros(0, np.int64)]),
    "relu_empty": (*both(F.relu, torch.relu), [np.zeros((0, 2))]),
    "cat_with_empty": (lambda x, y: F.cat([x, y]), lambda x, y: torch.cat([x, y]), [np.zeros((0, 3)), randn(2, 3)]),
    "flatten_empty": (lambda x: F.flatten(x, 1), lambda x: torch.flatten(x, 1), [np.zeros((0, 3, 2))]),
    "mse_loss_empty": (*both(F.mse_loss, TF.mse_loss), [np.zeros(0), np.zeros(0)]),
    # ----- NaN and infinities
    "relu_nan": (*both(F.relu, torch.relu), [with_nan(3, 4)]),
    "sigmoid_nan_inf": (*both(F.sigmoid, torch.sigmoid), [np.array([np.nan, np.inf, -np.inf, 0.5])]),
    "tanh_nan": (*both(F.tanh, torch.tanh), [with_nan(2, 3)]),
    "sum_nan": (*same(lambda x: x.sum(1)), [with_nan(2, 3)]),
    "mean_nan": (*same(lambda x: x.mean(0)), [with_nan(2, 3)]),
    "max_nan": (*same(lambda x: x.max()), [with_nan(2, 3)]),
    "argmax_nan": (*same(lambda x: x.argmax(1)), [with_nan(2, 3)]),
    "softmax_nan": (lambda x: F.softmax(x, 1), lambda x: torch.softmax(x, 1), [with_nan(2, 3)]),
    "softmax_minus_inf_mask": (lambda x: F.softmax(x, 1), lambda x: torch.softmax(x, 1),
                               [np.array([[0.5, -np.inf, 1.0], [-np.inf, 2.0, -np.inf]])]),
    "log_softmax_nan": (lambda x: F.log_softmax(x, 0), lambda x: torch.log_softmax(x, 0), [with_nan(3, 2)]),
    "linear_nan": (*both(F.linear, TF.linear), [with_nan(2, 3), randn(4, 3), randn(4)]),
    "cross_entropy_nan_logits": (*both(F.cross_entropy, TF.cross_entropy), [with_nan(3, 4), np.array([0, 1, 2])]),
    "cross_entropy_minus_inf_other_class": (*both(F.cross_entropy, TF.cross_entropy),
                                            [np.array([[1.0, -np.inf, 0.5], [-np.inf, 2.0, 0.0]]),
                                             np.array([0, 1])]),
    "mse_loss_nan": (*both(F.mse_loss, TF.mse_loss), [with_nan(2, 3), randn(2, 3)]),
    "div_by_zero": (*same(lambda x, y: x / y), [np.array([1.0, -1.0, 0.0]), np.zeros(3)]),
}


def torch_outcome(torch_fn, arrays):
    """What torch does: (exception or None, whether the output has a gradient)."""
    inputs = [torch.from_numpy(np.array(a)).requires_grad_(a.dtype.kind == "f") for a in arrays]
    try:
        out = torch_fn(*inputs)
    except Exception as e:     # noqa: BLE001 -- the class is what the test compares
        return e, False
    return None, out.requires_grad


@pytest.mark.filterwarnings("ignore::RuntimeWarning")    # NumPy's warnings on NaN, 0/0, inf - inf
@pytest.mark.filterwarnings("ignore::UserWarning")       # torch's warnings about the same
@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_matches_torch(name):
    mc_fn, torch_fn, arrays = CASES[name]
    error, differentiable = torch_outcome(torch_fn, arrays)
    if error is not None:
        with pytest.raises(Exception) as info:
            mc_fn(*[mc.tensor(a) for a in arrays])
        assert isinstance(info.value, type(error)), (
            f"torch raises {type(error).__name__}({error}); minicnn raised {info.value!r}")
        assert str(info.value).startswith("minicnn: "), f"unclear message: {info.value}"
        return
    compare_with_torch(mc_fn, torch_fn, *arrays, grad_inputs=None if differentiable else [])


def test_a_clear_error_message_names_the_op_and_what_arrived():
    with pytest.raises(RuntimeError, match=r"minicnn: linear: expected both arguments to have the "
                                           r"same dtype, got float64 and float32"):
        F.linear(mc.tensor(randn(2, 3)), mc.tensor(randn(4, 3).astype(np.float32)))
    with pytest.raises(TypeError, match=r"minicnn: softmax: expected a floating-point tensor, got dtype int64"):
        F.softmax(mc.tensor([1, 2]), 0)
    with pytest.raises(IndexError, match=r"minicnn: max: expected reduction dim 0 to have non-zero size"):
        mc.tensor(np.zeros((0, 3))).max(0)
