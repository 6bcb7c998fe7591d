"""The autograd core: Tensor, Function, backward semantics (PyTorch's), no_grad, devices."""
import numpy as np
import pytest
import torch

import minicnn as mc
import minicnn.functional as F
from minicnn.utils import assert_close


def test_tensor_basics():
    t = mc.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert t.shape == (2, 2) and t.dtype == np.float32 and t.device == "cpu"
    assert t.requires_grad and t.grad is None and t.is_leaf
    assert mc.tensor(3.5).item() == 3.5
    assert mc.tensor([1, 2]).dtype == np.int64
    assert mc.tensor(np.zeros(3)).dtype == np.float64        # arrays keep their dtype
    assert mc.tensor([1, 2], dtype=np.float64).dtype == np.float64
    np.testing.assert_array_equal(t.numpy(), [[1, 2], [3, 4]])


def test_tensor_copies_its_input():
    a = np.ones(3)
    t = mc.tensor(a)
    a[0] = 5
    assert t.numpy()[0] == 1


def test_integer_tensor_cannot_require_grad():
    with pytest.raises(TypeError, match="floating-point"):
        mc.tensor([1, 2], requires_grad=True)


def test_gradients_accumulate_across_backward_calls():
    x = mc.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    (x * 3).sum().backward()
    assert_close(x.grad, np.array([2 + 3, 4 + 3, 6 + 3], dtype=np.float32))


def test_backward_of_non_scalar_without_grad_is_an_error():
    x = mc.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar"):
        (x * 2).backward()


def test_backward_accepts_tensor_or_array_gradient():
    x = mc.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).backward(np.array([1.0, 10.0]))
    assert_close(x.grad, np.array([2.0, 20.0], dtype=np.float32))
    x.grad = None
    (x * 2).backward(mc.tensor([3.0, 4.0]))
    assert_close(x.grad, np.array([6.0, 8.0], dtype=np.float32))


def test_backward_gradient_of_wrong_shape_is_an_error():
    x = mc.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        (x * 2).backward(np.ones(3))


def test_graph_is_freed_after_backward_unless_retained():
    x = mc.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()                              # allowed: the graph was retained
    assert_close(x.grad, 2 * (np.exp([1.0, 2.0]) * (1 + np.array([1.0, 2.0]))).astype(np.float32))
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_shared_subexpression_gets_summed_gradient():
    # y = a*a + a: the node `a` feeds two ops, so its gradient is the sum of both paths
    x = mc.tensor(np.array([0.5, -1.5]), requires_grad=True)
    a = x * 3
    (a * a + a).sum().backward()
    xt = torch.tensor([0.5, -1.5], dtype=torch.float64, requires_grad=True)
    at = xt * 3
    (at * at + at).sum().backward()
    assert_close(x.grad, xt.grad)


def test_no_grad_builds_no_graph():
    x = mc.tensor([1.0], requires_grad=True)
    with mc.no_grad():
        y = x * 2
    assert not y.requires_grad and y.is_leaf
    assert mc.is_grad_enabled()


def test_backward_on_tensor_without_grad_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mc.tensor([1.0]).sum().backward()


def test_detach_cuts_the_graph():
    x = mc.tensor([2.0], requires_grad=True)
    y = x * x.detach()              # d/dx = x (the detached factor is a constant)
    y.sum().backward()
    assert_close(x.grad, np.array([2.0], dtype=np.float32))


def test_dtype_conversion_is_differentiable():
    x = mc.tensor([1.0, 2.0], requires_grad=True)
    y = x.double()
    assert y.dtype == np.float64 and x.float() is x
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    assert_close(x.grad, np.array([2.0, 4.0], dtype=np.float32))
    assert x.to(np.float64).dtype == np.float64


def test_deep_graph_does_not_hit_recursion_limit():
    x = mc.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(5000):
        y = y + 1e-3
    y.sum().backward()
    assert x.grad.item() == 1.0


