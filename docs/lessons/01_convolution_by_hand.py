# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 1: convolution by hand
#
# A convolution layer slides each filter over the input volume and, at every position,
# takes the dot product of the filter with the patch under it (all input channels at
# once) and adds the filter's bias.  This lesson repeats the lecture's worked example --
# a 3-channel input, two 3x3x3 filters, stride 2, padding 1 -- three ways: with loops,
# with `minicnn.functional.conv2d`, and with im2col + one matrix product (how minicnn
# computes it), then checks the output-size formula.
#
# Run it as a script (`python docs/lessons/01_convolution_by_hand.py`) or open it as a
# notebook (`jupytext --to notebook ...`).  Figures appear below the cells in a notebook
# and are saved in `$MINICNN_LESSON_OUT` (default `lesson-output/`).

# %%
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

import minicnn as mc
import minicnn.functional as F
from minicnn import lessons

# %% [markdown]
# ## The worked example
#
# Input volume 5x5x3 (stored channels first: (N, C, H, W) = (1, 3, 5, 5)), small
# integers as in the lecture's demo; filters W0 and W1 of size 3x3x3 with entries in
# {-1, 0, 1}; biases b0 = 1, b1 = 0.

# %%
rng = np.random.default_rng(231)
x = rng.integers(0, 3, size=(1, 3, 5, 5)).astype(np.float64)      # (N, C, H, W)
w = rng.integers(-1, 2, size=(2, 3, 3, 3)).astype(np.float64)     # (filters, C, kh, kw)
b = np.array([1.0, 0.0])
stride, padding = 2, 1
for c in range(3):
    print(f"x[:, :, {c}] (channel {c}):\n{x[0, c].astype(int)}")

# %% [markdown]
# ### 1. Loops: exactly the definition
#
# Zero-pad by 1 (5x5 -> 7x7), then for every output position (i, j) take the 3x3x3
# patch starting at (i*stride, j*stride): output = sum(patch * filter) + bias.

# %%
padded = np.pad(x[0], ((0, 0), (padding, padding), (padding, padding)))     # (3, 7, 7)
out_size = (5 + 2 * padding - 3) // stride + 1                                # 3
by_hand = np.zeros((2, out_size, out_size))
for f in range(2):
    for i in range(out_size):
        for j in range(out_size):
            patch = padded[:, i * stride:i * stride + 3, j * stride:j * stride + 3]
            by_hand[f, i, j] = (patch * w[f]).sum() + b[f]
print("output volume 3x3x2 by hand:")
for f in range(2):
    print(f"o[:, :, {f}]:\n{by_hand[f].astype(int)}")

# One number spelled out: the top-left output of filter 0.
patch = padded[:, 0:3, 0:3]
terms = [f"{(patch[c] * w[0, c]).sum():+.0f}" for c in range(3)]
print(f"o[0, 0, 0] = {' '.join(terms)} (one per channel) {b[0]:+.0f} (bias) "
      f"= {by_hand[0, 0, 0]:.0f}")

# %% [markdown]
# The same numbers as a picture: the padded input (inside the dashed square: the real
# 5x5 input; around it, the zeros of the padding), the two filters, and the two output
# maps.  The outlined 3x3x3 patch times
# W0, summed, plus b0, is the outlined output number; moving the patch 2 columns right
# (stride 2) gives the next one.

# %%
def grid(ax, values, title, cmap="coolwarm", limit=None):
    """An integer array drawn as coloured cells with their values written in."""
    limit = limit or max(1, np.abs(values).max())
    ax.imshow(values, cmap=cmap, vmin=-limit, vmax=limit)
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


fig, axes = plt.subplots(3, 4, figsize=(9, 7))
for c in range(3):
    grid(axes[0, c], padded[c], f"input channel {c} (padded)", limit=4)
    axes[0, c].add_patch(Rectangle((-0.5, -0.5), 3, 3, fill=False, edgecolor="black", lw=2))
    axes[0, c].add_patch(Rectangle((0.5, 0.5), 5, 5, fill=False, edgecolor="grey", lw=1.5,
                                   linestyle="--"))
    for f in range(2):
        grid(axes[1 + f, c], w[f, c], f"W{f} channel {c}", limit=1.5)
for f in range(2):
    grid(axes[1 + f, 3], by_hand[f], f"output map {f} (b{f} = {b[f]:.0f})")
axes[1, 3].add_patch(Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor="black", lw=2))
axes[0, 3].axis("off")
axes[0, 3].text(0, 0.5, "stride 2, padding 1:\n5x5x3 input\n-> 3x3x2 output", fontsize=10)
fig.suptitle("the worked convolution: o = sum(patch * W) + b")
lessons.show(fig, "convolution_worked_example")

