# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 6: ResNet (He et al., 2015) -- the degradation problem
#
# Stacking more layers onto a plain network eventually makes it *worse*, and not by
# overfitting: the deeper network has the higher *training* error.  A deeper network
# could copy the shallower one and set its extra layers to the identity, so this is
# an optimisation problem.  ResNet's fix: let each block learn a residual F(x) and
# output F(x) + x, so the identity is the default and gradients flow straight back
# through the additions.
#
# A small version of the experiment, on the embedded 8x8 digits: plain and residual
# stacks of the same blocks (conv-BN-ReLU-conv-BN, `mc.models.BasicBlock`), the plain
# one without the shortcut.  We look at the gradient that reaches each layer, at
# initialisation and after a few training steps, and at the training loss.  Figures go
# to `$MINICNN_LESSON_OUT` (default `lesson-output/`).

# %%
import os

import numpy as np

import minicnn as mc
import minicnn.functional as F
from minicnn import nn
from minicnn.data import DataLoader, load_digits
from minicnn.models import BasicBlock

OUT = os.environ.get("MINICNN_LESSON_OUT", "lesson-output")
os.makedirs(OUT, exist_ok=True)
WIDTH, STEPS = 8, 20


class PlainBlock(BasicBlock):
    """A BasicBlock with its shortcut removed: relu(bn2(conv2(relu(bn1(conv1(x))))))."""

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)))


def network(block, blocks):
    """stem conv -> `blocks` blocks (two convs each) -> global average pool -> fc."""
    mc.manual_seed(0)                      # the same initial weights for both kinds
    return nn.Sequential(nn.Conv2d(1, WIDTH, 3, padding=1, bias=False), nn.BatchNorm2d(WIDTH),
                         nn.ReLU(), *[block(WIDTH, WIDTH) for _ in range(blocks)],
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(WIDTH, 10))


def conv_gradient_norms(model, images, labels):
    """||dL/dW|| of every convolution, input side first."""
    model.zero_grad()
    F.cross_entropy(model(images), labels).backward()
    return np.array([np.linalg.norm(m.weight.grad.numpy()) for m in model.modules()
                     if isinstance(m, nn.Conv2d)])


def train(model, loader, steps):
    optimizer = mc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses, batches = [], iter(loader)
    for _ in range(steps):
        try:
            images, labels = next(batches)
        except StopIteration:
            batches = iter(loader)
            images, labels = next(batches)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


loader = DataLoader(load_digits("train"), batch_size=64, shuffle=True, drop_last=True, seed=0)
probe_images, probe_labels = next(iter(loader))          # one fixed batch to measure gradients

# %% [markdown]
# ## Gradients at initialisation and after a few steps
#
# 16 blocks = 33 convolutions.  In the plain stack the gradient's size changes
# steadily from layer to layer (here it grows towards the input: batch norm keeps the
# forward signal's scale but not the backward one), so the layers learn at very
# different speeds.  In the residual stack every block also passes the gradient on
# unchanged through its shortcut, and the norms stay within a small range.

# %%
curves, results = {}, {}
for name, block, blocks in [("plain, 4 blocks", PlainBlock, 4),
                            ("plain, 16 blocks", PlainBlock, 16),
                            ("residual, 16 blocks", BasicBlock, 16)]:
    model = network(block, blocks)
    at_init = conv_gradient_norms(model, probe_images, probe_labels)
    losses = train(model, loader, STEPS)
    after = conv_gradient_norms(model, probe_images, probe_labels)
    curves[name] = (at_init, after)
    results[name] = np.mean(losses[-5:])
    print(f"{name:<20} gradient norm, first conv / last conv: at init "
          f"{at_init[0]:.2e} / {at_init[-1]:.2e} (ratio {at_init[0] / at_init[-1]:6.1f}); "
          f"after {STEPS} steps {after[0]:.2e} / {after[-1]:.2e} "
          f"(ratio {after[0] / after[-1]:6.1f})")

# %% [markdown]
# ## Training loss: deeper plain is worse, deeper residual is better
#
# The mean training loss of the last five of 20 steps.  With so few steps the numbers
# are only a sketch of the paper's Figure 1 (which trains for days), but the order is
# the paper's: the 16-block plain network learns more slowly than the 4-block one,
# while the 16-block residual network learns fastest.

# %%
for name, loss in results.items():
    print(f"{name:<20} training loss {loss:.3f}")
assert results["residual, 16 blocks"] < results["plain, 16 blocks"]

# %%
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

fig = Figure(figsize=(10, 4))
FigureCanvasAgg(fig)
for i, title in enumerate(("at initialisation", f"after {STEPS} steps")):
    ax = fig.add_subplot(1, 2, i + 1)
    for name, pair in curves.items():
        ax.semilogy(pair[i], "o-", markersize=3, label=name)
    ax.set_xlabel("convolution (input side first)")
    ax.set_ylabel("||dL/dW||")
    ax.set_title(title)
    ax.legend()
fig.tight_layout()
fig.savefig(os.path.join(OUT, "resnet_gradient_norms.png"))
