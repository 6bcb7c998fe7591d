"""Basic ops against PyTorch (forward + backward with a random upstream gradient, float32 and
float64) and against float64 finite differences."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import minicnn as mc
import minicnn.functional as F
from minicnn.utils import assert_close, compare_with_torch

rng = np.random.default_rng(1234)


def randn(*shape):
    return rng.standard_normal(shape)


def positive(*shape):
    return rng.uniform(0.5, 2.0, shape)


# name: (minicnn fn, torch fn, input arrays)
CASES = {
    "add_broadcast": (lambda a, b: a + b, lambda a, b: a + b, [randn(3, 1, 4), randn(5, 1)]),
    "sub_broadcast": (lambda a, b: a - b, lambda a, b: a - b, [randn(2, 3), randn(3)]),
    "rsub_scalar": (lambda a: 2.0 - a, lambda a: 2.0 - a, [randn(3, 2)]),
    "mul_broadcast": (lambda a, b: a * b, lambda a, b: a * b, [randn(4, 1), randn(1, 3)]),
    "div_broadcast": (lambda a, b: a / b, lambda a, b: a / b, [randn(2, 3), positive(3)]),
    "rdiv_scalar": (lambda a: 1.0 / a, lambda a: 1.0 / a, [positive(4)]),
    "pow_scalar": (lambda a: a ** 3, lambda a: a ** 3, [randn(3, 3)]),
    "pow_tensor": (lambda a, b: a ** b, lambda a, b: a ** b, [positive(3, 2), randn(2)]),
    "neg": (lambda a: -a, lambda a: -a, [randn(5)]),
    "exp": (F.exp, torch.exp, [randn(2, 3)]),
    "log": (F.log, torch.log, [positive(2, 3)]),
    "sqrt": (F.sqrt, torch.sqrt, [positive(4)]),
    "matmul_2d": (lambda a, b: a @ b, lambda a, b: a @ b, [randn(3, 4), randn(4, 2)]),
    "matmul_batched_broadcast": (F.matmul, torch.matmul, [randn(2, 1, 3, 4), randn(5, 4, 2)]),
    "matmul_vector_right": (F.matmul, torch.matmul, [randn(2, 3, 4), randn(4)]),
    "matmul_vector_left": (F.matmul, torch.matmul, [randn(4), randn(2, 4, 3)]),
    "reshape": (lambda a: a.reshape(4, -1), lambda a: a.reshape(4, -1), [randn(2, 3, 2)]),
    "view": (lambda a: a.view(6, 2), lambda a: a.view(6, 2), [randn(2, 3, 2)]),
    "transpose": (lambda a: a.transpose(0, 2), lambda a: a.transpose(0, 2), [randn(2, 3, 4)]),
    "permute": (lambda a: a.permute(2, 0, 1), lambda a: a.permute(2, 0, 1), [randn(2, 3, 4)]),
    "flatten": (lambda a: F.flatten(a, 1), lambda a: torch.flatten(a, 1), [randn(2, 3, 2, 2)]),
    "slice": (lambda a: a[1:, ::2, -1], lambda a: a[1:, ::2, -1], [randn(3, 4, 2)]),
    "integer_index_repeated": (lambda a: a[np.array([0, 2, 0])], lambda a: a[[0, 2, 0]], [randn(3, 2)]),
    "boolean_mask": (lambda a: a[a.numpy() > 0], lambda a: a[a > 0], [randn(4, 3)]),
    "sum_all": (lambda a: a.sum(), lambda a: a.sum(), [randn(3, 4)]),
    "sum_dims_keepdim": (lambda a: a.sum((0, 2), keepdim=True), lambda a: a.sum((0, 2), keepdim=True), [randn(2, 3, 4)]),
    "mean_dim": (lambda a: a.mean(1), lambda a: a.mean(1), [randn(2, 3, 4)]),
    "mean_negative_dim": (lambda a: a.mean(-1, keepdim=True), lambda a: a.mean(-1, keepdim=True), [randn(2, 3)]),
    "max_dim": (lambda a: a.max(1), lambda a: a.max(1).values, [randn(3, 5)]),
    "max_all": (lambda a: a.max(), lambda a: a.max(), [randn(3, 5)]),
    "relu": (F.relu, torch.relu, [randn(4, 5)]),
    "sigmoid": (F.sigmoid, torch.sigmoid, [randn(4, 5) * 10]),
    "tanh": (F.tanh, torch.tanh, [randn(4, 5)]),
    "linear": (F.linear, TF.linear, [randn(3, 4), randn(5, 4), randn(5)]),
    "linear_no_bias_3d": (F.linear, TF.linear, [randn(2, 3, 4), randn(5, 4)]),
    "softmax": (lambda a: F.softmax(a, 1), lambda a: torch.softmax(a, 1), [randn(3, 4) * 5]),
    "log_softmax": (lambda a: F.log_softmax(a, -1), lambda a: torch.log_softmax(a, -1), [randn(3, 4) * 5]),
    "mse_loss": (F.mse_loss, TF.mse_loss, [randn(3, 4), randn(3, 4)]),
    "mse_loss_sum": (lambda a, b: F.mse_loss(a, b, reduction="sum"),
                     lambda a, b: TF.mse_loss(a, b, reduction="sum"), [randn(3), randn(3)]),
    "cat_dim1": (lambda a, b: F.cat([a, b], 1), lambda a, b: torch.cat([a, b], 1), [randn(2, 3), randn(2, 1)]),
    "stack_dim_neg": (lambda a, b: F.stack([a, b], -1), lambda a, b: torch.stack([a, b], -1), [randn(2, 3), randn(2, 3)]),
    "T": (lambda a: a.T, lambda a: a.T, [randn(3, 4)]),
}
TARGETS = np.array([2, 0, 4, 1])
for red in ("mean", "sum", "none"):
    for ls in (0.0, 0.1):
        CASES[f"cross_entropy_{red}_ls{ls}"] = (
            lambda a, t, red=red, ls=ls: F.cross_entropy(a, t, reduction=red, label_smoothing=ls),
            lambda a, t, red=red, ls=ls: TF.cross_entropy(a, t, reduction=red, label_smoothing=ls),
            [randn(4, 5) * 3, TARGETS])
CASES["cross_entropy_spatial"] = (lambda a, t: F.cross_entropy(a, t, label_smoothing=0.2),
                                  lambda a, t: TF.cross_entropy(a, t, label_smoothing=0.2),
                                  [randn(2, 3, 2, 2), rng.integers(0, 3, (2, 2, 2))])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_torch(name, dtype):
    mc_fn, torch_fn, arrays = CASES[name]
    tol = {} if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5)
    compare_with_torch(mc_fn, torch_fn, *arrays, dtype=dtype, **tol)


GRADCHECK_SKIP = {"boolean_mask"}   # the mask is computed from the input; perturbing it changes the mask


@pytest.mark.parametrize("name", sorted(set(CASES) - GRADCHECK_SKIP))
def test_op_gradcheck(name):
    mc_fn, _, arrays = CASES[name]
    inputs = [mc.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    if name.startswith("max"):   # finite differences need the max to be unique
        inputs[0] = mc.tensor(rng.permutation(15).reshape(3, 5) * 1.0, requires_grad=True)
    mc.gradcheck(mc_fn, *inputs)


def test_non_contiguous_inputs():
    a = randn(4, 3).T                       # a transposed (Fortran-ordered) view
    b = randn(8, 3)[::2]                    # a strided slice
    assert not a.flags.c_contiguous and not b.flags.c_contiguous
    compare_with_torch(lambda x, y: (x @ y).exp(), lambda x, y: (x @ y).exp(), a, b)
    compare_with_torch(lambda x, y: F.log_softmax(x, 0) * y.sum(), lambda x, y: torch.log_softmax(x, 0) * y.sum(), a, b)


@settings(max_examples=40, deadline=None)
@given(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3))
def test_broadcasting_shapes_hypothesis(shapes):
    a, b = randn(*shapes.input_shapes[0]), randn(*shapes.input_shapes[1])
    compare_with_torch(lambda x, y: x * y + y - x / (y * y + 1),
                       lambda x, y: x * y + y - x / (y * y + 1), a, b)


@settings(max_examples=25, deadline=None)
@given(hnp.array_shapes(min_dims=1, max_dims=4, max_side=4), st.data())
def test_reductions_hypothesis(shape, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    keepdim = data.draw(st.booleans())
    compare_with_torch(lambda x: x.sum(dim, keepdim=keepdim) + x.mean(dim, keepdim=keepdim),
                       lambda x: x.sum(dim, keepdim=keepdim) + x.mean(dim, keepdim=keepdim),
                       randn(*shape))


def test_composite_expression_matches_torch_to_1e10():
    """Broadcasting, matmul, log_softmax, label-smoothed cross entropy and slicing together."""
    x, w, b = randn(6, 5), randn(5, 7), randn(7)
    targets = np.array([0, 3, 6, 2, 2, 1])

    def mc_fn(x, w, b):
        h = (x @ w + b).tanh()
        z = F.log_softmax(h * 2.0, 1)[:, 1:] - h[:, :-1] * 0.5
        return F.cross_entropy(z, mc.tensor(targets[:6] % 6), label_smoothing=0.1) + (z[::2] ** 2).mean()

    def torch_fn(x, w, b):
        h = (x @ w + b).tanh()
        z = torch.log_softmax(h * 2.0, 1)[:, 1:] - h[:, :-1] * 0.5
        return TF.cross_entropy(z, torch.tensor(targets % 6), label_smoothing=0.1) + (z[::2] ** 2).mean()

    compare_with_torch(mc_fn, torch_fn, x, w, b, rtol=1e-10, atol=1e-10)


# ----- errors -----------------------------------------------------------------
def test_cross_entropy_out_of_range_target_is_clear_error():
    with pytest.raises(IndexError, match="target 5 is out of range for 5 classes"):
        F.cross_entropy(mc.tensor(randn(2, 5)), mc.tensor([1, 5]))
    with pytest.raises(IndexError, match="target -1"):
        F.cross_entropy(mc.tensor(randn(2, 5)), mc.tensor([-1, 0]))


def test_cross_entropy_bad_target_shape_and_dtype():
    with pytest.raises(ValueError, match=r"targets of shape \(2,\)"):
        F.cross_entropy(mc.tensor(randn(2, 5)), mc.tensor([1, 2, 3]))
    with pytest.raises(TypeError, match="integer class indices"):
        F.cross_entropy(mc.tensor(randn(2, 5)), mc.tensor([1.0, 2.0]))


def test_bad_reduction_is_an_error():
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(mc.tensor([1.0]), mc.tensor([1.0]), reduction="avg")


def test_matmul_shape_mismatch_is_clear_error():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4, 5\) do not align"):
        mc.tensor(randn(2, 3)) @ mc.tensor(randn(4, 5))


def test_linear_feature_mismatch_names_shapes():
    with pytest.raises(ValueError, match="expected input with 4 features"):
        F.linear(mc.tensor(randn(2, 3)), mc.tensor(randn(5, 4)))


def test_reshape_and_cat_errors():
    with pytest.raises(ValueError, match="cannot view"):
        mc.tensor(randn(2, 3)).reshape(4, 2)
    with pytest.raises(ValueError, match="shapes must match except in dim 1"):
        F.cat([mc.tensor(randn(2, 3)), mc.tensor(randn(3, 3))], dim=1)
    with pytest.raises(ValueError, match="same shape"):
        F.stack([mc.tensor(randn(2, 3)), mc.tensor(randn(3, 3))])


def test_gradcheck_reports_worst_element_of_a_wrong_backward():
    class BadSquare(mc.Function):
        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, g):
            return g * self.x          # wrong: should be 2 * x * g

    x = mc.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    with pytest.raises(mc.GradcheckError, match="worst element"):
        mc.gradcheck(lambda t: BadSquare.apply(t), x)
    report = mc.gradcheck(lambda t: BadSquare.apply(t), x, raise_exception=False)
    assert not report


def test_gradcheck_random_directions_for_large_inputs():
    x = mc.tensor(randn(40, 40), requires_grad=True)
    report = mc.gradcheck(lambda t: (t @ t).tanh(), x, max_elements=100, n_directions=3)
    assert sum("random direction" in row[1] for row in report.rows) == 3


def test_gradcheck_requires_float64():
    with pytest.raises(TypeError, match="float64"):
        mc.gradcheck(lambda t: t * 2, mc.tensor([1.0], requires_grad=True))


def test_relu_of_minus_infinity_is_zero():
    x = mc.tensor(np.array([-np.inf, -1.0, 2.0, np.inf]))
    np.testing.assert_array_equal(F.relu(x).numpy(), torch.relu(torch.tensor(x.numpy())).numpy())
