"""Numerics against PyTorch: float16 (reductions accumulate in float32; conv, pooling and
batch norm computed on the default path), 0-d and 1-D operands, gradients at the edges
(x ** 0 at 0), and every gradient in its own tensor's dtype (a float32 leaf never gets a
float64 .grad), as tests/functional/test_promotion.py checks the results' dtypes."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import minicnn as mc
import minicnn.functional as F
from minicnn.utils import assert_close

FLOATS = (np.float16, np.float32, np.float64)
TOL = {np.float16: dict(rtol=2e-2, atol=2e-2), np.float32: dict(rtol=1e-5, atol=1e-5),
       np.float64: dict(rtol=1e-10, atol=1e-10)}


def run_both(mc_fn, torch_fn, arrays, dtype=None, seed=0, tol=None):
    """Forward and backward (random upstream gradient) on both; compares values, dtypes,
    and each gradient's values and dtype (the dtype of its own input, as torch)."""
    rng = np.random.default_rng(seed)
    arrays = [a.astype(dtype) if dtype is not None and a.dtype.kind == "f" else a for a in arrays]
    floats = [a.dtype.kind == "f" for a in arrays]
    mc_in = [mc.tensor(a, requires_grad=f) for a, f in zip(arrays, floats)]
    th_in = [torch.tensor(a, requires_grad=f) for a, f in zip(arrays, floats)]
    out, want = mc_fn(*mc_in), torch_fn(*th_in)
    assert out.dtype == np.dtype(str(want.dtype).replace("torch.", "")), \
        f"forward dtype {out.dtype}, torch gives {want.dtype}"
    tol = tol or TOL[out.dtype.type]
    assert_close(out, want.detach().numpy(), name="forward", **tol)
    g = rng.standard_normal(out.shape).astype(out.dtype)
    out.backward(g)
    want.backward(torch.tensor(g))
    for i, (m, t) in enumerate(zip(mc_in, th_in)):
        if not floats[i]:
            continue
        assert m.grad is not None, f"input {i} got no gradient"
        assert m.grad.dtype == m.dtype, f"input {i} ({m.dtype}): gradient in {m.grad.dtype}"
        assert_close(m.grad, t.grad.numpy(), name=f"gradient of input {i}", **tol)