def test_unknown_device_and_missing_cuda_are_clear_errors():
    with pytest.raises(ValueError, match="unknown device"):
        mc.tensor([1.0]).to("tpu")
    if not mc.backend.cuda_available():
        with pytest.raises(RuntimeError, match="CuPy"):
            mc.tensor([1.0], device="cuda")


def test_importing_minicnn_does_not_import_cupy():
    import subprocess
    import sys
    code = "import sys, minicnn; assert 'cupy' not in sys.modules, 'cupy was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_custom_function_on_raw_arrays():
    class Cube(mc.Function):          # how a learner adds an op
        def forward(self, x):
            self.save_for_backward(x=x)
            return x ** 3

        def backward(self, g):
            return 3 * self.x ** 2 * g

    x = mc.tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
    mc.gradcheck(lambda t: Cube.apply(t), x)
    assert_close(Cube.apply(x), x.numpy() ** 3)


# ----- what a Function declares -------------------------------------------------------------
class Affine(mc.Function):
    settings = ("shift",)

    def forward(self, x, w):
        self.save_for_backward(x=x, w=w)
        return x * w + self.shift

    def backward(self, g):
        return g * self.w, g * self.x


def test_saved_is_what_forward_declared_and_release_drops_it_and_the_settings():
    x, w = (mc.tensor([1.0, 2.0], requires_grad=True) for _ in range(2))
    y = Affine.apply(x, w, shift=5.0)
    fn = y.grad_fn
    assert list(fn.saved) == ["x", "w"] and fn.saved["x"] is x.data
    assert fn.input_shapes == ((2,), (2,)) and fn.output_shape == (2,)
    y.sum().backward()
    assert fn.saved == {} and not hasattr(fn, "x") and not hasattr(fn, "shift")
    assert fn.input_shapes == ((2,), (2,))                    # the graph's shapes stay
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.sum().backward()


def test_state_set_in_forward_without_declaring_it_is_refused_by_name():
    class Leaky(mc.Function):
        def forward(self, x):
            self.x, self.scratch = x, x * 2
            return x * x

        def backward(self, g):
            return 2 * self.x * g

    with pytest.raises(TypeError, match=r"Leaky.forward set \['scratch', 'x'\] on self without "
                                        r"declaring it: use self.save_for_backward"):
        Leaky.apply(mc.tensor([1.0], requires_grad=True))


def test_observe_sees_every_op_with_its_declarations_and_nests():
    import minicnn.functional as F
    outer, inner = [], []
    x = mc.tensor(np.ones((1, 2, 6, 6), np.float32), requires_grad=True)
    w = mc.tensor(np.ones((3, 2, 3, 3), np.float32))
    with mc.autograd.observe(lambda fn, inputs, out: outer.append((fn, inputs, out))):
        y = F.conv2d(x, w, stride=2, padding=1)
        with mc.autograd.observe(lambda fn, inputs, out: inner.append(fn.name())):
            z = F.max_pool2d(F.relu(y), 2)
    (x * 1).sum()                                  # outside: not seen
    assert [fn.name() for fn, _, _ in outer] == ["Conv2dBackward", "ReLUBackward", "MaxPoolBackward"]
    assert inner == ["ReLUBackward", "MaxPoolBackward"]
    conv, inputs, out = outer[0]
    assert inputs[0] is x and out is y
    assert conv.multiply_adds() == 3 * 3 * 3 * 2 * 3 * 3        # outputs * C * kh * kw
    rows, cols = conv.windows()
    assert rows.start.tolist() == [0, 1, 3] and rows.stop.tolist() == [2, 4, 6] and rows.stride == 2
    relu, pool = outer[1][0], outer[2][0]
    assert relu.windows() is None and relu.multiply_adds() == 0 and relu.in_place_in_models
    assert pool.windows()[1].start.tolist() == [0] and z.shape == (1, 3, 1, 1)


def test_repr_shows_values_and_flags():
    r = repr(mc.tensor([1.0, 2.0], requires_grad=True))
    assert r.startswith("tensor([1., 2.]") and "requires_grad=True" in r


