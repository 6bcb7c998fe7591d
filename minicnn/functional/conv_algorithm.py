"""Which algorithm computes a convolution: im2col (``Conv2d``, functional/conv.py),
Winograd's F(2x2, 3x3) (``WinogradConv2d``, functional/winograd.py) or the direct
depthwise loop (``DepthwiseConv2d``, functional/depthwise.py).

``CONV_ALGORITHM`` is the user's choice, read at each call of ``conv2d``:
"im2col", "winograd", or "auto" (the default), which picks by layer shape as cuDNN picks
its algorithms.  Winograd does 2.25x fewer multiplications, but in 16 smaller GEMMs
(K = C instead of 9C) and with four passes over arrays 4x the size of the activations:
measured on a 2-core CPU, it wins on VGG's layers of 256 channels at 56x56 and 512 at
28x28 (forward + backward, batch 4 and 16) and loses on fewer channels, on smaller maps
(256 at 14x14 and 28x28, 512 and 1024 at 14x14, since im2col runs one core per chunk of
images) and on 7x7 maps, where its 2x2 tiles compute 64 outputs for 49
(docs/benchmarks-history.md, rounds 3, 4 and 8).  So "auto" takes it on the CPU from
``WINOGRAD_MIN_CHANNELS`` channels in and out, outputs of ``WINOGRAD_MIN_OUTPUT`` or more,
and input channels x output side of ``WINOGRAD_MIN_WORK`` or more.
A depthwise layer (groups == C_in > 1, any channel multiplier) is C tiny GEMMs for
im2col; "auto" takes the direct loop for it, on the CPU and the GPU (mobilenet_v2's
training step: docs/benchmarks-history.md, round 7).  One input channel (groups == 1 ==
C_in) stays a plain convolution: one GEMM serves it well.
"""
import contextlib

import numpy as np

from ..geometry import output_hw

CONV_ALGORITHM = "auto"
WINOGRAD_MIN_CHANNELS = 256     # "auto" takes Winograd from this many input and output channels,
WINOGRAD_MIN_OUTPUT = 28        # an output at least this high and wide,
WINOGRAD_MIN_WORK = 256 * 56    # and input channels x output side at least this
ALGORITHMS = ("auto", "im2col", "winograd", "depthwise")


@contextlib.contextmanager
def use(algorithm):
    """Inside this block ``conv2d`` uses ``algorithm`` ("auto", "im2col", "winograd" or
    "depthwise"; the last two where the layer allows them, else im2col)::

        with conv_algorithm.use("winograd"):
            y = F.conv2d(x, w, padding=1)
    """
    global CONV_ALGORITHM
    if algorithm not in ALGORITHMS:
        raise ValueError(f"minicnn: conv_algorithm.use: expected one of {ALGORITHMS}, "
                         f"got {algorithm!r}")
    previous, CONV_ALGORITHM = CONV_ALGORITHM, algorithm
    try:
        yield
    finally:
        CONV_ALGORITHM = previous


def choose(input_shape, weight_shape, stride, padding, dilation, groups, dtype, on_cpu=True):
    """'winograd' or 'depthwise' where CONV_ALGORITHM asks for it, or "auto" measured it
    faster, and the layer allows it; else 'im2col'.  Settings are pairs."""
    if CONV_ALGORITHM not in ALGORITHMS:
        raise ValueError(f"minicnn: conv2d: CONV_ALGORITHM must be 'auto', 'im2col', 'winograd' or "
                         f"'depthwise', got {CONV_ALGORITHM!r}")
    # groups == C_in > 1: one input channel per group
    depthwise = weight_shape[1] == 1 and groups > 1 and np.dtype(dtype).kind == "f"
    if depthwise and CONV_ALGORITHM in ("auto", "depthwise"):
        return "depthwise"
    can = (tuple(weight_shape[2:]) == (3, 3) and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1)
           and groups == 1 and np.dtype(dtype).kind == "f")
    if not can or CONV_ALGORITHM in ("im2col", "depthwise"):
        return "im2col"
    if CONV_ALGORITHM == "winograd":
        return "winograd"
    OH, OW = output_hw(input_shape, (3, 3), stride, padding, dilation)
    wide = min(weight_shape[0], weight_shape[1]) >= WINOGRAD_MIN_CHANNELS
    large = min(OH, OW) >= WINOGRAD_MIN_OUTPUT
    enough = weight_shape[1] * min(OH, OW) >= WINOGRAD_MIN_WORK
    return "winograd" if on_cpu and wide and large and enough else "im2col"
