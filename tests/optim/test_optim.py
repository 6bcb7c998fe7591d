"""minicnn.optim against torch.optim: identical parameter trajectories.

Each test feeds both optimizers the same random gradients for several steps and
compares every parameter after every step (float64: to rounding error).
"""
import copy
import itertools

import numpy as np
import pytest
import torch

import minicnn as mc
import minicnn.optim as optim
from minicnn.utils import assert_close

SHAPES = [(3, 4), (5,), (2, 1, 3)]


def make_params(rng, shapes=SHAPES, dtype=np.float64):
    init = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ours = [mc.Tensor(a.copy(), requires_grad=True) for a in init]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    return ours, theirs


def set_grads(ours, theirs, grads):
    for p, q, g in zip(ours, theirs, grads):
        p.grad = None if g is None else mc.Tensor(g.copy())
        q.grad = None if g is None else torch.tensor(g.copy())


def run_both(make_ours, make_theirs, steps=8, seed=0, dtype=np.float64, tol=None,
             none_grad_at=None):
    """Step both optimizers ``steps`` times with the same random gradients; compare each step.

    ``make_*`` receive the list of parameters and return an optimizer.
    ``none_grad_at=(step, index)`` leaves that parameter without a gradient at that step.
    """
    rng = np.random.default_rng(seed)
    ours, theirs = make_params(rng, dtype=dtype)
    opt, topt = make_ours(ours), make_theirs(theirs)
    tol = tol or {}
    for k in range(steps):
        grads = [rng.standard_normal(p.shape).astype(dtype) for p in ours]
        if none_grad_at is not None and none_grad_at[0] == k:
            grads[none_grad_at[1]] = None
        set_grads(ours, theirs, grads)
        opt.step()
        topt.step()
        for i, (p, q) in enumerate(zip(ours, theirs)):
            assert p.dtype == dtype
            assert_close(p, q, name=f"param {i} after step {k + 1}", **tol)
    return opt, topt, ours, theirs


# ----- SGD ------------------------------------------------------------------
SGD_OPTIONS = [dict(momentum=m, dampening=d, nesterov=n, weight_decay=wd)
               for m, d, n, wd in itertools.product([0.0, 0.9], [0.0, 0.3], [False, True],
                                                    [0.0, 0.05])
               if not (n and (m == 0 or d != 0))]


@pytest.mark.parametrize("options", SGD_OPTIONS, ids=str)
def test_sgd_matches_torch(options):
    run_both(lambda ps: optim.SGD(ps, lr=0.1, **options),
             lambda ps: torch.optim.SGD(ps, lr=0.1, foreach=False, **options))


def test_sgd_maximize_matches_torch():
    kw = dict(lr=0.05, momentum=0.8, weight_decay=0.1, maximize=True)
    run_both(lambda ps: optim.SGD(ps, **kw),
             lambda ps: torch.optim.SGD(ps, foreach=False, **kw))


def test_sgd_momentum_buffer_matches_torch():
    opt, topt, ours, theirs = run_both(
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1),
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, foreach=False),
        steps=4)
    for i, (p, q) in enumerate(zip(ours, theirs)):
        assert_close(opt.state[id(p)]["momentum_buffer"], topt.state[q]["momentum_buffer"],
                     name=f"momentum buffer {i}")


# ----- RMSprop --------------------------------------------------------------
RMS_OPTIONS = [dict(centered=c, momentum=m, weight_decay=wd, alpha=a)
               for c, m, wd, a in itertools.product([False, True], [0.0, 0.9], [0.0, 0.1],
                                                    [0.99, 0.8])]


@pytest.mark.parametrize("options", RMS_OPTIONS, ids=str)
def test_rmsprop_matches_torch(options):
    run_both(lambda ps: optim.RMSprop(ps, lr=0.01, eps=1e-6, **options),
             lambda ps: torch.optim.RMSprop(ps, lr=0.01, eps=1e-6, foreach=False, **options))


# ----- Adam / AdamW ------------------------------------------------------------
ADAM_OPTIONS = [dict(amsgrad=a, weight_decay=wd, betas=b)
                for a, wd, b in itertools.product([False, True], [0.0, 0.1],
                                                  [(0.9, 0.999), (0.5, 0.8)])]


