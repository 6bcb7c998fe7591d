# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 3: AlexNet (Krizhevsky, Sutskever & Hinton, 2012)
#
# The network that won ImageNet 2012 by a wide margin: 5 convolutional and 3 fully
# connected layers, ReLU, dropout, overlapping max pooling, local response
# normalisation (LRN), and a model split across two GPUs.  `mc.models.alexnet_2012` is
# the paper's network (torchvision's `alexnet` is a later variant without LRN).
#
# Figures appear below the cells in a notebook and are saved in `$MINICNN_LESSON_OUT`
# (default `lesson-output/`).

# %%
import numpy as np

import minicnn as mc
from minicnn import lessons, nn

mc.manual_seed(0)
model = mc.models.alexnet_2012()
s = mc.summary(model, (3, 227, 227))

# %% [markdown]
# ## The layer table
#
# The lecture's table (input 227x227x3) next to `mc.summary`.  One difference of
# order: the lecture lists each NORM after its POOL; the paper (and minicnn) normalise
# after the ReLU, before pooling -- the output sizes do not change.

# %%
LECTURE = [   # (lecture's layer, its output, minicnn's layer)
    ("CONV1: 96 11x11, stride 4, pad 0", (96, 55, 55), "features.0"),
    ("NORM1", (96, 55, 55), "features.2"),
    ("MAX POOL1: 3x3, stride 2", (96, 27, 27), "features.3"),
    ("CONV2: 256 5x5, stride 1, pad 2", (256, 27, 27), "features.4"),
    ("NORM2", (256, 27, 27), "features.6"),
    ("MAX POOL2: 3x3, stride 2", (256, 13, 13), "features.7"),
    ("CONV3: 384 3x3, stride 1, pad 1", (384, 13, 13), "features.8"),
    ("CONV4: 384 3x3, stride 1, pad 1", (384, 13, 13), "features.10"),
    ("CONV5: 256 3x3, stride 1, pad 1", (256, 13, 13), "features.12"),
    ("MAX POOL3: 3x3, stride 2", (256, 6, 6), "features.14"),
    ("FC6: 4096 neurons", (4096,), "classifier.1"),
    ("FC7: 4096 neurons", (4096,), "classifier.4"),
    ("FC8: 1000 neurons (class scores)", (1000,), "classifier.6"),
]
fmt = "{:<36} {:>13} {:<13} {:>13} {:>12} {:>7}"
print(fmt.format("lecture", "output", "minicnn", "output", "params", "RF"))
for lecture, shape, name in LECTURE:
    row = s[name]
    assert row.output_shape == shape, (name, row.output_shape)
    rf = "x".join(map(str, row.receptive_field))
    print(fmt.format(lecture, "x".join(map(str, shape)), name,
                     "x".join(map(str, row.output_shape)), f"{row.params:,}", rf))
conv1_weights = 11 * 11 * 3 * 96
print(f"\nCONV1 weights: lecture (11*11*3)*96 = {conv1_weights:,} (35K); "
      f"minicnn {s['features.0'].weights:,} (+96 biases)")
assert s["features.0"].weights == conv1_weights
print(f"total parameters: lecture ~60M, minicnn {s.total.params:,}")

# %% [markdown]
# ## Two GPUs, visible as `groups=2`
#
# Each GTX 580 had 3GB, so half of the filters lived on each GPU, and conv2, conv4 and
# conv5 only looked at the channels computed on their own GPU: each of their filters
# sees half the input channels (and half the weights of an unsplit layer).

# %%
for name in ("features.4", "features.10", "features.12"):
    conv = model.get_submodule(name)
    full = conv.out_channels * conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
    print(f"{name}: groups={conv.groups}, weights {s[name].weights:,} "
          f"(unsplit: {full:,})")
    assert conv.groups == 2 and s[name].weights * 2 == full
fc_share = sum(s[n].params for n in ("classifier.1", "classifier.4", "classifier.6"))
print(f"the three fully-connected layers hold {fc_share / s.total.params:.0%} of the parameters; "
      f"the convolutions do {1 - s['classifier'].macs / s.total.macs:.0%} of the arithmetic")

# %% [markdown]
# ## Local response normalisation
#
# Each activation is divided by the energy of its neighbours across channels:
# b_c = a_c / (k + alpha * sum_{c' = c-n/2}^{c+n/2} a_{c'}^2)^beta with the paper's
# k = 2, n = 5, alpha = 1e-4, beta = 0.75.  PyTorch (and minicnn) divide alpha by n,
# so the paper's layer is `LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2)`.

# %%
a = np.random.default_rng(0).uniform(0, 60, size=(1, 8, 2, 2))       # ReLU outputs
k, n, alpha, beta = 2.0, 5, 1e-4, 0.75
by_hand = np.empty_like(a)
for c in range(8):
    window = slice(max(0, c - n // 2), min(8, c + n // 2 + 1))
    by_hand[:, c] = a[:, c] / (k + alpha * (a[:, window] ** 2).sum(axis=1)) ** beta
lrn = nn.LocalResponseNorm(5, alpha=n * alpha, beta=beta, k=k)
got = lrn(mc.tensor(a)).numpy()
mc.utils.assert_close(got, by_hand, name="LRN")
print("paper's formula by hand == minicnn's LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2)")
print("activations of pixel (0, 0) before:", a[0, :, 0, 0].round(1))
print("                            after: ", got[0, :, 0, 0].round(1))

# %% [markdown]
# ## conv1's filters and feature maps
#
# These are *randomly initialised* weights, so the filters look like noise.  The
# trained network's first layer learns oriented edges and colour blobs (the paper's
# Figure 3); load trained weights with `mc.models.alexnet_2012(weights=path)` to see
# them.  The feature maps are conv1's responses to one digit, scaled up to 227x227.

# %%
lessons.show(mc.viz.filters(model.features[0], max_filters=96), "alexnet_conv1")
digit = mc.data.load_digits("test", size=227)[0][0]                 # (1, 227, 227)
image = np.repeat(np.asarray(digit), 3, axis=0)                         # grey -> RGB
fig = mc.viz.feature_maps(model, image, "features.1", max_maps=16)
lessons.show(fig, "alexnet_conv1_maps")

# %% [markdown]
# ## Exercises
#
# 1. The paper says 224x224 inputs, but 227 is what makes the sizes work.  Predict
#    conv1's output size for a 224x224 input with the formula (N - F)/S + 1, then run
#    `mc.summary(model, (3, 224, 224))` and read the error.  Then try torchvision's
#    variant, `mc.models.alexnet()`, on 224x224: what lets it run?
# 2. Undo the two-GPU split of conv2 (`nn.Conv2d(96, 256, 5, padding=2)`, no `groups`).
#    Predict its weight count and its multiply-adds before `mc.summary` counts them.
# 3. In the LRN cell, set `k = 0` and `beta = 1`.  Predict what happens to the largest
#    activation of pixel (0, 0) compared with its neighbours, then run it.
