# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 5: GoogLeNet (Szegedy et al., 2014) -- the inception module
#
# An inception module runs 1x1, 3x3 and 5x5 convolutions and a 3x3 max pooling side by
# side on the same input and concatenates the results along the channels.  Done
# naively this is very expensive; 1x1 "bottleneck" convolutions that first shrink the
# number of channels make it affordable.  The lecture's example: an input of
# 28x28x256.

#
# Figures appear below the cells in a notebook and are saved in `$MINICNN_LESSON_OUT`
# (default `lesson-output/`).

# %%
import matplotlib.pyplot as plt
import numpy as np

import minicnn as mc
import minicnn.functional as F
from minicnn import lessons
from minicnn.models.googlenet import Inception2014, NaiveInception


# %% [markdown]
# ## Naive module: 854M multiply-adds
#
# The lecture counts, for each conv, output size times filter size:
# 28x28x128 x 1x1x256 + 28x28x192 x 3x3x256 + 28x28x96 x 5x5x256 = 854M.  And the
# pooling branch keeps all 256 channels, so the output (672 channels) is deeper than
# the input: stacking such modules only grows.

# %%
LECTURE_NAIVE = {"branch1": 28 * 28 * 128 * 1 * 1 * 256, "branch3": 28 * 28 * 192 * 3 * 3 * 256,
                 "branch5": 28 * 28 * 96 * 5 * 5 * 256}
naive = mc.summary(NaiveInception(256, 128, 192, 96), (256, 28, 28))
for name, ops in LECTURE_NAIVE.items():
    print(f"{name}: lecture {ops / 1e6:6.1f}M   minicnn {naive[name].macs / 1e6:6.1f}M")
    assert naive[name].macs == ops
print(f"total:   lecture {sum(LECTURE_NAIVE.values()) / 1e6:.0f}M   minicnn "
      f"{naive.total.macs / 1e6:.0f}M; output {naive.total.output_shape} (lecture 672x28x28)")
assert naive.total.output_shape == (672, 28, 28)

# %% [markdown]
# ## With 1x1 bottlenecks: 271M (the slide says 358M; its rows as printed, 331.6M)
#
# 1x1 convolutions to 64 channels go before the 3x3 and 5x5 convolutions, and one after
# the pooling.  minicnn's `Inception2014` (the paper's module, used by
# `mc.models.googlenet_2014`) is built that way; its arguments are the paper's table
# columns: in, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.  The slide
# (../shared/seeds/002) prints its 5x5 row as (28x28)x(5x5)x(96x96) = 180.6M, as if the 5x5
# saw 96 channels; its reduce layer gives it 64, so the row the module computes is
# (28x28)x(5x5)x(64x96) = 120.4M.  With the slide's row the six rows add up to 331.6M,
# with the module's to 271M, and the slide's total, 358M, is neither.  271M is still a
# third of the naive module's cost, and the output is 480 channels instead of 672.

# %%
LECTURE_BOTTLENECK = {
    "branch2.0.conv": 28 * 28 * 64 * 1 * 1 * 256,     # 1x1 reduce before the 3x3
    "branch3.0.conv": 28 * 28 * 64 * 1 * 1 * 256,     # 1x1 reduce before the 5x5
    "branch1.conv": 28 * 28 * 128 * 1 * 1 * 256,
    "branch2.1.conv": 28 * 28 * 192 * 3 * 3 * 64,
    "branch3.1.conv": 28 * 28 * 96 * 5 * 5 * 64,     # the slide prints 96x96 here
    "branch4.1.conv": 28 * 28 * 64 * 1 * 1 * 256,     # 1x1 after the pooling
}
module = Inception2014(256, 128, 64, 192, 64, 96, 64)
bottleneck = mc.summary(module, (256, 28, 28))
for name, ops in LECTURE_BOTTLENECK.items():
    print(f"{name:<15} lecture {ops / 1e6:6.1f}M   minicnn {bottleneck[name].macs / 1e6:6.1f}M")
    assert bottleneck[name].macs == ops
print(f"total:          lecture rows {sum(LECTURE_BOTTLENECK.values()) / 1e6:.0f}M   minicnn "
      f"{bottleneck.total.macs / 1e6:.0f}M; output {bottleneck.total.output_shape} "
      "(lecture 480x28x28)")
