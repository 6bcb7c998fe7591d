"""The training loop (minicnn.train) and the small CNN of the main job.

Checks: resuming from a checkpoint continues bit for bit (shuffling, augmentation,
dropout, batch norm, momentum and the schedule included); the loss (auxiliary heads,
label smoothing) and the top-k accuracy against PyTorch; evaluation over uneven
batches; scheduler stepping; the files written per epoch.
"""
import collections
import json
import os
import signal

import numpy as np
import pytest

import minicnn as mc
from minicnn import nn
from minicnn.data import DataLoader, Subset, TensorDataset, load_digits, transforms as T
from minicnn.optim import SGD, lr_scheduler
from minicnn.train import (compute_loss, evaluate, fit, plot_history, random_generators,
                           rng_state, set_rng_state, topk_correct)
from minicnn.utils import assert_close

torch = pytest.importorskip("torch")


def make_run(seed=0, prefetch=2):
    """A small but complete training setup: random crops, shuffling, dropout, batch norm,
    momentum, weight decay and a step schedule -- everything a resume must restore."""
    mc.manual_seed(seed)
    model = mc.models.small_cnn(width=4, dropout=0.3)
    augment = T.Compose([T.RandomCrop(8, padding=1, seed=seed + 1), T.ToTensor()])
    train = Subset(load_digits("train", transform=augment), list(range(96)))
    val = Subset(load_digits("test"), list(range(40)))
    train_loader = DataLoader(train, batch_size=16, shuffle=True, seed=seed + 2, prefetch=prefetch)
    val_loader = DataLoader(val, batch_size=16)
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    sched = lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    return model, train_loader, val_loader, opt, sched


def run(setup, epochs, **kwargs):
    model, train_loader, val_loader, opt, sched = setup
    return fit(model, train_loader, val_loader, opt, epochs, sched, progress=False, log=None,
               **kwargs)


def state_arrays(model, opt):
    arrays = {k: v.numpy() for k, v in model.state_dict().items()}
    for i, state in opt.state_dict()["state"].items():
        arrays.update({f"opt.{i}.{k}": np.asarray(v) for k, v in state.items()})
    return arrays


def test_resume_continues_bit_for_bit(tmp_path):
    straight = make_run()
    run(straight, 3)

    first = make_run()
    run(first, 1, out_dir=tmp_path)
    # fresh objects, built with another seed: everything must come from the checkpoint
    resumed = make_run(seed=7)
    history = run(resumed, 3, resume=tmp_path / "checkpoint.npz")

    expected, actual = state_arrays(straight[0], straight[3]), state_arrays(resumed[0], resumed[3])
    assert expected.keys() == actual.keys()
    for key in expected:
        assert np.array_equal(expected[key], actual[key]), key
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert resumed[4].get_last_lr() == straight[4].get_last_lr()


def test_resume_without_the_random_state_would_differ(tmp_path, monkeypatch):
    """The control for the test above: the random generators really matter."""
    straight = make_run()
    run(straight, 2)
    first = make_run()
    run(first, 1, out_dir=tmp_path)
    resumed = make_run(seed=7)
    monkeypatch.setattr(mc.train, "set_rng_state", lambda state, *loaders, **kw: None)
    run(resumed, 2, resume=tmp_path / "checkpoint.npz")   # weights restored, random state not
    model_a, model_b = straight[0].state_dict(), resumed[0].state_dict()
    assert any(not np.array_equal(model_a[k].numpy(), model_b[k].numpy()) for k in model_a)


def test_each_epoch_iterates_each_loader_exactly_once():
    """Each iter(loader) draws a shuffle and starts a prefetch thread; an extra, abandoned
    pass (tqdm.auto's bar calls iter() in its constructor) races the real one for the
    augmentation's random numbers and breaks exact resumption."""
    model, train_loader, val_loader, opt, sched = make_run()
    calls = collections.Counter()

    class Counting(DataLoader):
        def __iter__(self):
            calls[self.name] += 1
            return super().__iter__()

    for loader, name in ((train_loader, "train"), (val_loader, "val")):
        loader.__class__, loader.name = Counting, name
    fit(model, train_loader, val_loader, opt, 2, sched, progress=True, log=None)
    assert calls == {"train": 2, "val": 2}


def test_rng_state_finds_the_loader_and_transform_generators():
    _, train_loader, val_loader, _, _ = make_run()
    generators = random_generators(train_loader, val_loader)
    assert train_loader.rng in generators
    crop = train_loader.dataset.dataset.transform.transforms[0]
    assert crop.rng in generators
    state = rng_state(train_loader)
    draws = [g.random() for g in random_generators(train_loader)] + [mc.random.generator().random()]
    set_rng_state(state, train_loader)
    again = [g.random() for g in random_generators(train_loader)] + [mc.random.generator().random()]
    assert draws == again


