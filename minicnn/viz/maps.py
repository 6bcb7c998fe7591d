"""A convolution's filters and a layer's feature maps, as grids of tiles."""
import numpy as np

from .. import backend
from ..autograd import Tensor, no_grad
from .figures import check_positive, describe, normalise, range_axes, tile_figure
from .running import eval_mode, layer_output, module_named, one_image


def filters(weight, channel=None, scale="layer", max_filters=64, max_channels=8, title=None,
            about=None, layer=None):
    """A grid of a convolution's filters, ``weight`` (O, C, kh, kw) (or the Conv2d layer,
    or a model with ``layer`` the Conv2d's name: the title then names the model and its
    weights).

    Filters with 3 input channels (a first layer on RGB images) are drawn in colour, one
    tile per filter; with 1 channel, or one chosen ``channel``, in grey, one tile per
    filter; otherwise one row per filter and one grey tile per input channel (at most
    ``max_channels`` of them).  At most ``max_filters`` filters are drawn.
    ``scale="layer"`` (default) uses one range for the whole layer, shown by a colour bar
    (strengths compare: a weak filter looks weak); ``"filter"`` stretches each filter to
    the full range on its own (the shapes of weak filters show, their strength does not).
    ``about``: the model and weights, a second title line -- say "untrained" when the
    weights are random (``describe(model)`` writes it).
    """
    if layer is not None:                  # a model and the name of one of its layers
        about = about or f"{layer} of {describe(weight)}"
        weight = module_named(weight, layer)
    w = weight.weight if hasattr(weight, "weight") else weight
    w = backend.to_numpy(w.data if isinstance(w, Tensor) else np.asarray(w)).astype(np.float64)
    if w.ndim != 4:
        raise ValueError(f"minicnn: viz.filters: expected a conv weight (C_out, C_in, kh, kw), "
                         f"got shape {w.shape}")
    O, C = w.shape[:2]
    check_positive("viz.filters", max_filters=max_filters, max_channels=max_channels)
    if channel is not None:
        if not 0 <= channel < C:
            raise ValueError(f"minicnn: viz.filters: channel {channel} out of range for "
                             f"{C} input channels")
        w = w[:, channel:channel + 1]
    w = w[:max_filters]
    what = f"{O} filters {'x'.join(map(str, w.shape[1:]))}"
    over = range_axes(scale, "filter", axes=(1, 2, 3))
    if w.shape[1] == 3:                     # RGB: (O, kh, kw, 3) colour tiles
        tiles, columns = normalise(w, over).transpose(0, 2, 3, 1), None
    elif w.shape[1] == 1:
        tiles, columns = normalise(w, over)[:, 0], None
    else:                                   # one row per filter, one tile per channel
        w = w[:, :max_channels]
        tiles, columns = normalise(w, over).reshape((-1,) + w.shape[2:]), w.shape[1]
        what += f", input channels 0-{w.shape[1] - 1} of {C} in each row"
    if len(w) < O:
        what += f" (first {len(w)} shown)"
    bar = None
    if over is None and w.shape[1] != 3:
        bar = (w.min(), w.max())            # grey tiles on one scale: a bar of weights
    elif over is None:
        what += f"; one colour range for all: weights {w.min():.3g}..{w.max():.3g}"
    else:
        what += "; each filter stretched to its own range"
    return tile_figure(tiles, columns, [title or what, about], bar)


def feature_maps(model, x, layer, max_maps=64, scale="layer", title=None, about=None):
    """The activations of the module named ``layer`` (as in ``model.named_modules()``) for
    one image ``x`` (C, H, W) or (1, C, H, W): one grey tile per channel, at most
    ``max_maps``.  The model runs in eval mode without a graph (its mode is restored).
    ``scale="layer"`` (default) shares one range, shown by a colour bar (a map that is
    black is weak, or zero: a dead ReLU); ``"map"`` stretches each map on its own.
    ``about``: the title's second line (default ``describe(model)``).
    """
    check_positive("viz.feature_maps", max_maps=max_maps)
    with no_grad(), eval_mode(model):
        out = layer_output(model, one_image(model, x, "feature_maps"), layer)
    if out.ndim != 4:
        raise ValueError(f"minicnn: viz.feature_maps: layer {layer!r} gives output of shape "
                         f"{out.shape}, not feature maps (N, C, H, W)")
    maps = out.numpy()[0].astype(np.float64)                   # (C, H, W)
    shown = maps[:max_maps]
    what = f"{layer}: {len(maps)} maps {maps.shape[1]}x{maps.shape[2]}"
    if len(shown) < len(maps):
        what += f" (first {len(shown)} shown)"
    over = range_axes(scale, "map", axes=(1, 2))
    dead = int((maps.reshape(len(maps), -1).max(axis=1) <= 0).sum())
    if dead:
        what += f"; {dead} of {len(maps)} all <= 0 for this image"
    if over is not None:
        what += "; each map stretched to its own range"
    bar = (shown.min(), shown.max()) if over is None else None
    return tile_figure(normalise(shown, over), None,
                       [title or what, about or describe(model)], bar)
