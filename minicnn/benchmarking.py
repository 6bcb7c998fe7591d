"""Timing an op in minicnn and in PyTorch, in the same process, on the same inputs.

One place for what `python -m minicnn bench` and benchmarks/ops.py share: how an op's
inputs are described (``Case``, ``Spec``) and made (``make_arrays``), and how a pass
through it is timed (``time_op``, ``median_ms``).  The ratio minicnn / PyTorch of two
such times is what the benchmarks report (> 1: minicnn is slower).

PyTorch is imported only when a case is timed with it, so minicnn never depends on it.
Models are paired the same way (``paired_models``: torchvision's weights copied into
minicnn's model), and ``profile`` splits a minicnn step into time per op.  ``busy_cores``
keeps cores busy meanwhile, to measure on a machine that also runs other work.
"""
import collections
import contextlib
import multiprocessing
import os
import signal
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import functional
from .autograd import Function, Tensor

# PyTorch's OpenMP threads keep spinning for a while after each op and take the cores from
# the NumPy BLAS and Numba code that runs next (sgemm here: ~195 GFLOP/s alone, 108-155
# right after a torch op).  PASSIVE makes them sleep at once.  It is read when torch's
# OpenMP starts, so it must be set before torch is imported; the scripts set it first thing.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

PASSES = ("fwd", "fwdbwd")      # forward only; forward, then backward


@dataclass
class Spec:
    """One input of an op: shape (without the batch axis when batched) and kind."""
    shape: tuple
    kind: str = "data"          # data | weight | mean | var | target
    batched: bool = False       # prepend the batch size
    classes: int = 0            # for targets


def data(*shape):
    return Spec(shape, "data", batched=True)


def weight(*shape):
    return Spec(shape, "weight")


@dataclass
class Case:
    op: str                     # the function's name in minicnn.functional / torch.nn.functional
    label: str                  # where the shape comes from
    inputs: list
    call: Callable              # call(F, *tensors) with F = minicnn.functional or torch's


def make_arrays(case, batch, rng):
    """float32 NumPy arrays (int64 for targets) for the case's inputs."""
    arrays = []
    for s in case.inputs:
        shape = ((batch,) if s.batched else ()) + tuple(s.shape)
        if s.kind == "target":
            arrays.append(rng.integers(0, s.classes, size=shape).astype(np.int64))
        elif s.kind == "var":
            arrays.append((rng.random(shape) + 0.5).astype(np.float32))
        elif s.kind == "weight":   # scaled like PyTorch's default init, so outputs stay O(1)
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
            arrays.append((rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32))
        else:
            arrays.append(rng.standard_normal(shape).astype(np.float32))
    return arrays


def to_tensors(lib, case, arrays, device="cpu"):
    """Tensors of ``lib`` ('minicnn' or 'torch') on ``device``; data and weights require grad."""
    grad = [s.kind in ("data", "weight") for s in case.inputs]
    if lib == "torch":
        import torch
        return [torch.tensor(a, device=device).requires_grad_(g) for a, g in zip(arrays, grad)]
    from .autograd import tensor
    return [tensor(a, requires_grad=g, device=device) for a, g in zip(arrays, grad)]


def wall_clock_ms(fn):
    """The wall-clock time of one call of ``fn``, in milliseconds."""
    start = time.perf_counter()
    fn()
    return 1e3 * (time.perf_counter() - start)


def median_ms(fn, repeats, warmup, clock=wall_clock_ms):
    """The median time of ``repeats`` calls of ``fn`` as ``clock`` measures one (ms), after
    ``warmup`` untimed calls (Numba compiles on the first)."""
    for _ in range(warmup):
        fn()
    return statistics.median(clock(fn) for _ in range(repeats))


def time_op(lib, case, arrays, repeats, warmup, seed, passes=PASSES, device="cpu",
            clock=wall_clock_ms):
    """{pass: median ms} of one op in one library, for each of ``passes``: 'fwd' is the
    forward with autograd recording (inputs and parameters require grad, as in training),
    'fwdbwd' the forward, then backward of a random upstream gradient into every input
    (drawn from ``seed``: the same gradient for both libraries).  On a GPU, ``clock``
    times a call with CUDA events (benchmarks/gpu.py)."""
    if lib == "torch":
        import torch
        import torch.nn.functional as library
    else:
        library = functional
    tensors = to_tensors(lib, case, arrays, device)
    leaves = [t for t in tensors if t.requires_grad]
    out = case.call(library, *tensors)
    g = np.random.default_rng(seed).standard_normal(tuple(out.shape)).astype(np.float32)
    if lib == "torch":
        g = torch.tensor(g, device=device)
    else:
        from .autograd import tensor
        g = tensor(g, device=device)

    def forward():
        case.call(library, *tensors)

    def forward_backward():
        for t in leaves:
            t.grad = None
        case.call(library, *tensors).backward(g)

    runs = {"fwd": forward, "fwdbwd": forward_backward}
    return {name: median_ms(runs[name], repeats, warmup, clock) for name in passes}


# ----- models ---------------------------------------------------------------------------
MODELS = {   # name -> constructor options that minicnn and torchvision share
    "alexnet": {}, "vgg16": {}, "resnet18": {}, "resnet50": {},
    "googlenet": {"aux_logits": False, "init_weights": False},
    "inception_v3": {"aux_logits": False, "init_weights": False},
}
IMAGE_SIZE = {"inception_v3": 299}    # the others take 224x224