def test_set_rng_state_rejects_other_loaders():
    _, train_loader, val_loader, _, _ = make_run()
    state = rng_state(train_loader)
    with pytest.raises(ValueError, match="random generators"):
        set_rng_state(state, val_loader)


def test_fit_writes_checkpoint_metrics_and_curves(tmp_path):
    setup = make_run()
    history = run(setup, 2, out_dir=tmp_path, config={"note": "test"})
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.npz", "curves.png", "metrics.jsonl"]
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert records == history and [r["epoch"] for r in records] == [1, 2]
    for key in ("train_loss", "train_acc1", "train_acc5", "val_loss", "val_acc1", "val_acc5", "lr"):
        assert all(np.isfinite(r[key]) for r in records), key
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ckpt = mc.io.load_checkpoint(tmp_path / "checkpoint.npz")
    assert ckpt["epoch"] == 2 and ckpt["config"] == {"note": "test"}
    assert len(ckpt["history"]) == 2
    for key, value in setup[0].state_dict().items():
        assert np.array_equal(ckpt["model"][key], value.numpy()), key


def test_scheduler_steps_once_per_epoch_after_training():
    setup = make_run()
    history = run(setup, 3)
    assert [r["lr"] for r in history] == [0.1, 0.05, 0.025]   # lr used in each epoch
    assert setup[4].last_epoch == 3


def test_reduce_lr_on_plateau_is_given_the_validation_loss():
    model, train_loader, val_loader, opt, _ = make_run()

    class Recording(lr_scheduler.ReduceLROnPlateau):
        seen = []

        def step(self, metrics, epoch=None):
            self.seen.append(metrics)
            super().step(metrics, epoch)

    sched = Recording(opt, patience=0)
    history = fit(model, train_loader, val_loader, opt, 2, sched, progress=False, log=None)
    assert Recording.seen == [r["val_loss"] for r in history]


def test_reduce_lr_on_plateau_can_watch_the_validation_accuracy():
    """AlexNet's "divide by 10 when the validation error stops improving": mode="max"."""
    model, train_loader, val_loader, opt, _ = make_run()
    seen = []
    sched = lr_scheduler.ReduceLROnPlateau(opt, mode="max", patience=0)
    real_step = sched.step
    sched.step = lambda metric: (seen.append(metric), real_step(metric))
    history = fit(model, train_loader, val_loader, opt, 2, sched, plateau_metric="val_acc1",
                  progress=False, log=None)
    assert seen == [r["val_acc1"] for r in history]
    with pytest.raises(ValueError, match=r"'val_acc1' needs ReduceLROnPlateau\(mode='max'\)"):
        fit(model, train_loader, val_loader, opt, 1, lr_scheduler.ReduceLROnPlateau(opt),
            plateau_metric="val_acc1", log=None)
    with pytest.raises(ValueError, match="plateau_metric must be one of val_loss, val_acc1"):
        fit(model, train_loader, val_loader, opt, 1, plateau_metric="acc", log=None)


def test_fit_clips_the_gradient_norm_before_each_step():
    """Plain SGD moves the parameters by lr * gradient: with clipping, by at most
    lr * max_norm per step."""
    mc.manual_seed(0)
    model = mc.models.small_cnn(width=4, dropout=0.0)
    loader = DataLoader(Subset(load_digits("train"), range(32)), batch_size=16)
    opt = SGD(model.parameters(), lr=1.0)
    for max_norm, moves in ((1e-3, lambda d: d <= 1e-3 * (1 + 1e-5)), (None, lambda d: d > 1e-2)):
        steps = []
        before = [p.numpy().copy() for p in model.parameters()]
        real_step = opt.step

        def step():
            real_step()
            now = [p.numpy().copy() for p in model.parameters()]
            steps.append(np.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(now, before))))
            before[:] = now
        opt.step = step
        fit(model, loader, None, opt, 1, clip_grad_norm=max_norm, progress=False, log=None)
        del opt.step
        assert len(steps) == 2 and all(moves(d) for d in steps), (max_norm, steps)


