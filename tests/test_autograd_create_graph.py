"""create_graph=True beyond single ops: whole models, hooks, .grad semantics, autograd.grad's
pruning.  Per-op second derivatives are tests/functional/test_double_backward.py's."""
import numpy as np
import pytest
import torch
import torchvision

import minicnn as mc
import minicnn.functional as F
from minicnn import nn
from minicnn.functional.elementwise import Exp


def gradient_penalty_step(lib, model, x, target, weight=0.5):
    """loss + weight * |d loss / d x|^2 (a WGAN-GP style penalty), backward into the
    parameters: a backward through a backward of the whole model."""
    x = x.clone().requires_grad_() if lib is torch else x.detach().requires_grad_()
    cross_entropy = torch.nn.functional.cross_entropy if lib is torch else F.cross_entropy
    loss = cross_entropy(model(x), target)
    (gx,) = lib.autograd.grad(loss, x, create_graph=True)
    total = loss + weight * (gx * gx).sum()
    total.backward()
    return total


def small_cnns():
    def build(nn_):
        return nn_.Sequential(
            nn_.Conv2d(3, 4, 3, padding=1), nn_.BatchNorm2d(4), nn_.ReLU(), nn_.MaxPool2d(2),
            nn_.Conv2d(4, 6, 3, padding=1, groups=2), nn_.LocalResponseNorm(3), nn_.LeakyReLU(0.1),
            nn_.AvgPool2d(2), nn_.Flatten(), nn_.Linear(6 * 2 * 2, 5), nn_.Hardtanh(-0.5, 0.5), nn_.Linear(5, 3))
    return build(torch.nn), build(nn)


def models():
    yield "small-cnn", small_cnns, (4, 3, 8, 8), 3
    yield "resnet18", (lambda: (torchvision.models.resnet18(num_classes=4),
                                mc.models.resnet18(num_classes=4))), (2, 3, 32, 32), 4


@pytest.mark.parametrize("name, build, shape, classes", list(models()), ids=lambda v: v if isinstance(v, str) else "")
def test_gradient_penalty_matches_torch_on_every_parameter(name, build, shape, classes):
    torch.manual_seed(0)
    torch_model, mc_model = build()
    torch_model = torch_model.double().train()
    mc_model.load_state_dict({k: v.numpy() for k, v in torch_model.state_dict().items()})
    mc_model.to(np.float64).train()
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    target = rng.integers(0, classes, shape[0])
    ours = gradient_penalty_step(mc, mc_model, mc.tensor(x), mc.tensor(target))
    theirs = gradient_penalty_step(torch, torch_model, torch.tensor(x), torch.tensor(target))
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-9)
    expected = {k: p.grad.numpy() for k, p in torch_model.named_parameters()}
    # a floor from the largest gradient: a bias before batch norm has the gradient 0, which
    # both libraries round to +-1e-18
    floor = 1e-10 * max(np.abs(g).max() for g in expected.values())
    for pname, p in mc_model.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), expected[pname], rtol=1e-6, atol=floor,
                                   err_msg=f"{name}: {pname}")


def test_hessian_vector_product_of_a_quadratic_is_a_times_v():
    a = np.array([[3.0, 1.0], [1.0, 2.0]])
    x = mc.tensor([0.5, -1.0], dtype=np.float64, requires_grad=True)
    v = mc.tensor([1.0, 2.0], dtype=np.float64)
    f = 0.5 * (x * (mc.tensor(a) @ x)).sum()
    (g,) = mc.autograd.grad(f, x, create_graph=True)
    np.testing.assert_allclose(g.numpy(), a @ x.numpy())
    (hv,) = mc.autograd.grad((g * v).sum(), x)
    np.testing.assert_allclose(hv.numpy(), a @ v.numpy())


def test_backward_with_create_graph_leaves_a_grad_in_a_graph_replaced_out_of_place():
    x = mc.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    (x ** 3).sum().backward(create_graph=True)
    first = x.grad
    assert first.requires_grad and first.tolist() == [3.0, 12.0]
    (x ** 3).sum().backward(create_graph=True)      # accumulates: a new tensor, as in PyTorch
    assert x.grad is not first and first.tolist() == [3.0, 12.0]
    assert x.grad.tolist() == [6.0, 24.0]
    x2 = mc.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    (x2 ** 3).sum().backward(create_graph=True)
    g = x2.grad
    x2.grad = None
    g.sum().backward()                              # d/dx of 3x^2: 6x
    assert x2.grad.tolist() == [6.0, 12.0]


def test_hooks_see_gradients_in_the_graph_and_may_replace_them():
    x = mc.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    y = x * x
    seen = []
    y.register_hook(lambda g: seen.append(g.requires_grad) or g * 3)
    (gx,) = mc.autograd.grad(y.sum(), x, create_graph=True)
    assert seen == [False] and gx.tolist() == [6.0, 12.0]     # 3 * 2x
    (gxx,) = mc.autograd.grad(gx.sum(), x)
    assert gxx.tolist() == [6.0, 6.0]


def test_module_full_backward_hooks_run_with_create_graph():
    layer = nn.Linear(2, 2).to(np.float64)
    calls = []
    layer.register_full_backward_hook(lambda m, gin, gout: calls.append(
        (gin[0].requires_grad, gout[0].shape)))
    x = mc.tensor(np.ones((1, 2)), requires_grad=True)
    (gx,) = mc.autograd.grad(layer(x).tanh().sum(), x, create_graph=True)
    assert calls == [(True, (1, 2))] and gx.requires_grad
    (gx * gx).sum().backward()
    assert layer.weight.grad is not None


def test_autograd_grad_does_not_backpropagate_below_its_inputs(monkeypatch):
    """Asked for the gradient of an intermediate tensor, autograd.grad never runs the ops
    that computed it (PyTorch prunes them too)."""
    calls = []
    original = Exp.backward
    monkeypatch.setattr(Exp, "backward", lambda self, g: calls.append(1) or original(self, g))
    x = mc.tensor([0.5, 1.0], requires_grad=True)
    h = x.exp()
    (gh,) = mc.autograd.grad((h * h).sum(), h)
    assert calls == [] and np.allclose(gh.numpy(), 2 * h.numpy())
    mc.autograd.grad((h * h).sum(), x)
    assert calls == [1]


def test_checkpoint_refuses_create_graph_clearly():
    x = mc.tensor([1.0, 2.0], requires_grad=True)
    y = mc.utils.checkpoint(lambda t: t * t, x)
    with pytest.raises(NotImplementedError, match="checkpoint does not support create_graph"):
        mc.autograd.grad(y.sum(), x, create_graph=True)
