"""ONNX out and in (minicnn.onnx), checked against onnxruntime and PyTorch.

* export: every model of minicnn.models (the list the command line offers, so a new model
  is covered without editing this file) and a table of small layers covering each op's
  settings is written with ``mc.onnx.export``; ``onnx.checker`` passes (export runs it) and
  onnxruntime's output equals minicnn's in float32: |a - b| <= 1e-4 * |b| + 1e-4 * max|b|
  (the second term: a logit near 0 is the sum of large terms of both signs, each rounded).
  The batch norms' running statistics are randomised first: with the fresh ones (mean 0,
  variance 1) some models (googlenet) output their classifier's bias whatever the input,
  which any export would match; each check also asserts that the two images of the batch
  get different outputs.
* import: the same files loaded back with ``mc.onnx.load`` give minicnn's outputs again
  (and train: state-dict keys, gradients); torchvision's resnet18, googlenet and
  squeezenet1_0 exported by ``torch.onnx.export`` give PyTorch's logits; hand-written ONNX
  graphs cover the ops PyTorch writes and minicnn's export does not.
* the models with over 30 million weights (VGG, AlexNet, ...) or 1000 layers take 5-30 s
  each to build, write and read: they run with MINICNN_SLOW_TESTS=1 (large weights are
  then written as external data, which is faster).
"""
import copy
import io
import os
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="needs the onnx extra: pip install -e '.[onnx]'")
ort = pytest.importorskip("onnxruntime", reason="needs the onnx extra: pip install -e '.[onnx]'")

import minicnn as mc                                   # noqa: E402
import minicnn.functional as F                         # noqa: E402
import minicnn.nn as nn                                # noqa: E402
from minicnn.autograd import Function                  # noqa: E402
from minicnn.functional import conv_algorithm          # noqa: E402
from minicnn.cli.factories import model_names          # noqa: E402
from minicnn.utils import as_numpy, assert_close       # noqa: E402

SLOW = os.environ.get("MINICNN_SLOW_TESTS", "") not in ("", "0")
# over 30 million weights, or 1000 layers: 5-30 s each to initialise, run, write and read
# back on 2 cores
SLOW_MODELS = {"alexnet", "alexnet_2012", "zfnet", "resnet101", "resnet152", "resnext101_32x8d",
               "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2", "wrn28_10",
               "preact_resnet1001",
               *(f"vgg{d}{v}" for d in (11, 13, 16, 19) for v in ("", "_bn")), "vgg11_lrn",
               "vgg16_c"}
# inception_v3's auxiliary head (training mode only, so never exported) needs 299x299 inputs;
# alexnet_2012's paper initialisation (weights N(0, 0.01), biases 1) gives two images logits
# within 0.1% of each other: the layers' default initialisation instead
KWARGS = {"inception_v3": dict(aux_logits=False), "alexnet_2012": dict(init_weights=False)}
# inputs smaller than 32x32 that the model takes (height = width), or larger ones it needs
SIZES = {"small_cnn": 8, "alexnet": 63, "alexnet_2012": 227, "inception_v3": 75, "zfnet": 224}
ONE_CHANNEL = {"small_cnn", "lenet5"}


def images(rng, shape):
    """A batch of random images, the second with another mean and spread than the first:
    a network's global average pooling turns two images of the same noise into nearly the
    same features, and the comparison would then see the classifier's bias only."""
    x = rng.standard_normal(shape).astype(np.float32)
    x[1] = 2 * x[1] + 0.5
    return x


