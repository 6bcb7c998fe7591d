"""Export: one traced forward pass, each op translated through ``EMITTERS``.

``mc.autograd.observe`` calls back after every op with the op's ``Function`` (its class
says what it computed, its settings how), its input Tensors and its output Tensor.  The
tracer names every Tensor it meets: the model's input is ``input``, an op's output gets
a fresh name, a parameter or buffer its state-dict key (an initializer), and any other
Tensor an op reads (a constant the model made, such as the zeros a CIFAR ResNet's
shortcut pads with) becomes a Constant node holding its values.

An emitter ``emit(graph, fn, inputs, output)`` gets the ONNX names of the op's inputs
(None for an absent one, such as a missing bias) and of its output, and adds the nodes
that compute it.  Adding an op is one function and one line in ``EMITTERS``.
"""
import os

import numpy as np

from .. import autograd, backend, geometry
from ..autograd import Tensor
from ..io.files import atomic_path

MIN_OPSET = 13      # Clip's min/max as inputs, ReduceSum's axes as an input, Squeeze's axes too


class GraphBuilder:
    """The nodes, initializers and names of the graph being written."""

    def __init__(self, onnx, opset):
        self.onnx, self.opset = onnx, opset
        self.nodes, self.initializers = [], {}       # initializers: name -> array
        self.counts = {}

    def fresh(self, hint):
        """A new value name, ``hint_N``."""
        self.counts[hint] = self.counts.get(hint, 0) + 1
        return f"{hint}_{self.counts[hint]}"

    def node(self, op_type, inputs, outputs=None, **attributes):
        """Add one node; returns its output names (one fresh name if none given)."""
        outputs = outputs or [self.fresh(op_type.lower())]
        inputs = ["" if name is None else name for name in inputs]    # "" = an absent input
        while inputs and inputs[-1] == "":
            inputs.pop()
        self.nodes.append(self.onnx.helper.make_node(
            op_type, inputs, outputs, name=self.fresh(op_type), **attributes))
        return outputs

    def const(self, values, hint="const", dtype=None):
        """A Constant node holding ``values``; returns its name.  (Initializers are kept for
        the model's parameters and buffers: what ``mc.onnx.load`` makes Parameters of.)"""
        name = self.fresh(hint)
        array = np.ascontiguousarray(backend.to_numpy(values), dtype=dtype)   # from a GPU too
        self.nodes.append(self.onnx.helper.make_node(
            "Constant", [], [name], name=self.fresh("Constant"),
            value=self.onnx.numpy_helper.from_array(array, name)))
        return name

    def ints(self, values):
        return self.const(np.asarray(values, dtype=np.int64), "ints")


# ----- emitters: (graph, fn, inputs, output) -> None ------------------------------------
def same_op(onnx_type):
    """An op that ONNX has under another name with the same inputs and no settings."""
    def emit(g, fn, inputs, output):
        g.node(onnx_type, inputs, [output])
    return emit


def conv(g, fn, inputs, output):
    # x (N, C, H, W), w (O, C/G, kh, kw), b (O,) or None; ONNX pads: (top, left, bottom, right)
    (ph, pw), kernel = fn.padding, fn.input_shapes[1][2:]
    g.node("Conv", inputs, [output], kernel_shape=list(kernel), strides=list(fn.stride),
           pads=[ph, pw, ph, pw], dilations=list(fn.dilation), group=int(fn.groups))


def winograd_conv(g, fn, inputs, output):          # the same convolution, computed another way
    (ph, pw) = fn.padding
    g.node("Conv", inputs, [output], kernel_shape=[3, 3], strides=[1, 1], pads=[ph, pw, ph, pw],
           dilations=[1, 1], group=1)


def depthwise_conv(g, fn, inputs, output):         # groups = the input's channels
    (ph, pw), kernel = fn.padding, fn.input_shapes[1][2:]
    g.node("Conv", inputs, [output], kernel_shape=list(kernel), strides=list(fn.stride),
           pads=[ph, pw, ph, pw], dilations=list(fn.dilation), group=int(fn.input_shapes[0][1]))


