"""What every mc.viz figure shares: a title that says which model and weights it shows
(wrapped to fit), one colour scale with a colour bar where magnitudes matter, and the
input image drawn for a person (not as the network sees it).

The figures are matplotlib ``Figure`` objects on the Agg canvas: no window opens, and
pyplot's global state (and the caller's backend) is left alone.  matplotlib is imported
only inside the functions that draw, so ``import minicnn`` does not need it.
"""
import math
import textwrap

import numpy as np

from ..models._weights import weights_origin


def describe(model, name=None):
    """"ResNet, untrained (random weights)": the model's name (``name``, else its class)
    and where its weights come from (``weights_origin``), for a figure's title."""
    return f"{name or type(model).__name__}, {weights_origin(model)}"


def new_figure(width, height):
    """An empty figure of ``width`` x ``height`` inches on the Agg canvas (no window)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    # constrained layout: room for the wrapped title and the colour bars, nothing overlaps
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def set_title(fig, *lines):
    """The figure's title: each line wrapped to the figure's width (about 9 characters per
    inch at 10 pt), so nothing is cut at the edges."""
    width = max(20, int(fig.get_figwidth() * 9))
    text = "\n".join(textwrap.fill(line, width) for line in lines if line)
    fig.suptitle(text, fontsize=10)
    return text


def check_positive(op, **limits):
    for name, value in limits.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"minicnn: {op}: {name} must be a positive int, got {value!r}")


# ----- tiles of filters and feature maps -----------------------------------------------------
def range_axes(scale, own, axes):
    """The axes along which one display range is taken: ``own`` (each filter or map on
    its own) -> ``axes``; "layer" (one range for everything) -> None."""
    if scale == own:
        return axes
    if scale == "layer":
        return None
    raise ValueError(f"minicnn: viz: scale must be 'layer' (one range for the whole layer, "
                     f"with a colour bar) or {own!r} (each stretched to its own range), "
                     f"got {scale!r}")


def normalise(a, axes):
    """Map values to [0, 1] for display, one range along ``axes`` (None: over everything).
    A constant tile becomes mid-grey."""
    low, high = a.min(axis=axes, keepdims=True), a.max(axis=axes, keepdims=True)
    span = high - low
    return np.where(span > 0, (a - low) / np.where(span > 0, span, 1), 0.5)


def tile_figure(tiles, columns, title_lines, value_range=None):
    """One small image Axes per tile: (n, h, w) grey or (n, h, w, 3) colour in [0, 1].
    ``columns`` fixes the grid width (one row per filter); else the grid is about square.
    ``value_range`` (low, high): the values that 0 and 1 stand for, shown as a colour
    bar (one shared scale); None: each tile was stretched on its own, and no bar."""
    n = len(tiles)
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    fig = new_figure(max(4.0, min(1.2 * columns + 1.2, 16)), min(1.2 * rows, 16) + 1.2)
    axes = []
    for i, tile in enumerate(tiles):
        ax = fig.add_subplot(rows, columns, i + 1)
        ax.imshow(tile, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        axes.append(ax)
    if value_range is not None:
        colour_bar(fig, axes, "gray", *value_range)
    set_title(fig, *title_lines)
    return fig


def colour_bar(fig, axes, cmap, low, high, label=None):
    """A colour bar beside ``axes`` for a colour map spanning the values low..high."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    bar = fig.colorbar(ScalarMappable(Normalize(low, high), cmap), ax=axes, shrink=0.8)
    if label:
        bar.set_label(label)
    return bar


def is_colour_bar(ax):
    return ax.get_label() == "<colorbar>"


# ----- an image and a map over it --------------------------------------------------------------
def displayable(image):
    """An input image (C, H, W), normalised as the network saw it, for a person: (H, W, 3)
    or (H, W), stretched to [0, 1] (the normalisation's offset and scale undone up to a
    constant)."""
    image = np.asarray(image, dtype=np.float64)
    shown = normalise(image, None)
    return shown.transpose(1, 2, 0) if shown.shape[0] == 3 else shown.mean(axis=0)


def map_figure(image, panels, title_lines):
    """The input image, then one panel per ``(heat, caption, cmap, signed[, extent])``: the
    map (h, w) drawn over the image (stretched to its size, or to ``extent`` = (left,
    right, bottom, top) in pixels), with its own colour bar in the map's units.
    ``signed``: a colour scale symmetric about 0."""
    shown = displayable(image)
    fig = new_figure(3.4 * (len(panels) + 1), 3.9)
    ax = fig.add_subplot(1, len(panels) + 1, 1)
    ax.imshow(shown, cmap=None if shown.ndim == 3 else "gray", interpolation="nearest")
    ax.set_title("input", fontsize=9)
    ax.axis("off")
    height, width = shown.shape[:2]
    for i, (heat, caption, cmap, signed, *extent) in enumerate(panels):
        heat = np.asarray(heat, dtype=np.float64)
        ax = fig.add_subplot(1, len(panels) + 1, i + 2)
        ax.imshow(shown.mean(axis=2) if shown.ndim == 3 else shown, cmap="gray",
                  interpolation="nearest")
        if signed:
            top = float(np.abs(heat).max()) or 1.0
            low, high = -top, top
        else:
            low, high = float(heat.min()), float(heat.max())
            high = high if high > low else low + 1.0
        ax.imshow(heat, cmap=cmap, vmin=low, vmax=high, alpha=0.6, interpolation="bilinear",
                  extent=extent[0] if extent else (-0.5, width - 0.5, height - 0.5, -0.5))
        ax.set_xlim(-0.5, width - 0.5)
        ax.set_ylim(height - 0.5, -0.5)
        ax.set_title(textwrap.fill(caption, 34), fontsize=8)
        ax.axis("off")
        colour_bar(fig, [ax], cmap, low, high)
    set_title(fig, *title_lines)
    return fig