def run_onnxruntime(path_or_bytes, x):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(path_or_bytes, options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def check_equal(actual, expected, name, atol=0.0):
    expected = as_numpy(expected)
    atol = max(atol, 1e-4 * float(np.abs(expected).max()) + 1e-30)
    assert_close(actual, expected, rtol=1e-4, atol=atol, name=name)


def check_not_degenerate(out, name):
    """The two images of the batch give different outputs: the comparison means something."""
    out = np.asarray(out)
    assert np.abs(out[0] - out[1]).max() > 1e-3 * np.abs(out).max(), \
        f"{name}: both images give the same output; the check would prove nothing"


def randomize_statistics(model, rng, shape=None):
    """Random batch-norm weights and biases, then running statistics measured on a batch of
    ``shape`` (momentum 1 for that one pass): with the fresh ones (mean 0, variance 1)
    activations shrink or grow layer after layer and the output ends up constant."""
    norms = [m for m in model.modules() if getattr(m, "running_mean", None) is not None]
    for m in norms:
        if m.weight is not None:
            C = m.weight.shape[0]
            m.weight.data[...] = rng.uniform(0.5, 1.5, C)
            m.bias.data[...] = rng.normal(0, 0.1, C)
    if shape is not None and norms:
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.momentum = 1.0
        with mc.no_grad():
            model.train()(mc.tensor(images(rng, shape)))
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        model.eval()


def model_cases():
    return [pytest.param(name, marks=pytest.mark.skipif(
        name in SLOW_MODELS and not SLOW, reason="over 30M weights or 1000 layers (5-30 s to "
        "build, write and read); run with MINICNN_SLOW_TESTS=1")) for name in model_names()]


def build(name, calibrate):
    """The model with 5 classes, its batch norms randomised (and calibrated, if asked), and
    an input batch for it."""
    rng = np.random.default_rng(0)
    model = getattr(mc.models, name)(num_classes=5, **KWARGS.get(name, {}))
    size = SIZES.get(name, 32)
    shape = (2, 1 if name in ONE_CHANNEL else 3, size, size)
    randomize_statistics(model, rng, shape if calibrate else None)
    return model.eval(), images(rng, shape)


def float32_noise(model, x, out):
    """How far minicnn's float32 output ``out`` is from its float64 one (max abs)."""
    with mc.no_grad():
        exact = copy.deepcopy(model).double()(mc.tensor(x.astype(np.float64))).numpy()
    return float(np.abs(out - exact).max())


def export_and_run(name, model, x, path):
    """(minicnn's eval output, onnxruntime's, the ModelProto) after exporting ``model``."""
    model.train()                            # export runs it in eval mode and restores this
    proto = mc.onnx.export(model, x, path, external_data=name in SLOW_MODELS)
    assert model.training
    with mc.no_grad():
        expected = model.eval()(mc.tensor(x)).numpy()
    return expected, run_onnxruntime(str(path), x), proto


@pytest.mark.parametrize("name", model_cases())
def test_every_model_exports_and_onnxruntime_agrees(name, tmp_path):
    """Tolerance: 1e-4 relative, or else 10 times minicnn's own float32 rounding error
    (against its float64 output): through 56 plain layers or 1000 residual ones, rounding
    differences grow, and onnxruntime rounds differently.  Where that error exceeds 1%
    (plain110 with calibrated statistics: its output is chaotic in its inputs, float32's
    result half noise) the fresh statistics are used instead: activations then shrink
    layer after layer, which damps rounding."""
    path = tmp_path / f"{name}.onnx"
    model, x = build(name, calibrate=True)
    expected, theirs, proto = export_and_run(name, model, x, path)
    noise = 0.0
    if np.abs(theirs - expected).max() > 1e-4 * np.abs(expected).max():
        noise = float32_noise(model, x, expected)
        if noise > 1e-2 * np.abs(expected).max():
            model, x = build(name, calibrate=False)
            expected, theirs, proto = export_and_run(name, model, x, path)
            noise = float32_noise(model, x, expected)
    check_not_degenerate(expected, name)
    check_equal(theirs, expected, f"{name}: onnxruntime", 10 * noise)
    # the parameters are initializers under their state-dict names
    state = model.state_dict()
    for tensor in proto.graph.initializer:
        assert tensor.name in state, tensor.name
    # and the file loads back into minicnn, computing the same
    back = mc.onnx.load(path).eval()
    with mc.no_grad():
        check_equal(back(mc.tensor(x)).numpy(), expected, f"{name}: loaded back")
    for written in tmp_path.iterdir():       # up to 550 MB each: pytest keeps tmp_path
        written.unlink()


# ----- one layer at a time: each op's settings --------------------------------------------
class Lambda(nn.Module):
    def __init__(self, function, *layers):
        super().__init__()
        self.function = function
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.function(self.layers(x))


def constant(*shape):
    return mc.tensor(np.random.default_rng(7).standard_normal(shape).astype(np.float32))


LAYERS = {
    "conv groups dilation stride": Lambda(lambda x: x, nn.Conv2d(4, 6, 3, stride=2, padding=2,
                                                                dilation=2, groups=2)),
    "conv depthwise no bias": Lambda(lambda x: x, nn.Conv2d(4, 4, 3, padding=1, groups=4,
                                                           bias=False)),
    "conv depthwise multiplier stride dilation": Lambda(
        lambda x: x, nn.Conv2d(4, 8, 3, stride=2, padding=(1, 2), dilation=(2, 1), groups=4)),
    "conv padding same, even kernel": Lambda(lambda x: x, nn.Conv2d(4, 3, 4, padding="same")),
    "conv winograd": Lambda(lambda x: F.relu(x), nn.Conv2d(4, 5, 3, padding=1)),
    "max pool ceil_mode padding": Lambda(lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True)),
    "max pool dilation": Lambda(lambda x: F.max_pool2d(x, 2, 1, dilation=2)),
    "max pool ceil_mode last window dropped": Lambda(
        lambda x: F.max_pool2d(x, 2, 2, 1, ceil_mode=True)),
    "avg pool ceil_mode padding": Lambda(lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True)),
    "avg pool count_include_pad False": Lambda(
        lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False)),
    "avg pool divisor_override": Lambda(lambda x: F.avg_pool2d(x, 2, divisor_override=3)),
    "adaptive avg pool uneven bins": Lambda(lambda x: F.adaptive_avg_pool2d(x, (3, 2))),
    "adaptive avg pool to a larger size": Lambda(lambda x: F.adaptive_avg_pool2d(x, 9)),
    "adaptive avg pool even bins": Lambda(lambda x: F.adaptive_avg_pool2d(x, (7, 2))),
    "adaptive max pool even bins": Lambda(lambda x: F.adaptive_max_pool2d(x, (7, 2))),
    "global avg pool": Lambda(lambda x: F.adaptive_avg_pool2d(x, 1)),
    "batch norm without affine": Lambda(lambda x: x, nn.BatchNorm2d(4, affine=False)),
    "local response norm": Lambda(lambda x: x, nn.LocalResponseNorm(3, alpha=0.1, beta=0.6, k=1.5)),
    "activations": Lambda(lambda x: F.cat([F.leaky_relu(x, 0.2), F.relu6(x * 4),
                                           F.hardtanh(x, -0.5, 2.0), F.sigmoid(x), F.tanh(x)], 1)),
    "arithmetic": Lambda(lambda x: F.sqrt(F.exp(-x) + 1) / 3 - x ** 2 * constant(4, 1, 1)
                         + F.log(F.abs(x) + 1) - 2.5 * x),
    "linear on 3-D input, no bias": Lambda(lambda x: x, nn.Flatten(2),
                                           nn.Linear(196, 3, bias=False)),
    "linear with bias": Lambda(lambda x: x, nn.Flatten(), nn.Linear(784, 3)),
    "indexing": Lambda(lambda x: F.cat([x[:, 1:3, ::2, -1], x[..., 0, ::-2][:, :2]], 2)
                       [:, None, :, 1::2]),
    "integer-array indexing": Lambda(lambda x: x[np.array([1, 0, 1])]),
    "shape ops": Lambda(lambda x: F.stack([F.permute(x, 0, 2, 3, 1), F.reshape(
        F.transpose(x, 2, 3), 2, 14, 14, 4)], 1)),
    "reductions": Lambda(lambda x: F.cat([F.sum(x, (2, 3)), F.mean(x, 1, keepdim=True)[:, 0, 0, :4],
                                          F.max(x, 3)[:, :, 0]], 1)),
    "softmax and log_softmax": Lambda(lambda x: F.softmax(x, 1) + F.log_softmax(x, -1)),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_each_op_exports_and_loads_back(name, tmp_path):
    layer = LAYERS[name]
    rng = np.random.default_rng(1)
    randomize_statistics(layer, rng, (2, 4, 14, 14))
    x = images(rng, (2, 4, 14, 14))
    path = tmp_path / "layer.onnx"
    seen = []
    # "conv winograd": the CPU's Winograd F(2x2, 3x3) (WinogradConv2d), exported as a Conv
    algorithm = "winograd" if "winograd" in name else "auto"
    with warnings.catch_warnings(), conv_algorithm.use(algorithm), \
            mc.autograd.observe(lambda fn, inputs, out: seen.append(type(fn).__name__)):
        warnings.simplefilter("error")          # no warning from onnx or the checker
        mc.onnx.export(layer, x, path)
        with mc.no_grad():
            expected = layer.eval()(mc.tensor(x)).numpy()
    assert ("WinogradConv2d" in seen) == ("winograd" in name)
    check_not_degenerate(expected, name)
    check_equal(run_onnxruntime(str(path), x), expected, f"{name}: onnxruntime")
    with mc.no_grad():
        check_equal(mc.onnx.load(path).eval()(mc.tensor(x)).numpy(), expected,
                    f"{name}: loaded back")


