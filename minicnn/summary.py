"""mc.summary: a per-layer table of a model -- output shape, parameters, memory, multiply-adds
and receptive field -- the numbers the lectures quote for each architecture.

How it works: the model runs once, in eval mode, on a dummy input (a batch of 1, under
no_grad), and the summary watches every op (``autograd.observe``): each op's result is
credited to the innermost module whose forward is running (a stack kept by forward
pre-hooks and hooks), so ops called functionally inside a ``forward`` (``F.max_pool2d``,
``F.cat``, ``x + identity``) count like layers do.  What each op does, the op says (its
``windows()``, ``multiply_adds()``, ``in_place_in_models``): the summary knows no op class.
Per op:

* **memory**: the bytes of every distinct tensor the forward produces, each counted once,
  plus the input.  A view of an input (flatten, reshape) is not a new tensor, and ReLU is
  counted as working in place, as every torchvision model and the lectures' tables do
  (``ReLU(inplace=True)``), so it adds nothing (the op declares ``in_place_in_models``).  Max pooling's argmax (kept for backward)
  is not counted.  The total is the same whatever ``depth`` the table shows.
* **multiply-adds** of convolutions and linear layers, which do almost all the arithmetic
  (each op's ``multiply_adds()``): one per product, ``k*k*C_in/groups`` per output value of
  a convolution.  Bias additions are not among them (the papers leave them out; torchinfo
  counts them as mult-adds): they are counted apart, ``bias_adds``, one per output value of
  a convolution or linear layer that has a bias.  Batch norm, pooling and activations
  are not counted at all.
* **kernel/stride** of a layer that slides one window (from its op's ``windows()``):
  ``11x11/4`` is an 11x11 window moved 4 pixels at a time; ``3x3/1 d2`` a dilated one;
  ``7x7 adaptive`` a window whose positions are spread unevenly (adaptive pooling).
* **receptive field**, tracked per tensor and per axis as (rf, jump), jump being the
  distance in input pixels between neighbouring outputs.  An op's output starts from the
  largest rf and jump of its inputs on each axis (so a concatenation or a residual addition
  keeps the widest branch: a 1x3 conv beside a 3x1 conv gives 3x3), and a sliding window of
  span s (``dilation * (k - 1) + 1``) and stride t (from the op's ``windows()``) grows it:
  ``rf_out = rf_in + (s - 1) * jump_in``, ``jump_out = jump_in * t``.  The field may be
  larger than the image: it counts the padding a window reaches into (a unit near the
  border sees fewer real pixels), and deep layers' fields pass the image's size.

Parameters count what runs: a module that never runs in eval (an auxiliary classifier) is
left out of the totals and reported on a line of its own.
"""
from dataclasses import dataclass, field

import numpy as np

from . import backend
from .autograd import Tensor, no_grad, observe
from .geometry import span_and_stride


@dataclass
class LayerInfo:
    name: str                     # dotted module name, as in named_modules()
    kind: str                     # the module's class name
    depth: int                    # 0 = the model itself, 1 = its children, ...
    output_shape: tuple = ()      # per image (batch dimension dropped); () if it did not run
    params: int = 0               # parameters (weights and biases) below it that run
    weights: int = 0              # only the parameters named "weight"
    param_bytes: int = 0          # the memory those parameters take
    macs: int = 0                 # multiply-adds for one image, everything below included
    activations: int = 0          # values newly stored for one image, everything below included
    activation_bytes: int = 0     # their memory (each tensor's own dtype)
    receptive_field: tuple = ()   # (height, width) in input pixels, when spatial
    leaf: bool = True             # False for modules that contain other modules
    ran: bool = False             # False for modules skipped in eval (auxiliary heads)
    own_activations: int = 0      # values stored by ops in its own forward, not in a child's
    own_activation_bytes: int = 0
    own_macs: int = 0
    bias_adds: int = 0            # additions of a bias, everything below included (not in macs)
    own_bias_adds: int = 0
    window: str = ""              # "11x11/4": the kernel and stride of the one window it slides
    order: int = -1               # when its forward finished (the table's row order)
    own_windows: list = field(default_factory=list)   # kernel/stride of each window its own ops slid