def randn(*shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


# ----- the defects ---------------------------------------------------------------
def test_float16_mean_of_many_large_values_accumulates_in_float32():
    x = mc.tensor(np.full(1000, 100.0, np.float16))
    got, want = x.mean(), torch.full((1000,), 100.0, dtype=torch.float16).mean()
    assert got.dtype == np.float16 and float(got.item()) == float(want) == 100.0


def test_float16_sum_rounds_once_as_torch():
    # 2048 + 1 is 2048 in float16: adding in float16 loses every 1 that follows 2048
    a = np.concatenate([np.full(1, 2048.0), np.full(64, 1.0)]).astype(np.float16)
    a = np.stack([a, a], axis=1)        # summed over dim 0: row after row, no pairwise sum
    got, want = mc.tensor(a).sum(dim=0), torch.tensor(a).sum(dim=0)
    assert got.dtype == np.float16 and got.numpy().tolist() == want.tolist() == [2112.0] * 2
    got, want = mc.tensor(a).mean(dim=0), torch.tensor(a).mean(dim=0)
    assert got.numpy().tolist() == want.tolist() == [float(np.float16(2112.0 / 65))] * 2


@pytest.mark.parametrize("dtype", FLOATS)
def test_float16_mean_and_sum_over_a_dim_match_torch(dtype):
    a = randn(3, 700) * 50
    run_both(lambda x: x.mean(dim=1), lambda x: x.mean(dim=1), [a], dtype)
    run_both(lambda x: x.sum(dim=0, keepdim=True), lambda x: x.sum(dim=0, keepdim=True), [a],
             dtype, tol=dict(rtol=2e-2, atol=0.5) if dtype == np.float16 else None)


@pytest.mark.parametrize("exponent", [0, 0.0, "tensor"])
def test_gradient_of_x_to_the_zero_is_zero_at_zero(exponent):
    a = np.array([0.0, 2.0, -3.0], np.float32)
    if exponent == "tensor":
        run_both(lambda x, y: x ** y, lambda x, y: x ** y, [a, np.zeros(3, np.float32)])
    else:
        run_both(lambda x: x ** exponent, lambda x: x ** exponent, [a])


@pytest.mark.parametrize("call", ["F.abs", "Tensor.abs"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_abs_matches_torch(call, dtype):
    fn = F.abs if call == "F.abs" else (lambda x: x.abs())
    run_both(fn, torch.abs, [np.array([-2.0, 0.5, 3.0, -0.25])], dtype)


@pytest.mark.parametrize("shapes", [((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)),
                                    ((5, 2, 3), (3,)), ((3,), (5, 3, 2)), ((0,), (0,))])
def test_matmul_with_vectors_backward_matches_torch(shapes):
    run_both(lambda x, y: x @ y, torch.matmul, [randn(*shapes[0]), randn(*shapes[1], seed=2)],
             np.float32)


def test_max_gradient_keeps_the_leaf_dtype_with_ties():
    x = mc.tensor(np.array([1.0, 3.0, 3.0], np.float32), requires_grad=True)
    x.max().backward()
    assert x.grad.dtype == np.float32
    run_both(lambda x: x.max(), lambda x: x.max(), [np.array([1.0, 3.0, 3.0], np.float32)])


@pytest.mark.parametrize("op", ["cat", "stack"])
def test_cat_and_stack_promote_and_give_each_input_its_own_gradient_dtype(op):
    mc_fn, torch_fn = getattr(F, op), getattr(torch, op)
    run_both(lambda a, b: mc_fn([a, b]), lambda a, b: torch_fn([a, b]),
             [np.ones(2, np.float32), np.arange(2.0)])      # float32 and float64
    run_both(lambda a, b: mc_fn([a, b]), lambda a, b: torch_fn([a, b]),
             [np.ones(2, np.float16), np.arange(2.0, dtype=np.float32)])


# ----- float16 conv, pooling and batch norm: computed, as torch does on the CPU ------------
X4 = randn(2, 3, 6, 6)


@pytest.mark.parametrize("name,mc_fn,torch_fn,arrays", [
    ("conv2d", lambda x, w, b: F.conv2d(x, w, b, padding=1),
     lambda x, w, b: TF.conv2d(x, w, b, padding=1), [X4, randn(4, 3, 3, 3, seed=2) * 0.3, randn(4, seed=3)]),
    ("conv2d_stride", lambda x, w: F.conv2d(x, w, stride=2), lambda x, w: TF.conv2d(x, w, stride=2),
     [X4, randn(2, 3, 2, 2, seed=2) * 0.3]),
    ("max_pool2d", lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2), [X4]),
    ("avg_pool2d", lambda x: F.avg_pool2d(x, 3, 2, 1), lambda x: TF.avg_pool2d(x, 3, 2, 1), [X4]),
    ("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, 1),
     lambda x: TF.adaptive_avg_pool2d(x, 1), [X4]),
    ("adaptive_max_pool2d", lambda x: F.adaptive_max_pool2d(x, (2, 3)),
     lambda x: TF.adaptive_max_pool2d(x, (2, 3)), [X4]),
    ("batch_norm_train", lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
     lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True),
     [X4, randn(3, seed=2), randn(3, seed=3)]),
    ("relu", F.relu, torch.relu, [X4]),
    ("dropout_eval", lambda x: F.dropout(x, 0.5, training=False),
     lambda x: TF.dropout(x, 0.5, training=False), [X4]),
])
@pytest.mark.parametrize("dtype", FLOATS)
def test_cnn_ops_compute_every_float_dtype_on_the_default_path(name, mc_fn, torch_fn, arrays, dtype):
    tol = dict(rtol=3e-2, atol=3e-2) if dtype == np.float16 else None
    run_both(mc_fn, torch_fn, arrays, dtype, tol=tol)


def test_batch_norm_eval_float16_with_running_stats():
    rm, rv = np.zeros(3, np.float16), np.ones(3, np.float16)
    run_both(lambda x: F.batch_norm(x, mc.tensor(rm), mc.tensor(rv), training=False),
             lambda x: TF.batch_norm(x, torch.tensor(rm), torch.tensor(rv), training=False),
             [X4], np.float16)


def test_float16_modules_train_a_step():
    model = mc.nn.Sequential(mc.nn.Conv2d(3, 4, 3), mc.nn.BatchNorm2d(4), mc.nn.ReLU(),
                             mc.nn.MaxPool2d(2))
    model.to(np.float16)
    out = model(mc.tensor(X4.astype(np.float16)))
    out.sum().backward()
    assert out.dtype == np.float16
    assert all(p.grad.dtype == np.float16 and np.isfinite(p.grad.numpy()).all()
               for p in model.parameters())


# ----- every op at 0-d and 1-D shapes, at every float dtype ------------------------------
UNARY = {
    "neg": (F.neg, torch.neg), "exp": (F.exp, torch.exp), "abs": (F.abs, torch.abs),
    "log": (lambda x: F.log(F.abs(x) + 0.5), lambda x: torch.log(torch.abs(x) + 0.5)),
    "sqrt": (lambda x: F.sqrt(F.abs(x) + 0.5), lambda x: torch.sqrt(torch.abs(x) + 0.5)),
    "square": (lambda x: x ** 2, lambda x: x ** 2), "pow0": (lambda x: x ** 0, lambda x: x ** 0),
    "sum": (F.sum, torch.sum), "mean": (F.mean, torch.mean), "max": (F.max, torch.max),
    "relu": (F.relu, torch.relu), "sigmoid": (F.sigmoid, torch.sigmoid),
    "tanh": (F.tanh, torch.tanh),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), lambda x: TF.leaky_relu(x, 0.1)),
    "hardtanh": (lambda x: F.hardtanh(x, -0.5, 0.5), lambda x: TF.hardtanh(x, -0.5, 0.5)),
    "relu6": (F.relu6, TF.relu6),
    "softmax": (lambda x: F.softmax(x, 0), lambda x: torch.softmax(x, 0)),
    "log_softmax": (lambda x: F.log_softmax(x, 0), lambda x: torch.log_softmax(x, 0)),
    "reshape": (lambda x: x.reshape(-1), lambda x: x.reshape(-1)),
    "flatten": (F.flatten, torch.flatten),
    "getitem": (lambda x: x[...], lambda x: x[...]),
    "to_float64": (lambda x: x.to(np.float64), lambda x: x.to(torch.float64)),
    "dropout_eval": (lambda x: F.dropout(x, training=False), lambda x: TF.dropout(x, training=False)),
    "mse_loss": (lambda x: F.mse_loss(x, x * 0 + 0.5),
                 lambda x: TF.mse_loss(x, x.detach() * 0 + 0.5)),
}
BINARY = {"add": (F.add, torch.add), "sub": (F.sub, torch.sub), "mul": (F.mul, torch.mul),
          "div": (F.div, torch.div), "pow": (lambda x, y: F.pow(F.abs(x) + 0.5, y),
                                             lambda x, y: torch.pow(torch.abs(x) + 0.5, y))}


