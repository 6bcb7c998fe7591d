"""The receptive field of one unit: which input pixels it sees, from the layers' geometry,
and the gradient of the unit with respect to each pixel."""
from typing import NamedTuple

import numpy as np

from .. import backend
from ..autograd import Tensor, _reverse_topological_order
from ..summary import summary
from .figures import colour_bar, describe, new_figure, set_title
from .running import eval_mode, grads_kept, layer_output, one_image


# ----- receptive fields ------------------------------------------------------------------
class ReceptiveField(NamedTuple):
    """Which input pixels one output unit sees (rows and columns inclusive, clipped to
    the image: taps in the zero padding see nothing)."""
    rows: tuple           # (first, last) input row
    cols: tuple           # (first, last) input column
    nominal: tuple        # (h, w) ignoring the image border: the summary's RF column
    gradient: np.ndarray  # (H, W): |d unit / d input| summed over the input channels
    value: float = 0.0    # the unit's output for this input

    @property
    def dead(self):
        """True when no gradient reaches the input from this unit for this input (a ReLU
        that is off, here or on every path below): its picture is all black, whatever
        the field's geometry says."""
        return not self.gradient.any()

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
    image = one_image(model, x, "receptive_field", requires_grad=True)
    if image.shape[1:] != tuple(input_size):
        raise ValueError(f"minicnn: viz.receptive_field: the image has shape {image.shape[1:]}, "
                         f"but input_size is {tuple(input_size)}")
    with eval_mode(model):
        out = layer_output(model, image, layer)
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
    value = float(out.numpy()[unit])
    with grads_kept(model):               # leave the model's own gradients as they were
        out.backward(backend.to_device(grad_out, out.device))
    gradient = np.abs(image.grad.numpy()[0]).sum(axis=0)
    rows_of_summary = summary(model, input_size, dtype=image.dtype).rows   # one per module
    nominal = rows_of_summary[[n for n, _ in model.named_modules()].index(layer)].receptive_field
    return ReceptiveField(rows, cols, tuple(nominal), gradient, value)


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


def receptive_field(model, input_size, layer, position, channel=0, x=None, about=None):
    """A figure of the receptive field of one unit: the input's gradient magnitude for
    that unit (colour bar), with the field computed from the layers' geometry drawn as a
    rectangle (``receptive_field_of`` gives the numbers).  A unit that is dead for this
    input (no gradient reaches the image) is said so in the title: pick another
    ``channel``, ``position`` or image ``x``.  ``about``: the title's last line (default
    ``describe(model)``)."""
    from matplotlib.patches import Rectangle
    field = receptive_field_of(model, input_size, layer, position, channel, x)
    fig = new_figure(5.5, 5.6)
    ax = fig.add_subplot(1, 1, 1)
    shown = ax.imshow(field.gradient, cmap="magma", interpolation="nearest")
    if field.dead:
        shown.set_clim(0, 1)
    (r0, r1), (c0, c1) = field.rows, field.cols
    ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0 + 1, r1 - r0 + 1, fill=False,
                           edgecolor="cyan", linewidth=2))
    colour_bar(fig, [ax], "magma", *shown.get_clim(), label="|d unit / d pixel|")
    nominal = "x".join(map(str, field.nominal))
    lines = [f"{layer} unit (channel {channel}, row {position[0]}, col {position[1]}) sees rows "
             f"{r0}-{r1}, cols {c0}-{c1} ({field.size[0]}x{field.size[1]}; nominal {nominal})"]
    if field.dead:
        lines.append(f"DEAD for this input: output {field.value:.3g}, no gradient reaches the "
                     "image (try another channel, position or image)")
    else:
        lines.append("colour: |gradient| of the unit w.r.t. each input pixel")
    set_title(fig, *lines, about or describe(model))
    return fig