def sliding_geometry(windows, size):
    """(kernel, stride, padding, dilation, ceil_mode) of a pooling axis whose window table is
    ``windows`` over ``size`` inputs, or None when no ONNX pooling has these windows.

    A max_pool2d / avg_pool2d table is rebuilt from candidate settings with the function
    that built it (geometry.sliding_windows) and compared, so a match is exact.  Its first
    window starts at -padding, so count[0] = min(kernel, size + 2 * padding) = kernel.
    Adaptive bins (stride 0) match when they are even: same length, same distance."""
    start, stop = windows.start, windows.stop
    if not windows.stride:
        lengths, steps = stop - start, np.diff(start)
        stride = int(steps[0]) if len(steps) else int(lengths[0])
        if (lengths == lengths[0]).all() and (steps == stride).all() and stride > 0:
            return int(lengths[0]), stride, 0, 1, False
        return None
    kernel, stride, dilation = int(windows.count[0]), int(windows.stride), int(windows.step)
    for padding in range(kernel // 2 + 1):
        for ceil_mode in (False, True):
            try:
                candidate = geometry.sliding_windows(size, kernel, stride, padding, dilation,
                                                     ceil_mode)
            except ValueError:
                continue
            if all(np.array_equal(a, b) for a, b in zip(candidate, windows)):
                return kernel, stride, padding, dilation, ceil_mode
    return None


def pool_settings(fn):
    """The ONNX attributes of a pooling op's window tables, or None (uneven adaptive bins)."""
    H, W = fn.input_shapes[0][-2:]
    rows, cols = sliding_geometry(fn.rows, H), sliding_geometry(fn.cols, W)
    if rows is None or cols is None:
        return None
    (kh, sh, ph, dh, ceil_h), (kw, sw, pw, dw, ceil_w) = rows, cols
    attributes = dict(kernel_shape=[kh, kw], strides=[sh, sw], pads=[ph, pw, ph, pw],
                      ceil_mode=int(ceil_h or ceil_w))
    if (dh, dw) != (1, 1):
        attributes["dilations"] = [dh, dw]
    return attributes


def max_pool(g, fn, inputs, output):
    attributes = pool_settings(fn)
    if attributes is None:
        raise ValueError("minicnn: onnx.export: adaptive_max_pool2d with uneven bins (an output "
                         f"size that does not divide the input size {fn.input_shapes[0][-2:]}) "
                         "has no ONNX equivalent; choose an input size it divides")
    g.node("MaxPool", inputs, [output], **attributes)


def tap_matrix(windows, size, dtype):
    """(out, size) 0/1 matrix: M[o, i] = 1 where input i is a tap of window o."""
    i = np.arange(size)
    inside = (windows.start[:, None] <= i) & (i < windows.stop[:, None])
    on_step = (i - windows.start[:, None]) % windows.step == 0
    return (inside & on_step).astype(dtype)


def avg_pool(g, fn, inputs, output):
    """AveragePool when the windows are a sliding pool's and the divisor is one ONNX has;
    otherwise (uneven adaptive bins, divisor_override) the exact general form: window sums
    as two products with 0/1 tap matrices, R @ x @ C.T, divided by the divisor."""
    attributes = pool_settings(fn)
    rows, cols, divisor = fn.rows, fn.cols, np.asarray(fn.divisor)
    if attributes is not None and "dilations" not in attributes:
        for include_pad in (1, 0):
            counts = (rows.count, cols.count) if include_pad else (rows.stop - rows.start,
                                                                  cols.stop - cols.start)
            if np.array_equal(divisor, np.outer(*counts)):
                g.node("AveragePool", inputs, [output], count_include_pad=include_pad,
                       **attributes)
                return
    H, W = fn.input_shapes[0][-2:]
    dtype = divisor.dtype
    row_sums = g.node("MatMul", [g.const(tap_matrix(rows, H, dtype), "pool_rows"), inputs[0]])
    sums = g.node("MatMul", [row_sums[0], g.const(tap_matrix(cols, W, dtype).T, "pool_cols")])
    g.node("Div", [sums[0], g.const(divisor, "pool_divisor")], [output])


def global_avg_pool(g, fn, inputs, output):
    g.node("GlobalAveragePool", inputs, [output])


def batch_norm(g, fn, inputs, output):
    if fn.training:
        raise ValueError("minicnn: onnx.export: batch norm in training mode (batch statistics) "
                         "cannot be exported; export the model in eval mode")
    x, weight, bias = inputs
    C = fn.input_shapes[0][1]
    dtype = fn.running_mean.dtype
    weight = weight or g.const(np.ones(C, dtype), "bn_weight")     # affine=False: 1 and 0
    bias = bias or g.const(np.zeros(C, dtype), "bn_bias")
    g.node("BatchNormalization", [x, weight, bias, g.array_name(fn.running_mean, "running_mean"),
                                  g.array_name(fn.running_var, "running_var")], [output],
           epsilon=float(fn.eps))


def local_response_norm(g, fn, inputs, output):
    # minicnn (as PyTorch) sums channels [c - n//2, c + (n-1)//2]; ONNX [c - (n-1)//2,
    # c + n//2]: the same window only for odd n
    if fn.size % 2 == 0:
        raise ValueError(f"minicnn: onnx.export: local_response_norm with an even size "
                         f"({fn.size}) sums other channels than ONNX's LRN; only odd sizes export")
    g.node("LRN", inputs, [output], size=int(fn.size), alpha=float(fn.alpha),
           beta=float(fn.beta), bias=float(fn.k))


def leaky_relu(g, fn, inputs, output):
    g.node("LeakyRelu", inputs, [output], alpha=float(fn.negative_slope))


def hardtanh(g, fn, inputs, output):                 # relu6 is hardtanh(x, 0, 6)
    dtype = np.dtype(type(fn.min_val))
    g.node("Clip", [inputs[0], g.const(fn.min_val, "clip_min", dtype),
                    g.const(fn.max_val, "clip_max", dtype)], [output])


def linear(g, fn, inputs, output):
    x, w, b = inputs                                 # x (.., in), w (out, in), b (out,)
    if len(fn.input_shapes[0]) == 2:
        g.node("Gemm", [x, w, b], [output], transB=1)
        return
    product = g.node("MatMul", [x, g.node("Transpose", [w], perm=[1, 0])[0]])
    if b is None:
        g.node("Identity", product, [output])
    else:
        g.node("Add", [product[0], b], [output])


def reshape(g, fn, inputs, output):
    g.node("Reshape", [inputs[0], g.ints(fn.output_shape)], [output])


def permute(g, fn, inputs, output):
    g.node("Transpose", inputs, [output], perm=[int(a) for a in fn.axes])


def concatenate(g, fn, inputs, output):
    g.node("Concat", inputs, [output], axis=int(fn.dim))


def stack(g, fn, inputs, output):
    axes = g.ints([fn.dim])
    g.node("Concat", [g.node("Unsqueeze", [x, axes])[0] for x in inputs], [output],
           axis=int(fn.dim))


def getitem(g, fn, inputs, output):
    """Basic indexing (ints, slices, None, ...) as one Slice, then Squeeze for the ints and
    Unsqueeze for the Nones; a single integer array on one axis as Gather."""
    index = fn.index if isinstance(fn.index, tuple) else (fn.index,)
    shape = fn.input_shapes[0]
    arrays = [i for i in index if isinstance(i, np.ndarray) or isinstance(i, list)]
    if arrays or any(isinstance(i, (bool, np.bool_)) for i in index):
        if (len(index) == 1 and np.asarray(index[0]).dtype.kind in "iu"):
            g.node("Gather", [inputs[0], g.ints(index[0])], [output], axis=0)
            return
        raise ValueError(f"minicnn: onnx.export: indexing with {fn.index!r} (advanced indexing) "
                         "cannot be exported; only ints, slices, None, ... and one integer "
                         "array on the first axis")
    if Ellipsis in index:
        at = index.index(Ellipsis)
        named = sum(i is not None for i in index) - 1
        index = index[:at] + (slice(None),) * (len(shape) - named) + index[at + 1:]
    starts, ends, axes, steps, squeeze, unsqueeze = [], [], [], [], [], []
    axis = out_axis = 0
    for i in index:
        if i is None:
            unsqueeze.append(out_axis)
            out_axis += 1
            continue
        if isinstance(i, (int, np.integer)):
            i = int(i) + shape[axis] if i < 0 else int(i)
            starts, ends, steps = starts + [i], ends + [i + 1], steps + [1]
            squeeze.append(axis)
        else:
            start, stop, step = i.indices(shape[axis])
            if step < 0 and stop < 0:        # runs down to index 0 included
                stop = -2 ** 63
            starts, ends, steps = starts + [start], ends + [stop], steps + [step]
            out_axis += 1
        axes.append(axis)
        axis += 1
    value = inputs[0]
    if axes:
        value = g.node("Slice", [value, g.ints(starts), g.ints(ends), g.ints(axes),
                                 g.ints(steps)])[0]
    if squeeze:
        value = g.node("Squeeze", [value, g.ints(squeeze)])[0]
    if unsqueeze:
        value = g.node("Unsqueeze", [value, g.ints(unsqueeze)])[0]
    g.node("Identity", [value], [output])


def reduction(onnx_type):
    def emit(g, fn, inputs, output):
        dims = fn.dims if fn.dims is not None else tuple(range(len(fn.input_shapes[0])))
        dims = [int(d) for d in (dims if isinstance(dims, (tuple, list)) else (dims,))]
        keep = int(bool(fn.keepdim))
        if onnx_type == "ReduceSum" or g.opset >= 18:       # axes became an input
            g.node(onnx_type, [inputs[0], g.ints(dims)], [output], keepdims=keep)
        else:
            g.node(onnx_type, inputs, [output], axes=dims, keepdims=keep)
    return emit


def softmax(onnx_type):
    def emit(g, fn, inputs, output):
        axes = fn.axis if isinstance(fn.axis, tuple) else (fn.axis,)
        if len(axes) != 1:                # ONNX normalises over one axis
            raise ValueError(f"minicnn: onnx.export: {onnx_type.lower()} over several dims "
                             f"{axes} cannot be exported; only over one")
        g.node(onnx_type, inputs, [output], axis=int(axes[0]))
    return emit


def to_dtype(g, fn, inputs, output):
    g.node("Cast", inputs, [output],
           to=g.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(fn.dtype)))


