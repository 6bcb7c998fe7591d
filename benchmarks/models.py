"""Benchmark whole models on the CPU: minicnn against PyTorch, same weights, same threads.

    python benchmarks/models.py                            # every model, batch 4, all cores
    python benchmarks/models.py --batch 16 --models resnet18 vgg16 --plot ratios.png
    python benchmarks/models.py --profile vgg16            # where minicnn's time goes, per op
    python benchmarks/models.py --quick                    # smoke run: resnet18, batch 1
    python benchmarks/models.py --paper                    # the paper versions torchvision lacks
    python benchmarks/models.py --new                      # squeezenet1_0, densenet121, resnext50_32x4d,
                                                           # wide_resnet50_2, mobilenet_v2
    python benchmarks/models.py --busy-cores 1             # with one core kept busy meanwhile
    python benchmarks/models.py --fuse-bn                  # minicnn's eval with BN folded into convs

For each model (torchvision's weights copied into minicnn's, so both compute the same
thing; the logits are compared as a check) it times
  * train : one training step -- forward, cross entropy, backward, SGD-momentum update;
  * eval  : the forward in eval mode without autograd,
alternating minicnn and PyTorch run by run (so drifting machine load hits both alike),
and reports the median and the minimum of --repeats runs and their ratio minicnn /
PyTorch (> 1: minicnn is slower), and "paired": the median of the ratios of the two
back-to-back runs of each repeat, which a slow phase of the machine hits alike.  "spread"
is (max - min) / median of the repeats: the noise of this machine.  Peak memory of a training step is measured in a child process
per library: how far the step lifts the resident memory above what the model, its data
and its optimizer state already hold (activations, saved tensors, gradients, workspace).

--cpu-time measures the CPU seconds of the process (time.process_time) instead of the
wall clock: on a machine shared with other work (load average above the core count),
wall times swing by 100% and more, while the CPU time a step uses barely moves.  With
--threads 1 it is the step's work on one core.

Both libraries use --threads threads (default: all cores): torch.set_num_threads, and
for minicnn the BLAS thread variables (set before NumPy loads) and numba.set_num_threads.
PyTorch's OpenMP threads are made passive (OMP_WAIT_POLICY=PASSIVE, before torch loads):
spinning, they would slow whatever minicnn runs next.  Results go to --json (default
benchmarks/results/models-cpu.json).

--busy-cores N starts N processes that each keep a core busy for the whole measurement
(minicnn.benchmarking.busy_cores; stopped at the end, on an error or Ctrl-C too).
--fuse-bn times minicnn's eval forward on a copy with each batch norm folded into the
convolution before it (nn.utils.fuse_conv_bn_eval_model, made after the training runs);
PyTorch's eval is unchanged; the folded copy's logits are compared with the unfused
model's (max_abs_diff_logits_fused).
"""
import os
import sys


def _option(argv, name, default):
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return default


if __name__ == "__main__":   # read once, when NumPy and torch load: set them first
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = _option(sys.argv[1:], "--threads", str(os.cpu_count()))
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

import argparse              # noqa: E402
import json                  # noqa: E402
import platform              # noqa: E402
import statistics            # noqa: E402
import subprocess            # noqa: E402
import time                  # noqa: E402

import numpy as np           # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_JSON = os.path.join(HERE, "results", "models-cpu.json")
DEFAULT_MODELS = ["alexnet", "vgg16", "googlenet", "resnet18", "resnet50", "inception_v3"]
# The papers' versions that torchvision lacks, paired with the PyTorch definitions the parity
# tests check them against (tests/models_torch_reference.py, written from the papers):
# name -> (PyTorch model from that module, minicnn model, input height = width).  Without
# auxiliary heads, like googlenet above: the step's loss is the main output's.
PAPER_MODELS = {
    "alexnet_2012": (lambda ref: ref.AlexNet2012(),
                     lambda mc: mc.models.alexnet_2012(init_weights=False), 227),
    "vgg11_lrn": (lambda ref: ref.vgg11_lrn(init_weights=False),
                  lambda mc: mc.models.vgg11_lrn(init_weights=False), 224),
    "googlenet_2014": (lambda ref: ref.GoogLeNet2014(aux_logits=False),
                       lambda mc: mc.models.googlenet_2014(aux_logits=False, init_weights=False), 224),
    "resnet50_stride_in_1x1": (lambda ref: ref.resnet_stride_in_1x1("resnet50"),
                               lambda mc: mc.models.resnet50(stride_in_1x1=True), 224),
}
# The newer torchvision architectures (--new; not in the default six case studies): minicnn's
# constructors of the same names have torchvision's state-dict keys, so torchvision's model,
# built with its own initialisation, is copied key by key.  name -> input height = width.
NEW_MODELS = {"squeezenet1_0": 224, "densenet121": 224, "resnext50_32x4d": 224,
              "wide_resnet50_2": 224, "mobilenet_v2": 224}


