"""Benchmark minicnn on the GPU (CuPy, cuBLAS and its own CUDA kernels) against PyTorch
with cuDNN, in the same process, per op and per model.

    python benchmarks/gpu.py                        # every op (batch 32) and model (batch 16)
    python benchmarks/gpu.py --only conv2d resnet50 --batch 64 --model-batch 32
    python benchmarks/gpu.py --quick                # smoke run: batch 2, 2 warm-ups, 3 repeats
    python benchmarks/gpu.py --device cpu --quick   # the same script on the CPU
    python benchmarks/gpu.py --profile resnet18     # one training step, per op
    python benchmarks/gpu.py --no-ops --model-batch 64    # the model rows only
    python benchmarks/gpu.py --table b16.json b64.json    # saved model rows as a Markdown table

Ops: the layer shapes of benchmarks/ops.py; for each, the median time of the forward
(with autograd recording) and of forward + backward of a random upstream gradient.
Models (those of alexnet, vgg16, resnet18, resnet50, googlenet, inception_v3 that both
minicnn.models and torchvision provide, with torchvision's weights copied into
minicnn's): the forward in eval mode without autograd, and one training step (train
mode: forward, cross entropy, backward, SGD-with-momentum update), and on the GPU each
library's peak memory over those runs: what its caching allocator held at most (CuPy's
memory pool, PyTorch's max_memory_reserved), model, inputs and gradients included.

GPU times come from CUDA events recorded around each call, after a synchronisation,
so they include the Python time during which the GPU waits for work -- the time a
user sees.  Warm-up runs come first (minicnn compiles its kernels on first use;
cuDNN picks its algorithms, with torch.backends.cudnn.benchmark on); then the median
of --repeats runs is reported.  Both libraries compute in float32 without TF32
tensor-core maths (``--tf32`` allows it in both).  Ratio = minicnn / PyTorch (> 1:
minicnn is slower).  The results also go to --json (default benchmarks/results/gpu.json),
rewritten after every row ("complete": false until the last).
"""
import argparse
import gc
import importlib.util
import json
import os
import platform
import sys

from minicnn.benchmarking import median_ms, wall_clock_ms   # imports neither torch nor CuPy

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_JSON = os.path.join(HERE, "results", "gpu.json")


