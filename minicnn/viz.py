"""mc.viz: look inside a network -- its autograd graph, its filters, its feature maps and
the receptive field of one unit.

    dot = mc.viz.graph(loss, params=dict(model.named_parameters()))   # Graphviz DOT text
    mc.viz.render(dot, "graph.svg")                  # needs Graphviz's `dot` program
    mc.viz.filters(model.features[0]).savefig("conv1.png")
    mc.viz.feature_maps(model, image, "features.3").savefig("maps.png")
    mc.viz.receptive_field(model, (1, 8, 8), "features.2", (4, 4)).savefig("rf.png")

The figures are matplotlib ``Figure`` objects drawn on the Agg canvas: no window opens,
and pyplot's global state (and the caller's backend) is left alone.  matplotlib is
imported only inside the functions that draw, so ``import minicnn`` does not need it.
"""
import contextlib
import math
import os
import shutil
import subprocess
from typing import NamedTuple

import numpy as np

from . import backend
from .autograd import Tensor, _reverse_topological_order, no_grad
from .io.files import atomic_path
from .summary import summary


# ----- the autograd graph ------------------------------------------------------------
def graph(tensor, params=None):
    """The autograd graph behind ``tensor`` as Graphviz DOT source (a string).

    One box per op -- its ``grad_fn.name()`` and output shape -- and one node per leaf
    that requires grad, with its shape.  ``params`` (``dict(model.named_parameters())``
    or the model itself) names the parameters.  Arrows run the way the data flows in the
    forward pass; backward walks them in reverse.  Inputs that need no gradient (a batch
    of images, class targets) are not part of the graph and are not drawn.
    """
    if not isinstance(tensor, Tensor) or tensor.grad_fn is None:
        raise ValueError("minicnn: viz.graph: expected a Tensor computed by ops from tensors "
                         "that require grad (it has a grad_fn); got one without a graph (a leaf, "
                         "or computed under no_grad())")
    if params is not None and not isinstance(params, dict):
        params = dict(params.named_parameters())
    names = {id(p): name for name, p in (params or {}).items()}
    order = list(_reverse_topological_order(tensor.grad_fn))[::-1]     # inputs first
    node = {id(n): f"n{i}" for i, n in enumerate(order)}
    lines = ["digraph autograd {", '  node [fontname="Helvetica", fontsize=10];']
    for n in order:
        if isinstance(n, Tensor):           # a leaf: a parameter or a tensor the user made
            colour = "lightblue" if id(n) in names else "lightgrey"
            label = f"{names.get(id(n), 'tensor')}\\n{n.shape}"
            lines.append(f'  {node[id(n)]} [label="{_escape(label)}", shape=box, style=filled, '
                         f"fillcolor={colour}];")
            continue
        colour = "darkolivegreen1" if n is tensor.grad_fn else "white"    # the output stands out
        lines.append(f'  {node[id(n)]} [label="{n.name()}\\n{n.output_shape}", shape=box, '
                     f'style="rounded,filled", fillcolor={colour}];')
        for parent in n.parents:
            if parent is not None:
                lines.append(f"  {node[id(parent)]} -> {node[id(n)]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _escape(label):
    return label.replace('"', '\\"')


class GraphvizNotFound(RuntimeError):
    """Raised by ``render`` when Graphviz's ``dot`` program is not installed."""


def render(dot, path):
    """Draw DOT source into ``path``; the extension picks the format (.svg, .png, .pdf),
    and ``.dot``/``.gv`` writes the source itself.  Drawing needs Graphviz's ``dot``
    program; without it the source is written next to ``path`` (as ``.dot``) and
    ``GraphvizNotFound`` says how to view it.  Returns ``path``."""
    path = os.fspath(path)
    stem, ext = os.path.splitext(path)
    ext = ext.lower().lstrip(".")
    if ext in ("dot", "gv"):
        _write_text(path, dot)
        return path
    if ext not in ("svg", "png", "pdf"):
        raise ValueError(f"minicnn: viz.render: cannot tell the format from {path!r}; "
                         "end the name in .svg, .png, .pdf or .dot")
    program = shutil.which("dot")
    if program is None:
        source = _write_text(stem + ".dot", dot)
        raise GraphvizNotFound(
            f"minicnn: viz.render: Graphviz's `dot` program is not installed, so {path} was not "
            f"drawn. The graph's DOT source is in {source}: paste it into an online viewer "
            "(e.g. https://dreampuf.github.io/GraphvizOnline), or install Graphviz "
            "(apt install graphviz / brew install graphviz / conda install graphviz) and run "
            f"`dot -T{ext} {source} -o {path}`")
    with atomic_path(path) as tmp:         # a failed or cut-short drawing leaves no half file
        done = subprocess.run([program, f"-T{ext}", "-o", tmp], input=dot.encode(),
                              capture_output=True)
        if done.returncode != 0:
            raise RuntimeError(f"minicnn: viz.render: `dot` failed on {path}: "
                               f"{done.stderr.decode(errors='replace').strip()}")
    return path


def _write_text(path, text):
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    return path


# ----- filters and feature maps --------------------------------------------------------
def filters(weight, channel=None, scale="filter", max_filters=64, max_channels=8, title=None):
    """A grid of a convolution's filters, ``weight`` (O, C, kh, kw) (or the Conv2d layer).

    Filters with 3 input channels (a first layer on RGB images) are drawn in colour, one
    tile per filter; with 1 channel, or one chosen ``channel``, in grey, one tile per
    filter; otherwise one row per filter and one grey tile per input channel (at most
    ``max_channels`` of them).  At most ``max_filters`` filters are drawn.
    ``scale="filter"`` stretches each filter to the full grey/colour range on its own
    (shapes are visible even in weak filters); ``"layer"`` uses one range for the whole
    layer (strengths compare).
    """
    w = weight.weight if hasattr(weight, "weight") else weight
    w = backend.to_numpy(w.data if isinstance(w, Tensor) else np.asarray(w)).astype(np.float64)
    if w.ndim != 4:
        raise ValueError(f"minicnn: viz.filters: expected a conv weight (C_out, C_in, kh, kw), "
                         f"got shape {w.shape}")
    O, C = w.shape[:2]
    _check_positive("viz.filters", max_filters=max_filters, max_channels=max_channels)
    if channel is not None:
        if not 0 <= channel < C:
            raise ValueError(f"minicnn: viz.filters: channel {channel} out of range for "
                             f"{C} input channels")
        w = w[:, channel:channel + 1]
    w = w[:max_filters]
    what = f"{O} filters {'x'.join(map(str, w.shape[1:]))}"
    over = _range_axes(scale, "filter", axes=(1, 2, 3))
    if w.shape[1] == 3:                     # RGB: (O, kh, kw, 3) colour tiles
        tiles, columns = _normalise(w, over).transpose(0, 2, 3, 1), None
    elif w.shape[1] == 1:
        tiles, columns = _normalise(w, over)[:, 0], None
    else:                                   # one row per filter, one tile per channel
        w = w[:, :max_channels]
        tiles, columns = _normalise(w, over).reshape((-1,) + w.shape[2:]), w.shape[1]
        what += f", input channels 0-{w.shape[1] - 1} of {C} in each row"
    if len(w) < O:
        what += f" (first {len(w)} shown)"
    return _tile_figure(tiles, columns, title or what)


def feature_maps(model, x, layer, max_maps=64, scale="map", title=None):
    """The activations of the module named ``layer`` (as in ``model.named_modules()``) for
    one image ``x`` (C, H, W) or (1, C, H, W): one grey tile per channel, at most
    ``max_maps``.  The model runs in eval mode without a graph (its mode is restored).
    ``scale="map"`` stretches each map on its own; ``"layer"`` shares one range.
    """
    _check_positive("viz.feature_maps", max_maps=max_maps)
    with no_grad(), _eval_mode(model):
        out = _layer_output(model, _one_image(model, x, "feature_maps"), layer)
    if out.ndim != 4:
        raise ValueError(f"minicnn: viz.feature_maps: layer {layer!r} gives output of shape "
                         f"{out.shape}, not feature maps (N, C, H, W)")
    maps = out.numpy()[0].astype(np.float64)                   # (C, H, W)
    shown = maps[:max_maps]
    what = f"{layer}: {len(maps)} maps {maps.shape[1]}x{maps.shape[2]}"
    if len(shown) < len(maps):
        what += f" (first {len(shown)} shown)"
    over = _range_axes(scale, "map", axes=(1, 2))
    return _tile_figure(_normalise(shown, over), None, title or what)


def _range_axes(scale, own, axes):
    """The axes along which one display range is taken: ``own`` (each filter or map on
    its own) -> ``axes``; "layer" (one range for everything) -> None."""
    if scale == own:
        return axes
    if scale == "layer":
        return None
    raise ValueError(f"minicnn: viz: scale must be {own!r} (each on its own range) or 'layer' "
                     f"(one range for the whole layer), got {scale!r}")


def _normalise(a, axes):
    """Map values to [0, 1] for display, one range along ``axes`` (None: over everything).
    A constant tile becomes mid-grey."""
    low, high = a.min(axis=axes, keepdims=True), a.max(axis=axes, keepdims=True)
    span = high - low
    return np.where(span > 0, (a - low) / np.where(span > 0, span, 1), 0.5)


def _check_positive(op, **limits):
    for name, value in limits.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"minicnn: {op}: {name} must be a positive int, got {value!r}")