# ----- one model, one library --------------------------------------------------------------
class Runner:
    """A model of one library with its input, labels and optimizer: ``train()`` runs one
    training step, ``eval()`` one forward without autograd."""

    def __init__(self, lib, model, images, labels):
        self.lib, self.model, self.eval_model = lib, model, None
        if lib == "torch":
            import torch
            import torch.nn.functional as F
            self.x, self.y = torch.from_numpy(images), torch.from_numpy(labels)
            self.opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
            self.no_grad = torch.no_grad
        else:
            import minicnn as mc
            import minicnn.functional as F
            self.x, self.y = mc.tensor(images), mc.tensor(labels)
            self.opt = mc.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
            self.no_grad = mc.no_grad
        self.F = F

    def train(self, zero_grad=True):
        """One step; without ``zero_grad`` the gradients add up (accumulation over micro-batches)."""
        self.model.train()
        if zero_grad:
            self.opt.zero_grad()
        self.F.cross_entropy(self.model(self.x), self.y).backward()
        self.opt.step()

    def eval(self):
        model = self.eval_model or self.model
        model.eval()
        with self.no_grad():
            return model(self.x)

    def fuse_bn(self):
        """Eval from now on runs a copy of the model with batch norms folded (minicnn only)."""
        import minicnn as mc
        self.eval_model = mc.nn.utils.fuse_conv_bn_eval_model(self.model.eval(), self.x[:1])


