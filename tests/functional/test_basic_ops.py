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


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")   # assert_close on inf - inf
def test_relu_passes_the_gradient_of_a_nan_on_like_torch():
    """PyTorch's threshold_backward: 0 where the output is <= 0, the gradient elsewhere, so a
    NaN input gets its gradient (NaN out, NaN in the sum) and an off unit stops even inf."""
    x = np.array([np.nan, -1.0, 0.0, 2.0, -np.inf, np.inf])
    compare_with_torch(F.relu, torch.relu, x)
    g = np.array([5.0, np.inf, np.nan, 3.0, 1.0, 2.0])
    t, tt = mc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    F.relu(t).backward(g)
    torch.relu(tt).backward(torch.tensor(g))
    np.testing.assert_array_equal(t.grad.numpy(), tt.grad.numpy())


# ----- dims: PyTorch's range, never wrapped -----------------------------------------------
DIM_OPS = {   # name: (minicnn op, torch op) taking (tensor, dim)
    "sum": (lambda x, d: x.sum(d), lambda x, d: x.sum(d)),
    "sum_tuple": (lambda x, d: x.sum((0, d)), lambda x, d: x.sum((0, d))),
    "mean": (lambda x, d: x.mean(d), lambda x, d: x.mean(d)),
    "max": (lambda x, d: x.max(d), lambda x, d: x.max(d).values),
    "argmax": (lambda x, d: x.argmax(d), lambda x, d: x.argmax(d)),
    "softmax": (F.softmax, torch.softmax),
    "log_softmax": (F.log_softmax, torch.log_softmax),
    "flatten_start": (lambda x, d: F.flatten(x, d), lambda x, d: torch.flatten(x, d)),
    "flatten_end": (lambda x, d: F.flatten(x, 0, d), lambda x, d: torch.flatten(x, 0, d)),
    "cat": (lambda x, d: F.cat([x, x], d), lambda x, d: torch.cat([x, x], d)),
    "stack": (lambda x, d: F.stack([x, x], d), lambda x, d: torch.stack([x, x], d)),
    "transpose": (lambda x, d: x.transpose(0, d), lambda x, d: x.transpose(0, d)),
    "permute": (lambda x, d: x.permute(0, d), lambda x, d: x.permute(0, d)),
}


@pytest.mark.parametrize("dim", [2, -3, 3, 5, -5])
@pytest.mark.parametrize("name", sorted(DIM_OPS))
def test_out_of_range_dim_is_torchs_index_error(name, dim):
    """softmax(x, 2) on (N, C) must not normalise over the batch (2 % 2 == 0)."""
    mc_op, torch_op = DIM_OPS[name]
    x = randn(2, 3)
    try:
        torch_op(torch.tensor(x), dim)
    except IndexError as e:
        expected = str(e)
    else:                   # stack takes one more position: -3 and 2 are fine there
        compare_with_torch(lambda t: mc_op(t, dim), lambda t: torch_op(t, dim), x,
                           grad_inputs=[] if name == "argmax" else None)
        return
    with pytest.raises(IndexError) as info:
        mc_op(mc.tensor(x), dim)
    assert expected in str(info.value), f"{info.value} does not say {expected!r}"


@pytest.mark.parametrize("name", sorted(DIM_OPS))
def test_every_valid_dim_matches_torch(name):
    mc_op, torch_op = DIM_OPS[name]
    x = randn(2, 3)
    top = 3 if name == "stack" else 2
    for dim in range(-top, top):
        if name in ("permute", "sum_tuple") and dim % 2 == 0:
            continue                   # (0, 0) repeats a dim: an error, tested below
        compare_with_torch(lambda t: mc_op(t, dim), lambda t: torch_op(t, dim), x,
                           grad_inputs=[] if name == "argmax" else None)


def test_repeated_dims_are_runtime_errors_like_torch():
    for mc_op, torch_op in [(lambda x: x.sum((1, -1)), lambda x: x.sum((1, -1))),
                            (lambda x: x.permute(1, 1), lambda x: x.permute(1, 1))]:
        with pytest.raises(RuntimeError):
            torch_op(torch.tensor(randn(2, 3)))
        with pytest.raises(RuntimeError):
            mc_op(mc.tensor(randn(2, 3)))