@pytest.mark.parametrize("options", ADAM_OPTIONS, ids=str)
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_adam_matches_torch(name, options):
    run_both(lambda ps: getattr(optim, name)(ps, lr=0.01, **options),
             lambda ps: getattr(torch.optim, name)(ps, lr=0.01, foreach=False, **options),
             steps=10)


def test_adamw_defaults_to_decoupled_weight_decay():
    opt, _, _, _ = run_both(lambda ps: optim.AdamW(ps),
                            lambda ps: torch.optim.AdamW(ps, foreach=False), steps=3)
    assert opt.param_groups[0]["weight_decay"] == 0.01
    # Guard against AdamW silently being Adam: coupled decay gives other weights.
    with pytest.raises(AssertionError, match="after step 1"):
        run_both(lambda ps: optim.AdamW(ps, weight_decay=0.5),
                 lambda ps: torch.optim.Adam(ps, weight_decay=0.5, foreach=False))


@pytest.mark.parametrize("name,kw", [("SGD", dict(momentum=0.9, nesterov=True)),
                                     ("RMSprop", dict(momentum=0.5, centered=True)),
                                     ("Adam", dict(amsgrad=True)), ("AdamW", {})])
def test_float32_matches_torch(name, kw):
    # float32 rounding differs with the order of operations: ~1e-7 relative per step.
    run_both(lambda ps: getattr(optim, name)(ps, lr=0.01, **kw),
             lambda ps: getattr(torch.optim, name)(ps, lr=0.01, foreach=False, **kw),
             dtype=np.float32, tol=dict(rtol=1e-5, atol=1e-6))


@pytest.mark.parametrize("name,kw", [("SGD", dict(momentum=0.9)), ("RMSprop", {}),
                                     ("Adam", {})])
def test_parameter_without_grad_is_skipped_like_torch(name, kw):
    opt, topt, ours, theirs = run_both(
        lambda ps: getattr(optim, name)(ps, lr=0.01, **kw),
        lambda ps: getattr(torch.optim, name)(ps, lr=0.01, foreach=False, **kw),
        steps=5, none_grad_at=(0, 1))
    # The parameter without a gradient on the first step had its state created later.
    if "step" in topt.state[theirs[1]]:
        assert opt.state[id(ours[1])]["step"] == float(topt.state[theirs[1]]["step"]) == 4


# ----- parameter groups -------------------------------------------------------------
@pytest.mark.parametrize("name,kw", [("SGD", dict(momentum=0.9)), ("RMSprop", dict(alpha=0.9)),
                                     ("Adam", {}), ("AdamW", {})])
def test_param_groups_with_their_own_settings(name, kw):
    def groups(ps):
        return [{"params": ps[:1], "lr": 0.5, "weight_decay": 0.1},
                {"params": ps[1:]}]
    opt, topt, _, _ = run_both(lambda ps: getattr(optim, name)(groups(ps), lr=0.01, **kw),
                               lambda ps: getattr(torch.optim, name)(groups(ps), lr=0.01,
                                                                     foreach=False, **kw))
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.01]
    for ours, theirs in zip(opt.param_groups, topt.param_groups):
        for key in ours:
            if key != "params":
                assert ours[key] == theirs[key], key