@dataclass
class Summary:
    model_name: str
    input_shape: tuple
    input_bytes: int = 0
    rows: list = field(default_factory=list)      # LayerInfo per module, named_modules() order
    depth: int = None                             # the rows shown by str(); None = leaves only

    def __getitem__(self, name):
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"summary: no layer named {name!r}")

    @property
    def total(self):
        """The model itself: parameters and multiply-adds of everything that runs."""
        return self.rows[0]

    @property
    def input_values(self):
        return int(np.prod(self.input_shape))

    @property
    def total_activations(self):
        """Values one forward pass stores per image, the input included."""
        return self.input_values + self.total.activations

    @property
    def total_activation_bytes(self):
        return self.input_bytes + self.total.activation_bytes

    @property
    def not_run(self):
        """The outermost modules that did not run in eval: the auxiliary heads."""
        skipped = {r.name for r in self.rows if not r.ran}
        return [r for r in self.rows if not r.ran and r.name.rpartition(".")[0] not in skipped]

    @property
    def shown(self):
        """The rows of the table, in the order their forwards finished.  A container whose
        children are shown gets a row of its own for the ops of its own forward (a
        concatenation, a functional pooling), if those store anything: so the rows always
        add up to the total."""
        rows = []
        for r in sorted((r for r in self.rows if r.ran), key=lambda r: r.order):
            opened = not r.leaf and (self.depth is None or r.depth < self.depth)
            if opened and (r.own_activations or r.own_macs):
                rows.append(LayerInfo(
                    name=f"{r.name} (own ops)" if r.depth else "(model's own ops)",
                    kind="forward", depth=r.depth, output_shape=r.output_shape,
                    window=_one_window(r), macs=r.own_macs, activations=r.own_activations,
                    activation_bytes=r.own_activation_bytes, receptive_field=r.receptive_field))
            elif not opened and (self.depth is None or r.depth <= self.depth):
                rows.append(r)
        return rows

    def to_dict(self):
        keys = ("name", "kind", "depth", "output_shape", "window", "params", "weights",
                "param_bytes", "macs", "bias_adds", "activations", "activation_bytes",
                "receptive_field", "leaf")
        return {"model": self.model_name, "input_shape": self.input_shape,
                "layers": [{k: getattr(r, k) for k in keys} for r in self.rows if r.ran],
                "total_params": self.total.params, "total_param_bytes": self.total.param_bytes,
                "total_macs": self.total.macs, "total_bias_adds": self.total.bias_adds,
                "input_values": self.input_values,
                "total_activations": self.total_activations,
                "total_activation_bytes": self.total_activation_bytes,
                "not_run": {r.name: r.params for r in self.not_run}}

    def __str__(self):
        header = ("layer", "output shape", "kernel/stride", "params", "weights", "param mem",
                  "activations", "act mem", "mult-adds", "RF")

        def cells(name, shape, window, params, weights, pbytes, values, vbytes, macs, rf):
            return (name, "x".join(map(str, shape)), window, f"{params:,}", f"{weights:,}",
                    human_bytes(pbytes), f"{values:,}", human_bytes(vbytes), human(macs),
                    "x".join(map(str, rf)))

        lines = [cells("input", self.input_shape, "", 0, 0, 0, self.input_values,
                       self.input_bytes, 0, (1, 1))]
        lines += [cells(f"{r.name} ({r.kind})" if r.kind != "forward" else r.name,
                        r.output_shape, r.window, r.params, r.weights, r.param_bytes,
                        r.activations, r.activation_bytes, r.macs, r.receptive_field)
                  for r in self.shown]
        t = self.total
        lines.append(cells("total", (), "", t.params, t.weights, t.param_bytes,
                           self.total_activations, self.total_activation_bytes, t.macs, ()))
        widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(header)]
        fmt = lambda cs: "  ".join(c.ljust(w) if i < 3 else c.rjust(w)
                                   for i, (c, w) in enumerate(zip(cs, widths))).rstrip()
        rule = "-" * len(fmt(header))
        title = (f"{self.model_name}, input {'x'.join(map(str, self.input_shape))} "
                 "(one image, eval mode)")
        text = [title, rule, fmt(header), rule, *map(fmt, lines[:-1]), rule, fmt(lines[-1])]
        if self.not_run:
            params = sum(r.params for r in self.not_run)
            names = ", ".join(r.name for r in self.not_run)
            text.append(f"auxiliary heads (training only, not in the total): {names}: "
                        f"{params:,} params ({human_bytes(sum(r.param_bytes for r in self.not_run))})")
        text += self.notes()
        return "\n".join(text)

    def notes(self):
        """The lines under the table that say what its columns count."""
        t = self.total
        lines = ["mult-adds: the products of convolutions and linear layers (k*k*C_in/groups "
                 "per output value of a conv);",
                 f"  not counted: the {t.bias_adds:,} bias additions (torchinfo counts them as "
                 "mult-adds), batch norm, pooling, activations"]
        height, width = self.input_shape[1:]
        widest = max((r.receptive_field for r in self.rows if r.ran and r.receptive_field),
                     key=max, default=(0, 0))
        if widest[0] > height or widest[1] > width:
            lines += [f"RF: {'x'.join(map(str, widest))} is more than the {height}x{width} image: "
                      "a receptive field is counted as if the image went on past its border",
                      "  (the padding a window reaches into counts too): such a unit can see "
                      "the whole image, and part of its field is padding"]
        return lines


