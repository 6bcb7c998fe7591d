"""`minicnn viz PICTURE`: pictures of a model (minicnn.viz) written to image files -- its
autograd graph, a conv layer's filters, a layer's feature maps for one image, the receptive
field of one unit, and the visualisation lecture's pictures: saliency, Grad-CAM, CAM,
occlusion, guided backprop, an adversarial example, a class model, nearest neighbours and a
2-D embedding of CNN codes.  docs/viz.md shows each.

Each subcommand builds the model the way `evaluate` does: by name (--model), with weights
from a .pth file or a minicnn checkpoint (--weights; a checkpoint's config also gives the
model, dataset, image size and normalisation it was trained with), sized for the test
split of --dataset (its classes and image channels).  Every title names the model and
its weights ("untrained (random weights)" without --weights).  The image is a test image
(--index), a file (--image) or one of minicnn's photos (--photo; the default for the
ImageNet-sized models, resized to their input size with ImageNet normalisation); an image
far below the model's input size gets a warning.
"""
import math
import os
import sys

import numpy as np

import minicnn as mc
from minicnn import nn, viz
from minicnn.data import transforms as T
from minicnn.io.files import atomic_path
from .datasets import (DATASET_HELP, check_model_classes, load_split, make_transforms,
                       num_classes_of, parse_dataset)
from .factories import GREY_MODELS, build_model, num_classes_in, read_weights
from .options import (TRAIN_DEFAULTS, add_command, checked, nonnegative_float,
                      nonnegative_int, positive_float, positive_int, resolve)
from .summary import DEFAULT_INPUT

FIGURE_FORMATS = ("png", "svg", "pdf")
finite_float = checked("finite_float", float, math.isfinite, "a finite number")
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
    f.add_argument("--scale", choices=["layer", "filter"], default="layer",
                   help="one range for the whole layer with a colour bar (default), or each "
                   "filter stretched to its own range")
    f.add_argument("--max-filters", type=positive_int, default=64,
                   help="draw at most this many filters (default 64)")

    m = add_subcommand(kinds, "features", run_features, "features.png", FIGURE_FORMATS)
    m.add_argument("--layer", required=True, help="the layer whose output to draw, named as in "
                   "model.named_modules() (e.g. features.0.2 for small_cnn)")
    add_image_options(m)
    m.add_argument("--max-maps", type=positive_int, default=64,
                   help="draw at most this many channels (default 64)")
    m.add_argument("--scale", choices=["layer", "map"], default="layer",
                   help="one grey range for the whole layer with a colour bar (default), or "
                   "each map stretched to its own range")

    r = add_subcommand(kinds, "rf", run_rf, "rf.png", FIGURE_FORMATS)
    r.add_argument("--layer", required=True, help="a layer with feature-map output, named as "
                   "in model.named_modules()")
    r.add_argument("--position", type=nonnegative_int, nargs=2, required=True,
                   metavar=("ROW", "COL"), help="the unit's row and column in the layer's output")
    r.add_argument("--channel", type=nonnegative_int, default=0,
                   help="the unit's channel (default 0)")
    r.add_argument("--input-size", type=positive_int, nargs=3, metavar=("C", "H", "W"),
                   help="an input of this shape, uniform noise in [0, 1), instead of an image")
    add_image_options(r)

    for name, run_picture, what in [
            ("saliency", run_saliency, None), ("gradcam", run_gradcam, None),
            ("cam", run_cam, None), ("guided", run_guided, None),
            ("occlusion", run_occlusion, None), ("adversarial", run_adversarial, None)]:
        q = add_subcommand(kinds, name, run_picture, f"{name}.png", FIGURE_FORMATS)
        add_image_options(q)
        q.add_argument("--target", type=nonnegative_int, help="the class (default: the "
                       "predicted class; for adversarial: the test image's label, else the "
                       "predicted class)")
        if name == "gradcam":
            q.add_argument("--layer", help="the layer whose maps are weighed (default: the last "
                           "layer with feature maps larger than 1x1)")
        if name == "occlusion":
            q.add_argument("--size", type=positive_int, help="the patch's side in pixels "
                           "(default: a quarter of the image's shorter side)")
            q.add_argument("--stride", type=positive_int, help="the step between patch "
                           "positions (default: half the patch)")
            q.add_argument("--value", type=finite_float, default=0.0, help="the patch's value after "
                           "normalisation (default 0: the mean pixel)")
        if name == "adversarial":
            q.add_argument("--epsilon", type=positive_float, default=0.05,
                           help="the step, in normalised pixel units (default 0.05)")

    c = add_subcommand(kinds, "classmodel", run_classmodel, "classmodel.png", FIGURE_FORMATS)
    c.add_argument("--target", type=nonnegative_int, nargs="+", help="the classes (default: "
                   "all, up to the first 10; class 0 alone for images of 64 pixels or more)")
    c.add_argument("--steps", type=positive_int, default=200, help="gradient-ascent steps "
                   "(default 200)")
    c.add_argument("--lr", type=positive_float, default=0.1, help="the step size (default 0.1)")
    c.add_argument("--l2", type=nonnegative_float, default=1.0,
                   help="the L2 penalty on the image (default 1)")
    c.add_argument("--input-size", type=positive_int, nargs=3, metavar=("C", "H", "W"),
                   help="the image's shape (default: the test images', or the model's input "
                   "size for ImageNet models)")

    for name, run_picture in [("neighbours", run_neighbours), ("embedding", run_embedding)]:
        e = add_subcommand(kinds, name, run_picture, f"{name}.png", FIGURE_FORMATS)
        e.add_argument("--count", type=positive_int, default=300,
                       help="use the first COUNT test images (default 300)")
        e.add_argument("--image-size", type=positive_int,
                       help="resize the test images to this size")
        e.add_argument("--layer", help="the code is this layer's output, flattened (default: "
                       "the input of the last Linear layer)")
        if name == "neighbours":
            e.add_argument("--queries", type=nonnegative_int, nargs="+", default=[0, 1, 2, 3],
                           help="the test images to find neighbours of (default 0 1 2 3)")
            e.add_argument("-k", type=positive_int, default=5, help="neighbours per query "
                           "(default 5)")
        else:
            e.add_argument("--method", choices=["pca", "tsne"], default="pca",
                           help="pca (NumPy, default) or tsne (needs scikit-learn)")