def test_post_accumulate_grad_hook_sees_each_accumulated_gradient():
    x = mc.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    x.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.tolist()))
    (x * 3).sum().backward()
    (x * x).sum().backward()
    assert seen == [[3.0, 3.0], [5.0, 7.0]]
    with pytest.raises(RuntimeError, match="only be registered on leaf tensors"):
        (x * 2).register_post_accumulate_grad_hook(print)


def test_leaf_gradients_never_share_an_array():
    # one upstream array reaches a, b (an add) and c (through a view); the caller keeps g
    a, b, c = (mc.tensor(np.ones((2, 3)), requires_grad=True) for _ in range(3))
    g = np.full((2, 3), 2.0)
    (a + b + c.reshape(3, 2).reshape(2, 3)).backward(g)
    a.grad.data[...] = 7.0                        # in place, as clip_grad_norm_ does
    assert b.grad.tolist() == c.grad.tolist() == [[2.0] * 3] * 2
    assert g.tolist() == [[2.0] * 3] * 2
    root = mc.tensor(np.zeros(2), requires_grad=True)
    upstream = np.ones(2)
    root.backward(upstream)
    root.grad.data[...] = 5.0
    assert upstream.tolist() == [1.0, 1.0]        # the caller's array is not the leaf's grad


def weight_gradients_returned_by(monkeypatch, function):
    """A dict that receives the weight gradient (input 1) each ``function.backward`` returns."""
    returned, backward = {}, function.backward

    def spy(self, g, **kwargs):
        grads = backward(self, g, **kwargs)
        returned["weight"] = grads[1]
        return grads
    monkeypatch.setattr(function, "backward", spy)
    return returned


def test_a_fresh_gradient_becomes_the_leaf_grad_without_a_copy(monkeypatch):
    from minicnn.functional.linalg import Linear
    returned = weight_gradients_returned_by(monkeypatch, Linear)
    x = mc.tensor(np.ones((4, 3)))
    w = mc.tensor(np.ones((5, 3)), requires_grad=True)
    F.linear(x, w).sum().backward()
    assert w.grad.data is returned["weight"]      # 150 MB for AlexNet's fc6: not copied


def test_a_view_of_a_fresh_gradient_is_adopted_without_a_copy(monkeypatch):
    """A convolution's weight gradient is a reshaped view of the product that made it: still
    nothing else's, so the leaf takes it as it is (a copy made while the activations are
    alive lifted vgg16's step by 85 MB)."""
    from minicnn.functional.conv import Conv2d
    returned = weight_gradients_returned_by(monkeypatch, Conv2d)
    x = mc.tensor(np.ones((2, 3, 6, 6)))
    w = mc.tensor(np.ones((4, 3, 3, 3)), requires_grad=True)
    F.conv2d(x, w).sum().backward()
    assert returned["weight"].base is not None and w.grad.data is returned["weight"]


def test_graph_does_not_keep_activations_that_no_backward_needs():
    # PyTorch's graph links Functions; an intermediate tensor lives only as long as the
    # user's code holds it or an op saved it.  Here the sum and the ReLU save nothing of
    # h (the ReLU keeps its own output), so once the code drops h, h's memory is freed.
    import gc
    import weakref
    x = mc.tensor(np.random.default_rng(0).normal(size=(3, 4)), requires_grad=True)
    h = x + 1.0                         # Add saves only shapes
    y = F.relu(h)
    h_array = weakref.ref(h.data)
    del h
    gc.collect()
    assert h_array() is None, "the graph still holds an activation no backward needs"
    y.sum().backward()
    assert x.grad.tolist() == (x.data + 1.0 > 0).astype(float).tolist()


def test_graph_nodes_are_functions_and_leaves():
    x = mc.tensor(np.ones((2, 2)), requires_grad=True)
    c = mc.tensor(np.ones((2, 2)))                  # needs no gradient: no edge
    y = (x * c + x).sum()
    add = y.grad_fn.parents[0]
    assert type(y.grad_fn).__name__ == "Sum" and type(add).__name__ == "Add"
    mul, leaf = add.parents
    assert leaf is x and mul.parents == (x, None)
    assert add.input_shapes == ((2, 2), (2, 2)) and y.grad_fn.output_shape == ()


