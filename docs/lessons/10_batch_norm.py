# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 10: what batch normalisation does (Ioffe & Szegedy, 2015)
#
# Batch norm normalises each channel of a layer's output over the batch -- subtract the
# batch's mean, divide by its standard deviation -- and then scales and shifts it by two
# learned numbers per channel, gamma and beta:
#
#     y = gamma * (x - mean_batch) / sqrt(var_batch + eps) + beta
#
# In training the statistics are the batch's; at test time, running averages collected
# during training.  The paper's claims, which this lesson puts to the test on the digits:
# with batch norm a network trains faster, tolerates a much higher learning rate, and
# every layer keeps seeing inputs of the same scale while the weights below it change.
#
# The experiment: the same small CNN (four 3x3 convolutions), with and without batch
# norm, trained with SGD at two learning rates -- 4 runs of 6 epochs on the 1,442
# training digits: 18 s of training, 38 s for the whole lesson as a script, measured on
# a 2-core CPU shared with other jobs.  (A short mode, `MINICNN_LESSON_SHORT=1`, trains
# 20 steps per run, for the tests.)  Figures appear below the cells in a notebook and
# are saved in `$MINICNN_LESSON_OUT` (default `lesson-output/`).

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np

import minicnn as mc
import minicnn.functional as F
from minicnn import lessons, nn
from minicnn.data import DataLoader, load_digits

# %% [markdown]
# ## Batch norm by hand, against `nn.BatchNorm2d`
#
# For an input of shape (N, C, H, W) the statistics of channel c are taken over the N
# images and H x W positions: N*H*W numbers per channel.  (PyTorch, and minicnn, update
# the running variance with the *unbiased* batch variance, dividing by N*H*W - 1.)

# %%
rng = np.random.default_rng(0)
x = rng.normal(3.0, 2.0, size=(8, 4, 5, 5))                       # (N, C, H, W)
bn = nn.BatchNorm2d(4).double()
bn.weight.data[...] = np.array([1.0, 2.0, 0.5, 1.0])              # gamma
bn.bias.data[...] = np.array([0.0, -1.0, 0.0, 3.0])               # beta
mean = x.mean(axis=(0, 2, 3), keepdims=True)                       # (1, C, 1, 1)
var = x.var(axis=(0, 2, 3), keepdims=True)                         # biased, as in the formula
by_hand = bn.weight.numpy()[:, None, None] * (x - mean) / np.sqrt(var + bn.eps) \
    + bn.bias.numpy()[:, None, None]
bn.train()
ours = bn(mc.tensor(x)).numpy()
mc.utils.assert_close(ours, by_hand, name="batch norm in training mode")
print("per channel after batch norm: mean", ours.mean(axis=(0, 2, 3)).round(6) + 0.0,
      "std", ours.std(axis=(0, 2, 3)).round(4), "(= beta and gamma)")
n = x.shape[0] * x.shape[2] * x.shape[3]
expected_running_var = 0.9 * 1.0 + 0.1 * var.ravel() * n / (n - 1)
mc.utils.assert_close(bn.running_var.numpy(), expected_running_var, name="running variance")
bn.eval()                                # now the running averages, not the batch's
print("in eval mode the output no longer has mean beta:",
      bn(mc.tensor(x)).numpy().mean(axis=(0, 2, 3)).round(3))


# %% [markdown]
# ## The experiment
#
# Four 3x3 convolutions (16, 16, 32, 32 channels) with ReLU, a 2x2 max pooling after the
# second, global average pooling and a linear classifier.  With batch norm, each
# convolution is followed by `BatchNorm2d` before its ReLU (as in the paper) and has no
# bias (beta takes its place).  Every run starts from seed 0: a net starts from the same
# weights at both learning rates, and sees the same batches in the same order.

# %%
def cnn(batch_norm):
    layers, channels = [], [1, 16, 16, 32, 32]
    for i in range(4):
        layers.append(nn.Conv2d(channels[i], channels[i + 1], 3, padding=1, bias=not batch_norm))
        layers += [nn.BatchNorm2d(channels[i + 1])] if batch_norm else []
        layers.append(nn.ReLU())
        if i == 1:
            layers.append(nn.MaxPool2d(2))                         # 8x8 -> 4x4
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))


def convolution_outputs(model, images):
    """What each convolution hands on (after its batch norm, if any), before the ReLU."""
    outputs, out = [], images
    layers = list(model)
    for i, layer in enumerate(layers):
        out = layer(out)
        if isinstance(layers[min(i + 1, len(layers) - 1)], nn.ReLU):
            outputs.append(out.numpy())
    return outputs


EPOCHS = 6
STEPS_PER_EPOCH = 1442 // 32
STEPS = lessons.pick(EPOCHS * STEPS_PER_EPOCH, 20)
LEARNING_RATES = (0.1, 1.0)
probe = mc.tensor(np.stack([load_digits("train")[i][0] for i in range(256)]))  # 256 images


def train(batch_norm, lr):
    """STEPS steps of SGD (momentum 0.9); returns the loss of every step, every 10 steps
    the std of each convolution's output and the fraction of it that is positive (what its
    ReLU lets through), and the final test accuracy."""
    mc.manual_seed(0)
    model = cnn(batch_norm)
    optimizer = mc.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loader = DataLoader(load_digits("train"), batch_size=32, shuffle=True, drop_last=True,
                        seed=0)
    losses, stats = [], []
    while len(losses) < STEPS:
        for images, labels in loader:
            if len(losses) % 10 == 0:
                with mc.no_grad():
                    outputs = convolution_outputs(model, probe)
                stats.append([[o.std() for o in outputs], [(o > 0).mean() for o in outputs]])
            loss = F.cross_entropy(model(images), labels)
            losses.append(loss.item())
            if not math.isfinite(losses[-1]) or len(losses) == STEPS:
                break
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if not math.isfinite(losses[-1]):
            break                                   # diverged: every later step is NaN
    model.eval()
    test = mc.train.evaluate(model, DataLoader(load_digits("test"), batch_size=256))
    return losses, np.array(stats), test["acc1"]          # stats: (checks, 2, layers)


