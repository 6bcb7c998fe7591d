"""Model parity with PyTorch: every constructor in minicnn.models against torchvision's
model (or, for the paper versions, a PyTorch definition in models_torch_reference.py).

What one parity test does, per model:
  1. build both models; check the state-dict keys (names, order, shapes, dtypes) and the
     printed structure are identical; copy PyTorch's weights into minicnn through
     ``load_state_dict({k: v.numpy()})``;
  2. turn dropout off in both (``module.p = 0``: the masks come from different random
     generators; dropout itself is compared with PyTorch in tests/functional/test_dropout.py);
  3. float64, training mode: run the same random input, compare the outputs (aux outputs
     included), backpropagate the same random upstream gradient into every output, and
     compare the input gradient and every parameter's gradient, then the BatchNorm
     buffers (running mean/var, num_batches_tracked) after that step; then eval mode
     (with the updated running statistics): compare the outputs again.  Tolerance: a
     relative error (max |a - b| / max |b|, per tensor) below 1e-8.  A gradient that is
     mathematically zero (the bias of a conv followed by BatchNorm) is rounding noise on
     both sides, so a gradient's scale is floored at 1e-6 of the largest one in the model;
  4. VGG too runs in float64: its 25088x4096 classifier and that layer's gradient take
     about 6.5 GB of memory at the peak across the two frameworks, which the 24 GB CI
     machine holds;
  5. some models (FLOAT32_TOO) also in float32.  float32 rounding (~6e-8 per op)
     is amplified through tens of layers, so both frameworks' float32 results are
     measured against PyTorch's float64 ones: minicnn's error (relative, in norm) may be
     at most 10 times PyTorch's own plus 1e-5 for outputs and statistics, or plus 1e-2
     for gradients.  Gradients are compared in eval mode: in training mode BatchNorm over
     few values amplifies rounding so much that PyTorch's own float32 gradients are off
     by several percent.  And the 1e-2: a max-pool window whose two largest inputs are
     within float32 rounding of each other sends its gradient to another input than in
     float64 -- a whole gradient entry moves, differently in each framework.

Input sizes are the smallest that exercise everything: the aux heads of googlenet_2014
and inception_v3 need their full input size, and every BatchNorm must see more than 2
values per channel (with 2 the normalised output is +-1 whatever the input, and the
gradient through it is rounding noise that no two implementations share).
"""
import contextlib
import copy
import dataclasses
import math

import numpy as np
import pytest
import torch
import torchvision

import minicnn as mc
import minicnn.nn as nn
from minicnn.utils import as_numpy, assert_close

from tests import models_torch_reference as ref

torch.set_num_threads(2)


@dataclasses.dataclass
class Case:
    name: str                  # test id; also the minicnn.models constructor unless given
    torch_model: object        # (num_classes=..., **kwargs) -> PyTorch model
    size: int                  # input height = width
    batch: int = 2
    kwargs: dict = dataclasses.field(default_factory=dict)   # for both constructors
    constructor: str = None
    mc_kwargs: dict = dataclasses.field(default_factory=dict)
    n_train_outputs: int = 1   # logits + aux outputs in training mode


def tv(name, **kwargs):
    return lambda **kw: getattr(torchvision.models, name)(**kwargs, **kw)


NUM_CLASSES = 10
NO_INIT = dict(init_weights=False)   # weights are copied anyway; skips 100M random numbers
CASES = {c.name: c for c in [
    Case("alexnet", tv("alexnet"), 63),
    Case("alexnet_2012", ref.AlexNet2012, 227, mc_kwargs=NO_INIT),
    *[Case(f"vgg{d}{bn}", tv(f"vgg{d}{bn}"), 32, kwargs=NO_INIT)
      for d in (11, 13, 16, 19) for bn in ("", "_bn")],
    Case("vgg11_lrn", ref.vgg11_lrn, 32, kwargs=NO_INIT),
    Case("googlenet", tv("googlenet"), 48, kwargs=dict(aux_logits=True, **NO_INIT),
         n_train_outputs=3),
    Case("googlenet_2014", ref.GoogLeNet2014, 191, mc_kwargs=NO_INIT, n_train_outputs=3),
    *[Case(f"resnet{d}", tv(f"resnet{d}"), 48) for d in (18, 34, 50, 101, 152)],
    Case("resnet50_stride_in_1x1", lambda **kw: ref.resnet_stride_in_1x1("resnet50", **kw), 48,
         constructor="resnet50", mc_kwargs=dict(stride_in_1x1=True)),
    Case("inception_v3", tv("inception_v3"), 299, kwargs=NO_INIT, n_train_outputs=2),
]}
# Also in float32: a model of each family but Inception v3,
# whose 299x299 float32 pass would add half a minute.
FLOAT32_TOO = {"alexnet_2012", "googlenet", "googlenet_2014", "resnet50", "vgg16"}