def test_exported_graph_uses_the_standard_ops(tmp_path):
    model = mc.models.squeezenet1_0(num_classes=5)
    proto = mc.onnx.export(model, np.zeros((1, 3, 64, 64), np.float32), tmp_path / "s.onnx")
    ops = {node.op_type for node in proto.graph.node}
    assert ops == {"Conv", "Relu", "MaxPool", "Concat", "GlobalAveragePool", "Reshape", "Constant"}
    assert proto.opset_import[0].version == mc.onnx.DEFAULT_OPSET
    assert [i.name for i in proto.graph.input] == ["input"]
    assert [o.name for o in proto.graph.output] == ["output"]
    assert list(proto.graph.output[0].type.tensor_type.shape.dim)[1].dim_value == 5


@pytest.mark.parametrize("opset", [13, 17, 18, onnx.defs.onnx_opset_version()])
def test_every_opset_from_13(opset, tmp_path):
    layer = LAYERS["reductions"]
    x = np.random.default_rng(2).standard_normal((2, 4, 14, 14)).astype(np.float32)
    proto = mc.onnx.export(layer, x, tmp_path / "r.onnx", opset=opset)
    assert proto.opset_import[0].version == opset
    with mc.no_grad():
        check_equal(run_onnxruntime(str(tmp_path / "r.onnx"), x), layer(mc.tensor(x)).numpy(),
                    f"opset {opset}")