def dropout_in_training(g, fn, inputs, output):
    raise ValueError("minicnn: onnx.export: dropout in training mode (a random mask) cannot be "
                     "exported; export the model in eval mode")


# Function class name -> emitter: every op minicnn can export.
EMITTERS = {
    "Conv2d": conv, "WinogradConv2d": winograd_conv, "DepthwiseConv2d": depthwise_conv,
    "MaxPool": max_pool, "AvgPool": avg_pool, "GlobalAvgPool": global_avg_pool,
    "BatchNorm": batch_norm, "SyncBatchNorm": batch_norm,
    "LocalResponseNorm": local_response_norm,
    "ReLU": same_op("Relu"), "LeakyReLU": leaky_relu, "Hardtanh": hardtanh,
    "Sigmoid": same_op("Sigmoid"), "Tanh": same_op("Tanh"),
    "Linear": linear, "MatMul": same_op("MatMul"),
    "Add": same_op("Add"), "Sub": same_op("Sub"), "Mul": same_op("Mul"), "Div": same_op("Div"),
    "Pow": same_op("Pow"), "Neg": same_op("Neg"), "Exp": same_op("Exp"), "Log": same_op("Log"),
    "Sqrt": same_op("Sqrt"), "Abs": same_op("Abs"),
    "Sum": reduction("ReduceSum"), "Mean": reduction("ReduceMean"), "Max": reduction("ReduceMax"),
    "Softmax": softmax("Softmax"), "LogSoftmax": softmax("LogSoftmax"),
    "Reshape": reshape, "Permute": permute, "GetItem": getitem,
    "Concatenate": concatenate, "Stack": stack,
    "ToDtype": to_dtype, "ToDevice": same_op("Identity"),
    # a module's backward hooks wrap its inputs and output in identity ops
    "_InputGate": same_op("Identity"), "_OutputGate": same_op("Identity"),
    "MaskedScale": dropout_in_training,
}


