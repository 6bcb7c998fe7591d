"""What in the image moves a class score: saliency, CAM and Grad-CAM, occlusion, guided
backprop, the fast-gradient-sign adversarial example, and an image made to maximise a
class (class-model visualisation).  Each returns numbers; each ``*_figure`` draws them
over the image with a colour bar and a title saying which model, weights and class."""
import contextlib
import textwrap
from typing import NamedTuple

import numpy as np

from .. import backend
from ..autograd import Tensor, no_grad
from .figures import check_positive, describe, displayable, map_figure, new_figure, set_title
from .running import (batch_of, check_class, class_score_backward, eval_mode, grads_kept,
                      main_output, one_image, softmax)


# ----- gradients of a class score ------------------------------------------------------------
def saliency(model, x, target=None):
    """A saliency map (Simonyan et al. 2014): how much each pixel moves the score of class
    ``target`` (default: the predicted class), |d score / d pixel|, the largest over the
    colour channels.  ``x``: one image (C, H, W).  Returns an (H, W) array."""
    image = one_image(model, x, "saliency", requires_grad=True)
    class_score_backward(model, image, target)
    return np.abs(image.grad.numpy()[0]).max(axis=0)


def grad_cam(model, x, layer, target=None):
    """Grad-CAM (Selvaraju et al. 2017) of layer ``layer`` (a name from
    ``model.named_modules()``) for class ``target`` (default: the predicted class): each
    feature map A_k of the layer is weighted by the mean of the score's gradient over it,
    alpha_k = mean_ij d score / d A_kij, and the map is relu(sum_k alpha_k A_k), at the
    layer's resolution (h, w): where the layer saw evidence for the class.  With a model
    that pools the last conv layer globally into its classifier this is ``cam``'s map,
    divided by h*w, with negatives set to 0."""
    image = one_image(model, x, "grad_cam", requires_grad=True)
    _, _, activation = class_score_backward(model, image, target, capture=layer)
    if activation.ndim != 4 or activation.grad is None:
        raise ValueError(f"minicnn: viz.grad_cam: layer {layer!r} gives output of shape "
                         f"{activation.shape}; Grad-CAM needs feature maps (N, C, H, W) that the "
                         "score depends on")
    a, g = activation.numpy()[0], activation.grad.numpy()[0]      # (C, h, w) each
    weights = g.mean(axis=(1, 2))                                  # alpha_k
    return np.maximum(np.tensordot(weights, a, axes=1), 0)


@contextlib.contextmanager
def guided_relus():
    """Inside this block every ReLU's backward is "guided" (Springenberg et al. 2015): it
    passes a gradient only where the ReLU's input was positive (as always) AND the gradient
    arriving from above is positive.  The ReLU op itself is switched, not the modules, so
    ReLUs called as ``F.relu`` inside a forward (GoogLeNet, DenseNet) are guided too."""
    from ..functional import activation
    plain = activation.ReLU.backward

    def guided(self, g):                     # g: the gradient of the ReLU's output
        return plain(self, backend.get_array_module(g).maximum(g, 0))
    activation.ReLU.backward = guided
    try:
        yield
    finally:
        activation.ReLU.backward = plain


def guided_backprop(model, x, target=None):
    """Guided backpropagation (Springenberg et al. 2015): the gradient of class
    ``target``'s score (default: the predicted class) with respect to the image, with
    every ReLU guided (``guided_relus``): only evidence *for* the class flows back, which
    gives sharper, image-like pictures than the plain gradient.  Returns (C, H, W), signed.
    Other activations (ReLU6, LeakyReLU) pass their plain gradient.

    Args:
        model (nn.Module): a classifier.
        x (array or Tensor): one image, (C, H, W) or (1, C, H, W).
        target (int, optional): the class. Default: ``None`` (the predicted class)

    Returns:
        numpy.ndarray: the guided gradient, (C, H, W).

    Example::

        >>> mc.manual_seed(0)
        >>> model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(32, 3))
        >>> mc.viz.guided_backprop(model, np.ones((1, 6, 6)), target=1).shape
        (1, 6, 6)
    """
    image = one_image(model, x, "guided_backprop", requires_grad=True)
    with guided_relus():
        class_score_backward(model, image, target)
    return image.grad.numpy()[0]


