"""Running a model for a picture: one image in, eval mode, a layer's output kept, the
gradient of one class score -- and the model left exactly as it was (mode and .grad)."""
import contextlib

import numpy as np

from .. import backend
from ..autograd import Tensor


@contextlib.contextmanager
def eval_mode(model):
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


@contextlib.contextmanager
def grads_kept(model):
    """The model's parameters' ``.grad`` as they were before, whatever backward does inside."""
    before = [(p, p.grad) for p in model.parameters()]
    try:
        yield
    finally:
        for p, grad in before:
            p.grad = grad


def one_image(model, x, op, requires_grad=False):
    """``x`` (C, H, W) or (1, C, H, W), array or Tensor -> a (1, C, H, W) Tensor with the
    model's dtype, on the model's device."""
    x = backend.to_numpy(x.data) if isinstance(x, Tensor) else np.asarray(x)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"minicnn: viz.{op}: expected one image (C, H, W) or (1, C, H, W), "
                         f"got shape {x.shape}")
    return batch_of(model, x, requires_grad)


def batch_of(model, x, requires_grad=False):
    """Images (N, C, H, W) as a Tensor with the model's dtype, on its device."""
    params = list(model.parameters())
    dtype, device = (params[0].dtype, params[0].device) if params else (np.float32, "cpu")
    return Tensor(backend.to_device(np.asarray(x).astype(dtype), device),
                  requires_grad=requires_grad)


def module_named(model, layer):
    modules = dict(model.named_modules())
    if layer not in modules:
        some = ", ".join(repr(n) for n in list(modules)[1:12])
        raise ValueError(f"minicnn: viz: {type(model).__name__} has no layer {layer!r}; "
                         f"names are as in model.named_modules(), e.g. {some}")
    return modules[layer]


def main_output(out):
    """A model's logits (auxiliary heads, as GoogLeNet's in training, are left out)."""
    return out[0] if isinstance(out, tuple) else out


def layer_output(model, x, layer):
    """The output of the module named ``layer`` during ``model(x)`` (its first call, if the
    module runs more than once)."""
    captured = []
    handle = module_named(model, layer).register_forward_hook(
        lambda module, inputs, output: captured.append(main_output(output)))
    try:
        model(x)
    finally:
        handle.remove()
    if not captured:
        raise ValueError(f"minicnn: viz: layer {layer!r} did not run in the forward pass "
                         "(an auxiliary head in eval mode?)")
    return captured[0]


def check_class(target, scores):
    """``target`` (None: the predicted class) as an int inside the model's outputs."""
    target = int(np.argmax(scores)) if target is None else int(target)
    if not 0 <= target < scores.shape[0]:
        raise ValueError(f"minicnn: viz: class {target} is outside the model's "
                         f"{scores.shape[0]} outputs")
    return target


def class_score_backward(model, image, target, capture=None):
    """Run ``model`` on one image in eval mode, backpropagate the score (logit) of class
    ``target`` (None: the predicted class), and return (scores array, target, the output of
    layer ``capture`` with its gradient (``retain_grad``), or None).  The model's own
    ``.grad`` arrays are left as they were."""
    kept = []
    handle = None
    if capture is not None:
        handle = module_named(model, capture).register_forward_hook(
            lambda module, inputs, output: kept.append(main_output(output)))
    try:
        with grads_kept(model), eval_mode(model):
            logits = main_output(model(image))
            if kept:
                kept[0].retain_grad()
            scores = logits.numpy()[0]
            target = check_class(target, scores)
            grad = np.zeros(logits.shape, dtype=logits.dtype)
            grad[0, target] = 1
            logits.backward(backend.to_device(grad, logits.device))
    finally:
        if handle is not None:
            handle.remove()
    if capture is not None and not kept:
        raise ValueError(f"minicnn: viz: layer {capture!r} did not run in the forward pass")
    return scores, target, (kept[0] if kept else None)


def softmax(scores):
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
