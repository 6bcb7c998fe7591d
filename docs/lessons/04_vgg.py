# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 4: VGG (Simonyan & Zisserman, 2014) -- where the memory and the parameters go
#
# VGG uses only 3x3 convolutions (stride 1, padding 1) and 2x2 max pooling, doubling
# the channels after each pooling: 64, 128, 256, 512, 512.  The lecture walks through
# VGG-16 layer by layer, counting the activations one image needs in memory and the
# parameters.  Here are its numbers next to `mc.summary(mc.models.vgg16(), ...)`.

#
# Figures appear below the cells in a notebook and are saved in `$MINICNN_LESSON_OUT`
# (default `lesson-output/`).

# %%
import matplotlib.pyplot as plt
import numpy as np

import minicnn as mc
from minicnn import lessons
from minicnn.models.vgg import CFGS, make_layers

mc.manual_seed(0)
model = mc.models.vgg16()
s = mc.summary(model, (3, 224, 224))


# %% [markdown]
# ## The lecture's table
#
# Memory = values in the layer's output (H*W*C); params = weights, biases left out
# (3*3*C_in*C_out for a conv).

# %%
def conv(h, c_in, c_out):
    return (f"CONV3-{c_out}", (c_out, h, h), 3 * 3 * c_in * c_out)


def pool(h, c):
    return ("POOL2", (c, h, h), 0)


LECTURE = [("INPUT", (3, 224, 224), 0),
           conv(224, 3, 64), conv(224, 64, 64), pool(112, 64),
           conv(112, 64, 128), conv(112, 128, 128), pool(56, 128),
           conv(56, 128, 256), conv(56, 256, 256), conv(56, 256, 256), pool(28, 256),
           conv(28, 256, 512), conv(28, 512, 512), conv(28, 512, 512), pool(14, 512),
           conv(14, 512, 512), conv(14, 512, 512), conv(14, 512, 512), pool(7, 512),
           ("FC", (4096,), 7 * 7 * 512 * 4096), ("FC", (4096,), 4096 * 4096),
           ("FC", (1000,), 4096 * 1000)]
# minicnn's layers in the same order: the convs, pools and linears of `features`/`classifier`
ours = [r for r in s.rows if r.kind in ("Conv2d", "MaxPool2d", "Linear")]
fmt = "{:<10} {:>12} {:>11} {:>13} | {:<13} {:>11} {:>13}"
print(fmt.format("lecture", "shape", "memory", "params", "minicnn", "memory", "weights"))
lecture_memory = lecture_params = 0
for (name, shape, params), row in zip(LECTURE, [None] + ours):
    memory = int(np.prod(shape))
    lecture_memory, lecture_params = lecture_memory + memory, lecture_params + params
    mine = ("input", memory, 0) if row is None else (row.name, row.activations, row.weights)
    assert mine[1:] == (memory, params), (name, row)
    print(fmt.format(name, "x".join(map(str, shape)), f"{memory:,}", f"{params:,}",
                     mine[0], f"{mine[1]:,}", f"{mine[2]:,}"))
our_memory = 3 * 224 * 224 + sum(r.activations for r in ours)
print(f"\ntotal memory: the rows add up to {lecture_memory / 1e6:.1f}M values "
      f"(the slide's total, '24M', does not match them); minicnn {our_memory / 1e6:.1f}M = "
      f"{our_memory * 4 / 2 ** 20:.0f} MB per image in float32, forward only "
      "(about twice that with backward)")
print(f"total parameters: lecture {lecture_params / 1e6:.1f}M weights + "
      f"{s.total.params - s.total.weights:,} biases; minicnn {s.total.params:,}")
assert our_memory == lecture_memory and s.total.weights == lecture_params

# %% [markdown]
# ## Memory early, parameters late
#
# Most of the memory sits in the first convolutions (large images), most of the
# parameters in the first fully-connected layer (7*7*512 inputs times 4096).

# %%
early = s["features.0"].activations + s["features.2"].activations
print(f"the first two convs hold {early / (our_memory - 3 * 224 * 224):.0%} of the activations")
print(f"the first FC layer holds {s['classifier.0'].params / s.total.params:.0%} of the parameters")

fig, axes = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
names = [name for name, _, _ in LECTURE[1:]]
where = np.arange(len(ours))
axes[0].bar(where, [r.activations * 4 / 2 ** 20 for r in ours], color="tab:orange")
axes[0].set_ylabel("activations, MB\n(float32, one image)")
axes[1].bar(where, [r.params / 1e6 for r in ours], color="tab:blue")
axes[1].set_ylabel("parameters, millions")
axes[1].set_xticks(where, names, rotation=90, fontsize=8)
for ax in axes:
    ax.set_yscale("log")
    ax.grid(axis="y", alpha=0.3)
fig.suptitle("VGG-16, layer by layer: memory early, parameters late (log scales)")
lessons.show(fig, "vgg16_memory_and_parameters")

# %% [markdown]
# ## All configurations of the paper (Table 2, millions of parameters)
#
# Configurations A to E differ only in their convolutions; the three fully-connected
# layers (123.6M parameters) are the same.  C is VGG-16 with 1x1 convolutions closing
# stages 3 to 5 (`mc.models.vgg16_c`); A-LRN adds an LRN layer after the first conv.

# %%
classifier = sum(p.numel() for p in model.classifier.parameters())
PAPER = {"A": 133, "A-LRN": 133, "B": 133, "C": 134, "D": 138, "E": 144}
for cfg, paper in PAPER.items():
    features = sum(p.numel() for p in make_layers(CFGS[cfg]).parameters())
    total = features + classifier
    print(f"{cfg:<6} paper {paper}M   minicnn {total:>12,} = {total / 1e6:.1f}M")
    assert round(total / 1e6) == paper

# %% [markdown]
# ## Exercises
#
# 1. Training keeps every activation for the backward pass.  Predict how many MB of
#    activations VGG-16 needs for a batch of 64 images in float32, forward only and
#    roughly with backward; then compute it from `our_memory`.  Would it fit on the
#    lecture's 3 GB GPU of 2012?
# 2. Replace the first FC layer (7x7x512 -> 4096) by global average pooling followed by
#    a 512 -> 4096 layer, as later networks do.  Predict the new parameter total before
#    counting it with `mc.summary` on your own `nn.Sequential`.
# 3. Feed a 112x112 image instead of 224x224 (`mc.summary(mc.models.vgg16(), (3, 112,
#    112))`).  Predict which of the two bar charts changes and by how much.  What
#    happens at the first FC layer, and why does minicnn's VGG still run?