def test_evaluate_averages_the_softmax_over_ten_crops_like_torch():
    """Batches (N, K, C, H, W): each image scored by its softmax averaged over K crops."""
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 5))
    crops = rng.standard_normal((6, 10, 3, 2, 2)).astype(np.float32) * 30   # confident
    targets = rng.integers(0, 5, 6)
    result = evaluate(model, DataLoader(TensorDataset(crops, targets), batch_size=4))
    w, b = (torch.from_numpy(p.numpy()) for p in (model[1].weight, model[1].bias))
    logits = torch.from_numpy(crops).reshape(60, 12) @ w.T + b              # (N*K, classes)
    p = torch.softmax(logits.double(), 1).reshape(6, 10, 5).mean(1)         # (N, classes)
    t = torch.from_numpy(targets)
    loss = torch.nn.functional.nll_loss(p.log(), t).item()
    assert result["loss"] == pytest.approx(loss, rel=1e-4) and np.isfinite(result["loss"])
    assert result["acc1"] == (p.argmax(1) == t).double().mean().item()
    assert result["acc5"] == 1.0


# ----- the loss and the metrics, against PyTorch ------------------------------------------
def torch_ce(logits, target, eps):
    return torch.nn.functional.cross_entropy(logits, target, label_smoothing=eps)