# ----- comparison helpers --------------------------------------------------------------
def max_rel_error(actual, expected, floor=0.0):
    """max |actual - expected| / max |expected| (or ``floor`` if larger)."""
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    diff = actual - expected                 # some are 100-million-element arrays:
    scale = max(expected.max(), -expected.min(), floor, 1e-300)   # avoid temporaries
    return max(diff.max(), -diff.min()) / scale


def norm_rel_error(actual, expected):
    return np.linalg.norm(actual - expected) / max(np.linalg.norm(expected), 1e-300)


def run_step(model, x, upstream, train, backward):
    """A forward pass in training or eval mode on a PyTorch or minicnn model, then maybe
    a backward pass of ``upstream`` into every output; returns everything to compare."""
    lib = torch if isinstance(model, torch.nn.Module) else mc
    model.train(train)
    if backward:
        model.zero_grad()      # fresh gradient arrays: the last step's results stay intact
    x = lib.tensor(x, requires_grad=backward)
    with contextlib.nullcontext() if backward else lib.no_grad():
        out = model(x)
    outs = list(out) if isinstance(out, tuple) else [out]
    result = {f"output {i}": o for i, o in enumerate(outs)}
    if backward:
        # one scalar whose gradient with respect to output i is upstream[i]
        sum((o * lib.tensor(g)).sum() for o, g in zip(outs, upstream)).backward()
        result["input grad"] = x.grad
        result.update((f"grad {name}", p.grad) for name, p in model.named_parameters())
    if train:
        # buffers are overwritten by the next load_state_dict: copy them
        result.update((f"buffer {name}", as_numpy(b).copy()) for name, b in model.named_buffers())
    return {k: None if v is None else as_numpy(v) for k, v in result.items()}


def prepare(model, state, dtype):
    """Convert to ``dtype``, load the original weights and switch dropout off."""
    if isinstance(model, torch.nn.Module):
        model.to(torch.float64 if dtype == np.float64 else torch.float32)
        model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    else:
        model.to(dtype)
        model.load_state_dict(state)
    for m in model.modules():
        if type(m).__name__ == "Dropout":
            m.p = 0.0
    for p in model.parameters():
        p.grad = None


def run_both(case, torch_model, mc_model, state, dtype, backward_in):
    """{"train": (minicnn results, PyTorch results), "eval": (...)} in ``dtype``, with a
    backward pass in the modes listed in ``backward_in``."""
    prepare(torch_model, state, dtype)
    prepare(mc_model, state, dtype)
    x = np.random.default_rng(0).standard_normal((case.batch, 3, case.size, case.size)).astype(dtype)
    results = {}
    for mode in ("train", "eval"):        # eval after train: uses the updated running stats
        n_out = case.n_train_outputs if mode == "train" else 1
        upstream = list(np.random.default_rng(1).standard_normal(
            (n_out, case.batch, NUM_CLASSES)).astype(dtype))
        results[mode] = tuple(run_step(model, x, upstream, mode == "train", mode in backward_in)
                              for model in (mc_model, torch_model))
        mine, theirs = results[mode]
        assert list(mine) == list(theirs)
        assert sum(k.startswith("output") for k in theirs) == n_out
        for name, value in mine.items():
            if theirs[name] is None:      # no gradient (an aux head in eval mode)
                assert value is None, f"{mode}: {name}: a gradient where PyTorch has none"
            else:
                assert value.dtype == theirs[name].dtype, f"{mode}: {name}: dtype {value.dtype}"
    return results


def check_structure(mc_model, torch_model):
    """Same state-dict keys in the same order, same shapes and dtypes, same printout."""
    torch_state, mc_state = torch_model.state_dict(), mc_model.state_dict()
    assert list(mc_state) == list(torch_state), "state-dict keys differ (names or order)"
    for k, v in torch_state.items():
        assert mc_state[k].shape == tuple(v.shape), k
        assert mc_state[k].dtype == v.numpy().dtype, k
    assert repr(mc_model) == repr(torch_model)


