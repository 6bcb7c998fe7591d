# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 12: gradients of gradients -- Hessian-vector products and a gradient penalty
#
# `loss.backward()` computes numbers.  With `create_graph=True` it computes them with
# minicnn's own ops, recorded in a graph like any forward pass, so the gradient can itself
# be differentiated.  Two uses, each computed by hand here and checked:
#
# * a **Hessian-vector product** H v, the curvature of the loss along a direction v, without
#   ever forming H (a CNN's H has as many rows as it has weights): the gradient of
#   `<grad L, v>`;
# * a **gradient penalty**: a loss that contains a gradient, `L + lambda |dL/dx|^2` (input
#   gradient regularisation, and the "GP" of WGAN-GP).  Its backward goes through the backward
#   of the network.
#
# docs/internals.md ("Gradients of gradients") shows how each op's `backward_graph` builds
# its piece.  Figures appear below the cells in a notebook and are saved in
# `$MINICNN_LESSON_OUT` (default `lesson-output/`).

# %%
import numpy as np

import minicnn as mc
import minicnn.functional as F
from minicnn import lessons
from minicnn.data import load_digits

SHORT = lessons.short()

# %% [markdown]
# ## A function whose Hessian we know
#
# f(x) = sum(x^3) has the gradient 3x^2 and the Hessian diag(6x): H v = 6 x v.  The first
# `autograd.grad` builds the gradient *in a graph* (it has `requires_grad` and a `grad_fn`);
# the second differentiates `<g, v>`.

# %%
x = mc.tensor([1.0, -2.0, 0.5], dtype=np.float64, requires_grad=True)
v = mc.tensor([1.0, 1.0, 2.0], dtype=np.float64)
(g,) = mc.autograd.grad((x ** 3).sum(), x, create_graph=True)
print("gradient 3x^2      ", g.numpy(), "  computed by", g.grad_fn.name())
(hv,) = mc.autograd.grad((g * v).sum(), x)
print("H v = 6 x v        ", hv.numpy())
assert np.allclose(hv.numpy(), 6 * x.numpy() * v.numpy())

# %% [markdown]
# ## The Hessian-vector product of a CNN's loss
#
# The same two lines give H v for the loss of a small CNN with respect to all of its
# weights, v a random direction in weight space.  Check: the change of the gradient along v,
# by central differences, (grad L(w + h v) - grad L(w - h v)) / 2h, in float64.  The step
# must be tiny: ReLU and max pooling are only piecewise smooth, and a step of 1e-5 along a
# direction that moves all 2,514 weights at once already carries some units across a kink
# (the finite difference is then off by a factor of two; try it).

# %%
mc.manual_seed(0)
model = mc.models.small_cnn(num_classes=10, width=8, dropout=0.0).to(np.float64)
train = load_digits("train")
images = mc.tensor(np.stack([np.asarray(train[i][0]) for i in range(64)]).astype(np.float64))
labels = mc.tensor(np.array([train[i][1] for i in range(64)]))
params = list(model.parameters())
rng = np.random.default_rng(0)
direction = [rng.standard_normal(p.shape) for p in params]


def loss_gradient(create_graph=False):
    loss = F.cross_entropy(model(images), labels)
    return mc.autograd.grad(loss, params, create_graph=create_graph)


grads = loss_gradient(create_graph=True)
dot = sum((gp * mc.tensor(d)).sum() for gp, d in zip(grads, direction))
hessian_v = [h.numpy() for h in mc.autograd.grad(dot, params)]

h = 1e-7
with mc.no_grad():
    for p, d in zip(params, direction):
        p.data += h * d
plus = [gp.numpy() for gp in loss_gradient()]
with mc.no_grad():
    for p, d in zip(params, direction):
        p.data -= 2 * h * d
minus = [gp.numpy() for gp in loss_gradient()]
with mc.no_grad():
    for p, d in zip(params, direction):
        p.data += h * d                                   # back where it was
numeric = [(a - b) / (2 * h) for a, b in zip(plus, minus)]
flat = lambda arrays: np.concatenate([a.ravel() for a in arrays])
error = np.abs(flat(hessian_v) - flat(numeric)).max() / np.abs(flat(numeric)).max()
curvature = float(flat(hessian_v) @ flat(direction)) / float(flat(direction) @ flat(direction))
print(f"{flat(hessian_v).size:,} weights; |Hv - finite differences| / |Hv| = {error:.1e}")
print(f"curvature along v, v.Hv / v.v = {curvature:.4f}")
assert error < 1e-5