# ----- the tracer --------------------------------------------------------------------
class Tracer(GraphBuilder):
    """Names Tensors as the traced forward pass meets them and emits each op."""

    def __init__(self, onnx, opset, model, x):
        super().__init__(onnx, opset)
        self.names = {}           # id(Tensor or array) -> ONNX name
        self.keep = [x]           # what was named, kept alive so that no id is reused
        self.state = {}           # state-dict key -> array, for the initializers
        if hasattr(model, "state_dict"):
            for key, value in model.state_dict(keep_vars=True).items():
                self.names[id(value)] = self.names[id(value.data)] = key  # batch norm gets arrays
                self.state[key] = value.data       # (copied from a GPU only when written)
                self.keep.append(value)
        self.names[id(x)] = self.names[id(x.data)] = "input"

    def array_name(self, array, hint):
        """The name of an array an op reads: the input, a parameter or buffer (its state-dict
        key; an initializer from its first use on), or else a new constant."""
        name = self.names.get(id(array))
        if name is None:
            name = self.names[id(array)] = self.const(array, hint)
            self.keep.append(array)
        elif name in self.state:
            self.initializers[name] = self.state[name]
        return name

    def tensor_name(self, tensor):
        if tensor is None:
            return None
        if id(tensor) in self.names:              # an op's output, the input, a parameter
            return self.array_name(tensor, "const")
        return self.array_name(tensor.data, "const")

    def __call__(self, fn, inputs, output):
        op = type(fn).__name__
        emit = EMITTERS.get(op)
        if emit is None:
            raise ValueError(f"minicnn: onnx.export: the op {op} ({fn.name()}) has no ONNX "
                             f"translation; exportable ops: {', '.join(sorted(EMITTERS))}")
        input_names = [self.tensor_name(t) for t in inputs]
        name = self.fresh(op.lower())
        emit(self, fn, input_names, name)
        self.names[id(output)] = name
        self.keep.append(output)