def test_add_param_group_matches_torch():
    rng = np.random.default_rng(3)
    ours, theirs = make_params(rng)
    opt = optim.SGD(ours[:2], lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(theirs[:2], lr=0.1, momentum=0.9, foreach=False)
    for k in range(6):
        if k == 3:      # "unfreeze" the last parameter with its own lr
            opt.add_param_group({"params": ours[2], "lr": 0.3})
            topt.add_param_group({"params": theirs[2], "lr": 0.3})
        set_grads(ours, theirs, [rng.standard_normal(p.shape) for p in ours])
        opt.step()
        topt.step()
        for i, (p, q) in enumerate(zip(ours, theirs)):
            assert_close(p, q, name=f"param {i} after step {k + 1}")
    assert opt.param_groups[1]["momentum"] == 0.9      # filled in from the defaults


def test_changing_lr_mid_training_matches_torch():
    rng = np.random.default_rng(4)
    ours, theirs = make_params(rng)
    opt, topt = optim.SGD(ours, lr=0.1, momentum=0.9), torch.optim.SGD(theirs, lr=0.1,
                                                                        momentum=0.9)
    for k in range(6):
        if k == 3:
            opt.param_groups[0]["lr"] = topt.param_groups[0]["lr"] = 0.01
        set_grads(ours, theirs, [rng.standard_normal(p.shape) for p in ours])
        opt.step()
        topt.step()
    for p, q in zip(ours, theirs):
        assert_close(p, q)


# ----- state dicts --------------------------------------------------------------------
CASES = [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
         ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True)),
         ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
         ("AdamW", dict(lr=0.01, betas=(0.8, 0.9)))]


@pytest.mark.parametrize("name,kw", CASES)
def test_state_dict_round_trip_continues_identically(name, kw):
    rng = np.random.default_rng(5)
    ours, theirs = make_params(rng)
    groups = lambda ps: [{"params": ps[:2]}, {"params": ps[2:], "lr": 0.003}]  # noqa: E731
    opt = getattr(optim, name)(groups(ours), **kw)
    topt = getattr(torch.optim, name)(groups(theirs), foreach=False, **kw)
    all_grads = [[rng.standard_normal(p.shape) for p in ours] for _ in range(8)]
    for grads in all_grads[:4]:
        set_grads(ours, theirs, grads)
        opt.step()
        topt.step()
    saved = copy.deepcopy(opt.state_dict())
    # Same structure as torch's state dict: indices, group settings, state names.
    tsaved = topt.state_dict()
    assert [g["params"] for g in saved["param_groups"]] == [[0, 1], [2]]
    assert sorted(saved["state"]) == sorted(tsaved["state"])
    for i in saved["state"]:
        assert set(saved["state"][i]) == set(tsaved["state"][i])
        for key, value in saved["state"][i].items():
            if key == "step":
                assert value == float(tsaved["state"][i][key])
            else:
                assert_close(value, tsaved["state"][i][key], name=f"state {i} {key}")

    # Resume: fresh parameters with the current values and a fresh optimizer.
    resumed = [mc.Tensor(p.numpy().copy(), requires_grad=True) for p in ours]
    opt2 = getattr(optim, name)(groups(resumed), lr=123.0)     # settings come from the dict
    opt2.load_state_dict(saved)
    assert opt2.param_groups[1]["lr"] == 0.003
    for grads in all_grads[4:]:
        set_grads(resumed, theirs, grads)
        opt2.step()
        topt.step()
    for i, (p, q) in enumerate(zip(resumed, theirs)):
        assert_close(p, q, name=f"resumed param {i}")


def test_load_state_dict_copies_and_casts_to_the_parameter():
    p = mc.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    buf = np.arange(3, dtype=np.float64)
    opt.load_state_dict({"state": {0: {"momentum_buffer": buf}},
                         "param_groups": [{**opt.state_dict()["param_groups"][0]}]})
    loaded = opt.state[id(p)]["momentum_buffer"]
    assert loaded.dtype == np.float32 and loaded is not buf
    buf[0] = 99.0
    assert loaded[0] == 0.0


def test_load_state_dict_mismatch_errors():
    a = [mc.Tensor(np.ones(2), requires_grad=True) for _ in range(3)]
    saved = optim.SGD(a[:2], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="group 0 has 2 parameters, the optimizer's has 3"):
        optim.SGD(a, lr=0.1).load_state_dict(saved)
    with pytest.raises(ValueError, match="has 1 parameter groups, but the optimizer has 2"):
        optim.SGD([{"params": a[:1]}, {"params": a[1:2]}], lr=0.1).load_state_dict(saved)


@pytest.mark.parametrize("saved_by, loaded_into", [
    (optim.SGD, optim.Adam), (optim.Adam, optim.SGD), (optim.SGD, optim.RMSprop),
    (optim.RMSprop, optim.SGD), (optim.Adam, optim.AdamW), (optim.AdamW, optim.Adam)])
