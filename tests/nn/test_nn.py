"""minicnn.nn: the Module API, state dicts, hooks, printing, the layers' wiring and errors,
and minicnn.nn.init -- checked against torch.nn wherever PyTorch defines the answer."""
import copy
import math

import numpy as np
import pytest
import torch
import torchvision
from hypothesis import given, settings, strategies as st

import minicnn as mc
import minicnn.nn as nn
from minicnn.utils import assert_close, compare_with_torch


def tiny_net(lib):
    """The same small CNN in minicnn (lib=nn) or PyTorch (lib=torch.nn)."""
    return lib.Sequential(
        lib.Conv2d(3, 4, 3, padding=1), lib.BatchNorm2d(4), lib.ReLU(), lib.MaxPool2d(2),
        lib.Flatten(), lib.Dropout(0.5), lib.Linear(4 * 4 * 4, 5))


def copy_from_torch(mc_model, torch_model):
    mc_model.load_state_dict({k: v.numpy() for k, v in torch_model.state_dict().items()})


def random_input(*shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def compare_modules(mine, theirs, x, seed=1):
    """mine(x) against theirs(x): output and input gradient (compare_with_torch, upstream
    gradient drawn with ``seed``), then every parameter's gradient."""
    compare_with_torch(mine, theirs, x, seed=seed)
    for (name, p), pt in zip(mine.named_parameters(), theirs.parameters(), strict=True):
        assert_close(p.grad, pt.grad, name=name)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 1)
        self.scale = nn.Parameter(np.ones(3, np.float32))
        self.register_buffer("count", mc.tensor(np.zeros((), np.int64)))
        self.note = "plain attribute"

    def forward(self, x):
        return self.conv(x) * self.scale.reshape(1, 3, 1, 1)


# ----- registration and walking the tree ---------------------------------------------
def test_attributes_register_parameters_buffers_and_children():
    b = Block()
    assert [n for n, _ in b.named_parameters()] == ["scale", "conv.weight", "conv.bias"]
    assert [n for n, _ in b.named_buffers()] == ["count"]
    assert [n for n, _ in b.named_children()] == ["conv"]
    assert b.note == "plain attribute" and "note" not in b._parameters
    assert isinstance(b.scale, nn.Parameter) and b.scale.requires_grad
    assert isinstance(b.scale, mc.Tensor)
    del b.scale
    assert [n for n, _ in b.named_parameters()] == ["conv.weight", "conv.bias"]
    with pytest.raises(AttributeError, match="no attribute 'scale'"):
        b.scale


def test_parameter_slots_accept_only_parameters_or_none():
    lin = nn.Linear(2, 3)
    with pytest.raises(TypeError, match="cannot assign Tensor as parameter 'weight'"):
        lin.weight = mc.tensor(np.zeros((3, 2), np.float32))
    lin.bias = None
    assert [n for n, _ in lin.named_parameters()] == ["weight"]
    assert "bias" in lin._parameters          # still registered, as in PyTorch


def test_assigning_before_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Bad()


def test_shared_parameters_are_listed_once():
    lin = nn.Linear(3, 3)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert [n for n, _ in seq.named_modules()] == ["", "0", "1"]


def test_module_walks_match_torch_on_resnet18():
    mine, theirs = mc.models.resnet18(), torchvision.models.resnet18()
    assert [n for n, _ in mine.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in mine.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in mine.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in mine.named_children()] == [n for n, _ in theirs.named_children()]
    assert (sum(p.numel() for p in mine.parameters())
            == sum(p.numel() for p in theirs.parameters()))
    visited = []
    mine.layer1.apply(lambda m: visited.append(type(m).__name__))
    expected = []
    theirs.layer1.apply(lambda m: expected.append(type(m).__name__))
    assert visited == expected                # children first, then the module itself


def test_train_and_eval_reach_every_submodule():
    model = tiny_net(nn)
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model[1].train()
    assert model[1].training and not model.training
    model.train()
    assert all(m.training for m in model.modules())


def test_zero_grad_and_requires_grad():
    lin = nn.Linear(3, 2)
    lin(mc.tensor(random_input(4, 3))).sum().backward()
    assert lin.weight.grad is not None
    lin.zero_grad(set_to_none=False)
    assert np.all(lin.weight.grad.numpy() == 0)
    lin.zero_grad()
    assert lin.weight.grad is None and lin.bias.grad is None
    lin.requires_grad_(False)
    assert not any(p.requires_grad for p in lin.parameters())
    assert not lin(mc.tensor(random_input(4, 3))).requires_grad