def value_info(onnx, name, array):
    return onnx.helper.make_tensor_value_info(
        name, onnx.helper.np_dtype_to_tensor_dtype(array.dtype), list(array.shape))


def trace(model, x, opset):
    """The graph of one eval-mode forward pass of ``model`` on ``x``: (tracer, input Tensor,
    output names, output Tensors); ``tracer.nodes`` and ``tracer.initializers`` hold it."""
    import onnx
    if not isinstance(opset, int) or opset < MIN_OPSET or opset > onnx.defs.onnx_opset_version():
        raise ValueError(f"minicnn: onnx.export: opset must be an int from {MIN_OPSET} to "
                         f"{onnx.defs.onnx_opset_version()} (this onnx's newest), got {opset!r}")
    x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
    tracer = Tracer(onnx, opset, model, x)
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with autograd.no_grad(), autograd.observe(tracer):
            out = model(x)
    finally:
        if was_training:
            model.train()
    outputs = list(out) if isinstance(out, (tuple, list)) else [out]
    if not all(isinstance(o, Tensor) for o in outputs):
        raise TypeError(f"minicnn: onnx.export: the model must return a Tensor or a tuple of "
                        f"Tensors, got {type(out).__name__}")
    names = ["output"] if len(outputs) == 1 else [f"output_{i}" for i in range(len(outputs))]
    for o, name in zip(outputs, names):
        tracer.node("Identity", [tracer.tensor_name(o)], [name])
    drop_identities(tracer)
    return tracer, x, names, outputs


