"""RMSprop: divide the gradient by a running root-mean-square of recent gradients.

PyTorch's formulation, with ``a`` = alpha (the smoothing constant):

    g  <- g + weight_decay * p
    v  <- a * v + (1 - a) * g^2               (running mean of squared gradients)
    centered:  m <- a * m + (1 - a) * g,   v_hat = v - m^2   (a running variance)
    denom = sqrt(v_hat or v) + eps            (eps is added *outside* the sqrt)
    momentum > 0:  buf <- momentum * buf + g / denom,   p <- p - lr * buf
    otherwise:     p <- p - lr * g / denom

Unlike Adam there is no bias correction: ``v`` starts at 0, so the first steps
are large (``g / sqrt((1 - a) g^2) = 10`` times ``lr * sign(g)`` for a=0.99).

The step itself is the kernel ``rmsprop_update`` (``rmsprop_update_numpy`` below;
minicnn/cpu/optim.py makes the same update in one pass over the memory).
"""
from .. import backend, dispatch
from .optimizer import Optimizer
from .sgd import _check_nonnegative


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, *, maximize=False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group):
        _check_nonnegative("RMSprop", group, "lr", "alpha", "eps", "weight_decay", "momentum")

    def _update(self, param, grad, state, group):
        xp = backend.get_array_module(param)
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(param)
            if group["momentum"] > 0:
                state["momentum_buffer"] = xp.zeros_like(param)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(param)
        state["step"] += 1
        dispatch.kernel("rmsprop_update", param)(
            param, grad, state["square_avg"], state.get("grad_avg"), state.get("momentum_buffer"),
            group["lr"], group["alpha"], group["eps"], group["weight_decay"], group["momentum"],
            group["centered"], group["maximize"])


@dispatch.register("rmsprop_update", "numpy")
def rmsprop_update_numpy(param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps,
                         weight_decay, momentum, centered, maximize):
    """One RMSprop step on arrays, in place: ``param``, ``square_avg``, and ``grad_avg``
    (centered) and ``momentum_buffer`` (momentum > 0), None where not used."""
    xp = backend.get_array_module(param)
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad + weight_decay * param
    square_avg *= alpha
    square_avg += (1 - alpha) * grad * grad
    if centered:
        grad_avg += (1 - alpha) * (grad - grad_avg)          # lerp towards grad
        avg = xp.sqrt(square_avg - grad_avg * grad_avg)
    else:
        avg = xp.sqrt(square_avg)
    avg += eps
    if momentum > 0:
        momentum_buffer *= momentum
        momentum_buffer += grad / avg
        param -= lr * momentum_buffer
    else:
        param -= lr * (grad / avg)