def test_sequential_indexing_matches_torch():
    mine, theirs = tiny_net(nn), tiny_net(torch.nn)
    assert len(mine) == len(theirs) == 7
    assert type(mine[-1]) is nn.Linear and type(mine[2]) is nn.ReLU
    assert list(mine[1:3]._modules) == list(theirs[1:3]._modules) == ["1", "2"]
    assert [type(m).__name__ for m in mine] == [type(m).__name__ for m in theirs]
    mine.append(nn.ReLU())
    assert list(mine._modules)[-1] == "7"
    with pytest.raises(IndexError, match="out of range"):
        mine[8]


def test_module_list():
    blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    blocks.append(nn.ReLU())
    blocks.insert(0, nn.Identity())
    assert len(blocks) == 5 and type(blocks[0]) is nn.Identity and type(blocks[-1]) is nn.ReLU
    assert [n for n, _ in blocks.named_parameters()][:2] == ["1.weight", "1.bias"]
    theirs = torch.nn.ModuleList([torch.nn.Identity()] + [torch.nn.Linear(2, 2) for _ in range(3)]
                                 + [torch.nn.ReLU()])
    assert repr(blocks) == repr(theirs)       # "(1-3): 3 x Linear(...)", as PyTorch prints it


# ----- printing --------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda lib: lib.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
    lambda lib: lib.Conv2d(4, 8, (1, 7), padding=(0, 3), dilation=2, groups=2),
    lambda lib: lib.Conv2d(4, 8, 3, padding="same"),
    lambda lib: lib.Linear(5, 2, bias=False),
    lambda lib: lib.BatchNorm2d(8, eps=1e-3, momentum=None, affine=False),
    lambda lib: lib.BatchNorm1d(8, track_running_stats=False),
    lambda lib: lib.MaxPool2d(3, 2, padding=1, ceil_mode=True),
    lambda lib: lib.AvgPool2d(3, stride=1, padding=1),
    lambda lib: lib.AdaptiveAvgPool2d((6, 6)),
    lambda lib: lib.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0),
    lambda lib: lib.Dropout(0.3),
    lambda lib: lib.ReLU(inplace=True),
    lambda lib: lib.LeakyReLU(0.2, inplace=True),
    lambda lib: lib.LeakyReLU(),
    lambda lib: lib.ReLU6(),
    lambda lib: lib.ReLU6(inplace=True),
    lambda lib: lib.Hardtanh(-2.0, 3.0),
    lambda lib: lib.Tanh(),
    lambda lib: lib.AdaptiveMaxPool2d((2, 3)),
    lambda lib: lib.AdaptiveMaxPool2d(7),
    lambda lib: lib.Flatten(),
    lambda lib: lib.Identity(),
    tiny_net,
])
def test_repr_matches_torch(make):
    assert repr(make(nn)) == repr(make(torch.nn))


def test_parameter_repr():
    assert repr(nn.Parameter(np.zeros(2, np.float32))).startswith("Parameter containing:\ntensor(")


# ----- state dicts -----------------------------------------------------------------------
def test_state_dict_has_parameters_and_buffers_in_torch_order():
    mine, theirs = tiny_net(nn), tiny_net(torch.nn)
    state = mine.state_dict()
    assert list(state) == list(theirs.state_dict())
    assert state["1.num_batches_tracked"].dtype == np.int64
    assert state["1.num_batches_tracked"].shape == ()
    assert all(isinstance(v, mc.Tensor) and not v.requires_grad for v in state.values())
    assert state["0.weight"].data is mine[0].weight.data        # shares memory, like PyTorch
    assert mine.state_dict(keep_vars=True)["0.weight"] is mine[0].weight


def test_state_dict_round_trip():
    mc.manual_seed(0)
    a = tiny_net(nn)
    mc.manual_seed(1)
    b = tiny_net(nn)
    x = mc.tensor(random_input(2, 3, 8, 8))
    a(x)                                          # moves a's running statistics
    b.load_state_dict({k: v.numpy() for k, v in a.state_dict().items()})
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        np.testing.assert_array_equal(va.numpy(), vb.numpy(), err_msg=k)
        assert va.data is not vb.data             # copied, not shared
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())


