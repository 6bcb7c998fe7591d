"""The op table: every op of ``minicnn.functional`` once, in the spirit of PyTorch's OpInfo.

A row (``OpInfo``) holds

* ``op`` and ``ref``: the minicnn callable and its PyTorch reference, with one signature:
  tensors (or None) first, settings as keywords;
* ``sample_inputs(dtype)``: the ``Sample`` cases the op is checked on, edge cases included
  (N=0, odd sizes, dilation, groups, ceil_mode, ties, large means, NaN and -inf where the
  op has a rule for them);
* ``dtypes`` and ``tol``, the tolerances per dtype (a sample may tighten or widen them);
* ``kernels``: the array kernels it asks ``minicnn.dispatch`` for (each has a NumPy
  reference and maybe Numba and CUDA versions: ``dispatch.implementations(name)``);
* ``bad_inputs``: what it must refuse (``BadInput``: minicnn's error class and message,
  and what PyTorch does with the same input).

The suites that iterate it (generic bodies, one test case per row and sample):

    tests/functional/test_ops.py          parity with PyTorch, forward and backward of a random
                                          upstream gradient, every dtype, on the Numba and the
                                          NumPy path; float64 finite differences; and that the
                                          table covers every op, Function and kernel
    tests/functional/test_bad_input.py    the refusals
    tests/cuda/test_kernels_wiring.py     the GPU branch of the ``device`` samples (a CuPy
                                          stand-in, the kernels emulated) equals the CPU, saves
                                          the same state and launches the kernels the CPU path
                                          dispatches
    tests/cuda/test_kernels_emulation.py  every kernel call of every sample, replayed through
                                          the launch layer under odd launches, equals the NumPy
                                          reference's result on the same arguments
    tests/cpu/test_cpu_fast_paths.py      the same replay through the Numba kernels

Special-purpose tests (a named semantic trap, a regression) stay next to the generic ones
in the per-op files.  Adding an op: one ``OpInfo`` in ``OPS`` below (docs/architecture.md,
"Adding an op"); ``python -m pytest -q tests -k <op name>`` then runs every suite on it.
"""
import contextlib
import dataclasses
import numbers
import operator
import zlib

import numpy as np
import torch
import torch.nn.functional as TF

import minicnn as mc
import minicnn.functional as F
import minicnn.utils  # noqa: F401 -- assert_close
from minicnn import backend, dispatch, random as mc_random
from minicnn.autograd import Tensor
from minicnn.functional import conv_algorithm

FLOATS = (np.float32, np.float64)


# ----- the row and its parts --------------------------------------------------------------
@dataclasses.dataclass
class Sample:
    """One case of an op: ``op(*arrays as tensors, **kwargs)``.

    arrays: NumPy arrays in the dtype under test (integer ones, such as class targets, stay
        integer) or None (an absent bias).
    grad: the positions whose gradients are compared and finite-differenced; None: every
        floating-point array; (): the forward only (an op without gradient, integer inputs).
    gradcheck: False where finite differences cannot judge the gradient (a NaN, an infinity,
        a tie of a max, a kink at the sample's points) -- the parity test still runs.
    device: also run by the GPU-branch suites (wiring and emulation).
    kernels: kernels this sample must launch on the GPU (None: no claim beyond the op's).
    tol: tolerances replacing the op's for this sample ({} for every dtype, or per dtype).
    check: more assertions, ``check(minicnn output, torch output)``.
    parity: False where PyTorch cannot compute the sample (the other suites still run it).
    known_failures: {path: reason} -- the parity test on that path ("numba", "numpy", or ""
        for an op with one path), the CUDA kernels' replay ("cuda") or the Numba kernels'
        ("numba-kernels") is a strict xfail: a known minicnn bug, reported.
    """
    name: str
    arrays: tuple
    kwargs: dict = dataclasses.field(default_factory=dict)
    grad: tuple = None
    gradcheck: bool = True
    device: bool = False
    kernels: frozenset = None
    tol: dict = None
    check: object = None
    parity: bool = True
    known_failures: dict = dataclasses.field(default_factory=dict)

    def grad_positions(self):
        if self.grad is not None:
            return tuple(self.grad)
        return tuple(i for i, a in enumerate(self.arrays) if a is not None and a.dtype.kind == "f")


@dataclasses.dataclass
class BadInput:
    """An input the op must refuse: minicnn raises ``error`` (a class, or a tuple of classes
    the exception must be an instance of, each) with a message matching ``match`` and
    starting "minicnn: "; PyTorch raises ``torch_error`` on the same input, or computes
    something where ``torch_error`` is None (a deliberate departure, said where the row is).
    ``known_failure``: a reason -- the row is a strict xfail (a known minicnn bug, reported)."""
    name: str
    arrays: tuple
    kwargs: dict
    error: type
    torch_error: type
    match: str
    known_failure: str = None


@dataclasses.dataclass
class OpInfo:
    name: str
    op: object                    # (*minicnn tensors, **settings) -> Tensor or tuple
    ref: object                   # (*torch tensors, **settings) -> torch tensor or tuple
    samples: object               # dtype -> list of Sample
    dtypes: tuple = FLOATS
    tol: dict = dataclasses.field(default_factory=dict)     # dtype -> dict(rtol=, atol=)
    kernels: frozenset = frozenset()
    bad_inputs: tuple = ()
    functional: tuple = None      # the minicnn.functional names it exercises (default: name)

    def __post_init__(self):
        self.kernels = frozenset(self.kernels)
        self.functional = (self.name,) if self.functional is None else tuple(self.functional)

    def sample_inputs(self, dtype):
        samples = self.samples(np.dtype(dtype).type)
        names = [s.name for s in samples]
        assert len(set(names)) == len(names), f"{self.name}: sample names repeat: {names}"
        return samples

    def tolerance(self, sample, dtype):
        """rtol and atol for ``compare_with_torch`` (empty: assert_close's defaults per dtype)."""
        dtype = np.dtype(dtype).type
        if sample.tol is None:
            return dict(self.tol.get(dtype, {}))
        per_dtype = any(isinstance(k, type) for k in sample.tol)
        return dict(sample.tol.get(dtype, {}) if per_dtype else sample.tol)

    def call(self, sample):
        """The minicnn op with the sample's settings: a function of the tensors."""
        return lambda *tensors: self.op(*tensors, **sample.kwargs)

    def call_ref(self, sample):
        return lambda *tensors: self.ref(*tensors, **sample.kwargs)


def first(output):
    """The first output of an op that returns a tuple (values and indices, y and statistics)."""
    return output[0] if isinstance(output, tuple) else output


# ----- data --------------------------------------------------------------------------------
def rng_for(*key):
    """A generator seeded from ``key``: every sample's data is fixed, whatever runs first."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def randn(rng, shape, dtype, scale=1.0, shift=0.0):
    return (rng.standard_normal(shape) * scale + shift).astype(dtype)


def positive(rng, shape, dtype, low=0.5, high=2.0):
    return rng.uniform(low, high, shape).astype(dtype)


def no_ties(shape, dtype=np.float64, seed=0, low=-5.0, high=5.0):
    """Distinct values in random order: every max has a unique argmax, and neighbours differ
    by far more than gradcheck's step, so no argmax flips under finite differences."""
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(np.linspace(low, high, n)).reshape(shape).astype(dtype)


def with_nan(a, *flat):
    a = a.copy()
    a.flat[list(flat)] = np.nan
    return a


def ints(rng, shape, low=-3, high=4):
    return rng.integers(low, high, shape)


def bad(*shape, dtype=np.float32, fill=None):
    """An array for a bad-input row: zeros-or-random values of ``shape`` and ``dtype``."""
    rng = np.random.default_rng(len(shape))
    return (rng.standard_normal(shape) if fill is None else np.full(shape, fill)).astype(dtype)


V, TE, R, NI, IE = ValueError, TypeError, RuntimeError, NotImplementedError, IndexError
F32 = np.float32
F64 = np.float64


def both_dtypes(tol32, tol64=None):
    return {F32: tol32, F64: tol64 or {}}


def shape_is(shape):
    """A check: the minicnn output (the first, for a tuple) has this shape."""
    def check(out, expected):
        assert first(out).shape == shape, f"shape {first(out).shape}, expected {shape}"
    return check


def finite(out, expected):
    assert np.isfinite(first(out).numpy()).all(), "an output is not finite"


def holds(predicate, what):
    """A check: ``predicate(minicnn output)`` is true."""
    def check(out, expected):
        assert predicate(out), f"expected {what}"
    return check


def kw_name(kwargs):
    """A sample name from settings: kernel_size=3,stride=2."""
    return ",".join(f"{k}={v}" for k, v in kwargs.items()) or "defaults"


# ----- convolution -----------------------------------------------------------------------
CONV_KERNELS = {"im2col", "col2im"}
CONV_SETTINGS = [dict(), dict(stride=2, padding=1), dict(stride=(2, 1), padding=(0, 2), dilation=(2, 1)),
                 dict(padding=2, dilation=2, groups=2), dict(stride=3, padding=(1, 0), groups=4)]


