# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 9: Beyond ResNet -- the lecture's "other architectures", and the complexity chart
#
# After the five case studies (AlexNet, VGG, GoogLeNet, ResNet) the lecture lists the
# networks that followed: Network in Network, pre-activation ResNet, Wide ResNet,
# ResNeXt, stochastic depth, FractalNet, DenseNet, SqueezeNet (and MobileNet v2, what
# one tries next).  Each has one idea that fits in a few lines of minicnn: this lesson
# shows each idea with numbers minicnn computes, then re-draws the lecture's "comparing
# complexity" chart (top-1 accuracy against operations, bubble size = parameters) from
# `mc.summary`'s own counts.  Figures appear below the cells in a notebook and are saved
# in `$MINICNN_LESSON_OUT` (default `lesson-output/`); the short mode
# (`MINICNN_LESSON_SHORT=1`, what the tests run) draws the chart from the five cheapest
# networks only.

# %%
import matplotlib.pyplot as plt
import numpy as np

import minicnn as mc
import minicnn.functional as F
from minicnn import lessons, nn
from minicnn.models import fractalnet

mc.manual_seed(0)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


# %% [markdown]
# ## Network in Network (2013): 1x1 convolutions, and no fully connected layers
#
# An "mlpconv" layer is a conv followed by 1x1 convs: a small MLP slid over every
# position.  And the classifier is global average pooling of one map per class -- no
# weights at all.  Compare with an AlexNet-style head on the same 192x8x8 features.

# %%
nin = mc.models.nin_cifar10()
fc_head = nn.Sequential(nn.Flatten(), nn.Linear(192 * 8 * 8, 4096), nn.ReLU(),
                        nn.Linear(4096, 10))
gap_head = nin.features[16:]                 # the last mlpconv block (3x3, 1x1, 1x1)
print(f"NiN: {n_params(nin):,} parameters; last mlpconv block + global average pooling: "
      f"{n_params(gap_head):,}; an fc head 12288-4096-10 instead: {n_params(fc_head):,}")
assert n_params(nin) == 966_986

# %% [markdown]
# ## Pre-activation ResNet (2016): the identity path stays an identity
#
# He et al.'s second paper moves batch norm and ReLU *before* each conv, so a block is
# x + F(x) with nothing after the addition: the signal of block l reaches block L
# unchanged, x_L = x_l + sum of the residuals.  A stack of such blocks with their
# residual branches switched off is exactly the identity:

# %%
from minicnn.models.preact_resnet import PreActBasicBlock

blocks = nn.Sequential(*[PreActBasicBlock(16, 16) for _ in range(10)]).double().eval()
for block in blocks:
    nn.init.zeros_(block.conv2.weight)       # F(x) = 0
x = mc.tensor(np.random.default_rng(0).standard_normal((1, 16, 8, 8)))
with mc.no_grad():
    assert np.array_equal(blocks(x).numpy(), x.numpy())
print("10 pre-activation blocks with zero residuals: output == input exactly "
      "(the original ResNet's ReLU after each addition would clip the negatives)")

# %% [markdown]
# ## Wide ResNet (2016): fewer, wider layers
#
# Zagoruyko & Komodakis: residual networks do not need to be thin and very deep;
# WRN-28-10 (28 layers, 10x the widths 16-32-64) beats the 1001-layer pre-activation
# ResNet on CIFAR (10.2M parameters) with far more parameters but far fewer sequential
# layers, so it runs faster on a GPU.  Against the 164-layer one:

# %%
for name in ("resnet110", "preact_resnet164", "wrn28_10"):
    s = mc.summary(getattr(mc.models, name)(), (3, 32, 32))
    print(f"{name:<18} {s.total.params / 1e6:5.1f}M parameters, "
          f"{s.total.macs / 1e9:5.2f} G multiply-adds per 32x32 image")

# %% [markdown]
# ## ResNeXt (2016): cardinality, i.e. grouped convolutions
#
# The bottleneck's 3x3 conv is split into 32 parallel paths (`groups=32`): each sees 4
# of the 128 channels.  Same input and output shapes, 32x fewer weights in that conv --
# spent on more channels instead (ResNeXt-50's blocks are twice as wide as ResNet-50's
# at about the same cost).