# ----- softmax and cross entropy: extremes, empty and 0-d tensors ------------------------
BIG = np.array([[1000.0, -1000.0, 0.0, 999.0], [-1000.0, -999.0, -1000.0, -1000.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mc_op,torch_op", [
    (lambda x: F.softmax(x, 1), lambda x: torch.softmax(x, 1)),
    (lambda x: F.log_softmax(x, -1), lambda x: torch.log_softmax(x, -1)),
    (lambda x: F.cross_entropy(x, mc.tensor([0, 1])), lambda x: TF.cross_entropy(x, torch.tensor([0, 1]))),
    (lambda x: F.cross_entropy(x, mc.tensor([1, 3]), label_smoothing=0.2, reduction="none"),
     lambda x: TF.cross_entropy(x, torch.tensor([1, 3]), label_smoothing=0.2, reduction="none")),
])
def test_logits_of_plus_minus_1000_match_torch(mc_op, torch_op, dtype):
    """exp(1000) overflows: an unshifted softmax gives NaN here."""
    out, _ = compare_with_torch(mc_op, torch_op, BIG, dtype=dtype)
    assert np.isfinite(out.numpy()).all()


@pytest.mark.parametrize("shape,dim", [((0, 4), 1), ((3, 0), 1), ((3, 0), 0), ((2, 0, 3), -1)])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_of_empty_tensors(op, shape, dim):
    compare_with_torch(lambda x: getattr(F, op)(x, dim), lambda x: getattr(torch, op)(x, dim),
                       np.zeros(shape))


@pytest.mark.parametrize("dim", [0, -1])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_of_a_0d_tensor(op, dim):
    compare_with_torch(lambda x: getattr(F, op)(x, dim), lambda x: getattr(torch, op)(x, dim),
                       np.array(2.5))
    with pytest.raises(IndexError, match=r"range of \[-1, 0\], but got 1"):
        getattr(F, op)(mc.tensor(2.5), 1)


@pytest.mark.parametrize("x_shape,w_shape", [((0, 4), (3, 4)), ((2, 0), (3, 0)), ((2, 0, 4), (3, 4))])
def test_linear_with_zero_size(x_shape, w_shape):
    compare_with_torch(F.linear, TF.linear, randn(*x_shape), randn(*w_shape), randn(w_shape[0]))


# ----- cross entropy: weights, ignore_index, probabilities, unbatched ----------------------
def ce_case(logits_shape, target, **kwargs):
    """A (minicnn fn, torch fn, arrays) case; float targets are class probabilities."""
    weight = kwargs.pop("weight", None)

    def mc_fn(x, t, w=None):
        return F.cross_entropy(x, t, weight=w, **kwargs)

    def torch_fn(x, t, w=None):
        return TF.cross_entropy(x, t, weight=w, **kwargs)

    arrays = [randn(*logits_shape) * 2, target] + ([weight] if weight is not None else [])
    return mc_fn, torch_fn, arrays


def probabilities(*shape, axis=1):
    p = rng.uniform(0.1, 1.0, shape)
    return p / p.sum(axis=axis, keepdims=True)


WEIGHT = np.array([0.5, 2.0, 1.0, 3.0])
IGNORING = np.array([1, -100, 3, 0, -100])       # two samples ignored (PyTorch's default)
CE_CASES = {}
for red in ("mean", "sum", "none"):
    for ls in (0.0, 0.3):
        CE_CASES[f"weight_{red}_ls{ls}"] = ce_case((5, 4), np.array([1, 0, 3, 3, 2]), weight=WEIGHT,
                                                   reduction=red, label_smoothing=ls)
        CE_CASES[f"ignore_{red}_ls{ls}"] = ce_case((5, 4), IGNORING, reduction=red, label_smoothing=ls)
        CE_CASES[f"weight_ignore_{red}_ls{ls}"] = ce_case((5, 4), IGNORING, weight=WEIGHT,
                                                          reduction=red, label_smoothing=ls)
        CE_CASES[f"ignore_index_2_{red}_ls{ls}"] = ce_case((5, 4), np.array([2, 2, 0, 1, 3]),
                                                           ignore_index=2, reduction=red, label_smoothing=ls)
        CE_CASES[f"probabilities_{red}_ls{ls}"] = ce_case((5, 4), probabilities(5, 4),
                                                          reduction=red, label_smoothing=ls)
        CE_CASES[f"probabilities_weight_{red}_ls{ls}"] = ce_case((5, 4), probabilities(5, 4), weight=WEIGHT,
                                                                 reduction=red, label_smoothing=ls)
        CE_CASES[f"spatial_weight_ignore_{red}_ls{ls}"] = ce_case(
            (2, 4, 2, 3), np.where(rng.random((2, 2, 3)) < 0.3, -100, rng.integers(0, 4, (2, 2, 3))),
            weight=WEIGHT, reduction=red, label_smoothing=ls)
        CE_CASES[f"spatial_probabilities_{red}_ls{ls}"] = ce_case((2, 4, 3), probabilities(2, 4, 3),
                                                                  weight=WEIGHT, reduction=red, label_smoothing=ls)
        CE_CASES[f"unbatched_{red}_ls{ls}"] = ce_case((4,), np.array(2), reduction=red, label_smoothing=ls)
        CE_CASES[f"unbatched_probabilities_{red}_ls{ls}"] = ce_case((4,), probabilities(4, axis=0),
                                                                    reduction=red, label_smoothing=ls)
        CE_CASES[f"empty_batch_{red}_ls{ls}"] = ce_case((0, 4), np.zeros(0, np.int64),
                                                        reduction=red, label_smoothing=ls)
        CE_CASES[f"all_ignored_{red}_ls{ls}"] = ce_case((2, 4), np.array([-100, -100]), weight=WEIGHT,
                                                        reduction=red, label_smoothing=ls)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(CE_CASES))