def add_image_options(p):
    """--index, --image or --photo: the one image a picture is about, and --image-size."""
    which = p.add_mutually_exclusive_group()
    which.add_argument("--index", type=nonnegative_int, help="which test image (default 0; "
                       "for ImageNet-sized models the default is --photo cat)")
    which.add_argument("--image", help="an image file (.png, .jpg, .npy, ...) instead, "
                       "resized to the test images' size")
    which.add_argument("--photo", choices=sorted(mc.data.PHOTOS), help="one of minicnn's "
                       "photos, resized to the model's input size with ImageNet normalisation")
    p.add_argument("--image-size", type=positive_int, help="resize the test images to this size")


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
    """Draw a model's autograd graph, filters, feature maps, a receptive field, or what it
    looks at (saliency, CAM, occlusion, ...) to a file."""
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
                         max_filters=args.max_filters, about=f"{name} of {about(args, model)}")
    save_figure(figure, out)
    print(f"wrote {out}: the filters of {name} ({about(args, model)})")
    return 0


def run_features(args):
    """The feature maps of one layer for one image."""
    out, model, test_set, transform = prepare(args)
    x, what, _ = chosen_image(args, model, test_set, transform)
    save_figure(viz.feature_maps(model, x, args.layer, max_maps=args.max_maps,
                                 scale=args.scale, about=f"{about(args, model)}; {what}"), out)
    print(f"wrote {out}: the output of {args.layer} for {what}")
    return 0


def run_rf(args):
    """The receptive field of one unit: the input pixels it sees, over its input gradient;
    says when the unit is dead (no gradient) for the image."""
    out, model, test_set, transform = prepare(args)
    if args.input_size:
        if args.index is not None or args.image or args.photo:
            raise SystemExit("minicnn: viz rf: --input-size draws on noise of that size; "
                             "leave out --index, --image and --photo, or --input-size")
        size = tuple(args.input_size)
        x, what = np.random.default_rng(0).random(size), "uniform noise"
    else:
        x, what, _ = chosen_image(args, model, test_set, transform)
        size = np.shape(x)
    field = viz.receptive_field_of(model, size, args.layer, args.position, args.channel, x)
    figure = viz.receptive_field(model, size, args.layer, args.position, args.channel, x,
                                 about=f"{about(args, model)}; {what}")
    save_figure(figure, out)
    (r0, r1), (c0, c1) = field.rows, field.cols
    print(f"{args.layer} unit (channel {args.channel}, row {args.position[0]}, col "
          f"{args.position[1]}) of a {'x'.join(map(str, size))} input: rows {r0}-{r1}, "
          f"cols {c0}-{c1}, size {field.size[0]}x{field.size[1]} "
          f"(nominal {field.nominal[0]}x{field.nominal[1]}, ignoring the image border)")
    if field.dead:
        alive = live_channels(model, x, args.layer, args.position)
        print(f"the unit is DEAD for {what}: its output is {field.value:.3g} and no gradient "
              "reaches the image; channels whose output here is not 0: "
              f"{shortlist([str(c) for c in alive]) if alive else 'none'} (--channel)")
    print(f"wrote {out}")
    return 0