def conv2d_samples(dtype):
    r = rng_for("conv2d")
    s = []
    for kw in CONV_SETTINGS:                     # (2, 4, 9, 10) * (8, 4/g, 3, 2), with and without bias
        g = kw.get("groups", 1)
        x, w, b = randn(r, (2, 4, 9, 10), dtype), randn(r, (8, 4 // g, 3, 2), dtype), randn(r, 8, dtype)
        s += [Sample(f"{kw_name(kw)}-bias", (x, w, b), kw), Sample(f"{kw_name(kw)}-nobias", (x, w, None), kw)]
    x, w, b = randn(r, (2, 4, 5, 6), dtype), randn(r, (4, 2, 3, 2), dtype), randn(r, 4, dtype)
    s.append(Sample("strided-padded-dilated-grouped", (x, w, b),
                    dict(stride=(2, 1), padding=1, dilation=(1, 2), groups=2)))
    for padding, out in (("valid", (3, 2)), ("same", (7, 6))):
        s.append(Sample(f"padding-{padding}", (randn(r, (1, 3, 7, 6), dtype), randn(r, (4, 3, 3, 5), dtype), None),
                        dict(padding=padding, dilation=(2, 1)), check=shape_is((1, 4) + out)))
    # d*(k-1) odd: PyTorch pads the extra zero on the right/bottom; the output keeps the input size
    for kernel, dilation in [((2, 4), 1), ((2, 3), (3, 1)), ((4, 1), (1, 2)), ((5, 2), 2)]:
        s.append(Sample(f"same-uneven-{kernel}-{dilation}",
                        (randn(r, (2, 3, 6, 5), dtype), randn(r, (4, 3) + kernel, dtype), randn(r, 4, dtype)),
                        dict(padding="same", dilation=dilation), check=shape_is((2, 4, 6, 5))))
    s.append(Sample("same-uneven-small", (randn(r, (1, 2, 4, 5), dtype), randn(r, (3, 2, 2, 3), dtype), None),
                    dict(padding="same", dilation=(1, 2))))
    # N=0: an empty output, an empty input gradient and zero weight and bias gradients
    for kw in (dict(), dict(stride=2, padding=1, groups=2), dict(padding="same")):
        g = kw.get("groups", 1)
        s.append(Sample(f"empty-batch-{kw_name(kw)}", (np.zeros((0, 4, 6, 5), dtype), randn(r, (6, 4 // g, 3, 2), dtype),
                                              randn(r, 6, dtype)), kw, check=holds(lambda out: out.shape[0] == 0, "an empty batch")))
    s.append(Sample("empty-batch-padded", (np.zeros((0, 3, 5, 5), dtype), randn(r, (4, 3, 3, 3), dtype),
                                           randn(r, 4, dtype)), dict(padding=1)))
    # unbatched (C, H, W) -> (C_out, OH, OW): a batch of one without the batch axis
    for kw in (dict(), dict(stride=(2, 1), padding=1, dilation=(1, 2), groups=2), dict(padding="same")):
        s.append(Sample(f"unbatched-{kw_name(kw)}", (randn(r, (4, 7, 6), dtype), randn(r, (6, 2 if "groups" in kw else 4, 3, 2), dtype),
                                            randn(r, 6, dtype)), kw,
                        check=holds(lambda out: out.shape[:1] == (6,) and out.ndim == 3, "(6, OH, OW)")))
    s.append(Sample("nan-input", (with_nan(randn(r, (2, 3, 5, 5), dtype), 7), randn(r, (4, 3, 3, 3), dtype), None),
                    dict(padding=1), gradcheck=False))
    s.append(Sample("nan-weight", (randn(r, (2, 3, 5, 5), dtype), with_nan(randn(r, (4, 3, 3, 3), dtype), 5), None),
                    gradcheck=False))
    # the GPU branch: odd sizes, every setting, an unbatched uneven 'same', an empty batch
    s += [Sample("device", (no_ties((2, 4, 7, 6), dtype, 0), no_ties((6, 2, 3, 3), dtype, 1), no_ties(6, dtype, 2)),
                 dict(stride=(2, 1), padding=1, dilation=(1, 2), groups=2), device=True, kernels=CONV_KERNELS),
          Sample("device-unbatched-same", (no_ties((4, 7, 6), dtype, 0), no_ties((6, 4, 2, 3), dtype, 1), None),
                 dict(padding="same", dilation=(1, 2)), device=True, kernels=CONV_KERNELS),
          Sample("device-empty-batch", (np.zeros((0, 4, 7, 6), dtype), no_ties((6, 4, 3, 3), dtype, 1),
                                        no_ties(6, dtype, 2)), dict(stride=2, padding=1), device=True,
                 kernels=CONV_KERNELS),
          Sample("1x1", (randn(r, (3, 5, 4, 3), dtype), randn(r, (2, 5, 1, 1), dtype), randn(r, 2, dtype)), device=True)]
    return s


def _conv_bad(name, x, w, b=None, error=V, torch_error=R, match="", **kwargs):
    return BadInput(name, (x, w, b), kwargs, error, torch_error, match)


CONV_BAD = (
    _conv_bad("rank 2", bad(8, 8), bad(4, 3, 3, 3),
              match=r"conv2d: expected a 4-D input \(N, C, H, W\) or a 3-D one \(C, H, W\), got shape \(8, 8\)"),
    _conv_bad("rank 5", bad(1, 1, 3, 8, 8), bad(4, 3, 3, 3), match=r"conv2d: expected a 4-D input .*\(1, 1, 3, 8, 8\)"),
    _conv_bad("weight rank 3", bad(1, 3, 8, 8), bad(4, 3, 3), match=r"conv2d: expected a 4-D weight"),
    _conv_bad("channels", bad(8, 1, 28, 28), bad(64, 3, 7, 7),
              match=r"conv2d: expected input with 3 channels \(weight \(64, 3, 7, 7\), groups=1\), got input of "
                    r"shape \(8, 1, 28, 28\)"),
    _conv_bad("channels, few", bad(1, 2, 8, 8), bad(4, 3, 3, 3), match=r"expected input with 3 channels"),
    _conv_bad("unbatched channels", bad(2, 8, 8), bad(4, 3, 3, 3), match=r"with 3 channels"),
    _conv_bad("grouped channels", bad(1, 4, 8, 8), bad(4, 3, 3, 3), groups=2,
              match=r"expected input with 6 channels.*groups=2"),
    _conv_bad("groups", bad(1, 6, 8, 8), bad(4, 2, 3, 3), groups=3, match=r"divisible by groups=3"),
    _conv_bad("groups 0", bad(1, 5, 8, 8), bad(4, 5, 3, 3), groups=0, match=r"groups must be a positive int"),
    _conv_bad("bias shape", bad(1, 3, 8, 8), bad(2, 3, 3, 3), bad(3),
              match=r"expected bias of shape \(2,\).*got \(3,\)"),
    _conv_bad("bias shape 4", bad(1, 3, 8, 8), bad(4, 3, 3, 3), bad(3), match=r"bias of shape \(4,\)"),
    _conv_bad("kernel too big", bad(1, 3, 2, 2), bad(4, 3, 3, 3), match=r"larger than the padded"),
    _conv_bad("kernel too big, padded", bad(1, 3, 4, 4), bad(2, 3, 7, 7), padding=1,
              match=r"conv2d: kernel \(dilated extent \(7, 7\)\) is larger than the padded input \(6, 6\)"),
    _conv_bad("dilated too big", bad(1, 3, 8, 8), bad(2, 3, 3, 3), dilation=5, match=r"dilated extent \(11, 11\)"),
    _conv_bad("empty height", bad(1, 3, 0, 4), bad(4, 3, 1, 1), match=r"conv2d: kernel"),
    _conv_bad("no output channels", bad(1, 3, 8, 8), bad(0, 3, 3, 3),
              match=r"conv2d: expected a weight with at least one output channel"),
    _conv_bad("stride 1.5", bad(1, 3, 8, 8), bad(4, 3, 3, 3), stride=1.5, error=TE, torch_error=TE,
              match=r"conv2d: stride must be an int or a pair of ints, got 1.5"),
    _conv_bad("stride True", bad(1, 3, 8, 8), bad(4, 3, 3, 3), stride=True, error=TE, torch_error=TE,
              match=r"conv2d: stride must be an int or a pair of ints, got True"),
    _conv_bad("dilation (1, 2.0)", bad(1, 3, 8, 8), bad(2, 3, 3, 3), dilation=(1, 2.0), error=TE, torch_error=TE,
              match=r"conv2d: dilation must be an int"),
    _conv_bad("stride (1, 2, 3)", bad(1, 3, 8, 8), bad(2, 3, 3, 3), stride=(1, 2, 3),
              match=r"stride must be an int or a pair"),
    _conv_bad("stride 0", bad(1, 3, 8, 8), bad(4, 3, 3, 3), stride=0, match=r"stride must be at least 1"),
    _conv_bad("padding -1", bad(1, 3, 8, 8), bad(4, 3, 3, 3), padding=-1, match=r"padding must be at least 0"),
    _conv_bad("padding 'full'", bad(1, 3, 8, 8), bad(4, 3, 3, 3), padding="full",
              match=r"padding must be 'valid', 'same'"),
    _conv_bad("same with stride", bad(1, 3, 8, 8), bad(2, 3, 3, 3), padding="same", stride=2,
              match=r"conv2d: padding='same' is not supported for strided convolutions \(stride=2\)"),
    _conv_bad("bool input", bad(1, 3, 8, 8, dtype=bool), bad(4, 3, 3, 3, dtype=bool), error=TE, torch_error=NI,
              match=r"conv2d: .*got dtype bool"),
    _conv_bad("float32 x float64", bad(1, 3, 8, 8), bad(4, 3, 3, 3, dtype=np.float64), error=TE,
              match=r"input is float32 but weight is float64"),
)


def _im2col(*tensors, **kwargs):
    """conv2d on the im2col path, whatever "auto" would take (a depthwise layer: the grouped GEMMs)."""
    with conv_algorithm.use("im2col"):
        return F.conv2d(*tensors, **kwargs)


# ----- depthwise convolution: groups == C_in, M filters per channel ------------------------------
DEPTHWISE_KERNELS = {"depthwise_forward", "depthwise_backward_input", "depthwise_backward_weight"}
# (C, M, kernel, settings): MobileNet's 3x3 at strides 1 and 2; a channel multiplier with
# uneven strides, padding and dilation; padding beyond the kernel's reach; 1x1; 'same'
DEPTHWISE_SETTINGS = [(4, 1, (3, 3), dict(padding=1)), (4, 1, (3, 3), dict(stride=2, padding=1)),
                      (3, 2, (3, 2), dict(stride=(2, 1), padding=(1, 2), dilation=(2, 1))),
                      (2, 3, (2, 3), dict(stride=3, padding=(0, 1), dilation=(1, 2))),
                      (2, 1, (2, 2), dict(padding=3)), (3, 1, (1, 1), dict()),
                      (3, 2, (3, 3), dict(padding="same", dilation=2))]


def _is_depthwise(out, expected):
    assert type(out.grad_fn).__name__ == "DepthwiseConv2d", type(out.grad_fn).__name__


def depthwise_samples(dtype):
    r = rng_for("conv2d_depthwise")
    s = []
    for C, M, kernel, kw in DEPTHWISE_SETTINGS:
        x, w, b = randn(r, (2, C, 7, 6), dtype), randn(r, (C * M, 1) + kernel, dtype), randn(r, C * M, dtype)
        s.append(Sample(f"C={C},M={M},{kernel},{kw_name(kw)}", (x, w, b), dict(kw, groups=C), check=_is_depthwise))
    x, w = randn(r, (3, 5, 4, 5), dtype), randn(r, (5, 1, 3, 3), dtype)
    s += [Sample("nobias", (x, w, None), dict(padding=1, groups=5), check=_is_depthwise),
          Sample("unbatched", (randn(r, (4, 6, 5), dtype), randn(r, (8, 1, 3, 3), dtype), randn(r, 8, dtype)),
                 dict(stride=2, padding=1, groups=4), check=holds(lambda out: out.shape == (8, 3, 3), "(8, 3, 3)")),
          Sample("empty-batch", (np.zeros((0, 4, 6, 5), dtype), randn(r, (4, 1, 3, 3), dtype), randn(r, 4, dtype)),
                 dict(padding=1, groups=4), check=_is_depthwise),
          Sample("nan-input", (with_nan(randn(r, (2, 3, 5, 5), dtype), 7), randn(r, (3, 1, 3, 3), dtype), None),
                 dict(padding=1, groups=3), gradcheck=False),
          # the GPU branch: odd sizes, a multiplier, stride, uneven padding, dilation; an empty batch
          Sample("device", (no_ties((2, 3, 7, 6), dtype, 0), no_ties((6, 1, 3, 2), dtype, 1), no_ties(6, dtype, 2)),
                 dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=3), check=_is_depthwise,
                 device=True, kernels=DEPTHWISE_KERNELS),
          Sample("device-empty-batch", (np.zeros((0, 4, 7, 6), dtype), no_ties((4, 1, 3, 3), dtype, 1), None),
                 dict(stride=2, padding=1, groups=4), device=True, kernels=DEPTHWISE_KERNELS)]
    return s


DEPTHWISE_BAD = (
    _conv_bad("depthwise groups", bad(1, 6, 8, 8), bad(6, 1, 3, 3), groups=3,        # groups=C forgotten
              match=r"conv2d: expected input with 3 channels \(weight \(6, 1, 3, 3\), groups=3\)"),
    _conv_bad("depthwise multiplier", bad(1, 4, 8, 8), bad(6, 1, 3, 3), groups=4, match=r"divisible by groups=4"),
)


WINOGRAD_KERNELS = {"winograd_input", "winograd_output", "winograd_output_adjoint", "winograd_input_adjoint"}


def _winograd(*tensors, **kwargs):
    with conv_algorithm.use("winograd"):
        return F.conv2d(*tensors, **kwargs)


def _is_winograd(out, expected):
    assert type(out.grad_fn).__name__ == "WinogradConv2d", type(out.grad_fn).__name__


def winograd_samples(dtype):
    r = rng_for("conv2d_winograd")
    s = []
    # odd sizes (the last tiles stick out of the output), even ones, uneven padding, a 1x1 input
    for shape, padding in [((2, 3, 7, 6), 1), ((1, 2, 5, 8), 0), ((3, 4, 4, 3), 2), ((2, 3, 6, 9), (0, 1)),
                           ((2, 2, 1, 1), 1), ((3, 5, 10, 10), "same")]:
        x, w, b = randn(r, shape, dtype), randn(r, (4, shape[1], 3, 3), dtype), randn(r, 4, dtype)
        for bias in (b, None):
            s.append(Sample(f"{shape}-padding{padding}-{'bias' if bias is not None else 'nobias'}",
                            (x, w, bias), dict(padding=padding), check=_is_winograd,
                            gradcheck=np.prod(shape) <= 300, device=shape in ((2, 3, 7, 6), (2, 2, 1, 1)),
                            kernels=WINOGRAD_KERNELS if shape in ((2, 3, 7, 6), (2, 2, 1, 1)) else None))
    x, w, b = randn(r, (2, 3, 5, 4), dtype), randn(r, (2, 3, 3, 3), dtype), randn(r, 2, dtype)
    s += [Sample(f"small-padding{p}", (x, w, b), dict(padding=p), check=_is_winograd) for p in (1, (0, 2))]
    s.append(Sample("empty-batch", (np.zeros((0, 3, 5, 5), dtype), np.ones((2, 3, 3, 3), dtype), None),
                    dict(padding=1), check=_is_winograd, device=True, kernels=WINOGRAD_KERNELS))
    return s


# ----- pooling ---------------------------------------------------------------------------
MAX_POOL_KERNELS = {"max_pool_forward", "max_pool_backward"}
AVG_POOL_KERNELS = {"avg_pool_forward", "avg_pool_backward"}
MAX_POOL_SETTINGS = [
    dict(kernel_size=2, stride=2),                                  # VGG
    dict(kernel_size=3, stride=2),                                  # AlexNet: overlapping windows
    dict(kernel_size=3, stride=1, padding=1),                       # Inception branches
    dict(kernel_size=3, stride=2, ceil_mode=True),                  # GoogLeNet
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 0)),
    dict(kernel_size=3, stride=1, padding=1, dilation=2),
    dict(kernel_size=2, stride=None),
    dict(kernel_size=3, stride=2, padding=1, return_indices=True),
    dict(kernel_size=2, stride=1, dilation=(2, 1), ceil_mode=True, return_indices=True),
]
NON_CONTIGUOUS = {"transposed": lambda a: a.transpose(0, 1, 3, 2), "sliced": lambda a: a[:, ::2, 1:, ::-1]}


def max_pool2d_samples(dtype):
    s = [Sample(kw_name(kw), (no_ties((2, 3, 9, 8), dtype),), kw) for kw in MAX_POOL_SETTINGS]
    s += [Sample("max_dilated_ceil", (no_ties((2, 2, 7, 6), dtype),),
                 dict(kernel_size=2, stride=1, dilation=2, ceil_mode=True)),
          Sample("k3s2p1", (no_ties((2, 2, 7, 6), dtype),), dict(kernel_size=3, stride=2, padding=1)),
          Sample("unbatched", (no_ties((3, 7, 6), dtype),),
                 dict(kernel_size=3, stride=2, padding=1, return_indices=True), check=holds(lambda o: o[0].ndim == 3, "3-D outputs")),
          Sample("empty-batch", (np.zeros((0, 3, 7, 6), dtype),),
                 dict(kernel_size=3, stride=2, padding=1, return_indices=True),
                 check=holds(lambda o: o[0].shape[:2] == (0, 3), "an empty batch")),
          Sample("empty-batch-k2", (np.zeros((0, 3, 4, 4), dtype),), dict(kernel_size=2)),
          Sample("nan", (with_nan(randn(rng_for("max_pool2d"), (2, 3, 4, 4), dtype), 5, 40),), dict(kernel_size=2),
                 gradcheck=False),
          Sample("device", (no_ties((2, 3, 7, 6), dtype),), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                 device=True, kernels=MAX_POOL_KERNELS),
          Sample("device-dilated", (no_ties((1, 2, 7, 6), dtype),), dict(kernel_size=3, stride=1, padding=1, dilation=2),
                 device=True, kernels=MAX_POOL_KERNELS),
          Sample("device-empty-batch", (np.zeros((0, 3, 7, 6), dtype),), dict(kernel_size=3, stride=2, padding=1),
                 device=True, kernels=MAX_POOL_KERNELS)]
    for view, make in NON_CONTIGUOUS.items():
        s.append(Sample(f"non-contiguous-{view}", (make(no_ties((2, 6, 9, 8), dtype)),),
                        dict(kernel_size=3, stride=2, padding=1, return_indices=True)))
    return s


# minicnn's NumPy reference of avg_pool_forward multiplies by 0/1 window matrices: a NaN
# reaches every window of its plane (0 * NaN), where PyTorch and the Numba kernel give NaN only
# in the windows that hold it.  Reported; the parity test on the NumPy path, and the fast
# kernels' replays against that reference, are strict xfails.


AVG_POOL_SETTINGS = [
    dict(kernel_size=2, stride=2),
    dict(kernel_size=3, stride=1, padding=1),                       # Inception branches
    dict(kernel_size=3, stride=1, padding=1, count_include_pad=False),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, divisor_override=5),
    dict(kernel_size=3, stride=None),
]