def test_cross_entropy_options_match_torch(name, dtype):
    """Forward and gradients (of the logits, and of probability targets) against torch;
    the class weights are constants (torch does not differentiate them either)."""
    mc_fn, torch_fn, arrays = CE_CASES[name]
    grad_inputs = [0, 1] if arrays[1].dtype.kind == "f" else [0]
    tol = {} if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5)
    compare_with_torch(mc_fn, torch_fn, *arrays, dtype=dtype, grad_inputs=grad_inputs, **tol)


@pytest.mark.parametrize("name", [n for n in sorted(CE_CASES) if "ls0.3" in n and "mean" in n
                                  and "empty" not in n and "all_ignored" not in n])
def test_cross_entropy_options_gradcheck(name):
    mc_fn, _, arrays = CE_CASES[name]
    inputs = [mc.tensor(a, requires_grad=i < 2 and a.dtype.kind == "f") for i, a in enumerate(arrays)]
    mc.gradcheck(mc_fn, *inputs)


def test_cross_entropy_all_ignored_mean_is_nan_with_zero_gradient():
    x = mc.tensor(randn(2, 3), requires_grad=True)
    loss = F.cross_entropy(x, mc.tensor([-100, -100]))
    loss.backward()
    assert np.isnan(loss.item())
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 3), np.float32))


def test_cross_entropy_option_errors_match_torch_classes():
    x, t = randn(2, 3), np.array([0, 2])
    cases = [
        (dict(target=np.array([0.0, 2.0])), RuntimeError),                  # float class indices
        (dict(weight=np.ones(4)), RuntimeError),                             # weight for 4 classes
        (dict(weight=np.ones(3, np.float32)), RuntimeError),                 # weight dtype
        (dict(target=probabilities(2, 3), ignore_index=1), RuntimeError),   # ignore_index with probs
        (dict(target=np.array([0, 3])), IndexError),                         # out of range
        (dict(label_smoothing=1.5), RuntimeError),
    ]
    for kwargs, error in cases:
        kwargs = dict(kwargs)
        target = kwargs.pop("target", t)
        weight = kwargs.pop("weight", None)
        with pytest.raises(error):
            TF.cross_entropy(torch.tensor(x), torch.tensor(target),
                             weight=None if weight is None else torch.tensor(weight), **kwargs)
        with pytest.raises(error, match="cross_entropy"):
            F.cross_entropy(mc.tensor(x), mc.tensor(target),
                            weight=None if weight is None else mc.tensor(weight), **kwargs)


