"""Dropout: zero random units (``dropout``) or whole channels (``dropout2d``) in training.

Inverted dropout: the kept units are scaled by 1/(1-p) during training, so the
expected value of every unit is unchanged and evaluation needs no rescaling.
Masks come from minicnn's global generator: ``minicnn.manual_seed`` makes them reproducible.
"""
import numbers

from .. import backend, dispatch, random
from ..autograd import Function
from .arguments import check_dtype


@dispatch.register("masked_scale", "numpy")
def masked_scale_numpy(x, mask):
    """x (N, C, ...) * mask (x.shape, or (N, C, 1, ...) for dropout2d); on the GPU,
    kernels/activation.cu does the same."""
    return x * mask


class MaskedScale(Function):
    """out = x * mask, where mask (broadcastable to x) holds 0 or 1/(1-p)."""
    settings = ("mask",)

    def forward(self, x):
        return dispatch.kernel("masked_scale", x)(x, self.mask)

    def backward(self, g):
        # the mask is a constant: the gradient flows only through kept units, scaled alike
        return dispatch.kernel("masked_scale", g)(g, self.mask)

    def backward_graph(self, g):
        return MaskedScale.apply(g, mask=self.mask)


def _check_args(op, input, p):
    if not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"minicnn: {op}: dropout probability has to be between 0 and 1, got {p!r}")
    check_dtype(op, input, what="a floating-point input")   # scaling by 1/(1-p) needs one


def _dropout(input, p, mask_shape):
    # mask_shape: input.shape for dropout; (N, C, 1, 1) for dropout2d (one draw per channel)
    xp = backend.get_array_module(input.data)
    if p == 1.0:      # every unit dropped; 1/(1-p) would be inf
        mask = xp.zeros(mask_shape, dtype=input.dtype)
    else:
        keep = random.generator(xp).random(mask_shape, dtype=input.dtype) >= p   # P = 1 - p
        mask = keep.astype(input.dtype) * input.dtype.type(1.0 / (1.0 - p))
    return MaskedScale.apply(input, mask=mask)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p).

    As ``torch.nn.functional.dropout``; identity when not training or p == 0.  Inverted
    dropout: the kept units are scaled during training, so the expected value of every unit
    is unchanged and evaluation needs no rescaling.  The mask comes from minicnn's global
    generator, so ``mc.manual_seed`` makes it reproducible.  ``inplace`` is accepted for
    PyTorch compatibility; minicnn never works in place.

    Args:
        input (Tensor): floating-point values.
        p (float, optional): the probability of zeroing an element, in [0, 1].
            Default: ``0.5``
        training (bool, optional): apply dropout; ``False`` returns ``input`` itself.
            Default: ``True``
        inplace (bool, optional): accepted and ignored. Default: ``False``

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.

    Example::

        >>> mc.manual_seed(0)
        >>> x = mc.tensor(np.ones(6, np.float32))
        >>> F.dropout(x, p=0.5)
        tensor([2., 2., 2., 0., 0., 0.], dtype=float32)
        >>> F.dropout(x, p=0.5, training=False) is x
        True
    """
    _check_args("dropout", input, p)
    if not training or p == 0:
        return input
    return _dropout(input, p, input.shape)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels (N, C, H, W)[n, c] with probability ``p``.

    As ``torch.nn.functional.dropout2d``.  A 3-D input is treated as (N, C, L), which is
    what PyTorch does too (with a warning).  The kept channels are scaled by 1/(1-p), as in
    ``dropout``, and the same global generator draws one number per channel.  Neighbouring
    pixels of a feature map are strongly correlated, so dropping single pixels hardly
    regularises a convolutional layer; dropping whole maps does.

    Args:
        input (Tensor): floating-point feature maps.
        p (float, optional): the probability of zeroing a channel, in [0, 1].
            Default: ``0.5``
        training (bool, optional): apply dropout; ``False`` returns ``input`` itself.
            Default: ``True``
        inplace (bool, optional): accepted and ignored. Default: ``False``

    Shape:
        - Input: (N, C, H, W) or (N, C, L).
        - Output: the same shape.

    Example::

        >>> mc.manual_seed(0)
        >>> x = mc.tensor(np.ones((1, 4, 2, 2), np.float32))
        >>> y = F.dropout2d(x, p=0.5)
        >>> y[0, :, 0, 0]
        tensor([2., 2., 2., 0.], dtype=float32)
        >>> y[0].sum(dim=(1, 2))
        tensor([8., 8., 8., 0.], dtype=float32)
    """
    _check_args("dropout2d", input, p)
    if input.ndim not in (3, 4):
        raise ValueError(f"minicnn: dropout2d: expected input of shape (N, C, H, W) or (N, C, L), "
                         f"got {input.shape}; use dropout for other shapes")
    if not training or p == 0:
        return input
    return _dropout(input, p, input.shape[:2] + (1,) * (input.ndim - 2))


def stochastic_depth(input, p, mode, training=True):
    """Drop whole samples of a residual branch with probability ``p`` (Huang et al. 2016,
    "Deep Networks with Stochastic Depth"), as ``torchvision.ops.stochastic_depth``.

    A ResNet block computes ``x + branch(x)``; with stochastic depth the branch is dropped
    at random during training, so the block is the identity for that sample and the network
    is, on average, shallower: short paths carry the gradient, long ones are trained too.
    The kept branches are scaled by 1/(1-p), as dropout's units are, so evaluation (which
    keeps every branch) needs no rescaling.  ``mode="row"`` draws one number per sample,
    ``"batch"`` one for the whole batch.

    Args:
        input (Tensor): the branch's output, (N, ...) floating point.
        p (float): the probability of dropping, in [0, 1].
        mode (str): ``"row"`` (one draw per sample) or ``"batch"`` (one for all).
        training (bool, optional): apply it; ``False`` returns ``input`` itself.
            Default: ``True``

    Shape:
        - Input: (N, *), any shape with the samples first.
        - Output: the same shape.

    Example::

        >>> mc.manual_seed(0)
        >>> x = mc.tensor(np.ones((4, 2), np.float32))
        >>> F.stochastic_depth(x, p=0.5, mode="row")
        tensor([[2., 2.],
                [2., 2.],
                [2., 2.],
                [0., 0.]], dtype=float32)
    """
    if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
        raise ValueError(f"minicnn: stochastic_depth: drop probability has to be between 0 and 1, "
                         f"but got {p!r}")
    if mode not in ("batch", "row"):
        raise ValueError(f"minicnn: stochastic_depth: mode has to be either 'batch' or 'row', "
                         f"but got {mode!r}")
    check_dtype("stochastic_depth", input, what="a floating-point input")
    if not training or p == 0:
        return input
    one_per = input.shape[:1] if mode == "row" and input.ndim else ()
    return _dropout(input, p, one_per + (1,) * (input.ndim - len(one_per)))
