"""Transfer-learning helpers (minicnn.transfer): freezing, new heads for every
architecture family, "CNN codes", and parameter groups with two learning rates."""
import numpy as np
import pytest

import minicnn as mc
from minicnn import nn, transfer
from minicnn.data import DataLoader, Subset, TensorDataset, load_digits
from minicnn.optim import SGD


def batch(shape, seed=0):
    return mc.tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def loss_of(model, x, seed=1):
    """A scalar with a random upstream gradient into the logits."""
    out = model(x)
    out = out[0] if isinstance(out, tuple) else out
    g = np.random.default_rng(seed).standard_normal(out.shape).astype(np.float32)
    return (out * mc.tensor(g)).sum()


def test_frozen_parameters_get_no_gradient_and_do_not_change():
    mc.manual_seed(0)
    model = mc.models.small_cnn()
    transfer.freeze(model)
    transfer.unfreeze(model.fc)
    before = {k: p.numpy().copy() for k, p in model.named_parameters()}
    # every parameter is handed to the optimizer, with momentum and weight decay:
    # frozen ones must still stay exactly as they were
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    for step in range(2):
        opt.zero_grad()
        loss_of(model, batch((4, 1, 8, 8), step)).backward()
        opt.step()
    for name, p in model.named_parameters():
        if name.startswith("fc."):
            assert p.grad is not None and not np.array_equal(p.numpy(), before[name]), name
        else:
            assert p.grad is None and np.array_equal(p.numpy(), before[name]), name


def test_unfreeze_makes_everything_trainable_again():
    model = transfer.freeze(mc.models.small_cnn())
    assert not any(p.requires_grad for p in model.parameters())
    transfer.unfreeze(model)
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("name, heads", [
    ("small_cnn", ["fc"]),
    ("resnet18", ["fc"]),
    ("alexnet", ["classifier.6"]),
    ("alexnet_2012", ["classifier.6"]),
    ("googlenet", ["fc", "aux1.fc2", "aux2.fc2"]),
    ("inception_v3", ["fc", "AuxLogits.fc"]),
])
def test_replace_head_of_each_family(name, heads):
    model = getattr(mc.models, name)(num_classes=1000)
    transfer.freeze(model)
    assert transfer.head_names(model) == heads
    transfer.replace_head(model, 7)
    for head in heads:
        layer = model.get_submodule(head)
        assert isinstance(layer, nn.Linear) and layer.out_features == 7
        assert layer.weight.shape[0] == 7 and layer.weight.requires_grad
    assert f"{heads[0]}.weight" in model.state_dict()


def test_replace_head_of_vgg():
    model = mc.models.vgg11(num_classes=1000)
    transfer.replace_head(model, 5)
    assert transfer.head_names(model) == ["classifier.6"]
    assert model.classifier[6].out_features == 5 and model.classifier[6].in_features == 4096


def test_replaced_heads_give_the_new_number_of_classes_in_training():
    mc.manual_seed(0)
    model = transfer.replace_head(mc.models.googlenet(num_classes=1000), 4).train()
    logits, aux2, aux1 = model(batch((2, 3, 32, 32)))
    assert logits.shape == aux2.shape == aux1.shape == (2, 4)
    model = transfer.replace_head(mc.models.resnet18(), 3)
    assert model(batch((2, 3, 32, 32))).shape == (2, 3)


def test_googlenet_without_aux_has_only_the_main_head():
    model = mc.models.googlenet(aux_logits=False)
    assert transfer.head_names(model) == ["fc"]


def test_replace_head_keeps_dtype():
    model = mc.models.small_cnn().double()
    transfer.replace_head(model, 3)
    assert model.fc.weight.dtype == np.float64
    assert model(mc.tensor(np.zeros((2, 1, 8, 8)))).shape == (2, 3)


def test_head_names_explains_a_model_without_a_head():
    with pytest.raises(ValueError, match="cannot find the classifier head of Sequential"):
        transfer.head_names(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()))


def test_extract_features_returns_the_head_input():
    """CNN codes: feeding them to the head gives the model's logits."""
    mc.manual_seed(0)
    model = mc.models.resnet18(num_classes=5)
    x = np.random.default_rng(0).standard_normal((6, 3, 32, 32)).astype(np.float32)
    loader = DataLoader(TensorDataset(x, np.arange(6) % 5), batch_size=4)
    model.train()
    features, labels = transfer.extract_features(model, loader)
    assert features.shape == (6, 512) and labels.tolist() == [0, 1, 2, 3, 4, 0]
    assert model.training and not model.fc._forward_hooks      # mode restored, hook removed
    model.eval()
    with mc.no_grad():
        expected = model(mc.tensor(x)).numpy()
        from_codes = model.fc(mc.tensor(features)).numpy()
    np.testing.assert_allclose(from_codes, expected, rtol=1e-5, atol=1e-5)


def test_extract_features_of_the_small_cnn_on_digits():
    model = mc.models.small_cnn()
    loader = DataLoader(Subset(load_digits("test"), list(range(50))), batch_size=32)
    features, labels = transfer.extract_features(model, loader)
    assert features.shape == (50, 256) and features.dtype == np.float32
    assert labels.shape == (50,) and labels.dtype == np.int64


def test_extract_features_of_alexnet_and_vgg_are_4096_wide():
    model = mc.models.alexnet(num_classes=10)
    loader = DataLoader(TensorDataset(np.zeros((2, 3, 63, 63), np.float32), np.zeros(2, np.int64)),
                        batch_size=2)
    features, _ = transfer.extract_features(model, loader)
    assert features.shape == (2, 4096)


def test_finetune_param_groups_give_head_and_body_their_own_lr():
    mc.manual_seed(0)
    model = transfer.replace_head(mc.models.small_cnn(), 4)
    groups = transfer.finetune_param_groups(model, head_lr=0.1, body_lr=0.01, weight_decay=0.0)
    body, head = groups
    assert (body["lr"], head["lr"]) == (0.01, 0.1)
    assert [id(p) for p in head["params"]] == [id(model.fc.weight), id(model.fc.bias)]
    assert len(body["params"]) == len(list(model.parameters())) - 2

    # one plain SGD step: each parameter moves by its own group's lr times its gradient
    opt = SGD(groups, lr=0.5)
    before = {id(p): p.numpy().copy() for p in model.parameters()}
    loss_of(model, batch((4, 1, 8, 8))).backward()
    opt.step()
    for group, lr in ((body, 0.01), (head, 0.1)):
        for p in group["params"]:
            np.testing.assert_allclose(p.numpy(), before[id(p)] - lr * p.grad.numpy(),
                                       rtol=1e-6, atol=1e-7)


def test_finetune_param_groups_leave_out_frozen_parameters():
    model = transfer.replace_head(transfer.freeze(mc.models.small_cnn()), 4)
    groups = transfer.finetune_param_groups(model, head_lr=0.1, body_lr=0.01)
    assert len(groups) == 1 and groups[0]["lr"] == 0.1 and len(groups[0]["params"]) == 2
    transfer.freeze(model)
    with pytest.raises(ValueError, match="every parameter is frozen"):
        transfer.finetune_param_groups(model, head_lr=0.1, body_lr=0.01)


def test_aux_heads_count_as_head_parameters():
    model = transfer.replace_head(mc.models.googlenet(num_classes=10), 3)
    _, head = transfer.finetune_param_groups(model, head_lr=0.1, body_lr=0.0)
    expected = {id(p) for name in ("fc", "aux1.fc2", "aux2.fc2")
                for p in model.get_submodule(name).parameters()}
    assert {id(p) for p in head["params"]} == expected
