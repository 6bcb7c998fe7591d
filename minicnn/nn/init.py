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
    tensor.bump_version()
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
    tensor.bump_version()
    return data


def _scale_shift(values, scale, shift):
    """values = values * scale + shift, in place."""
    values *= scale
    values += shift


def uniform_(tensor, a=0.0, b=1.0):
    """Fill ``tensor`` with numbers drawn uniformly from [a, b), as ``torch.nn.init.uniform_``.

    Fills ``tensor`` in place (keeping its dtype and device) and returns it; the numbers
    come from minicnn's global generator, so ``mc.manual_seed`` makes them reproducible.

    Args:
        tensor (Tensor): the tensor to fill (a Parameter, usually).
        a (float, optional): the lower bound. Default: ``0.0``
        b (float, optional): the upper bound. Default: ``1.0``

    Example::

        >>> mc.manual_seed(0)
        >>> w = nn.init.uniform_(mc.tensor(np.empty((2, 3), np.float32)), -1.0, 1.0)
        >>> print(w.numpy().round(3))
        [[ 0.701  0.274  0.022]
         [-0.46  -0.384 -0.918]]
    """
    _scale_shift(_standard(tensor, "uniform"), b - a, a)
    return tensor


def normal_(tensor, mean=0.0, std=1.0):
    """Fill ``tensor`` from Normal(mean, std**2), as ``torch.nn.init.normal_``.

    Fills ``tensor`` in place (keeping its dtype and device) and returns it; the numbers
    come from minicnn's global generator, so ``mc.manual_seed`` makes them reproducible.

    Args:
        tensor (Tensor): the tensor to fill.
        mean (float, optional): the mean. Default: ``0.0``
        std (float, optional): the standard deviation. Default: ``1.0``

    Example::

        >>> mc.manual_seed(0)
        >>> w = nn.init.normal_(mc.tensor(np.empty((100, 100), np.float32)), std=0.01)
        >>> print(round(float(w.numpy().std()), 4))
        0.01
    """
    _scale_shift(_standard(tensor, "normal"), std, mean)
    return tensor


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """Normal(mean, std) restricted to [a, b] (absolute bounds, as in PyTorch).

    Values outside are redrawn until none is left (each round redraws only those), which
    is quick unless [a, b] holds very little of the distribution.  As
    ``torch.nn.init.trunc_normal_`` (how minicnn's Inception v3 and GoogLeNet start their
    weights, as torchvision's do).

    Fills ``tensor`` in place (keeping its dtype and device) and returns it; the numbers
    come from minicnn's global generator, so ``mc.manual_seed`` makes them reproducible.

    Args:
        tensor (Tensor): the tensor to fill.
        mean (float, optional): the mean of the normal distribution. Default: ``0.0``
        std (float, optional): its standard deviation. Default: ``1.0``
        a (float, optional): the lowest value allowed. Default: ``-2.0``
        b (float, optional): the highest value allowed. Default: ``2.0``

    Example::

        >>> mc.manual_seed(0)
        >>> w = nn.init.trunc_normal_(mc.tensor(np.empty(1000, np.float32)), std=0.1, a=-0.2, b=0.2)
        >>> bool(w.numpy().min() >= -0.2 and w.numpy().max() <= 0.2)
        True
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
    """Fill ``tensor`` with the value ``val``, as ``torch.nn.init.constant_``.

    Fills ``tensor`` in place (keeping its dtype and device) and returns it; no graph is
    recorded.

    Args:
        tensor (Tensor): the tensor to fill.
        val (float): the value.

    Example::

        >>> nn.init.constant_(mc.tensor(np.empty(3, np.float32)), 0.5)
        tensor([0.5, 0.5, 0.5], dtype=float32)
    """
    return _fill(tensor, val)


def zeros_(tensor):
    """Fill ``tensor`` with zeros, as ``torch.nn.init.zeros_`` (biases, BatchNorm's shift).

    Fills ``tensor`` in place (keeping its dtype and device) and returns it; no graph is
    recorded.

    Args:
        tensor (Tensor): the tensor to fill.

    Example::

        >>> nn.init.zeros_(mc.tensor([1.0, 2.0]))
        tensor([0., 0.], dtype=float32)
    """
    return _fill(tensor, 0)


def ones_(tensor):
    """Fill ``tensor`` with ones, as ``torch.nn.init.ones_`` (BatchNorm's scale).

    Fills ``tensor`` in place (keeping its dtype and device) and returns it; no graph is
    recorded.

    Args:
        tensor (Tensor): the tensor to fill.

    Example::

        >>> nn.init.ones_(mc.tensor(np.empty((2, 2), np.float32)))
        tensor([[1., 1.],
                [1., 1.]], dtype=float32)
    """
    return _fill(tensor, 1)


def calculate_gain(nonlinearity, param=None):
    """The factor by which a nonlinearity shrinks the standard deviation, undone by init.

    As ``torch.nn.init.calculate_gain``: 1 for linear layers and sigmoid, 5/3 for tanh,
    sqrt(2) for ReLU (which zeroes half of its inputs, halving their second moment),
    sqrt(2 / (1 + slope**2)) for leaky ReLU, 3/4 for SELU.  The Xavier and Kaiming
    initialisations multiply their standard deviation by it.

    Args:
        nonlinearity (str): ``'linear'``, ``'conv1d'``, ``'conv2d'``, ``'conv3d'``,
            ``'sigmoid'``, ``'tanh'``, ``'relu'``, ``'leaky_relu'`` or ``'selu'``.
        param (float, optional): the negative slope of ``'leaky_relu'``.
            Default: ``None`` (0.01, PyTorch's default slope)

    Example::

        >>> nn.init.calculate_gain('relu')
        1.4142135623730951
        >>> nn.init.calculate_gain('tanh')
        1.6666666666666667
        >>> nn.init.calculate_gain('leaky_relu', 0.2)
        1.3867504905630728
    """
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
    """Xavier/Glorot initialisation, uniform, as ``torch.nn.init.xavier_uniform_``.

    U(-bound, bound) with bound = gain * sqrt(6 / (fan_in + fan_out)).  It keeps the
    variance of the activations (forward) and of the gradients (backward) roughly constant
    through linear or tanh layers: var(w) = gain**2 * 2 / (fan_in + fan_out), a compromise
    between the two directions (Glorot and Bengio, 2010).

    fan_in and fan_out are a weight's inputs and outputs per unit: a Linear weight
    (out, in) has fan_in = in, fan_out = out; a Conv2d weight (out, in/groups, kh, kw) has
    fan_in = in/groups * kh * kw and fan_out = out * kh * kw.

    Fills ``tensor`` in place (keeping its dtype and device) and returns it; the numbers
    come from minicnn's global generator, so ``mc.manual_seed`` makes them reproducible.

    Args:
        tensor (Tensor): the weight to fill, at least 2-D.
        gain (float, optional): the scaling factor (``calculate_gain``). Default: ``1.0``

    Example::

        >>> mc.manual_seed(0)
        >>> w = nn.init.xavier_uniform_(mc.tensor(np.empty((300, 100), np.float32)))
        >>> print(round(float(abs(w.numpy()).max()), 3), round((6 / 400) ** 0.5, 3))
        0.122 0.122
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    bound = math.sqrt(3.0) * std          # uniform(-b, b) has std b / sqrt(3)
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    """Xavier/Glorot initialisation, normal, as ``torch.nn.init.xavier_normal_``.

    Normal(0, std**2) with std = gain * sqrt(2 / (fan_in + fan_out)): the same variance as
    ``xavier_uniform_``, drawn from a normal distribution.

    fan_in and fan_out are a weight's inputs and outputs per unit: a Linear weight
    (out, in) has fan_in = in, fan_out = out; a Conv2d weight (out, in/groups, kh, kw) has
    fan_in = in/groups * kh * kw and fan_out = out * kh * kw.

    Fills ``tensor`` in place (keeping its dtype and device) and returns it; the numbers
    come from minicnn's global generator, so ``mc.manual_seed`` makes them reproducible.

    Args:
        tensor (Tensor): the weight to fill, at least 2-D.
        gain (float, optional): the scaling factor (``calculate_gain``). Default: ``1.0``

    Example::

        >>> mc.manual_seed(0)
        >>> w = nn.init.xavier_normal_(mc.tensor(np.empty((300, 100), np.float32)))
        >>> print(round(float(w.numpy().std()), 3), round((2 / 400) ** 0.5, 3))
        0.071 0.071
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """Kaiming/He initialisation, uniform, as ``torch.nn.init.kaiming_uniform_``.

    U(-bound, bound) with bound = gain * sqrt(3 / fan), gain =
    ``calculate_gain(nonlinearity, a)``.  With ReLU, which zeroes half of its inputs,
    var(w) = 2 / fan_in keeps the scale of the activations constant through a deep network
    (He et al., 2015), where Xavier's variance would let it halve at every layer.
    ``mode='fan_out'`` keeps the gradients' scale in backward instead.

    fan_in and fan_out are a weight's inputs and outputs per unit: a Linear weight
    (out, in) has fan_in = in, fan_out = out; a Conv2d weight (out, in/groups, kh, kw) has
    fan_in = in/groups * kh * kw and fan_out = out * kh * kw.

    Fills ``tensor`` in place (keeping its dtype and device) and returns it; the numbers
    come from minicnn's global generator, so ``mc.manual_seed`` makes them reproducible.

    Args:
        tensor (Tensor): the weight to fill, at least 2-D.
        a (float, optional): the negative slope of the leaky ReLU that follows (0: ReLU).
            Default: ``0``
        mode (str, optional): ``'fan_in'`` or ``'fan_out'``. Default: ``'fan_in'``
        nonlinearity (str, optional): the nonlinearity that follows, usually ``'relu'`` or
            ``'leaky_relu'``. Default: ``'leaky_relu'``

    Example::

        >>> mc.manual_seed(0)
        >>> w = mc.tensor(np.empty((64, 32, 3, 3), np.float32))          # fan_in = 288
        >>> w = nn.init.kaiming_uniform_(w, mode='fan_in', nonlinearity='relu')
        >>> print(round(float(abs(w.numpy()).max()), 4), round((6 / 288) ** 0.5, 4))
        0.1443 0.1443
    """
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """Kaiming/He initialisation, normal, as ``torch.nn.init.kaiming_normal_``.

    Normal(0, std**2) with std = gain / sqrt(fan), gain =
    ``calculate_gain(nonlinearity, a)``: the variance of ``kaiming_uniform_``, drawn from a
    normal distribution.  minicnn's (and torchvision's) ResNets and VGGs start their
    convolutions with it, ``mode='fan_out'``.

    fan_in and fan_out are a weight's inputs and outputs per unit: a Linear weight
    (out, in) has fan_in = in, fan_out = out; a Conv2d weight (out, in/groups, kh, kw) has
    fan_in = in/groups * kh * kw and fan_out = out * kh * kw.

    Fills ``tensor`` in place (keeping its dtype and device) and returns it; the numbers
    come from minicnn's global generator, so ``mc.manual_seed`` makes them reproducible.

    Args:
        tensor (Tensor): the weight to fill, at least 2-D.
        a (float, optional): the negative slope of the leaky ReLU that follows (0: ReLU).
            Default: ``0``
        mode (str, optional): ``'fan_in'`` or ``'fan_out'``. Default: ``'fan_in'``
        nonlinearity (str, optional): the nonlinearity that follows, usually ``'relu'`` or
            ``'leaky_relu'``. Default: ``'leaky_relu'``

    Example::

        >>> mc.manual_seed(0)
        >>> w = mc.tensor(np.empty((64, 32, 3, 3), np.float32))          # fan_out = 576
        >>> w = nn.init.kaiming_normal_(w, mode='fan_out', nonlinearity='relu')
        >>> print(round(float(w.numpy().std()), 4), round((2 / 576) ** 0.5, 4))
        0.0589 0.0589
    """
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode)))


def default_init_(weight, bias):
    """PyTorch's default for Conv2d and Linear.

    kaiming_uniform_ with a=sqrt(5) works out to uniform(-1/sqrt(fan_in), 1/sqrt(fan_in));
    the bias uses the same bound.  What ``nn.Conv2d`` and ``nn.Linear`` call in
    ``reset_parameters``, so that a freshly built minicnn model starts with the same
    distribution as the PyTorch one.  Both tensors are filled in place; nothing is returned.

    Args:
        weight (Tensor): the layer's weight, at least 2-D.
        bias (Tensor or None): the layer's bias, or None.

    Example::

        >>> mc.manual_seed(0)
        >>> w, b = mc.tensor(np.empty((10, 25), np.float32)), mc.tensor(np.empty(10, np.float32))
        >>> nn.init.default_init_(w, b)                 # fan_in = 25: bound 1/5
        >>> print(round(float(abs(w.numpy()).max()), 3), bool(abs(b.numpy()).max() <= 0.2))
        0.199 True
    """
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = _calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound)