def avg_pool2d_samples(dtype):
    r = rng_for("avg_pool2d")
    x = randn(r, (2, 3, 10, 7), dtype)
    s = [Sample(kw_name(kw), (x,), kw) for kw in AVG_POOL_SETTINGS]
    small = no_ties((2, 2, 7, 6), dtype)
    s += [Sample("avg_ceil", (small,), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
          Sample("avg_no_pad", (small,), dict(kernel_size=3, stride=1, padding=1, count_include_pad=False)),
          Sample("avg_divisor", (small,), dict(kernel_size=2, divisor_override=3)),
          Sample("unbatched", (no_ties((3, 7, 6), dtype),), dict(kernel_size=3, stride=2, padding=1),
                 check=holds(lambda o: o.ndim == 3, "a 3-D output")),
          Sample("empty-batch", (np.zeros((0, 3, 7, 6), dtype),), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                 check=holds(lambda o: o.shape[:2] == (0, 3), "an empty batch")),
          Sample("nan", (with_nan(randn(r, (2, 3, 4, 4), dtype), 5),), dict(kernel_size=3, stride=1, padding=1),
                 gradcheck=False),
          Sample("device", (no_ties((2, 3, 7, 6), dtype),),
                 dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
                 device=True, kernels=AVG_POOL_KERNELS),
          Sample("device-empty-batch", (np.zeros((0, 3, 7, 6), dtype),), dict(kernel_size=2), device=True,
                 kernels=AVG_POOL_KERNELS)]
    for view, make in NON_CONTIGUOUS.items():
        s.append(Sample(f"non-contiguous-{view}", (make(no_ties((2, 6, 9, 8), dtype)),),
                        dict(kernel_size=3, stride=1, padding=1, ceil_mode=True)))
    return s


ADAPTIVE_SIZES = [((13, 13), (6, 6)), ((7, 7), 7), ((9, 5), (4, 3)), ((3, 4), (5, 7)),
                  ((8, 6), (None, 4)), ((7, 5), 1), ((7, 5), (1, 3)), ((4, 4), (2, 2))]


def adaptive_avg_pool2d_samples(dtype):
    r = rng_for("adaptive_avg_pool2d")
    s = [Sample(f"{size}->{out}", (randn(r, (2, 3) + size, dtype),), dict(output_size=out)) for size, out in ADAPTIVE_SIZES]
    for name, out in (("", (3, 4)), ("global-", 1)):
        s += [Sample(f"{name}small", (no_ties((2, 2, 7, 6), dtype),), dict(output_size=out))]
    for name, out in (("", (3, 2)), ("global-", 1)):
        s += [Sample(f"{name}unbatched", (no_ties((3, 7, 6), dtype),), dict(output_size=out),
                     check=holds(lambda o: o.ndim == 3, "a 3-D output")),
              Sample(f"{name}empty-batch", (np.zeros((0, 3, 7, 6), dtype),), dict(output_size=out),
                     check=holds(lambda o: o.shape[:2] == (0, 3), "an empty batch"))]
    for view, make in NON_CONTIGUOUS.items():
        for name, out in (("", (5, 3)), ("global-", 1)):
            s.append(Sample(f"{name}non-contiguous-{view}", (make(no_ties((2, 6, 9, 8), dtype)),), dict(output_size=out)))
    s += [Sample("nan", (with_nan(randn(r, (1, 2, 5, 4), dtype), 9),), dict(output_size=(2, 3)), gradcheck=False),
          Sample("device", (no_ties((2, 3, 7, 6), dtype),), dict(output_size=(4, 3)), device=True,
                 kernels=AVG_POOL_KERNELS),
          Sample("device-global", (no_ties((2, 3, 7, 6), dtype),), dict(output_size=1), device=True)]
    return s


def adaptive_max_pool2d_samples(dtype):
    s = [Sample(f"{size}->{out}", (no_ties((2, 3) + size, dtype),), dict(output_size=out, return_indices=True))
         for size, out in ADAPTIVE_SIZES]
    s += [Sample("small", (no_ties((2, 2, 7, 6), dtype),), dict(output_size=(3, 4))),
          Sample("unbatched", (no_ties((3, 7, 6), dtype),), dict(output_size=(3, 2), return_indices=True),
                 check=holds(lambda o: o[0].ndim == 3, "3-D outputs")),
          Sample("empty-batch", (np.zeros((0, 3, 7, 6), dtype),), dict(output_size=(3, 2), return_indices=True),
                 check=holds(lambda o: o[0].shape[:2] == (0, 3), "an empty batch")),
          Sample("empty-batch-2", (np.zeros((0, 3, 5, 4), dtype),), dict(output_size=2)),
          Sample("device", (no_ties((2, 3, 7, 6), dtype),), dict(output_size=(3, 4)), device=True,
                 kernels=MAX_POOL_KERNELS)]
    return s


POOL_OPS = ("max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d")


def _pool_call(name, size=2):
    """The settings of a pool op's bad-input rows: a kernel size or an output size."""
    return dict(kernel_size=size) if name in ("max_pool2d", "avg_pool2d") else dict(output_size=size)


# the settings the "only the batch may be empty" rows run with
POOL_EMPTY_SETTINGS = {"max_pool2d": dict(kernel_size=3, stride=2, padding=1, return_indices=True),
                       "avg_pool2d": dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                       "adaptive_avg_pool2d": dict(output_size=(3, 2)),
                       "adaptive_max_pool2d": dict(output_size=(3, 2), return_indices=True)}


def pool_bad(name):
    rows = []
    for shape in [(4, 4), (1, 1, 1, 4, 4), (4,), (8, 8), (1, 1, 1, 8, 8)]:
        # PyTorch's avg_pool2d indexes dim -3 before it checks the rank
        torch_error = IE if name == "avg_pool2d" and len(shape) < 3 else R
        rows.append(BadInput(f"rank {len(shape)} {shape}", (bad(*shape, dtype=np.float64),), _pool_call(name), V,
                             torch_error, rf"{name}: expected a 4-D input \(N, C, H, W\) or a 3-D one.*got input of "
                             r"shape " + re_escape(shape)))
    # Only the batch may be empty.  PyTorch's max and avg pools refuse empty channels, height or
    # width; its adaptive ones compute some of them forward (and fail in backward: "Expected
    # grad_output to have non-zero size"): minicnn refuses them all up front.
    settings = [("", POOL_EMPTY_SETTINGS[name])] + ([("global ", dict(output_size=1))] if name == "adaptive_avg_pool2d" else [])
    for what, kwargs in settings:
        for shape in [(2, 0, 5, 5), (2, 3, 0, 5), (1, 3, 5, 0), (0, 5, 5), (3, 0, 5), (2, 0, 8, 8), (2, 3, 8, 0),
                      (1, 1, 0, 4)]:
            if what == "global ":
                torch_error = None                           # one window: PyTorch averages nothing
            elif name == "adaptive_avg_pool2d":
                torch_error = None if shape[-3] == 0 else R  # no channels: an empty result
            elif name == "adaptive_max_pool2d":
                torch_error = None if shape == (0, 5, 5) else R
            else:
                torch_error = R
            rows.append(BadInput(f"{what}empty {shape}", (bad(*shape, dtype=np.float64),), kwargs, V, torch_error,
                                 r"expected an input with non-zero channels, height and width \(only the batch N "
                                 r"may be 0\), got input of shape " + re_escape(shape)))
    # minicnn's pools are floating-point only (their kernels exist for float32 and float64): a
    # clear TypeError beats a silently truncated integer average
    rows.append(BadInput("int input", (bad(1, 1, 4, 4, dtype=np.int64),), _pool_call(name), TE,
                         None if name in ("max_pool2d", "avg_pool2d") else NI,
                         rf"{name}: expected a floating-point input, got dtype int64"))
    if name.startswith("adaptive"):
        for size in [-1, (2, -3), (2, 2, 2), (None,)]:
            rows.append(BadInput(f"output_size {size}", (bad(1, 1, 6, 6),), dict(output_size=size), V, R,
                                 "output_size must be a non-negative int or a pair"))
        for size in [2.5, "6", (True, 2), True, (2, 2.0)]:
            rows.append(BadInput(f"output_size {size!r}", (bad(1, 1, 6, 6),), dict(output_size=size), TE, TE,
                                 "output_size must be an int or a pair of ints"))
        return tuple(rows)
    rows += [BadInput("padding > kernel/2", (bad(1, 1, 8, 8),), dict(kernel_size=3, padding=2), V, R,
                      r"padding \(2, 2\) must be at most half of kernel_size \(3, 3\)"),
             BadInput("padding (0, 2) > kernel/2", (bad(1, 1, 8, 8),), dict(kernel_size=2, padding=(0, 2)), V, R,
                      r"padding \(0, 2\) must be at most half of kernel_size \(2, 2\)"),
             BadInput("kernel 2.0", (bad(1, 1, 6, 6),), dict(kernel_size=2.0), TE, TE,
                      rf"{name}: kernel_size must be an int or a pair of ints, got 2.0"),
             BadInput("stride 0", (bad(1, 1, 6, 6),), dict(kernel_size=2, stride=0), V, R,
                      rf"{name}: stride must be at least 1, got 0"),
             BadInput("padding -1", (bad(1, 1, 6, 6),), dict(kernel_size=2, padding=-1), V, R,
                      rf"{name}: padding must be at least 0, got -1"),
             BadInput("kernel too big", (bad(1, 1, 3, 3),), dict(kernel_size=4), V, R, r"does not fit"),
             BadInput("kernel (4, 2) too big", (bad(1, 1, 3, 3, dtype=np.float64),), dict(kernel_size=(4, 2)), V, R,
                      rf"{name}: kernel_size \(4, 2\).*does not fit")]
    rows += [BadInput(f"stride {s!r}", (bad(1, 1, 6, 6),), dict(kernel_size=2, stride=s), TE, TE,
                      rf"{name}: stride must be an int or a pair of ints, got " + re_escape(s)) for s in (1.5, True, (2, 1.0))]
    if name == "max_pool2d":
        rows += [BadInput("kernel 5 padding 1 on 2x2", (bad(1, 1, 2, 2, dtype=np.float64),),
                          dict(kernel_size=5, padding=1), V, R,
                          r"max_pool2d: kernel_size \(5, 5\).*does not fit.*\(1, 1, 2, 2\) padded by \(1, 1\)"),
                 BadInput("dilation 3", (bad(1, 1, 5, 5, dtype=np.float64),), dict(kernel_size=3, dilation=3), V, R,
                          r"max_pool2d: kernel_size \(3, 3\) \(dilation \(3, 3\)\)")]
    else:
        rows += [BadInput("divisor 0", (bad(1, 1, 8, 8),), dict(kernel_size=2, divisor_override=0), V, R,
                          r"avg_pool2d: divisor_override must be a non-zero int, got 0")]
        rows += [BadInput(f"divisor {d!r}", (bad(1, 1, 8, 8),), dict(kernel_size=2, divisor_override=d), TE, TE,
                          rf"avg_pool2d: divisor_override must be an int, got {d}") for d in (1.5, True)]
    return tuple(rows)


def re_escape(value):
    import re
    return re.escape(str(value))


# ----- normalisation --------------------------------------------------------------------
BATCH_NORM_KERNELS = {"batch_norm_stats", "batch_norm_forward", "batch_norm_backward_sums",
                      "batch_norm_backward"}


def _mc_batch_norm(x, running_mean, running_var, weight, bias, **kwargs):
    """F.batch_norm on copies of the running statistics; returns (y, running_mean,
    running_var) when they are given, so that their update is compared too."""
    stats = [None if s is None else Tensor(s.data.copy()) for s in (running_mean, running_var)]
    y = F.batch_norm(x, *stats, weight, bias, **kwargs)
    return y if stats[0] is None else (y, *stats)


def _torch_batch_norm(x, running_mean, running_var, weight, bias, **kwargs):
    stats = [None if s is None else s.detach().clone() for s in (running_mean, running_var)]
    y = TF.batch_norm(x, *stats, weight, bias, **kwargs)
    return y if stats[0] is None else (y, *stats)


def _bn(rng, x, dtype, affine=True, running=True):
    """(x, running_mean, running_var, weight, bias) for a batch-norm sample."""
    c = x.shape[1]
    w, b = randn(rng, c, dtype), randn(rng, c, dtype)
    rm, rv = randn(rng, c, dtype), (rng.random(c) + 0.5).astype(dtype)
    return (x, rm if running else None, rv if running else None, w if affine else None, b if affine else None)


def batch_norm_samples(dtype):
    r = rng_for("batch_norm")
    s = []
    for shape in [(6, 4), (3, 5, 4, 6)]:
        x = randn(r, shape, dtype, scale=3, shift=2)
        for training in (True, False):
            for affine in (True, False):
                s.append(Sample(f"{shape}-{'train' if training else 'eval'}-{'affine' if affine else 'plain'}",
                                _bn(r, x, dtype, affine), dict(training=training, momentum=0.3)))
    s.append(Sample("3d-train", _bn(r, randn(r, (4, 3, 7), dtype), dtype), dict(training=True)))
    s.append(Sample("no-running-stats-train", _bn(r, randn(r, (4, 3, 3, 3), dtype), dtype, running=False),
                    dict(training=True)))
    if dtype == np.float32:
        # 1000 + randn: a one-pass variance (E[x^2] - E[x]^2) cancels catastrophically here (x^2 ~ 1e6
        # has float32 steps of 0.06) and is off by ~0.1; two passes are exact.  Tolerance: float32
        # resolves x near 1000 only to 6e-5, so each x - mean carries that much rounding, and the
        # weight gradient sums 128 of them: 1e-3 is what float32 can promise, 50 times finer than
        # the one-pass error.  Momentum 1: the running statistics are this batch's.
        x = randn(r, (8, 3, 4, 4), np.float64, shift=1000).astype(np.float32)
        exact_var = x.astype(np.float64).var(axis=(0, 2, 3), ddof=1)

        def unbiased(out, expected, exact_var=exact_var):
            mc.utils.assert_close(out[2], exact_var, rtol=1e-3, atol=2e-3, name="running_var")
        for training in (True, False):
            s.append(Sample(f"large-mean-{'train' if training else 'eval'}", _bn(r, x, dtype),
                            dict(training=training, momentum=1.0), tol=dict(rtol=1e-3, atol=2e-3),
                            check=unbiased if training else None, gradcheck=False))
    # empty output, empty input gradient, zero weight/bias gradients; in training the running
    # statistics stay as they were (an empty batch has none), as in PyTorch
    for shape, what in [((0, 3, 4, 4), "empty-batch"), ((0, 3), "empty-batch-1d"), ((2, 3, 0, 4), "no-rows"),
                        ((2, 0, 4, 4), "no-channels")]:
        for training in (True, False):
            if what == "no-channels" and training:
                continue
            # no channels: no weight either (PyTorch cannot index an empty one)
            s.append(Sample(f"{what}-{'train' if training else 'eval'}",
                            _bn(r, np.zeros(shape, dtype), dtype, affine=what != "no-channels"),
                            dict(training=training), check=shape_is(shape)))
    # NaN poisons its channel only
    for training in (True, False):
        s.append(Sample(f"nan-{'train' if training else 'eval'}", _bn(r, with_nan(randn(r, (2, 3, 2, 2), dtype), 1), dtype),
                        dict(training=training), gradcheck=False))
    nhwc = randn(r, (3, 4, 5, 6), dtype)
    x = nhwc.transpose(0, 3, 1, 2)                  # (N, C, H, W) view, not contiguous
    s += [Sample("non-contiguous-train", _bn(r, x, dtype), dict(training=True)),
          Sample("non-contiguous-sliced-eval", _bn(r, x[:, ::2], dtype), dict(training=False))]
    for training in (True, False):
        s.append(Sample(f"small-{'train' if training else 'eval'}", _bn(r, randn(r, (3, 2, 3, 2), dtype), dtype),
                        dict(training=training)))
    # shapes the Numba kernels meet: odd channel lengths, (N, C), one row, 5-D, empty
    for shape in [(4, 3, 5, 7), (2, 5), (1, 1, 1, 9), (3, 2, 2, 2, 2), (0, 3, 4, 4), (2, 0, 3, 3)]:
        for affine in (True, False):
            for training in (True, False):
                s.append(Sample(f"kernels-{shape}-{'affine' if affine else 'plain'}-{'train' if training else 'eval'}",
                                _bn(r, randn(r, shape, dtype, scale=3, shift=2), dtype, affine),
                                dict(training=training), gradcheck=np.prod(shape) <= 120,
                                parity=shape[1] > 0 or not affine))    # PyTorch: no empty weight
    # the GPU branch
    s += [Sample("device-train", (no_ties((3, 4, 2, 3), dtype, 0), None, None, no_ties(4, dtype, 1), no_ties(4, dtype, 2)),
                 dict(training=True), device=True, kernels=BATCH_NORM_KERNELS),
          Sample("device-eval", (no_ties((3, 4, 2), dtype, 0), np.arange(4.0).astype(dtype),
                                 np.arange(1.0, 5.0).astype(dtype), None, None),
                 dict(training=False), device=True, kernels={"batch_norm_forward", "batch_norm_backward"}),
          Sample("device-train-empty-batch", (np.zeros((0, 4, 2, 3), dtype), None, None, no_ties(4, dtype, 1),
                                              no_ties(4, dtype, 2)),
                 dict(training=True), device=True,          # no statistics to take
                 kernels={"batch_norm_forward", "batch_norm_backward_sums", "batch_norm_backward"})]
    for sample in s:        # the running statistics are constants (settings), not inputs
        sample.grad = tuple(i for i in (0, 3, 4) if sample.arrays[i] is not None)
    return s


BATCH_NORM_BAD = (
    BadInput("int input", (bad(2, 3, dtype=np.int64), bad(3), bad(3, fill=1), None, None), {}, TE, NI,
             r"batch_norm: expected a floating-point input, got dtype int64"),
    BadInput("int32 input", (bad(2, 3, dtype=np.int32), bad(3), bad(3, fill=1), None, None), {}, TE, NI,
             r"batch_norm: expected a floating-point input, got dtype int32"),
    BadInput("bool input", (bad(2, 3, dtype=bool), bad(3), bad(3, fill=1), None, None), {}, TE, NI,
             r"batch_norm: expected a floating-point input, got dtype bool"),
    BadInput("running_mean shape", (bad(2, 3), bad(4), bad(3, fill=1), None, None), {}, V, R,
             r"expected running_mean of shape \(3,\)"),
    BadInput("running_mean shape, training", (bad(4, 3, 2, 2, dtype=np.float64), bad(4, dtype=np.float64),
                                              bad(3, fill=1, dtype=np.float64), None, None),
             dict(training=True), V, R, r"batch_norm: expected running_mean of shape \(3,\).*got \(4,\)"),
    BadInput("weight shape", (bad(2, 3), bad(3), bad(3, fill=1), bad(2), None), {}, V, R,
             r"expected weight of shape \(3,\)"),
    BadInput("weight shape, training", (bad(4, 3, 2, 2), None, None, bad(2), None), dict(training=True), V, R,
             r"batch_norm: expected weight of shape \(3,\)"),
    BadInput("eval without running statistics", (bad(4, 3, 2, 2), None, None, None, None), dict(training=False), V, R,
             "batch_norm: running_mean and running_var must be given"),
    BadInput("one value per channel", (bad(1, 3, 1, 1), None, None, None, None), dict(training=True), V, V,
             r"expected more than 1 value per channel"),
    BadInput("one value per channel, (1, 3)", (bad(1, 3), None, None, None, None), dict(training=True), V, V,
             r"batch_norm: expected more than 1 value per channel"),
    BadInput("1-d input", (bad(3), None, None, None, None), dict(training=True), V, IE,
             r"batch_norm: expected input of shape \(N, C, ...\)"),
)


LRN_KERNELS = {"lrn_forward", "lrn_backward"}


def local_response_norm_samples(dtype):
    s = []
    for size in (1, 2, 3, 4, 5, 6, 9):
        x = randn(np.random.default_rng(size), (2, 7, 3, 4), dtype, scale=2)
        # alpha = 1: with PyTorch's default 1e-4 an off-by-one window would still pass
        s += [Sample(f"size{size}-alpha1", (x,), dict(size=size, alpha=1.0, beta=0.75, k=2.0)),
              Sample(f"size{size}-defaults", (x,), dict(size=size))]
    r = rng_for("local_response_norm")
    # Krizhevsky et al. 2012: k=2, n=5, alpha=1e-4 (not divided by n), beta=0.75: PyTorch's alpha = 5e-4
    s.append(Sample("alexnet", (randn(r, (2, 8, 3, 3), dtype, scale=30),), dict(size=5, alpha=5e-4, beta=0.75, k=2.0)))
    spike = np.ones((1, 9, 1, 1), dtype)
    spike[0, 4] = 10.0
    s.append(Sample("even-size-spike", (spike,), dict(size=4, alpha=1.0)))
    s += [Sample("3d", (randn(r, (2, 5, 7), dtype),), dict(size=3, alpha=0.5)),
          Sample("5d", (randn(r, (2, 5, 2, 3, 2), dtype),), dict(size=4, alpha=0.5)),
          Sample("non-contiguous", (randn(r, (2, 4, 5, 6), dtype).transpose(0, 3, 1, 2),), dict(size=3, alpha=0.5))]
    s += [Sample(f"gradcheck-size{size}", (randn(r, (2, 5, 2, 3), dtype),), dict(size=size, alpha=1.0, beta=0.75, k=1.5))
          for size in (2, 3)]
    for shape in [(0, 5, 2, 3), (2, 0, 2, 3), (2, 5, 0, 3), (0, 4, 3), (0, 4, 2, 2), (2, 0, 2, 2)]:
        s.append(Sample(f"empty-{shape}", (np.zeros(shape, dtype),), dict(size=3, alpha=1.0), check=shape_is(shape)))
    s += [Sample("nan", (with_nan(randn(r, (1, 5, 2, 2), dtype), 8),), dict(size=3, alpha=1.0), gradcheck=False),
          Sample("device", (no_ties((2, 7, 3, 2), dtype),), dict(size=4, alpha=1.0, beta=0.75, k=2.0), device=True,
                 kernels=LRN_KERNELS),
          Sample("device-empty-batch", (np.zeros((0, 5, 3, 2), dtype),), dict(size=3, alpha=1.0), device=True,
                 kernels=LRN_KERNELS)]
    return s


LRN_BAD = (
    BadInput("rank 2", (bad(4, 3),), dict(size=2), V, V, r"expected input of 3 or more dims"),
    BadInput("rank 2, float64", (bad(4, 3, dtype=np.float64),), dict(size=2), V, V,
             r"local_response_norm: expected input of 3 or more dims.*\(4, 3\)"),
    BadInput("int input", (bad(1, 3, 4, 4, dtype=np.int64),), dict(size=2), TE, None,
             r"local_response_norm: expected a floating-point input, got dtype int64"),
    BadInput("size 0", (bad(1, 3, 2, 2),), dict(size=0), V, R, "local_response_norm: size must be a positive integer"),
    BadInput("size 2.5", (bad(1, 3, 2, 2),), dict(size=2.5), V, TE, "local_response_norm: size must be a positive integer"),
)


# ----- activations ------------------------------------------------------------------------
def relu_samples(dtype):
    r = rng_for("relu")
    return [Sample("4x5", (randn(r, (4, 5), dtype),)),
            Sample("infinities", (np.array([-np.inf, -1.0, 2.0, np.inf], dtype),), gradcheck=False),
            Sample("nan", (with_nan(randn(r, (3, 4), dtype), 1),), gradcheck=False),
            Sample("empty", (np.zeros((0, 2), dtype),)),
            Sample("int", (ints(r, 5),), device=True),
            Sample("device", (no_ties((3, 4, 5), dtype),), device=True, kernels={"relu_forward", "relu_backward"})]


def leaky_relu_samples(dtype):
    r = rng_for("leaky_relu")
    at_kink = np.array([-2.0, 0.0, 3.0, -0.5, np.nan], dtype)      # 0: slope negative_slope, as PyTorch
    return [Sample("default-slope", (randn(r, (4, 5), dtype),)),
            Sample("slope-0.5", (randn(r, (3, 4), dtype),), dict(negative_slope=0.5)),
            Sample("slope-negative", (randn(r, (2, 3, 2), dtype),), dict(negative_slope=-0.2)),
            Sample("zero-and-nan", (at_kink,), dict(negative_slope=0.1), gradcheck=False),
            Sample("empty", (np.zeros((0, 3), dtype),))]


def hardtanh_samples(dtype):
    r = rng_for("hardtanh")
    # the bounds themselves get no gradient (PyTorch's rule).  (No NaN: PyTorch's CPU kernels
    # send its gradient on or not depending on the array's length and dtype.)
    edges = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0], dtype)
    return [Sample("default-bounds", (randn(r, (4, 5), dtype, scale=2),)),
            Sample("bounds-0-6", (randn(r, (3, 4), dtype, scale=5, shift=3),), dict(min_val=0.0, max_val=6.0)),
            Sample("at-the-bounds", (edges,), gradcheck=False),
            Sample("equal-bounds", (randn(r, (2, 3), dtype),), dict(min_val=0.5, max_val=0.5)),
            Sample("int", (np.array([-3, 1, 9]),), dict(min_val=0, max_val=5)),
            Sample("empty", (np.zeros((0, 3), dtype),))]