# %%
dense3x3 = nn.Conv2d(128, 128, 3, padding=1, bias=False)
grouped3x3 = nn.Conv2d(128, 128, 3, padding=1, groups=32, bias=False)
print(f"3x3 conv 128->128: {n_params(dense3x3):,} weights; with 32 groups: "
      f"{n_params(grouped3x3):,}")
assert n_params(dense3x3) == 32 * n_params(grouped3x3)
for name in ("resnet50", "resnext50_32x4d"):
    s = mc.summary(getattr(mc.models, name)(), (3, 64, 64))
    print(f"{name:<16} {s.total.params / 1e6:5.1f}M parameters")

# %% [markdown]
# ## Stochastic depth (2016): drop whole residual blocks while training
#
# Huang et al. train ResNet-110 with each block's residual branch dropped at random
# (`F.stochastic_depth`), block l of 54 with probability l/54 x 0.5: short networks in
# training, the whole one at test time.  The expected number of blocks in a training
# step:

# %%
sd = mc.models.resnet110_stochastic_depth()
drop = [m.p for m in sd.modules() if isinstance(m, nn.StochasticDepth)]
print(f"{len(drop)} blocks, expected {sum(1 - p for p in drop):.2f} of them per step "
      f"(the paper: about 40)")
assert abs(sum(1 - p for p in drop) - 40.25) < 1e-9
branch = mc.tensor(np.ones((8, 2), np.float32))
print("a batch of 8 branch outputs, p = 0.5, row mode:",
      F.stochastic_depth(branch, 0.5, "row").numpy()[:, 0])

# %% [markdown]
# ## FractalNet (2016): depth without shortcuts
#
# Larsson et al. build deep networks with no identity paths at all: a fractal block
# joins (averages) columns of 1, 2, 4, 8 convs.  The short columns do what ResNet's
# shortcuts do; drop-path (a join drops inputs at random, or one column is kept for the
# whole network) keeps each column useful on its own.  The join schedule of a 4-column
# block, and the conv count:

# %%
for step, columns in enumerate(fractalnet.join_schedule(4), 1):
    print(f"step {step}: " + " ".join("#" if c in columns else "|" for c in range(4))
          + ("   join of columns " + ",".join(str(c + 1) for c in columns)
             if len(columns) > 1 else ""))
fractal = mc.models.fractalnet20()
convs = sum(isinstance(m, nn.Conv2d) for m in fractal.modules())
print(f"fractalnet20: {convs} convs (5 blocks x 7), 20 on the deepest path, "
      f"{n_params(fractal):,} parameters (the paper's Table 1: 38.6M)")
mc.manual_seed(1)
print("local drop-path of a 3-input join, p = 0.15, five draws:",
      [fractalnet.sample_local_drop_path(3, 0.15) for _ in range(5)])

# %% [markdown]
# ## DenseNet (2016): concatenate instead of add
#
# Each layer of a dense block receives the concatenation of all earlier outputs and
# adds k (the growth rate) new channels.  DenseNet-121's first block: 64 channels in,
# 6 layers of k = 32, so 64 + 6 x 32 = 256 channels out, halved by the transition.

# %%
densenet = mc.models.densenet121()
transition = densenet.features.transition1
print(f"after dense block 1: {transition.conv.in_channels} channels "
      f"(64 + 6 x 32 = {64 + 6 * 32}); the transition makes {transition.conv.out_channels}")
assert transition.conv.in_channels == 64 + 6 * 32

# %% [markdown]
# ## SqueezeNet (2016): AlexNet-level accuracy with 50x fewer parameters
#
# A fire module squeezes the channels with 1x1 convs, then expands with 1x1 and 3x3
# convs side by side.  The lecture's "50x fewer parameters than AlexNet" in minicnn's
# counts (AlexNet as in the paper, `alexnet_2012`); the "<0.5 MB" of the title needs
# the paper's Deep Compression (pruning and quantisation), not the architecture.