@pytest.mark.parametrize("shape", [(), (1,), (5,)])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_ops_at_0d_and_1d_every_float_dtype(name, dtype, shape):
    a = np.asarray(randn(*shape) if shape else randn(1)[0] + 0.25)
    run_both(*UNARY[name], [a], dtype)


@pytest.mark.parametrize("shapes", [((), ()), ((5,), ()), ((), (5,)), ((5,), (5,)), ((1,), (5,))])
@pytest.mark.parametrize("dtypes", [(np.float16, np.float16), (np.float32, np.float64),
                                    (np.float16, np.float32), (np.float64, np.float16)])
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_ops_give_each_input_a_gradient_of_its_own_dtype(name, dtypes, shapes):
    arrays = [np.asarray(randn(*s, seed=i + 1) if s else randn(1, seed=i + 1)[0]).astype(d)
              for i, (s, d) in enumerate(zip(shapes, dtypes))]
    tol = TOL[np.float16] if np.float16 in dtypes else TOL[np.float32]
    run_both(*BINARY[name], arrays, tol=tol)


@pytest.mark.parametrize("dtype", FLOATS)
def test_linear_and_cross_entropy_at_every_float_dtype(dtype):
    run_both(F.linear, TF.linear, [randn(4, 3), randn(2, 3, seed=2), randn(2, seed=3)], dtype,
             tol=dict(rtol=3e-2, atol=3e-2) if dtype == np.float16 else None)
    target = np.array([0, 2, 1])
    run_both(lambda x, t: F.cross_entropy(x, t), lambda x, t: TF.cross_entropy(x, t),
             [randn(3, 4), target], dtype,
             tol=dict(rtol=3e-2, atol=3e-2) if dtype == np.float16 else None)