def relu6_samples(dtype):
    r = rng_for("relu6")
    return [Sample("spread", (randn(r, (4, 5), dtype, scale=5, shift=3),)),
            Sample("at-0-and-6", (np.array([-1.0, 0.0, 3.0, 6.0, 8.0], dtype),), gradcheck=False),
            Sample("int", (np.array([-2, 3, 7]),))]


def sigmoid_samples(dtype):
    r = rng_for("sigmoid")
    return [Sample("wide", (randn(r, (4, 5), dtype, scale=10),)),
            Sample("nan-inf", (np.array([np.nan, np.inf, -np.inf, 0.5], dtype),), gradcheck=False),
            Sample("extremes", (np.array([-1000.0, -30.0, 30.0, 1000.0], dtype),), gradcheck=False, check=finite),
            Sample("int", (ints(r, 4),))]


def tanh_samples(dtype):
    r = rng_for("tanh")
    return [Sample("4x5", (randn(r, (4, 5), dtype),)),
            Sample("nan", (with_nan(randn(r, (2, 3), dtype), 1),), gradcheck=False),
            Sample("int", (ints(r, 4),))]


def abs_samples(dtype):
    r = rng_for("abs")
    return [Sample("no-zeros", (no_ties((3, 4), dtype, 3, low=-2.0, high=2.5),)),
            Sample("zero-inf", (np.array([0.0, -0.0, -np.inf, 2.0], dtype),), gradcheck=False),
            # PyTorch: the gradient at a NaN is 0 (sign(NaN) = 0), not NumPy's NaN
            Sample("nan", (np.array([1.5, np.nan, -2.0], dtype),), gradcheck=False),
            Sample("int", (ints(r, (2, 3)),))]