runs = {}
start = time.perf_counter()
for lr in LEARNING_RATES:
    for batch_norm in (False, True):
        name = f"{'with' if batch_norm else 'without'} BN, lr {lr}"
        runs[name] = train(batch_norm, lr)
        losses, _, accuracy = runs[name]
        end = f"{losses[-1]:.3f}" if math.isfinite(losses[-1]) else \
            f"diverged (step {len(losses)})"
        print(f"{name:<22} loss at the end {end:<22} test accuracy {accuracy:.1%}")
print(f"{len(runs)} runs of {STEPS} steps in {time.perf_counter() - start:.0f}s")

# %% [markdown]
# ## Loss curves

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
for ax, lr in zip(axes, LEARNING_RATES):
    for batch_norm, colour in ((False, "tab:red"), (True, "tab:blue")):
        name = f"{'with' if batch_norm else 'without'} BN, lr {lr}"
        losses = np.array(runs[name][0])
        smooth = np.convolve(losses, np.ones(5) / 5, mode="valid") if len(losses) > 5 else losses
        ax.plot(losses, color=colour, alpha=0.25)
        ax.plot(np.arange(len(smooth)) + (len(losses) - len(smooth)), smooth, color=colour,
                label=name + (" (diverged)" if not math.isfinite(losses[-1]) else ""))
    ax.axhline(math.log(10), color="grey", linestyle=":", label="chance: ln 10")
    ax.set_yscale("log")
    ax.set_xlabel("step (batch of 32)")
    ax.set_title(f"learning rate {lr}")
    ax.legend()
axes[0].set_ylabel("training loss (faint: each step; line: mean of 5)")
fig.suptitle("the same CNN with and without batch norm, SGD with momentum 0.9")
lessons.show(fig, "batch_norm_loss")

# %% [markdown]
# What to see: at the low learning rate both nets learn, the one with batch norm much
# faster (the other sits at chance for a hundred steps first).  At the high learning rate
# the net without batch norm never learns; with batch norm it trains nearly as well as
# at the low rate.

# %% [markdown]
# ## What each layer sees
#
# Top: the standard deviation of each convolution's output (on the same 256 training
# images, every 10 steps).  Bottom: the fraction of those outputs that are positive, i.e.
# that the ReLU lets through.  Without batch norm, the default initialisation makes the
# signal shrink layer after layer (conv4's output is 8 times smaller than conv1's), which
# is why learning starts so slowly, and the scale drifts as the weights below change.
# At the high learning rate the first large steps push conv4's outputs below zero for
# every image: its ReLUs are dead, no gradient flows through them, and the net predicts
# the same class for everything.  With batch norm each output starts at std 1 with about
# half of it positive, and moves only as gamma and beta learn to move it (at the high
# rate, conv4's beta learns to let fewer units through): a large step changes the
# weights, but cannot by itself rescale what the next layer sees, or switch it all off.

# %%
fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True, sharey="row")
for column, lr in enumerate(LEARNING_RATES):
    for batch_norm, style in ((False, "--"), (True, "-")):
        stats = runs[f"{'with' if batch_norm else 'without'} BN, lr {lr}"][1]
        steps = np.arange(len(stats)) * 10
        for layer in range(stats.shape[2]):
            label = f"conv{layer + 1} {'with' if batch_norm else 'without'} BN"
            for row in (0, 1):
                axes[row, column].plot(steps, stats[:, row, layer], style,
                                       color=plt.cm.viridis(layer / 3), label=label)
    axes[0, column].set_title(f"learning rate {lr}")
    axes[0, column].set_yscale("log")
    axes[1, column].set_xlabel("step")
axes[0, 0].set_ylabel("std of the convolution's output")
axes[1, 0].set_ylabel("fraction > 0 (passed by the ReLU)")
axes[1, 1].legend(fontsize=8, ncol=2)
fig.suptitle("what each layer hands on during training (dashed: without batch norm)")
lessons.show(fig, "batch_norm_activations")

# %%
low, high = LEARNING_RATES
if not lessons.short():      # (20 steps are too few to tell the nets apart)
    assert runs[f"with BN, lr {high}"][2] > runs[f"without BN, lr {high}"][2] + 0.5
    assert runs[f"with BN, lr {low}"][0][-1] < runs[f"without BN, lr {low}"][0][-1] / 10
    passed = {bn: runs[f"{bn} BN, lr {high}"][1][-1, 1, 3] for bn in ("without", "with")}
    print(f"conv4's outputs positive at the end, lr {high}: {passed['without']:.0%} without "
          f"batch norm (dead ReLUs), {passed['with']:.0%} with")

# %% [markdown]
# ## Exercises
#
# 1. Put each `BatchNorm2d` after its ReLU instead of before (swap the two lines in
#    `cnn`).  Predict: does the net still train at the high learning rate?  Is the
#    std of the convolution outputs still near 1?  Run and compare the curves.
# 2. Train with batches of 4 images instead of 32 (`batch_size=4` in `train`, and 4x the
#    steps).  The batch statistics of 4 images are noisy: predict whether the net with
#    batch norm gains or loses against the one without, then look at the test accuracy,
#    which uses the running averages.
# 3. Evaluate the trained BN net in training mode (`model.train()` instead of
#    `model.eval()` before `evaluate`), once with batches of 256 test images and once
#    with batches of 1.  Predict both accuracies before you run them; explain the second.