def _tile_figure(tiles, columns, title):
    """One small image Axes per tile: (n, h, w) grey or (n, h, w, 3) colour in [0, 1].
    ``columns`` fixes the grid width (one row per filter); else the grid is about square."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    n = len(tiles)
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    fig = Figure(figsize=(min(1.2 * columns, 16), min(1.2 * rows, 16) + 0.6), dpi=100)
    FigureCanvasAgg(fig)
    for i, tile in enumerate(tiles):
        ax = fig.add_subplot(rows, columns, i + 1)
        ax.imshow(tile, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    return fig


# ----- running a model up to one layer -------------------------------------------------
@contextlib.contextmanager
def _eval_mode(model):
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _one_image(model, x, op, requires_grad=False):
    """``x`` (C, H, W) or (1, C, H, W), array or Tensor -> a (1, C, H, W) Tensor with the
    model's dtype, on the model's device."""
    x = backend.to_numpy(x.data) if isinstance(x, Tensor) else np.asarray(x)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"minicnn: viz.{op}: expected one image (C, H, W) or (1, C, H, W), "
                         f"got shape {x.shape}")
    params = list(model.parameters())
    dtype, device = (params[0].dtype, params[0].device) if params else (np.float32, "cpu")
    return Tensor(backend.to_device(x.astype(dtype), device), requires_grad=requires_grad)


def _layer_output(model, x, layer):
    """The output of the module named ``layer`` during ``model(x)`` (its first call, if the
    module runs more than once)."""
    modules = dict(model.named_modules())
    if layer not in modules:
        some = ", ".join(repr(n) for n in list(modules)[1:12])
        raise ValueError(f"minicnn: viz: {type(model).__name__} has no layer {layer!r}; "
                       f"names are as in model.named_modules(), e.g. {some}")
    captured = []
    handle = modules[layer].register_forward_hook(
        lambda module, inputs, output: captured.append(
            output[0] if isinstance(output, tuple) else output))
    try:
        model(x)
    finally:
        handle.remove()
    if not captured:
        raise ValueError(f"minicnn: viz: layer {layer!r} did not run in the forward pass "
                         "(an auxiliary head in eval mode?)")
    return captured[0]


# ----- what a trained CNN looks at: gradients of a class score ----------------------------
def _class_score_backward(model, image, target, capture=None):
    """Run ``model`` on one image in eval mode, backpropagate the score (logit) of class
    ``target`` (None: the predicted class), and return (logits array, target).  ``capture``:
    a layer name whose output is kept, with its gradient (``retain_grad``), and returned too.
    The model's own ``.grad`` arrays are left as they were."""
    grads_before = [(p, p.grad) for p in model.parameters()]
    kept = []
    handle = None
    if capture is not None:
        modules = dict(model.named_modules())
        if capture not in modules:
            some = ", ".join(repr(n) for n in list(modules)[1:12])
            raise ValueError(f"minicnn: viz: {type(model).__name__} has no layer {capture!r}; "
                             f"names are as in model.named_modules(), e.g. {some}")
        handle = modules[capture].register_forward_hook(
            lambda module, inputs, output: kept.append(output[0] if isinstance(output, tuple) else output))
    try:
        with _eval_mode(model):
            logits = model(image)
            if isinstance(logits, tuple):         # auxiliary heads: the main output
                logits = logits[0]
            if kept:
                kept[0].retain_grad()
            scores = logits.numpy()[0]
            target = int(np.argmax(scores)) if target is None else int(target)
            if not 0 <= target < scores.shape[0]:
                raise ValueError(f"minicnn: viz: class {target} is outside the model's "
                                 f"{scores.shape[0]} outputs")
            grad = np.zeros(logits.shape, dtype=logits.dtype)
            grad[0, target] = 1
            logits.backward(backend.to_device(grad, logits.device))
    finally:
        if handle is not None:
            handle.remove()
        for p, g in grads_before:
            p.grad = g
    if capture is not None and not kept:
        raise ValueError(f"minicnn: viz: layer {capture!r} did not run in the forward pass")
    return scores, target, (kept[0] if kept else None)


