"""Import: an ONNX graph run node by node with minicnn's functional ops.

``OnnxModel`` keeps the graph's nodes in their (topological) order.  Its forward pass
fills a table of values, name -> Tensor, starting from the graph's inputs and
initializers, and runs each node's ``OPS`` entry ``op(model, node, inputs)`` on its inputs'
values.  Because every step is a minicnn op, autograd records the graph as it runs, and
the model trains like any other minicnn Module.

Float initializers become Parameters, except the running statistics a
BatchNormalization node reads, which become buffers; both live in submodules named after
the initializer's dotted name, so ``state_dict()`` has the ONNX names as keys.  Inputs
that say *how* rather than *what* (a Reshape's shape, a Slice's bounds, a Clip's
bounds) are read as plain values.
"""
import keyword
import os
import re

import numpy as np

from .. import functional as F
from ..autograd import Tensor
from ..nn.module import Module, Parameter


# ----- node attributes and inputs ----------------------------------------------------
def attributes(onnx, node):
    """{name: value} of a node's attributes (ints, floats, strings, tensors as arrays)."""
    result = {}
    for a in node.attribute:
        value = onnx.helper.get_attribute_value(a)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, onnx.TensorProto):
            value = onnx.numpy_helper.to_array(value)
        result[a.name] = value
    return result


def static(value):
    """A value that says how (a shape, bounds, axes) as a NumPy array (no gradient flows)."""
    return None if value is None else np.asarray(value.numpy() if isinstance(value, Tensor)
                                                 else value)


def pool_padding(node, pads, op):
    """ONNX pads (top, left, bottom, right) -> minicnn's symmetric (ph, pw)."""
    pads = list(pads or [0, 0, 0, 0])
    if len(pads) != 4 or pads[:2] != pads[2:]:
        raise ValueError(f"minicnn: onnx.load: node {node.name!r} ({op}): only 2-D windows with "
                         f"the same padding on both sides are supported, got pads {pads}")
    return tuple(pads[:2])


def check_auto_pad(node, at, op):
    if at.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise ValueError(f"minicnn: onnx.load: node {node.name!r} ({op}): auto_pad "
                         f"{at['auto_pad']!r} is not supported; give explicit pads")


# ----- the ops: op(model, node, inputs, at) -> output Tensor (or a tuple of them) -------
def conv(model, node, inputs, at):
    check_auto_pad(node, at, "Conv")
    x, w, b = (inputs + [None])[:3]
    if w.ndim != 4:
        raise ValueError(f"minicnn: onnx.load: node {node.name!r} (Conv): only 2-D convolutions "
                         f"are supported, got a weight of shape {w.shape}")
    return F.conv2d(x, w, b, stride=tuple(at.get("strides", (1, 1))),
                    padding=pool_padding(node, at.get("pads"), "Conv"),
                    dilation=tuple(at.get("dilations", (1, 1))), groups=at.get("group", 1))


def max_pool(model, node, inputs, at):
    check_auto_pad(node, at, "MaxPool")
    if len(node.output) > 1 and node.output[1]:
        raise ValueError(f"minicnn: onnx.load: node {node.name!r} (MaxPool): the Indices output "
                         "is not supported")
    return F.max_pool2d(inputs[0], tuple(at["kernel_shape"]), tuple(at.get("strides", (1, 1))),
                        pool_padding(node, at.get("pads"), "MaxPool"),
                        tuple(at.get("dilations", (1, 1))), bool(at.get("ceil_mode", 0)))


def average_pool(model, node, inputs, at):
    check_auto_pad(node, at, "AveragePool")
    if any(d != 1 for d in at.get("dilations", (1, 1))):
        raise ValueError(f"minicnn: onnx.load: node {node.name!r} (AveragePool): dilated "
                         "average pooling is not supported")
    return F.avg_pool2d(inputs[0], tuple(at["kernel_shape"]), tuple(at.get("strides", (1, 1))),
                        pool_padding(node, at.get("pads"), "AveragePool"),
                        bool(at.get("ceil_mode", 0)), bool(at.get("count_include_pad", 0)))


def batch_norm(model, node, inputs, at):
    x, weight, bias, mean, var = inputs[:5]
    # ONNX's momentum weighs the old statistics (0.9), PyTorch's and minicnn's the batch's
    return F.batch_norm(x, mean, var, weight, bias, training=model.training,
                        momentum=1 - at.get("momentum", 0.9), eps=at.get("epsilon", 1e-5))