# ----- dropout: masks from minicnn's generator, applied by the reference with torch ---------
DROPOUT_SEED = 7


def _mc_dropout(x, p=0.5, training=True, channels=False):
    """F.dropout / F.dropout2d after seeding: every call draws the same mask (finite
    differences re-run the op)."""
    mc.manual_seed(DROPOUT_SEED)
    return (F.dropout2d if channels else F.dropout)(x, p, training)


def _torch_dropout(x, p=0.5, training=True, channels=False):
    """PyTorch's dropout where it is deterministic (evaluation, p = 0 or 1); else x times the
    mask minicnn's generator draws from the same seed -- each unit (channel) kept where its
    uniform number is >= p, kept ones scaled by 1/(1-p) -- so values and gradients compare
    exactly.  (The masks' statistics are tests/functional/test_dropout.py's business.)
    What minicnn refuses (a bad p, an integer or 2-D input) goes to PyTorch as it is."""
    mirrored = (isinstance(p, numbers.Real) and 0 < p < 1 and x.is_floating_point()
                and (not channels or x.ndim in (3, 4)))
    if not training or not mirrored:
        return (TF.dropout2d if channels else TF.dropout)(x, p, training)
    mc.manual_seed(DROPOUT_SEED)
    dtype = np.float32 if x.dtype == torch.float32 else np.float64
    shape = tuple(x.shape[:2]) + (1,) * (x.ndim - 2) if channels else tuple(x.shape)
    keep = mc_random.generator(np).random(shape, dtype=dtype) >= p
    return x * torch.from_numpy(keep.astype(dtype) * dtype(1 / (1 - p))).to(x.device)


def _some_dropped(out, expected):
    assert 0 < (out.numpy() != 0).mean() < 1, "nothing or everything dropped"


def dropout_samples(dtype):
    s = []
    for p in (0.2, 0.5, 0.9):
        s.append(Sample(f"p{p}", (positive(rng_for("dropout", p), (6, 5), dtype, 1, 2),), dict(p=p),
                        check=_some_dropped))
    r = rng_for("dropout")
    x = positive(r, (2, 3, 4, 4), dtype, 1, 2)
    s += [Sample("eval", (x,), dict(p=0.5, training=False)),
          Sample("p0", (x,), dict(p=0.0)),
          Sample("p1", (x,), dict(p=1.0)),
          Sample("non-contiguous", (positive(r, (4, 5, 6, 3), dtype, 1, 2).transpose(0, 3, 1, 2),), dict(p=0.4),
                 gradcheck=False),
          Sample("empty-batch", (np.zeros((0, 3, 2), dtype),), dict(p=0.5)),
          Sample("eval-nan", (with_nan(randn(r, (2, 3), dtype), 2),), dict(p=0.5, training=False), gradcheck=False),
          Sample("device", (no_ties((2, 3, 4), dtype),), dict(p=0.5), device=True, kernels={"masked_scale"})]
    return s


def dropout2d_samples(dtype):
    r = rng_for("dropout2d")
    x = positive(r, (4, 6, 3, 3), dtype, 1, 2)
    return [Sample("p0.5", (x,), dict(p=0.5, channels=True), check=_some_dropped),
            Sample("p0.25", (positive(r, (8, 16, 3, 5), dtype, 1, 2),), dict(p=0.25, channels=True), gradcheck=False),
            Sample("3d", (positive(r, (8, 16, 7), dtype, 1, 2),), dict(p=0.5, channels=True), gradcheck=False),
            Sample("eval", (x,), dict(p=0.5, training=False, channels=True)),
            Sample("p0", (x,), dict(p=0.0, channels=True)),
            Sample("p1", (x,), dict(p=1.0, channels=True)),
            Sample("empty-batch", (np.zeros((0, 3, 2, 2), dtype),), dict(p=0.5, channels=True)),
            Sample("device", (no_ties((4, 6, 3, 3), dtype),), dict(p=0.25, channels=True), device=True,
                   kernels={"masked_scale"})]


def dropout_bad(name):
    channels = name == "dropout2d"
    rows = [BadInput(f"p {p!r}", (bad(2, 3, 4, 4, dtype=np.float64),), dict(p=p, channels=channels), V,
                     TE if isinstance(p, str) else V,
                     r"dropout(2d)?: dropout probability has to be between 0 and 1") for p in (-0.1, 1.5, "0.5")]
    rows.append(BadInput("int input", (bad(2, 3, 4, 4, dtype=np.int64),), dict(p=0.5, channels=channels), TE, R,
                         rf"{name}: expected a floating-point input, got dtype int64"))
    if channels:
        rows.append(BadInput("rank 2", (bad(4, 3, dtype=np.float64),), dict(p=0.5, channels=True), V, None,
                             r"dropout2d: expected input of shape \(N, C, H, W\).*got \(4, 3\)"))
    return tuple(rows)


def _mc_stochastic_depth(x, p=0.5, mode="row", training=True):
    mc.manual_seed(DROPOUT_SEED)
    return F.stochastic_depth(x, p, mode, training)


def _torch_stochastic_depth(x, p=0.5, mode="row", training=True):
    """torchvision's stochastic_depth where it is deterministic (evaluation, p = 0 or 1, what
    it refuses); else x times the mask minicnn's generator draws from the same seed: one
    number per sample ("row") or per batch, kept where >= p, scaled by 1/(1-p)."""
    import torchvision
    if not training or not (isinstance(p, numbers.Real) and 0 < p < 1) or mode not in ("row", "batch") \
            or not x.is_floating_point():
        return torchvision.ops.stochastic_depth(x, p, mode, training)
    mc.manual_seed(DROPOUT_SEED)
    dtype = np.float32 if x.dtype == torch.float32 else np.float64
    shape = (x.shape[0],) + (1,) * (x.ndim - 1) if mode == "row" else (1,) * x.ndim
    keep = mc_random.generator(np).random(shape, dtype=dtype) >= p
    return x * torch.from_numpy(keep.astype(dtype) * dtype(1 / (1 - p))).to(x.device)


def stochastic_depth_samples(dtype):
    r = rng_for("stochastic_depth")
    x = positive(r, (8, 3, 2, 2), dtype, 1, 2)
    return [Sample("row", (x,), dict(p=0.5, mode="row"), check=_some_dropped),
            Sample("row-p0.2", (positive(r, (16, 5), dtype, 1, 2),), dict(p=0.2, mode="row"), check=_some_dropped),
            Sample("batch", (x,), dict(p=0.5, mode="batch")),
            Sample("eval", (x,), dict(p=0.5, mode="row", training=False)),
            Sample("p0", (x,), dict(p=0.0, mode="row")),
            Sample("p1", (x,), dict(p=1.0, mode="row")),
            Sample("empty-batch", (np.zeros((0, 3, 2), dtype),), dict(p=0.5, mode="row")),
            Sample("device", (no_ties((4, 3, 2), dtype),), dict(p=0.5, mode="row"), device=True,
                   kernels={"masked_scale"})]


STOCHASTIC_DEPTH_BAD = (
    BadInput("p 1.5", (bad(4, 3, dtype=np.float64),), dict(p=1.5, mode="row"), V, V,
             r"stochastic_depth: drop probability has to be between 0 and 1, but got 1.5"),
    BadInput("mode 'col'", (bad(4, 3, dtype=np.float64),), dict(p=0.5, mode="col"), V, V,
             r"stochastic_depth: mode has to be either 'batch' or 'row', but got 'col'"),
    BadInput("int input", (bad(4, 3, dtype=np.int64),), dict(p=0.5, mode="row"), TE, R,
             r"stochastic_depth: expected a floating-point input, got dtype int64"))


# ----- linear algebra, softmax, losses -------------------------------------------------------
def linear_samples(dtype):
    r = rng_for("linear")
    return [Sample("2d", (randn(r, (3, 4), dtype), randn(r, (5, 4), dtype), randn(r, 5, dtype))),
            Sample("3d-no-bias", (randn(r, (2, 3, 4), dtype), randn(r, (5, 4), dtype), None)),
            Sample("empty-batch", (randn(r, (0, 4), dtype), randn(r, (3, 4), dtype), randn(r, 3, dtype))),
            Sample("no-features", (randn(r, (2, 0), dtype), randn(r, (3, 0), dtype), randn(r, 3, dtype))),
            Sample("empty-batch-3d", (randn(r, (2, 0, 4), dtype), randn(r, (3, 4), dtype), randn(r, 3, dtype))),
            Sample("nan", (with_nan(randn(r, (2, 3), dtype), 1), randn(r, (4, 3), dtype), randn(r, 4, dtype)),
                   gradcheck=False),
            Sample("int", (ints(r, (2, 3)), ints(r, (4, 3)), None))]


LINEAR_BAD = (
    BadInput("0-d input", (np.array(1.0), bad(2, 1, dtype=np.float64), None), {}, R, R,
             r"linear: both arguments need at least one dimension"),
    BadInput("features", (bad(2, 3, dtype=np.float64), bad(4, 5, dtype=np.float64), None), {}, R, R,
             r"linear: expected input with 5 features"),
    BadInput("features, named", (bad(2, 3, dtype=np.float64), bad(5, 4, dtype=np.float64), None), {}, V, R,
             "expected input with 4 features"),
    BadInput("bias shape", (bad(2, 3, dtype=np.float64), bad(4, 3, dtype=np.float64), bad(5, dtype=np.float64)), {},
             R, R, r"linear: expected a bias of shape \(4,\), got \(5,\)"),
    BadInput("mixed dtypes", (bad(2, 3, dtype=np.float64), bad(4, 3), None), {}, R, R,
             r"minicnn: linear: expected both arguments to have the same dtype, got float64 and float32"),
)


