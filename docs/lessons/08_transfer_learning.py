# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 8: transfer learning -- replace the head, freeze, fine-tune
#
# A network trained on a big dataset has learned general features in its body; only
# its last layer, the head, belongs to the original task.  With little data for a new
# task: keep the body, put on a new head, and train
#
# * only the new head (the body frozen) when data is very scarce, or
# * everything, the body with a smaller learning rate than the head (fine-tuning).
#
# The lecture's setting is ImageNet -> a small dataset.  Here, without downloads: a
# small CNN learns the digits 0-4 (the "ImageNet" of this story), then the digits 5-9
# from 5 images per class.  `minicnn.transfer` has the helpers; docs/transfer-learning.md
# tells the longer story.  Figures appear below the cells in a notebook and are saved in
# `$MINICNN_LESSON_OUT` (default `lesson-output/`).

# %%
import matplotlib.pyplot as plt
import numpy as np

import minicnn as mc
from minicnn import lessons, transfer
from minicnn.data import DataLoader, Subset, load_digits
from minicnn.train import fit


def digits(split, classes, per_class=None):
    """The images of `classes` only (the first `per_class` of each), labelled 0, 1, ..."""
    dataset = load_digits(split, target_transform=lambda t: classes.index(t))
    keep = [np.flatnonzero(dataset.targets == c)[:per_class] for c in classes]
    return Subset(dataset, np.sort(np.concatenate(keep)))


def small_cnn():
    return mc.models.small_cnn(num_classes=5, width=16)


OLD, NEW = [0, 1, 2, 3, 4], [5, 6, 7, 8, 9]
mc.manual_seed(0)
pretrained = small_cnn()
source = DataLoader(digits("train", OLD), batch_size=32, shuffle=True, drop_last=True, seed=0)
optimizer = mc.optim.SGD(pretrained.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
history = fit(pretrained, source, DataLoader(digits("test", OLD), batch_size=256), optimizer,
              epochs=2, progress=False, log=None)
print(f"pretrained on 0-4: test accuracy {history[-1]['val_acc1']:.1%}")
body_state = {k: v.numpy().copy() for k, v in pretrained.state_dict().items()}


def pretrained_copy():
    model = small_cnn()
    model.load_state_dict(body_state)
    return model


few = DataLoader(digits("train", NEW, per_class=5), batch_size=25, shuffle=True, seed=0)
new_test = DataLoader(digits("test", NEW), batch_size=256)
accuracy, histories = {}, {}

# %% [markdown]
# ## Baseline: train from scratch on the 25 images

# %%
mc.manual_seed(1)
scratch = small_cnn()
history = fit(scratch, few, new_test, mc.optim.SGD(scratch.parameters(), lr=0.05, momentum=0.9),
              epochs=15, progress=False, log=None)
accuracy["from scratch"] = history[-1]["val_acc1"]
histories["from scratch"] = history

# %% [markdown]
# ## Replace the head and freeze the body
#
# `replace_head` swaps the last Linear layer (`fc`, 64 -> 5 here) for a fresh one;
# `freeze` turns off `requires_grad` everywhere, `unfreeze` turns it back on for the
# head.  Frozen parameters get no gradient at all, so the optimizer cannot move them.

# %%
mc.manual_seed(1)
model = transfer.replace_head(pretrained_copy(), num_classes=5)
transfer.freeze(model)
transfer.unfreeze(model.fc)
trainable = [n for n, p in model.named_parameters() if p.requires_grad]
print("trainable parameters:", trainable)
optimizer = mc.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05, momentum=0.9)
history = fit(model, few, new_test, optimizer, epochs=15, progress=False, log=None)
accuracy["new head, frozen body"] = history[-1]["val_acc1"]
histories["new head, frozen body"] = history
first_conv = model.features[0][0].weight.numpy()
assert np.array_equal(first_conv, body_state["features.0.0.weight"]), "the body moved"
print("the frozen body's weights are unchanged after training")

# %% [markdown]
# ## Fine-tune everything with two learning rates
#
# The body starts from good features: a small learning rate adjusts them without
# destroying them before the new head has learned anything.  `finetune_param_groups`
# gives the optimizer two groups: the body with `body_lr`, the head with `head_lr`.

# %%
mc.manual_seed(1)
model = transfer.replace_head(pretrained_copy(), num_classes=5)
groups = transfer.finetune_param_groups(model, head_lr=0.05, body_lr=0.005)
optimizer = mc.optim.SGD(groups, lr=0.05, momentum=0.9)
for group in optimizer.param_groups:
    print(f"parameter group: {len(group['params'])} tensors, lr {group['lr']}")
history = fit(model, few, new_test, optimizer, epochs=15, progress=False, log=None)
accuracy["fine-tuned, body lr / 10"] = history[-1]["val_acc1"]
histories["fine-tuned, body lr / 10"] = history
moved = np.abs(model.features[0][0].weight.numpy() - body_state["features.0.0.weight"]).max()
print(f"the body moved a little: largest change in the first conv's weights {moved:.2e}")

# %% [markdown]
# ## Results on the 5-9 test images

# %%
for name, acc in accuracy.items():
    print(f"{name:<26} {acc:.1%}")
fig, ax = plt.subplots(figsize=(7, 4))
for name, history in histories.items():
    ax.plot([r["epoch"] for r in history], [r["val_acc1"] for r in history], "o-",
            markersize=3, label=name)
ax.axhline(0.2, color="grey", linestyle=":", label="chance (5 classes)")
ax.set_xlabel("epoch (one pass over the 25 training images)")
ax.set_ylabel("accuracy on the 5-9 test images")
ax.set_ylim(0, 1)
ax.legend()
ax.set_title("learning the digits 5-9 from 5 images each")
lessons.show(fig, "transfer_learning_accuracy")
assert max(accuracy["new head, frozen body"], accuracy["fine-tuned, body lr / 10"]) > \
    accuracy["from scratch"]

# %% [markdown]
# ## Exercises
#
# 1. Give the new task 1 image per class instead of 5 (`per_class=1` in `few`).  Predict
#    which of the three approaches loses most, then run and compare the curves.
# 2. Fine-tune with the same learning rate for body and head
#    (`body_lr=0.05`).  Predict whether the result is better or worse than with
#    `body_lr=0.005`, and look at how far the first convolution's weights moved.
# 3. Skip the pretraining: make `body_state` from a fresh `small_cnn()` instead of
#    `pretrained`, so the "pretrained" body is random.  Predict the frozen-body accuracy
#    before you run it, and explain it.
