"""gradcheck: compare autograd's gradients with central finite differences.

For a function f and a random upstream gradient g we check the gradient of the
scalar L(x) = sum(g * f(x)).  A random g (rather than a plain sum) catches a
backward that ignores or scrambles its incoming gradient.

  * small inputs: every element, dL/dx_i ~ (L(x + h e_i) - L(x - h e_i)) / 2h
  * large inputs: random directions v, <grad, v> ~ (L(x + h v) - L(x - h v)) / 2h
"""
import numpy as np

from . import backend
from .autograd import Tensor, no_grad


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