def test_loads_a_torch_state_dict_converted_with_numpy():
    torch.manual_seed(0)
    theirs, mine = tiny_net(torch.nn), tiny_net(nn)
    theirs.train()(torch.randn(4, 3, 8, 8))      # non-trivial running statistics
    copy_from_torch(mine, theirs)
    x = random_input(2, 3, 8, 8)
    theirs.eval(), mine.eval()
    assert_close(mine(mc.tensor(x)), theirs(torch.tensor(x)).detach().numpy())
    assert mine[1].num_batches_tracked.item() == 1


def test_loads_torch_tensors_lists_and_float64_arrays():
    theirs, mine = torch.nn.Linear(2, 2), nn.Linear(2, 2)
    mine.load_state_dict(theirs.state_dict())                           # torch tensors
    assert_close(mine.weight, theirs.weight.detach().numpy())
    mine.load_state_dict({"weight": [[1.0, 2.0], [3.0, 4.0]], "bias": np.zeros(2)})
    assert mine.weight.dtype == np.float32                              # keeps its dtype
    np.testing.assert_array_equal(mine.weight.numpy(), [[1, 2], [3, 4]])


def test_load_state_dict_errors_name_the_keys_and_shapes():
    model = tiny_net(nn)
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    missing = dict(state)
    del missing["6.bias"]
    with pytest.raises(RuntimeError, match=r"missing key\(s\) in state_dict: '6.bias'"):
        model.load_state_dict(missing)
    extra = dict(state, **{"7.weight": np.zeros(3)})
    with pytest.raises(RuntimeError, match=r"unexpected key\(s\) in state_dict: '7.weight'"):
        model.load_state_dict(extra)
    wrong = dict(state, **{"6.weight": np.zeros((10, 64), np.float32)})
    with pytest.raises(RuntimeError, match=r"size mismatch for 6.weight: copying a value of "
                                           r"shape \(10, 64\) .* in this model is \(5, 64\)"):
        model.load_state_dict(wrong)


def test_failed_load_changes_nothing():
    model = nn.Linear(2, 2)
    before = model.weight.numpy().copy()
    with pytest.raises(RuntimeError):
        model.load_state_dict({"weight": np.ones((2, 2)), "bias": np.ones(3)})
    np.testing.assert_array_equal(model.weight.numpy(), before)


def test_non_strict_load_reports_missing_and_unexpected():
    model = nn.Linear(2, 2)
    result = model.load_state_dict({"weight": np.ones((2, 2)), "extra": np.ones(1)}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(model.weight.numpy(), np.ones((2, 2)))
    with pytest.raises(RuntimeError, match="size mismatch for weight"):   # always an error
        model.load_state_dict({"weight": np.ones((3, 2))}, strict=False)


def test_old_checkpoints_without_num_batches_tracked_load():
    bn = nn.BatchNorm2d(3)
    state = {k: v.numpy() for k, v in bn.state_dict().items() if k != "num_batches_tracked"}
    assert bn.load_state_dict(state).missing_keys == []


def test_non_persistent_buffers_stay_out_of_the_state_dict():
    m = nn.Module()
    m.register_buffer("kept", mc.tensor([1.0]))
    m.register_buffer("scratch", mc.tensor([2.0]), persistent=False)
    assert list(m.state_dict()) == ["kept"]
    assert [n for n, _ in m.named_buffers()] == ["kept", "scratch"]


# ----- dtypes and devices -----------------------------------------------------------------
def test_double_and_float_convert_in_place():
    model = tiny_net(nn)
    weight = model[0].weight
    model(mc.tensor(random_input(2, 3, 8, 8))).sum().backward()
    model.double()
    assert model[0].weight is weight              # same Parameter: optimizers stay valid
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in model.parameters())
    assert model[1].running_mean.dtype == np.float64
    assert model[1].num_batches_tracked.dtype == np.int64
    out = model(mc.tensor(random_input(2, 3, 8, 8, dtype=np.float64)))
    assert out.dtype == np.float64
    assert model.float()[0].weight.dtype == np.float32
    with pytest.raises(TypeError, match="floating-point"):
        model.to(np.int32)