# ----- what cannot be exported: clear errors ---------------------------------------------
class Cube(Function):
    def forward(self, x):
        return x ** 3

    def backward(self, g):
        return g


@pytest.mark.parametrize("function, message", [
    (lambda x: Cube.apply(x), "the op Cube"),
    (lambda x: F.adaptive_max_pool2d(x, 4), "adaptive_max_pool2d with uneven bins"),
    (lambda x: F.local_response_norm(x, 4), "even size"),
    (lambda x: F.dropout(x, 0.5, training=True), "dropout in training mode"),
    (lambda x: x[x.numpy() > 0], "advanced indexing"),
])
def test_an_op_that_cannot_be_exported_is_named(function, message, tmp_path):
    path = tmp_path / "bad.onnx"
    with pytest.raises(ValueError, match=message):
        mc.onnx.export(Lambda(function), np.ones((1, 4, 7, 7), np.float32), path)
    assert os.listdir(tmp_path) == []                 # nothing written


def test_bad_opset_is_refused(tmp_path):
    with pytest.raises(ValueError, match="opset must be an int from 13"):
        mc.onnx.export(LAYERS["global avg pool"], np.ones((1, 4, 7, 7), np.float32),
                       tmp_path / "x.onnx", opset=9)


# ----- import: round trip, training, PyTorch's exports, hand-written graphs -------------
def test_round_trip_keeps_the_state_dict_and_trains_the_same(tmp_path):
    """minicnn -> ONNX -> minicnn: the same state-dict keys and values (the batch counters
    aside: ONNX has no place for them), and in training mode (batch statistics) the same
    output and the same gradient for every parameter."""
    rng = np.random.default_rng(3)
    model = mc.models.resnet20(num_classes=5)
    randomize_statistics(model, rng, (4, 3, 16, 16))
    x = rng.standard_normal((4, 3, 16, 16)).astype(np.float32)
    mc.onnx.export(model, x, tmp_path / "r.onnx")
    back = mc.onnx.load(tmp_path / "r.onnx")
    state, state_back = model.state_dict(), back.state_dict()
    assert list(state_back) == [k for k in state if not k.endswith("num_batches_tracked")]
    for key, value in state_back.items():
        np.testing.assert_array_equal(value.numpy(), state[key].numpy(), err_msg=key)
    assert {n for n, _ in back.named_buffers()} == {k for k in state_back if "running" in k}
    upstream = rng.standard_normal((4, 5)).astype(np.float32)
    results = []
    for m in (model, back):
        m.train()
        out = m(mc.tensor(x))
        (out * mc.tensor(upstream)).sum().backward()
        results.append((out.numpy(), {n: p.grad for n, p in m.named_parameters()},
                        {n: b.numpy().copy() for n, b in m.named_buffers()}))
    (out, grads, buffers), (out_back, grads_back, buffers_back) = results
    check_equal(out_back, out, "train-mode output")
    assert set(grads_back) == set(grads)
    for name, grad in grads.items():
        check_equal(grads_back[name], grad, f"gradient of {name}")
    for name, value in buffers_back.items():          # the running statistics moved alike
        check_equal(value, buffers[name], name)