# %% [markdown]
# ## A gradient penalty, by hand
#
# The penalised loss is P(w) = L(w) + lambda * |dL/dx|^2, with dL/dx the gradient of the
# loss with respect to the input images.  Its gradient with respect to a weight needs the
# derivative of dL/dx with respect to that weight: a backward through a backward.  Check
# one weight of the first convolution by central differences.

# %%
LAMBDA = 10.0


def penalised_loss(create_graph=True):
    x = images.detach().requires_grad_()
    loss = F.cross_entropy(model(x), labels)
    (gx,) = mc.autograd.grad(loss, x, create_graph=create_graph)
    return loss + LAMBDA * (gx * gx).sum(), loss, gx


for p in params:
    p.grad = None
total, _, _ = penalised_loss()
total.backward()
weight = params[0]                                        # the first convolution's weight
index = (1, 0, 1, 2)
analytic_dw = weight.grad.numpy()[index]
with mc.no_grad():
    weight.data[index] += h
up = penalised_loss()[0].item()
with mc.no_grad():
    weight.data[index] -= 2 * h
down = penalised_loss()[0].item()
with mc.no_grad():
    weight.data[index] += h
numeric_dw = (up - down) / (2 * h)
print(f"dP/dw{list(index)}: backward through backward {analytic_dw:.8f}, finite differences {numeric_dw:.8f}")
assert abs(analytic_dw - numeric_dw) <= 1e-6 * max(1.0, abs(numeric_dw))

# %% [markdown]
# ## The picture: H v against finite differences, and the curvature in many directions
#
# Left: every one of the 2,514 entries of H v from the double backward against its finite
# difference (on the diagonal if they agree).  Right: the curvature v.Hv / v.v along 12
# random directions -- each a Hessian-vector product, never the 2,514 x 2,514 Hessian.

# %%
DIRECTIONS = 4 if SHORT else 12
curvatures = []
for k in range(DIRECTIONS):
    d = [np.random.default_rng(100 + k).standard_normal(p.shape) for p in params]
    grads = loss_gradient(create_graph=True)
    dot = sum((gp * mc.tensor(v)).sum() for gp, v in zip(grads, d))
    hd = mc.autograd.grad(dot, params)
    curvatures.append(float(flat([t.numpy() for t in hd]) @ flat(d)) / float(flat(d) @ flat(d)))
print("curvature along random directions:", np.round(curvatures, 4))

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

fig = Figure(figsize=(10, 4))
FigureCanvasAgg(fig)
ax = fig.add_subplot(1, 2, 1)
ax.plot(flat(numeric), flat(hessian_v), ".", markersize=2)
ax.set_xlabel("finite differences of the gradient")
ax.set_ylabel("H v by double backward")
ax.set_title(f"H v, {flat(hessian_v).size:,} weights (largest error {error:.0e})")
ax = fig.add_subplot(1, 2, 2)
ax.bar(range(len(curvatures)), curvatures)
ax.axhline(0, color="black", linewidth=0.5)
ax.set_xlabel("random direction")
ax.set_ylabel("v.Hv / v.v")
ax.set_title("curvature of the loss along random directions")
fig.suptitle("small_cnn (width 8, untrained: random initial weights), loss on 64 digits")
fig.tight_layout()
lessons.show(fig, "hessian_vector_products")

# %% [markdown]
# ## Exercises
#
# 1. Replace `sum(x^3)` by `sum(sin(x) * x)` written with minicnn ops (`x.sigmoid()` and
#    `x.tanh()` are there; sin is not: try `x * x.tanh()`).  Predict H v by hand, then run.
# 2. The curvature v.Hv / v.v printed above is one number; repeat with 20 random directions
#    (the plot above does 12) and look at the spread.  What does a negative value say about the loss surface there?
# 3. Train the CNN a few steps on the penalised loss `P` (with `mc.optim.SGD`) for
#    `LAMBDA = 0` and `LAMBDA = 10`: predict how the training loss and |dL/dx| differ, run,
#    compare.  (Careful: with batch norm in training mode one image's loss depends on the
#    other images of the batch, so dL/dx mixes them; try the model in `eval()` mode too.)