def run_saliency(args):
    """Saliency: |d class score / d pixel| over the image."""
    return class_picture(args, lambda model, x, target, note: viz.saliency_figure(
        model, x, target, about=note))


def run_gradcam(args):
    """Grad-CAM: a layer's maps weighed by their mean gradient of the class score."""
    def draw(model, x, target, note):
        layer = args.layer or last_feature_layer(model, x)
        return viz.grad_cam_figure(model, x, layer, target, about=note)
    return class_picture(args, draw)


def run_cam(args):
    """CAM: the classifier's weights over the last feature maps (global-pool models)."""
    return class_picture(args, lambda model, x, target, note: viz.cam_figure(
        model, x, target, about=note))


def run_guided(args):
    """Guided backprop: the class score's gradient through ReLUs passing only positives."""
    return class_picture(args, lambda model, x, target, note: viz.guided_backprop_figure(
        model, x, target, about=note))


def run_occlusion(args):
    """Occlusion: the class's probability with a grey patch at each place in the image."""
    return class_picture(args, lambda model, x, target, note: viz.occlusion_figure(
        model, x, target, args.size, args.stride, args.value, about=note))


def run_adversarial(args):
    """An adversarial example (fast gradient sign) with the predictions before and after."""
    def draw(model, x, target, note):
        return viz.adversarial_figure(model, x, target, args.epsilon, about=note)
    return class_picture(args, draw, needs_target=True)


def class_picture(args, draw, needs_target=False):
    """The pictures about one image and one class: draw(model, x, target, about)."""
    out, model, test_set, transform = prepare(args)
    x, what, label = chosen_image(args, model, test_set, transform)
    target = args.target
    if target is None and needs_target:
        target = label if label is not None else int(np.argmax(predict(model, x)))
    save_figure(draw(model, x, target, f"{about(args, model)}; {what}"), out)
    print(f"wrote {out}: {args.picture} of {what} ({about(args, model)})")
    return 0


def run_classmodel(args):
    """A class model: the image that maximises a class score (gradient ascent, L2)."""
    out, model, test_set, _ = prepare(args)
    size = tuple(args.input_size) if args.input_size else (
        designed_input(args.model_name) if uses_photo(args) else np.shape(test_set[0][0]))
    # all classes (up to 10) of a small model; one class of an ImageNet-sized one, whose
    # 200 backward passes per class take minutes on a CPU
    classes = len(predict(model, np.zeros(size)))
    targets = args.target or list(range(min(10, classes) if size[1] < 64 else 1))
    figure = viz.class_model_figure(model, targets, size, args.steps, args.lr, args.l2,
                                    about=about(args, model))
    save_figure(figure, out)
    several = len(targets) > 1
    print(f"wrote {out}: the class model{'s' * several} of class{'es' * several} "
          f"{' '.join(map(str, targets))} "
          f"({about(args, model)})")
    return 0


def run_neighbours(args):
    """Nearest neighbours of test images by their CNN codes (penultimate features)."""
    out, model, test_set, _ = prepare(args)
    images, labels = first_images(args, test_set)
    for q in args.queries:
        if q >= len(images):
            raise SystemExit(f"minicnn: viz neighbours: --queries {q} is not among the "
                             f"{len(images)} images (--count)")
    if args.k >= len(images):
        raise SystemExit(f"minicnn: viz neighbours: -k {args.k} needs more than {args.k} "
                         f"images; --count is {len(images)}")
    save_figure(viz.neighbours_figure(model, images, args.queries, args.k, labels, args.layer,
                                      about=f"{about(args, model)}; {len(images)} test images"),
                out)
    print(f"wrote {out}: the {args.k} nearest neighbours of test images "
          f"{' '.join(map(str, args.queries))} among {len(images)} by CNN code")
    return 0


def run_embedding(args):
    """A 2-D embedding (PCA or t-SNE) of test images' CNN codes, coloured by label."""
    if args.method == "tsne":
        try:
            import sklearn.manifold  # noqa: F401  (only to know it is there, before any work)
        except ImportError:
            raise SystemExit("minicnn: viz embedding: --method tsne needs scikit-learn (pip "
                             "install scikit-learn); --method pca needs nothing") from None
    out, model, test_set, _ = prepare(args)
    images, labels = first_images(args, test_set)
    save_figure(viz.embedding_figure(model, images, labels, args.method, args.layer,
                                     about=f"{about(args, model)}; {len(images)} test images"),
                out)
    print(f"wrote {out}: {args.method} of the CNN codes of {len(images)} test images")
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
    rgb = saved.get("rgb", cfg["model"] not in GREY_MODELS)
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
    if args.weights:                          # the file's name, not "a state dict"
        viz.mark_weights(model, os.path.basename(args.weights))
    args.model_name = cfg["model"]
    args.from_checkpoint = bool(saved)
    return model.eval(), test_set, transform