def grad_floor(results, fraction):
    """``fraction`` of the largest parameter gradient: the scale below which a gradient
    counts as zero (the bias of a conv followed by BatchNorm has a gradient of exactly 0,
    computed as rounding noise)."""
    return fraction * max(np.abs(v).max() for k, v in results.items()
                          if k.startswith("grad ") and v is not None)


def assert_all_close(case_name, results, rtol, floor_fraction):
    """Every output, gradient and buffer: max relative error below ``rtol``."""
    floor = grad_floor(results["train"][1], floor_fraction)
    for mode, (mine, theirs) in results.items():
        for key, expected in theirs.items():
            if expected is None:          # an aux head's gradient in eval mode (both None)
                continue
            err = max_rel_error(mine[key], expected, floor if key.startswith("grad ") else 0)
            assert err < rtol, f"{case_name} {expected.dtype} {mode}: {key}: relative error {err:.2e}"


def assert_float32_as_good_as_torchs(case_name, results32, results64):
    """minicnn's float32 error (against PyTorch in float64) at most 10 times PyTorch's own."""
    for mode, (mine, theirs) in results32.items():
        for key, expected in theirs.items():
            exact = results64[mode][1][key]           # PyTorch in float64
            if exact is None:
                continue
            err_mc, err_torch = norm_rel_error(mine[key], exact), norm_rel_error(expected, exact)
            # A max-pool window whose two largest inputs are within float32 rounding of each
            # other sends its gradient to another input than in float64, and a ReLU input
            # within rounding of 0 switches its unit off or on: a whole gradient entry moves
            # or vanishes, differently in each framework, and every gradient below it
            # changes.  Measured on resnet50 (48x48, eval): minicnn's and PyTorch's float32
            # activations are equally far from float64 at every layer (2.6e-5 vs 2.5e-5 at
            # layer4.2.bn2), but one of minicnn's 4096 ReLU inputs there has the other sign:
            # a norm error of 1.9e-2 in the input gradient.  A wrong backward is off by O(1).
            allowance = 5e-2 if "grad" in key else 1e-5
            assert err_mc <= 10 * err_torch + allowance, (
                f"{case_name} float32 {mode}: {key}: error {err_mc:.2e} vs PyTorch's own "
                f"float32 error {err_torch:.2e}")


# ----- the parity test ------------------------------------------------------------------
def build_pair(case):
    """The PyTorch model and minicnn's of a case, seeded, their structures compared, and the
    PyTorch weights as arrays (no copy needed: both models get new arrays in .to(dtype)
    before anything is written)."""
    torch.manual_seed(0)
    mc.manual_seed(0)
    torch_model = case.torch_model(num_classes=NUM_CLASSES, **case.kwargs)
    mc_model = getattr(mc.models, case.constructor or case.name)(
        num_classes=NUM_CLASSES, **case.kwargs, **case.mc_kwargs)
    check_structure(mc_model, torch_model)
    return torch_model, mc_model, {k: v.numpy() for k, v in torch_model.state_dict().items()}


@pytest.mark.parametrize("case_name", list(CASES))
def test_model_parity(case_name):
    case = CASES[case_name]
    torch_model, mc_model, state = build_pair(case)

    float32_too = case_name in FLOAT32_TOO
    results64 = run_both(case, torch_model, mc_model, state, np.float64,
                         ("train", "eval") if float32_too else ("train",))
    assert_all_close(case_name, results64, rtol=1e-8, floor_fraction=1e-6)
    if float32_too:
        results32 = run_both(case, torch_model, mc_model, state, np.float32, ("eval",))
        assert_float32_as_good_as_torchs(case_name, results32, results64)


@pytest.mark.parametrize("case_name", ["resnet18", "vgg11_bn"])
def test_model_parity_with_winograd_convolutions(case_name, monkeypatch):
    """conv2d's second algorithm on every 3x3 stride-1 layer (Winograd F(2x2, 3x3)) keeps the
    model equal to PyTorch's: logits and every parameter's gradient, float64."""
    from minicnn.functional import conv_algorithm
    monkeypatch.setattr(conv_algorithm, "CONV_ALGORITHM", "winograd")
    test_model_parity(case_name)