def drop_identities(g):
    """Remove the Identity nodes that only rename a value another node made (a getitem's
    last step, the graph's outputs): the value takes the Identity's output name."""
    renamed, made = {}, set()

    def resolve(name):
        while name in renamed:
            name = renamed[name]
        return name

    for node in g.nodes:
        if node.op_type == "Identity":
            source = resolve(node.input[0])
            if source in made and source not in renamed:
                renamed[source] = node.output[0]
        made.update(node.output)
    kept = []
    for node in g.nodes:
        node.input[:] = [resolve(name) for name in node.input]
        node.output[:] = [resolve(name) for name in node.output]
        if not (node.op_type == "Identity" and node.input[0] == node.output[0]):
            kept.append(node)
    g.nodes = kept


EXTERNAL_ABOVE = 1 << 30     # bytes of weights: a protobuf message cannot exceed 2 GiB


EXTERNAL_FROM = 1024         # bytes: smaller arrays (shapes, indices) stay in the .onnx file


def write_external_data(onnx, initializers, path):
    """Write the arrays of EXTERNAL_FROM bytes or more one after another into ``path`` (each
    at a multiple of 64 bytes); return TensorProtos, those of the large arrays pointing
    there (ONNX's external data): shape inference needs the small ones in the graph."""
    protos, offset = [], 0
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        for name, array in initializers.items():
            array = np.ascontiguousarray(backend.to_numpy(array))
            if array.nbytes < EXTERNAL_FROM:
                protos.append(onnx.numpy_helper.from_array(array, name))
                continue
            f.write(b"\0" * (-offset % 64))
            offset += -offset % 64
            f.write(array.data)                         # no copy of the bytes
            tensor = onnx.TensorProto(name=name, dims=array.shape, data_type=onnx.helper.
                                      np_dtype_to_tensor_dtype(array.dtype))
            tensor.data_location = onnx.TensorProto.EXTERNAL
            for key, value in (("location", os.path.basename(path)), ("offset", offset),
                               ("length", array.nbytes)):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, str(value)
            protos.append(tensor)
            offset += array.nbytes
    return protos


def export(model, example_input, path, opset, external_data=None):
    import onnx
    tracer, x, names, outputs = trace(model, example_input, opset)
    if external_data is None:
        external_data = sum(a.nbytes for a in tracer.initializers.values()) \
            > EXTERNAL_ABOVE
    path = os.fspath(path)
    if external_data:
        initializers = write_external_data(onnx, tracer.initializers, path + ".data")
    else:
        initializers = [onnx.numpy_helper.from_array(np.ascontiguousarray(backend.to_numpy(a)),
                                                     name)
                        for name, a in tracer.initializers.items()]
    graph = onnx.helper.make_graph(
        tracer.nodes, "minicnn", [value_info(onnx, "input", x.numpy())],
        [value_info(onnx, n, o.numpy()) for n, o in zip(names, outputs)], initializer=initializers)
    opsets = [onnx.helper.make_opsetid("", opset)]
    proto = onnx.helper.make_model(graph, producer_name="minicnn", opset_imports=opsets)
    # the oldest file format that holds this opset, so that older runtimes read the file
    proto.ir_version = onnx.helper.find_min_ir_version_for(opsets)
    data = proto.SerializeToString()            # once: for the checker and the file
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
        # by path: external data is checked next to the file
        onnx.checker.check_model(data if not external_data else tmp)
    return proto