# ----- CAM: the classifier's weights over the last feature maps ---------------------------------
class ClassActivationMap(NamedTuple):
    map: np.ndarray        # (h, w): sum_k w[target, k] * A_k, signed
    layer: str             # the module whose maps A_k (k = 1..C) are pooled into the classifier
    classifier: str        # the Linear layer whose weights w (classes, C) weigh them
    target: int


def cam(model, x, target=None):
    """The class activation map (Zhou et al. 2016) of a model that ends in global average
    pooling and one Linear layer (ResNet, GoogLeNet, DenseNet, ...): score_c = sum_k
    w[c, k] mean_ij A_kij + b_c, so the map sum_k w[c, k] A_k (h, w) says where each
    location adds to the score (its mean plus b_c is the score).  The last Linear layer
    that runs is the classifier; the pooled layer is the last feature maps (h, w > 1)
    whose spatial mean is that layer's input -- found by running the model, so a model
    without that shape gets a clear error (use ``grad_cam``).

    Args:
        model (nn.Module): a classifier ending in global average pooling and a Linear layer.
        x (array or Tensor): one image, (C, H, W) or (1, C, H, W).
        target (int, optional): the class. Default: ``None`` (the predicted class)

    Returns:
        ClassActivationMap: the map (h, w), the pooled layer's and the classifier's names,
        the class.

    Example::

        >>> mc.manual_seed(0)
        >>> model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
        ...                       nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5))
        >>> found = mc.viz.cam(model, np.ones((3, 6, 6)), target=2)
        >>> found.map.shape, found.layer, found.classifier
        ((6, 6), '1', '4')
    """
    from ..nn import Linear
    names = {id(m): name for name, m in model.named_modules()}
    maps, classifier_inputs = [], []
    hooks = [m.register_forward_hook(lambda m, i, out: maps.append((names[id(m)], main_output(out))))
             for m in model.modules() if m is not model]
    hooks += [m.register_forward_hook(lambda m, i, out: classifier_inputs.append((names[id(m)], m, i[0])))
              for m in model.modules() if isinstance(m, Linear)]
    try:
        with no_grad(), eval_mode(model):
            scores = main_output(model(one_image(model, x, "cam"))).numpy()[0]
    finally:
        for handle in hooks:
            handle.remove()
    if not classifier_inputs:
        raise ValueError(f"minicnn: viz.cam: {type(model).__name__} has no Linear layer to take "
                         "the class weights from; use viz.grad_cam")
    target = check_class(target, scores)
    classifier, linear, pooled = classifier_inputs[-1]
    pooled = pooled.numpy().reshape(-1)
    w = backend.to_numpy(linear.weight.data)[target]                     # (C,)
    for name, out in reversed(maps):
        if out.ndim != 4 or out.shape[2] * out.shape[3] == 1 or out.shape[1] != pooled.size:
            continue
        a = out.numpy()[0]                                                # (C, h, w)
        # the maps may pass a functional ReLU on the way to the pool (DenseNet's F.relu)
        for label, maps_k in ((name, a), (f"relu({name})", np.maximum(a, 0))):
            if np.allclose(maps_k.mean(axis=(1, 2)), pooled, rtol=1e-4, atol=1e-6):
                return ClassActivationMap(np.tensordot(w, maps_k, axes=1), label, classifier,
                                          target)
    raise ValueError(f"minicnn: viz.cam: the input of {type(model).__name__}'s classifier "
                     f"{classifier!r} is not the global average of any layer's feature maps, so "
                     "CAM does not apply (it needs global average pooling then one Linear); use "
                     "viz.grad_cam, which works for any layer")


# ----- occlusion ------------------------------------------------------------------------------------
class Occlusion(NamedTuple):
    probability: np.ndarray   # (rows, cols): the class's probability with the patch at each place
    baseline: float           # its probability without a patch
    target: int
    size: int                 # the patch's side
    stride: int               # the step between patch positions (rows and columns)