# ----- outputs, loading weights, errors ----------------------------------------------------
def test_training_outputs_are_named_tuples_in_torchvision_order():
    mc.manual_seed(0)
    model = mc.models.googlenet(num_classes=3, aux_logits=True).double()
    x = mc.tensor(np.random.default_rng(0).standard_normal((2, 3, 64, 64)))
    out = model(x)
    assert type(out).__name__ == "GoogLeNetOutputs"
    assert out._fields == ("logits", "aux_logits2", "aux_logits1")
    assert out.logits.shape == out.aux_logits2.shape == out.aux_logits1.shape == (2, 3)
    assert isinstance(model.eval()(x), mc.Tensor)                   # eval: just the logits
    assert isinstance(model.train()(x), tuple)
    no_aux = mc.models.googlenet(num_classes=3, aux_logits=False, init_weights=False)
    assert no_aux.aux1 is None and isinstance(no_aux(x.float()), mc.Tensor)
    assert mc.models.InceptionOutputs._fields == ("logits", "aux_logits")


def test_weights_argument_loads_a_pth_file(tmp_path):
    torch.manual_seed(0)
    theirs = torchvision.models.resnet18(num_classes=7)
    theirs.train()(torch.randn(4, 3, 32, 32))        # non-trivial running statistics
    path = tmp_path / "resnet18.pth"
    torch.save(theirs.state_dict(), path)
    mine = mc.models.resnet18(weights=str(path), num_classes=7).eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    assert_close(mine(mc.tensor(x)), theirs.eval()(torch.tensor(x)).detach().numpy())
    with pytest.raises(RuntimeError,
                       match=r"size mismatch for fc.weight: .* \(7, 512\) .* \(1000, 512\)"):
        mc.models.resnet18(weights=path)


def test_googlenet_weights_follow_torchvision_defaults(tmp_path):
    """As torchvision does for its ported checkpoint: with weights, transform_input defaults to
    True and the aux heads are left out (their keys in the file are ignored)."""
    torch.manual_seed(0)
    theirs = torchvision.models.googlenet(num_classes=5, aux_logits=True, init_weights=False)
    torch.save(theirs.state_dict(), tmp_path / "g.pth")
    mine = mc.models.googlenet(weights=tmp_path / "g.pth", num_classes=5)
    assert mine.transform_input and mine.aux1 is None and not mine.aux_logits
    theirs.transform_input = True
    x = np.random.default_rng(0).standard_normal((2, 3, 40, 40)).astype(np.float32)
    assert_close(mine.eval()(mc.tensor(x)), theirs.eval()(torch.tensor(x)).detach().numpy())
    with_aux = mc.models.googlenet(weights=theirs.state_dict(), num_classes=5, aux_logits=True)
    assert with_aux.aux1 is not None


def test_paper_models_check_their_input_size():
    model = mc.models.alexnet_2012(num_classes=3, init_weights=False)
    with pytest.raises(ValueError, match="alexnet_2012 needs 227x227 inputs"):
        model(mc.tensor(np.zeros((1, 3, 224, 224), np.float32)))
    googlenet = mc.models.googlenet_2014(num_classes=3, init_weights=False)
    with pytest.raises(ValueError, match="auxiliary classifiers need"):
        googlenet(mc.tensor(np.zeros((1, 3, 96, 96), np.float32)))
    assert googlenet.eval()(mc.tensor(np.zeros((1, 3, 96, 96), np.float32))).shape == (1, 3)


def test_alexnet_2012_has_the_papers_parameter_count():
    # 60,965,224 parameters: the count of the paper's network with its two-GPU groups
    model = mc.models.alexnet_2012(init_weights=False)
    assert sum(p.numel() for p in model.parameters()) == 60_965_224


# ----- fresh models: initialisation and training ---------------------------------------------
def weight_std(module):
    return module.weight.numpy().std()


