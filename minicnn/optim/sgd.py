"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay.

PyTorch's formulation (which differs from some textbooks'): with ``g`` the
gradient, ``mu`` the momentum and ``tau`` the dampening,

    g   <- g + weight_decay * p               (L2 penalty folded into the gradient)
    buf <- g                                  on the first step,
    buf <- mu * buf + (1 - tau) * g           afterwards
    d   <- g + mu * buf   (nesterov)   or   buf
    p   <- p - lr * d

Note the learning rate multiplies the whole momentum buffer, so changing ``lr``
mid-training (a schedule) takes effect at once.

The step itself is the kernel ``sgd_update`` (``sgd_update_numpy`` below, a few array
expressions; minicnn/cpu/optim.py makes the same update in one pass over the memory).
"""
from .. import backend, dispatch
from .optimizer import Optimizer


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group):
        _check_nonnegative("SGD", group, "lr", "momentum", "weight_decay")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("minicnn: SGD: nesterov momentum requires momentum > 0 and zero "
                             f"dampening, got momentum={group['momentum']}, "
                             f"dampening={group['dampening']}")

    def _update(self, param, grad, state, group):
        # param, grad: arrays of the parameter's shape; param (and the buffer) change in place
        momentum = group["momentum"]
        buf = state.get("momentum_buffer")
        first_step = momentum != 0 and buf is None
        if first_step:                          # the kernel fills it: buf <- g
            buf = state["momentum_buffer"] = backend.get_array_module(param).empty_like(param)
        dispatch.kernel("sgd_update", param)(
            param, grad, buf, group["lr"], momentum, group["dampening"], group["weight_decay"],
            group["nesterov"], group["maximize"], first_step)


@dispatch.register("sgd_update", "numpy")
def sgd_update_numpy(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay,
                     nesterov, maximize, first_step):
    """One SGD step on arrays, in place: ``param`` and (momentum != 0) ``momentum_buffer``,
    which ``first_step`` sets to the gradient instead of decaying."""
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad + weight_decay * param
    if momentum != 0:
        buf = momentum_buffer
        if first_step:
            buf[...] = grad
        else:
            buf *= momentum
            _add_scaled(buf, 1 - dampening, grad)
        grad = grad + momentum * buf if nesterov else buf
    _add_scaled(param, -lr, grad)


def _add_scaled(y, a, x, block=1 << 20):
    """y += a * x in place, a block of elements at a time: the same numbers as
    ``y += a * x``, without a temporary as large as the weight (151 MB for AlexNet's fc6)."""
    if not y.flags.c_contiguous:              # reshape would copy: update y as it is
        y += a * x
        return
    y, x = y.reshape(-1), x.reshape(-1)
    for start in range(0, y.size, block):
        y[start:start + block] += a * x[start:start + block]


def _check_nonnegative(name, group, *keys):
    """The shared validation: each setting in ``keys`` must be >= 0."""
    for key in keys:
        if not group[key] >= 0:
            raise ValueError(f"minicnn: {name}: invalid {key} {group[key]!r} (expected >= 0)")