def load_op_cases():
    """benchmarks/ops.py's list of op cases and its input maker (one list for CPU and GPU)."""
    spec = importlib.util.spec_from_file_location("minicnn_benchmark_ops", os.path.join(HERE, "ops.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CASES, module.make_arrays


# ----- timing ---------------------------------------------------------------------------------
class Clock:
    """Times one call in milliseconds: CUDA events of the library's own stream on the GPU,
    perf_counter on the CPU."""

    def __init__(self, lib, device):
        self.lib, self.device = lib, device

    def __call__(self, fn):
        if self.device == "cpu":
            return wall_clock_ms(fn)
        if self.lib == "torch":
            import torch
            torch.cuda.synchronize()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end)
        import cupy
        cupy.cuda.Device().synchronize()
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        fn()
        end.record()
        end.synchronize()
        return cupy.cuda.get_elapsed_time(start, end)


def free_memory(device):
    gc.collect()
    if device == "cuda":
        import torch
        import minicnn as mc
        mc.cuda.empty_cache()
        torch.cuda.empty_cache()


def peak_memory_mb(lib, fn):
    """The most GPU memory ``lib``'s caching allocator holds during one call of ``fn``, in MB:
    the blocks in use when it starts (weights, gradients, optimizer state, inputs) and all it
    takes meanwhile.  CuPy's memory pool only grows until emptied, so its size afterwards is
    its peak; PyTorch counts its own (max_memory_reserved)."""
    free_memory("cuda")                          # both caches hand back what is not in use
    if lib == "torch":
        import torch
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_reserved() / 2**20
    import cupy
    fn()
    cupy.cuda.Device().synchronize()
    return cupy.get_default_memory_pool().total_bytes() / 2**20


# ----- ops ------------------------------------------------------------------------------------
def time_op(lib, case, arrays, args, seed):
    """(forward ms, forward+backward ms) of one op in one library, timed by ``Clock``."""
    from minicnn.benchmarking import time_op as time_one
    ms = time_one(lib, case, arrays, args.repeats, args.warmup, seed, device=args.device,
                  clock=Clock(lib, args.device))
    return ms["fwd"], ms["fwdbwd"]


def run_op(case, make_arrays, args, seed):
    import numpy as np
    row = {"kind": "op", "name": case.op, "shape": case.label, "batch": args.batch}
    try:
        arrays = make_arrays(case, args.batch, np.random.default_rng(seed))
        for lib, key in (("minicnn", "minicnn"), ("torch", "torch")):
            row[f"{key}_fwd_ms"], row[f"{key}_train_ms"] = time_op(lib, case, arrays, args, seed)
    except Exception as e:          # keep going: one failing row should not hide the others
        row["error"] = f"{type(e).__name__}: {e}"
    free_memory(args.device)
    return add_ratios(row)


# ----- models ---------------------------------------------------------------------------------
def run_model(name, args, seed):
    import numpy as np
    import minicnn as mc
    import minicnn.functional as F
    import minicnn.optim
    import torch
    import torch.nn.functional as TF
    from minicnn.benchmarking import IMAGE_SIZE, paired_models
    size = IMAGE_SIZE.get(name, 224)
    row = {"kind": "model", "name": name, "shape": f"{args.model_batch}x3x{size}x{size}",
           "batch": args.model_batch}
    try:
        mine, theirs = paired_models(name, args.device)
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((args.model_batch, 3, size, size)).astype(np.float32)
        y = rng.integers(0, 1000, args.model_batch)
        xm, ym = mc.tensor(x, device=args.device), mc.tensor(y, device=args.device)
        xt, yt = torch.tensor(x, device=args.device), torch.tensor(y, device=args.device)
        opt_m = minicnn.optim.SGD(mine.parameters(), lr=1e-3, momentum=0.9)
        opt_t = torch.optim.SGD(theirs.parameters(), lr=1e-3, momentum=0.9)

        def forward_m():
            with mc.no_grad():
                return mine(xm)

        def forward_t():
            with torch.no_grad():
                return theirs(xt)

        def train_m():
            opt_m.zero_grad()
            F.cross_entropy(mine(xm), ym).backward()
            opt_m.step()

        def train_t():
            opt_t.zero_grad()
            TF.cross_entropy(theirs(xt), yt).backward()
            opt_t.step()

        mine.eval(), theirs.eval()
        # same weights, same input: the logits should agree (a check that both did the work)
        row["max_abs_diff_logits"] = float(np.abs(forward_m().numpy() - forward_t().cpu().numpy()).max())
        row["minicnn_fwd_ms"] = median_ms(forward_m, args.repeats, args.warmup, Clock("minicnn", args.device))
        row["torch_fwd_ms"] = median_ms(forward_t, args.repeats, args.warmup, Clock("torch", args.device))
        mine.train(), theirs.train()
        row["minicnn_train_ms"] = median_ms(train_m, args.repeats, args.warmup, Clock("minicnn", args.device))
        row["torch_train_ms"] = median_ms(train_t, args.repeats, args.warmup, Clock("torch", args.device))
        if args.device == "cuda":                # after the warm-ups: cuDNN's trials are over
            row["minicnn_peak_mb"] = peak_memory_mb("minicnn", train_m)
            row["torch_peak_mb"] = peak_memory_mb("torch", train_t)
    except Exception as e:
        row["error"] = f"{type(e).__name__}: {e}"
    free_memory(args.device)
    return add_ratios(row)


def print_profile(name, args):
    """Where one minicnn training step of model ``name`` spends its time on the device.
    Per op: its time with the device synchronised before and after it (its launches and the
    GPU's work on them, nothing else queued), and its host time in a run without those
    synchronisations (what launching it costs the CPU: an op whose two times are close keeps
    the GPU waiting for Python).  Then the host time between ops (the backward walk, the
    optimizer, Python: the GPU is idle then in the synchronised run) and the step's time
    without any synchronisation."""
    import numpy as np
    import minicnn as mc
    import minicnn.functional as F
    from minicnn.benchmarking import IMAGE_SIZE, profile, profile_report
    size = IMAGE_SIZE.get(name, 224)
    model = getattr(mc.models, name)().to(args.device)
    rng = np.random.default_rng(0)
    x = mc.tensor(rng.standard_normal((args.model_batch, 3, size, size)).astype(np.float32),
                  device=args.device)
    y = mc.tensor(rng.integers(0, 1000, args.model_batch), device=args.device)
    opt = mc.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step():
        opt.zero_grad()
        out = model(x)
        F.cross_entropy(out[0] if isinstance(out, tuple) else out, y).backward()
        opt.step()

    clock = Clock("minicnn", args.device)
    eager = median_ms(step, args.repeats, args.warmup, clock)
    synchronize = mc.cuda.synchronize if args.device == "cuda" else None
    with profile(synchronize) as times:
        synced = sum(clock(step) for _ in range(args.repeats)) / args.repeats
    with profile() as host_times:
        for _ in range(args.repeats):
            clock(step)
    print(f"minicnn {name} on {args.device}, batch {args.model_batch}: training step "
          f"{eager:.1f} ms (median of {args.repeats}); with the device synchronised around "
          f"each op {synced:.1f} ms, of which (ms: synchronised, per step; host ms: the op's "
          "host time without synchronisation):")
    print(profile_report(times, synced / 1e3, args.repeats, host_times), flush=True)


def available_models():
    """Model names both minicnn.models and torchvision.models provide."""
    import torchvision
    import minicnn.models as models
    from minicnn.benchmarking import MODELS
    return [m for m in MODELS if hasattr(models, m) and hasattr(torchvision.models, m)]


# ----- reporting ------------------------------------------------------------------------------
def add_ratios(row):
    for what in ("fwd", "train"):
        if f"minicnn_{what}_ms" in row and f"torch_{what}_ms" in row:
            row[f"{what}_ratio"] = row[f"minicnn_{what}_ms"] / row[f"torch_{what}_ms"]
    return row


COLUMNS = [("kind", 5), ("name", 20), ("shape", 46), ("mc fwd ms", 10), ("torch fwd", 10),
           ("ratio", 7), ("mc train", 10), ("torch train", 11), ("ratio", 7), ("mc MB", 8),
           ("torch MB", 8)]


def format_row(row):
    cells = [f"{row['kind']:<5}", f"{row['name']:<20}", f"{row['shape'][:46]:<46}"]
    keys = ["minicnn_fwd_ms", "torch_fwd_ms", "fwd_ratio",
            "minicnn_train_ms", "torch_train_ms", "train_ratio", "minicnn_peak_mb", "torch_peak_mb"]
    for key, (_, width) in zip(keys, COLUMNS[3:], strict=True):
        digits = 1 if "ratio" in key else 0 if "_mb" in key else 2
        cells.append(f"{row[key]:>{width}.{digits}f}" if key in row else f"{'-':>{width}}")
    line = "  ".join(cells)
    return line + (f"  -- {row['error']}" if "error" in row else "")


def versions(device):
    import numpy as np
    import minicnn as mc
    import torch
    info = {"minicnn": mc.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}
    if device == "cuda":
        import cupy
        info.update(cupy=cupy.__version__, cuda_runtime=cupy.cuda.runtime.runtimeGetVersion(),
                    cuda_driver=cupy.cuda.runtime.driverGetVersion(),
                    cudnn=torch.backends.cudnn.version(),
                    gpu=cupy.cuda.runtime.getDeviceProperties(0)["name"].decode())
    return info


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda",
                   help="where both libraries run (default cuda)")
    p.add_argument("--batch", type=int, default=32, help="batch size of the op rows (default 32)")
    p.add_argument("--model-batch", type=int, default=16, help="batch size of the model rows (default 16)")
    p.add_argument("--repeats", type=int, default=10, help="timed runs per measurement; the median is reported")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs first (kernels compile, cuDNN tunes)")
    p.add_argument("--only", nargs="+", metavar="NAME",
                   help="only these ops and/or models (e.g. conv2d relu resnet50)")
    p.add_argument("--no-models", action="store_true", help="skip the model rows")
    p.add_argument("--no-ops", action="store_true", help="skip the op rows (their batch is --batch, "
                   "not --model-batch: a second model batch need not repeat them)")
    p.add_argument("--profile", metavar="MODEL",
                   help="print where one minicnn training step of MODEL spends its time, and stop")
    p.add_argument("--tf32", action="store_true", help="allow TF32 tensor-core maths in both libraries")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: batch 2, model batch 2, 2 warm-ups, 3 repeats")
    p.add_argument("--json", default=DEFAULT_JSON, help="where to write the results (default %(default)s)")
    p.add_argument("--table", nargs="+", metavar="JSON",
                   help="print the model rows of saved results as docs/benchmarks.md's Markdown "
                        "table, and stop")
    args = p.parse_args(argv)
    if args.quick:
        args.batch, args.model_batch, args.warmup, args.repeats = 2, 2, 2, 3
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.table:
        print(markdown_table(args.table))
        return None
    os.environ["CUPY_TF32"] = "1" if args.tf32 else "0"   # read when CuPy loads (lazily, below)
    import torch
    import minicnn as mc
    if args.device == "cuda":
        mc.backend.require_cupy()                         # a clear error without CuPy or a GPU
        if not torch.cuda.is_available():
            raise SystemExit("benchmarks/gpu.py: PyTorch sees no CUDA GPU (a CPU-only build?)")
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = args.tf32
    if args.profile:
        print_profile(args.profile, args)
        return None
    cases, make_arrays = load_op_cases()
    cases = [c for c in cases if not args.no_ops and (not args.only or c.op in args.only)]
    available = [] if args.no_models else available_models()
    models = [m for m in available if not args.only or m in args.only]
    print(f"minicnn {mc.__version__} vs torch {torch.__version__} on {args.device}: "
          f"median of {args.repeats} (warm-up {args.warmup}), float32{' with TF32' if args.tf32 else ''}; "
          "ratio = minicnn / torch")
    print("  ".join(f"{n:<{w}}" if i < 3 else f"{n:>{w}}" for i, (n, w) in enumerate(COLUMNS)), flush=True)
    # written again after every row: a run stopped half-way (a timeout) keeps what it measured
    result = {"device": args.device, "batch": args.batch, "model_batch": args.model_batch,
              "repeats": args.repeats, "warmup": args.warmup, "quick": args.quick, "tf32": args.tf32,
              "timing": "CUDA events, median" if args.device == "cuda" else "perf_counter, median",
              "versions": versions(args.device), "complete": False, "results": []}
    rows = result["results"]
    for i, case in enumerate(cases):
        rows.append(run_op(case, make_arrays, args, seed=i))
        print(format_row(rows[-1]), flush=True)
        write_json(result, args.json)
    for i, name in enumerate(models):
        rows.append(run_model(name, args, seed=i))
        print(format_row(rows[-1]), flush=True)
        write_json(result, args.json)
    from minicnn.benchmarking import MODELS
    missing = [m for m in MODELS if m not in available]
    if missing and not args.no_models:
        print(f"(models not available in both libraries, skipped: {', '.join(missing)})")
    result["complete"] = True
    write_json(result, args.json)
    print(f"wrote {args.json}")
    return result


def write_json(result, path):
    from minicnn.io.files import atomic_path
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(result, f, indent=2)


def markdown_table(paths):
    """The model rows of saved results (one or more --json files) as the Markdown table of
    docs/benchmarks.md: time of a training step and an eval forward, peak GPU memory."""
    lines = ["| model | batch | train ms minicnn / torch | ratio | eval ms minicnn / torch | ratio "
             "| peak MB minicnn / torch | ratio |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for path in paths:
        with open(path) as f:
            result = json.load(f)
        for row in result["results"]:
            if row["kind"] != "model":
                continue
            if "error" in row:
                lines.append(f"| {row['name']} | {row['batch']} | {row['error']} | | | | | |")
                continue
            cells = [row["name"], str(row["batch"])]
            for mine, theirs, digits in (("minicnn_train_ms", "torch_train_ms", 1),
                                         ("minicnn_fwd_ms", "torch_fwd_ms", 1),
                                         ("minicnn_peak_mb", "torch_peak_mb", 0)):
                if mine in row and theirs in row:
                    cells += [f"{row[mine]:.{digits}f} / {row[theirs]:.{digits}f}",
                              f"{row[mine] / row[theirs]:.2f}"]
                else:
                    cells += ["-", "-"]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