def about(args, model):
    """"resnet18, untrained (random weights)": the model and its weights, for titles."""
    return viz.describe(model, args.model_name)


# ----- the image a picture is about ---------------------------------------------------------
def designed_input(model_name):
    """(C, H, W) the model was designed for, as `summary` assumes it."""
    return tuple(int(n) for n in DEFAULT_INPUT.get(model_name, "3,224,224").split(","))


def uses_photo(args):
    """An ImageNet-sized model with no image chosen and no checkpoint of its own data: the
    default image is a photo, not an 8x8 digit."""
    chosen = any(getattr(args, o, None) is not None for o in ("index", "image", "photo"))
    return not chosen and not args.from_checkpoint and designed_input(args.model_name)[1] >= 64


def chosen_image(args, model, test_set, transform):
    """(image (C, H, W) as the model sees it, what it is in words, its label or None) from
    --index, --image or --photo (default: test image 0, or the cat photo for ImageNet-sized
    models); warns on stderr when it is far below the model's input size."""
    if args.photo or uses_photo(args):
        name = args.photo or "cat"
        size = designed_input(args.model_name)[1:]
        prepare_photo = T.Compose([T.Resize(size), T.ToTensor(),
                                   T.Normalize(T.IMAGENET_MEAN, T.IMAGENET_STD)])
        x, what, label = prepare_photo(mc.data.load_photo(name)), f"photo {name}", None
        if x.shape[0] != test_set[0][0].shape[0]:
            raise SystemExit(f"minicnn: viz {args.picture}: --photo is RGB but the model takes "
                             f"{test_set[0][0].shape[0]}-channel images; use --index or --image")
    elif args.image is not None:
        x, what, label = read_image(args.image, transform, like=test_set[0][0]), args.image, None
    else:
        index = args.index or 0
        x, label = nth_image(test_set, index, "--index")
        what = f"test image {index} (label {label})"
    warn_if_small(args, np.shape(x))
    return np.asarray(x), what, label


def warn_if_small(args, shape):
    """A warning (stderr) when the image is under half the model's designed input size:
    after its stride-2 layers the maps are a pixel or two, and the pictures mean little."""
    designed = designed_input(args.model_name)
    if min(shape[1:]) * 2 < min(designed[1:]):
        print(f"minicnn: viz {args.picture}: warning: the image is {shape[1]}x{shape[2]}, far "
              f"below {args.model_name}'s input size {designed[1]}x{designed[2]}: its deeper "
              "maps shrink to a pixel or two; use --photo, --image or --image-size "
              f"{designed[1]}", file=sys.stderr)


def last_feature_layer(model, x):
    """The name of the last module (in call order) whose output is feature maps larger
    than 1x1: Grad-CAM's usual layer."""
    names = {id(m): name for name, m in model.named_modules() if name}
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, out: seen.append((names[id(m)], out)))
             for m in model.modules() if id(m) in names]
    try:
        predict(model, x)
    finally:
        for handle in hooks:
            handle.remove()
    for name, out in reversed(seen):
        out = out[0] if isinstance(out, tuple) else out
        if getattr(out, "ndim", 0) == 4 and out.shape[2] * out.shape[3] > 1:
            return name
    raise SystemExit("minicnn: viz gradcam: no layer gives feature maps larger than 1x1 for "
                     "this image; name one with --layer, or use a larger image")


def live_channels(model, x, layer, position):
    """The channels of ``layer`` whose output at ``position`` is not 0 for image ``x``
    (after a ReLU: the units that are on, one forward pass for all)."""
    from minicnn.viz.running import eval_mode, layer_output, one_image
    with mc.no_grad(), eval_mode(model):
        out = layer_output(model, one_image(model, x, "rf"), layer).numpy()[0]
    return [int(c) for c in np.flatnonzero(out[:, position[0], position[1]])]


def predict(model, x):
    """The model's scores for one image (C, H, W)."""
    with mc.no_grad():
        out = model(mc.tensor(np.asarray(x, dtype=np.float32)[None]))
    return (out[0] if isinstance(out, tuple) else out).numpy()[0]


def first_images(args, test_set):
    """The first --count test images (N, C, H, W) and their labels."""
    count = min(args.count, len(test_set))
    pairs = [test_set[i] for i in range(count)]
    images = np.stack([np.asarray(x) for x, _ in pairs])
    warn_if_small(args, images.shape[1:])
    return images, [int(y) for _, y in pairs]


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