def saliency(model, x, target=None):
    """A saliency map (Simonyan et al. 2014): how much each pixel moves the score of class
    ``target`` (default: the predicted class), |d score / d pixel|, the largest over the
    colour channels.  ``x``: one image (C, H, W).  Returns an (H, W) array."""
    image = _one_image(model, x, "saliency", requires_grad=True)
    _class_score_backward(model, image, target)
    return np.abs(image.grad.numpy()[0]).max(axis=0)


def grad_cam(model, x, layer, target=None):
    """Grad-CAM (Selvaraju et al. 2017) of layer ``layer`` (a name from
    ``model.named_modules()``) for class ``target`` (default: the predicted class): each
    feature map A_k of the layer is weighted by the mean of the score's gradient over it,
    alpha_k = mean_ij d score / d A_kij, and the map is relu(sum_k alpha_k A_k), at the
    layer's resolution (h, w): where the layer saw evidence for the class.  With a model
    that pools the last conv layer globally into its classifier this is CAM (Zhou et al. 2016)
    up to a constant."""
    image = _one_image(model, x, "grad_cam", requires_grad=True)
    _, _, activation = _class_score_backward(model, image, target, capture=layer)
    if activation.ndim != 4 or activation.grad is None:
        raise ValueError(f"minicnn: viz.grad_cam: layer {layer!r} gives output of shape "
                         f"{activation.shape}; Grad-CAM needs feature maps (N, C, H, W) that the "
                         "score depends on")
    a, g = activation.numpy()[0], activation.grad.numpy()[0]      # (C, h, w) each
    weights = g.mean(axis=(1, 2))                                  # alpha_k
    return np.maximum(np.tensordot(weights, a, axes=1), 0)