def matmul_samples(dtype):
    r = rng_for("matmul")
    return [Sample("2d", (randn(r, (3, 4), dtype), randn(r, (4, 2), dtype))),
            Sample("batched-broadcast", (randn(r, (2, 1, 3, 4), dtype), randn(r, (5, 4, 2), dtype))),
            Sample("vector-right", (randn(r, (2, 3, 4), dtype), randn(r, 4, dtype))),
            Sample("vector-left", (randn(r, 4, dtype), randn(r, (2, 4, 3), dtype))),
            Sample("non-contiguous", (randn(r, (4, 3), dtype).T, randn(r, (8, 3), dtype)[::2]))]


MATMUL_BAD = (
    BadInput("0-d", (np.array(1.0), bad(2, dtype=np.float64)), {}, R, R,
             r"matmul: both arguments need at least one dimension"),
    BadInput("align", (bad(2, 3, dtype=np.float64), bad(4, 2, dtype=np.float64)), {}, R, R,
             r"matmul: shapes \(2, 3\) and \(4, 2\) do not align \(3 != 4\)"),
    BadInput("align 4x5", (bad(2, 3, dtype=np.float64), bad(4, 5, dtype=np.float64)), {}, V, R,
             r"\(2, 3\) and \(4, 5\) do not align"),
    BadInput("mixed dtypes", (bad(2, 3), bad(3, 2, dtype=np.float64)), {}, R, R,
             r"matmul: expected both arguments to have the same dtype, got float32 and float64"),
)

BIG = np.array([[1000.0, -1000.0, 0.0, 999.0], [-1000.0, -999.0, -1000.0, -1000.0]])


def _softmax_samples(name):
    def samples(dtype):
        r = rng_for(name)
        return [Sample("3x4", (randn(r, (3, 4), dtype, scale=5),), dict(dim=1 if name == "softmax" else -1)),
                # exp(1000) overflows: an unshifted softmax gives NaN here
                Sample("plus-minus-1000", (BIG.astype(dtype),), dict(dim=1 if name == "softmax" else -1),
                       check=finite, gradcheck=False),
                *[Sample(f"empty-{shape}-dim{dim}", (np.zeros(shape, dtype),), dict(dim=dim))
                  for shape, dim in [((0, 4), 1), ((3, 0), 1), ((3, 0), 0), ((2, 0, 3), -1), ((2, 0), 1)]],
                *[Sample(f"0d-dim{dim}", (np.array(2.5, dtype),), dict(dim=dim)) for dim in (0, -1)],
                Sample("nan", (with_nan(randn(r, (2, 3), dtype), 1),), dict(dim=1), gradcheck=False),
                Sample("nan-dim0", (with_nan(randn(r, (3, 2), dtype), 1),), dict(dim=0), gradcheck=False),
                Sample("minus-inf-mask", (np.array([[0.5, -np.inf, 1.0], [-np.inf, 2.0, -np.inf]], dtype),), dict(dim=1),
                       gradcheck=False),
                Sample("non-contiguous-dim0", (randn(r, (4, 3), dtype).T,), dict(dim=0))]
    return samples


def softmax_bad(name):
    return (BadInput("int", (np.array([1, -2, 3]),), dict(dim=0), TE, NI,
                     rf"minicnn: {name}: expected a floating-point tensor, got dtype int64"),
            BadInput("dim of 1-d", (bad(3, dtype=np.float64),), dict(dim=1), IE, IE, rf"{name}: Dimension out of range"),
            BadInput("dim 1 of 0-d", (np.array(2.5),), dict(dim=1), IE, IE, r"range of \[-1, 0\], but got 1"))


def _ce(mc_or_torch):
    def op(x, target, weight=None, **kwargs):
        return mc_or_torch.cross_entropy(x, target, weight=weight, **kwargs)
    return op


def _probabilities(rng, shape, dtype, axis=1):
    p = rng.uniform(0.1, 1.0, shape)
    return (p / p.sum(axis=axis, keepdims=True)).astype(dtype)


def cross_entropy_samples(dtype):
    r = rng_for("cross_entropy")
    targets = np.array([2, 0, 4, 1])
    s = []
    for red in ("mean", "sum", "none"):
        for ls in (0.0, 0.1):
            s.append(Sample(f"{red}-ls{ls}", (randn(r, (4, 5), dtype, scale=3), targets, None),
                            dict(reduction=red, label_smoothing=ls)))
    s.append(Sample("spatial-ls0.2", (randn(r, (2, 3, 2, 2), dtype), r.integers(0, 3, (2, 2, 2)), None),
                    dict(label_smoothing=0.2)))
    weight = np.array([0.5, 2.0, 1.0, 3.0], dtype)           # class weights: constants, as in PyTorch
    ignoring = np.array([1, -100, 3, 0, -100])                # two samples ignored (PyTorch's default)
    for red in ("mean", "sum", "none"):
        for ls in (0.0, 0.3):
            kw = dict(reduction=red, label_smoothing=ls)

            def case(name, x, target, w=None, grad=(0,), gradcheck=True, **more):
                s.append(Sample(f"{name}-{red}-ls{ls}", (x, target, w), {**kw, **more}, grad=grad,
                                gradcheck=gradcheck))
            case("weight", randn(r, (5, 4), dtype, 2), np.array([1, 0, 3, 3, 2]), weight)
            case("ignore", randn(r, (5, 4), dtype, 2), ignoring)
            case("weight-ignore", randn(r, (5, 4), dtype, 2), ignoring, weight)
            case("ignore-index-2", randn(r, (5, 4), dtype, 2), np.array([2, 2, 0, 1, 3]), ignore_index=2)
            case("probabilities", randn(r, (5, 4), dtype, 2), _probabilities(r, (5, 4), dtype), grad=(0, 1))
            case("probabilities-weight", randn(r, (5, 4), dtype, 2), _probabilities(r, (5, 4), dtype), weight,
                 grad=(0, 1))
            case("spatial-weight-ignore", randn(r, (2, 4, 2, 3), dtype, 2),
                 np.where(r.random((2, 2, 3)) < 0.3, -100, r.integers(0, 4, (2, 2, 3))), weight)
            case("spatial-probabilities", randn(r, (2, 4, 3), dtype, 2), _probabilities(r, (2, 4, 3), dtype), weight,
                 grad=(0, 1))
            case("unbatched", randn(r, (4,), dtype, 2), np.array(2))
            case("unbatched-probabilities", randn(r, (4,), dtype, 2), _probabilities(r, (4,), dtype, axis=0),
                 grad=(0, 1))
            case("empty-batch", randn(r, (0, 4), dtype, 2), np.zeros(0, np.int64), gradcheck=False)
            case("all-ignored", randn(r, (2, 4), dtype, 2), np.array([-100, -100]), weight, gradcheck=False)
    s += [Sample("plus-minus-1000", (BIG.astype(dtype), np.array([0, 1]), None), check=finite, gradcheck=False),
          Sample("plus-minus-1000-ls0.2-none", (BIG.astype(dtype), np.array([1, 3]), None),
                 dict(label_smoothing=0.2, reduction="none"), check=finite, gradcheck=False),
          Sample("nan-logits", (with_nan(randn(r, (3, 4), dtype), 1), np.array([0, 1, 2]), None), gradcheck=False),
          Sample("minus-inf-other-class", (np.array([[1.0, -np.inf, 0.5], [-np.inf, 2.0, 0.0]], dtype),
                                           np.array([0, 1]), None), gradcheck=False)]
    if dtype == np.float64:      # float32 probabilities with float64 logits: promoted, as in PyTorch
        s.append(Sample("float32-probabilities", (randn(r, (2, 3), dtype), np.full((2, 3), 1 / 3, np.float32), None),
                        gradcheck=False))
    return s


CROSS_ENTROPY_BAD = (
    BadInput("0-d logits", (np.array(1.0), np.array(0), None), {}, R, R,
             r"cross_entropy: expected logits of shape \(C,\), \(N, C\) or \(N, C, d1, ...\), got a 0-d tensor"),
    BadInput("target batch", (bad(2, 3, dtype=F64), np.array([0, 1, 2]), None), {}, V, V,
             r"cross_entropy: logits \(2, 3\) need targets of shape \(2,\)"),
    BadInput("target shape, named", (bad(2, 5, dtype=F64), np.array([1, 2, 3]), None), {}, V, V,
             r"targets of shape \(2,\)"),
    BadInput("target out of range", (bad(2, 3, dtype=F64), np.array([0, 3]), None), {}, IE, IE,
             r"cross_entropy: target 3 is out of range for 3 classes"),
    BadInput("target 5 of 5", (bad(2, 5, dtype=F64), np.array([1, 5]), None), {}, IE, IE,
             "target 5 is out of range for 5 classes"),
    BadInput("target negative", (bad(2, 3, dtype=F64), np.array([-1, 0]), None), {}, IE, IE, "target -1"),
    BadInput("probabilities shape", (bad(2, 3, dtype=F64), bad(2, 4, dtype=F64), None), {}, R, R,
             r"cross_entropy: expected integer class indices, got dtype float64"),
    BadInput("weight shape", (bad(2, 3, dtype=F64), np.array([0, 1]), np.ones(4)), {}, R, R,
             r"cross_entropy: weight must have one entry per class, shape \(3,\), got \(4,\)"),
    BadInput("weight dtype", (bad(2, 3, dtype=F64), np.array([0, 2]), np.ones(3, np.float32)), {}, R, R,
             "cross_entropy"),
    BadInput("float class indices", (bad(2, 3, dtype=F64), np.array([0.0, 1.0]), None), {}, R, R,
             r"cross_entropy: expected integer class indices, got dtype float64"),
    BadInput("float class indices, named", (bad(2, 5, dtype=F64), np.array([1.0, 2.0]), None), {}, TE, R,
             "integer class indices"),
    BadInput("int logits", (np.array([[1, 2]]), np.array([0]), None), {}, (TE, NI), NI,
             "cross_entropy: expected floating-point logits, got dtype int64"),
    BadInput("int logits 2x3", (bad(2, 3, dtype=np.int64), np.array([0, 1]), None), {}, NI, NI,
             "cross_entropy: expected floating-point logits"),
    BadInput("int probabilities", (bad(2, 3, dtype=F64), np.array([[1, 0, 2], [0, 1, 1]]), None), {}, R, R,
             "cross_entropy: expected floating-point class probabilities, got dtype int64"),
    BadInput("ignore_index with probabilities", (bad(2, 3, dtype=F64), np.full((2, 3), 1 / 3), None),
             dict(ignore_index=1), R, R, "cross_entropy"),
    BadInput("label_smoothing 1.5", (bad(2, 3, dtype=F64), np.array([0, 2]), None), dict(label_smoothing=1.5), R, R,
             "cross_entropy"),
)


def mse_loss_samples(dtype):
    r = rng_for("mse_loss")
    return [Sample("mean", (randn(r, (3, 4), dtype), randn(r, (3, 4), dtype))),
            Sample("sum", (randn(r, 3, dtype), randn(r, 3, dtype)), dict(reduction="sum")),
            Sample("none", (randn(r, (2, 3), dtype), randn(r, (2, 3), dtype)), dict(reduction="none")),
            Sample("empty", (np.zeros(0, dtype), np.zeros(0, dtype))),
            Sample("nan", (with_nan(randn(r, (2, 3), dtype), 1), randn(r, (2, 3), dtype)), gradcheck=False)]


MSE_BAD = (
    BadInput("int", (np.array([1, 2, 3]), np.array([1, 0, 3])), {}, NI, NI,
             r"minicnn: mse_loss: expected a floating-point tensor, got dtype int64"),
    BadInput("unbroadcastable", (bad(2, dtype=F64), bad(3, dtype=F64)), {}, R, R,
             r"mse_loss: input \(2,\) and target \(3,\) differ in shape"),
    BadInput("reduction avg", (np.array([1.0]), np.array([1.0])), dict(reduction="avg"), V, V, "reduction"),
)


# ----- elementwise and reductions ---------------------------------------------------------
def _binary(fn):
    """An operator on two tensors, or on a tensor and a Python number (``scalar``, on the
    left with ``scalar_first``): the same spelling works for minicnn and torch."""
    def op(a, b=None, scalar=None, scalar_first=False):
        if scalar is None:
            return fn(a, b)
        return fn(scalar, a) if scalar_first else fn(a, scalar)
    return op