def torch_export(torch_model, x, opset=17):
    torch = pytest.importorskip("torch")
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")            # the TorchScript exporter's deprecation note
        torch.onnx.export(torch_model, (x,), f, dynamo=False, opset_version=opset,
                          input_names=["x"], output_names=["logits"])
    return onnx.load_from_string(f.getvalue())


def torchvision_model(name, seed=0):
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(seed)
    kwargs = dict(aux_logits=False, init_weights=False) if name == "googlenet" else {}
    model = getattr(torchvision.models, name)(num_classes=5, **kwargs).eval()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 1:                # no two biases alike (the exporter would merge them)
                p.normal_(0, 0.1)
        for m in norms:                    # as randomize_statistics
            m.weight.uniform_(0.5, 1.5)
            m.momentum = 1.0
        model.train()(torch.from_numpy(images(np.random.default_rng(seed), (2, 3, 64, 64))))
    for m in norms:
        m.momentum = 0.1
    return model.eval()


@pytest.mark.parametrize("name", ["resnet18", "googlenet", "squeezenet1_0"])
def test_torchvision_models_exported_by_pytorch_load_and_agree(name):
    torch = pytest.importorskip("torch")
    model = torchvision_model(name)
    x = torch.from_numpy(images(np.random.default_rng(1), (2, 3, 64, 64)))
    proto = torch_export(model, x)
    with torch.no_grad():
        expected = model(x).numpy()
    check_not_degenerate(expected, name)
    mine = mc.onnx.load(proto).eval()
    with mc.no_grad():
        check_equal(mine(mc.tensor(x.numpy())).numpy(), expected, name)


def test_a_pytorch_export_trains_in_minicnn_with_pytorchs_gradients():
    """squeezenet1_0 (no batch norm for the exporter to fold into the convolutions, so the
    initializers are PyTorch's parameters under their names): every parameter's gradient
    through the loaded graph equals PyTorch's, for a random upstream gradient."""
    torch = pytest.importorskip("torch")
    model = torchvision_model("squeezenet1_0")
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0                         # the masks come from different generators
    x = torch.from_numpy(images(np.random.default_rng(2), (2, 3, 64, 64)))
    upstream = torch.randn(2, 5, generator=torch.Generator().manual_seed(3))
    mine = mc.onnx.load(torch_export(model, x))
    theirs = dict(model.named_parameters())
    assert {n for n, _ in mine.named_parameters()} == set(theirs)
    model.train()
    (model(x) * upstream).sum().backward()
    mine.train()
    out = mine(mc.tensor(x.numpy()))
    (out * mc.tensor(upstream.numpy())).sum().backward()
    for name, p in mine.named_parameters():
        check_equal(p.grad, theirs[name].grad.numpy(), f"gradient of {name}")
    optimizer = mc.optim.SGD(mine.parameters(), lr=0.1)     # and it takes a step
    before = mine.state_dict()["classifier.1.weight"].numpy().copy()
    optimizer.step()
    assert not np.array_equal(mine.state_dict()["classifier.1.weight"].numpy(), before)