def adversarial(model, x, target, epsilon):
    """An adversarial example by the fast gradient sign method (Goodfellow et al. 2015):
    x + epsilon * sign(d loss / d x), the loss being the cross entropy of class ``target``
    (the true class).  A step too small to see can change the prediction.  Returns the new
    image (C, H, W) and the predicted classes before and after."""
    from . import functional as F
    image = _one_image(model, x, "adversarial", requires_grad=True)
    grads_before = [(p, p.grad) for p in model.parameters()]
    try:
        with _eval_mode(model):
            logits = model(image)
            before = int(np.argmax(logits.numpy()[0]))
            F.cross_entropy(logits, Tensor(np.array([int(target)]))).backward()
    finally:
        for p, g in grads_before:
            p.grad = g
    step = float(epsilon) * np.sign(image.grad.numpy()[0])
    moved = image.numpy()[0] + step.astype(image.dtype)
    with _eval_mode(model), no_grad():
        after = int(np.argmax(model(_one_image(model, moved, "adversarial")).numpy()[0]))
    return moved, before, after


# ----- receptive fields ------------------------------------------------------------------
class ReceptiveField(NamedTuple):
    """Which input pixels one output unit sees (rows and columns inclusive, clipped to
    the image: taps in the zero padding see nothing)."""
    rows: tuple           # (first, last) input row
    cols: tuple           # (first, last) input column
    nominal: tuple        # (h, w) ignoring the image border: the summary's RF column
    gradient: np.ndarray  # (H, W): |d unit / d input| summed over the input channels

    @property
    def size(self):
        return (self.rows[1] - self.rows[0] + 1, self.cols[1] - self.cols[0] + 1)

    @property
    def mask(self):
        """(H, W) bool: True inside the field."""
        inside = np.zeros(self.gradient.shape, dtype=bool)
        inside[self.rows[0]:self.rows[1] + 1, self.cols[0]:self.cols[1] + 1] = True
        return inside