def binary_samples(name):
    def samples(dtype):
        r = rng_for(name)
        if name == "add":
            return [Sample("broadcast", (randn(r, (3, 1, 4), dtype), randn(r, (5, 1), dtype))),
                    Sample("scalar", (randn(r, (2, 3), dtype), None), dict(scalar=2.5)),
                    Sample("empty", (np.zeros((0, 3), dtype), randn(r, 3, dtype)))]
        if name == "sub":
            return [Sample("broadcast", (randn(r, (2, 3), dtype), randn(r, 3, dtype))),
                    Sample("scalar-first", (randn(r, (3, 2), dtype), None), dict(scalar=2.0, scalar_first=True)),
                    Sample("ints", (ints(r, 3), ints(r, 3)))]
        if name == "mul":
            return [Sample("broadcast", (randn(r, (4, 1), dtype), randn(r, (1, 3), dtype))),
                    Sample("scalar", (randn(r, 5, dtype), None), dict(scalar=-1.5))]
        if name == "div":
            return [Sample("broadcast", (randn(r, (2, 3), dtype), positive(r, 3, dtype))),
                    Sample("scalar-first", (positive(r, 4, dtype), None), dict(scalar=1.0, scalar_first=True)),
                    Sample("by-zero", (np.array([1.0, -1.0, 0.0], dtype), np.zeros(3, dtype)), gradcheck=False),
                    Sample("int-true-division", (ints(r, 3) + 10, np.array([4, 5, 6])))]
        if name == "pow":
            return [Sample("scalar", (randn(r, (3, 3), dtype), None), dict(scalar=3)),
                    Sample("tensor", (positive(r, (3, 2), dtype), randn(r, 2, dtype)))]
        raise KeyError(name)
    return samples


def unary_samples(name):
    def samples(dtype):
        r = rng_for(name)
        if name == "neg":
            return [Sample("5", (randn(r, 5, dtype),))]
        if name == "exp":
            return [Sample("2x3", (randn(r, (2, 3), dtype),)), Sample("int", (ints(r, 4),))]
        if name == "log":
            return [Sample("positive", (positive(r, (2, 3), dtype),))]
        if name == "sqrt":
            return [Sample("positive", (positive(r, 4, dtype),))]
        raise KeyError(name)
    return samples


def _reduction(method):
    """x.<method>(dim, keepdim) for both libraries; torch's max with a dim gives values and
    indices: its values are the op."""
    def op(x, dim=None, keepdim=False):
        if dim is None:
            return getattr(x, method)()
        out = getattr(x, method)(dim, keepdim=keepdim)
        return out[0] if isinstance(out, tuple) else out        # torch: (values, indices)
    return op


def reduction_samples(name):
    def samples(dtype):
        r = rng_for(name)
        if name == "sum":
            return [Sample("all", (randn(r, (3, 4), dtype),)),
                    Sample("dims-keepdim", (randn(r, (2, 3, 4), dtype),), dict(dim=(0, 2), keepdim=True)),
                    Sample("empty", (np.zeros((0, 3), dtype),)),
                    Sample("empty-dim0", (np.zeros((0, 3), dtype),), dict(dim=0)),
                    Sample("nan-dim1", (with_nan(randn(r, (2, 3), dtype), 1),), dict(dim=1), gradcheck=False),
                    Sample("bool", (np.array([True, False, True]),)),
                    Sample("uint8-dim0", (np.array([200, 100], np.uint8),), dict(dim=0))]
        if name == "mean":
            return [Sample("dim1", (randn(r, (2, 3, 4), dtype),), dict(dim=1)),
                    Sample("negative-dim-keepdim", (randn(r, (2, 3), dtype),), dict(dim=-1, keepdim=True)),
                    Sample("empty", (np.zeros((0, 3), dtype),)),
                    Sample("empty-dim1", (np.zeros((2, 0), dtype),), dict(dim=1)),
                    Sample("nan-dim0", (with_nan(randn(r, (2, 3), dtype), 1),), dict(dim=0), gradcheck=False)]
        if name == "max":
            return [Sample("dim1", (randn(r, (3, 5), dtype),), dict(dim=1), gradcheck=False),
                    Sample("all", (randn(r, (3, 5), dtype),), gradcheck=False),
                    # finite differences need the max to be unique
                    Sample("dim1-distinct", (np.random.default_rng(1).permutation(15).reshape(3, 5).astype(dtype),),
                           dict(dim=1)),
                    Sample("all-distinct", (np.random.default_rng(2).permutation(15).reshape(3, 5).astype(dtype),)),
                    Sample("empty-other-dim", (np.zeros((0, 3), dtype),), dict(dim=1)),
                    Sample("nan", (with_nan(randn(r, (2, 3), dtype), 1),), gradcheck=False)]
        if name == "argmax":
            return [Sample("dim1", (randn(r, (3, 5), dtype),), dict(dim=1), grad=()),
                    Sample("all", (randn(r, (3, 5), dtype),), grad=()),
                    Sample("nan-dim1", (with_nan(randn(r, (2, 3), dtype), 1),), dict(dim=1), grad=())]
        raise KeyError(name)
    return samples


# ----- shapes ------------------------------------------------------------------------------
def _getitem(x, index):
    if isinstance(x, Tensor):
        return x[index]
    convert = (lambda i: torch.from_numpy(i) if isinstance(i, np.ndarray) else i)
    return x[tuple(map(convert, index)) if isinstance(index, tuple) else convert(index)]


def _method(name):
    def op(x, args=(), **kwargs):
        return getattr(x, name)(*args, **kwargs)
    return op


def shape_samples(name):
    def samples(dtype):
        r = rng_for(name)
        if name == "reshape":
            return [Sample("4x-1", (randn(r, (2, 3, 2), dtype),), dict(args=(4, -1)))]
        if name == "view":
            return [Sample("6x2", (randn(r, (2, 3, 2), dtype),), dict(args=(6, 2)))]
        if name == "transpose":
            return [Sample("0-2", (randn(r, (2, 3, 4), dtype),), dict(args=(0, 2)))]
        if name == "permute":
            return [Sample("2-0-1", (randn(r, (2, 3, 4), dtype),), dict(args=(2, 0, 1)))]
        if name == "T":
            return [Sample("3x4", (randn(r, (3, 4), dtype),))]
        if name == "flatten":
            return [Sample("from-1", (randn(r, (2, 3, 2, 2), dtype),), dict(start_dim=1)),
                    Sample("empty", (np.zeros((0, 3, 2), dtype),), dict(start_dim=1))]
        if name == "getitem":
            x = randn(r, (4, 3), dtype)
            return [Sample("slices", (randn(r, (3, 4, 2), dtype),), dict(index=(slice(1, None), slice(None, None, 2), -1))),
                    Sample("repeated-integers", (randn(r, (3, 2), dtype),), dict(index=np.array([0, 2, 0]))),
                    Sample("boolean-mask", (x,), dict(index=x > 0))]
        if name == "cat":
            return [Sample("dim1", (randn(r, (2, 3), dtype), randn(r, (2, 1), dtype)), dict(dim=1)),
                    Sample("with-empty", (np.zeros((0, 3), dtype), randn(r, (2, 3), dtype)))]
        if name == "stack":
            return [Sample("dim-negative", (randn(r, (2, 3), dtype), randn(r, (2, 3), dtype)), dict(dim=-1))]
        if name == "broadcast_to":
            return [Sample("new-and-stretched-dims", (randn(r, (3, 1), dtype),), dict(size=(2, 3, 4))),
                    Sample("minus-one-keeps", (randn(r, (1, 4), dtype),), dict(size=(3, -1))),
                    Sample("same-shape", (randn(r, (2, 3), dtype),), dict(size=(2, 3)))]
        raise KeyError(name)
    return samples


def _flatten(lib):
    return lambda x, start_dim=0, end_dim=-1: lib.flatten(x, start_dim, end_dim)


def _list_op(fn):
    return lambda *tensors, dim=0: fn(list(tensors), dim)


def _to_dtype_mc(x, dtype):
    return F.to_dtype(x, dtype)