def test_load_state_dict_from_another_kind_of_optimizer_names_both(saved_by, loaded_into):
    """Once raw KeyErrors ('step', 'momentum', 'alpha'), or -- Adam into AdamW -- the
    saved settings silently replacing the new optimizer's."""
    p = mc.Tensor(np.ones(3), requires_grad=True)
    first = saved_by([p], lr=0.1)
    p.grad = mc.Tensor(np.ones(3))
    first.step()
    saved = first.state_dict()
    assert saved["type"] == saved_by.__name__
    other = loaded_into([p], lr=0.1)
    with pytest.raises(ValueError, match=f"saved by {saved_by.__name__}, not "
                                         f"{loaded_into.__name__}"):
        other.load_state_dict(saved)
    assert other.param_groups[0]["lr"] == 0.1 and not other.state      # left as it was


def test_load_state_dict_without_a_type_compares_the_settings():
    """State dicts written before they named their type: the settings tell the kind."""
    p = mc.Tensor(np.ones(3), requires_grad=True)
    saved = optim.SGD([p], lr=0.1, momentum=0.9).state_dict()
    del saved["type"]
    optim.SGD([p], lr=0.5).load_state_dict(saved)                      # same kind: fine
    with pytest.raises(ValueError, match=r"saved by an optimizer with settings \[.*'nesterov'"
                                         r".*\], not RMSprop"):
        optim.RMSprop([p], lr=0.1).load_state_dict(saved)


# ----- the training-loop API ----------------------------------------------------------------
def test_zero_grad_sets_none_by_default_and_zeros_on_request():
    p = mc.Tensor(np.ones(3), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    p.grad = mc.Tensor(np.ones(3))
    opt.zero_grad()
    assert p.grad is None
    p.grad = mc.Tensor(np.ones(3))
    g = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is g and not g.numpy().any()


def test_step_updates_in_place_and_keeps_dtype():
    p = mc.Tensor(np.ones((2, 2), dtype=np.float32), requires_grad=True)
    array = p.data
    opt = optim.Adam([p], lr=0.1)
    (p * p).sum().backward()
    opt.step()
    assert p.data is array and p.dtype == np.float32
    assert_close(p, np.full((2, 2), 0.9, dtype=np.float32))   # Adam's first step: lr*sign(g)


def test_step_with_closure_returns_the_loss():
    p = mc.Tensor(np.array([3.0]), requires_grad=True)
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 9.0 and p.item() == 3.0 - 0.25 * 6.0


def test_training_a_tiny_least_squares_problem_converges():
    rng = np.random.default_rng(0)
    x, w_true = rng.standard_normal((32, 3)), np.array([[1.0], [-2.0], [0.5]])
    y = x @ w_true
    w = mc.Tensor(np.zeros((3, 1)), requires_grad=True)
    opt = optim.SGD([w], lr=0.1, momentum=0.5)
    for _ in range(200):
        opt.zero_grad()
        diff = mc.tensor(x) @ w - mc.tensor(y)
        ((diff * diff).sum() / 32).backward()
        opt.step()
    assert_close(w, w_true, atol=1e-6, rtol=0)


# ----- bad input ------------------------------------------------------------------------
def test_bad_arguments_raise_clear_errors():
    p = mc.Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="nesterov momentum requires momentum > 0"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="invalid lr -1"):
        optim.Adam([p], lr=-1)
    with pytest.raises(ValueError, match="invalid beta parameter at index 1"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="invalid alpha"):
        optim.RMSprop([p], alpha=-0.5)
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(TypeError, match="not a set"):
        optim.SGD([{"params": {p}}], lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors, but one of the params is a"
                                        " ndarray"):
        optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)


