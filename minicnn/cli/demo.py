"""`minicnn demo`: a CNN walk-through on one digit, in about a second.

A tiny network, conv -> batch norm -> ReLU -> max pool -> linear, takes one 8x8 digit of
the embedded test split.  The demo prints the input, the shape and parameters of every
layer, the first convolution as im2col and one matrix product, the logits, softmax and
loss, and then checks the gradient of every parameter element against central finite
differences (float64).  Exit status 1 if any check fails.
"""
import collections
import os

import numpy as np

import minicnn as mc
import minicnn.functional as F
from minicnn import nn, viz
from minicnn.models._weights import RANDOM_INIT
from .options import add_command, nonnegative_int
from .viz import nth_image, save_figure

RULE = "-" * 78


def add_parser(subparsers):
    p = add_command(subparsers, "demo", run)
    p.add_argument("--seed", type=nonnegative_int, default=0,
                   help="seed of the initial weights (default 0)")
    p.add_argument("--index", type=nonnegative_int, default=0,
                   help="which digit of the embedded test split (default 0)")
    p.add_argument("--out", help="also write graph.dot (the autograd graph), filters.png and "
                   "features.png (the convolution's filters and outputs) into this folder")


def tiny_cnn():
    """The walk-through's network; shapes for one 8x8 grey image."""
    net = nn.Sequential(collections.OrderedDict([
        ("conv", nn.Conv2d(1, 4, 3, padding=1)),   # (1, 1, 8, 8) -> (1, 4, 8, 8)
        ("bn", nn.BatchNorm2d(4)),                 # normalise each channel
        ("relu", nn.ReLU()),
        ("pool", nn.MaxPool2d(2)),                 # -> (1, 4, 4, 4)
        ("flatten", nn.Flatten()),                 # -> (1, 64)
        ("fc", nn.Linear(64, 10)),                 # -> (1, 10): one logit per digit
    ]))
    return viz.mark_weights(net, RANDOM_INIT)      # the pictures' titles say "untrained"


def run(args):
    """A CNN walk-through on one digit: shapes, im2col, softmax, loss, gradient check."""
    if args.out is not None and os.path.exists(args.out) and not os.path.isdir(args.out):
        raise SystemExit(f"minicnn: demo: --out {args.out} is a file, not a folder")
    mc.manual_seed(args.seed)
    # float64 throughout: finite differences in float32 are too noisy to judge a gradient.
    # Train mode: batch norm uses this image's own statistics (64 positions per channel).
    net = tiny_cnn().double()
    image, label = nth_image(mc.data.load_digits("test"), args.index, "--index")
    x = mc.tensor(image[None].astype(np.float64))            # (1, 1, 8, 8)
    target = mc.tensor(np.array([label]))

    heading(f"1. the input: test image {args.index}, a {label}; 8x8 grey pixels in [0, 1], "
            "shown x16")
    print_matrix(image[0] * 16)
    heading("2. the network, layer by layer (output shapes per image)")
    print(mc.summary(net, (1, 8, 8), dtype=np.float64))
    heading("3. the first convolution as a matrix product (im2col)")
    conv_ok = show_im2col(net.conv, x)
    heading("4. logits, softmax and the cross-entropy loss")
    loss, loss_ok = show_loss(net, x, label, target)
    heading("5. gradient check: autograd vs central finite differences, every parameter")
    grads_ok = check_gradients(net, x, target)
    if args.out is not None:
        write_pictures(net, x, loss, args.out)
    failed = [name for name, ok in (("im2col", conv_ok), ("loss", loss_ok),
                                    ("gradients", grads_ok)) if not ok]
    print(RULE)
    print(f"FAILED: {', '.join(failed)}" if failed else "all checks passed")
    return 1 if failed else 0


def heading(text):
    print(f"{RULE}\n{text}\n{RULE}")


def print_matrix(rows, labels=None):
    """Whole numbers (the pixels x16), one line per row, each after its label if given."""
    for label, row in zip(labels or [""] * len(rows), rows):
        print(f"  {label}" + " ".join(f"{v:2.0f}" for v in row))