def paired_models(name, device="cpu"):
    """(minicnn model, torchvision model) of architecture ``name`` with the same weights."""
    import torchvision
    from . import models
    theirs = getattr(torchvision.models, name)(weights=None, **MODELS[name])
    mine = getattr(models, name)(**MODELS[name])
    mine.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return mine.to(device), theirs.to(device)


# ----- where the time goes --------------------------------------------------------------
def _all_functions(cls=Function):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_functions(sub)


BETWEEN_OPS = ("between ops", "host")   # profile's entry for the host time outside every op


@contextlib.contextmanager
def profile(synchronize=None):
    """Time every op's forward and backward while the block runs.

        with profile() as times:
            train_step()
        # times[("Conv2d", "forward")] == [total seconds, calls]
        # times[BETWEEN_OPS] == [seconds from one op's end to the next op's start, gaps]

    Each Function subclass's ``forward``/``backward`` is wrapped for the duration, so the
    totals cover exactly the array work of each op; the gaps between ops are the host's own
    work (the backward walk, leaf-gradient copies, the optimizer, Python).  On a GPU, pass
    ``synchronize`` (e.g. ``cupy.cuda.Device().synchronize``): it is called before and after
    each op, so an op's time is its launches and the GPU's work on them, and a gap is host
    time alone (the GPU is idle then); the step becomes slower by the lost overlap.  Without
    it, on a GPU, an op's time is what launching it costs the host.
    """
    times = collections.defaultdict(lambda: [0.0, 0])
    originals = []
    depth, last_end = [0], [None]          # ops inside ops (a checkpoint's block) are no gap

    def timed(cls, method, name):
        def wrapper(self, *args):
            if synchronize:
                synchronize()
            start = time.perf_counter()
            if depth[0] == 0 and last_end[0] is not None:
                gap = times[BETWEEN_OPS]
                gap[0] += start - last_end[0]
                gap[1] += 1
            depth[0] += 1
            try:
                return method(self, *args)
            finally:
                depth[0] -= 1
                if synchronize:
                    synchronize()
                end = time.perf_counter()
                entry = times[(cls.__name__, name)]
                entry[0] += end - start
                entry[1] += 1
                if depth[0] == 0:
                    last_end[0] = end
        return wrapper

    for cls in set(_all_functions()):
        for name in ("forward", "backward"):
            if name in vars(cls):
                originals.append((cls, name, vars(cls)[name]))
                setattr(cls, name, timed(cls, vars(cls)[name], name))
    try:
        yield times
    finally:
        for cls, name, method in originals:
            setattr(cls, name, method)


def profile_report(times, step_seconds, repeats, host_times=None):
    """``profile``'s totals over ``repeats`` steps of ``step_seconds`` each, as a table:
    one line per op and pass, biggest first, then the host time between ops and the rest of
    the step.  ``host_times``: a second ``profile`` of as many steps without synchronisation
    (on a GPU: what launching each op costs the host), shown beside each op's time."""
    gaps, gap_count = times.get(BETWEEN_OPS, (0.0, 0))
    rows = sorted(((total / repeats, calls // repeats, op, which)
                   for (op, which), (total, calls) in times.items() if (op, which) != BETWEEN_OPS),
                  reverse=True)
    host = f" {'host ms':>9}" if host_times is not None else ""
    lines = [f"  {'op':<22} {'pass':<9} {'calls':>6} {'ms':>9} {'share':>7}{host}"]
    for seconds, calls, op, which in rows:
        line = f"  {op:<22} {which:<9} {calls:>6} {1e3 * seconds:>9.1f} {seconds / step_seconds:>7.1%}"
        if host_times is not None:
            line += f" {1e3 * host_times.get((op, which), (0.0, 0))[0] / repeats:>9.1f}"
        lines.append(line)
    gaps /= repeats
    lines.append(f"  {'host time between ops':<31} {gap_count // repeats:>6} {1e3 * gaps:>9.1f} "
                 f"{gaps / step_seconds:>7.1%}")
    rest = step_seconds - sum(r[0] for r in rows) - gaps
    lines.append(f"  {'rest (before the first op, after the last)':<38} "
                 f"{1e3 * rest:>9.1f} {rest / step_seconds:>7.1%}")
    return "\n".join(lines)


# ----- a busy machine ------------------------------------------------------------------------
def _spin(parent):
    """Keep one core busy until the benchmark stops this process or is gone itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # Ctrl-C reaches every process of the
    while os.getppid() == parent:                    # terminal: the benchmark stops us then
        pass


@contextlib.contextmanager
def busy_cores(n):
    """Run the block with ``n`` processes spinning beside it (each keeps a core busy, as a
    browser or a notebook server would): ``benchmarks/models.py --busy-cores 1`` measures on
    a machine with one core taken.  The spinners are stopped however the block ends
    (exception, Ctrl-C), and stop themselves if the benchmark is killed."""
    if n < 0:
        raise ValueError(f"busy_cores: the number of busy cores must be >= 0, got {n}")
    # fork, where there is one: a spinner needs nothing but this function
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    spinners = []
    try:
        for _ in range(n):
            spinner = context.Process(target=_spin, args=(os.getpid(),), daemon=True,
                                      name="minicnn-busy-core")
            spinner.start()
            spinners.append(spinner)
        yield spinners
    finally:
        for spinner in spinners:
            spinner.terminate()
        for spinner in spinners:
            spinner.join()