def test_cross_entropy_on_integer_logits_is_a_clear_type_error():
    with pytest.raises(NotImplementedError):
        TF.cross_entropy(torch.tensor([[1, 2]]), torch.tensor([0]))
    with pytest.raises(TypeError, match="cross_entropy: expected floating-point logits, got dtype int64"):
        F.cross_entropy(mc.tensor([[1, 2]]), mc.tensor([0]))
    with pytest.raises(NotImplementedError):      # the class PyTorch raises, too
        F.cross_entropy(mc.tensor([[1, 2]]), mc.tensor([0]))


# ----- mc.tensor of bad data ----------------------------------------------------------------
@pytest.mark.parametrize("data,error,where", [
    ([[1, 2], [3]], ValueError, "length 2 at dim 1, got a sequence of length 1"),
    ([[[1], [2]], [[3], [4, 5]]], ValueError, "length 1 at dim 2"),
    ([[1, 2], 3], TypeError, "length 2 at dim 1, got a number"),       # torch: TypeError too
    ([1, [2, 3]], TypeError, "a number at dim 1"),
])
def test_ragged_lists_are_a_clear_error_of_torchs_class(data, error, where):
    with pytest.raises(error):
        torch.tensor(data)
    with pytest.raises(error, match=f"ragged.*{where}"):
        mc.tensor(data)


def test_non_numbers_are_a_clear_type_error():
    with pytest.raises(TypeError, match="expected numbers"):
        mc.tensor("abc")
    with pytest.raises(TypeError, match="expected numbers"):
        mc.tensor(None)


# ----- gradcheck's tolerances ---------------------------------------------------------------
def scaled_backward(function, factor):
    """A copy of ``function`` whose backward is off by ``factor`` (a planted bug)."""
    class Wrong(function):
        def backward(self, g):
            grads = super().backward(g)
            return tuple(gi * factor for gi in grads) if isinstance(grads, tuple) else grads * factor
    return Wrong


def test_gradcheck_catches_a_backward_wrong_by_1e_4():
    """PyTorch's default rtol 1e-3 lets this through; minicnn's float64 defaults do not."""
    from minicnn.functional.elementwise import Exp
    x = mc.tensor(np.array([0.3, -1.2, 2.0]), requires_grad=True)
    mc.gradcheck(lambda t: Exp.apply(t), x)
    wrong = scaled_backward(Exp, 1 + 1e-4)
    assert mc.gradcheck(lambda t: wrong.apply(t), x, atol=1e-5, rtol=1e-3)     # PyTorch's defaults
    with pytest.raises(mc.GradcheckError):
        mc.gradcheck(lambda t: wrong.apply(t), x)


def test_gradcheck_readme_example_fails_when_the_backward_is_wrong(monkeypatch):
    """The README's example, (t.T @ t * 0.1).tanh(), has gradients near 1, so a wrong tanh or
    matmul backward shows (tanh(t @ t.T) saturates at 14: its gradients, 1e-11, pass anything)."""
    from minicnn.functional import activation, linalg
    x = mc.tensor([[1.0, -2.0, 3.0]], requires_grad=True)
    example = lambda: mc.gradcheck(lambda t: (t.T @ t * 0.1).tanh(),   # noqa: E731
                                   x.double().detach().requires_grad_())
    assert example()
    for module, name in [(activation, "Tanh"), (linalg, "MatMul")]:
        with monkeypatch.context() as m:
            m.setattr(module, name, scaled_backward(getattr(module, name), 1 + 1e-4))
            with pytest.raises(mc.GradcheckError):
                example()