@pytest.mark.skipif(mc.backend.cuda_available(), reason="checks the error without a GPU")
def test_to_cuda_without_a_gpu_explains():
    with pytest.raises(RuntimeError, match="CuPy"):
        nn.Linear(2, 2).to("cuda")


def test_deepcopy_gives_an_independent_model():
    a = tiny_net(nn)
    b = copy.deepcopy(a)
    b[0].weight.data += 1
    assert not np.allclose(a[0].weight.numpy(), b[0].weight.numpy())


# ----- hooks ------------------------------------------------------------------------------
def test_forward_hooks_see_replace_and_unregister():
    model = tiny_net(nn).eval()
    seen = []
    handle = model[2].register_forward_hook(lambda m, inputs, out: seen.append(out.shape))
    x = mc.tensor(random_input(2, 3, 8, 8))
    y = model(x)
    assert seen == [(2, 4, 8, 8)]
    handle.remove()
    model(x)
    assert len(seen) == 1
    with model[6].register_forward_hook(lambda m, inputs, out: out * 0):
        assert np.all(model(x).numpy() == 0)      # a returned value replaces the output
    np.testing.assert_array_equal(model(x).numpy(), y.numpy())
    pre = model[6].register_forward_pre_hook(lambda m, inputs: (inputs[0] * 0,))
    assert_close(model(x), model[6].bias.numpy()[None].repeat(2, 0))
    pre.remove()


