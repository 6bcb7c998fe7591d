"""`minicnn summary`: the per-layer table of a model (minicnn.summary)."""
import minicnn as mc
from .factories import build_model
from .options import add_command, nonnegative_int, positive_int

# Each model's natural input: alexnet_2012 has no adaptive pooling and needs 227x227;
# small_cnn is the network `python -m minicnn train` trains on the 8x8 digits (10 classes).
DEFAULT_INPUT = {"alexnet_2012": "3,227,227", "inception_v3": "3,299,299",
                 "small_cnn": "1,8,8"}                                 # others: 3,224,224
DEFAULT_CLASSES = {"small_cnn": 10}                                    # others: 1000
BOTTLENECK_RESNETS = ("resnet50", "resnet101", "resnet152")


def add_parser(subparsers):
    p = add_command(subparsers, "summary", run)
    p.add_argument("model", help="a minicnn.models name, e.g. alexnet, vgg16, resnet50")
    p.add_argument("--input", help="C,H,W of one image (default 3,224,224; 3,227,227 for "
                   "alexnet_2012; 3,299,299 for inception_v3; 1,8,8 for small_cnn)")
    p.add_argument("--depth", type=nonnegative_int, help="show modules down to this depth, with "
                   "everything below added up (default: every layer)")
    p.add_argument("--num-classes", type=positive_int,
                   help="outputs of the classifier (default 1000; 10 for small_cnn)")
    p.add_argument("--stride-in-1x1", action="store_true", help="resnet50/101/152: the "
                   "paper's stride on the first 1x1 conv (v1) instead of on the 3x3 (v1.5)")


def parse_shape(text):
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise SystemExit("minicnn: --input must be C,H,W, three whole numbers >= 1 (e.g. "
                         f"3,224,224), got {text!r}")
    return shape


def run(args):
    """Print the per-layer table of a model: shapes, parameters, memory, mult-adds, receptive field."""
    shape = parse_shape(args.input if args.input is not None else
                        DEFAULT_INPUT.get(args.model, "3,224,224"))
    num_classes = args.num_classes or DEFAULT_CLASSES.get(args.model, 1000)
    model = build_model(args.model, num_classes, shape[0])
    if args.stride_in_1x1:
        if args.model not in BOTTLENECK_RESNETS:
            raise SystemExit(f"minicnn: --stride-in-1x1 applies to {', '.join(BOTTLENECK_RESNETS)} "
                             f"(bottleneck blocks), not {args.model}")
        model = getattr(mc.models, args.model)(num_classes=num_classes, stride_in_1x1=True)
    print(mc.summary(model.eval(), shape, depth=args.depth))
    return 0