def make_graph(nodes, inputs, output, initializers=(), opset=18):
    graph = onnx.helper.make_graph(
        nodes, "hand-written", [onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, s)
                                for n, s in inputs],
        [onnx.helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, [])],
        initializer=[onnx.numpy_helper.from_array(a, n) for n, a in initializers])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)])
    model.ir_version = onnx.helper.find_min_ir_version_for(model.opset_import)
    onnx.checker.check_model(model)
    return model


N = onnx.helper.make_node
W = np.random.default_rng(4).standard_normal((6, 12)).astype(np.float32)
HAND_WRITTEN = {
    "Gemm transA alpha beta": ([N("Flatten", ["x"], ["f"], axis=2),
                                N("Gemm", ["w", "f", "c"], ["y"], transA=1, alpha=0.5, beta=2.0)],
                               [("w", W[:, :5].copy()), ("c", W[:5, 6:10].copy())]),
    "Flatten, Gemm transB, Clip, Dropout": (
        [N("Flatten", ["x"], ["f"]), N("Gemm", ["f", "w"], ["g"], transB=1),
         N("Clip", ["g", "lo", "hi"], ["c"]), N("Dropout", ["c"], ["y"])],
        [("w", W), ("lo", np.array(-1.0, np.float32)),
         ("hi", np.array(0.5, np.float32))]),
    "Shape, Gather, Unsqueeze, Concat, Reshape, Squeeze": (
        [N("Shape", ["x"], ["s"]), N("Gather", ["s", "zero"], ["n"], axis=0),
         N("Unsqueeze", ["n", "axes0"], ["n1"]), N("Concat", ["n1", "minus1", "one"], ["shape"],
                                                    axis=0),
         N("Reshape", ["x", "shape"], ["r"]), N("Squeeze", ["r", "axes2"], ["y"])],
        [("zero", np.array(0, np.int64)), ("axes0", np.array([0], np.int64)),
         ("minus1", np.array([-1], np.int64)), ("one", np.array([1], np.int64)),
         ("axes2", np.array([2], np.int64))]),
    "Slice with negative steps, Transpose, Cast, ReduceMean": (
        [N("Slice", ["x", "st", "en", "ax", "sp"], ["s"]), N("Transpose", ["s"], ["t"],
                                                            perm=[0, 2, 1]),
         N("Cast", ["t"], ["c"], to=onnx.TensorProto.DOUBLE),
         N("Cast", ["c"], ["d"], to=onnx.TensorProto.FLOAT),
         N("ReduceMean", ["d", "rax"], ["y"], keepdims=0)],
        [("st", np.array([-1, 0], np.int64)), ("en", np.array([-2 ** 63, 100], np.int64)),
         ("ax", np.array([1, 2], np.int64)), ("sp", np.array([-2, 1], np.int64)),
         ("rax", np.array([1], np.int64))]),
}


@pytest.mark.parametrize("name", list(HAND_WRITTEN))
def test_hand_written_graphs_load_and_agree_with_onnxruntime(name):
    nodes, initializers = HAND_WRITTEN[name]
    model = make_graph(nodes, [("x", [2, 3, 4])], "y", initializers)
    x = np.random.default_rng(5).standard_normal((2, 3, 4)).astype(np.float32)
    expected = run_onnxruntime(model.SerializeToString(), x)
    got = mc.onnx.load(model).eval()(mc.tensor(x)).numpy()
    check_equal(got, expected, name)


def test_an_unsupported_onnx_op_is_named_with_its_node():
    model = make_graph([N("Relu", ["x"], ["r"], name="first"),
                        N("Erf", ["r"], ["y"], name="the_error_function")], [("x", [2, 3])], "y")
    with pytest.raises(ValueError, match="unsupported ONNX op Erf.*'the_error_function'"):
        mc.onnx.load(model)


def test_import_errors_name_the_node():
    model = make_graph([N("MaxPool", ["x"], ["y"], name="lopsided", kernel_shape=[2, 2],
                          pads=[0, 0, 1, 1])], [("x", [1, 1, 4, 4])], "y")
    with pytest.raises(ValueError, match="'lopsided' \\(MaxPool\\).*same padding on both sides"):
        mc.onnx.load(model)(mc.tensor(np.zeros((1, 1, 4, 4), np.float32)))