# ----- layers: wiring against torch.nn, and their errors --------------------------------
LAYERS = [
    (lambda lib: lib.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2),
     (2, 4, 9, 8)),
    (lambda lib: lib.Conv2d(3, 4, 3, padding="same", bias=False), (2, 3, 7, 7)),
    (lambda lib: lib.Conv2d(3, 4, (2, 3), padding="same", dilation=(3, 2)), (2, 3, 7, 6)),   # uneven
    (lambda lib: lib.Conv2d(3, 4, 3, stride=2, padding=1), (3, 7, 7)),          # unbatched (C, H, W)
    (lambda lib: lib.Conv2d(3, 4, 3, padding=1), (0, 3, 5, 5)),                  # empty batch
    (lambda lib: lib.MaxPool2d(3, stride=2, padding=1), (3, 7, 7)),
    (lambda lib: lib.MaxPool2d(2), (0, 3, 4, 4)),
    (lambda lib: lib.AvgPool2d(2), (0, 3, 4, 4)),
    (lambda lib: lib.AdaptiveAvgPool2d((2, 3)), (0, 3, 5, 5)),
    (lambda lib: lib.LocalResponseNorm(3, alpha=1.0), (0, 5, 2, 2)),
    (lambda lib: lib.LocalResponseNorm(3, alpha=1.0), (2, 5, 0, 2)),             # zero-size space
    (lambda lib: lib.Linear(6, 3), (4, 6)),
    (lambda lib: lib.Linear(6, 3), (2, 5, 6)),
    (lambda lib: lib.MaxPool2d(3, stride=2, padding=1, dilation=2, ceil_mode=True), (2, 3, 11, 10)),
    (lambda lib: lib.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
     (2, 3, 10, 11)),
    (lambda lib: lib.AvgPool2d(2, divisor_override=3), (2, 3, 6, 6)),
    (lambda lib: lib.AdaptiveAvgPool2d((3, 2)), (2, 3, 7, 5)),
    (lambda lib: lib.LocalResponseNorm(4, alpha=1.0, beta=0.6, k=2.0), (2, 6, 3, 3)),
    (lambda lib: lib.Flatten(1, 2), (2, 3, 4, 5)),
    (lambda lib: lib.ReLU(), (3, 4)),
    (lambda lib: lib.LeakyReLU(0.2), (3, 4)),
    (lambda lib: lib.LeakyReLU(), (2, 3, 4, 4)),
    (lambda lib: lib.ReLU6(), (3, 5)),
    (lambda lib: lib.Hardtanh(-0.5, 2.0), (3, 5)),
    (lambda lib: lib.Tanh(), (2, 3, 4, 4)),
    (lambda lib: lib.AdaptiveMaxPool2d((2, 3)), (2, 3, 7, 5)),
    (lambda lib: lib.AdaptiveMaxPool2d(4), (0, 3, 9, 9)),
    (lambda lib: lib.Identity(), (3, 4)),
    (lambda lib: lib.Dropout(0.5).eval(), (3, 4)),
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")   # PyTorch's note
@pytest.mark.parametrize("make, shape", LAYERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_matches_torch(make, shape, dtype):
    torch.manual_seed(0)
    theirs, mine = make(torch.nn).to(torch.float64 if dtype == np.float64 else torch.float32), make(nn)
    copy_from_torch(mine, theirs)
    mine.to(dtype)
    # shuffled distinct values: max pooling must not see ties
    x = np.random.default_rng(0).permutation(np.linspace(-3, 3, math.prod(shape))).reshape(shape)
    compare_modules(mine, theirs, x.astype(dtype))


@settings(max_examples=25, deadline=None)
@given(cin=st.integers(1, 4), cout=st.integers(1, 4), groups=st.sampled_from([1, 2]),
       k=st.integers(1, 4), stride=st.integers(1, 3), padding=st.integers(0, 2),
       dilation=st.integers(1, 2), bias=st.booleans(), pool=st.integers(1, 3),
       ceil_mode=st.booleans(), size=st.integers(9, 14))
def test_conv_pool_stack_matches_torch(cin, cout, groups, k, stride, padding, dilation, bias,
                                       pool, ceil_mode, size):
    """Random Conv2d + ReLU + MaxPool2d + Flatten + Linear stacks: same output and gradients."""
    cin, cout = cin * groups, cout * groups
    conv_out = (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    if conv_out < pool:
        return
    pool_out = (conv_out - pool + ((pool - 1) if ceil_mode else 0)) // pool + 1

    def make(lib):
        return lib.Sequential(
            lib.Conv2d(cin, cout, k, stride, padding, dilation, groups, bias), lib.ReLU(),
            lib.MaxPool2d(pool, ceil_mode=ceil_mode), lib.Flatten(),
            lib.Linear(cout * pool_out * pool_out, 3))

    theirs, mine = make(torch.nn).double(), make(nn).double()
    copy_from_torch(mine, theirs)
    compare_modules(mine, theirs, random_input(2, cin, size, size, dtype=np.float64))


@pytest.mark.parametrize("make, shape", [
    (lambda lib: lib.BatchNorm2d(3), (4, 3, 2, 3)),
    (lambda lib: lib.BatchNorm2d(3, momentum=None), (4, 3, 2, 3)),        # cumulative average
    (lambda lib: lib.BatchNorm2d(3, affine=False, eps=1e-3, momentum=0.3), (4, 3, 2, 3)),
    (lambda lib: lib.BatchNorm2d(3, bias=False), (4, 3, 2, 3)),
    (lambda lib: lib.BatchNorm2d(3, track_running_stats=False), (4, 3, 2, 3)),
    (lambda lib: lib.BatchNorm1d(3), (5, 3)),
    (lambda lib: lib.BatchNorm1d(3), (5, 3, 4)),
    (lambda lib: lib.BatchNorm2d(3), (0, 3, 2, 3)),            # empty batch: stats left alone
    (lambda lib: lib.BatchNorm2d(3, momentum=None), (0, 3, 2, 3)),
    (lambda lib: lib.BatchNorm1d(3), (0, 3)),
])
def test_batch_norm_layer_matches_torch_over_train_and_eval(make, shape):
    torch.manual_seed(0)
    theirs, mine = make(torch.nn).double(), make(nn).double()
    if theirs.affine:                         # non-trivial weight and bias
        with torch.no_grad():
            for p in theirs.parameters():
                p.uniform_(0.5, 1.5)
    copy_from_torch(mine, theirs)
    for step in range(3):
        x = random_input(*shape, dtype=np.float64, seed=step) * 2 + step
        for train in (True, False):
            theirs.train(train), mine.train(train)
            compare_modules(mine, theirs, x, seed=10 + step)
            for (k, v), vt in zip(mine.state_dict().items(), theirs.state_dict().values()):
                assert_close(v, vt.numpy(), name=f"step {step} train={train} {k}")


def test_layer_errors_name_the_layer():
    conv = nn.Conv2d(3, 64, kernel_size=7, stride=2)
    with pytest.raises(ValueError, match=r"Conv2d\(3, 64, kernel_size=\(7, 7\), stride=\(2, 2\)\): "
                                         r"conv2d: expected input with 3 channels \(weight \(64, 3, 7, 7\), "
                                         r"groups=1\), got input of shape \(8, 1, 28, 28\)"):
        conv(mc.tensor(np.zeros((8, 1, 28, 28), np.float32)))
    with pytest.raises(ValueError, match=r"Conv2d\(3, 64.*4-D input \(N, C, H, W\) or a 3-D one "
                                         r"\(C, H, W\), got shape \(28, 28\)"):
        conv(mc.tensor(np.zeros((28, 28), np.float32)))
    with pytest.raises(ValueError, match=r"Conv2d\(3, 64, .*\): conv2d: expected input with 3 channels "
                                         r".*got input of shape \(1, 28, 28\)"):
        conv(mc.tensor(np.zeros((1, 28, 28), np.float32)))
    with pytest.raises(ValueError, match=r"Conv2d\(3, 64, .*\): conv2d: "):   # too small
        conv(mc.tensor(np.zeros((1, 3, 4, 4), np.float32)))
    with pytest.raises(ValueError, match=r"Linear\(in_features=512, out_features=10, bias=True\): "
                                         r"linear: expected input with 512 features .* got input of shape \(2, 256\)"):
        nn.Linear(512, 10)(mc.tensor(np.zeros((2, 256), np.float32)))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(16, .*\): expected input shaped "
                                         r"\(N, 16, H, W\), got \(2, 8, 4, 4\)"):
        nn.BatchNorm2d(16)(mc.tensor(np.zeros((2, 8, 4, 4), np.float32)))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3, .*\): expected input shaped "
                                         r"\(N, 3\) or \(N, 3, L\), got \(2, 3, 4, 4\)"):
        nn.BatchNorm1d(3)(mc.tensor(np.zeros((2, 3, 4, 4), np.float32)))
    with pytest.raises(ValueError, match=r"MaxPool2d\(kernel_size=3, .*\): "):
        nn.MaxPool2d(3)(mc.tensor(np.zeros((1, 1, 2, 2), np.float32)))
    with pytest.raises(ValueError, match="Conv2d.*divisible by groups=2"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="Dropout: p must be between 0 and 1"):
        nn.Dropout(1.5)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(kernel_size=0), ValueError, r"Conv2d\(3, 4\): kernel_size must be at least 1, got 0"),
    (dict(kernel_size=(3, 0)), ValueError, r"kernel_size must be at least 1, got \(3, 0\)"),
    (dict(kernel_size=3, stride=1.5), TypeError, r"Conv2d\(3, 4\): stride must be an int or a pair of ints, got 1.5"),
    (dict(kernel_size=3, stride=True), TypeError, r"stride must be an int or a pair of ints, got True"),
    (dict(kernel_size=3, padding=0.5), TypeError, r"padding must be an int or a pair of ints, got 0.5"),
    (dict(kernel_size=3, padding="same", stride=2), ValueError,
     r"Conv2d\(3, 4\): padding='same' is not supported for strided convolutions"),
    (dict(kernel_size=3, padding="full"), ValueError, r"padding must be 'valid', 'same', an int or a pair"),
    (dict(kernel_size=3, groups=1.5), TypeError, r"Conv2d\(3, 4\): groups must be an int, got 1.5"),
])
def test_conv2d_layer_refuses_bad_settings_when_built(kwargs, error, match):
    """Found when the layer is built (PyTorch finds most of these only at the first forward)."""
    with pytest.raises(error, match=match):
        nn.Conv2d(3, 4, **kwargs)


