"""Helpers for comparing minicnn with PyTorch (the tests use them; learners can too).

PyTorch is imported only by the functions that need it, so minicnn never depends on it.
"""
import numpy as np

from . import backend
from .autograd import Tensor

# Default comparison tolerances per dtype: float64 should agree to rounding error;
# float32 accumulates ~1e-7 relative error per operation, so deep graphs need more room.
TOLERANCES = {np.dtype(np.float64): dict(rtol=1e-10, atol=1e-12),
              np.dtype(np.float32): dict(rtol=1e-4, atol=1e-5)}


def as_numpy(x):
    """A NumPy array from a minicnn Tensor, a torch tensor, a CuPy or NumPy array, or a number."""
    if isinstance(x, Tensor):
        return x.numpy()
    if type(x).__module__.startswith("torch"):
        return x.detach().cpu().numpy()
    if type(x).__module__.startswith("cupy"):
        return backend.to_numpy(x)
    return np.asarray(x)


def to_torch(x, requires_grad=False):
    """A torch tensor with the same values (and dtype) as a minicnn Tensor or array."""
    import torch
    t = torch.from_numpy(np.array(as_numpy(x), copy=True))
    return t.requires_grad_(requires_grad)


def assert_close(actual, expected, rtol=None, atol=None, name="value"):
    """Like numpy.testing.assert_allclose, but the message names the worst element.

    Tolerances default to ``TOLERANCES`` for the dtype of ``actual``.
    """
    a, e = as_numpy(actual), as_numpy(expected)
    if a.shape != e.shape:
        raise AssertionError(f"{name}: shape {a.shape} != expected {e.shape}")
    defaults = TOLERANCES.get(a.dtype, TOLERANCES[np.dtype(np.float32)])
    rtol = defaults["rtol"] if rtol is None else rtol
    atol = defaults["atol"] if atol is None else atol
    a64, e64 = a.astype(np.float64), e.astype(np.float64)
    excess = np.abs(a64 - e64) - (atol + rtol * np.abs(e64))
    if a.size and (excess > 0).any() or np.isnan(a64).sum() != np.isnan(e64).sum():
        idx = np.unravel_index(np.nanargmax(excess), a.shape)
        raise AssertionError(
            f"{name}: {(excess > 0).sum()} of {a.size} elements differ beyond rtol={rtol}, "
            f"atol={atol}; worst at {idx}: got {a64[idx]!r}, expected {e64[idx]!r} "
            f"(abs diff {abs(a64[idx] - e64[idx]):.3e})")


def compare_with_torch(mc_fn, torch_fn, *arrays, dtype=np.float64, rtol=None, atol=None,
                       seed=0, grad_inputs=None):
    """Run ``mc_fn`` and ``torch_fn`` on the same inputs; compare outputs and input gradients.

    ``arrays`` are NumPy arrays (floating ones are cast to ``dtype``; integer ones, such as
    class targets, are passed unchanged and get no gradient).  ``grad_inputs`` lists the
    positions that require grad (default: every floating input).  The backward pass uses a
    random upstream gradient, so a backward that ignores ``grad_out`` cannot pass.
    Returns (minicnn output, torch output) for further checks.
    """
    rng = np.random.default_rng(seed)
    # astype(copy=False) keeps non-contiguous views non-contiguous: callers test those too
    arrays = [a.astype(dtype, copy=False) if np.asarray(a).dtype.kind == "f" else np.asarray(a)
              for a in arrays]
    if grad_inputs is None:
        grad_inputs = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    mc_in = [Tensor(a, requires_grad=i in grad_inputs) for i, a in enumerate(arrays)]
    th_in = [to_torch(a, requires_grad=i in grad_inputs) for i, a in enumerate(arrays)]
    out, expected = mc_fn(*mc_in), torch_fn(*th_in)
    assert_close(out, expected, rtol, atol, name="forward")
    if grad_inputs and out.requires_grad:
        g = rng.standard_normal(out.shape).astype(out.dtype)
        out.backward(g)
        expected.backward(to_torch(g))
        for i in grad_inputs:
            got = mc_in[i].grad if mc_in[i].grad is not None else np.zeros(arrays[i].shape, dtype)
            want = th_in[i].grad if th_in[i].grad is not None else np.zeros(arrays[i].shape, dtype)
            assert_close(got, want, rtol, atol, name=f"gradient of input {i}")
    return out, expected