def show_im2col(conv, x):
    """Print im2col's matrix for ``conv`` on ``x`` and check conv(x) = W @ col + b."""
    col = F.im2col(x.numpy(), 3, padding=1)[0]              # (1, 9, 64) -> (9, 64)
    print("im2col copies every 3x3 window of the zero-padded input into one column:\n"
          f"col is {col.shape[0]}x{col.shape[1]}, one row per kernel tap (i, j), one column "
          "per output pixel\n(oh, ow): column oh*8 + ow.")
    taps = [f"tap ({i},{j})  " for i in range(3) for j in range(3)]
    for first in range(0, 64, 16):
        print(f"columns {first}-{first + 15} (output rows {first // 8} and {first // 8 + 1}):")
        print_matrix(col[:, first:first + 16] * 16, taps)
    print("column 0 is the window of output pixel (0, 0): the input's top-left corner,\n"
          "with a row and a column of padding zeros above and to the left:")
    print_matrix(col[:, 0].reshape(3, 3) * 16)
    w = conv.weight.numpy().reshape(4, 9)                   # one row per filter
    gemm = w @ col + conv.bias.numpy()[:, None]             # (4, 9) @ (9, 64) -> (4, 64)
    direct = conv(x).numpy().reshape(4, 64)
    error = float(np.abs(gemm - direct).max())
    ok = error < 1e-12
    print("conv(x) = W @ col + b, with W (4x9) the four filters as rows:\n"
          "(4x9) @ (9x64) = 4x64, the four 8x8 output maps; largest difference from the\n"
          f"Conv2d layer's output: {error:.1e}  {'ok' if ok else 'FAIL'}")
    return ok


def show_loss(net, x, label, target):
    """Print logits, softmax and loss; check loss = -log softmax[label]."""
    logits = net(x)                                         # (1, 10)
    probs = F.softmax(logits, dim=1).numpy()[0]
    loss = F.cross_entropy(logits, target)
    print("digit    " + " ".join(f"{d:>6}" for d in range(10)))
    print("logits   " + " ".join(f"{v:6.3f}" for v in logits.numpy()[0]))
    print("softmax  " + " ".join(f"{v:6.3f}" for v in probs))
    by_hand = -np.log(probs[label])
    ok = abs(loss.item() - by_hand) < 1e-12
    print(f"predicted {int(probs.argmax())} (untrained weights: a guess), label {label}")
    print(f"cross-entropy loss {loss.item():.6f} = -log softmax[{label}] = {by_hand:.6f}  "
          f"{'ok' if ok else 'FAIL'}")
    return loss, ok


def check_gradients(net, x, target):
    """mc.gradcheck on every element of every parameter, one line per parameter."""
    params = dict(net.named_parameters())
    # gradcheck perturbs its inputs' data in place, element by element; the inputs here are
    # the network's own parameters, so the loss function just runs the network.
    report = mc.gradcheck(lambda *_: F.cross_entropy(net(x), target), *params.values(),
                          max_elements=max(p.numel() for p in params.values()),
                          raise_exception=False)
    print(f"{sum(p.numel() for p in params.values())} elements, each nudged by +-1e-6; "
          "listed: the worst element of each\nparameter.  gradcheck compares the gradients of "
          "g x loss, g a random number, which\ncatches a backward that ignores the gradient "
          "flowing into it.")
    print("(conv.bias gets no gradient: batch norm subtracts each channel's mean, so a\n"
          "bias just before it cancels out -- why small_cnn's convolutions have bias=False)")
    print(f"{'parameter':<12}{'shape':<14}{'analytic':>14}{'numeric':>14}{'error':>10}")
    for (i, _, analytic, numeric, error, ok), (name, p) in zip(report.rows, params.items()):
        print(f"{name:<12}{str(p.shape):<14}{analytic:14.6e}{numeric:14.6e}{error:10.1e}  "
              f"{'ok' if ok else 'FAIL'}")
    return report.passed


def write_pictures(net, x, loss, out):
    os.makedirs(out, exist_ok=True)
    paths = [os.path.join(out, name) for name in ("graph.dot", "filters.png", "features.png")]
    viz.render(viz.graph(loss, net), paths[0])
    save_figure(viz.filters(net, layer="conv"), paths[1])
    save_figure(viz.feature_maps(net, x, "conv"), paths[2])
    print(f"wrote {', '.join(paths)}")