@pytest.mark.parametrize("layer", [nn.MaxPool2d(2, stride=1.5), nn.AvgPool2d(2, stride=True),
                                   nn.MaxPool2d(2.0), nn.AdaptiveAvgPool2d(1.5)], ids=repr)
def test_pooling_layers_refuse_non_int_settings(layer):
    with pytest.raises(TypeError, match=r"must be an int or a pair of ints"):
        layer(mc.tensor(np.zeros((1, 1, 4, 4), np.float32)))


def test_zero_init_residual_basic_block():
    """ResNet-18 (BasicBlock): zero_init_residual zeroes each block's bn2 weight, and only that."""
    mine = mc.models.resnet18(num_classes=3, zero_init_residual=True)
    plain = mc.models.resnet18(num_classes=3)
    for model, zeroed in ((mine, True), (plain, False)):
        blocks = [m for m in model.modules() if isinstance(m, mc.models.resnet.BasicBlock)]
        assert len(blocks) == 8
        for block in blocks:
            assert (block.bn2.weight.numpy() == 0).all() == zeroed
            np.testing.assert_array_equal(block.bn1.weight.numpy(), 1)
            np.testing.assert_array_equal(block.bn2.bias.numpy(), 0)
    np.testing.assert_array_equal(mine.bn1.weight.numpy(), 1)   # the stem's BN is not a residual
    # the same batch-norm weights and biases, zeros in the same places, as torchvision's
    theirs = torchvision.models.resnet18(num_classes=3, zero_init_residual=True).state_dict()
    ours = mine.state_dict()
    bn_keys = [k for k in theirs if k.endswith(("weight", "bias")) and theirs[k].ndim == 1
               and not k.startswith("fc")]
    assert len(bn_keys) == 2 * (1 + 2 * 8 + 3)     # stem, two per block, three downsamples
    for k in bn_keys:
        np.testing.assert_array_equal(mc.utils.as_numpy(ours[k]), theirs[k].numpy(), err_msg=k)