# ----- GPU (CuPy) ----------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.parametrize("name,kw", CASES)
def test_optimizers_on_cupy_follow_the_numpy_trajectory(name, kw, tmp_path):
    import cupy
    from minicnn.io import load_checkpoint, save_checkpoint
    rng = np.random.default_rng(6)
    init = [rng.standard_normal(s) for s in SHAPES]
    cpu = [mc.Tensor(a.copy(), requires_grad=True) for a in init]
    gpu = [mc.Tensor(cupy.asarray(a), requires_grad=True) for a in init]
    opt_cpu, opt_gpu = getattr(optim, name)(cpu, **kw), getattr(optim, name)(gpu, **kw)
    all_grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(8)]
    for k, grads in enumerate(all_grads):
        if k == 4:    # resume the GPU run from a checkpoint (GPU -> file -> GPU)
            save_checkpoint(tmp_path / "c.npz", {}, opt_gpu, epoch=k)
            gpu = [mc.Tensor(p.data.copy(), requires_grad=True) for p in gpu]
            opt_gpu = getattr(optim, name)(gpu, **kw)
            opt_gpu.load_state_dict(load_checkpoint(tmp_path / "c.npz")["optimizer"])
        for p, q, g in zip(cpu, gpu, grads):
            p.grad, q.grad = mc.Tensor(g.copy()), mc.Tensor(cupy.asarray(g))
        opt_cpu.step()
        opt_gpu.step()
    for i, (p, q) in enumerate(zip(cpu, gpu)):
        assert q.device == "cuda"
        # The GPU may fuse a multiply and an add (one rounding fewer): allow a few ulps.
        assert_close(q, p, rtol=1e-12, atol=1e-14, name=f"param {i}")
    for value in opt_gpu.state[id(gpu[0])].values():
        assert not isinstance(value, np.ndarray)      # state stays on the GPU


def test_sgd_updates_in_blocks_give_the_same_numbers_and_reach_views():
    from minicnn.optim.sgd import _add_scaled
    rng = np.random.default_rng(0)
    y, x = rng.standard_normal((37, 29)).astype(np.float32), rng.standard_normal((37, 29)).astype(np.float32)
    expected = y - np.float32(0.1) * x
    _add_scaled(y, -0.1, x, block=100)                 # 11 blocks, the last one short
    np.testing.assert_array_equal(y, expected)
    base = rng.standard_normal((6, 4))
    view, delta = base.T, rng.standard_normal((4, 6))  # not contiguous: updated in place too
    expected = base.T + 2 * delta
    _add_scaled(view, 2.0, delta, block=5)
    np.testing.assert_array_equal(base.T, expected)