# ----- gradient accumulation in place and tensor hooks (PyTorch's semantics) ------------------
def test_a_second_backward_adds_into_the_existing_grad_in_place_as_torch_does():
    import torch
    w = mc.tensor([1.0, -2.0, 3.0], requires_grad=True)
    tw = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    for lib_w, mul in ((w, lambda a: a * a), (tw, lambda a: a * a)):
        mul(lib_w).sum().backward()
    held, theirs_held = w.grad, tw.grad
    (w * 5).sum().backward()
    (tw * 5).sum().backward()
    assert w.grad is held and tw.grad is theirs_held               # the same tensor, changed
    assert_close(held, theirs_held.numpy())
    assert_close(w.grad, [7.0, 1.0, 11.0])


def test_accumulating_without_zero_grad_allocates_no_second_weight_sized_array():
    """Gradient accumulation over micro-batches: the sum goes into the existing .grad.  The
    backward of w * 3 with a given upstream gradient makes one weight-sized array; adding it
    out of place would make a second while the old .grad is still alive."""
    import tracemalloc
    w = mc.tensor(np.ones(1_000_000, np.float32), requires_grad=True)
    upstream = np.ones(1_000_000, np.float32)
    (w * 2).backward(upstream)
    y = w * 3
    tracemalloc.start()
    try:
        y.backward(upstream)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_close(w.grad, np.full(1_000_000, 5.0))
    assert peak < 1.5 * w.data.nbytes, f"peak {peak / 2**20:.1f} MB for a {w.data.nbytes / 2**20:.1f} MB weight"


def _linear_weight_grad_peak(w, x, upstream):
    """tracemalloc's peak (bytes) of one backward of F.linear(x, w) whose w.grad exists."""
    import tracemalloc
    y = mc.functional.linear(mc.tensor(x), w)
    tracemalloc.start()
    try:
        y.backward(upstream)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_linear_adds_its_weight_gradient_straight_into_an_existing_grad():
    """The fully connected layers hold most of alexnet's and vgg16's weights: their gradient
    goes into W.grad block by block (Linear.accumulates_into), with no (out, in) temporary,
    while the first backward (no .grad yet) still hands a fresh array to the leaf."""
    rng = np.random.default_rng(0)
    w = mc.tensor(rng.standard_normal((1500, 1000)).astype(np.float32), requires_grad=True)
    x, upstream = (rng.standard_normal((4, n)).astype(np.float32) for n in (1000, 1500))
    first = _linear_weight_grad_peak(w, x, upstream)
    held = w.grad
    second = _linear_weight_grad_peak(w, x, upstream)
    assert w.grad is held                                           # added in place
    assert first >= w.data.nbytes                                   # the fresh gradient
    assert second < 0.25 * w.data.nbytes, f"{second / 2**20:.1f} MB for a {w.data.nbytes / 2**20:.1f} MB weight"
    np.testing.assert_allclose(w.grad.numpy(), 2 * upstream.T @ x, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", ["plain", "shared weight", "hooked leaf", "post-accumulate hook",
                                  "a float32 grad of a float64 weight", "empty batch"])
