"""Lecture recipes on the command line (`train --recipe NAME`) and the library pieces they
need: ``nn.utils.clip_grad_norm_`` against PyTorch.

The expected settings below are written out from the papers, not read from
minicnn.cli.options.RECIPES, so that a wrong number there fails here.
"""
import json
import math

import numpy as np
import pytest
import torch

import minicnn as mc
from minicnn.__main__ import main
from minicnn.cli import train as cli_train
from minicnn.nn.utils import clip_grad_norm_
from minicnn.optim import RMSprop, SGD, lr_scheduler as S
from tests.cli.test_cli import assert_one_line_error, failing_cli

SGD_RECIPE = dict(optimizer=SGD, lr=0.01, momentum=0.9, weight_decay=5e-4, batch=128,
                  plateau_on_accuracy=True, label_smoothing=0.0, clip=None)
PAPERS = {   # recipe: (optimizer, schedule and loss settings; training, evaluation pipeline)
    "alexnet": (SGD_RECIPE, ["Resize(256)", "RandomCrop((224, 224), padding=None)",
                             "RandomHorizontalFlip(p=0.5)", "ToTensor()",
                             "Lighting(alphastd=0.1)", "SubtractMean"],
                ["Resize(256)", "TenCrop((224, 224))", "StackCrops"]),
    "vgg": (dict(SGD_RECIPE, batch=256),
            ["RandomShorterSide(256, 512)", "RandomCrop((224, 224), padding=None)",
             "RandomHorizontalFlip(p=0.5)", "ToTensor()", "Lighting(alphastd=0.1)",
             "SubtractMean"],
            ["Resize(256)", "TenCrop((224, 224))", "StackCrops"]),
    "resnet": (dict(SGD_RECIPE, lr=0.1, weight_decay=1e-4, batch=256),
               ["RandomShorterSide(256, 480)", "RandomCrop((224, 224), padding=None)",
                "RandomHorizontalFlip(p=0.5)", "ToTensor()", "Lighting(alphastd=0.1)",
                "SubtractMean"],
               ["Resize(256)", "TenCrop((224, 224))", "StackCrops"]),
    # Szegedy et al. 2014 section 6 (momentum 0.9, lr -4% every 8 epochs, 8-100% crops);
    # lr, weight decay, batch and flips from the BVLC Caffe replication (the paper has none)
    "googlenet": (dict(optimizer=SGD, lr=0.01, momentum=0.9, weight_decay=2e-4, batch=32,
                       step=(8, 0.96), label_smoothing=0.0, clip=None),
                  ["RandomResizedCrop((224, 224)", "RandomHorizontalFlip(p=0.5)", "ToTensor()"],
                  ["Resize(256)", "CenterCrop((224, 224))", "ToTensor()"]),
    "inception_v3": (dict(optimizer=RMSprop, lr=0.045, momentum=0.0, weight_decay=4e-5,
                          alpha=0.9, eps=1.0, batch=32, step=(2, 0.94), label_smoothing=0.1,
                          clip=2.0),
                     ["RandomResizedCrop((299, 299)", "RandomHorizontalFlip(p=0.5)",
                      "ToTensor()"],
                     ["Resize(342)", "CenterCrop((299, 299))", "ToTensor()"]),
}
MODELS = {"alexnet": "alexnet", "vgg": "vgg16", "resnet": "resnet18",
          "googlenet": "googlenet_2014", "inception_v3": "inception_v3"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A folder dataset of 2 classes x 2 small RGB images (train and val)."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for label in ("a", "b"):
            (root / split / label).mkdir(parents=True)
            for i in range(2):
                np.save(root / split / label / f"{i}.npy",
                        rng.integers(0, 256, (20, 26, 3), dtype=np.uint8))
    return root


class Captured(Exception):
    pass


@pytest.fixture
def captured_fit(monkeypatch):
    """Stops `train` at fit(), keeping what it was given."""
    seen = {}

    def fit(model, train_loader, val_loader, optimizer, epochs, scheduler=None, **kwargs):
        seen.update(model=model, train_loader=train_loader, val_loader=val_loader,
                    optimizer=optimizer, scheduler=scheduler, **kwargs)
        raise Captured
    monkeypatch.setattr(cli_train.training, "fit", fit)
    return seen


def pipeline(loader):
    dataset = loader.dataset
    while isinstance(dataset, mc.data.Subset):
        dataset = dataset.dataset
    return [repr(t) for t in dataset.transform.transforms]


def print_config(capsys, *argv):
    assert main(["train", *argv, "--print-config"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("recipe", list(PAPERS))
def test_each_recipe_reaches_optimizer_schedule_loss_and_pipeline(recipe, folder, tmp_path,
                                                                    captured_fit, capsys):
    settings, train_steps, eval_steps = PAPERS[recipe]
    assert print_config(capsys, "--recipe", recipe)["model"] == MODELS[recipe]
    with pytest.raises(Captured):         # (a small model: what matters is the rest)
        main(["train", "--recipe", recipe, "--model", "small_cnn", "--dataset",
              f"folder:{folder}", "--out", str(tmp_path), "--no-progress"])
    printed = capsys.readouterr().out
    assert printed.startswith(f"recipe {recipe} ")                      # printed in full
    assert "(given; the recipe says" in printed                         # the model

    opt, sched, kw = captured_fit["optimizer"], captured_fit["scheduler"], captured_fit
    assert type(opt) is settings["optimizer"]
    group = opt.param_groups[0]
    for key in ("lr", "momentum", "weight_decay", "alpha", "eps"):
        if key in settings:
            assert group[key] == settings[key], key
    assert kw["train_loader"].batch_size == settings["batch"]
    if settings.get("plateau_on_accuracy"):
        assert isinstance(sched, S.ReduceLROnPlateau) and kw["plateau_metric"] == "val_acc1"
        assert (sched.mode, sched.factor) == ("max", 0.1)
    else:
        assert type(sched) is S.StepLR and (sched.step_size, sched.gamma) == settings["step"]
    assert kw["label_smoothing"] == settings["label_smoothing"]
    assert kw["clip_grad_norm"] == settings["clip"]

    train = pipeline(kw["train_loader"])
    assert [s[:len(e)] for s, e in zip(train, train_steps)] == train_steps and \
        len(train) == len(train_steps), train
    evaluation = pipeline(kw["val_loader"])
    assert [s[:len(e)] for s, e in zip(evaluation, eval_steps)] == eval_steps, evaluation
    image, _ = kw["val_loader"].dataset[0]
    size = 299 if recipe == "inception_v3" else 224
    assert image.shape == ((10, 3, size, size) if "TenCrop" in str(eval_steps)
                           else (3, size, size))


def test_an_option_given_overrides_the_recipe_which_overrides_the_defaults(capsys):
    cfg = print_config(capsys, "--recipe", "resnet", "--lr", "0.05", "--batch-size", "64")
    assert (cfg["lr"], cfg["batch_size"]) == (0.05, 64)                    # given
    assert (cfg["weight_decay"], cfg["scale_jitter"]) == (1e-4, [256, 480])  # the recipe's
    assert (cfg["epochs"], cfg["seed"]) == (10, 0)                         # the defaults
    assert print_config(capsys)["lr"] is None and print_config(capsys)["recipe"] is None


def test_a_recipe_run_saves_its_settings_and_resume_keeps_them(folder, tmp_path, capsys):
    """A real (tiny) run of the AlexNet recipe: ten-crop evaluation, mean subtraction."""
    run = tmp_path / "run"
    assert main(["train", "--recipe", "alexnet", "--model", "small_cnn", "--image-size", "16",
                 "--dataset", f"folder:{folder}", "--epochs", "1", "--batch-size", "2",
                 "--out", str(run), "--no-progress"]) == 0
    config = mc.io.load_checkpoint(run / "checkpoint.npz")["config"]
    assert config["recipe"] == "alexnet" and config["ten_crop"] and config["lighting"] == 0.1
    assert len(config["channel_mean"]) == 3 and 0 < min(config["channel_mean"]) < 1
    assert json.loads((run / "test.json").read_text())["images"] == 4
    capsys.readouterr()
    resumed = print_config(capsys, "--resume", str(run / "checkpoint.npz"), "--epochs", "2")
    assert {k: resumed[k] for k in config if k in resumed} == \
        {k: config[k] for k in config if k in resumed} | {"epochs": 2}
    code, _, err = failing_cli(capsys, "train", "--resume", str(run / "checkpoint.npz"),
                               "--epochs", "2", "--recipe", "vgg")
    assert_one_line_error(code, err, (1,))
    assert "--recipe vgg differs from the resumed run's alexnet" in err


@pytest.mark.parametrize("recipe", list(PAPERS))
@pytest.mark.parametrize("dataset", ["digits", "mnist:/data", "fashion-mnist:/data",
                                     "cifar10:/data", "folder:/data"])
def test_a_recipe_suits_the_data_no_mirrored_digits_no_colour_noise_on_grey(recipe, dataset,
                                                                            capsys):
    """A mirrored digit is not the same digit; AlexNet's PCA colour noise is for colour
    photos.  What the recipe leaves out is printed with the reason."""
    cfg = print_config(capsys, "--recipe", recipe, "--dataset", dataset)
    kind = dataset.partition(":")[0]
    assert cfg["flip"] is (kind not in ("digits", "mnist"))    # every paper flips photos
    papers_lighting = 0.1 if recipe in ("alexnet", "vgg", "resnet") else 0.0
    grey = kind in ("digits", "mnist", "fashion-mnist")
    assert cfg["lighting"] == (0.0 if grey else papers_lighting)
    # given on the command line, a setting is the user's choice
    assert print_config(capsys, "--recipe", recipe, "--dataset", dataset, "--flip")["flip"]


def test_the_printed_recipe_says_what_it_left_out_on_digits(tmp_path, captured_fit, capsys):
    with pytest.raises(Captured):
        main(["train", "--recipe", "alexnet", "--model", "small_cnn", "--image-size", "8",
              "--limit", "16", "--out", str(tmp_path), "--no-progress"])
    printed = " ".join(capsys.readouterr().out.split())
    assert ("--flip False (the recipe's True left out on digits: a mirrored digit is not the "
            "same digit") in printed
    assert "--lighting 0.0 (the recipe's 0.1 left out on digits: colour noise" in printed
    train = pipeline(captured_fit["train_loader"])
    assert not any("Flip" in step or "Lighting" in step for step in train), train


@pytest.mark.parametrize("argv, message", [
    (["--random-crop", "--random-resized-crop"], "choose one"),
    (["--scale-jitter", "256", "480"], "add --random-crop"),
    (["--random-crop", "--scale-jitter", "4", "16"], "image size (8) <= MIN <= MAX"),
    (["--subtract-mean", "--normalize", "imagenet"], "choose one"),
    (["--lighting", "0.1", "--limit", "8"], "--lighting shifts RGB colours; these images "
                                            "have 1 channel"),
    (["--lr-gamma", "1.5"], "--lr-gamma: expected a number between 0 and 1"),
])
def test_settings_that_cannot_work_are_one_line_errors(tmp_path, capsys, argv, message):
    code, out, err = failing_cli(capsys, "train", *argv, "--out", str(tmp_path / "o"),
                                 "--no-progress")
    assert_one_line_error(code, err)
    assert message in err and "epoch" not in out


# ----- nn.utils.clip_grad_norm_ against torch.nn.utils.clip_grad_norm_ ------------------------
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])        # clipped, and left alone
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    rng = np.random.default_rng(int(max_norm) + int(min(norm_type, 9)))
    shapes = [(3, 4), (5,), (2, 1, 3)]
    grads = [rng.standard_normal(s) for s in shapes]
    ours = [mc.tensor(np.zeros(s), requires_grad=True) for s in shapes + [(2,)]]
    theirs = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in shapes + [(2,)]]
    for p, q, g in zip(ours, theirs, grads):          # the last parameter has no gradient
        p.grad, q.grad = mc.tensor(g.copy()), torch.from_numpy(g.copy())
    total = clip_grad_norm_(ours, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert total.item() == pytest.approx(expected.item(), rel=1e-12)
    for p, q in zip(ours[:3], theirs[:3]):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)
    assert ours[3].grad is None
    clipped = np.linalg.norm(np.concatenate([p.grad.numpy().ravel() for p in ours[:3]]),
                             norm_type)
    assert clipped <= max_norm * (1 + 1e-9)


def test_clip_grad_norm_float32_single_tensor_and_non_finite():
    g = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    p, q = mc.tensor(np.zeros((4, 5), np.float32), requires_grad=True), torch.zeros(
        4, 5, requires_grad=True)
    p.grad, q.grad = mc.tensor(g.copy()), torch.from_numpy(g.copy())
    total = clip_grad_norm_(p, 1.0)                    # one Tensor, as in torch
    assert total.item() == pytest.approx(torch.nn.utils.clip_grad_norm_(q, 1.0).item(),
                                         rel=1e-6)
    assert p.grad.dtype == np.float32
    np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-6)
    p.grad = mc.tensor(np.full((4, 5), np.nan, np.float32))
    with pytest.raises(RuntimeError, match="total norm of order 2.0 of the gradients is nan"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert clip_grad_norm_([mc.tensor(np.zeros(2), requires_grad=True)], 1.0).item() == 0.0
