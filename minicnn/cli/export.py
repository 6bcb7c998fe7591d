"""`minicnn export`: a model of minicnn.models as an ONNX file (minicnn.onnx.export)."""
import os

import numpy as np

import minicnn as mc
from .factories import build_model, num_classes_in, read_weights
from .options import add_command, positive_int
from .summary import DEFAULT_CLASSES, DEFAULT_INPUT, parse_shape


def add_parser(subparsers):
    p = add_command(subparsers, "export", run)
    p.add_argument("model", help="a minicnn.models name, e.g. resnet18, squeezenet1_0")
    p.add_argument("--weights", help="a .pth file or a minicnn checkpoint (.npz) to load; the "
                   "number of classes is read from it (default: freshly initialised weights)")
    p.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    p.add_argument("--input", help="C,H,W of one image (default: the model's usual input, as "
                   "`minicnn summary` takes it, e.g. 3,224,224)")
    p.add_argument("--batch-size", type=positive_int, default=1,
                   help="the batch size the graph takes (default 1)")
    p.add_argument("--num-classes", type=positive_int, help="outputs of the classifier without "
                   "--weights (default 1000; 10 for small_cnn, lenet5 and the CIFAR nets)")
    p.add_argument("--opset", type=positive_int, default=mc.onnx.DEFAULT_OPSET,
                   help=f"the ONNX opset to write (default {mc.onnx.DEFAULT_OPSET})")
    p.add_argument("--external-data", action="store_true", default=None,
                   help="write the weights into OUTPUT.data beside the .onnx file (default: "
                   "only when they exceed 1 GiB)")


def run(args):
    """Write a model as an ONNX file, for onnxruntime and the other ONNX tools."""
    shape = parse_shape(args.input if args.input is not None else
                        DEFAULT_INPUT.get(args.model, "3,224,224"))
    if args.weights is not None and os.path.exists(args.weights):
        state, saved = read_weights(args.weights)
        if args.num_classes is not None and args.num_classes != num_classes_in(state):
            raise SystemExit(f"minicnn: export: --num-classes {args.num_classes} does not match "
                             f"the {num_classes_in(state)} classes of {args.weights}")
        model = build_model(args.model, num_classes_in(state), shape[0], weights=state)
    else:           # no weights, or a name the model's constructor knows
        model = build_model(args.model, args.num_classes or DEFAULT_CLASSES.get(args.model, 1000),
                            shape[0], weights=args.weights)
    example = np.zeros((args.batch_size,) + shape, dtype=np.float32)
    proto = mc.onnx.export(model, example, args.output, opset=args.opset,
                           external_data=args.external_data)
    weights = sum(int(np.prod(t.dims)) for t in proto.graph.initializer)
    print(f"minicnn: wrote {args.output}: {args.model}, input {list(example.shape)}, "
          f"{len(proto.graph.node)} nodes, {weights:,} weights, opset {args.opset}")
    return 0