def occlusion(model, x, target=None, size=None, stride=None, value=0.0, batch_size=32):
    """Occlusion sensitivity (Zeiler & Fergus 2014): cover a ``size`` x ``size`` square of
    the image with ``value`` (0: the mean pixel, after normalisation), at every
    ``stride``-th row and column, and record the softmax probability of class ``target``
    (default: the predicted class).  Where the probability falls, the network was
    looking.  Defaults: size = a quarter of the shorter side, stride = half the size.
    Patch (i, j) covers rows i*stride .. i*stride+size-1 and the same columns.

    Args:
        model (nn.Module): a classifier.
        x (array or Tensor): one image, (C, H, W) or (1, C, H, W).
        target (int, optional): the class. Default: ``None`` (the predicted class)
        size (int, optional): the patch's side. Default: ``None`` (min(H, W) // 4, at least 1)
        stride (int, optional): the step between places. Default: ``None`` (size // 2, at least 1)
        value (float, optional): what the patch holds. Default: ``0.0``
        batch_size (int, optional): occluded images per forward pass. Default: ``32``

    Returns:
        Occlusion: the probabilities (rows, cols), the probability without a patch, the
        class, the size and the stride.

    Example::

        >>> mc.manual_seed(0)
        >>> model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(32, 3))
        >>> found = mc.viz.occlusion(model, np.ones((1, 6, 6)), size=2, stride=2)
        >>> found.probability.shape      # patches at rows and columns 0, 2, 4
        (3, 3)
    """
    image = one_image(model, x, "occlusion").numpy()[0]            # (C, H, W)
    H, W = image.shape[1:]
    size = size if size is not None else max(1, min(H, W) // 4)
    stride = stride if stride is not None else max(1, size // 2)
    check_positive("viz.occlusion", size=size, stride=stride, batch_size=batch_size)
    if size > min(H, W):
        raise ValueError(f"minicnn: viz.occlusion: the patch ({size}x{size}) is larger than the "
                         f"image ({H}x{W})")
    tops, lefts = range(0, H - size + 1, stride), range(0, W - size + 1, stride)
    places = [(r, c) for r in tops for c in lefts]
    with no_grad(), eval_mode(model):
        baseline = softmax(main_output(model(batch_of(model, image[None]))).numpy()[0])
        target = check_class(target, baseline)
        probability = []
        for start in range(0, len(places), batch_size):
            batch = np.repeat(image[None], len(places[start:start + batch_size]), axis=0)
            for covered, (r, c) in zip(batch, places[start:start + batch_size]):
                covered[:, r:r + size, c:c + size] = value
            logits = main_output(model(batch_of(model, batch))).numpy()
            probability.extend(softmax(logits)[:, target])
    return Occlusion(np.array(probability).reshape(len(tops), len(lefts)),
                     float(baseline[target]), target, size, stride)


# ----- adversarial examples and class models: changing the image ----------------------------------
def adversarial(model, x, target, epsilon):
    """An adversarial example by the fast gradient sign method (Goodfellow et al. 2015):
    x + epsilon * sign(d loss / d x), the loss being the cross entropy of class ``target``
    (the true class).  A step too small to see can change the prediction.  Returns the new
    image (C, H, W) and the predicted classes before and after."""
    from .. import functional as F
    image = one_image(model, x, "adversarial", requires_grad=True)
    with grads_kept(model), eval_mode(model):
        logits = main_output(model(image))
        before = int(np.argmax(logits.numpy()[0]))
        F.cross_entropy(logits, Tensor(np.array([int(target)]))).backward()
    step = float(epsilon) * np.sign(image.grad.numpy()[0])
    moved = image.numpy()[0] + step.astype(image.dtype)
    with eval_mode(model), no_grad():
        after = int(np.argmax(main_output(model(one_image(model, moved, "adversarial"))).numpy()[0]))
    return moved, before, after


def class_model(model, target, input_size, steps=200, lr=0.1, l2=1.0, x=None):
    """Class-model visualisation (Simonyan et al. 2014): the image I that maximises
    S_c(I) - l2 * ||I||^2, S_c being the score (logit, not the probability) of class
    ``target``, found by ``steps`` steps of gradient ascent from ``x`` (default: zeros,
    the mean image after normalisation) of size ``input_size`` (C, H, W):
    I <- I + lr * (dS_c/dI - 2 * l2 * I).  The L2 term keeps I from growing without bound
    along the directions the score likes.  The model runs in eval mode and its weights and
    ``.grad`` are untouched.

    Args:
        model (nn.Module): a classifier.
        target (int): the class.
        input_size (tuple): (C, H, W) of the image.
        steps (int, optional): gradient-ascent steps. Default: ``200``
        lr (float, optional): the step size. Default: ``0.1``
        l2 (float, optional): the weight of ||I||^2. Default: ``1.0``
        x (array, optional): the starting image. Default: ``None`` (zeros)

    Returns:
        numpy.ndarray: the image I, (C, H, W).

    Example::

        >>> mc.manual_seed(0)             # a linear score w . I: the optimum is w / (2 l2)
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2)).to(np.float64)
        >>> image = mc.viz.class_model(model, 1, (1, 2, 2), steps=300, lr=0.5, l2=0.5)
        >>> np.allclose(image.ravel(), model[1].weight.numpy()[1])
        True
    """
    check_positive("viz.class_model", steps=steps)
    image = np.zeros(tuple(input_size)) if x is None else np.array(x, dtype=np.float64)
    image = one_image(model, image, "class_model").numpy()[0]
    for _ in range(steps):
        current = one_image(model, image, "class_model", requires_grad=True)
        class_score_backward(model, current, target)
        image = image + lr * (current.grad.numpy()[0] - 2 * l2 * image)
    return image


# ----- the figures ------------------------------------------------------------------------------
def _class_line(model, x, target):
    """"class 3: score 1.23, probability 0.45 (predicted: 3)" for the title."""
    with no_grad(), eval_mode(model):
        scores = main_output(model(one_image(model, x, "figure"))).numpy()[0]
    target = check_class(target, scores)
    p = softmax(scores)
    return target, (f"class {target}: score {scores[target]:.3g}, probability {p[target]:.2f} "
                    f"(predicted: {int(np.argmax(scores))})")


def saliency_figure(model, x, target=None, about=None):
    """The image and its saliency map (``saliency``), with a colour bar of |d score / d pixel|."""
    target, line = _class_line(model, x, target)
    return map_figure(x, [(saliency(model, x, target), "saliency |d score / d pixel|, max "
                           "over colours", "magma", False)],
                      [f"Saliency, {line}", about or describe(model)])


def grad_cam_figure(model, x, layer, target=None, about=None):
    """The image and the Grad-CAM map of ``layer`` (``grad_cam``) stretched over it."""
    target, line = _class_line(model, x, target)
    heat = grad_cam(model, x, layer, target)
    return map_figure(x, [(heat, f"Grad-CAM of {layer} ({heat.shape[0]}x{heat.shape[1]})",
                           "jet", False)], [f"Grad-CAM, {line}", about or describe(model)])


def cam_figure(model, x, target=None, about=None):
    """The image and its class activation map (``cam``), signed, red adding to the score."""
    target, line = _class_line(model, x, target)
    found = cam(model, x, target)
    h, w = found.map.shape
    return map_figure(x, [(found.map, f"CAM: {found.classifier} weights x {found.layer} maps "
                           f"({h}x{w}); red adds to the score", "bwr", True)],
                      [f"Class activation map, {line}", about or describe(model)])


def occlusion_figure(model, x, target=None, size=None, stride=None, value=0.0, about=None):
    """The image and the class's probability with the patch centred at each place (a blue
    spot: covering it lowers the probability), with a colour bar of probabilities."""
    found = occlusion(model, x, target, size, stride, value)
    _, line = _class_line(model, x, found.target)
    H, W = np.shape(one_image(model, x, "occlusion"))[2:]
    rows, cols = found.probability.shape
    s, d = found.size, found.stride
    # the value of patch (i, j) sits at its centre: rows i*d + (s-1)/2
    extent = ((s - 1) / 2 - d / 2, (s - 1) / 2 + (cols - 1) * d + d / 2,
              (s - 1) / 2 + (rows - 1) * d + d / 2, (s - 1) / 2 - d / 2)
    return map_figure(x, [(found.probability, f"probability of class {found.target} with a "
                           f"{s}x{s} patch (value {value:g}) centred here, stride {d}; "
                           f"without: {found.baseline:.2f}", "viridis", False, extent)],
                      [f"Occlusion sensitivity, {line}", about or describe(model)])


def guided_backprop_figure(model, x, target=None, about=None):
    """The image and its guided-backprop gradient, shown as an image (0 = mid-grey)."""
    target, line = _class_line(model, x, target)
    g = guided_backprop(model, x, target)
    top = np.abs(g).max() or 1.0
    fig = _images_figure([("input", displayable(x)),
                          (f"guided backprop (grey = 0, +-{top:.2g} = white/black)",
                           _centred(g / top))],
                         [f"Guided backprop, {line}", about or describe(model)])
    return fig


def class_model_figure(model, targets, input_size, steps=200, lr=0.1, l2=1.0, about=None):
    """The image that maximises each class's score (``class_model``), one panel per class
    in ``targets`` (an int or a list), all on one grey scale (grey = 0), with the score
    each image reaches."""
    targets = [targets] if np.ndim(targets) == 0 else list(targets)
    images = [class_model(model, t, input_size, steps, lr, l2) for t in targets]
    top = max(float(np.abs(i).max()) for i in images) or 1.0
    panels = []
    for t, image in zip(targets, images):
        with no_grad(), eval_mode(model):
            scores = main_output(model(one_image(model, image, "class_model_figure"))).numpy()[0]
        panels.append((f"class {t}: score {scores[t]:.3g}, p {softmax(scores)[t]:.2f}",
                       _centred(image / top)))
    return _images_figure(panels, [f"Class models: gradient ascent on the image, {steps} steps, "
                                   f"lr {lr:g}, L2 {l2:g}; one scale, grey = 0, black/white = "
                                   f"-+{top:.2g}", about or describe(model)], width=2.2)


def adversarial_figure(model, x, target, epsilon, about=None):
    """The image, the fast-gradient-sign step and the result, with both predictions."""
    moved, before, after = adversarial(model, x, target, epsilon)
    _, first = _class_line(model, x, target)
    _, second = _class_line(model, moved, target)
    low, high = float(np.min(x)), float(np.max(x))
    shown = [np.clip((a - low) / (high - low or 1.0), 0, 1) for a in (np.asarray(x), moved)]
    as_image = (lambda a: a.transpose(1, 2, 0) if a.shape[0] == 3 else a.mean(axis=0))
    return _images_figure([(f"before: {first}", as_image(shown[0])),
                           (f"+ {epsilon:g} x sign(gradient)",
                            _centred(np.sign(moved - np.asarray(x, dtype=moved.dtype)))),
                           (f"after: {second}", as_image(shown[1]))],
                          [f"Fast gradient sign, true class {target}: predicted {before} -> "
                           f"{after} (both images on the first one's scale)",
                           about or describe(model)])


def _centred(a):
    """A signed (C, H, W) array in [-1, 1] as an image around mid-grey: (H, W, 3) or (H, W)."""
    a = 0.5 + 0.5 * np.clip(np.asarray(a, dtype=np.float64), -1, 1)
    return a.transpose(1, 2, 0) if a.shape[0] == 3 else a.mean(axis=0)


def _images_figure(panels, title_lines, width=3.4):
    """Images side by side, each (caption, (H, W) or (H, W, 3) in [0, 1]), ``width``
    inches each; more than 5 wrap into rows of 5."""
    columns = min(len(panels), 5)
    rows = -(-len(panels) // columns)
    fig = new_figure(max(4.0, width * columns), (width + 0.5) * rows + 0.8)
    for i, (caption, image) in enumerate(panels):
        ax = fig.add_subplot(rows, columns, i + 1)
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1,
                  interpolation="nearest")
        ax.set_title(textwrap.fill(caption, int(width * 14)), fontsize=8)
        ax.axis("off")
    set_title(fig, *title_lines)
    return fig