def lrn(model, node, inputs, at):
    size = at["size"]
    if size % 2 == 0:
        raise ValueError(f"minicnn: onnx.load: node {node.name!r} (LRN): an even size ({size}) "
                         "sums other channels in ONNX than in minicnn; only odd sizes load")
    return F.local_response_norm(inputs[0], size, at.get("alpha", 1e-4), at.get("beta", 0.75),
                                 at.get("bias", 1.0))


def clip(model, node, inputs, at):
    x = inputs[0]
    low, high = (static(v) for v in (inputs + [None, None])[1:3])
    low = at.get("min", -np.inf) if low is None else low.item()    # opset < 11: attributes
    high = at.get("max", np.inf) if high is None else high.item()
    return F.hardtanh(x, low, high)


def gemm(model, node, inputs, at):
    """alpha * A' @ B' + beta * C, with A' = A.T if transA, B' = B.T if transB."""
    a, b, c = (inputs + [None])[:3]
    if at.get("transA", 0):
        a = F.transpose(a, 0, 1)
    alpha, beta = at.get("alpha", 1.0), at.get("beta", 1.0)
    if at.get("transB", 0) and alpha == 1.0 and beta == 1.0 and (c is None or c.ndim == 1):
        return F.linear(a, b, c)                     # the common case: a fully connected layer
    out = F.matmul(a, F.transpose(b, 0, 1) if at.get("transB", 0) else b)
    out = out if alpha == 1.0 else out * alpha
    return out if c is None else out + (c if beta == 1.0 else c * beta)


def flatten(model, node, inputs, at):
    x, axis = inputs[0], at.get("axis", 1)             # (d0.., d_axis..) -> (d0 * .., d_axis * ..)
    axis = axis + x.ndim if axis < 0 else axis
    return F.reshape(x, int(np.prod(x.shape[:axis])), int(np.prod(x.shape[axis:])))


def reshape(model, node, inputs, at):
    x, shape = inputs[0], [int(v) for v in static(inputs[1])]
    if not at.get("allowzero", 0):                   # 0 copies the input's size there
        shape = [x.shape[i] if v == 0 else v for i, v in enumerate(shape)]
    return F.reshape(x, tuple(shape))


def transpose(model, node, inputs, at):
    x = inputs[0]
    return F.permute(x, tuple(at.get("perm", range(x.ndim - 1, -1, -1))))


def concat(model, node, inputs, at):
    return F.cat([x for x in inputs if x is not None], dim=at["axis"])


def slice_(model, node, inputs, at):
    x = inputs[0]
    starts, ends = static(inputs[1]), static(inputs[2])
    axes = static(inputs[3]) if len(inputs) > 3 and inputs[3] is not None else range(len(starts))
    steps = static(inputs[4]) if len(inputs) > 4 and inputs[4] is not None else [1] * len(starts)
    index = [slice(None)] * x.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        size = x.shape[axis]
        # ONNX clamps out-of-range bounds (INT64_MIN / MAX mean "to the end")
        start, end, step = int(start), int(end), int(step)
        end = None if (step < 0 and end < -size) else end
        index[int(axis)] = slice(max(min(start, size), -size - 1) if step > 0 else start,
                                 end if end is None else max(min(end, size), -size - 1), step)
    return F.getitem(x, tuple(index))


def axes_of(inputs, at):
    if len(inputs) > 1 and inputs[1] is not None:
        return [int(a) for a in static(inputs[1])]
    return at.get("axes")


def squeeze(model, node, inputs, at):
    x = inputs[0]
    axes = axes_of(inputs, at)
    axes = [i for i, n in enumerate(x.shape) if n == 1] if axes is None else \
        [a % x.ndim for a in axes]
    return F.reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def unsqueeze(model, node, inputs, at):
    x = inputs[0]
    rank = x.ndim + len(axes_of(inputs, at))
    axes = sorted(a % rank for a in axes_of(inputs, at))
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return F.reshape(x, tuple(shape))


def gather(model, node, inputs, at):
    x, indices = inputs[0], static(inputs[1]).astype(np.int64)
    axis = at.get("axis", 0) % x.ndim
    return F.getitem(x, (slice(None),) * axis + (indices,))