# ----- load_state_dict: numbers only ---------------------------------------------------------
@pytest.mark.parametrize("bad", [np.array([None], dtype=object), np.array([1.0], dtype=object),
                                 np.array(["1.0"])])
def test_load_state_dict_refuses_a_non_numeric_array(bad):
    model = mc.nn.Linear(2, 1)
    before = model.bias.numpy().copy()
    state = dict(model.state_dict(), bias=bad)
    with pytest.raises(RuntimeError, match=r"bias: expected numbers .* dtype (object|<U3)"):
        model.load_state_dict(state)
    np.testing.assert_array_equal(model.bias.numpy(), before)      # nothing copied
    torch_model = torch.nn.Linear(2, 1)
    with pytest.raises(RuntimeError):                                # torch refuses it too
        torch_model.load_state_dict(dict(torch_model.state_dict(), bias=bad))


def test_load_state_dict_still_takes_numeric_arrays():
    model = mc.nn.Linear(2, 1)
    model.load_state_dict(dict(model.state_dict(), bias=np.array([3], np.int64)))
    assert model.bias.numpy().tolist() == [3.0] and model.bias.dtype == np.float32


# ----- Resize(0): one clear error, not a ZeroDivisionError ------------------------------------
@pytest.mark.parametrize("size", [0, -1, False])
def test_resize_refuses_a_size_below_one(size):
    from minicnn.data.transforms import Resize
    with pytest.raises(ValueError, match=rf"Resize: size must be at least 1, got {size}"):
        Resize(size)(np.zeros((4, 6, 3), np.float32))


def test_resize_to_one_pixel_still_works():
    from minicnn.data.transforms import Resize
    assert Resize(1)(np.zeros((4, 6, 3), np.float32)).shape == (1, 1, 3)


# ----- batch norm's dtypes: PyTorch's rule on the CPU ------------------------------------------
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_float16_input_with_float32_parameters_matches_torch(training):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 3, 2, 2)).astype(np.float16)
    w, b = rng.standard_normal(3).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    stats = rng.standard_normal(3).astype(np.float32), (rng.random(3) + 0.5).astype(np.float32)
    mc_stats = [mc.tensor(s) for s in stats]
    th_stats = [torch.tensor(s) for s in stats]
    run_both(lambda x, w, b: F.batch_norm(x, *mc_stats, w, b, training=training),
             lambda x, w, b: TF.batch_norm(x, *th_stats, w, b, training=training),
             [x, w, b], tol=dict(rtol=2e-2, atol=2e-2))      # x float16, its gradient too
    for got, want in zip(mc_stats, th_stats):                 # updated in float32
        assert got.dtype == np.float32
        assert_close(got, want.numpy(), rtol=1e-3, atol=1e-3, name="running statistics")


@pytest.mark.parametrize("x_dtype,param_dtype", [(np.float32, np.float64), (np.float64, np.float32),
                                                 (np.float32, np.float16), (np.float16, np.float64)])
@pytest.mark.parametrize("which", ["weight", "running_mean"])
def test_batch_norm_refuses_other_dtype_mixes_as_torch(x_dtype, param_dtype, which):
    x = np.random.default_rng(5).standard_normal((4, 3)).astype(x_dtype)
    mc_args = {"weight": None, "running_mean": None, "running_var": None}
    mc_args[which] = np.ones(3, param_dtype)
    if which == "running_mean":
        mc_args["running_var"] = np.ones(3, param_dtype)
    with pytest.raises(RuntimeError):        # torch: "mixed dtype (CPU)"
        TF.batch_norm(torch.tensor(x), *(None if v is None else torch.tensor(v) for v in
                                         (mc_args["running_mean"], mc_args["running_var"],
                                          mc_args["weight"])), training=True)
    with pytest.raises(TypeError, match=rf"batch_norm: expected weight, bias and running "
                                        rf"statistics of one dtype, the input's \({np.dtype(x_dtype)}\)"
                                        rf".*got .*{which} {np.dtype(param_dtype)}"):
        F.batch_norm(mc.tensor(x), *(None if v is None else mc.tensor(v) for v in
                                     (mc_args["running_mean"], mc_args["running_var"],
                                      mc_args["weight"])), training=True)