def test_linear_accumulation_gives_torch_gradients_in_every_case(case):
    """Three backwards without zero_grad, against PyTorch: the in-place path where it may
    be taken, the ordinary one where a hook or an unusual .grad forbids it."""
    import torch
    rng = np.random.default_rng(1)
    batch = 0 if case == "empty batch" else 3
    W = rng.standard_normal((5, 4))
    xs = [rng.standard_normal((batch, 4)) for _ in range(3)]
    gs = [rng.standard_normal((batch, 5)) for _ in range(3)]
    results, seen = [], {"mc": [], "torch": []}
    for lib, tensor in ((mc, mc.tensor), (torch, torch.tensor)):
        log = seen["mc" if lib is mc else "torch"]
        w = tensor(W, requires_grad=True)
        if case == "hooked leaf":
            w.register_hook(lambda g, log=log: log.append(np.array(g.tolist())))
        if case == "post-accumulate hook":
            w.register_post_accumulate_grad_hook(lambda t, log=log: log.append(np.array(t.grad.tolist())))
        linear = lib.nn.functional.linear if lib is torch else F.linear
        for step, (x, g) in enumerate(zip(xs, gs)):
            y = linear(tensor(x), w)
            if case == "shared weight":
                y = y + linear(tensor(2 * x), w)
            y.backward(tensor(g))
            if step == 0 and case == "a float32 grad of a float64 weight" and lib is mc:
                w.grad = mc.tensor(w.grad.numpy().astype(np.float32))   # another dtype: no in place
        results.append(np.array(w.grad.tolist()))
    tol = 1e-6 if "float32" in case else 1e-12
    np.testing.assert_allclose(results[0], results[1], rtol=tol, atol=tol)
    assert len(seen["mc"]) == len(seen["torch"])
    for ours, theirs in zip(seen["mc"], seen["torch"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_add_product_into_adds_every_block_including_the_last_short_one():
    from minicnn.functional.linalg import add_product_into
    rng = np.random.default_rng(2)
    a, b, out = rng.standard_normal((7, 3)), rng.standard_normal((3, 5)), rng.standard_normal((7, 5))
    expected = out + a @ b
    add_product_into(out, a, b, block_bytes=2 * 5 * 8)              # blocks of 2 rows: 2+2+2+1
    np.testing.assert_allclose(out, expected, rtol=1e-14)


def test_a_read_only_grad_the_user_assigned_is_replaced_not_written():
    w = mc.tensor([1.0, 2.0], requires_grad=True)
    frozen = np.zeros(2, np.float32)
    frozen.flags.writeable = False
    w.grad = mc.Tensor(frozen)
    (w * 2).sum().backward()
    assert_close(w.grad, [2.0, 2.0]) and assert_close(frozen, [0.0, 0.0])


def test_tensor_hooks_match_torch_order_replacement_retain_grad_and_removal():
    import torch
    calls = {"mc": [], "torch": []}

    def run(lib, tensor):
        x = tensor([1.0, -2.0, 0.5], requires_grad=True)
        log = calls["mc" if lib is mc else "torch"]
        x.register_hook(lambda g: log.append(("x", g.tolist())))
        y = x * 3
        y.retain_grad()
        first = y.register_hook(lambda g: (log.append(("y1", g.tolist())), g * 10)[1])
        y.register_hook(lambda g: log.append(("y2", g.tolist())))
        (y * y).sum().backward(retain_graph=True)
        first.remove()
        (y * y).sum().backward()
        return x.grad.tolist(), y.grad.tolist()

    ours, theirs = run(mc, mc.tensor), run(torch, torch.tensor)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-6)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-6)
    assert len(calls["mc"]) == len(calls["torch"]) == 5
    for (name, g), (their_name, their_g) in zip(calls["mc"], calls["torch"]):
        assert name == their_name
        np.testing.assert_allclose(g, their_g, rtol=1e-6)


def test_hooks_refuse_tensors_without_grad_and_replacements_of_another_shape():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        mc.tensor([1.0]).register_hook(lambda g: g)
    x = mc.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: mc.tensor([1.0]))
    with pytest.raises(RuntimeError, match=r"hook returned a gradient of shape \(1,\) for a "
                                           r"tensor of shape \(2,\)"):
        (x * 2).sum().backward()


# ----- in-place safety: a version counter per tensor, as PyTorch's ------------------------------
def _linear_with_pending_backward(lib):
    torch_lib = lib.__name__ == "torch"
    layer = lib.nn.Linear(3, 2)
    x = (lib.ones(4, 3, requires_grad=True) if torch_lib       # torch keeps the weight only when
         else mc.tensor(np.ones((4, 3), np.float32), requires_grad=True))   # x needs a gradient
    return layer, layer(x).sum()