def _to_dtype_torch(x, dtype):
    return x.to({np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[np.dtype(dtype)])


def to_dtype_samples(dtype):
    r = rng_for("to_dtype")
    other = np.float64 if dtype == np.float32 else np.float32
    # a float32 output: finite differences in float32 are too noisy to judge
    return [Sample(f"to-{np.dtype(other)}", (randn(r, (2, 3), dtype),), dict(dtype=other), gradcheck=other == np.float64),
            Sample("same-dtype", (randn(r, (3,), dtype),), dict(dtype=dtype)),
            Sample("from-int", (ints(r, (2, 2)),), dict(dtype=dtype))]


SHAPE_BAD = {
    "broadcast_to": (BadInput("incompatible", (bad(2, 3, dtype=F64),), dict(size=(2, 4)), (V, R), R,
                              r"minicnn: broadcast_to: the shape \(2, 3\) does not broadcast to \(2, 4\)"),
                     BadInput("fewer dims", (bad(2, 3, dtype=F64),), dict(size=(3,)), (V, R), R,
                              r"minicnn: broadcast_to: cannot broadcast a tensor of shape \(2, 3\) to fewer dims")),
    "reshape": (BadInput("size", (bad(2, 3, dtype=F64),), dict(args=(4, 2)), (V, R), R,
                         r"minicnn: reshape: cannot view \(2, 3\) \(6 elements\) as \(4, 2\)"),),
    "permute": (BadInput("too few dims", (bad(2, 3, 4, dtype=F64),), dict(args=(1, 0)), R, R,
                         r"permute: \(1, 0\) is not a permutation of the 3 dims"),
                BadInput("repeated dim", (bad(2, 3, dtype=F64),), dict(args=(1, 1)), R, R, "permute")),
    "flatten": (BadInput("start after end", (bad(2, 3, 4, dtype=F64),), dict(start_dim=2, end_dim=1), R, R,
                         r"flatten: start_dim 2 comes after end_dim 1"),),
    "cat": (BadInput("0-d", (np.array(1.0), np.array(1.0)), {}, R, R, r"cat: zero-dimensional tensors cannot be concatenated"),
            BadInput("different ranks", (bad(2, 3, dtype=F64), bad(3, dtype=F64)), {}, R, R,
                     r"cat: all tensors must have the same number of dims"),
            BadInput("shapes", (bad(2, 3, dtype=F64), bad(3, 3, dtype=F64)), dict(dim=1), (V, R), R,
                     r"cat: shapes must match except in dim 1")),
    "stack": (BadInput("shapes", (bad(2, 3, dtype=F64), bad(3, 2, dtype=F64)), {}, R, R,
                       r"stack: all tensors must have the same shape"),
              BadInput("shapes 3x3", (bad(2, 3, dtype=F64), bad(3, 3, dtype=F64)), {}, V, R, "same shape")),
}

REDUCTION_BAD = {
    "sum": (BadInput("dim of 0-d", (np.array(2.0),), dict(dim=1), IE, IE, r"minicnn: sum: Dimension out of range"),
            BadInput("repeated dims", (bad(2, 3, dtype=F64),), dict(dim=(1, -1)), R, R, "sum")),
    "mean": (BadInput("int", (np.array([1, 2, 3, 4]),), {}, R, R, r"mean: expected a floating-point tensor, got dtype int64"),),
    "max": (BadInput("empty", (np.zeros((0, 3)),), {}, R, R, r"max: expected reduction dim 0 to have non-zero size"),
            BadInput("empty dim 0", (np.zeros((0, 3)),), dict(dim=0), IE, IE,
                     r"minicnn: max: expected reduction dim 0 to have non-zero size")),
    "argmax": (BadInput("empty", (np.zeros((0, 3)),), {}, IE, IE, r"argmax: expected reduction dim 0 to have non-zero size"),),
}

UNARY_BAD = {
    "neg": (BadInput("bool", (np.array([True, False]),), {}, NI, NI, r"neg: expected numbers, not bools"),),
    "sub": (BadInput("bool", (np.array([True, False]), np.array([True, False])), {}, NI, NI,
                     r"sub: expected numbers, not bools"),),
    "relu": (BadInput("bool", (np.array([True, False]),), {}, NI, NI, r"relu: expected numbers, not bools, got dtype bool"),),
    "leaky_relu": (BadInput("int", (np.array([1, 2]),), {}, TE, NI, r"leaky_relu: expected a floating-point"),
                   BadInput("negative_slope 'a'", (bad(3),), dict(negative_slope="a"), TE, TE,
                            r"leaky_relu: negative_slope must be a number, got 'a'")),
    "hardtanh": (BadInput("bool", (np.array([True]),), {}, NI, NI, r"hardtanh: expected numbers, not bools"),
                 BadInput("min > max", (bad(3),), dict(min_val=2.0, max_val=1.0), V, V,
                          r"hardtanh: min_val cannot be greater than max_val"),
                 BadInput("min_val 'a'", (bad(3),), dict(min_val="a"), TE, TE, r"hardtanh: min_val must be a number")),
    "relu6": (BadInput("bool", (np.array([True]),), {}, NI, NI, r"hardtanh: expected numbers, not bools"),),
    "abs": (BadInput("bool", (np.array([True, False]),), {}, NI, NI, r"abs: expected numbers, not bools"),),
}


# ----- running a sample, and the kernels it dispatches -----------------------------------
def run(op, sample, device="cpu", seed=0):
    """The op on the sample's arrays as tensors on ``device`` (those in ``grad_positions``
    require grad), then backward of a random upstream gradient into its first output.
    Returns (output, input tensors)."""
    grad = sample.grad_positions()
    tensors = [None if a is None else mc.tensor(a, requires_grad=i in grad, device=device)
               for i, a in enumerate(sample.arrays)]
    out = op.op(*tensors, **sample.kwargs)
    y = first(out)
    if y.requires_grad:
        g = np.random.default_rng(seed).standard_normal(y.shape).astype(y.dtype)
        y.backward(mc.tensor(g, device=device))
    return out, tensors


def run_double_backward(op, sample, seed=0):
    """The op's first backward built with ``create_graph=True`` (float64 tensors), then a
    backward through it: every Function a double backward uses runs."""
    grad = sample.grad_positions()
    tensors = [None if a is None else mc.tensor(a, requires_grad=i in grad) for i, a in enumerate(sample.arrays)]
    y = first(op.op(*tensors, **sample.kwargs))
    if not y.requires_grad:
        return
    rng = np.random.default_rng(seed)
    wrt = [tensors[i] for i in grad]
    firsts = mc.autograd.grad(y, wrt, mc.tensor(rng.standard_normal(y.shape), requires_grad=True),
                              create_graph=True, allow_unused=True)
    terms = [(g * mc.tensor(rng.standard_normal(g.shape))).sum() for g in firsts
             if g is not None and g.requires_grad]
    if terms:
        sum(terms[1:], terms[0]).backward()


@dataclasses.dataclass
class KernelCall:
    name: str
    args: tuple
    kwargs: dict
    result: object


def _copied(value):
    if isinstance(value, np.ndarray):
        return np.array(value, copy=True)
    if isinstance(value, tuple):          # window tables are named tuples
        items = map(_copied, value)
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    return value


@contextlib.contextmanager
def recording_kernels():
    """Record every kernel ``minicnn.dispatch`` hands out and runs inside the block, with
    copies of its arguments and result: [KernelCall]."""
    calls, real = [], dispatch.kernel

    def kernel(name, array):
        function = real(name, array)

        def recorded(*args, **kwargs):
            saved = _copied(args)
            result = function(*args, **kwargs)
            calls.append(KernelCall(name, saved, dict(kwargs), _copied(result)))
            return result
        return recorded
    dispatch.kernel = kernel
    try:
        yield calls
    finally:
        dispatch.kernel = real


def reference_kernel_calls(op, sample):
    """The kernel calls of a forward and backward of ``sample`` on the NumPy references."""
    with backend.numpy_reference(), recording_kernels() as calls:
        run(op, sample)
    return calls


# How closely a fast kernel (Numba, or CUDA through the emulation) must give its NumPy
# reference's result on the same arguments: exactly where it selects or copies values;
# to rounding where it sums in another order.  Batch norm's are written to rounding of one
# value (their reductions: of a sum).
EXACT_KERNELS = {"im2col", "max_pool_forward", "relu_forward", "relu_backward", "masked_scale"}
KERNEL_RTOL = {"batch_norm_forward": {F32: 2e-6, F64: 1e-13}, "batch_norm_backward": {F32: 2e-6, F64: 1e-13},
               "batch_norm_backward_sums": {F32: 2e-5, F64: 1e-12}, "batch_norm_stats": {F32: 2e-5, F64: 1e-12}}
# Kernels the op table does not replay: their arguments are not arrays
KERNELS_NOT_REPLAYED = {"map_chunks": "runs an op's work on chunks of images (a callable): the kernels that "
                                      "work dispatches are replayed themselves",
                        "sgd_update": "an optimizer's step, not an op: tests/optim/test_optim.py holds its "
                                      "Numba version to the reference, and both to torch.optim.SGD",
                        "adam_update": "an optimizer's step, not an op: tests/optim/test_optim.py holds its "
                                       "Numba version to the reference, and both to torch.optim.Adam(W)",
                        "rmsprop_update": "an optimizer's step, not an op: tests/optim/test_optim.py holds its "
                                          "Numba version to the reference, and both to torch.optim.RMSprop"}


def assert_kernel_result(name, got, expected, tolerances=None, where=""):
    """``got`` (a fast kernel's result) against the reference's ``expected``: same types,
    shapes and dtypes; values exactly or within ``KERNEL_RTOL`` / assert_close's defaults."""
    gots, expecteds = (got, expected) if isinstance(expected, tuple) else ((got,), (expected,))
    assert len(gots) == len(expecteds), f"{name}: {len(gots)} results, the reference gives {len(expecteds)}"
    for k, (a, e) in enumerate(zip(gots, expecteds)):
        a = np.asarray(a)
        what = f"{name}{where} result {k}"
        assert a.shape == e.shape and a.dtype == e.dtype, f"{what}: {a.shape} {a.dtype}, reference {e.shape} {e.dtype}"
        if name in EXACT_KERNELS or e.dtype.kind != "f":
            np.testing.assert_array_equal(a, e, err_msg=what)
        else:
            rtol = (tolerances or KERNEL_RTOL).get(name, {}).get(e.dtype.type)
            mc.utils.assert_close(a, e, rtol=rtol, atol=rtol, name=what)


# ----- the table ------------------------------------------------------------------------------
CONV_TOL = both_dtypes(dict(rtol=1e-4, atol=1e-4))   # float32 sums C*kh*kw products in another order
NORM_TOL = both_dtypes(dict(rtol=1e-4, atol=1e-4))   # float32 batch statistics: sums of many terms
BASIC_TOL = both_dtypes(dict(rtol=1e-4, atol=1e-5))

OPS = [
    OpInfo("conv2d", _im2col, TF.conv2d, conv2d_samples, functional=("conv2d",), tol=CONV_TOL,
           kernels=CONV_KERNELS, bad_inputs=CONV_BAD),
    OpInfo("conv2d_depthwise", F.conv2d, TF.conv2d, depthwise_samples, functional=("conv2d",), tol=CONV_TOL,
           kernels=DEPTHWISE_KERNELS, bad_inputs=DEPTHWISE_BAD),
    OpInfo("conv2d_winograd", _winograd, TF.conv2d, winograd_samples, functional=("conv2d",),
           kernels=WINOGRAD_KERNELS),
    OpInfo("max_pool2d", F.max_pool2d, TF.max_pool2d, max_pool2d_samples, kernels=MAX_POOL_KERNELS,
           bad_inputs=pool_bad("max_pool2d")),
    OpInfo("avg_pool2d", F.avg_pool2d, TF.avg_pool2d, avg_pool2d_samples, kernels=AVG_POOL_KERNELS,
           bad_inputs=pool_bad("avg_pool2d")),
    OpInfo("adaptive_avg_pool2d", F.adaptive_avg_pool2d, TF.adaptive_avg_pool2d, adaptive_avg_pool2d_samples,
           kernels=AVG_POOL_KERNELS, bad_inputs=pool_bad("adaptive_avg_pool2d")),
    OpInfo("adaptive_max_pool2d", F.adaptive_max_pool2d, TF.adaptive_max_pool2d, adaptive_max_pool2d_samples,
           kernels=MAX_POOL_KERNELS, bad_inputs=pool_bad("adaptive_max_pool2d")),
    OpInfo("batch_norm", _mc_batch_norm, _torch_batch_norm, batch_norm_samples, tol=NORM_TOL,
           kernels=BATCH_NORM_KERNELS, bad_inputs=BATCH_NORM_BAD),
    OpInfo("local_response_norm", F.local_response_norm, TF.local_response_norm, local_response_norm_samples,
           tol=NORM_TOL, kernels=LRN_KERNELS, bad_inputs=LRN_BAD),
    OpInfo("relu", F.relu, torch.relu, relu_samples, tol=BASIC_TOL, kernels={"relu_forward", "relu_backward"},
           bad_inputs=UNARY_BAD["relu"]),
    OpInfo("leaky_relu", F.leaky_relu, TF.leaky_relu, leaky_relu_samples, tol=BASIC_TOL,
           bad_inputs=UNARY_BAD["leaky_relu"]),
    OpInfo("hardtanh", F.hardtanh, TF.hardtanh, hardtanh_samples, tol=BASIC_TOL, bad_inputs=UNARY_BAD["hardtanh"]),
    OpInfo("relu6", F.relu6, TF.relu6, relu6_samples, tol=BASIC_TOL, bad_inputs=UNARY_BAD["relu6"]),
    OpInfo("sigmoid", F.sigmoid, torch.sigmoid, sigmoid_samples, tol=BASIC_TOL),
    OpInfo("tanh", F.tanh, torch.tanh, tanh_samples, tol=BASIC_TOL),
    OpInfo("abs", F.abs, torch.abs, abs_samples, tol=BASIC_TOL, bad_inputs=UNARY_BAD["abs"]),
    OpInfo("dropout", _mc_dropout, _torch_dropout, dropout_samples, kernels={"masked_scale"},
           bad_inputs=dropout_bad("dropout")),
    OpInfo("dropout2d", _mc_dropout, _torch_dropout, dropout2d_samples, kernels={"masked_scale"},
           bad_inputs=dropout_bad("dropout2d")),
    OpInfo("stochastic_depth", _mc_stochastic_depth, _torch_stochastic_depth, stochastic_depth_samples,
           kernels={"masked_scale"}, bad_inputs=STOCHASTIC_DEPTH_BAD),
    OpInfo("linear", F.linear, TF.linear, linear_samples, tol=BASIC_TOL, bad_inputs=LINEAR_BAD),
    OpInfo("matmul", F.matmul, torch.matmul, matmul_samples, tol=BASIC_TOL, bad_inputs=MATMUL_BAD),
    OpInfo("softmax", lambda x, dim: F.softmax(x, dim), lambda x, dim: torch.softmax(x, dim), _softmax_samples("softmax"),
           tol=BASIC_TOL, bad_inputs=softmax_bad("softmax")),
    OpInfo("log_softmax", lambda x, dim: F.log_softmax(x, dim), lambda x, dim: torch.log_softmax(x, dim),
           _softmax_samples("log_softmax"), tol=BASIC_TOL, bad_inputs=softmax_bad("log_softmax")),
    OpInfo("cross_entropy", _ce(F), _ce(TF), cross_entropy_samples, tol=BASIC_TOL, bad_inputs=CROSS_ENTROPY_BAD),
    OpInfo("mse_loss", F.mse_loss, TF.mse_loss, mse_loss_samples, tol=BASIC_TOL, bad_inputs=MSE_BAD),
    *[OpInfo(name, _binary(fn), _binary(fn), binary_samples(name), tol=BASIC_TOL, bad_inputs=UNARY_BAD.get(name, ()))
      for name, fn in [("add", operator.add), ("sub", operator.sub), ("mul", operator.mul),
                       ("div", operator.truediv), ("pow", operator.pow)]],
    OpInfo("neg", operator.neg, operator.neg, unary_samples("neg"), tol=BASIC_TOL, bad_inputs=UNARY_BAD["neg"]),
    *[OpInfo(name, getattr(F, name), getattr(torch, name), unary_samples(name), tol=BASIC_TOL)
      for name in ("exp", "log", "sqrt")],
    *[OpInfo(name, _reduction(name), _reduction(name), reduction_samples(name), tol=BASIC_TOL,
             bad_inputs=REDUCTION_BAD.get(name, ())) for name in ("sum", "mean", "max", "argmax")],
    *[OpInfo(name, _method(name), _method(name), shape_samples(name), bad_inputs=SHAPE_BAD.get(name, ()))
      for name in ("reshape", "view", "transpose", "permute")],
    OpInfo("T", lambda x: x.T, lambda x: x.T, shape_samples("T"), functional=("permute",)),
    OpInfo("flatten", _flatten(F), _flatten(torch), shape_samples("flatten"), bad_inputs=SHAPE_BAD["flatten"]),
    OpInfo("getitem", _getitem, _getitem, shape_samples("getitem")),
    OpInfo("broadcast_to", lambda x, size: F.broadcast_to(x, size), lambda x, size: torch.broadcast_to(x, size),
           shape_samples("broadcast_to"), bad_inputs=SHAPE_BAD["broadcast_to"]),
    OpInfo("cat", _list_op(F.cat), _list_op(torch.cat), shape_samples("cat"), bad_inputs=SHAPE_BAD["cat"]),
    OpInfo("stack", _list_op(F.stack), _list_op(torch.stack), shape_samples("stack"), bad_inputs=SHAPE_BAD["stack"]),
    OpInfo("to_dtype", _to_dtype_mc, _to_dtype_torch, to_dtype_samples),
]
BY_NAME = {op.name: op for op in OPS}
assert len(BY_NAME) == len(OPS), "op names repeat"

# What the table leaves to other tests, and why (tests/functional/test_ops.py checks that
# every other public op of minicnn.functional, and every Function, has a row).
NOT_IN_TABLE = {
    "im2col": "an array function without autograd: tests/functional/test_conv.py checks it against unfold",
    "col2im": "an array function without autograd: tests/functional/test_conv.py checks it against fold",
    "to": "dispatches to to_dtype (in the table) or to_device",
    "to_device": "a move between devices: the CPU has one (tests/cuda/test_kernels_gpu.py on a GPU)",
    "sync_batch_norm": "needs a process group: tests/test_distributed.py against batch_norm and torch",
}
FUNCTIONS_NOT_IN_TABLE = {
    "SyncBatchNorm": NOT_IN_TABLE["sync_batch_norm"],
    "ToDevice": NOT_IN_TABLE["to_device"],
}
