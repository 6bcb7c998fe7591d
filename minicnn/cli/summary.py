"""`minicnn summary`: the per-layer table of a model (minicnn.summary)."""
import minicnn as mc
from .factories import build_model
from .options import add_command

DEFAULT_INPUT = {"small_cnn": "1,8,8", "inception_v3": "3,299,299"}   # others: 3,224,224


def add_parser(subparsers):
    p = add_command(subparsers, "summary", run)
    p.add_argument("model", help="a minicnn.models name, e.g. alexnet, vgg16, resnet50")
    p.add_argument("--input", help="C,H,W of one image (default 3,224,224; 3,299,299 for "
                   "inception_v3; 1,8,8 for small_cnn)")
    p.add_argument("--depth", type=int, help="show modules down to this depth, with "
                   "everything below added up (default: every layer)")
    p.add_argument("--num-classes", type=int, default=1000)


def parse_shape(text):
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3:
        raise SystemExit(f"minicnn: --input must be C,H,W (e.g. 3,224,224), got {text!r}")
    return shape


def run(args):
    """Print the per-layer table of a model: shapes, parameters, mult-adds, receptive field."""
    shape = parse_shape(args.input or DEFAULT_INPUT.get(args.model, "3,224,224"))
    model = build_model(args.model, args.num_classes, shape[0]).eval()
    print(mc.summary(model, shape, depth=args.depth))
    return 0
