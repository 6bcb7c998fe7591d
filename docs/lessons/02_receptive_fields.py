# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 2: receptive fields -- stacked 3x3 versus 5x5 and 7x7
#
# The receptive field of a unit is the patch of the input image it depends on.  One
# 3x3 convolution sees 3x3; stack a second on top and each of its units sees 3x3
# units below, each seeing 3x3 pixels: 5x5 in all.  Three stacked 3x3 layers see 7x7.
# VGG's argument: three 3x3 layers see as much as one 7x7 layer, with fewer
# parameters (3 * 9C^2 = 27C^2 against 49C^2 for C channels in and out) and three
# non-linearities instead of one.
#
# Figures appear below the cells in a notebook and are saved in `$MINICNN_LESSON_OUT`
# (default `lesson-output/`).

# %%
import numpy as np

import minicnn as mc
from minicnn import lessons, nn

C = 64      # channels in and out of every layer


def stack(kernel, layers, channels=C):
    """`layers` convolutions kernel x kernel (padding keeps the size), ReLU between them."""
    modules = []
    for i in range(layers):
        modules += [nn.Conv2d(channels, channels, kernel, padding=kernel // 2), nn.ReLU()]
    return nn.Sequential(*modules[:-1])


# %% [markdown]
# ## Parameters and receptive field, the lecture's numbers next to minicnn's
#
# The receptive field of n stacked KxK convolutions (stride 1) grows by K-1 per layer:
# 1 + n(K-1).  `mc.summary` tracks it layer by layer; `mc.viz.receptive_field_of`
# finds it by walking the autograd graph backwards from one unit, and checks it with a
# real gradient.

# %%
print(f"{'stack':<14} {'weights: lecture':>17} {'minicnn':>9} {'RF: lecture':>12} "
      f"{'summary':>8} {'viz':>6}")
for kernel, layers in [(3, 1), (3, 2), (3, 3), (5, 1), (7, 1)]:
    model = stack(kernel, layers)
    lecture_weights = layers * kernel * kernel * C * C            # biases aside
    lecture_rf = 1 + layers * (kernel - 1)
    s = mc.summary(model, (C, 15, 15))
    viz_rf = mc.viz.receptive_field_of(model, (C, 15, 15), str(2 * layers - 2), (7, 7))
    rf = s[str(2 * layers - 2)].receptive_field
    assert s.total.weights == lecture_weights and rf == viz_rf.size == (lecture_rf,) * 2
    print(f"{layers} x {kernel}x{kernel:<8} {lecture_weights:>17,} {s.total.weights:>9,} "
          f"{lecture_rf:>10}x{lecture_rf} {rf[0]:>6}x{rf[1]} {viz_rf.size[0]:>4}x{viz_rf.size[1]}")
print(f"\nthree 3x3 layers: {27 * C * C:,} weights = 27C^2; one 7x7: {49 * C * C:,} = 49C^2 "
      f"({1 - 27 / 49:.0%} fewer for the same 7x7 field)")

# %% [markdown]
# ## Seeing it: the gradient of one unit
#
# The figure shows |d unit / d pixel| for the centre unit of three stacked 3x3 layers:
# nonzero exactly on a 7x7 square (with random weights some paths may be switched off
# by the ReLUs).  Near the border part of the field lies in the zero padding: the unit
# at the corner sees only 4x4 real pixels.

# %%
mc.manual_seed(0)
three = stack(3, 3, channels=4)
centre = mc.viz.receptive_field_of(three, (4, 15, 15), "4", (7, 7))
corner = mc.viz.receptive_field_of(three, (4, 15, 15), "4", (0, 0))
print("centre unit sees rows", centre.rows, "cols", centre.cols, "-> size", centre.size)
print("corner unit sees rows", corner.rows, "cols", corner.cols, "-> size", corner.size,
      f"(nominal {corner.nominal})")
assert not ((centre.gradient > 0) & ~centre.mask).any()
lessons.show(mc.viz.receptive_field(three, (4, 15, 15), "4", (7, 7)), "receptive_field_3x3x3")

# %% [markdown]
# ## The effective receptive field is smaller than the nominal one
#
# Not all pixels in the field count equally.  With every weight 1, the gradient at a
# pixel counts the paths from it to the unit: along one axis three stacked [1, 1, 1]
# filters give [1, 3, 6, 7, 6, 3, 1], and in 2-D the counts multiply -- the centre
# pixel reaches the unit through 49 times more paths than a corner one.  Deep networks'
# fields are Gaussian-like bumps.

# %%
ones = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1, bias=False) for _ in range(3)])
for p in ones.parameters():
    p.data[...] = 1
field = mc.viz.receptive_field_of(ones, (1, 15, 15), "2", (7, 7), x=np.ones((1, 15, 15)))
print("paths from each pixel of the 7x7 field to the centre unit:")
print(field.gradient[4:11, 4:11].astype(int))
assert np.array_equal(field.gradient[4:11, 4:11],
                      np.outer([1, 3, 6, 7, 6, 3, 1], [1, 3, 6, 7, 6, 3, 1]))

# %% [markdown]
# ## Exercises
#
# 1. Put a 2x2 max pooling (stride 2) between the first and second of three 3x3
#    layers (`nn.MaxPool2d(2)` in an `nn.Sequential` of your own).  Predict the receptive
#    field of the top unit (a pooling doubles the step between the units above it),
#    then check with `mc.summary` and `mc.viz.receptive_field_of`.
# 2. Two stacked 5x5 layers against three 3x3: predict the field size and the weights
#    (in C^2) of each, then add `(5, 2)` to the first table.
# 3. In the last cell, stack 5 all-ones 3x3 layers instead of 3.  Predict the size of
#    the field and how many times more paths reach the centre pixel than a corner one.