def human(n):
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(int(n))


def human_bytes(n):
    """Binary units, as memory is sized: 1 MiB = 2**20 bytes."""
    for unit, size in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{int(n)}B"


# ----- what one op does to the receptive field and the memory ---------------------------
def _sliding_window(windows):
    """((span_h, stride_h), (span_w, stride_w)) from an op's ``windows()``, or None for an
    op that slides no window (it keeps the field of its inputs)."""
    return None if windows is None else tuple(span_and_stride(w) for w in windows)


def _kernel_and_stride(windows):
    """"11x11/4" from an op's ``windows()`` (kernel/stride; a stride per axis where they
    differ, "3x3/2x1"; " d2" for a dilation), "" for an op that slides none.  Adaptive
    pooling's windows are spread unevenly: "7x7 adaptive" gives the largest."""
    if windows is None:
        return ""
    text = "x".join(str(int(np.max(w.count))) for w in windows)   # taps, padding included
    strides = [int(w.stride) for w in windows]
    if 0 in strides:                                              # 0: uneven (adaptive bins)
        text += " adaptive"
    else:
        text += "/" + ("x".join(map(str, strides)) if len(set(strides)) > 1 else str(strides[0]))
    dilations = [int(w.step) for w in windows]
    if dilations != [1, 1]:
        text += " d" + ("x".join(map(str, dilations)) if len(set(dilations)) > 1 else str(dilations[0]))
    return text


def _one_window(info):
    """The kernel/stride of a module's own ops if they slide one window, else ""."""
    return info.own_windows[0] if len(info.own_windows) == 1 else ""


def _bias_additions(fn, inputs, out):
    """The additions of a bias: one per output value of an op with multiply-adds (a
    convolution, a linear layer) that was given one.  Such ops take (input, weight, bias),
    PyTorch's order."""
    has_bias = fn.multiply_adds() and len(inputs) > 2 and isinstance(inputs[2], Tensor)
    return out.data.size if has_bias else 0


def _grow(field_in, window):
    """(rf_h, rf_w, jump_h, jump_w) -> the same after a window ((span, stride) per axis)."""
    rf_h, rf_w, j_h, j_w = field_in
    (span_h, stride_h), (span_w, stride_w) = window
    return rf_h + (span_h - 1) * j_h, rf_w + (span_w - 1) * j_w, j_h * stride_h, j_w * stride_w


def _is_new_memory(fn, inputs, out):
    """Whether an op's output is a tensor of its own: not a view of an input, and not from
    an op that torchvision's models run in place (ReLU), as the lectures' tables count."""
    if fn.in_place_in_models:
        return False
    xp = backend.get_array_module(out.data)
    return not any(isinstance(t, Tensor) and xp.may_share_memory(out.data, t.data)
                   for t in inputs)