def reduce(function):
    def op(model, node, inputs, at):
        x = inputs[0]
        axes = axes_of(inputs, at)
        if axes is None or len(axes) == 0:
            if at.get("noop_with_empty_axes", 0):
                return x
            axes = list(range(x.ndim))
        return function(x, tuple(a % x.ndim for a in axes), bool(at.get("keepdims", 1)))
    return op


def dropout(model, node, inputs, at):
    if len(node.output) > 1 and node.output[1]:
        raise ValueError(f"minicnn: onnx.load: node {node.name!r} (Dropout): the mask output is "
                         "not supported")
    ratio = static(inputs[1]).item() if len(inputs) > 1 and inputs[1] is not None \
        else at.get("ratio", 0.5)
    return F.dropout(inputs[0], ratio, training=model.training)


def cast(model, node, inputs, at):
    import onnx
    return F.to_dtype(inputs[0], onnx.helper.tensor_dtype_to_np_dtype(at["to"]))


def shape(model, node, inputs, at):
    dims = np.array(inputs[0].shape, dtype=np.int64)
    return Tensor(dims[at.get("start", 0):at.get("end", None)])


def one_input(function, **fixed):
    return lambda model, node, inputs, at: function(inputs[0], **fixed)


def two_inputs(function):
    return lambda model, node, inputs, at: function(inputs[0], inputs[1])


def with_axis(function, default):
    return lambda model, node, inputs, at: function(inputs[0], at.get("axis", default))


# ONNX op type -> op: every op minicnn can run.
OPS = {
    "Conv": conv, "MaxPool": max_pool, "AveragePool": average_pool,
    "GlobalAveragePool": one_input(F.adaptive_avg_pool2d, output_size=1),
    "GlobalMaxPool": one_input(F.adaptive_max_pool2d, output_size=1),
    "BatchNormalization": batch_norm, "LRN": lrn,
    "Relu": one_input(F.relu), "Sigmoid": one_input(F.sigmoid), "Tanh": one_input(F.tanh),
    "LeakyRelu": lambda model, node, inputs, at: F.leaky_relu(inputs[0], at.get("alpha", 0.01)),
    "Clip": clip,
    "Gemm": gemm, "MatMul": two_inputs(F.matmul),
    "Add": two_inputs(F.add), "Sub": two_inputs(F.sub), "Mul": two_inputs(F.mul),
    "Div": two_inputs(F.div), "Pow": two_inputs(F.pow), "Neg": one_input(F.neg),
    "Exp": one_input(F.exp), "Log": one_input(F.log), "Sqrt": one_input(F.sqrt),
    "Abs": one_input(F.abs),
    "Flatten": flatten, "Reshape": reshape, "Transpose": transpose, "Concat": concat,
    "Slice": slice_, "Squeeze": squeeze, "Unsqueeze": unsqueeze, "Gather": gather,
    "ReduceSum": reduce(F.sum), "ReduceMean": reduce(F.mean), "ReduceMax": reduce(F.max),
    "Softmax": with_axis(F.softmax, -1), "LogSoftmax": with_axis(F.log_softmax, -1),
    "Identity": lambda model, node, inputs, at: inputs[0], "Dropout": dropout,
    "Cast": cast, "Shape": shape,
}
# the inputs that say how, not what: read as values, never Parameters
STATIC_INPUTS = {"Reshape": (1,), "Slice": (1, 2, 3, 4), "Squeeze": (1,), "Unsqueeze": (1,),
                 "Clip": (1, 2), "Gather": (1,), "ReduceSum": (1,), "ReduceMean": (1,),
                 "ReduceMax": (1,), "Dropout": (1, 2)}
BUFFER_INPUTS = {"BatchNormalization": (3, 4)}     # running mean and variance


# ----- the Module ---------------------------------------------------------------------
def attribute_name(part):
    """A dotted name's part as an attribute name (ONNX names may hold ':', '/', ...)."""
    part = re.sub(r"\W", "_", part)
    return part if part and not keyword.iskeyword(part) else f"_{part}"


class Initializers(Module):
    """A submodule holding initializers (and submodules) of one dotted-name prefix."""

    def extra_repr(self):
        return ", ".join(f"{name}: {tuple(t.shape)}" for name, t in
                         [*self._parameters.items(), *self._buffers.items()])


