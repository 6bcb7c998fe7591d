"""`minicnn summary`: the per-layer table of a model (minicnn.summary)."""
import math

import minicnn as mc
from minicnn.io.files import available_memory
from minicnn.summary import human_bytes
from .factories import build_model
from .options import add_command, nonnegative_int, positive_int

# Each model's natural input: alexnet_2012 has no adaptive pooling and needs 227x227;
# small_cnn is the network `python -m minicnn train` trains on the 8x8 digits (10 classes).
# lenet5: LeCun et al.'s 32x32 one-channel digits (10 classes).
DEFAULT_INPUT = {"alexnet_2012": "3,227,227", "inception_v3": "3,299,299",
                 "small_cnn": "1,8,8", "lenet5": "1,32,32"}            # others: 3,224,224
DEFAULT_CLASSES = {"small_cnn": 10, "lenet5": 10}                      # others: 1000
# the CIFAR nets (resnet20..110, plain20..110, preact_resnet164/1001, wrn*,
# resnet110_stochastic_depth, nin_cifar10): 32x32, 10 classes
DEFAULT_INPUT.update(dict.fromkeys(mc.models.CIFAR_MODELS, "3,32,32"))
DEFAULT_CLASSES.update(dict.fromkeys(mc.models.CIFAR_MODELS, 10))
BOTTLENECK_RESNETS = ("resnet50", "resnet101", "resnet152", "resnext50_32x4d",
                      "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2",
                      "wide_resnet101_2")


def add_parser(subparsers):
    p = add_command(subparsers, "summary", run)
    p.add_argument("model", help="a minicnn.models name, e.g. alexnet, vgg16, resnet50")
    p.add_argument("--input", help="C,H,W of one image (default 3,224,224; 3,227,227 for "
                   "alexnet_2012; 3,299,299 for inception_v3; 1,8,8 for small_cnn; 1,32,32 for "
                   "lenet5; 3,32,32 for the CIFAR nets resnet20..resnet110, plain20..plain110, "
                   "preact_resnet164/1001, wrn16_8, wrn28_10, wrn40_4, "
                   "resnet110_stochastic_depth, nin_cifar10)")
    p.add_argument("--depth", type=nonnegative_int, help="show modules down to this depth, with "
                   "everything below added up (default: every layer)")
    p.add_argument("--num-classes", type=positive_int,
                   help="outputs of the classifier (default 1000; 10 for small_cnn, lenet5 "
                   "and the CIFAR nets)")
    p.add_argument("--stride-in-1x1", action="store_true", help="resnet50/101/152, ResNeXt "
                   "and Wide ResNet: the paper's stride on the first 1x1 conv (v1) instead of "
                   "on the 3x3 (v1.5)")


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
    check_it_fits(model, shape, args)
    print(mc.summary(model.eval(), shape, depth=args.depth))
    return 0


PROBE_PIXELS = 256 * 256      # larger inputs are first measured at this size, then scaled


def check_it_fits(model, shape, args, available=None):
    """The summary runs one forward pass and keeps every activation: for a large --input,
    measure it at a smaller size first (activations grow with H x W) and refuse an input
    whose forward pass cannot fit in the memory available (it would otherwise take all of
    the machine's memory until the system kills the process)."""
    channels, height, width = shape
    if height * width <= PROBE_PIXELS:
        return
    factor = math.sqrt(height * width / PROBE_PIXELS)
    small = (channels, max(1, math.ceil(height / factor)), max(1, math.ceil(width / factor)))
    try:
        probe = mc.summary(model.eval(), small)
    except (ValueError, RuntimeError, TypeError):   # the model cannot take the smaller input:
        return                                      # nothing to scale from
    need = probe.total_activation_bytes * (height * width) / (small[1] * small[2])
    available = available_memory() if available is None else available
    if available is not None and need > available:
        raise SystemExit(f"minicnn: summary {args.model} --input {channels},{height},{width} "
                         f"needs about {human_bytes(need)} for its forward pass's activations; "
                         f"{human_bytes(available)} of memory is available: choose a smaller "
                         "--input")