def receptive_field_of(model, input_size, layer, position, channel=0, x=None):
    """The receptive field of unit ``(channel, *position)`` of layer ``layer`` for an input
    of ``input_size`` = (C, H, W), as numbers (a ``ReceptiveField``).

    The field is found by walking the autograd graph back from the layer's output, like
    backward, but carrying a box of rows and columns instead of a gradient: each
    op that slides a window widens the box by its windows (the tables its ``windows()``
    declares, minicnn/geometry.py); ops that keep the height and width (ReLU,
    batch norm, addition, concatenation) pass it on; ops that change them otherwise
    (flatten, global pooling) see their whole input.  Where paths join, boxes merge.
    Then one real backward from that unit gives the gradient, which is nonzero only inside
    the box (with ReLUs or max pooling, not necessarily everywhere inside).
    ``x``: the image (default: uniform noise in [0, 1)).
    """
    if x is None:
        x = np.random.default_rng(0).random(tuple(input_size))
    image = _one_image(model, x, "receptive_field", requires_grad=True)
    if image.shape[1:] != tuple(input_size):
        raise ValueError(f"minicnn: viz.receptive_field: the image has shape {image.shape[1:]}, "
                         f"but input_size is {tuple(input_size)}")
    with _eval_mode(model):
        out = _layer_output(model, image, layer)
    if out.ndim != 4:
        raise ValueError(f"minicnn: viz.receptive_field: layer {layer!r} gives output of shape "
                         f"{out.shape}; a receptive field needs feature maps (N, C, H, W)")
    unit = (0, channel) + tuple(position)
    if not all(0 <= i < n for i, n in zip(unit, out.shape)):
        raise ValueError(f"minicnn: viz.receptive_field: unit (channel, row, col) = {unit[1:]} "
                         f"is outside the output of {layer!r}, shape {out.shape[1:]}")
    rows, cols = _field_box(out, image, unit[2:])      # before backward releases the settings
    grad_out = np.zeros(out.shape, dtype=out.dtype)
    grad_out[unit] = 1
    grads_before = [(p, p.grad) for p in model.parameters()]
    out.backward(backend.to_device(grad_out, out.device))
    for p, grad in grads_before:          # leave the model's own gradients as they were
        p.grad = grad
    gradient = np.abs(image.grad.numpy()[0]).sum(axis=0)
    rows_of_summary = summary(model, input_size, dtype=image.dtype).rows   # one per module
    nominal = rows_of_summary[[n for n, _ in model.named_modules()].index(layer)].receptive_field
    return ReceptiveField(rows, cols, tuple(nominal), gradient)


def _field_box(out, image, position):
    """((row0, row1), (col0, col1)) of ``image`` that ``out[..., *position]`` depends on."""
    r, c = position
    boxes = {id(out.grad_fn): ((r, r), (c, c))}   # graph node -> box in its output's plane
    for node in _reverse_topological_order(out.grad_fn):
        if isinstance(node, Tensor) or id(node) not in boxes:
            continue
        box = boxes.pop(id(node))
        for parent, parent_box in _boxes_of_inputs(node, box):
            if parent is not None:
                boxes[id(parent)] = _merge(boxes.get(id(parent), ()), parent_box)
    box = boxes.get(id(image))
    return box if box is not None else ((0, image.shape[2] - 1), (0, image.shape[3] - 1))


def _boxes_of_inputs(fn, box):
    """(parent node, its box) for the inputs of op ``fn`` whose output box is ``box``."""
    windows = fn.windows()
    if windows is not None:          # a sliding window over the image-like first input only
        if box is None:
            return [(fn.parents[0], None)]
        return [(fn.parents[0], tuple((int(w.start[lo]), int(w.stop[hi]) - 1)
                                      for w, (lo, hi) in zip(windows, box)))]
    pairs = []
    for parent, shape in zip(fn.parents, fn.input_shapes):
        if shape is None or len(shape) != 4 or len(fn.output_shape) != 4:
            pairs.append((parent, None))               # not a feature map: no plane to track
        elif box is not None and shape[-2:] == fn.output_shape[-2:]:
            pairs.append((parent, box))                # same plane: elementwise, concat, ...
        else:
            pairs.append((parent, ((0, shape[2] - 1), (0, shape[3] - 1))))
    return pairs


def _merge(a, b):
    """The smallest box holding both (``()`` = nothing yet, None = the whole plane)."""
    if a == ():
        return b
    if a is None or b is None:
        return None
    return tuple((min(p[0], q[0]), max(p[1], q[1])) for p, q in zip(a, b))


def receptive_field(model, input_size, layer, position, channel=0, x=None):
    """A figure of the receptive field of one unit: the input's gradient magnitude for
    that unit, with the field computed from the layers' geometry drawn as a rectangle
    (``receptive_field_of`` gives the numbers)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle
    field = receptive_field_of(model, input_size, layer, position, channel, x)
    fig = Figure(figsize=(5, 5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(field.gradient, cmap="magma", interpolation="nearest")
    (r0, r1), (c0, c1) = field.rows, field.cols
    ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0 + 1, r1 - r0 + 1, fill=False,
                           edgecolor="cyan", linewidth=2))
    nominal = "x".join(map(str, field.nominal))
    ax.set_title(f"{layer} unit {(channel, *position)}: sees rows {r0}-{r1}, cols {c0}-{c1} "
                 f"({field.size[0]}x{field.size[1]}; nominal {nominal})\n"
                 "colour: |gradient| of the unit w.r.t. each input pixel", fontsize=9)
    return fig