# %%
fire = mc.models.squeezenet1_0().features[3]                  # fire2: 96 -> 16 -> 64 + 64
plain = nn.Conv2d(96, 128, 3, padding=1)
print(f"fire2 (96 -> 128 channels): {n_params(fire):,} parameters; a plain 3x3 conv "
      f"96 -> 128: {n_params(plain):,}")
alexnet_params = n_params(mc.models.alexnet_2012())
squeeze_params = n_params(mc.models.squeezenet1_0())
print(f"AlexNet {alexnet_params:,} / SqueezeNet 1.0 {squeeze_params:,} = "
      f"{alexnet_params / squeeze_params:.1f}x; SqueezeNet in float32: "
      f"{squeeze_params * 4 / 2**20:.1f} MiB")
assert round(alexnet_params / squeeze_params, 1) == 48.8

# %% [markdown]
# ## MobileNet v2 (2018): depthwise separable convolutions
#
# A 3x3 conv on C channels is split into a depthwise 3x3 conv (`groups=C`: one filter
# per channel) and a 1x1 conv that mixes channels.  On 144 channels at 56x56:

# %%
full = mc.summary(nn.Conv2d(144, 144, 3, padding=1, bias=False), (144, 56, 56))
separable = mc.summary(nn.Sequential(nn.Conv2d(144, 144, 3, padding=1, groups=144, bias=False),
                                     nn.Conv2d(144, 144, 1, bias=False)), (144, 56, 56))
print(f"3x3 conv: {full.total.macs / 1e6:.0f}M multiply-adds; depthwise + pointwise: "
      f"{separable.total.macs / 1e6:.0f}M ({full.total.macs / separable.total.macs:.1f}x "
      f"fewer; 1 / (1/C + 1/9) = {1 / (1 / 144 + 1 / 9):.1f})")

# %% [markdown]
# ## The complexity chart, from minicnn's own numbers
#
# The lecture's "comparing complexity" slide (Canziani, Paszke & Culurciello, 2016)
# plots ImageNet top-1 accuracy against operations per image, bubble size = parameters.
# Here the operations, parameters and activation memory are `mc.summary`'s, for one
# 224x224 image (299x299 for Inception v3).  The accuracies are **not** minicnn's
# (there is no ImageNet here): they are the single-crop top-1 accuracies torchvision
# publishes for its IMAGENET1K_V1 weights (`weights.meta["_metrics"]["ImageNet-1K"]
# ["acc@1"]`, torchvision 0.29; https://pytorch.org/vision/stable/models.html), the
# weights minicnn's models load unchanged.  Their `_ops` (GFLOPS in torchvision's
# words, multiply-adds in fact) are printed next to minicnn's count.

# %%
TORCHVISION = {   # name: (top-1 %, torchvision's "_ops" in G, input size)
    "alexnet": (56.522, 0.714, 224), "vgg16": (71.592, 15.47, 224),
    "googlenet": (69.778, 1.498, 224), "inception_v3": (77.294, 5.713, 299),
    "resnet18": (69.758, 1.814, 224), "resnet50": (76.13, 4.089, 224),
    "resnet152": (78.312, 11.514, 224), "squeezenet1_0": (58.092, 0.819, 224),
    "densenet121": (74.434, 2.834, 224), "densenet161": (77.138, 7.728, 224),
    "resnext50_32x4d": (77.618, 4.23, 224), "wide_resnet50_2": (78.468, 11.398, 224),
    "mobilenet_v2": (71.878, 0.301, 224),
}
names = lessons.pick(list(TORCHVISION),
                     ["squeezenet1_0", "mobilenet_v2", "alexnet", "googlenet", "resnet18"])
chart = {}
print(f"{'model':<17} {'top-1':>6} {'G mult-adds':>12} {'(torchvision)':>13} "
      f"{'parameters':>12} {'activations/image':>18}")
