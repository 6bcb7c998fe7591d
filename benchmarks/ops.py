"""Benchmark minicnn's CPU ops against PyTorch's, in the same process, on layer shapes
taken from AlexNet, VGG16, GoogLeNet, ResNet-50, Inception v3 and MobileNet v2.

    python benchmarks/ops.py                       # every op, batch 8, all cores
    python benchmarks/ops.py --threads 1 --only conv2d max_pool2d
    python benchmarks/ops.py --quick               # smoke run: batch 1, one timed repeat

For each op it reports the median time of
  * fwd      : the forward pass with autograd recording (inputs and parameters
               require grad, as in training), and
  * fwd+bwd  : forward, then backward of a random upstream gradient into every input,
for minicnn and for PyTorch, and the ratio minicnn / PyTorch (> 1: minicnn is slower).
Both run with the same thread count (--threads, default os.cpu_count()): torch via
torch.set_num_threads; minicnn via the BLAS thread variables (set before NumPy loads,
so only when this file is run as a script) and numba.set_num_threads.  torch's OpenMP
threads are made passive (OMP_WAIT_POLICY=PASSIVE), so they do not spin after each op.
--batch (default 8) is the batch size of every row; the per-row shapes in the table
are per sample.  The results also go to --json (default benchmarks/results/ops-cpu.json).
"""
import argparse
import os
import sys


def _threads_from_argv(argv):
    """--threads N (or --threads=N) from the command line, else the number of cores."""
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return str(os.cpu_count())


if __name__ == "__main__":   # NumPy's BLAS reads its thread count once, when NumPy loads
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = _threads_from_argv(sys.argv[1:])
    # torch's OpenMP threads would otherwise spin after each torch op and slow the minicnn
    # op timed next (see minicnn/benchmarking.py); read when torch loads, so set it first
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

import json                  # noqa: E402
import platform              # noqa: E402

import numpy as np           # noqa: E402
import torch                 # noqa: E402

import minicnn as mc         # noqa: E402
import minicnn.functional as F     # noqa: E402
from minicnn import backend  # noqa: E402
# how ops are described, fed and timed: shared with `python -m minicnn bench`
from minicnn.benchmarking import (PASSES, Case, Spec, data, make_arrays,  # noqa: E402
                                  time_op, weight)

DEFAULT_JSON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "ops-cpu.json")


# ----- what to run -----------------------------------------------------------
# (benchmarks/gpu.py times the same CASES, with make_arrays, on the GPU)
CASES = [
    Case("conv2d", "VGG16 conv3-256: 256->256 3x3 p1 @56x56",
         [data(256, 56, 56), weight(256, 256, 3, 3), weight(256)],
         lambda F, x, w, b: F.conv2d(x, w, b, padding=1)),
    Case("conv2d", "AlexNet conv1: 3->64 11x11/4 p2 @224x224",
         [data(3, 224, 224), weight(64, 3, 11, 11), weight(64)],
         lambda F, x, w, b: F.conv2d(x, w, b, stride=4, padding=2)),
    Case("conv2d", "ResNet-50 bottleneck 1x1: 256->64 @56x56",
         [data(256, 56, 56), weight(64, 256, 1, 1)],
         lambda F, x, w: F.conv2d(x, w)),
    Case("conv2d", "Inception v3 1x7: 128->128 p(0,3) @17x17",
         [data(128, 17, 17), weight(128, 128, 1, 7)],
         lambda F, x, w: F.conv2d(x, w, padding=(0, 3))),
    Case("conv2d", "Inception v3 7x1: 128->192 p(3,0) @17x17",
         [data(128, 17, 17), weight(192, 128, 7, 1)],
         lambda F, x, w: F.conv2d(x, w, padding=(3, 0))),
    Case("conv2d", "AlexNet-2012 conv2: 96->256 5x5 p2 groups=2 @27x27",
         [data(96, 27, 27), weight(256, 48, 5, 5), weight(256)],
         lambda F, x, w, b: F.conv2d(x, w, b, padding=2, groups=2)),
    # depthwise (groups = channels): minicnn's direct loop (minicnn/functional/depthwise.py)
    Case("conv2d", "MobileNet v2 depthwise 3x3: 32 ch p1 @112x112",
         [data(32, 112, 112), weight(32, 1, 3, 3)],
         lambda F, x, w: F.conv2d(x, w, padding=1, groups=32)),
    Case("conv2d", "MobileNet v2 depthwise 3x3/2: 144 ch p1 @56x56",
         [data(144, 56, 56), weight(144, 1, 3, 3)],
         lambda F, x, w: F.conv2d(x, w, stride=2, padding=1, groups=144)),
    Case("conv2d", "MobileNet v2 depthwise 3x3: 960 ch p1 @7x7",
         [data(960, 7, 7), weight(960, 1, 3, 3)],
         lambda F, x, w: F.conv2d(x, w, padding=1, groups=960)),
    Case("max_pool2d", "AlexNet 3x3/2 over 96x55x55",
         [data(96, 55, 55)], lambda F, x: F.max_pool2d(x, 3, stride=2)),
    Case("max_pool2d", "VGG 2x2/2 over 64x112x112",
         [data(64, 112, 112)], lambda F, x: F.max_pool2d(x, 2, stride=2)),
    Case("avg_pool2d", "Inception v3 3x3/1 p1 over 192x35x35",
         [data(192, 35, 35)], lambda F, x: F.avg_pool2d(x, 3, stride=1, padding=1)),
    Case("adaptive_avg_pool2d", "ResNet-50 2048x7x7 -> 1x1",
         [data(2048, 7, 7)], lambda F, x: F.adaptive_avg_pool2d(x, 1)),
    Case("batch_norm", "256 channels @56x56, training",
         [data(256, 56, 56), Spec((256,), "mean"), Spec((256,), "var"), weight(256), weight(256)],
         lambda F, x, rm, rv, w, b: F.batch_norm(x, rm, rv, w, b, training=True)),
    Case("local_response_norm", "AlexNet-2012 size 5 over 96x55x55",
         [data(96, 55, 55)], lambda F, x: F.local_response_norm(x, 5, alpha=5e-4, beta=0.75, k=2.0)),
    Case("dropout", "VGG classifier p=0.5 over 4096",
         [data(4096)], lambda F, x: F.dropout(x, 0.5, training=True)),
    Case("relu", "VGG conv1 output 64x112x112",
         [data(64, 112, 112)], lambda F, x: F.relu(x)),
    Case("linear", "VGG fc6: 25088->4096",
         [data(25088), weight(4096, 25088), weight(4096)],
         lambda F, x, w, b: F.linear(x, w, b)),
    Case("cross_entropy", "1000 classes (ImageNet)",
         [data(1000), Spec((), "target", batched=True, classes=1000)],
         lambda F, x, t: F.cross_entropy(x, t)),
]


