"""Bad input to the CNN ops (conv, pooling, batch norm, LRN, dropout), each row compared with
what PyTorch does: the same error, or the same result (forward and backward).

Error classes: where PyTorch raises TypeError or ValueError, minicnn raises the same class.
PyTorch's C++ core raises RuntimeError (or NotImplementedError for a dtype it has no kernel
for) where Python code would raise ValueError or TypeError; minicnn keeps Python's classes:
a bad shape or value is a ValueError, a bad type or dtype a TypeError.  Each row records both
classes, so a change on either side shows up here.  The basic ops have their own table in
tests/functional/test_bad_input.py.
"""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import minicnn as mc
import minicnn.functional as F
from minicnn.utils import compare_with_torch


def _tensor_maker(lib):
    """T(*shape, dtype=float32, fill=None): zeros-or-random tensors for minicnn or torch."""
    def T(*shape, dtype=np.float32, fill=None):
        rng = np.random.default_rng(len(shape))
        a = (rng.standard_normal(shape) if fill is None else np.full(shape, fill)).astype(dtype)
        return torch.from_numpy(a) if lib is TF else mc.tensor(a)
    return T


# ----- errors ----------------------------------------------------------------------------
# (id, call(lib, T), minicnn's error, PyTorch's error, a regex minicnn's message must match)
V, TE, R, NI = ValueError, TypeError, RuntimeError, NotImplementedError
ERRORS = [
    # conv2d
    ("conv2d rank 2", lambda f, T: f.conv2d(T(8, 8), T(4, 3, 3, 3)), V, R, r"conv2d: expected a 4-D input"),
    ("conv2d rank 5", lambda f, T: f.conv2d(T(1, 1, 3, 8, 8), T(4, 3, 3, 3)), V, R, r"conv2d: expected a 4-D"),
    ("conv2d weight rank 3", lambda f, T: f.conv2d(T(1, 3, 8, 8), T(4, 3, 3)), V, R, r"conv2d: expected a 4-D weight"),
    ("conv2d channels", lambda f, T: f.conv2d(T(1, 2, 8, 8), T(4, 3, 3, 3)), V, R, r"expected input with 3 channels"),
    ("conv2d unbatched channels", lambda f, T: f.conv2d(T(2, 8, 8), T(4, 3, 3, 3)), V, R, r"with 3 channels"),
    ("conv2d groups", lambda f, T: f.conv2d(T(1, 6, 8, 8), T(4, 2, 3, 3), groups=3), V, R, r"divisible by groups=3"),
    ("conv2d bias shape", lambda f, T: f.conv2d(T(1, 3, 8, 8), T(4, 3, 3, 3), T(3)), V, R, r"bias of shape \(4,\)"),
    ("conv2d kernel too big", lambda f, T: f.conv2d(T(1, 3, 2, 2), T(4, 3, 3, 3)), V, R, r"larger than the padded"),
    ("conv2d empty height", lambda f, T: f.conv2d(T(1, 3, 0, 4), T(4, 3, 1, 1)), V, R, r"conv2d: kernel"),
    ("conv2d no output channels", lambda f, T: f.conv2d(T(1, 3, 8, 8), T(0, 3, 3, 3)), V, R,
     r"at least one output channel"),
    ("conv2d stride 1.5", lambda f, T: f.conv2d(T(1, 3, 8, 8), T(4, 3, 3, 3), stride=1.5), TE, TE,
     r"conv2d: stride must be an int or a pair of ints, got 1.5"),
    ("conv2d stride True", lambda f, T: f.conv2d(T(1, 3, 8, 8), T(4, 3, 3, 3), stride=True), TE, TE,
     r"conv2d: stride must be an int or a pair of ints, got True"),
    ("conv2d stride 0", lambda f, T: f.conv2d(T(1, 3, 8, 8), T(4, 3, 3, 3), stride=0), V, R, r"stride must be at least 1"),
    ("conv2d padding -1", lambda f, T: f.conv2d(T(1, 3, 8, 8), T(4, 3, 3, 3), padding=-1), V, R,
     r"padding must be at least 0"),
    ("conv2d padding 'full'", lambda f, T: f.conv2d(T(1, 3, 8, 8), T(4, 3, 3, 3), padding="full"), V, R,
     r"padding must be 'valid', 'same'"),
    ("conv2d same with stride", lambda f, T: f.conv2d(T(1, 3, 8, 8), T(4, 3, 3, 3), stride=2, padding="same"),
     V, R, r"padding='same' is not supported for strided convolutions"),
    ("conv2d bool input", lambda f, T: f.conv2d(T(1, 3, 8, 8, dtype=bool), T(4, 3, 3, 3, dtype=bool)), TE, NI,
     r"conv2d: .*got dtype bool"),
    ("conv2d float32 x float64", lambda f, T: f.conv2d(T(1, 3, 8, 8), T(4, 3, 3, 3, dtype=np.float64)), TE, R,
     r"input is float32 but weight is float64"),
    # pooling
    ("max_pool2d rank 2", lambda f, T: f.max_pool2d(T(8, 8), 2), V, R, r"max_pool2d: expected a 4-D input"),
    ("max_pool2d rank 5", lambda f, T: f.max_pool2d(T(1, 1, 1, 8, 8), 2), V, R, r"max_pool2d: expected a 4-D"),
    ("max_pool2d no channels", lambda f, T: f.max_pool2d(T(2, 0, 8, 8), 2), V, R, r"non-zero channels"),
    ("avg_pool2d empty width", lambda f, T: f.avg_pool2d(T(2, 3, 8, 0), 2), V, R, r"non-zero channels"),
    ("max_pool2d stride 1.5", lambda f, T: f.max_pool2d(T(1, 1, 8, 8), 2, 1.5), TE, TE,
     r"max_pool2d: stride must be an int or a pair of ints, got 1.5"),
    ("avg_pool2d stride True", lambda f, T: f.avg_pool2d(T(1, 1, 8, 8), 2, True), TE, TE,
     r"avg_pool2d: stride must be an int or a pair of ints, got True"),
    ("max_pool2d kernel 2.0", lambda f, T: f.max_pool2d(T(1, 1, 8, 8), 2.0), TE, TE, r"kernel_size must be an int"),
    ("max_pool2d padding > k/2", lambda f, T: f.max_pool2d(T(1, 1, 8, 8), 3, padding=2), V, R,
     r"must be at most half of kernel_size"),
    ("avg_pool2d kernel too big", lambda f, T: f.avg_pool2d(T(1, 1, 3, 3), 4), V, R, r"does not fit"),
    ("avg_pool2d divisor 0", lambda f, T: f.avg_pool2d(T(1, 1, 8, 8), 2, divisor_override=0), V, R,
     r"divisor_override must be a non-zero int"),
    ("avg_pool2d divisor 1.5", lambda f, T: f.avg_pool2d(T(1, 1, 8, 8), 2, divisor_override=1.5), TE, TE,
     r"divisor_override must be an int"),
    ("adaptive_avg_pool2d size 2.5", lambda f, T: f.adaptive_avg_pool2d(T(1, 1, 8, 8), 2.5), TE, TE,
     r"output_size must be an int or a pair of ints"),
    ("adaptive_max_pool2d size (2, 2.0)", lambda f, T: f.adaptive_max_pool2d(T(1, 1, 8, 8), (2, 2.0)), TE, TE,
     r"output_size must be an int or a pair of ints"),
    ("adaptive_max_pool2d rank 2", lambda f, T: f.adaptive_max_pool2d(T(8, 8), 2), V, R, r"expected a 4-D input"),
    # batch_norm
    ("batch_norm int input", lambda f, T: f.batch_norm(T(2, 3, dtype=np.int64), T(3), T(3, fill=1)), TE, NI,
     r"batch_norm: expected a floating-point input, got dtype int64"),
    ("batch_norm bool input", lambda f, T: f.batch_norm(T(2, 3, dtype=bool), T(3), T(3, fill=1)), TE, NI,
     r"batch_norm: expected a floating-point input, got dtype bool"),
    ("batch_norm running_mean shape", lambda f, T: f.batch_norm(T(2, 3), T(4), T(3, fill=1)), V, R,
     r"expected running_mean of shape \(3,\)"),
    ("batch_norm weight shape", lambda f, T: f.batch_norm(T(2, 3), T(3), T(3, fill=1), T(2)), V, R,
     r"expected weight of shape \(3,\)"),
    ("batch_norm one value per channel", lambda f, T: f.batch_norm(T(1, 3, 1, 1), None, None, training=True),
     V, V, r"expected more than 1 value per channel"),
    # local_response_norm
    ("local_response_norm rank 2", lambda f, T: f.local_response_norm(T(4, 3), 2), V, V,
     r"expected input of 3 or more dims"),
    # dropout
    ("dropout p 1.5", lambda f, T: f.dropout(T(2, 3), 1.5), V, V, r"dropout probability has to be between 0 and 1"),
    ("dropout2d p -0.1", lambda f, T: f.dropout2d(T(2, 3, 4, 4), -0.1), V, V, r"between 0 and 1"),
    ("dropout int input", lambda f, T: f.dropout(T(2, 3, dtype=np.int64), 0.5), TE, R,
     r"dropout: expected a floating-point input, got dtype int64"),
]