SGD_KERNEL_OPTIONS = [dict(momentum=0.0), dict(momentum=0.9), dict(momentum=0.9, dampening=0.3),
                      dict(momentum=0.9, nesterov=True, weight_decay=0.01),
                      dict(momentum=0.0, weight_decay=0.1, maximize=True)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("options", SGD_KERNEL_OPTIONS, ids=str)
def test_sgd_update_numba_gives_the_references_numbers_bit_for_bit(options, dtype):
    """Four steps (the first sets the momentum buffer) on a weight of 200,003 values (the
    last parallel block short), both kernels side by side: the same bits."""
    impls = mc.dispatch.implementations("sgd_update")
    if "numba" not in impls:
        pytest.skip("Numba is not installed")
    settings = dict(lr=0.05, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                    maximize=False) | options
    rng = np.random.default_rng(7)
    param = rng.standard_normal(200_003).astype(dtype)
    params = {kind: param.copy() for kind in ("numpy", "numba")}
    bufs = {kind: np.empty_like(param) for kind in params}
    for step in range(4):
        grad = rng.standard_normal(param.shape).astype(dtype)
        for kind in params:
            impls[kind](params[kind], grad, bufs[kind], *settings.values(), step == 0)
        np.testing.assert_array_equal(params["numba"], params["numpy"], err_msg=f"step {step}")
        if settings["momentum"]:
            np.testing.assert_array_equal(bufs["numba"], bufs["numpy"])


def test_sgd_update_numba_takes_the_reference_for_views_and_other_dtypes():
    """A parameter that is a strided view, or a float64 gradient assigned to a float32
    weight: the fast path cannot flatten them, and the reference updates them correctly."""
    from minicnn.cpu.optim import sgd_update
    from minicnn.optim.sgd import sgd_update_numpy
    rng = np.random.default_rng(8)
    base = rng.standard_normal((5, 6))
    view, grad, buf = base.T, rng.standard_normal((6, 5)), np.zeros((6, 5))
    expected = base.T.copy()
    sgd_update_numpy(expected, grad, buf.copy(), 0.1, 0.9, 0.0, 0.0, False, False, True)
    sgd_update(view, grad, buf, 0.1, 0.9, 0.0, 0.0, False, False, True)
    np.testing.assert_array_equal(base.T, expected)
    w32 = rng.standard_normal(7).astype(np.float32)
    g64 = rng.standard_normal(7)
    expected = w32.copy()
    sgd_update_numpy(expected, g64, None, 0.1, 0.0, 0.0, 0.0, False, False, False)
    sgd_update(w32, g64, None, 0.1, 0.0, 0.0, 0.0, False, False, False)
    np.testing.assert_array_equal(w32, expected)


ADAM_KERNEL_OPTIONS = [dict(), dict(amsgrad=True), dict(weight_decay=0.1),
                       dict(weight_decay=0.05, decoupled_weight_decay=True),
                       dict(maximize=True, amsgrad=True, weight_decay=0.01)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("options", ADAM_KERNEL_OPTIONS, ids=str)
def test_adam_update_numba_gives_the_references_numbers_bit_for_bit(options, dtype):
    """Five steps on 200,003 values (the last parallel block short), a NaN gradient and a
    zero among them, both kernels side by side: the same bits in the weight and every moment."""
    impls = mc.dispatch.implementations("adam_update")
    if "numba" not in impls:
        pytest.skip("Numba is not installed")
    settings = dict(lr=0.01, beta1=0.8, beta2=0.95, eps=1e-6, weight_decay=0.0, amsgrad=False,
                    maximize=False, decoupled_weight_decay=False) | options
    rng = np.random.default_rng(9)
    param = rng.standard_normal(200_003).astype(dtype)
    states = {kind: [param.copy()] + [np.zeros_like(param) for _ in range(3)] for kind in impls
              if kind != "cuda"}
    for step in range(1, 6):
        grad = rng.standard_normal(param.shape).astype(dtype)
        grad[7], grad[8] = np.nan, 0.0
        for kind, (p, m, v, vmax) in states.items():
            impls[kind](p, grad, m, v, vmax if settings["amsgrad"] else None, step,
                        settings["lr"], settings["beta1"], settings["beta2"], settings["eps"],
                        settings["weight_decay"], settings["amsgrad"], settings["maximize"],
                        settings["decoupled_weight_decay"])
        for mine, reference in zip(states["numba"], states["numpy"]):
            np.testing.assert_array_equal(mine, reference, err_msg=f"step {step}")


RMSPROP_KERNEL_OPTIONS = [dict(), dict(centered=True), dict(momentum=0.9),
                          dict(centered=True, momentum=0.5, weight_decay=0.1),
                          dict(maximize=True, weight_decay=0.01)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("options", RMSPROP_KERNEL_OPTIONS, ids=str)
def test_rmsprop_update_numba_gives_the_references_numbers_bit_for_bit(options, dtype):
    """Five steps on 200,003 values (the last parallel block short), both kernels side by
    side: the same bits in the weight and in every running average."""
    impls = mc.dispatch.implementations("rmsprop_update")
    if "numba" not in impls:
        pytest.skip("Numba is not installed")
    settings = dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.0, momentum=0.0,
                    centered=False, maximize=False) | options
    rng = np.random.default_rng(10)
    param = rng.standard_normal(200_003).astype(dtype)
    states = {kind: [param.copy()] + [np.zeros_like(param) for _ in range(3)] for kind in impls
              if kind != "cuda"}
    for step in range(5):
        grad = rng.standard_normal(param.shape).astype(dtype)
        for kind, (p, v, m, b) in states.items():
            impls[kind](p, grad, v, m if settings["centered"] else None,
                        b if settings["momentum"] > 0 else None, settings["lr"], settings["alpha"],
                        settings["eps"], settings["weight_decay"], settings["momentum"],
                        settings["centered"], settings["maximize"])
        for mine, reference in zip(states["numba"], states["numpy"]):
            np.testing.assert_array_equal(mine, reference, err_msg=f"step {step}")
