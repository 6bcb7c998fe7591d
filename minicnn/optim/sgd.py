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
"""
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
        # param, grad: arrays of the parameter's shape; updated in place.
        if group["maximize"]:
            grad = -grad
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * param
        momentum = group["momentum"]
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.copy()
            else:
                buf *= momentum
                _add_scaled(buf, 1 - group["dampening"], grad)
            grad = grad + momentum * buf if group["nesterov"] else buf
        _add_scaled(param, -group["lr"], grad)


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
