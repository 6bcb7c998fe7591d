# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 7: Inception v3 (Szegedy et al., 2015) -- factorised convolutions, label smoothing
#
# Two ideas from "Rethinking the Inception Architecture": make large convolutions
# cheaper by factorising them into smaller ones, and regularise the classifier by
# smoothing its targets.  Figures appear below the cells in a notebook and are saved in
# `$MINICNN_LESSON_OUT` (default `lesson-output/`).

# %%
import matplotlib.pyplot as plt
import numpy as np

import minicnn as mc
import minicnn.functional as F
from minicnn import lessons, nn
from minicnn.models.inception import InceptionC

C, SIZE = 192, 17           # channels in and out, and the 17x17 grid of Inception v3's middle

# %% [markdown]
# ## Factorising convolutions
#
# * a 5x5 convolution -> two 3x3 (same 5x5 field): 18/25 of the cost, 28% less;
# * a 3x3 convolution -> 1x3 then 3x1: 6/9 of the cost, 33% less;
# * an nxn convolution -> 1xn then nx1: 2n/n^2; for 7x7, 14/49, 71% less.
#
# The paper's numbers, next to `mc.summary` of minicnn layers (no biases, as in
# Inception v3, whose convolutions are followed by batch norm).

# %%
def convs(*kernels):
    return nn.Sequential(*[nn.Conv2d(C, C, k, padding=(k[0] // 2, k[1] // 2), bias=False)
                           for k in kernels])


CASES = [("5x5", [(5, 5)], "two 3x3", [(3, 3), (3, 3)], 18 / 25),
         ("3x3", [(3, 3)], "1x3 + 3x1", [(1, 3), (3, 1)], 6 / 9),
         ("7x7", [(7, 7)], "1x7 + 7x1", [(1, 7), (7, 1)], 14 / 49)]
print(f"{'conv':<6} {'mult-adds':>12} {'factorised':<11} {'mult-adds':>12} {'ratio':>6} "
      f"{'paper':>6}  receptive field")
for name, kernels, fname, fkernels, paper in CASES:
    full, factorised = (mc.summary(convs(*k), (C, SIZE, SIZE)) for k in (kernels, fkernels))
    ratio = factorised.total.macs / full.total.macs
    last = str(len(fkernels) - 1)
    print(f"{name:<6} {full.total.macs:>12,} {fname:<11} {factorised.total.macs:>12,} "
          f"{ratio:>6.3f} {paper:>6.3f}  {full['0'].receptive_field} -> "
          f"{factorised[last].receptive_field}")
    assert abs(ratio - paper) < 1e-12
    assert full["0"].receptive_field == factorised[last].receptive_field

# %% [markdown]
# In Inception v3 itself, the 17x17 modules (`Mixed_6b` to `Mixed_6e`, class
# `InceptionC`) use 1x7 and 7x1 convolutions: the "double" branch stacks four of them
# and sees 13x13 with far fewer weights than two 7x7 layers.

# %%
module = InceptionC(768, channels_7x7=128)
s = mc.summary(module, (768, SIZE, SIZE))
for name in ("branch7x7dbl_2.conv", "branch7x7dbl_3.conv", "branch7x7dbl_4.conv",
             "branch7x7dbl_5.conv"):
    conv = module.get_submodule(name)
    print(f"{name:<20} kernel {conv.kernel_size}, receptive field {s[name].receptive_field}")
factorised = sum(s[f"branch7x7dbl_{i}.conv"].weights for i in (2, 3, 4, 5))
two_7x7 = 49 * 128 * 128 + 49 * 128 * 192
print(f"the four factorised convs: {factorised:,} weights; two full 7x7 convs: {two_7x7:,}")
assert s["branch7x7dbl_5.conv"].receptive_field == (13, 13)

# %% [markdown]
# ## Label smoothing
#
# Cross-entropy against a one-hot target pushes the correct logit to infinity: the
# network grows ever more confident.  Label smoothing mixes the target with the uniform
# distribution: q = (1 - eps) * onehot + eps / K, with eps = 0.1 in Inception v3.
# `F.cross_entropy(..., label_smoothing=eps)` does this; first check it by hand.

# %%
K, eps = 10, 0.1
rng = np.random.default_rng(0)
logits = rng.standard_normal((4, K))
targets = np.array([0, 3, 9, 3])
q = (1 - eps) * np.eye(K)[targets] + eps / K
log_p = logits - logits.max(axis=1, keepdims=True)
log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
by_hand = -(q * log_p).sum(axis=1).mean()
ours = F.cross_entropy(mc.tensor(logits), mc.tensor(targets), label_smoothing=eps).item()
print(f"smoothed target for class 3: {q[1].round(3)}")
print(f"loss by hand {by_hand:.6f}, minicnn {ours:.6f}")
assert abs(by_hand - ours) < 1e-12

# %% [markdown]
# With smoothing the loss has a finite minimum.  Give the correct class a logit g and
# the others 0: the loss is smallest where the softmax equals q, at
# g* = log(1 + K(1 - eps)/eps) -- for ImageNet's K = 1000, g* = log(9001) = 9.1.
# Without smoothing the loss only keeps falling as g grows.

# %%
K = 1000
gaps = np.linspace(0, 20, 401)
z = np.zeros((len(gaps), K))
z[:, 0] = gaps
y = mc.tensor(np.zeros(len(gaps), dtype=np.int64))
smooth = F.cross_entropy(mc.tensor(z), y, label_smoothing=eps, reduction="none").numpy()
plain = F.cross_entropy(mc.tensor(z), y, reduction="none").numpy()
best, formula = gaps[smooth.argmin()], np.log(1 + K * (1 - eps) / eps)
print(f"K={K}, eps={eps}: loss is smallest at g = {best:.2f} (formula {formula:.2f}); "
      f"without smoothing the loss at g=20 is {plain[-1]:.2e} and still falling")
assert abs(best - formula) < 0.05
assert np.all(np.diff(plain) < 0)

fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(gaps, plain, label="one-hot target: keeps falling")
ax.plot(gaps, smooth, label=f"smoothed target, eps = {eps}: a minimum")
ax.axvline(formula, color="grey", linestyle=":")
ax.annotate(f"g* = log(1 + K(1 - eps)/eps) = {formula:.2f}", (formula, smooth.min()),
            xytext=(formula + 0.8, smooth.min() + 2), arrowprops=dict(arrowstyle="->"))
ax.set_xlabel("g: the correct class's logit (the 999 others at 0)")
ax.set_ylabel("cross-entropy loss")
ax.set_title(f"why label smoothing stops the logits growing (K = {K})")
ax.legend()
lessons.show(fig, "label_smoothing_loss")

# %% [markdown]
# ## Exercises
#
# 1. Set `eps = 0.2` in the last cell.  Predict g* with the formula before you run it;
#    does the curve's minimum get deeper or shallower, and why?
# 2. Redo the last cell with K = 10 classes (CIFAR-10) and eps = 0.1.  Predict g*, and
#    the loss at that minimum compared with K = 1000.
# 3. Factorise the 5x5 convolution into 1x5 then 5x1 instead of two 3x3 (a new row of
#    `CASES`).  Predict the cost ratio and the receptive field, then let `mc.summary`
#    check you.
