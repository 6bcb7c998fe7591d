"""Weight initialisation, with ``torch.nn.init``'s names and formulas.

Why it matters: with N layers the scale of the activations is multiplied by
roughly (std(w) * sqrt(fan)) per layer, so a std a little too small or large
makes deep networks' signals vanish or explode.  Xavier/Glorot keeps the
variance constant for linear/tanh layers (var(w) = 2 / (fan_in + fan_out));
Kaiming/He doubles it for ReLU, which zeroes half of its inputs
(var(w) = 2 / fan_in).

Every function fills ``tensor`` in place (keeping its dtype and device) and
returns it.  Random numbers come from minicnn's global generator, so
``minicnn.manual_seed(0)`` makes model construction reproducible.
"""
import math

import numpy as np

from .. import backend, random


def _fill(tensor, values):
    """Write ``values`` into the tensor's array in place (no graph is recorded)."""
    tensor.data[...] = values
    return tensor


def _standard(tensor, kind):
    """Overwrite the tensor's array with standard uniform [0, 1) or standard normal numbers
    and return the array.  Drawn straight into it where possible: VGG's first
    fully-connected layer alone holds 100 million numbers."""
    data = tensor.data
    rng = random.generator(backend.get_array_module(data))
    draw = rng.random if kind == "uniform" else rng.standard_normal
    if data.dtype in (np.float32, np.float64) and data.flags.c_contiguous:
        draw(data.shape, dtype=data.dtype, out=data)
    else:
        data[...] = draw(data.shape, dtype=np.float64)
    return data


def _scale_shift(values, scale, shift):
    """values = values * scale + shift, in place."""
    values *= scale
    values += shift


def uniform_(tensor, a=0.0, b=1.0):
    _scale_shift(_standard(tensor, "uniform"), b - a, a)
    return tensor


def normal_(tensor, mean=0.0, std=1.0):
    _scale_shift(_standard(tensor, "normal"), std, mean)
    return tensor


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """Normal(mean, std) restricted to [a, b] (absolute bounds, as in PyTorch).

    Values outside are redrawn until none is left (each round redraws only those), which
    is quick unless [a, b] holds very little of the distribution.
    """
    if not a < b:
        raise ValueError(f"minicnn: trunc_normal_: need a < b, got a={a}, b={b}")
    values = normal_(tensor, mean, std).data
    rng = random.generator(backend.get_array_module(values))
    for _ in range(1000):
        outside = (values < a) | (values > b)
        count = int(outside.sum())
        if count == 0:
            return tensor
        values[outside] = mean + std * rng.standard_normal(count, dtype=values.dtype)
    raise ValueError(f"minicnn: trunc_normal_: [a, b] = [{a}, {b}] holds too little of "
                     f"Normal({mean}, {std}) to sample from by redrawing")


def constant_(tensor, val):
    return _fill(tensor, val)


def zeros_(tensor):
    return _fill(tensor, 0)


def ones_(tensor):
    return _fill(tensor, 1)


def calculate_gain(nonlinearity, param=None):
    """The factor by which a nonlinearity shrinks the standard deviation, undone by init."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"minicnn: calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor):
    """Linear weight (out, in): fan_in = in.  Conv weight (out, in/groups, kh, kw):
    fan_in = in/groups * kh * kw, fan_out = out * kh * kw."""
    if tensor.ndim < 2:
        raise ValueError("minicnn: fan in and fan out need a tensor with at least 2 dims, "
                         f"got shape {tensor.shape}")
    receptive_field = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def _fan(tensor, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"minicnn: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def xavier_uniform_(tensor, gain=1.0):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    bound = math.sqrt(3.0) * std          # uniform(-b, b) has std b / sqrt(3)
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode)))


def default_init_(weight, bias):
    """PyTorch's default for Conv2d and Linear.  kaiming_uniform_ with a=sqrt(5) works
    out to uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)); the bias uses the same bound."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = _calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound)
