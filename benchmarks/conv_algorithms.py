"""minicnn's two convolution algorithms, im2col and Winograd F(2x2, 3x3), against each other
and against PyTorch, on the 3x3 stride-1 layers of ResNet and VGG.

    python benchmarks/conv_algorithms.py                 # batch 4, all cores
    python benchmarks/conv_algorithms.py --batch 16 --repeats 7
    python benchmarks/conv_algorithms.py --quick         # smoke run: one small layer

Each repeat times, in rotating order, the forward and the forward + backward (random
upstream gradient into input, weight and bias) of the same layer with the same weights
three ways: minicnn with ``CONV_ALGORITHM = "im2col"``, minicnn with "winograd", and
PyTorch.  It prints the median and min of each, and the ratios winograd / im2col and
im2col / PyTorch (of the medians).  Results also go to --json (default
benchmarks/results/conv-algorithms-cpu.json).
"""
import argparse
import os
import sys

if __name__ == "__main__":
    # PyTorch's OpenMP threads would spin after each torch op and slow the minicnn op timed
    # next (see minicnn/benchmarking.py); read when torch loads, so set it first
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

import json                  # noqa: E402
import platform              # noqa: E402
import statistics            # noqa: E402

import numpy as np           # noqa: E402
import torch                 # noqa: E402

import minicnn as mc         # noqa: E402
import minicnn.functional as F     # noqa: E402
from minicnn.benchmarking import wall_clock_ms      # noqa: E402
from minicnn.functional import conv_algorithm  # noqa: E402

DEFAULT_JSON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                            "conv-algorithms-cpu.json")
LAYERS = [   # (where, C_in, H = W, C_out): 3x3, stride 1, padding 1
    ("resnet layer1", 64, 56, 64), ("resnet layer2", 128, 28, 128),
    ("resnet layer3", 256, 14, 256), ("resnet layer4", 512, 7, 512),
    ("vgg16 conv2_2", 128, 112, 128), ("vgg16 conv3_2", 256, 56, 256),
    ("vgg16 conv4_2", 512, 28, 512), ("vgg16 conv5_2", 512, 14, 512),
    ("googlenet 3b 3x3", 128, 28, 192),
]
WAYS = ("im2col", "winograd", "torch")


def layer_runs(batch, c_in, size, c_out, seed):
    """{way: (forward, forward_backward)} callables on the same arrays."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, c_in, size, size)).astype(np.float32)
    w = (rng.standard_normal((c_out, c_in, 3, 3)) / np.sqrt(9 * c_in)).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32)
    g = rng.standard_normal((batch, c_out, size, size)).astype(np.float32)
    mine = [mc.tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    g_mine, g_theirs = mc.tensor(g), torch.tensor(g)

    def minicnn_way(algorithm):
        def forward():
            conv_algorithm.CONV_ALGORITHM = algorithm
            return F.conv2d(*mine, padding=1)

        def forward_backward():
            for t in mine:
                t.grad = None
            forward().backward(g_mine)
        return forward, forward_backward

    def torch_forward():
        return torch.nn.functional.conv2d(*theirs, padding=1)

    def torch_forward_backward():
        for t in theirs:
            t.grad = None
        torch_forward().backward(g_theirs)
    return {"im2col": minicnn_way("im2col"), "winograd": minicnn_way("winograd"),
            "torch": (torch_forward, torch_forward_backward)}


def measure(batch, layer, repeats, warmup, seed):
    where, c_in, size, c_out = layer
    runs = layer_runs(batch, c_in, size, c_out, seed)
    times = {(way, p): [] for way in WAYS for p in ("fwd", "fwdbwd")}
    chosen = conv_algorithm.CONV_ALGORITHM
    try:
        for _ in range(warmup):
            for way in WAYS:
                runs[way][0](), runs[way][1]()
        for r in range(repeats):
            order = WAYS[r % 3:] + WAYS[:r % 3]        # rotate who runs first
            for way in order:
                times[(way, "fwd")].append(wall_clock_ms(runs[way][0]))
                times[(way, "fwdbwd")].append(wall_clock_ms(runs[way][1]))
    finally:
        conv_algorithm.CONV_ALGORITHM = chosen
    row = {"layer": where, "shape": [batch, c_in, size, size], "out_channels": c_out}
    for (way, p), ts in times.items():
        row[f"{way}_{p}_median_ms"] = statistics.median(ts)
        row[f"{way}_{p}_min_ms"] = min(ts)
    for p in ("fwd", "fwdbwd"):
        row[f"winograd_over_im2col_{p}"] = row[f"winograd_{p}_median_ms"] / row[f"im2col_{p}_median_ms"]
        row[f"im2col_over_torch_{p}"] = row[f"im2col_{p}_median_ms"] / row[f"torch_{p}_median_ms"]
    return row


def format_row(row):
    cells = [f"{row['layer']:<18}", f"{str(tuple(row['shape'][1:])) + '->' + str(row['out_channels']):<20}"]
    for p in ("fwd", "fwdbwd"):
        cells += [f"{row[f'{w}_{p}_median_ms']:{width}.1f}" for w, width in zip(WAYS, (10, 8, 8))]
        cells += [f"{row[f'winograd_over_im2col_{p}']:6.2f}", f"{row[f'im2col_over_torch_{p}']:6.2f}"]
    return " ".join(cells)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="PyTorch's threads (minicnn's BLAS and Numba use every core)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="one small layer, batch 1, 2 repeats")
    parser.add_argument("--json", default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    layers = LAYERS
    if args.quick:
        args.batch, args.repeats, layers = 1, 2, [("quick", 16, 8, 16)]
    torch.set_num_threads(args.threads)
    print(f"minicnn {mc.__version__} vs torch {torch.__version__}, CPU, {args.threads} threads, "
          f"float32, batch {args.batch}, 3x3 stride 1 padding 1; median of {args.repeats} "
          f"rotating runs (ms); w/i = winograd / im2col, i/t = im2col / torch")
    header = f"{'layer':<18} {'(C, H, W)->O':<20}" + "".join(
        f" {p + ' im2col':>10}{'winograd':>9}{'torch':>9}{'w/i':>7}{'i/t':>7}" for p in ("fwd", "f+b"))
    print(header)
    rows = []
    for k, layer in enumerate(layers):
        rows.append(measure(args.batch, layer, args.repeats, args.warmup, seed=k))
        print(format_row(rows[-1]), flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"device": "cpu", "threads": args.threads, "batch": args.batch,
                   "repeats": args.repeats, "warmup": args.warmup, "quick": args.quick,
                   "machine": {"processor": platform.processor() or platform.machine(),
                               "cores": os.cpu_count(), "python": platform.python_version()},
                   "versions": {"minicnn": mc.__version__, "torch": torch.__version__,
                                "numpy": np.__version__},
                   "results": rows}, f, indent=1)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    sys.exit(main())