# %% [markdown]
# ### 2. minicnn's `conv2d`

# %%
y = F.conv2d(mc.tensor(x), mc.tensor(w), mc.tensor(b), stride=stride, padding=padding)
print("minicnn conv2d output shape:", y.shape)
assert np.array_equal(y.numpy()[0], by_hand)
print("minicnn agrees with the loops")

# %% [markdown]
# ### 3. im2col: the convolution as one matrix product
#
# Every 3x3x3 patch becomes a column of 27 numbers (9 output positions -> 9 columns).
# Each filter becomes a row of 27 numbers.  Then all outputs of all filters are one
# matrix product: (2, 27) @ (27, 9) = (2, 9), reshaped to (2, 3, 3).  Fast matrix
# multiplication is why every library computes convolutions this way (or a variant).

# %%
col = F.im2col(x, (3, 3), stride, padding)[0]     # an array op: (C*kh*kw, OH*OW)
print("im2col matrix:", col.shape, "-- column 0 is the top-left patch:")
print(col[:, 0].astype(int))
assert np.array_equal(col[:, 0], patch.reshape(-1))
as_matmul = (w.reshape(2, -1) @ col + b[:, None]).reshape(2, out_size, out_size)
assert np.array_equal(as_matmul, by_hand)
print("filters (2, 27) @ columns (27, 9) gives the same output")

# %% [markdown]
# ## Output sizes
#
# Along each axis: output = (N - F + 2P) / S + 1 for input size N, filter size F,
# padding P, stride S.  When the division is not exact, the lecture says the filter
# "doesn't fit"; PyTorch (and minicnn) round down and ignore the last rows/columns.

# %%
print(f"{'input':>6} {'filter':>6} {'stride':>6} {'pad':>4} | {'lecture':>14} | minicnn")
for n, f, s, p in [(7, 3, 1, 0), (7, 3, 2, 0), (7, 3, 3, 0), (7, 3, 1, 1), (32, 5, 1, 2),
                   (32, 5, 1, 0), (227, 11, 4, 0), (224, 3, 1, 1)]:
    exact = (n - f + 2 * p) / s + 1
    lecture = f"{exact:g}" if exact == int(exact) else f"{exact:.2f}: no fit"
    got = F.conv2d(mc.tensor(np.zeros((1, 1, n, n))), mc.tensor(np.zeros((1, 1, f, f))),
                   stride=s, padding=p).shape[-1]
    assert got == int(exact)
    print(f"{n:>6} {f:>6} {s:>6} {p:>4} | {lecture:>14} | {got}")

# %% [markdown]
# "Same" padding keeps the size at stride 1: P = (F - 1) / 2, so 1 for 3x3, 2 for 5x5,
# 3 for 7x7.
#
# ## Parameters
#
# The lecture's example: input 32x32x3, ten 5x5 filters with stride 1 and padding 2.
# Output 32x32x10; each filter has 5*5*3 + 1 = 76 parameters (+1 for the bias), 760 in
# all.

# %%
layer = mc.nn.Conv2d(3, 10, kernel_size=5, stride=1, padding=2)
out = layer(mc.tensor(np.zeros((1, 3, 32, 32), dtype=np.float32)))
params = sum(p.numel() for p in layer.parameters())
print(f"output {out.shape[1:]} (lecture 10x32x32), parameters {params} (lecture 760)")
assert out.shape == (1, 10, 32, 32) and params == 760

# %% [markdown]
# A 1x1 convolution is a dot product over the channels at each pixel: 56x56x64 with
# 32 filters 1x1 gives 56x56x32, with 64*32 + 32 parameters.

# %%
one_by_one = mc.nn.Conv2d(64, 32, kernel_size=1)
print("1x1 conv:", one_by_one(mc.tensor(np.zeros((1, 64, 56, 56), dtype=np.float32))).shape,
      "parameters", sum(p.numel() for p in one_by_one.parameters()))

# %% [markdown]
# ## Exercises
#
# Change one thing, predict the result on paper first, then run the cells and compare.
#
# 1. Set `stride = 1` (padding still 1).  Predict the output size with the formula, and
#    whether the top-left output number changes.  Run the loops and `conv2d` and compare.
# 2. Set `padding = 0` with stride 2.  Predict the output size and which of the nine
#    outputs above survive (hint: which patches never touched the zero border?).
# 3. Replace W0 by a filter that is 1 at the centre of channel 0 and 0 everywhere else
#    (`w[0] = 0; w[0, 0, 1, 1] = 1`).  Predict output map 0 before you run it: what does
#    this filter do to the image?