def test_dropout_layer_follows_the_mode():
    drop = nn.Dropout(0.5)
    x = mc.tensor(np.ones((100, 100), np.float32))
    y = drop(x).numpy()
    assert set(np.unique(y)) == {0.0, 2.0} and 0.4 < (y == 0).mean() < 0.6
    np.testing.assert_array_equal(drop.eval()(x).numpy(), x.numpy())


# ----- init ----------------------------------------------------------------------------------
def test_calculate_gain_and_fans_match_torch():
    for name, param in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                        ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
                        ("leaky_relu", math.sqrt(5)), ("selu", None)]:
        assert nn.init.calculate_gain(name, param) == pytest.approx(
            torch.nn.init.calculate_gain(name, param))
    for shape in [(10, 7), (8, 3, 5, 5), (6, 2, 1, 7)]:
        assert (nn.init._calculate_fan_in_and_fan_out(mc.tensor(np.zeros(shape)))
                == torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape)))


def sample(shape=(256, 128, 3, 3), dtype=np.float32):
    return nn.Parameter(np.empty(shape, dtype))


@pytest.mark.parametrize("fill, expected_std", [
    (lambda t: nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"),
     math.sqrt(2 / (256 * 9))),
    (lambda t: nn.init.kaiming_normal_(t), math.sqrt(2 / (1 + 0.01 ** 2) / (128 * 9))),
    (lambda t: nn.init.kaiming_uniform_(t, a=math.sqrt(5)), 1 / math.sqrt(128 * 9) / math.sqrt(3)),
    (lambda t: nn.init.xavier_normal_(t, gain=2.0), 2 * math.sqrt(2 / (128 * 9 + 256 * 9))),
    (lambda t: nn.init.xavier_uniform_(t), math.sqrt(2 / (128 * 9 + 256 * 9))),
    (lambda t: nn.init.normal_(t, 1.0, 0.5), 0.5),
    (lambda t: nn.init.uniform_(t, -3, 3), 6 / math.sqrt(12)),
    # truncated at +-1 std: the variance of N(0,1) cut to [-1, 1] is 1 - 2 phi(1) / erf(1/sqrt2)
    (lambda t: nn.init.trunc_normal_(t, std=2.0, a=-2.0, b=2.0),
     2 * math.sqrt(1 - 2 * math.exp(-0.5) / math.sqrt(2 * math.pi) / math.erf(1 / math.sqrt(2)))),
])
def test_init_statistics(fill, expected_std):
    t = sample()
    assert fill(t) is t
    values = t.numpy()
    assert values.dtype == np.float32 and values.shape == (256, 128, 3, 3)
    assert values.std() == pytest.approx(expected_std, rel=0.02)


def test_uniform_and_truncated_bounds():
    t = nn.init.kaiming_uniform_(sample(), mode="fan_in", nonlinearity="relu").numpy()
    bound = math.sqrt(3) * math.sqrt(2 / (128 * 9))
    assert -bound <= t.min() < -0.99 * bound and 0.99 * bound < t.max() <= bound
    t = nn.init.trunc_normal_(sample(), mean=1.0, std=1.0, a=0.5, b=1.2).numpy()
    assert t.min() >= 0.5 and t.max() <= 1.2
    assert nn.init.trunc_normal_(sample(dtype=np.float64)).dtype == np.float64
    with pytest.raises(ValueError, match="a < b"):
        nn.init.trunc_normal_(sample(), a=1, b=0)


