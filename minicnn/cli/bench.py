"""`minicnn bench`: a quick look at minicnn's speed next to PyTorch's.  The ops are timed
by minicnn.benchmarking, as in benchmarks/ops.py (the full benchmark, in the repository)."""
import os

import numpy as np

import minicnn as mc
import minicnn.functional as F
from minicnn.benchmarking import Case, data, make_arrays, median_ms, time_op, weight
from .options import add_command, positive_int

# A few ops at the shapes of a small ResNet; benchmarks/ops.py times every op.
CASES = [  # call(F, *tensors) with F = minicnn.functional or torch.nn.functional
    Case("conv2d", "conv2d 64->64 3x3 @28", [data(64, 28, 28), weight(64, 64, 3, 3)],
         lambda F, x, w: F.conv2d(x, w, padding=1)),
    Case("max_pool2d", "max_pool2d 3x3/2 @56", [data(64, 56, 56)],
         lambda F, x: F.max_pool2d(x, 3, 2, 1)),
    Case("batch_norm", "batch_norm 64 @56", [data(64, 56, 56), weight(64), weight(64)],
         lambda F, x, w, b: F.batch_norm(x, None, None, w, b, training=True)),
    Case("linear", "linear 4096->1000", [data(4096), weight(1000, 4096)],
         lambda F, x, w: F.linear(x, w)),
]


def add_parser(subparsers):
    p = add_command(subparsers, "bench", run)
    p.add_argument("--batch", type=positive_int, default=8)
    p.add_argument("--repeats", type=positive_int, default=5)


def run(args):
    """Time minicnn's main ops (forward + backward) and one training step, next to PyTorch's
    when it is installed.  The full benchmark is benchmarks/ops.py in the repository."""
    try:
        import torch
        torch.set_num_threads(os.cpu_count() or 1)
        libraries = ["minicnn", "torch"]
    except ImportError:
        libraries = ["minicnn"]
    print(f"batch {args.batch}, median of {args.repeats} runs of forward + backward "
          f"({'with' if 'torch' in libraries else 'without'} PyTorch for comparison)")
    print(f"{'op':28s} {'minicnn':>10s} {'torch':>10s} {'ratio':>7s}")
    for seed, case in enumerate(CASES):
        arrays = make_arrays(case, args.batch, np.random.default_rng(seed))
        ms = {lib: time_op(lib, case, arrays, args.repeats, warmup=1, seed=seed,
                           passes=["fwdbwd"])["fwdbwd"] for lib in libraries}
        line = f"{case.label:28s} {ms['minicnn']:8.2f}ms"
        if "torch" in ms:
            line += f" {ms['torch']:8.2f}ms {ms['minicnn'] / ms['torch']:7.1f}x"
        print(line)

    rng = np.random.default_rng(0)
    model = mc.models.small_cnn()
    opt = mc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images = mc.tensor(rng.random((32, 1, 8, 8)).astype(np.float32))
    labels = mc.tensor(rng.integers(0, 10, 32))

    def step():
        loss = F.cross_entropy(model(images), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()

    print(f"small_cnn training step, batch 32 of 1x8x8: "
          f"{median_ms(step, args.repeats, warmup=1):.2f}ms")
    print("For every op at the shapes of AlexNet, VGG, GoogLeNet, ResNet and Inception: "
          "python benchmarks/ops.py (in the repository)")
    return 0