def test_fresh_models_use_torchvisions_initialisation():
    mc.manual_seed(0)
    resnet = mc.models.resnet50(num_classes=10, zero_init_residual=True)
    conv = resnet.layer3[0].conv2                          # kaiming normal, fan_out, relu
    assert weight_std(conv) == pytest.approx(math.sqrt(2 / (256 * 9)), rel=0.03)
    assert np.all(resnet.layer3[0].bn1.weight.numpy() == 1)
    assert np.all(resnet.layer3[0].bn3.weight.numpy() == 0)          # zero_init_residual
    googlenet = mc.models.googlenet(num_classes=10)
    w = googlenet.inception4a.branch2[1].conv.weight.numpy()         # trunc normal std 0.01
    assert w.std() == pytest.approx(0.01, rel=0.03) and np.abs(w).max() <= 2
    inception = mc.models.inception_v3(num_classes=10)
    assert weight_std(inception.Mixed_6e.branch7x7_2.conv) == pytest.approx(0.1, rel=0.03)
    # torchvision sets stddev 0.01 on the aux head's BasicConv2d wrapper, which its init loop
    # (looking at Conv2d modules) never reads: that conv gets 0.1 too.  minicnn does the same.
    assert weight_std(inception.AuxLogits.conv1.conv) == pytest.approx(0.1, rel=0.03)
    assert weight_std(inception.AuxLogits.fc) == pytest.approx(0.001, rel=0.1)
    paper = mc.models.googlenet_2014(num_classes=10)
    conv = paper.inception4a.branch3[1].conv                        # BVLC "xavier": var 1/fan_in
    assert weight_std(conv) == pytest.approx(math.sqrt(1 / (16 * 25)), rel=0.05)
    assert np.all(conv.bias.numpy() == 0.2) and np.all(paper.fc.bias.numpy() == 0)


def test_alexnet_2012_uses_the_papers_initialisation():
    mc.manual_seed(0)
    model = mc.models.alexnet_2012(num_classes=10)
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.classifier if isinstance(m, nn.Linear)]
    assert all(weight_std(m) == pytest.approx(0.01, rel=0.05) for m in convs + linears)
    ones = [convs[1], convs[3], convs[4], linears[0], linears[1]]    # section 5 of the paper
    assert [bool(np.all(m.bias.numpy() == 1)) for m in convs + linears] == [
        m in ones for m in convs + linears]


def test_fresh_resnet18_trains():
    """A few plain SGD steps on one fixed batch must lower the loss: the initialisation,
    the forward pass and every gradient work together."""
    mc.manual_seed(0)
    model = mc.models.resnet18(num_classes=4)
    rng = np.random.default_rng(0)
    x = mc.tensor(rng.standard_normal((8, 3, 16, 16)).astype(np.float32))
    y = mc.tensor(rng.integers(0, 4, 8))
    losses = []
    for _ in range(4):
        model.zero_grad()
        loss = mc.functional.cross_entropy(model(x), y)
        loss.backward()
        losses.append(loss.item())
        for p in model.parameters():
            p.data -= 0.01 * p.grad.data
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.5 * losses[0], losses


# ----- on the GPU ----------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.parametrize("name, size, kwargs", [
    ("alexnet_2012", 227, {}), ("vgg11_bn", 32, {}), ("googlenet", 48, {}),
    ("googlenet_2014", 191, {}), ("resnet50", 48, {}), ("inception_v3", 299, {}),
])
def test_model_on_gpu_matches_cpu(name, size, kwargs):
    """The same float64 training step on CuPy and on NumPy: outputs, every gradient and
    the BatchNorm buffers agree (GPU reductions add in another order: rounding only)."""
    mc.manual_seed(0)
    cpu_model = getattr(mc.models, name)(num_classes=NUM_CLASSES, **kwargs).double()
    gpu_model = copy.deepcopy(cpu_model).to("cuda")
    for model in (cpu_model, gpu_model):
        for m in model.modules():
            if isinstance(m, nn.Dropout):
                m.p = 0.0
    x = np.random.default_rng(0).standard_normal((2, 3, size, size))
    results = []
    for model, device in ((cpu_model, "cpu"), (gpu_model, "cuda")):
        xt = mc.tensor(x, requires_grad=True, device=device)
        out = model(xt)
        outs = list(out) if isinstance(out, tuple) else [out]
        upstream = np.random.default_rng(1).standard_normal((len(outs), 2, NUM_CLASSES))
        sum((o * mc.tensor(g, device=device)).sum() for o, g in zip(outs, upstream)).backward()
        result = {f"output {i}": o.numpy() for i, o in enumerate(outs)}
        result["input grad"] = xt.grad.numpy()
        result.update((f"grad {k}", p.grad.numpy()) for k, p in model.named_parameters())
        result.update((f"buffer {k}", b.numpy()) for k, b in model.named_buffers())
        model.eval()
        result["eval output"] = model(mc.tensor(x, device=device)).numpy()
        results.append(result)
    cpu, gpu = results
    assert list(cpu) == list(gpu)
    floor = grad_floor(cpu, 1e-6)
    for key in cpu:
        err = max_rel_error(gpu[key], cpu[key], floor if key.startswith("grad ") else 0)
        assert err < 1e-8, f"{name}: {key}: relative error {err:.2e} between GPU and CPU"