class _Trace:
    """What the summary learns while the model runs: receptive fields per tensor, memory and
    multiply-adds per module."""

    def __init__(self, infos):
        self.infos = infos        # id(module) -> LayerInfo
        self.stack = []           # the modules whose forward is running, innermost last
        self.fields = {}          # id(tensor) -> ((rf_h, rf_w, jump_h, jump_w), tensor)
        self.finished = 0

    def field(self, t):
        return self.fields[id(t)][0] if isinstance(t, Tensor) and id(t) in self.fields else None

    def op(self, fn, inputs, out):
        """Called after every op (``autograd.observe``): out is its (first) output."""
        windows = fn.windows()
        known = [f for f in map(self.field, inputs) if f is not None]
        if known:                 # per axis: the widest field, the largest jump
            widest = tuple(max(f[a] for f in known) for a in range(4))
            window = _sliding_window(windows)
            self.fields[id(out)] = (_grow(widest, window) if window else widest, out)
        if self.stack:
            info = self.infos[id(self.stack[-1])]
            info.own_macs += fn.multiply_adds()
            info.own_bias_adds += _bias_additions(fn, inputs, out)
            if windows is not None:
                info.own_windows.append(_kernel_and_stride(windows))
            if _is_new_memory(fn, inputs, out):
                info.own_activations += out.data.size
                info.own_activation_bytes += out.data.nbytes

    def enter(self, module, inputs):
        self.stack.append(module)

    def leave(self, module, inputs, output):
        self.stack.pop()
        info = self.infos[id(module)]
        if info.ran:              # a module called twice (a shared ReLU): its row is the first call
            return
        out = output[0] if isinstance(output, tuple) else output
        info.output_shape = tuple(out.shape[1:])
        rf = self.field(out)
        info.receptive_field = rf[:2] if rf is not None and out.ndim == 4 else ()
        info.ran, info.order, self.finished = True, self.finished, self.finished + 1


def _add_up(model, infos):
    """Fill in each module's totals: its own ops' memory and multiply-adds plus those of
    every module below it, and the parameters of the modules below it that ran."""
    for module in model.modules():
        info = infos[id(module)]
        below = [infos[id(m)] for m in module.modules()]       # includes the module itself
        info.activations = sum(i.own_activations for i in below)
        info.activation_bytes = sum(i.own_activation_bytes for i in below)
        info.macs = sum(i.own_macs for i in below)
        info.bias_adds = sum(i.own_bias_adds for i in below)
        # a layer (or a block: conv -> ReLU) that slides one window shows it; more, none
        windows = [w for i in below for w in i.own_windows]
        info.window = windows[0] if len(windows) == 1 else ""
        ran = (m for m in module.modules() if infos[id(m)].ran or not info.ran)
        params = {id(p): (n, p) for m in ran for n, p in m.named_parameters(recurse=False)}
        info.params = sum(p.numel() for _, p in params.values())
        info.weights = sum(p.numel() for n, p in params.values() if n == "weight")
        info.param_bytes = sum(p.data.nbytes for _, p in params.values())


def summary(model, input_size, depth=None, dtype=np.float32):
    """Summarise ``model`` for one input of ``input_size`` = (C, H, W), in eval mode.

    Returns a ``Summary``: ``print(s)`` shows the table (leaf layers, or the modules at
    ``depth`` with everything below them added up), ``s["features.0"]`` is one layer's
    ``LayerInfo`` (its ``window``: "11x11/4"), ``s.total`` the whole model (its
    ``bias_adds``: the bias additions left out of its ``macs``), ``s.total_activations``
    the values a forward pass stores (input included), ``s.not_run`` the auxiliary heads,
    ``s.to_dict()`` plain data.
    """
    input_size = tuple(input_size)
    if len(input_size) != 3:
        raise ValueError(f"summary: input_size must be (C, H, W) for one image, got {input_size}")
    infos = {}
    rows = []
    for name, module in model.named_modules():
        info = LayerInfo(name=name or type(model).__name__, kind=type(module).__name__,
                         depth=0 if not name else name.count(".") + 1,
                         leaf=not any(True for _ in module.children()))
        infos[id(module)] = info
        rows.append(info)
    trace = _Trace(infos)
    handles = []
    for module in model.modules():
        handles.append(module.register_forward_pre_hook(trace.enter))
        handles.append(module.register_forward_hook(trace.leave))

    was_training = model.training
    model.eval()
    x = Tensor(np.random.default_rng(0).standard_normal((1,) + input_size).astype(dtype))
    trace.fields[id(x)] = ((1, 1, 1, 1), x)
    try:
        with no_grad(), observe(trace.op):
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    _add_up(model, infos)
    return Summary(type(model).__name__, input_size, x.data.nbytes, rows, depth)