@pytest.mark.skipif(not mc.distributed.is_available(), reason="needs mpi4py")
def test_sync_batch_norm_float16_input_with_float32_parameters_matches_torch():
    import minicnn.distributed as dist
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 3, 2, 2)).astype(np.float16)
    w, b = rng.standard_normal(3).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    rm, rv = mc.tensor(np.zeros(3, np.float32)), mc.tensor(np.ones(3, np.float32))
    dist.init_process_group("mpi")          # a world of one: batch norm's results
    try:
        run_both(lambda x, w, b: F.sync_batch_norm(x, rm, rv, w, b),
                 lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True),
                 [x, w, b], tol=dict(rtol=2e-2, atol=2e-2))
        assert rm.dtype == rv.dtype == np.float32
        with pytest.raises(TypeError, match="sync_batch_norm: expected weight, bias and running"):
            F.sync_batch_norm(mc.tensor(x.astype(np.float32)), None, None, mc.tensor(w.astype(np.float64)))
    finally:
        dist.destroy_process_group()


# ----- gradients' dtypes across promotion (test_promotion.py's table, for gradients) ----------
GRAD_TENSORS = {
    "float16": np.array([0.5, 1.5, 2.5], np.float16), "float32": np.array([0.5, 1.5, 2.5], np.float32),
    "float64": np.array([0.5, 1.5, 2.5]), "0d_float16": np.array(1.5, np.float16),
    "0d_float32": np.array(1.5, np.float32), "0d_float64": np.array(1.5),
}
OTHERS = {"int64": np.array([1, 2, 3]), "uint8": np.array([1, 2, 3], np.uint8),
          "bool": np.array([True, False, True]), "0d_int64": np.array(2), "py_int": 2,
          "py_float": 2.5, **GRAD_TENSORS}
GRAD_OPS = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
            "truediv": lambda a, b: a / b, "pow": lambda a, b: a ** b}


@pytest.mark.parametrize("op", sorted(GRAD_OPS))
@pytest.mark.parametrize("left", sorted(GRAD_TENSORS))
@pytest.mark.parametrize("right", sorted(OTHERS))
@pytest.mark.parametrize("swap", [False, True])
def test_each_gradient_has_its_tensors_dtype_and_torchs_values(op, left, right, swap):
    if op == "sub" and right == "bool":
        pytest.skip("a bool difference is refused (test_promotion checks it)")
    if op == "pow" and right == "bool" and not swap:
        pytest.skip("torch's own backward of float ** bool tensor fails (it subtracts 1 from a bool)")
    fn = GRAD_OPS[op]
    results = []
    for make in (lambda a, g: mc.tensor(a, requires_grad=g), lambda a, g: torch.tensor(a, requires_grad=g)):
        x = make(GRAD_TENSORS[left], True)
        r = OTHERS[right]
        y = make(r, r.dtype.kind == "f") if isinstance(r, np.ndarray) else r
        out = fn(y, x) if swap else fn(x, y)
        out.sum().backward()
        results.append((x, y))
    (x, y), (tx, ty) = results
    assert x.grad.dtype == x.dtype, f"{left}: gradient in {x.grad.dtype}"
    tol = TOL[np.float16] if "float16" in left + right else TOL[np.float32]
    assert_close(x.grad, tx.grad.numpy(), name="gradient", **tol)
    if isinstance(y, mc.Tensor) and y.requires_grad:
        assert y.grad.dtype == y.dtype, f"{right}: gradient in {y.grad.dtype}"
        assert_close(y.grad, ty.grad.numpy(), name="other's gradient", **tol)