print(f"parameters: naive {naive.total.params:,}, with bottlenecks {bottleneck.total.params:,}")
assert bottleneck.total.output_shape == (480, 28, 28)

# the two modules' multiply-adds, branch by branch, as measured by mc.summary
fig, ax = plt.subplots(figsize=(8, 4))
labels = ["1x1 branch", "3x3 branch", "5x5 branch", "pooling branch"]
for offset, (name, table, branches, colour) in enumerate([
        ("naive", naive, ["branch1", "branch3", "branch5", "pool"], "tab:red"),
        ("1x1 bottlenecks", bottleneck, ["branch1", "branch2", "branch3", "branch4"], "tab:blue")]):
    macs = [table[b].macs / 1e6 for b in branches]
    bars = ax.bar(np.arange(4) + 0.4 * offset - 0.2, macs, width=0.4, color=colour,
                  label=f"{name}: {table.total.macs / 1e6:.0f}M in all, output "
                        f"{table.total.output_shape[0]} channels")
    ax.bar_label(bars, fmt="%.0fM", fontsize=8)
ax.set_xticks(np.arange(4), labels)
ax.set_ylabel("multiply-adds (millions)")
ax.set_ylim(0, naive.total.macs / 1e6 * 0.75)
ax.legend(loc="upper left")
ax.set_title("an inception module on a 28x28x256 input\n(bottlenecks: a 1x1 reduce before "
             "the 3x3 and the 5x5, a 1x1 after the pooling)", fontsize=10)
lessons.show(fig, "inception_module_cost")

# %% [markdown]
# ## Auxiliary classifiers
#
# GoogLeNet is 22 layers deep.  To give the middle layers a strong gradient signal,
# two small classifiers branch off after inception 4a and 4d during training; their
# losses are added with weight 0.3.  At test time they are switched off.  (This is
# torchvision's GoogLeNet, with batch norm, on a small 64x64 input so the lesson runs
# fast: its auxiliary heads pool adaptively to 4x4.)

# %%
mc.manual_seed(0)
net = mc.models.googlenet(num_classes=10, aux_logits=True)
x = mc.tensor(np.random.default_rng(0).standard_normal((2, 3, 64, 64), dtype=np.float32))
y = mc.tensor(np.array([3, 7]))
net.train()
logits, aux2, aux1 = net(x)
print("training outputs: logits", logits.shape, "aux2 (after 4d)", aux2.shape,
      "aux1 (after 4a)", aux1.shape)
losses = [F.cross_entropy(out, y) for out in (logits, aux1, aux2)]
loss = losses[0] + 0.3 * (losses[1] + losses[2])
print("loss = main + 0.3 * (aux1 + aux2) = "
      f"{losses[0].item():.3f} + 0.3 * ({losses[1].item():.3f} + {losses[2].item():.3f}) "
      f"= {loss.item():.3f}")
loss.backward()
print("gradient reaching inception3a from all three heads: "
      f"{np.linalg.norm(net.inception3a.branch1.conv.weight.grad.numpy()):.3e}")
net.eval()
with mc.no_grad():
    print("evaluation output:", net(x).shape, "(the auxiliary heads do not run)")
aux = sum(p.numel() for m in (net.aux1, net.aux2) for p in m.parameters())
main = sum(p.numel() for p in net.parameters()) - aux
imagenet = main + (1000 - 10) * (1024 + 1)           # the fc layer for 1000 classes
print(f"parameters without the auxiliary heads: {main:,} for 10 classes, {imagenet:,} for "
      f"1000 (the lecture: 'only 5 million', 12x fewer than AlexNet's 60M); the heads add "
      f"{aux:,} during training only")

# %% [markdown]
# ## Exercises
#
# 1. Make the bottlenecks narrower: 32 channels instead of 64 before the 3x3 and the
#    5x5 convolutions (`Inception2014(256, 128, 32, 192, 32, 96, 64)`).  Predict the new
#    total multiply-adds from the formula before `mc.summary` counts them.
# 2. Stack a second naive module on the first one's 672-channel output
#    (`NaiveInception(672, 128, 192, 96)`).  Predict its output depth and its cost.
#    Why does the lecture call the naive module a dead end for deep networks?
# 3. Train-step the network without the auxiliary heads' losses (`loss = losses[0]`).
#    Predict whether the gradient norm reaching `inception3a` grows or shrinks, then
#    compare with the number printed above.
