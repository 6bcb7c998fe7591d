"""`minicnn viz graph|filters|features|rf`: pictures of a model (minicnn.viz) written to
image files -- its autograd graph, a conv layer's filters, a layer's feature maps for one
image, and the receptive field of one unit.

Each subcommand builds the model the way `evaluate` does: by name (--model), with weights
from a .pth file or a minicnn checkpoint (--weights; a checkpoint's config also gives the
model, dataset, image size and normalisation it was trained with), sized for the test
split of --dataset (its classes and image channels).
"""
import os
import sys

import numpy as np

import minicnn as mc
from minicnn import nn, viz
from minicnn.data import transforms as T
from minicnn.io.files import atomic_path
from .datasets import (DATASET_HELP, check_model_classes, load_split, make_transforms,
                       num_classes_of, parse_dataset)
from .factories import build_model, num_classes_in, read_weights
from .options import TRAIN_DEFAULTS, add_command, nonnegative_int, positive_int, resolve

FIGURE_FORMATS = ("png", "svg", "pdf")
GRAPH_FORMATS = ("svg", "png", "pdf", "dot", "gv")     # what viz.render writes


def add_parser(subparsers):
    p = add_command(subparsers, "viz", run)
    kinds = p.add_subparsers(dest="picture", required=True, metavar="PICTURE")

    g = add_subcommand(kinds, "graph", run_graph, "graph.svg", GRAPH_FORMATS)
    g.add_argument("--image-size", type=positive_int, help="resize the test image to this size")
    g.add_argument("--index", type=nonnegative_int, default=0,
                   help="which test image (default 0)")

    f = add_subcommand(kinds, "filters", run_filters, "filters.png", FIGURE_FORMATS)
    f.add_argument("--layer", help="a Conv2d, named as in model.named_modules() (default: the "
                   "first Conv2d)")
    f.add_argument("--channel", type=nonnegative_int, help="draw only this input channel of "
                   "each filter")
    f.add_argument("--scale", choices=["filter", "layer"], default="filter",
                   help="grey range per filter (default) or one for the whole layer")
    f.add_argument("--max-filters", type=positive_int, default=64,
                   help="draw at most this many filters (default 64)")

    m = add_subcommand(kinds, "features", run_features, "features.png", FIGURE_FORMATS)
    m.add_argument("--layer", required=True, help="the layer whose output to draw, named as in "
                   "model.named_modules() (e.g. features.0.2 for small_cnn)")
    which = m.add_mutually_exclusive_group()
    which.add_argument("--index", type=nonnegative_int, help="which test image (default 0)")
    which.add_argument("--image", help="an image file (.png, .jpg, .npy, ...) instead, "
                       "resized to the test images' size")
    m.add_argument("--image-size", type=positive_int, help="resize the test images to this size")
    m.add_argument("--max-maps", type=positive_int, default=64,
                   help="draw at most this many channels (default 64)")
    m.add_argument("--scale", choices=["map", "layer"], default="map",
                   help="grey range per map (default) or one for the whole layer")

    r = add_subcommand(kinds, "rf", run_rf, "rf.png", FIGURE_FORMATS)
    r.add_argument("--layer", required=True, help="a layer with feature-map output, named as "
                   "in model.named_modules()")
    r.add_argument("--position", type=nonnegative_int, nargs=2, required=True,
                   metavar=("ROW", "COL"), help="the unit's row and column in the layer's output")
    r.add_argument("--channel", type=nonnegative_int, default=0,
                   help="the unit's channel (default 0)")
    r.add_argument("--input-size", type=positive_int, nargs=3, metavar=("C", "H", "W"),
                   help="the input's shape (default: the test images')")


