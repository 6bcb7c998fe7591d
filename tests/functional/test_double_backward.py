"""Gradients of gradients (``create_graph=True``) for every op of the op table.

* parity with PyTorch: for each float64 sample whose first derivatives gradcheck, the
  first backward is built with ``create_graph=True`` for a random upstream gradient v, then
  a random combination of those gradients is differentiated again with respect to the
  inputs and to v; every second derivative must equal ``torch.autograd.grad``'s;
* ``mc.gradgradcheck`` (finite differences of the backward) on the first samples of each op;
* a double backward that is right to first order but wrong to second (a saved output taken
  as a constant) fails both.
"""
import numpy as np
import pytest
import torch

import minicnn as mc
from minicnn.functional.activation import Sigmoid
from minicnn.functional.elementwise import constant
from tests.op_table import OPS, first

GRADGRADCHECK_SAMPLES_PER_OP = 2


def double_backward_cases(limit=None):
    for op in OPS:
        if np.float64 not in op.dtypes:
            continue
        samples = [s for s in op.sample_inputs(np.float64) if s.gradcheck and s.grad_positions()]
        for sample in samples[:limit]:
            yield pytest.param(op, sample, id=f"{op.name}-{sample.name}")


def second_derivatives(lib, op_call, arrays, positions, seed=0):
    """d/d(inputs, v) of sum_i <u_i, d<v, op(x)>/dx_i>, in minicnn or torch: the inputs' and
    v's gradients, as NumPy arrays (zeros where the result does not depend on one)."""
    rng = np.random.default_rng(seed)
    make = (lambda a, grad: mc.tensor(a, requires_grad=grad)) if lib == "minicnn" else \
        (lambda a, grad: torch.tensor(np.array(a, order="C"), requires_grad=grad))
    grad_fn = mc.autograd.grad if lib == "minicnn" else torch.autograd.grad
    tensors = [None if a is None else make(a, i in positions) for i, a in enumerate(arrays)]
    out = first(op_call(*tensors))
    v = make(rng.standard_normal(tuple(out.shape)), True)
    wrt = [tensors[i] for i in positions]
    grads = grad_fn([out], wrt, [v], create_graph=True, allow_unused=True)
    total = None
    for t, g in zip(wrt, grads):
        if g is not None and g.requires_grad:
            term = (g * make(rng.standard_normal(tuple(t.shape)), False)).sum()
            total = term if total is None else total + term
    if total is None:                    # every first derivative is constant: nothing to compare
        return None
    found = grad_fn([total], wrt + [v], allow_unused=True)
    return [np.zeros(tuple(t.shape)) if d is None else
            (d.numpy() if lib == "minicnn" else d.detach().numpy(force=True)) for t, d in zip(wrt + [v], found)]


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")
@pytest.mark.parametrize("op, sample", list(double_backward_cases()))
def test_second_derivatives_match_torch(op, sample):
    positions = sample.grad_positions()
    ours = second_derivatives("minicnn", op.call(sample), sample.arrays, positions)
    try:
        theirs = second_derivatives("torch", op.call_ref(sample), sample.arrays, positions)
    except IndexError as e:
        if any(a is not None and a.size == 0 for a in sample.arrays):
            pytest.skip(f"PyTorch cannot differentiate twice through an empty input ({e})")
        raise
    assert (ours is None) == (theirs is None)
    for k, (a, b) in enumerate(zip(ours or (), theirs or ())):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9,
                                   err_msg=f"{op.name} {sample.name}: second derivative {k}")


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")
@pytest.mark.parametrize("op, sample", list(double_backward_cases(GRADGRADCHECK_SAMPLES_PER_OP)))
def test_gradgradcheck(op, sample):
    grad = sample.grad_positions()
    inputs = [None if a is None else mc.tensor(a, requires_grad=i in grad)
              for i, a in enumerate(sample.arrays)]
    assert mc.gradgradcheck(lambda *t: first(op.op(*t, **sample.kwargs)), *inputs)


def test_a_double_backward_wrong_only_to_second_order_fails(monkeypatch):
    """Planted: sigmoid's double backward takes its saved output as a constant.  Its first
    derivatives stay right (gradcheck passes), its second derivatives do not."""
    x = mc.tensor(np.linspace(-2, 2, 5), requires_grad=True)
    assert mc.gradgradcheck(lambda t: t.sigmoid(), x)

    def constant_output(self, g):
        out = constant(self.out)
        return g * out * (1 - out)

    monkeypatch.setattr(Sigmoid, "backward_graph", constant_output)
    assert mc.gradcheck(lambda t: t.sigmoid(), x)
    with pytest.raises(mc.GradcheckError):
        mc.gradgradcheck(lambda t: t.sigmoid(), x)
    sample = (np.linspace(-2, 2, 5),)
    ours = second_derivatives("minicnn", lambda t: t.sigmoid(), sample, (0,))
    theirs = second_derivatives("torch", torch.sigmoid, sample, (0,))
    assert not np.allclose(ours[0], theirs[0])
