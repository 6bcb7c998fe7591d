"""Helpers for comparing minicnn with PyTorch (the tests use them; learners can too), and
activation checkpointing (``checkpoint``, ``checkpoint_sequential``, from
minicnn/activation_checkpoint.py: ``torch.utils.checkpoint``'s names).

PyTorch is imported only by the functions that need it, so minicnn never depends on it.
"""
import numpy as np

from . import backend
from .activation_checkpoint import checkpoint, checkpoint_sequential  # noqa: F401
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


def to_torch(x, requires_grad=False, device="cpu"):
    """A torch tensor on ``device`` with the same values and dtype as a minicnn Tensor or array."""
    import torch
    t = torch.from_numpy(np.array(as_numpy(x), copy=True)).to(device)
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
    # NaN must meet NaN and an infinity the same infinity; everything else the tolerance
    agree = (np.isnan(a64) & np.isnan(e64)) | (np.isinf(e64) & (a64 == e64))
    with np.errstate(invalid="ignore"):             # inf - inf: those are in `agree`
        excess = np.abs(a64 - e64) - (atol + rtol * np.abs(e64))
    excess = np.where(agree, -np.inf, np.where(np.isnan(excess), np.inf, excess))
    bad = excess > 0
    if bad.any():
        idx = tuple(int(i) for i in np.unravel_index(np.argmax(excess), a.shape))
        raise AssertionError(
            f"{name}: {bad.sum()} of {a.size} elements differ beyond rtol={rtol}, "
            f"atol={atol}; worst at {idx}: got {a64[idx]!r}, expected {e64[idx]!r} "
            f"(abs diff {abs(a64[idx] - e64[idx]):.3e})")


def compare_with_torch(mc_fn, torch_fn, *arrays, dtype=None, rtol=None, atol=None, seed=0,
                       grad_inputs=None, device="cpu"):
    """Run ``mc_fn`` and ``torch_fn`` on the same inputs; compare outputs and input gradients.

    ``arrays`` are NumPy arrays or None.  Floating arrays are cast to ``dtype`` (if given) and
    require grad; integer ones, such as class targets, are passed unchanged, and None (say an
    absent bias) is passed as None: neither gets a gradient.  ``grad_inputs`` lists the
    positions that require grad instead (``[]``: compare the forward only).  Both sides get
    the inputs on ``device``: "cpu", or "cuda" for CuPy arrays and CUDA torch tensors.

    The functions return a tensor or a tuple, such as max pooling's (values, indices); every
    output must match torch's in device, shape, dtype and values (integer outputs exactly).
    The backward pass starts from the first output with a random upstream gradient, so a
    backward that ignores ``grad_out`` cannot pass; then the gradient of every input in
    ``grad_inputs`` is compared.  Returns (minicnn output, torch output) for further checks.
    """
    rng = np.random.default_rng(seed)
    device = backend.normalize_device(device)
    # astype(copy=False) keeps non-contiguous views non-contiguous: callers test those too
    arrays = [a.astype(dtype or a.dtype, copy=False) if _is_float(a) else a for a in arrays]
    if grad_inputs is None:
        grad_inputs = [i for i, a in enumerate(arrays) if _is_float(a)]
    mc_in = [None if a is None else Tensor(backend.to_device(np.asarray(a), device),
                                           requires_grad=i in grad_inputs)
             for i, a in enumerate(arrays)]
    th_in = [None if a is None else to_torch(a, i in grad_inputs, device)
             for i, a in enumerate(arrays)]
    out, expected = mc_fn(*mc_in), torch_fn(*th_in)
    outs, expecteds = _as_tuple(out), _as_tuple(expected)
    assert len(outs) == len(expecteds), f"{len(outs)} outputs, torch gives {len(expecteds)}"
    for k, (o, e) in enumerate(zip(outs, expecteds)):
        name = "forward" if len(outs) == 1 else f"output {k}"
        assert o.device == device, f"{name}: on {o.device}, expected {device}"
        e = as_numpy(e)
        assert o.dtype == e.dtype, f"{name}: dtype {o.dtype}, torch gives {e.dtype}"
        exact = o.dtype.kind != "f"            # indices, counts: no rounding, no gradient
        assert not (exact and o.requires_grad), f"{name}: an integer output requires grad"
        assert_close(o, e, 0 if exact else rtol, 0 if exact else atol, name=name)
    if grad_inputs:
        g = rng.standard_normal(outs[0].shape).astype(outs[0].dtype)
        outs[0].backward(backend.to_device(g, device))
        expecteds[0].backward(to_torch(g, device=device))
        for i in grad_inputs:
            zeros = np.zeros(arrays[i].shape, arrays[i].dtype)     # an input the output ignores
            got = zeros if mc_in[i].grad is None else mc_in[i].grad
            want = zeros if th_in[i].grad is None else th_in[i].grad
            assert_close(got, want, rtol, atol, name=f"gradient of input {i}")
    return out, expected


def _is_float(a):
    return a is not None and np.asarray(a).dtype.kind == "f"


def _as_tuple(output):
    return output if isinstance(output, tuple) else (output,)