def add_subcommand(kinds, name, run, default_out, formats):
    """The parser of `viz NAME`, with the options every picture shares."""
    p = add_command(kinds, name, run)
    p.add_argument("--model", help="a minicnn.models name (default small_cnn, or the "
                   "checkpoint's model)")
    p.add_argument("--weights", help="a .pth file (torchvision's weights expect ImageNet "
                   "normalisation, which is then used) or a minicnn checkpoint.npz (its "
                   "model, dataset, image size and normalisation are used); default: the "
                   "untrained model")
    p.add_argument("--dataset", help=f"default digits, or the checkpoint's; {DATASET_HELP}")
    p.add_argument("--out", default=default_out, help=f"the file to write (default "
                   f"{default_out}; the extension picks the format: "
                   f"{', '.join('.' + f for f in formats)})")
    p.set_defaults(formats=formats)
    return p


def run(args):
    """Draw a model's autograd graph, filters, feature maps or a receptive field to a file."""
    # Never called: argparse requires a PICTURE, whose run_* replaces this one.  Its
    # docstring is `viz`'s line in `minicnn --help`.
    raise AssertionError("minicnn: viz: no PICTURE chosen")


# ----- the pictures ------------------------------------------------------------------------
def run_graph(args):
    """The autograd graph of one test image's loss (eval mode): SVG/PNG/PDF or DOT text."""
    out, model, test_set, _ = prepare(args)
    x, target = nth_image(test_set, args.index, "--index")
    loss = mc.functional.cross_entropy(model(mc.tensor(x[None])), mc.tensor(np.array([target])))
    dot = viz.graph(loss, model)
    try:
        viz.render(dot, out)
    except viz.GraphvizNotFound as missing:      # the DOT source was written: not a failure
        print(missing, file=sys.stderr)
        return 0
    print(f"wrote {out}: the autograd graph of {args.model_name}'s loss on test image "
          f"{args.index}")
    return 0


def run_filters(args):
    """A grid of a convolution layer's filters."""
    out, model, _, _ = prepare(args)
    convs = [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    name = args.layer if args.layer is not None else convs[0]
    layer = named_layer(model, name)
    if not isinstance(layer, nn.Conv2d):
        raise SystemExit(f"minicnn: viz filters: layer {name!r} is a {type(layer).__name__}, "
                         f"not a Conv2d; the Conv2d layers are {shortlist(convs)}")
    figure = viz.filters(layer, channel=args.channel, scale=args.scale,
                         max_filters=args.max_filters)
    save_figure(figure, out)
    print(f"wrote {out}: the filters of {name}")
    return 0


def run_features(args):
    """The feature maps of one layer for one image."""
    out, model, test_set, transform = prepare(args)
    if args.image is not None:
        x, what = read_image(args.image, transform, like=test_set[0][0]), args.image
    else:
        index = args.index or 0
        x, what = nth_image(test_set, index, "--index")[0], f"test image {index}"
    save_figure(viz.feature_maps(model, x, args.layer, max_maps=args.max_maps,
                                 scale=args.scale), out)
    print(f"wrote {out}: the output of {args.layer} for {what}")
    return 0


def run_rf(args):
    """The receptive field of one unit: the input pixels it sees, over its input gradient."""
    out, model, test_set, _ = prepare(args)
    size = tuple(args.input_size) if args.input_size else np.shape(test_set[0][0])
    field = viz.receptive_field_of(model, size, args.layer, args.position, args.channel)
    figure = viz.receptive_field(model, size, args.layer, args.position, args.channel)
    save_figure(figure, out)
    (r0, r1), (c0, c1) = field.rows, field.cols
    print(f"{args.layer} unit (channel {args.channel}, row {args.position[0]}, col "
          f"{args.position[1]}) of a {'x'.join(map(str, size))} input: rows {r0}-{r1}, "
          f"cols {c0}-{c1}, size {field.size[0]}x{field.size[1]} "
          f"(nominal {field.nominal[0]}x{field.nominal[1]}, ignoring the image border)")
    print(f"wrote {out}")
    return 0


# ----- what the pictures share -------------------------------------------------------------
def prepare(args):
    """(--out, the model, the test split, its transform), after checking --out and, when
    given, --layer."""
    out = output_file(args)
    model, test_set, transform = load_model(args)
    if getattr(args, "layer", None) is not None:
        named_layer(model, args.layer)
    return out, model, test_set, transform


def output_file(args):
    """--out, checked before any work: a known extension, and a folder to write into
    (made if missing)."""
    out = args.out
    ext = os.path.splitext(out)[1].lower().lstrip(".")
    if ext not in args.formats:
        raise SystemExit(f"minicnn: viz {args.picture}: --out must end in "
                         f"{', '.join('.' + f for f in args.formats)} (the format), got {out!r}")
    if os.path.isdir(out):
        raise SystemExit(f"minicnn: viz {args.picture}: --out {out} is a folder; give a file name")
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):               # a typo in the path makes no folders
        raise SystemExit(f"minicnn: viz {args.picture}: --out {out}: the folder {folder} "
                         f"{'is a file' if os.path.exists(folder) else 'does not exist'}; "
                         "expected a file in an existing folder")
    return out