def free_name(owner, part, kind):
    """``part``, or ``part`` with trailing _s, that names nothing of ``owner`` yet (or, with
    ``kind="_modules"``, that names one of its submodules already)."""
    while (part in owner.__dict__ or hasattr(type(owner), part)
           or any(part in getattr(owner, t) for t in ("_parameters", "_buffers", "_modules")
                  if t != kind)):
        part += "_"
    return part


class OnnxModel(Module):
    """A Module running an ONNX graph: see ``minicnn.onnx.load``."""

    def __init__(self, model_proto):
        import onnx
        super().__init__()
        graph = model_proto.graph
        self.opset = next((o.version for o in model_proto.opset_import
                           if o.domain in ("", "ai.onnx")), None)
        initializers = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
        self.input_names = [i.name for i in graph.input if i.name not in initializers]
        self.output_names = [o.name for o in graph.output]
        uses = {}                                    # initializer name -> how nodes read it
        constants = {}                               # name -> Tensor that is not learned
        self.steps = []
        for node in graph.node:
            if node.op_type == "Constant":
                value = next(iter(attributes(onnx, node).values()))
                constants[node.output[0]] = Tensor(np.asarray(value))
                continue
            if node.domain not in ("", "ai.onnx") or node.op_type not in OPS:
                kind = node.op_type if node.domain in ("", "ai.onnx") else \
                    f"{node.domain}.{node.op_type}"
                raise ValueError(f"minicnn: onnx.load: unsupported ONNX op {kind} (node "
                                 f"{node.name or node.output[0]!r}); minicnn runs: "
                                 f"{', '.join(sorted(OPS))}")
            for i, name in enumerate(node.input):
                if name in initializers:
                    use = "static" if i in STATIC_INPUTS.get(node.op_type, ()) else \
                        "buffer" if i in BUFFER_INPUTS.get(node.op_type, ()) else "data"
                    uses.setdefault(name, set()).add(use)
            self.steps.append((node, attributes(onnx, node)))
        self.constants = constants
        self.stored = {}                             # name -> (submodule path, attribute)
        for name, array in initializers.items():
            kind = uses.get(name, {"static"})
            if array.dtype.kind != "f" or kind == {"static"}:
                self.constants[name] = Tensor(array)
            else:
                learned = "data" in kind
                self._store(name, Parameter(array.copy()) if learned else Tensor(array.copy()),
                            learned)

    def _store(self, name, value, learned):
        """Register ``value`` under its dotted ``name``: features.0.weight becomes the
        parameter weight of the submodule features -> 0, so the state-dict key is the name.
        A part that is already something else there (a Module method or attribute such as
        ``training``, or a parameter where a submodule is wanted) gets a trailing _."""
        owner = self
        *path, last = [attribute_name(p) for p in name.split(".")]
        for part in path:
            part = free_name(owner, part, kind="_modules")
            if part not in owner._modules:
                owner.add_module(part, Initializers())
            owner = owner._modules[part]
        last = free_name(owner, last, kind=None)
        (owner.register_parameter if learned else owner.register_buffer)(last, value)
        self.stored[name] = owner._parameters if learned else owner._buffers, last

    def value(self, name):
        if name in self.stored:
            table, key = self.stored[name]
            return table[key]
        return self.constants[name]

    def forward(self, *inputs):
        if len(inputs) != len(self.input_names):
            raise TypeError(f"minicnn: onnx model: expected {len(self.input_names)} input(s) "
                            f"({', '.join(self.input_names)}), got {len(inputs)}")
        values = {name: x if isinstance(x, Tensor) else Tensor(np.asarray(x))
                  for name, x in zip(self.input_names, inputs)}
        for node, at in self.steps:
            args = [None if not name else values[name] if name in values else self.value(name)
                    for name in node.input]
            try:
                out = OPS[node.op_type](self, node, args, at)
            except (ValueError, TypeError) as error:
                raise type(error)(f"minicnn: onnx model: node {node.name or node.output[0]!r} "
                                  f"({node.op_type}): {error}") from error
            values[node.output[0]] = out
        outputs = [values[name] if name in values else self.value(name)
                   for name in self.output_names]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def extra_repr(self):
        return f"{len(self.steps)} nodes, opset {self.opset}"


def load(path):
    import onnx
    proto = path if isinstance(path, onnx.ModelProto) else onnx.load(os.fspath(path))
    return OnnxModel(proto)