# ----- measuring -------------------------------------------------------------
def run_case(case, args, seed):
    row = {"op": case.op, "shape": case.label, "batch": args.batch,
           "input_shapes": [list(((args.batch,) if s.batched else ()) + tuple(s.shape))
                            for s in case.inputs]}
    if not hasattr(F, case.op):
        row["error"] = f"minicnn.functional has no {case.op} yet"
        return row
    arrays = make_arrays(case, args.batch, np.random.default_rng(seed))
    try:
        ours = time_op("minicnn", case, arrays, args.repeats, args.warmup, seed)
    except Exception as e:        # keep going: one broken op should not hide the others
        row["error"] = f"minicnn: {type(e).__name__}: {e}"
        return row
    theirs = time_op("torch", case, arrays, args.repeats, args.warmup, seed)
    row.update({f"minicnn_{name}_ms": ours[name] for name in PASSES})
    row.update({f"torch_{name}_ms": theirs[name] for name in PASSES})
    row.update({f"{name}_ratio": ours[name] / theirs[name] for name in PASSES})
    return row


# ----- reporting -------------------------------------------------------------
COLUMNS = [("op", 20), ("shape", 50), ("mc fwd ms", 10), ("torch fwd", 10), ("ratio", 7),
           ("mc f+b ms", 10), ("torch f+b", 10), ("ratio", 7)]


def format_row(row):
    if "error" in row:
        cells = [row["op"], row["shape"], f"-- {row['error']}"]
        return "  ".join(f"{c:<{w}}" for c, (_, w) in zip(cells, COLUMNS))
    nums = [row["minicnn_fwd_ms"], row["torch_fwd_ms"], row["fwd_ratio"],
            row["minicnn_fwdbwd_ms"], row["torch_fwdbwd_ms"], row["fwdbwd_ratio"]]
    cells = [f"{row['op']:<20}", f"{row['shape'][:50]:<50}"]
    cells += [f"{v:>{w}.{1 if 'ratio' in name else 2}f}" for v, (name, w) in zip(nums, COLUMNS[2:])]
    return "  ".join(cells)


def parse_args(argv):
    ops = sorted({c.op for c in CASES})
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="threads for both libraries (default: os.cpu_count())")
    p.add_argument("--batch", type=int, default=8, help="batch size of every row (default 8)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per measurement; the median is reported")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs first (Numba compiles here)")
    p.add_argument("--only", nargs="+", choices=ops, metavar="OP", help=f"only these ops: {', '.join(ops)}")
    p.add_argument("--quick", action="store_true", help="smoke run: batch 1, 1 warm-up, 1 repeat")
    p.add_argument("--numpy-reference", action="store_true",
                   help="time minicnn's readable NumPy versions instead of its Numba kernels")
    p.add_argument("--json", default=DEFAULT_JSON, help="where to write the results (default %(default)s)")
    args = p.parse_args(argv)
    if args.quick:
        args.batch, args.repeats, args.warmup = 1, 1, 1
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if backend.numba_enabled():
        import numba
        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    cases = [c for c in CASES if not args.only or c.op in args.only]
    numba_used = backend.numba_enabled() and not args.numpy_reference
    print(f"minicnn {mc.__version__} vs torch {torch.__version__} on CPU: {args.threads} threads, "
          f"batch {args.batch}, median of {args.repeats} (warm-up {args.warmup}), "
          f"{'Numba kernels' if numba_used else 'NumPy reference'}; ratio = minicnn / torch")
    print("  ".join(f"{name:<{w}}" if i < 2 else f"{name:>{w}}" for i, (name, w) in enumerate(COLUMNS)),
          flush=True)
    rows = []
    for i, case in enumerate(cases):
        if args.numpy_reference:
            with backend.numpy_reference():
                row = run_case(case, args, seed=i)
        else:
            row = run_case(case, args, seed=i)
        rows.append(row)
        print(format_row(row), flush=True)    # one line per op, so long runs show progress

    result = {
        "device": "cpu", "threads": args.threads, "batch": args.batch, "repeats": args.repeats,
        "warmup": args.warmup, "quick": args.quick, "numba": numba_used,
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "versions": {"minicnn": mc.__version__, "torch": torch.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "machine": platform.processor() or platform.machine(),
        "results": rows,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
