"""Basic ops: what the op table's generic suites (tests/op_table.py, tests/functional/test_ops.py)
do not say -- non-contiguous and composite expressions, hypothesis over broadcasting and
reductions, dims out of range, ReLU's rules at -inf and NaN, the all-ignored cross entropy,
mc.tensor of bad data, and gradcheck's own behaviour.  Their parity with PyTorch (forward,
and backward of a random upstream gradient), finite differences and refusals are the
table's rows."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import minicnn as mc
import minicnn.functional as F
from minicnn.utils import compare_with_torch

rng = np.random.default_rng(1234)


def randn(*shape):
    return rng.standard_normal(shape)


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


# ----- gradcheck and ReLU's rules -----------------------------------------------------
def test_gradcheck_reports_worst_element_of_a_wrong_backward():
    class BadSquare(mc.Function):
        def forward(self, x):
            self.save_for_backward(x=x)
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


# ----- cross entropy: all targets ignored -------------------------------------------------
def test_cross_entropy_all_ignored_mean_is_nan_with_zero_gradient():
    x = mc.tensor(randn(2, 3), requires_grad=True)
    loss = F.cross_entropy(x, mc.tensor([-100, -100]))
    loss.backward()
    assert np.isnan(loss.item())
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 3), np.float32))


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
