"""mc.summary: a per-layer table of a model — output shape, parameters, activation memory,
multiply-adds and receptive field — the numbers the lectures quote for each architecture.

How it works: the model runs once on a dummy input (batch of 1, under no_grad).  A forward
hook on every module records its output shape; multiply-adds are counted for Conv2d and
Linear, the layers that do almost all the arithmetic.  Receptive fields are tracked per
tensor: while the summary runs, every op passes on the largest receptive field among its
inputs (so a concatenation or a residual addition keeps the widest branch), and the hooks of
convolution and pooling layers grow it:  rf_out = rf_in + (k - 1) * dilation * jump_in,
jump_out = jump_in * stride, where jump is the distance in input pixels between
neighbouring outputs.
"""
import contextlib
from dataclasses import dataclass, field

import numpy as np

from .autograd import Function, Tensor, no_grad
from .geometry import pair


@dataclass
class LayerInfo:
    name: str                     # dotted module name, as in named_modules()
    kind: str                     # the module's class name
    depth: int                    # 0 = the model itself, 1 = its children, ...
    output_shape: tuple = ()      # per image (batch dimension dropped)
    params: int = 0               # all parameters (weights and biases) below this module
    weights: int = 0              # only the parameters named "weight"
    macs: int = 0                 # multiply-adds for one image
    receptive_field: tuple = ()   # (height, width) in input pixels, when spatial
    leaf: bool = True             # False for modules that only contain other modules

    @property
    def activations(self):
        """Number of output values for one image (the activation memory the lectures quote)."""
        return int(np.prod(self.output_shape)) if self.output_shape else 0


@dataclass
class Summary:
    model_name: str
    input_shape: tuple
    rows: list = field(default_factory=list)      # LayerInfo for every module, in call order
    depth: int = None                             # the rows shown by str(); None = leaves only
    dtype_bytes: int = 4

    def __getitem__(self, name):
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"summary: no layer named {name!r}")

    @property
    def total(self):
        return self.rows[0]               # the model itself: totals over everything

    @property
    def shown(self):
        ran = [r for r in self.rows if r.output_shape]      # aux heads are skipped in eval
        if self.depth is None:
            return [r for r in ran if r.leaf]
        return [r for r in ran if r.depth == self.depth or (r.depth < self.depth and r.leaf)]

    def to_dict(self):
        keys = ("name", "kind", "depth", "output_shape", "params", "weights", "macs",
                "receptive_field", "leaf")
        rows = [{**{k: getattr(r, k) for k in keys}, "activations": r.activations}
                for r in self.rows]
        return {"model": self.model_name, "input_shape": self.input_shape, "layers": rows,
                "total_params": self.total.params, "total_macs": self.total.macs,
                "total_activations": sum(r.activations for r in self.shown)}

    def __str__(self):
        header = ("layer", "output shape", "params", "weights", "activations", "memory",
                  "mult-adds", "RF")
        lines = []
        for r in self.shown:
            rf = "x".join(map(str, r.receptive_field)) if r.receptive_field else ""
            lines.append((f"{r.name} ({r.kind})", "x".join(map(str, r.output_shape)),
                          f"{r.params:,}", f"{r.weights:,}", f"{r.activations:,}",
                          human_bytes(r.activations * self.dtype_bytes), human(r.macs), rf))
        total_act = sum(r.activations for r in self.shown)
        lines.append(("total", "", f"{self.total.params:,}", f"{self.total.weights:,}",
                      f"{total_act:,}", human_bytes(total_act * self.dtype_bytes),
                      human(self.total.macs), ""))
        widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(header)]
        fmt = lambda cells: "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                                      for i, (c, w) in enumerate(zip(cells, widths)))
        rule = "-" * len(fmt(header))
        title = f"{self.model_name}, input {'x'.join(map(str, self.input_shape))} (one image)"
        return "\n".join([title, rule, fmt(header), rule, *map(fmt, lines[:-1]), rule,
                          fmt(lines[-1])])




def human(n):
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(int(n))