for name in names:
    top1, tv_ops, size = TORCHVISION[name]
    model = getattr(mc.models, name)()
    s = mc.summary(model, (3, size, size))
    chart[name] = (top1, s.total.macs / 1e9, s.total.params / 1e6,
                   s.total_activation_bytes / 2**20)
    print(f"{name:<17} {top1:6.2f} {s.total.macs / 1e9:12.3f} {tv_ops:13.3f} "
          f"{s.total.params:12,} {s.total_activation_bytes / 2**20:14.1f} MiB")
    assert abs(s.total.macs / 1e9 - tv_ops) / tv_ops < 0.02, name
    del model

# %% [markdown]
# The lecture's remarks, checked on these numbers (the full run prints them):
#
# * "VGG: highest memory, most operations" -- the most operations of all thirteen
#   (15.5G), and the largest activation memory of the 2014 networks (58 MiB against
#   GoogLeNet's 35 and AlexNet's 3).  Not of all of them: with batch norm after every
#   conv, whose outputs `mc.summary` counts too, ResNet-152 (224 MiB) and DenseNet-161
#   (238 MiB: its concatenations keep every layer's output) store far more.
# * "GoogLeNet: most efficient" -- in accuracy per *parameter* (69.8% with 6.6M:
#   10.5 points per million, against AlexNet's 0.9 and VGG-16's 0.5).  Per operation,
#   AlexNet's 0.71G are cheaper still; SqueezeNet and MobileNet v2, built later for
#   exactly this, beat GoogLeNet per parameter too.
# * "AlexNet: small compute, but memory heavy" -- 0.71G operations, the fewest of the
#   2014 networks, but 61M parameters (233 MiB of weights), 58M of them in the fc layers.

# %%
if not lessons.short():
    ops = {n: v[1] for n, v in chart.items()}
    assert max(ops, key=ops.get) == "vgg16"
    old = ("alexnet", "vgg16", "googlenet")
    assert max(old, key=lambda n: chart[n][3]) == "vgg16"           # activation memory
    assert max(old, key=lambda n: chart[n][0] / chart[n][2]) == "googlenet"  # top-1 / params
    assert min(old, key=lambda n: chart[n][1]) == "alexnet"         # operations

fig, (ax, memory_ax) = plt.subplots(1, 2, figsize=(12, 5))
for name, (top1, gmacs, mparams, memory) in chart.items():
    ax.scatter(gmacs, top1, s=10 + 8 * mparams, alpha=0.5)
    ax.annotate(name, (gmacs, top1), fontsize=8, ha="center", va="bottom")
ax.set_xlabel("G multiply-adds per image (mc.summary)")
ax.set_ylabel("ImageNet top-1 % (torchvision IMAGENET1K_V1)")
ax.set_title("accuracy against operations; bubble area ~ parameters")
order = sorted(chart, key=lambda n: chart[n][3])
memory_ax.barh(order, [chart[n][3] for n in order])
memory_ax.set_xlabel("activations stored by one forward pass, MiB (float32, mc.summary)")
memory_ax.set_title("activation memory per image")
fig.tight_layout()
lessons.show(fig, "beyond_resnet_complexity")

# %% [markdown]
# ## Exercises
#
# 1. **Change the cardinality**: `mc.models.ResNet(mc.models.Bottleneck, [3, 4, 6, 3],
#    groups=64, width_per_group=4)` is ResNeXt-50 with 64 groups of 4 channels instead of
#    32 (`resnext101_64x4d`'s blocks, 50 layers deep).  Predict its parameters and
#    multiply-adds relative to `resnext50_32x4d`, then run `mc.summary` and compare.
# 2. **Change the growth rate**: `mc.models.DenseNet(growth_rate=48, block_config=(6,
#    12, 36, 24), num_init_features=96)` is DenseNet-161.  Predict the number of
#    channels entering its first transition, then check `features.transition1`.
# 3. **Change the drop-path mix** of FractalNet: with `global_ratio=1.0` every training
#    step uses one column.  Predict how many of `fractalnet20`'s 35 convs run in such a
#    step for each column choice, then count them with a forward hook on every
#    `nn.Conv2d`, training mode.
