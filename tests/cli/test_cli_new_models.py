"""The command line with the models of the lectures' "other architectures" (issue 24):
summary, gradcheck (finite differences where torchvision has no reference), train on the
embedded digits, and finetune -- including the two networks whose head is a 1x1 conv
(SqueezeNet, Network in Network) -- plus minicnn.transfer's heads for every new family.
Small and fast: tiny image sizes, a handful of images, one epoch."""
import numpy as np
import pytest

import minicnn as mc
from minicnn import nn, transfer

from tests.cli.test_cli import run_cli


# ----- transfer: which layer is the head -----------------------------------------------------
@pytest.mark.parametrize("name, head, kind", [
    ("squeezenet1_0", "classifier.1", nn.Conv2d),
    ("squeezenet1_1", "classifier.1", nn.Conv2d),
    ("nin_cifar10", "features.20", nn.Conv2d),
    ("densenet121", "classifier", nn.Linear),
    ("mobilenet_v2", "classifier.1", nn.Linear),
    ("resnext50_32x4d", "fc", nn.Linear),
    ("lenet5", "classifier.2", nn.Linear),
    ("resnet20", "fc", nn.Linear),
    ("wrn16_8", "fc", nn.Linear),
    ("preact_resnet164", "fc", nn.Linear),
    ("fractalnet20", "fc", nn.Linear),
])
def test_head_of_each_new_family(name, head, kind):
    model = getattr(mc.models, name)(num_classes=10)
    assert transfer.head_names(model) == [head]
    old = model.get_submodule(head)
    transfer.freeze(model)
    transfer.replace_head(model, 7)
    new = model.get_submodule(head)
    assert type(new) is kind and new is not old and new.weight.requires_grad
    assert new.weight.shape[0] == 7 and new.weight.shape[1:] == old.weight.shape[1:]
    if kind is nn.Conv2d:
        assert (new.kernel_size, new.stride, new.padding) == (old.kernel_size, old.stride,
                                                              old.padding)


@pytest.mark.parametrize("name, size", [("squeezenet1_1", 32), ("nin_cifar10", 32)])
def test_a_new_conv_head_gives_the_new_number_of_classes(name, size):
    mc.manual_seed(0)
    model = transfer.replace_head(getattr(mc.models, name)(num_classes=10), 3).eval()
    x = mc.tensor(np.random.default_rng(0).standard_normal((2, 3, size, size)).astype(np.float32))
    with mc.no_grad():
        assert model(x).shape == (2, 3)


# ----- summary, gradcheck ---------------------------------------------------------------------
def test_summary_of_fractalnet_prints_its_total(capsys):
    code, out = run_cli(capsys, "summary", "fractalnet20", "--depth", "1")
    assert code == 0 and "33,724,618" in out and "3x32x32" in out


def test_gradcheck_without_torchvision_uses_finite_differences(capsys):
    code, out = run_cli(capsys, "gradcheck", "lenet5", "--batch", "1")
    assert code == 0 and "finite differences" in out and "PASS" in out
    assert out.count(", direction") == 6


def test_gradcheck_by_finite_differences_catches_a_wrong_backward(capsys, monkeypatch):
    # planted: the gradient flowing back out of LeNet-5's classifier is 0.1% too large
    forward = mc.models.LeNet5.forward

    def scaled_backward(self, x):
        out = forward(self, x)
        if out.requires_grad:             # (the finite differences run without a graph)
            out.register_hook(lambda g: g * 1.001)
        return out

    monkeypatch.setattr(mc.models.LeNet5, "forward", scaled_backward)
    code, out = run_cli(capsys, "gradcheck", "lenet5", "--batch", "1")
    assert code == 1 and "FAIL" in out


# ----- train and finetune on the embedded digits ---------------------------------------------
@pytest.mark.parametrize("name, size", [("lenet5", 32), ("resnet20", 16)])
def test_train_a_new_model_on_the_digits(name, size, tmp_path, capsys):
    code, out = run_cli(capsys, "train", "--model", name, "--image-size", str(size),
                        "--epochs", "1", "--limit", "16", "--batch-size", "8",
                        "--out", str(tmp_path), "--no-progress")
    assert code == 0 and f"training {name}" in out
    config = mc.io.load_checkpoint(tmp_path / "checkpoint.npz")["config"]
    assert config["model"] == name and config["in_channels"] == (1 if name == "lenet5" else 3)


def test_finetune_network_in_network_replaces_its_last_conv(tmp_path, capsys):
    mc.manual_seed(0)
    pretrained = mc.models.nin_cifar10(num_classes=7)
    mc.io.save_checkpoint(tmp_path / "nin.npz", pretrained.state_dict(),
                          config={"model": "nin_cifar10"})
    code, out = run_cli(capsys, "finetune", "--weights", str(tmp_path / "nin.npz"),
                        "--image-size", "16", "--limit", "8", "--batch-size", "8",
                        "--freeze-body", "--epochs", "1", "--out", str(tmp_path / "run"),
                        "--no-progress")
    assert code == 0 and "fine-tuning nin_cifar10" in out
    after = mc.io.load_checkpoint(tmp_path / "run" / "checkpoint.npz")["model"]
    before = {k: v.numpy() for k, v in pretrained.state_dict().items()}
    assert after["features.20.weight"].shape == (10, 192, 1, 1)       # digits: 10 classes
    for name, value in before.items():                                # the body is frozen
        if not name.startswith("features.20."):
            assert np.array_equal(after[name], value), name


def test_finetune_squeezenet_from_a_torchvision_file(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    torch.save(torchvision.models.squeezenet1_1(num_classes=20).state_dict(),
               tmp_path / "sq.pth")
    code, out = run_cli(capsys, "finetune", "--model", "squeezenet1_1",
                        "--weights", str(tmp_path / "sq.pth"),
                        "--image-size", "32", "--limit", "8", "--batch-size", "8",
                        "--freeze-body", "--epochs", "1", "--out", str(tmp_path / "run"),
                        "--no-progress")
    assert code == 0 and "fine-tuning squeezenet1_1" in out
    after = mc.io.load_checkpoint(tmp_path / "run" / "checkpoint.npz")["model"]
    assert after["classifier.1.weight"].shape == (10, 512, 1, 1)