def save_figure(figure, out):
    """Write a matplotlib figure to ``out`` atomically (the format from its extension)."""
    with atomic_path(out) as tmp:
        figure.savefig(tmp)


def load_model(args):
    """(model in eval mode, the test split, its transform) as --model, --weights and
    --dataset say."""
    state, saved = read_weights(args.weights) if args.weights else (None, None)
    saved = saved or {}
    cfg = resolve(args, TRAIN_DEFAULTS, saved)
    cfg.update(augment=False, val_split=0.0)
    if args.weights and not saved:            # torchvision's weights: ImageNet normalisation
        cfg["normalize"] = "imagenet"
    rgb = saved.get("rgb", cfg["model"] != "small_cnn")
    kind, path = parse_dataset(cfg["dataset"])
    transform = make_transforms(cfg, kind, False, rgb)
    test_set = load_split(cfg, kind, path, "test", transform)
    if len(test_set) == 0:
        raise SystemExit(f"minicnn: viz: the test split of {cfg['dataset']} has no images")
    in_channels = int(np.shape(test_set[0][0])[0])
    num_classes = num_classes_in(state) if state is not None else num_classes_of(test_set)
    if state is not None:
        check_model_classes(saved, num_classes, test_set, f"--weights {args.weights}",
                            f"--dataset {cfg['dataset']}")
    model = build_model(cfg["model"], num_classes, in_channels, weights=state)
    args.model_name = cfg["model"]
    return model.eval(), test_set, transform


def named_layer(model, name):
    """The module called ``name`` in ``model.named_modules()``, or a one-line error."""
    modules = dict(model.named_modules())
    if name not in modules:
        raise SystemExit(f"minicnn: viz: {type(model).__name__} has no layer {name!r}; layers "
                         f"are named as in model.named_modules(): {shortlist(list(modules)[1:])}")
    return modules[name]


def shortlist(names, limit=12):
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def nth_image(dataset, index, option):
    """(image, label) number ``index`` of ``dataset``, or a one-line error naming ``option``."""
    if index >= len(dataset):
        raise SystemExit(f"minicnn: {option} {index} is out of range: the test split has "
                         f"{len(dataset)} images (0-{len(dataset) - 1})")
    return dataset[index]


def read_image(path, transform, like):
    """An image file prepared as the test images are: grey if they are grey (C = 1), resized
    to their height and width, then the evaluation ``transform``.  ``like``: one test
    image, (C, H, W)."""
    if not os.path.isfile(path):
        raise SystemExit(f"minicnn: viz features: --image {path}: no such file")
    img = mc.data.load_image(path)
    if img.ndim == 3 and img.shape[2] == 3 and like.shape[0] == 1:
        img = img.mean(axis=2, keepdims=True).astype(img.dtype)
    return transform(T.Resize(tuple(like.shape[1:]))(img))