@pytest.mark.parametrize("call, mc_error, torch_error, match", [row[1:] for row in ERRORS],
                         ids=[row[0] for row in ERRORS])
def test_bad_input_raises_like_torch(call, mc_error, torch_error, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # PyTorch's deprecation notes are not the point
        with pytest.raises(torch_error):
            call(TF, _tensor_maker(TF))
    with pytest.raises(mc_error, match=match) as caught:
        call(F, _tensor_maker(F))
    assert str(caught.value).startswith("minicnn: "), "messages name minicnn and the op"


# ----- where minicnn refuses what PyTorch accepts ----------------------------------------
# Deliberate: minicnn's pools and LRN are floating-point only (their kernels exist for float32
# and float64), and a clear TypeError beats a silently truncated integer average.
DEPARTURES = [
    ("max_pool2d int input", lambda f, T: f.max_pool2d(T(1, 1, 4, 4, dtype=np.int64), 2),
     r"max_pool2d: expected a floating-point input, got dtype int64"),
    ("avg_pool2d int input", lambda f, T: f.avg_pool2d(T(1, 1, 4, 4, dtype=np.int64), 2),
     r"avg_pool2d: expected a floating-point input, got dtype int64"),
    ("local_response_norm int input", lambda f, T: f.local_response_norm(T(1, 3, 4, 4, dtype=np.int64), 2),
     r"local_response_norm: expected a floating-point input, got dtype int64"),
]


@pytest.mark.parametrize("call, match", [row[1:] for row in DEPARTURES], ids=[row[0] for row in DEPARTURES])
def test_departures_from_torch_are_clear_type_errors(call, match):
    call(TF, _tensor_maker(TF))                # PyTorch computes something
    with pytest.raises(TypeError, match=match):
        call(F, _tensor_maker(F))


# ----- the same result: empty and NaN inputs, forward and backward -----------------------
def _randn(shape, nan_at=()):
    """Random values, with NaN at the flat positions ``nan_at``."""
    a = np.random.default_rng(0).standard_normal(shape)
    a.flat[list(nan_at)] = np.nan
    return a


def _bn(training):
    """batch_norm with running statistics 0 and 1 in the input's dtype."""
    def make(f):
        def bn(x):
            c = x.shape[1]
            stats = [torch.zeros(c, dtype=x.dtype), torch.ones(c, dtype=x.dtype)] if f is TF else \
                [mc.tensor(np.zeros(c, x.dtype)), mc.tensor(np.ones(c, x.dtype))]
            return f.batch_norm(x, *stats, training=training)
        return bn
    return make


RESULTS = [   # (id, make(lib) -> function of the input arrays, input arrays)
    ("conv2d empty batch", lambda f: lambda x, w, b: f.conv2d(x, w, b, padding=1),
     [np.zeros((0, 3, 5, 5)), _randn((4, 3, 3, 3)), _randn((4,))]),
    ("conv2d NaN input", lambda f: lambda x, w: f.conv2d(x, w, padding=1), [_randn((2, 3, 5, 5), (7,)), _randn((4, 3, 3, 3))]),
    ("conv2d NaN weight", lambda f: lambda x, w: f.conv2d(x, w), [_randn((2, 3, 5, 5)), _randn((4, 3, 3, 3), (5,))]),
    ("max_pool2d empty batch", lambda f: lambda x: f.max_pool2d(x, 2), [np.zeros((0, 3, 4, 4))]),
    ("max_pool2d NaN", lambda f: lambda x: f.max_pool2d(x, 2), [_randn((2, 3, 4, 4), (5, 40))]),
    ("avg_pool2d NaN", lambda f: lambda x: f.avg_pool2d(x, 3, 1, 1), [_randn((2, 3, 4, 4), (5,))]),
    ("adaptive_max_pool2d empty batch", lambda f: lambda x: f.adaptive_max_pool2d(x, 2), [np.zeros((0, 3, 5, 4))]),
    ("adaptive_avg_pool2d NaN", lambda f: lambda x: f.adaptive_avg_pool2d(x, (2, 3)), [_randn((1, 2, 5, 4), (9,))]),
    ("batch_norm eval empty batch", _bn(False), [np.zeros((0, 3, 4, 4))]),
    ("batch_norm train empty batch", _bn(True), [np.zeros((0, 3, 4, 4))]),
    ("batch_norm eval no channels", _bn(False), [np.zeros((2, 0, 4, 4))]),
    ("batch_norm train no rows", _bn(True), [np.zeros((2, 3, 0, 4))]),
    ("batch_norm eval NaN", _bn(False), [_randn((2, 3, 2, 2), (1,))]),
    ("batch_norm train NaN", _bn(True), [_randn((2, 3, 2, 2), (1,))]),     # poisons its channel only
    ("local_response_norm empty batch", lambda f: lambda x: f.local_response_norm(x, 3, 1.0), [np.zeros((0, 4, 2, 2))]),
    ("local_response_norm no channels", lambda f: lambda x: f.local_response_norm(x, 3, 1.0), [np.zeros((2, 0, 2, 2))]),
    ("local_response_norm NaN", lambda f: lambda x: f.local_response_norm(x, 3, 1.0), [_randn((1, 5, 2, 2), (8,))]),
    ("dropout empty batch", lambda f: lambda x: f.dropout(x, 0.5), [np.zeros((0, 3, 2))]),
    ("dropout2d empty batch", lambda f: lambda x: f.dropout2d(x, 0.5), [np.zeros((0, 3, 2, 2))]),
    ("dropout eval NaN", lambda f: lambda x: f.dropout(x, 0.5, training=False), [_randn((2, 3), (2,))]),
]


@pytest.mark.filterwarnings("ignore::UserWarning")   # PyTorch's notes on 3-D dropout2d & co.
@pytest.mark.parametrize("make, arrays", [row[1:] for row in RESULTS], ids=[row[0] for row in RESULTS])
def test_empty_and_nan_inputs_give_torch_results(make, arrays):
    compare_with_torch(make(F), make(TF), *arrays)