def test_constant_inits():
    assert np.all(nn.init.constant_(sample(), 0.25).numpy() == 0.25)
    assert np.all(nn.init.zeros_(sample()).numpy() == 0)
    assert np.all(nn.init.ones_(sample()).numpy() == 1)


def test_default_init_of_conv_and_linear_is_torchs():
    """PyTorch: kaiming_uniform_(a=sqrt(5)) = uniform(+-1/sqrt(fan_in)), bias the same."""
    conv, lin = nn.Conv2d(16, 32, 3), nn.Linear(400, 300)
    for layer, fan_in in ((conv, 16 * 9), (lin, 400)):
        bound = 1 / math.sqrt(fan_in)
        w, b = layer.weight.numpy(), layer.bias.numpy()
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.98 * bound
        assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.03)
        assert np.abs(b).max() <= bound
    torch_lin = torch.nn.Linear(400, 300)
    assert lin.weight.numpy().std() == pytest.approx(torch_lin.weight.detach().numpy().std(), rel=0.03)


def test_init_is_reproducible_with_manual_seed():
    mc.manual_seed(123)
    a = nn.Conv2d(3, 8, 3).weight.numpy()
    mc.manual_seed(123)
    b = nn.Conv2d(3, 8, 3).weight.numpy()
    c = nn.Conv2d(3, 8, 3).weight.numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)


# ----- full backward hooks, against torch -----------------------------------------------------
def test_full_backward_hooks_see_and_replace_what_torch_hooks_do():
    def run(lib):
        torch_lib = lib is torch
        mod = (torch.nn if torch_lib else nn)
        torch.manual_seed(0)
        theirs = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2)).double()
        model = theirs if torch_lib else mod.Sequential(mod.Linear(4, 3), mod.ReLU(), mod.Linear(3, 2))
        if not torch_lib:
            copy_from_torch(model, theirs)
            model.to(np.float64)
        x_np = np.random.default_rng(0).standard_normal((5, 4))
        x = torch.tensor(x_np, requires_grad=True) if torch_lib else mc.tensor(x_np, requires_grad=True)
        seen = []
        as_np = lambda t: None if t is None else np.array(t.detach().numpy() if torch_lib else t.numpy())
        model[2].register_full_backward_pre_hook(
            lambda m, go: (seen.append(("pre2", as_np(go[0]))), (go[0] * 2,))[1])
        model[2].register_full_backward_hook(
            lambda m, gi, go: seen.append(("full2", as_np(gi[0]), as_np(go[0]))))
        handle = model[0].register_full_backward_hook(
            lambda m, gi, go: (seen.append(("full0", as_np(gi[0]), as_np(go[0]))), (gi[0] * 3,))[1])
        out = model(x)
        (out * out).sum().backward()
        grads = [as_np(x.grad)] + [as_np(p.grad) for p in model.parameters()]
        handle.remove()
        for p in list(model.parameters()) + [x]:
            p.grad = None
        model(x).sum().backward()                     # full0 removed: no x3 on x's gradient
        return seen, grads, as_np(x.grad)

    ours, theirs = run(mc), run(torch)
    assert [s[0] for s in ours[0]] == [s[0] for s in theirs[0]] == ["pre2", "full2", "full0", "pre2", "full2"]
    for mine, their in zip(ours[0], theirs[0]):
        for a, b in zip(mine[1:], their[1:]):
            np.testing.assert_allclose(a, b, rtol=1e-10)
    for a, b in zip(ours[1], theirs[1]):
        np.testing.assert_allclose(a, b, rtol=1e-10)
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-10)


def test_full_backward_hook_of_a_first_layer_gets_none_for_an_input_without_grad():
    layer = nn.Linear(3, 2)
    seen = []
    layer.register_full_backward_hook(lambda m, gi, go: seen.append((gi, go[0].shape)))
    layer(mc.tensor(np.ones((4, 3), np.float32))).sum().backward()
    assert seen == [((None,), (4, 2))]