@pytest.mark.parametrize("change", ["optimizer step", "load_state_dict", "nn.init"])
def test_changing_a_saved_weight_before_backward_is_refused_as_in_torch(change):
    import torch
    for lib in (torch, mc):
        layer, loss = _linear_with_pending_backward(lib)
        if change == "optimizer step":
            layer.weight.grad = lib.ones_like(layer.weight) if lib is torch else mc.tensor(np.ones((2, 3), np.float32))
            lib.optim.SGD(layer.parameters(), lr=0.1).step()
        elif change == "load_state_dict":
            layer.load_state_dict({k: v * 2 for k, v in layer.state_dict().items()})
        else:
            lib.nn.init.zeros_(layer.weight)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            loss.backward()


def test_the_refusal_names_the_tensor_and_the_versions_and_unsaved_changes_pass():
    w = mc.tensor([1.0, 2.0], requires_grad=True)
    b = mc.tensor([0.5, 0.5], requires_grad=True)
    y = (w * w).sum() + (b + 1).sum()     # Mul saves w; Add saves nothing of b
    mc.nn.init.zeros_(b)
    y.backward(retain_graph=True)          # b's new values change no gradient: allowed, as in torch
    assert_close(w.grad, [2.0, 4.0]) and assert_close(b.grad, [1.0, 1.0])
    mc.nn.init.ones_(w)
    with pytest.raises(RuntimeError, match=r"a tensor of shape \(2,\), which MulBackward saved, is "
                                           r"at version 1; expected version 0 instead"):
        y.backward()


def test_a_layer_whose_input_needs_no_gradient_keeps_no_weight_and_may_change_it_as_in_torch():
    import torch
    for lib in (torch, mc):
        layer = lib.nn.Linear(3, 2)
        x = lib.ones(4, 3) if lib is torch else mc.tensor(np.ones((4, 3), np.float32))
        loss = layer(x).sum()
        lib.nn.init.zeros_(layer.weight)      # the weight's gradient needs only x
        loss.backward()
        assert_close(layer.weight.grad if lib is mc else layer.weight.grad.numpy(), np.full((2, 3), 4.0))


# ----- mc.autograd.grad, against torch.autograd.grad ----------------------------------------------
def test_autograd_grad_returns_what_torch_returns_and_leaves_grad_alone():
    import torch
    values = np.random.default_rng(5).standard_normal((3, 4))
    upstream = np.random.default_rng(6).standard_normal((3, 4))

    def run(lib, tensor, grad_fn):
        w = tensor(values, requires_grad=True)
        h = w * w                                         # a non-leaf input
        out1 = (h * 3).sum()
        out2 = h.exp() if lib is mc else h.exp()
        got = grad_fn([out1, out2], [w, h], grad_outputs=[None, tensor(upstream)], retain_graph=True)
        assert w.grad is None
        again = grad_fn(out1, w)                          # the graph was kept
        return [g.numpy() if lib is mc else g.detach().numpy() for g in (*got, *again)]

    ours = run(mc, lambda a, **k: mc.tensor(a, **k), mc.autograd.grad)
    theirs = run(torch, lambda a, **k: torch.tensor(a, **k), torch.autograd.grad)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_autograd_grad_refuses_as_torch_does():
    x = mc.tensor([1.0, 2.0], requires_grad=True)
    unused = mc.tensor([3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        mc.autograd.grad((x * 2).sum(), [x, unused])
    gx, gu = mc.autograd.grad((x * 2).sum(), [x, unused], allow_unused=True)
    assert gu is None and gx.tolist() == [2.0, 2.0]
    with pytest.raises(RuntimeError, match="does not require grad"):
        mc.autograd.grad((x * 2).sum(), mc.tensor([1.0]))
    with pytest.raises(RuntimeError, match="implicitly created only for one-element outputs"):
        mc.autograd.grad(x * 2, x)
    y = (x * x).sum()
    mc.autograd.grad(y, x)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        mc.autograd.grad(y, x)                            # freed: retain_graph defaults to False