def test_the_command_line_exports_a_model_with_its_weights(tmp_path, capsys):
    """`minicnn export MODEL --weights FILE -o OUT`: the weights' class count, the model's
    default input, a file onnxruntime runs with the weights' outputs."""
    from minicnn.__main__ import main
    from minicnn.io import save_checkpoint
    rng = np.random.default_rng(6)
    model = mc.models.small_cnn(num_classes=7, in_channels=1)
    randomize_statistics(model, rng, (2, 1, 8, 8))
    save_checkpoint(tmp_path / "ckpt.npz", model, config={"model": "small_cnn", "in_channels": 1})
    out = tmp_path / "small.onnx"
    assert main(["export", "small_cnn", "--weights", str(tmp_path / "ckpt.npz"), "-o", str(out),
                 "--batch-size", "2"]) == 0
    assert "wrote" in capsys.readouterr().out
    x = rng.standard_normal((2, 1, 8, 8)).astype(np.float32)
    with mc.no_grad():
        expected = model.eval()(mc.tensor(x)).numpy()
    check_equal(run_onnxruntime(str(out), x), expected, "exported by the command line")
    assert main(["export", "small_cnn", "-o", str(tmp_path / "x.onnx"), "--opset", "5"]) == 1
    assert "opset must be an int from 13" in capsys.readouterr().err


def test_a_model_with_several_outputs(tmp_path):
    """A tuple of outputs: output_0, output_1, ... in the graph, a tuple again when loaded."""
    layer = Lambda(lambda x: (F.relu(x), F.adaptive_avg_pool2d(x, 1)), nn.Conv2d(4, 3, 3))
    x = images(np.random.default_rng(8), (2, 4, 9, 9))
    proto = mc.onnx.export(layer, x, tmp_path / "two.onnx")
    assert [o.name for o in proto.graph.output] == ["output_0", "output_1"]
    session = ort.InferenceSession(str(tmp_path / "two.onnx"), providers=["CPUExecutionProvider"])
    theirs = session.run(None, {"input": x})
    with mc.no_grad():
        mine = layer(mc.tensor(x))
        back = mc.onnx.load(tmp_path / "two.onnx")(mc.tensor(x))
    assert isinstance(back, tuple) and len(back) == len(theirs) == 2
    for a, b, c in zip(mine, theirs, back):
        check_equal(b, a, "onnxruntime")
        check_equal(c, a, "loaded back")


def test_external_data(tmp_path):
    """external_data=True: the weights of 1 KiB or more in model.onnx.data, the rest inline;
    onnxruntime and mc.onnx.load read them from beside the file."""
    # the first Linear's weight (7x180 floats: 5040 bytes) is no multiple of 64 bytes, so
    # the next array written starts after padding
    model = Lambda(lambda x: x, nn.Conv2d(1, 5, 3), nn.BatchNorm2d(5), nn.ReLU(), nn.Flatten(),
                   nn.Linear(180, 7), nn.ReLU(), nn.Linear(7, 50))
    randomize_statistics(model, np.random.default_rng(9), (2, 1, 8, 8))
    x = images(np.random.default_rng(10), (2, 1, 8, 8))
    path = tmp_path / "small.onnx"
    proto = mc.onnx.export(model, x, path, external_data=True)
    assert sorted(os.listdir(tmp_path)) == ["small.onnx", "small.onnx.data"]
    external = {t.name for t in proto.graph.initializer
                if t.data_location == onnx.TensorProto.EXTERNAL}
    state = model.state_dict()
    assert external == {k for k, v in state.items() if v.numpy().nbytes >= 1024} != set()
    assert os.path.getsize(str(path) + ".data") >= sum(
        state[k].numpy().nbytes for k in external) > os.path.getsize(path)
    with mc.no_grad():
        expected = model.eval()(mc.tensor(x)).numpy()
    check_equal(run_onnxruntime(str(path), x), expected, "onnxruntime")
    with mc.no_grad():
        check_equal(mc.onnx.load(path).eval()(mc.tensor(x)).numpy(), expected, "loaded back")