@pytest.mark.parametrize("n_outputs", [1, 2, 3])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_compute_loss_weights_auxiliary_heads_like_torch(n_outputs, eps):
    """GoogLeNet: logits + 0.3 * (aux2 + aux1); Inception v3: logits + 0.4 * aux."""
    rng = np.random.default_rng(n_outputs)
    arrays = [rng.standard_normal((6, 5)) for _ in range(n_outputs)]
    target = rng.integers(0, 5, 6)
    ours = [mc.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    # the models return namedtuples (GoogLeNetOutputs, InceptionOutputs)
    outputs = collections.namedtuple("Outputs", ["logits", "aux2", "aux1"][:n_outputs])
    output = ours[0] if n_outputs == 1 else outputs(*ours)
    loss, logits = compute_loss(output, mc.tensor(target), label_smoothing=eps)
    t = torch.tensor(target)
    expected = torch_ce(theirs[0], t, eps)
    weight = {1: 0.0, 2: 0.4, 3: 0.3}[n_outputs]
    for aux in theirs[1:]:
        expected = expected + weight * torch_ce(aux, t, eps)
    assert logits is ours[0]
    assert_close(loss, expected.detach().numpy(), name="loss")
    loss.backward()
    expected.backward()
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert_close(a.grad, b.grad.numpy(), name=f"grad of output {i}")


def test_compute_loss_skips_missing_aux_and_takes_an_explicit_weight():
    rng = np.random.default_rng(0)
    logits, aux = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    target = rng.integers(0, 3, 4)
    loss, _ = compute_loss((mc.tensor(logits), mc.tensor(aux), None), mc.tensor(target),
                           aux_weight=0.5)
    t = torch.tensor(target)
    expected = torch_ce(torch.tensor(logits), t, 0.0) + 0.5 * torch_ce(torch.tensor(aux), t, 0.0)
    assert_close(loss, expected.numpy())


def test_topk_correct_matches_torch_topk():
    rng = np.random.default_rng(1)
    logits = rng.permutation(40 * 10).reshape(40, 10).astype(np.float64)   # no ties
    target = rng.integers(0, 10, 40)
    counts = topk_correct(mc.tensor(logits), mc.tensor(target), ks=(1, 3, 5))
    top = torch.tensor(logits).topk(5, dim=1).indices.numpy()
    expected = [int((top[:, :k] == target[:, None]).any(1).sum()) for k in (1, 3, 5)]
    assert counts.tolist() == expected


def test_topk_correct_counts_ties_and_nan_as_wrong():
    """A tie is wrong (torch.topk would pick one of the tied classes), NaN is never right:
    a diverged model whose logits are all equal or NaN must score 0%, not 100%."""
    nan = np.nan
    logits = np.array([[1.0, 1.0, 1.0],      # all equal: wrong at every k < 3
                       [nan, nan, nan],      # all NaN: never correct
                       [nan, 0.0, 5.0],      # the true class is NaN
                       [2.0, nan, 1.0],      # NaN in another class outranks the true one
                       [3.0, 3.0, 0.0],      # a tie with one other class: wrong at k=1 only
                       [0.0, 1.0, 4.0]])     # a plain, tie-free correct answer
    target = np.array([0, 1, 0, 0, 1, 2])
    counts = topk_correct(mc.tensor(logits), mc.tensor(target), ks=(1, 2, 3))
    #                 k=1: only the last row; k=2: + the pair tie and the NaN-outranked
    #                 row; k=3: + the all-equal row
    assert counts.tolist() == [1, 3, 4]


def test_fit_stops_when_the_loss_diverges_and_keeps_the_last_good_checkpoint(tmp_path):
    model, train_loader, val_loader, opt, _ = make_run()
    explode = lr_scheduler.ExponentialLR(opt, gamma=1e12)    # epoch 1 at lr 0.1, then 1e11
    with pytest.raises(mc.train.TrainingDiverged) as info:
        fit(model, train_loader, val_loader, opt, 3, explode, out_dir=tmp_path,
            progress=False, log=None)
    message = str(info.value)
    checkpoint = tmp_path / "checkpoint.npz"
    assert "diverged" in message and "in epoch 2, " in message and "learning rate" in message
    assert f"the last good checkpoint is kept: {checkpoint}" in message
    assert "last finite loss" in message and "no finite loss" not in message
    ckpt = mc.io.load_checkpoint(checkpoint)             # still epoch 1's, finite weights
    assert ckpt["epoch"] == 1 and all(np.isfinite(v).all() for v in ckpt["model"].values())
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 1


def test_fit_stops_when_the_last_step_of_an_epoch_breaks_the_weights(tmp_path):
    """Every training loss is finite (each is computed before its step), but the last
    update overflows float32: nothing may be saved."""
    x = np.full((4, 3), 10.0, dtype=np.float32)
    loader = DataLoader(TensorDataset(x, np.array([0, 1, 0, 1])), batch_size=4)  # one step
    model = nn.Linear(3, 2)
    with pytest.raises(mc.train.TrainingDiverged, match="weights became NaN or infinite in "
                       "epoch 1, after its last step.*no checkpoint was written"):
        fit(model, loader, None, SGD(model.parameters(), lr=1e39), 2, out_dir=tmp_path,
            progress=False, log=None)
    assert not (tmp_path / "checkpoint.npz").exists()


def test_train_one_epoch_names_the_step_whose_loss_is_not_finite():
    x = np.random.default_rng(0).standard_normal((8, 3))
    x[5] = np.nan                                         # the third batch of two
    loader = DataLoader(TensorDataset(x, np.zeros(8, dtype=np.int64)), batch_size=2)
    model = nn.Linear(3, 2)
    with pytest.raises(mc.train.TrainingDiverged,
                       match=r"loss became nan in epoch 4, step 3 of 4 \(last finite loss "):
        mc.train.train_one_epoch(model, loader, SGD(model.parameters(), lr=0.1),
                                 progress=False, epoch=4)


class CtrlCLoader:
    """A loader that presses Ctrl-C (SIGINT to this process) before handing out the batch
    numbered ``at`` (counted over all passes): from inside a ``__del__``, where Python
    prints an exception and swallows it, and with ``again`` a second time from plain code.
    ``handed_after`` counts the batches handed out after the press(es)."""
    def __init__(self, loader, at, again=False):
        self.loader, self.at, self.again = loader, at, again
        self.given, self.handed_after, self.survived_second_press = 0, 0, False

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            self.given += 1
            if self.given == self.at:
                _PressCtrlCWhenCollected()           # collected at once: __del__ runs here
                if self.again:
                    signal.raise_signal(signal.SIGINT)
                    self.survived_second_press = True
            self.handed_after += self.given > self.at
            yield batch


class _PressCtrlCWhenCollected:
    def __del__(self):
        signal.raise_signal(signal.SIGINT)


@pytest.fixture
def default_ctrl_c():
    """Python's own SIGINT handler for the test: a shell's background job (CI runs the
    suite as one) starts with SIGINT ignored, and fit then leaves Ctrl-C alone."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_ctrl_c_pressed_during_a_cleanup_callback_still_stops_fit(tmp_path, default_ctrl_c):
    """Python raises KeyboardInterrupt wherever the main thread is; raised inside a
    ``__del__`` or weakref callback it is printed and lost (CI saw a run go on forever).
    fit notes the key press and stops before the next step: the checkpoint is the last
    finished epoch's."""
    model, train_loader, val_loader, opt, sched = make_run()
    loader = CtrlCLoader(train_loader, at=len(train_loader) + 2)     # epoch 2, its 2nd batch
    with pytest.raises(KeyboardInterrupt):
        fit(model, loader, val_loader, opt, 4, sched, out_dir=tmp_path, progress=False,
            log=None)
    assert loader.handed_after == 0
    assert mc.io.load_checkpoint(tmp_path / "checkpoint.npz")["epoch"] == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # handler restored


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_second_ctrl_c_interrupts_fit_at_once(default_ctrl_c):
    model, train_loader, val_loader, opt, sched = make_run()
    loader = CtrlCLoader(train_loader, at=2, again=True)
    with pytest.raises(KeyboardInterrupt):
        fit(model, loader, val_loader, opt, 2, sched, progress=False, log=None)
    assert not loader.survived_second_press


def test_evaluate_matches_torch_over_uneven_batches():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((10, 6)).astype(np.float32), rng.integers(0, 4, 10)
    model = nn.Linear(6, 4)
    loader = DataLoader(TensorDataset(x, y), batch_size=4)       # batches of 4, 4, 2
    model.train()
    result = evaluate(model, loader)
    assert model.training                                        # mode restored
    weight, bias = torch.tensor(model.weight.numpy()), torch.tensor(model.bias.numpy())
    logits = torch.tensor(x) @ weight.T + bias
    expected_loss = torch_ce(logits, torch.tensor(y), 0.0).item()
    assert result["loss"] == pytest.approx(expected_loss, rel=1e-5)
    assert result["acc1"] == float((logits.argmax(1).numpy() == y).mean())


def test_plot_history_draws_without_validation(tmp_path):
    history = [{"epoch": 1, "train_loss": 1.0, "train_acc1": 0.5},
               {"epoch": 2, "train_loss": 0.5, "train_acc1": 0.8}]
    plot_history(history, tmp_path / "c.png", title="no validation")
    assert (tmp_path / "c.png").stat().st_size > 1000


def test_fit_trains_a_model_with_auxiliary_heads():
    """Training mode returns (logits, aux); evaluation uses the logits alone."""
    class WithAux(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.fc, self.aux = nn.Linear(6, 8), nn.Linear(8, 3), nn.Linear(8, 3)

        def forward(self, x):
            h = mc.functional.relu(self.body(x))
            return (self.fc(h), self.aux(h)) if self.training else self.fc(h)

    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((32, 6)).astype(np.float32), rng.integers(0, 3, 32)
    mc.manual_seed(0)
    model = WithAux()
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, seed=0)
    before = model.aux.weight.numpy().copy()
    history = fit(model, loader, loader, SGD(model.parameters(), lr=0.1), 3, progress=False,
                  log=None)
    assert not np.array_equal(before, model.aux.weight.numpy())   # the aux head learned too
    assert history[-1]["train_loss"] < history[0]["train_loss"]


# ----- the small CNN of the main job ---------------------------------------------------
def torch_small_cnn(width):
    tnn = torch.nn

    def block(i, o):
        return [tnn.Conv2d(i, o, 3, padding=1, bias=False), tnn.BatchNorm2d(o), tnn.ReLU()]
    return tnn.Sequential(*block(1, width), *block(width, width), tnn.MaxPool2d(2),
                          *block(width, 2 * width), tnn.MaxPool2d(2),
                          tnn.AdaptiveAvgPool2d((2, 2)), tnn.Flatten(), tnn.Linear(8 * width, 10))


@pytest.mark.parametrize("size", [8, 28])
def test_small_cnn_matches_torch_forward_and_backward(size):
    mc.manual_seed(0)
    model = mc.models.small_cnn(width=4, dropout=0.0).double()
    reference = torch_small_cnn(4).double()
    ours, theirs = list(model.state_dict().values()), list(reference.state_dict().values())
    assert [tuple(a.shape) for a in ours] == [tuple(b.shape) for b in theirs]
    reference.load_state_dict({k: torch.tensor(v.numpy()) for k, v in
                               zip(reference.state_dict(), ours)})
    rng = np.random.default_rng(size)
    x = rng.standard_normal((3, 1, size, size))
    g = rng.standard_normal((3, 10))
    y = model(mc.tensor(x))
    ty = reference(torch.tensor(x))
    assert_close(y, ty.detach().numpy(), name="logits")
    y.backward(g)
    ty.backward(torch.tensor(g))
    for (name, p), tp in zip(model.named_parameters(), reference.parameters()):
        assert_close(p.grad, tp.grad.numpy(), name=name)


@pytest.mark.parametrize("shape", [(2, 1, 8, 8), (2, 1, 28, 28), (2, 3, 32, 32)])
def test_small_cnn_takes_digits_mnist_and_cifar_sizes(shape):
    model = mc.models.small_cnn(in_channels=shape[1], num_classes=7).eval()
    assert model(mc.tensor(np.zeros(shape, np.float32))).shape == (2, 7)


def test_small_cnn_rejects_the_wrong_channel_count():
    model = mc.models.small_cnn(in_channels=1)
    with pytest.raises(ValueError, match="channels"):
        model(mc.tensor(np.zeros((2, 3, 8, 8), np.float32)))
