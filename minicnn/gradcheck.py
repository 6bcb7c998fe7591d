"""gradcheck: compare autograd's gradients with central finite differences.

For a function f and a random upstream gradient g we check the gradient of the
scalar L(x) = sum(g * f(x)).  A random g (rather than a plain sum) catches a
backward that ignores or scrambles its incoming gradient.

  * small inputs: every element, dL/dx_i ~ (L(x + h e_i) - L(x - h e_i)) / 2h
  * large inputs: random directions v, <grad, v> ~ (L(x + h v) - L(x - h v)) / 2h
"""
import numpy as np

from . import backend
from .autograd import Tensor, enable_grad, grad, no_grad


class GradcheckError(AssertionError):
    pass


class GradcheckReport:
    """What gradcheck found; truthy when every check passed.  ``str()`` is a readable table."""

    def __init__(self):
        self.rows = []        # (input index, what, analytic, numeric, error, passed)

    @property
    def passed(self):
        return all(r[-1] for r in self.rows)

    def __bool__(self):
        return self.passed

    def __str__(self):
        lines = [f"gradcheck {'PASSED' if self.passed else 'FAILED'}"]
        for i, what, a, n, err, ok in self.rows:
            lines.append(f"  input {i} {what:<28} analytic {a: .10e}  numeric {n: .10e}  "
                         f"error {err:.2e}  {'ok' if ok else 'FAIL'}")
        return "\n".join(lines)


def _outputs(fn, inputs):
    out = fn(*inputs)
    return out if isinstance(out, (tuple, list)) else (out,)


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-6, rtol=1e-5, max_elements=256,
              n_directions=4, seed=0, raise_exception=True):
    """Check the gradients of ``fn(*inputs)`` with respect to every input that requires grad.

    Inputs must be float64 (finite differences in float32 are too noisy to judge).
    An element passes when |analytic - numeric| <= atol + rtol * |numeric|.  The defaults
    are 10x and 100x tighter than PyTorch's (atol 1e-5, rtol 1e-3): in float64 a central
    difference with eps = 1e-6 is off by about eps**2 * (third derivative), 1e-12, plus
    rounding, 1e-16 * |L| / eps, and the worst error over minicnn's own checks is 4e-9.
    So a correct backward passes with room to spare, while one that is wrong by 1e-4 of
    the gradient fails (PyTorch's defaults let it through).  Choose inputs whose
    gradients are not tiny: below ``atol`` any gradient, right or wrong, passes.
    Inputs with at most ``max_elements`` entries are checked element by element;
    larger ones along ``n_directions`` random directions.  Returns a
    ``GradcheckReport``; on failure raises ``GradcheckError`` naming the worst
    element (index, analytic, numeric) unless ``raise_exception=False``.
    """
    rng = np.random.default_rng(seed)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("minicnn: gradcheck: no input has requires_grad=True")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"minicnn: gradcheck: input {i} is {inputs[i].dtype}; finite differences "
                            "need float64 (use .double())")

    # analytic gradients of L = sum(g * f(x)) for random upstream gradients g
    for t in inputs:
        if isinstance(t, Tensor):
            t.grad = None
    outs = _outputs(fn, inputs)
    upstream = [rng.standard_normal(o.shape) for o in outs]
    total = sum((o * backend.to_device(g, o.device)).sum() for o, g in zip(outs, upstream))
    total.backward()
    analytic = {i: (np.zeros(inputs[i].shape) if inputs[i].grad is None else inputs[i].grad.numpy())
                for i in checked}

    def loss_at(i, x_data):
        original = inputs[i].data
        inputs[i].data = backend.to_device(x_data, inputs[i].device)
        try:
            with no_grad():
                return float(sum((o.numpy() * g).sum() for o, g in zip(_outputs(fn, inputs), upstream)))
        finally:
            inputs[i].data = original

    report = GradcheckReport()
    for i in checked:
        x = inputs[i].numpy().astype(np.float64)
        grad = analytic[i]
        if x.size <= max_elements:
            worst = None
            for idx in np.ndindex(*x.shape):
                xp_, xm_ = x.copy(), x.copy()
                xp_[idx] += eps
                xm_[idx] -= eps
                numeric = (loss_at(i, xp_) - loss_at(i, xm_)) / (2 * eps)
                err = abs(grad[idx] - numeric)
                ok = err <= atol + rtol * abs(numeric)
                score = err / (atol + rtol * abs(numeric))
                if worst is None or score > worst[0]:
                    worst = (score, idx, grad[idx], numeric, err, ok)
            if worst is not None:
                _, idx, a, n, err, ok = worst
                report.rows.append((i, f"worst element {idx}", a, n, err, ok))
        else:
            for d in range(n_directions):
                v = rng.standard_normal(x.shape)
                numeric = (loss_at(i, x + eps * v) - loss_at(i, x - eps * v)) / (2 * eps)
                a = float((grad * v).sum())
                err = abs(a - numeric)
                report.rows.append((i, f"random direction {d}", a, numeric, err,
                                    err <= atol + rtol * abs(numeric)))
    if raise_exception and not report.passed:
        raise GradcheckError(str(report))
    return report


def gradgradcheck(fn, *inputs, grad_outputs=None, seed=0, **gradcheck_options):
    """Check the second derivatives of ``fn(*inputs)``: ``gradcheck`` of its backward.

    The backward, as a function of the inputs and of the upstream gradients ``v``,
    ``(x, v) -> d<v, fn(x)>/dx``, is built with ``autograd.grad(create_graph=True)``, and
    gradcheck compares its own gradients (the double backward of every op it runs) with
    central finite differences of it, for random upstream gradients at both levels.  As
    ``torch.autograd.gradgradcheck``.  Inputs must be float64.

    Args:
        fn (callable): Tensors -> a Tensor or a tuple of Tensors.
        *inputs (Tensor): its inputs; those with ``requires_grad`` are differentiated.
        grad_outputs (sequence of Tensors, optional): the upstream gradients ``v`` of the
            first backward (they are differentiated too when they require grad).
            Default: ``None`` (random, float64, requiring grad)
        seed (int, optional): for the random upstream gradients. Default: ``0``
        **gradcheck_options: ``eps``, ``atol``, ``rtol``, ``max_elements``, ... as gradcheck's.

    Example::

        >>> x = mc.tensor([0.5, -1.0, 2.0], dtype=np.float64, requires_grad=True)
        >>> mc.gradgradcheck(lambda t: (t * t.tanh()).sum(), x).passed
        True
    """
    differentiated = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not differentiated:
        raise ValueError("minicnn: gradgradcheck: no input has requires_grad=True")
    if grad_outputs is None:
        rng = np.random.default_rng(seed + 1)
        grad_outputs = [Tensor(backend.to_device(rng.standard_normal(o.shape), o.device),
                               requires_grad=True) for o in _outputs(fn, inputs)]
    grad_outputs = list(grad_outputs)
    n = len(inputs)

    def first_derivatives(*args):
        xs, vs = args[:n], args[n:]
        wrt = [t for t in xs if isinstance(t, Tensor) and t.requires_grad]
        with enable_grad():         # gradcheck's finite differences run under no_grad
            found = grad(list(_outputs(fn, xs)), wrt, vs, create_graph=True, allow_unused=True)
        # an input the outputs do not depend on has the derivative 0, itself constant
        return tuple(Tensor(np.zeros(t.shape)) if d is None else d for t, d in zip(wrt, found))

    return gradcheck(first_derivatives, *inputs, *grad_outputs, seed=seed, **gradcheck_options)