def paired(name):
    """(minicnn model, PyTorch model, image size) of ``name``, with the same weights."""
    if name in NEW_MODELS:
        import torchvision
        import minicnn as mc
        theirs = getattr(torchvision.models, name)(weights=None)
        mine = getattr(mc.models, name)()
        mine.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
        return mine, theirs, NEW_MODELS[name]
    if name not in PAPER_MODELS:
        from minicnn.benchmarking import IMAGE_SIZE, paired_models
        return (*paired_models(name), IMAGE_SIZE.get(name, 224))
    import minicnn as mc
    tests = os.path.join(os.path.dirname(HERE), "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import models_torch_reference as reference
    make_theirs, make_mine, size = PAPER_MODELS[name]
    theirs, mine = make_theirs(reference), make_mine(mc)
    mine.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return mine, theirs, size


def make_runners(name, batch, seed=0):
    """{'minicnn': Runner, 'torch': Runner} for model ``name`` with the same weights and data."""
    mine, theirs, size = paired(name)
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((batch, 3, size, size)).astype(np.float32)
    labels = rng.integers(0, 1000, batch).astype(np.int64)
    return {"minicnn": Runner("minicnn", mine, images, labels),
            "torch": Runner("torch", theirs, images, labels)}


def set_threads(threads):
    import torch
    torch.set_num_threads(threads)
    try:
        import numba
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    except ImportError:
        pass


# ----- timing --------------------------------------------------------------------------------
def time_alternating(runners, what, repeats, warmup, clock=time.perf_counter):
    """{lib: [seconds of each repeat]}: minicnn and torch take turns, run by run (``clock``:
    the wall clock, or time.process_time for --cpu-time)."""
    for _ in range(warmup):
        for runner in runners.values():
            getattr(runner, what)()
    times = {lib: [] for lib in runners}
    for _ in range(repeats):
        for lib, runner in runners.items():
            start = clock()
            getattr(runner, what)()
            times[lib].append(clock() - start)
    return times


def summarise(times):
    """Median, min and spread (ms) of each library, and the ratios minicnn / torch."""
    row = {}
    for lib, ts in times.items():
        median = statistics.median(ts)
        row[lib] = {"median_ms": 1e3 * median, "min_ms": 1e3 * min(ts),
                    "spread": (max(ts) - min(ts)) / median}
    row["ratio_median"] = row["minicnn"]["median_ms"] / row["torch"]["median_ms"]
    row["ratio_min"] = row["minicnn"]["min_ms"] / row["torch"]["min_ms"]
    # Each repeat ran the two libraries back to back, in the same phase of the machine's
    # load: the median of those per-repeat ratios cancels slow drifts the others do not.
    row["ratio_paired"] = statistics.median(m / t for m, t in zip(times["minicnn"], times["torch"]))
    return row


# ----- memory: one child process per library --------------------------------------------------
def _status_mb(field):
    """VmRSS (now) or VmHWM (peak since the last reset) of this process, in MB (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def peak_memory_child(lib, name, batch, threads, accumulate=False):
    """Run in a fresh process: how far a training step lifts the resident memory above
    what the model, its data and (after a first step) its optimizer state and gradients
    hold, in MB.  The peak counter is reset first (Linux: /proc/self/clear_refs) so that
    building the models does not count.  Linux with glibc only.  ``accumulate``: the
    measured step keeps the gradients of the first (no zero_grad): gradient accumulation."""
    import ctypes
    import gc
    set_threads(threads)
    runner = make_runners(name, batch)[lib]
    gc.collect()
    runner.train()                                  # optimizer state, Numba, caches exist now
    gc.collect()
    # Hand the heap's free memory back to the system, so the baseline is what is alive (the
    # C allocator keeps freed blocks, and more of them after many mid-sized allocations
    # than after a few huge ones: without this the same code measures differently).
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    before = _status_mb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")                                # reset VmHWM to the current RSS
    runner.train(zero_grad=not accumulate)
    return _status_mb("VmHWM") - before


def peak_memory(lib, name, batch, threads, accumulate=False):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-child", lib,
                          "--models", name, "--batch", str(batch), "--threads", str(threads)]
                         + ["--accumulate"] * accumulate,
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


# ----- profile ---------------------------------------------------------------------------------
def print_profile(name, batch, repeats, what="train"):
    """Time per op (forward and backward) of minicnn's training step, or of its eval
    forward (``what="eval"``), biggest first."""
    from minicnn.benchmarking import profile, profile_report
    runner = make_runners(name, batch)["minicnn"]
    run = getattr(runner, what)
    run()                                            # warm-up: Numba loads, buffers exist
    with profile() as times:
        start = time.perf_counter()
        for _ in range(repeats):
            run()
        step = (time.perf_counter() - start) / repeats
    label = "training step" if what == "train" else "eval forward"
    print(f"minicnn {name}, batch {batch}: {label} {1e3 * step:.0f} ms "
          f"(mean of {repeats}), per op:")
    print(profile_report(times, step, repeats))


# ----- reporting -------------------------------------------------------------------------------
def format_row(row):
    cells = [f"{row['model']:<15}", f"{row['batch']:>3}"]
    for what in ("train", "eval"):
        r = row[what]
        cells.append(f"{r['minicnn']['median_ms']:>9.0f} {r['torch']['median_ms']:>9.0f} "
                     f"{r['ratio_median']:>6.2f} {r['ratio_min']:>6.2f} {r['ratio_paired']:>6.2f} "
                     f"{max(r['minicnn']['spread'], r['torch']['spread']):>6.0%}")
    if "memory" in row:
        m = row["memory"]
        cells.append(f"{m['minicnn_mb']:>7.0f} {m['torch_mb']:>7.0f} {m['ratio']:>6.2f}")
    return " ".join(cells)


HEADER = (f"{'model':<15} {'b':>3} {'train mc':>9} {'torch':>9} {'ratio':>6} {'min r':>6} "
          f"{'paired':>6} {'spread':>6} {'eval mc':>9} {'torch':>9} {'ratio':>6} {'min r':>6} "
          f"{'paired':>6} {'spread':>6} "
          f"{'mem mc':>7} {'torch':>7} {'ratio':>6}")


def draw_ratios(ax, names, series):
    """Bars of minicnn / PyTorch ratios on the matplotlib axes ``ax``: a group per name of
    ``names``, a bar per (label, values) of ``series`` in it, and a line at 1."""
    width = 0.8 / len(series)
    for k, (label, values) in enumerate(series):
        ax.bar(np.arange(len(names)) + k * width, values, width, label=label)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(np.arange(len(names)) + width * (len(series) - 1) / 2, names)
    ax.set_ylabel("minicnn / PyTorch (lower is better)")
    ax.legend()


def plot(rows, path):
    """A bar chart of the ratios (train, eval, memory) per model, to ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(8, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    series = [("train step", [r["train"]["ratio_median"] for r in rows]),
              ("eval forward", [r["eval"]["ratio_median"] for r in rows])]
    if all("memory" in r for r in rows):
        series.append(("peak memory", [r["memory"]["ratio"] for r in rows]))
    draw_ratios(ax, [r["model"] for r in rows], series)
    fig.tight_layout()
    fig.savefig(path)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=DEFAULT_MODELS, metavar="NAME",
                   choices=DEFAULT_MODELS + list(PAPER_MODELS) + list(NEW_MODELS),
                   help=f"default: {' '.join(DEFAULT_MODELS)}")
    p.add_argument("--paper", action="store_true",
                   help=f"the papers' versions instead: {' '.join(PAPER_MODELS)}")
    p.add_argument("--new", action="store_true",
                   help=f"the newer torchvision models instead: {' '.join(NEW_MODELS)}")
    p.add_argument("--batch", type=int, default=4, help="batch size (default 4)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for both libraries")
    p.add_argument("--repeats", type=int, default=5, help="timed runs of each library (default 5)")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory children")
    p.add_argument("--cpu-time", action="store_true",
                   help="time the process's CPU seconds, not the wall clock (a loaded machine)")
    p.add_argument("--accumulate", action="store_true",
                   help="measure the memory of a step without zero_grad (gradient accumulation)")
    p.add_argument("--profile", metavar="MODEL", help="print minicnn's time per op for MODEL and stop")
    p.add_argument("--profile-eval", action="store_true",
                   help="with --profile: the eval forward instead of the training step")
    p.add_argument("--plot", metavar="PNG", help="also draw a bar chart of the ratios")
    p.add_argument("--quick", action="store_true", help="smoke run: resnet18, batch 1, 2 repeats")
    p.add_argument("--busy-cores", type=int, default=0, metavar="N",
                   help="keep N cores busy with spinning processes while measuring (default 0)")
    p.add_argument("--fuse-bn", action="store_true",
                   help="minicnn's eval with batch norms folded into the convolutions")
    p.add_argument("--json", default=DEFAULT_JSON, help="where to write the results")
    p.add_argument("--memory-child", metavar="LIB", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.paper:
        args.models = list(PAPER_MODELS)
    if args.new:
        args.models = list(NEW_MODELS)
    if args.quick:
        args.models, args.batch, args.repeats, args.warmup = ["resnet18"], 1, 2, 1
    return args


def measure(name, args):
    """One model's row: logits check, train and eval times, peak memory."""
    clock = time.process_time if args.cpu_time else time.perf_counter
    runners = make_runners(name, args.batch)
    logits = {lib: r.eval().numpy() for lib, r in runners.items()}   # same weights, same input
    row = {"model": name, "batch": args.batch,
           "max_abs_diff_logits": float(np.abs(logits["minicnn"] - logits["torch"]).max()),
           "train": summarise(time_alternating(runners, "train", args.repeats, args.warmup, clock))}
    if args.fuse_bn:               # folded after training: the weights eval will see
        unfused = runners["minicnn"].eval().numpy()
        runners["minicnn"].fuse_bn()
        row["max_abs_diff_logits_fused"] = float(np.abs(runners["minicnn"].eval().numpy() - unfused).max())
    row["eval"] = summarise(time_alternating(runners, "eval", args.repeats, args.warmup, clock))
    del runners
    if not args.no_memory:
        mine, theirs = (peak_memory(lib, name, args.batch, args.threads, args.accumulate)
                        for lib in ("minicnn", "torch"))
        row["memory"] = {"minicnn_mb": mine, "torch_mb": theirs, "ratio": mine / theirs}
    print(format_row(row), flush=True)
    return row


def main(argv=None):
    args = parse_args(argv)
    if args.memory_child:
        print(peak_memory_child(args.memory_child, args.models[0], args.batch, args.threads,
                                args.accumulate))
        return None
    import torch
    import minicnn as mc
    from minicnn.benchmarking import busy_cores
    set_threads(args.threads)
    if args.profile:
        print_profile(args.profile, args.batch, args.repeats,
                      "eval" if args.profile_eval else "train")
        return None
    print(f"minicnn {mc.__version__} vs torch {torch.__version__}, CPU, {args.threads} threads, "
          f"float32, batch {args.batch}: median and min of {args.repeats} alternating runs "
          f"(ms); ratio = minicnn / torch of the medians, min r of the mins, paired = median "
          f"of the ratios of back-to-back runs")
    if args.cpu_time:
        print("times are CPU seconds of the process (time.process_time), not wall time")
    if args.busy_cores or args.fuse_bn:
        print(f"{args.busy_cores} core(s) kept busy; minicnn's eval "
              f"{'with' if args.fuse_bn else 'without'} batch norms folded")
    print(HEADER, flush=True)
    with busy_cores(args.busy_cores):
        rows = [measure(name, args) for name in args.models]
    result = {"device": "cpu", "threads": args.threads, "batch": args.batch,
              "repeats": args.repeats, "warmup": args.warmup, "quick": args.quick,
              "accumulate": args.accumulate, "busy_cores": args.busy_cores,
              "fuse_bn": args.fuse_bn, "clock": "cpu" if args.cpu_time else "wall",
              "machine": {"processor": platform.processor() or platform.machine(),
                          "cores": os.cpu_count(), "python": platform.python_version()},
              "versions": {"minicnn": mc.__version__, "torch": torch.__version__,
                           "numpy": np.__version__},
              "date": time.strftime("%Y-%m-%d"), "results": rows}
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {args.json}")
    if args.plot:
        plot(rows, args.plot)
        print(f"wrote {args.plot}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
