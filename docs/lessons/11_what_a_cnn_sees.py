# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 11: what a CNN sees -- saliency, occlusion, adversarial examples, CNN codes
#
# The visualisation lecture asks what a trained network looks at.  Each question has a
# tool in `mc.viz`, and each tool is a few lines of autograd:
#
# * **saliency** (Simonyan et al. 2014): |d score / d pixel|, one backward pass;
# * **occlusion** (Zeiler & Fergus 2014): cover a patch, watch the class probability fall;
# * **adversarial example** (Goodfellow et al. 2015): one step along sign(d loss / d x);
# * **CNN codes**: the features before the classifier; images with near codes look alike,
#   and a 2-D projection (PCA) shows the classes the network separated.
#
# A small CNN is trained here on the embedded 8x8 digits (about a minute; a few seconds in
# the short mode), so the pictures show a *trained* network.  docs/viz.md shows the same
# tools on ImageNet models and every `python -m minicnn viz` command.

# %%
import matplotlib.pyplot as plt
import numpy as np

import minicnn as mc
import minicnn.functional as F
from minicnn import lessons
from minicnn.data import DataLoader, load_digits
from minicnn.train import fit

mc.manual_seed(0)
train, test = load_digits("train"), load_digits("test")
model = mc.models.small_cnn(num_classes=10, width=16)
optimizer = mc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
history = fit(model, DataLoader(train, batch_size=32, shuffle=True, seed=0),
              DataLoader(test, batch_size=256), optimizer, epochs=lessons.pick(6, 1),
              progress=False, log=None)
mc.viz.mark_weights(model, "trained here on the digits")
model.eval()
accuracy = history[-1]["val_acc1"]
print(f"small_cnn: test accuracy {accuracy:.1%} after {len(history)} epoch(s)")
images = np.stack([np.asarray(test[i][0]) for i in range(len(test))]).astype(np.float32)
labels = np.array([test[i][1] for i in range(len(test))])

# %% [markdown]
# ## Saliency: which pixels move the score
#
# One backward pass from the class score to the image.  The check: a saliency map is a
# gradient, so moving the most salient pixel by a little changes the score by about
# saliency x step, far more than moving the least salient one.

# %%
x = images[0]
saliency = mc.viz.saliency(model, x, target=labels[0])


def score(image, target=labels[0]):
    with mc.no_grad():
        return model(mc.tensor(image[None])).numpy()[0, target]


most, least = np.unravel_index(saliency.argmax(), saliency.shape), np.unravel_index(saliency.argmin(), saliency.shape)
step = 1e-3
changes = []
for pixel in (most, least):
    up, down = x.copy(), x.copy()
    up[0][pixel] += step
    down[0][pixel] -= step
    changes.append(abs(score(up) - score(down)) / (2 * step))
print(f"|d score / d pixel| at the most salient pixel {changes[0]:.3f} (map {saliency[most]:.3f}), "
      f"at the least salient {changes[1]:.3f} (map {saliency[least]:.3f})")
assert abs(changes[0] - saliency[most]) < 0.05 * saliency[most] + 1e-3
assert changes[0] > changes[1]

# %% [markdown]
# ## Occlusion: cover a patch, watch the probability
#
# A 3x3 patch of zeros slides over the digit; each position's class probability is
# plotted where the patch was.  Where covering hurts, the network was looking.

# %%
found = mc.viz.occlusion(model, x, target=labels[0], size=3, stride=1)
print(f"probability of class {found.target}: {found.baseline:.3f} uncovered, "
      f"{found.probability.min():.3f} at the worst patch")
assert found.probability.min() < found.baseline

# %% [markdown]
# ## Adversarial examples: a step too small to see
#
# x + eps * sign(d loss / d x), with eps = 0.1 on pixels in [0, 1].  Count how many test
# digits change class.

# %%
EPSILON = 0.1
count = lessons.pick(len(images), 60)
flipped = 0
for i in range(count):
    moved, before, after = mc.viz.adversarial(model, images[i], labels[i], EPSILON)
    flipped += before == labels[i] and after != labels[i]
print(f"eps = {EPSILON}: {flipped} of {count} test digits change class")
moved, before, after = mc.viz.adversarial(model, x, labels[0], 0.2)

# %% [markdown]
# ## CNN codes: near codes, similar images
#
# The codes are the input of the last Linear layer (`mc.viz.cnn_codes`).  A digit's nearest
# neighbours by code are digits of the same class far more often than chance (10%), and
# the first two principal components of the codes already pull the classes apart.

# %%
codes = mc.viz.cnn_codes(model, images)
neighbours = mc.viz.nearest_neighbours(codes, codes[:50], k=6)[:, 1:]   # itself first
same = (labels[neighbours] == labels[:50, None]).mean()
print(f"{codes.shape[1]} numbers per image; nearest neighbours of the same class: {same:.0%}")
assert same > 0.5
flat = mc.viz.embedding(codes, method="pca")

# %%
fig, axes = plt.subplots(1, 5, figsize=(15, 3.4))
axes[0].imshow(x[0], cmap="gray")
axes[0].set_title(f"test digit {labels[0]}")
shown = axes[1].imshow(saliency, cmap="magma")
axes[1].set_title("saliency |d score / d pixel|")
fig.colorbar(shown, ax=axes[1], shrink=0.8)
shown = axes[2].imshow(found.probability, cmap="viridis", vmin=0, vmax=1)
axes[2].set_title(f"P(class {found.target}) with a 3x3 patch there")
fig.colorbar(shown, ax=axes[2], shrink=0.8)
axes[3].imshow(moved[0], cmap="gray", vmin=0, vmax=1)
axes[3].set_title(f"eps 0.2: {before} -> {after}")
for digit in range(10):
    keep = labels == digit
    axes[4].scatter(flat[keep, 0], flat[keep, 1], s=4, label=str(digit))
axes[4].set_title("CNN codes, first 2 principal components")
axes[4].legend(fontsize=6, markerscale=2, ncol=2)
for ax in axes[:4]:
    ax.axis("off")
fig.suptitle(f"small_cnn trained here on the digits ({accuracy:.1%} test accuracy)")
fig.tight_layout()
lessons.show(fig, "what_a_cnn_sees")

# %% [markdown]
# ## Exercises
#
# 1. Build `mc.models.small_cnn()` again without training it and redraw the saliency map and
#    the occlusion map.  Predict first: what should an untrained network "look at"?
# 2. Raise `EPSILON` from 0.02 to 0.3 and plot how many digits change class.  Predict the
#    shape of the curve, run, compare; then look at the digits at the smallest eps that works.
# 3. Replace `method="pca"` by `"tsne"` (needs scikit-learn) in the embedding: which classes
#    sit next to each other, and does that match the digits the network confuses?