def human_bytes(n):
    for unit, size in (("GB", 2 ** 30), ("MB", 2 ** 20), ("KB", 2 ** 10)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{int(n)}B"


def _own_macs(module, inputs, output):
    """Multiply-adds of one call, per image (the batch is 1)."""
    kind = type(module).__name__
    if kind == "Conv2d":
        kh, kw = pair(module.kernel_size)
        return output.data.size * (module.in_channels // module.groups) * kh * kw
    if kind == "Linear":
        return output.data.size * module.in_features
    return 0


@contextlib.contextmanager
def _tracking_receptive_fields(fields):
    """While active, every op's output inherits the widest receptive field of its inputs."""
    original = Function.__dict__["apply"]

    def apply(cls, *inputs, **settings):
        out = original.__func__(cls, *inputs, **settings)
        result = out[0] if isinstance(out, tuple) else out     # (values, argmax) of max pooling
        known = [fields[id(t)] for t in inputs if t is not None and id(t) in fields]
        if known:
            fields[id(result)] = (max(k[0] for k in known), result)
        return out

    Function.apply = classmethod(apply)
    try:
        yield
    finally:
        Function.apply = original


def _grow_receptive_field(module, rf):
    """rf = (rf_h, rf_w, jump_h, jump_w) of the input -> that of the module's output."""
    kind = type(module).__name__
    if kind not in ("Conv2d", "MaxPool2d", "AvgPool2d"):
        return rf
    k = pair(module.kernel_size)
    s = pair(module.stride if module.stride is not None else module.kernel_size)
    d = pair(getattr(module, "dilation", 1))
    rf_h, rf_w, j_h, j_w = rf
    return (rf_h + (k[0] - 1) * d[0] * j_h, rf_w + (k[1] - 1) * d[1] * j_w,
            j_h * s[0], j_w * s[1])


def summary(model, input_size, depth=None, dtype=np.float32):
    """Summarise ``model`` for one input of ``input_size`` = (C, H, W).

    Returns a ``Summary``: ``print(s)`` shows the table (leaf layers, or the modules at
    ``depth`` with everything below them added up), ``s["features.0"]`` is one layer's
    ``LayerInfo``, ``s.total`` the whole model, ``s.to_dict()`` plain data.
    """
    input_size = tuple(input_size)
    if len(input_size) != 3:
        raise ValueError(f"summary: input_size must be (C, H, W) for one image, got {input_size}")
    rows, infos, handles, fields = [], {}, [], {}
    for name, module in model.named_modules():
        info = LayerInfo(name=name or type(model).__name__, kind=type(module).__name__,
                         depth=0 if not name else name.count(".") + 1)
        info.leaf = not any(True for _ in module.children())
        info.params = sum(p.numel() for p in module.parameters())
        info.weights = sum(p.numel() for n, p in module.named_parameters()
                           if n.rsplit(".", 1)[-1] == "weight")
        infos[id(module)] = info
        rows.append(info)

        def hook(mod, inputs, output, info=info):
            out = output[0] if isinstance(output, tuple) else output
            info.output_shape = tuple(out.shape[1:])
            info.macs += _own_macs(mod, inputs, out) if info.leaf else 0
            x = inputs[0] if inputs else None
            if isinstance(x, Tensor) and id(x) in fields and info.leaf:
                fields[id(out)] = (_grow_receptive_field(mod, fields[id(x)][0]), out)
            if id(out) in fields and out.ndim == 4:
                info.receptive_field = fields[id(out)][0][:2]
        handles.append(module.register_forward_hook(hook))

    was_training = model.training
    model.eval()
    x = Tensor(np.random.default_rng(0).standard_normal((1,) + input_size).astype(dtype))
    fields[id(x)] = ((1, 1, 1, 1), x)
    try:
        with no_grad(), _tracking_receptive_fields(fields):
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    # a container's multiply-adds are those of everything below it
    for name, module in model.named_modules():
        info = infos[id(module)]
        if not info.leaf:
            info.macs = sum(infos[id(m)].macs for m in module.modules() if m is not module
                            and infos[id(m)].leaf)
    return Summary(type(model).__name__, input_size, rows, depth)
