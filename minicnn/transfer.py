"""Transfer learning: reuse a network trained on one task (ImageNet) for another.

The convolutional body of a trained CNN computes general-purpose features; only the
last layer -- the *head*, a Linear layer from the "CNN codes" to the classes -- is
specific to the original task.  Three ways to reuse the body, from cheapest to best:

1. **Fixed feature extractor**: ``extract_features`` runs the body once and returns
   the codes (the head's input); train any linear classifier on them.
2. **Train a new head**: ``replace_head(model, num_classes)``, ``freeze(model)`` and
   ``unfreeze(head)``: only the head learns (its gradients are the only ones computed).
3. **Fine-tune everything**: ``replace_head`` and train the whole network, the body
   with a smaller learning rate than the new head (``finetune_param_groups``), so the
   pretrained features are adjusted rather than destroyed.

``head_names(model)`` says which layers are heads for each architecture family:
ResNet, the CIFAR nets, FractalNet and the small CNN ``fc``; AlexNet, VGG, LeNet-5,
ZFNet and MobileNet v2 ``classifier[-1]``; DenseNet ``classifier``; GoogLeNet ``fc``
plus ``aux1.fc2`` and ``aux2.fc2``; Inception v3 ``fc`` plus ``AuxLogits.fc``.  Two
networks have a 1x1 conv as their head, followed by global average pooling: SqueezeNet
(``classifier[1]``) and Network in Network (its last conv, ``features[20]``).

Frozen batch-norm layers still update their running statistics in training mode;
call ``.eval()`` on them after ``model.train()`` to keep those fixed as well.
"""
import numpy as np

from . import backend, nn
from .autograd import Tensor, no_grad


def freeze(module):
    """Stop training ``module``: its parameters no longer require (or receive) gradients,
    so backward skips them and optimizers leave them unchanged.  Returns ``module``."""
    return module.requires_grad_(False)


def unfreeze(module):
    """Train ``module`` again (every parameter requires grad).  Returns ``module``."""
    return module.requires_grad_(True)


def head_names(model):
    """Dotted names of the classifier layers that map features to classes: the main
    head first, then any auxiliary heads (present only if the model was built with them).

    ``fc`` (ResNet, GoogLeNet, Inception v3, the CIFAR nets), a Linear ``classifier``
    (DenseNet), else the last layer with weights of a Sequential ``classifier`` (AlexNet,
    VGG, MobileNet v2; SqueezeNet's 1x1 conv), else the layer the model names in its
    ``head_name`` attribute (Network in Network: its last 1x1 conv, before global average
    pooling).  A head is a Linear layer or, in networks without fully connected layers,
    a Conv2d."""
    candidates = ["fc", "aux1.fc2", "aux2.fc2", "AuxLogits.fc"]
    names = [n for n in candidates if _find(model, n) is not None]
    classifier = getattr(model, "classifier", None)
    if not names and isinstance(classifier, nn.Linear):          # DenseNet
        names = ["classifier"]
    if not names and isinstance(classifier, nn.Sequential):
        names = [f"classifier.{n}" for n, m in classifier.named_children()
                 if isinstance(m, (nn.Linear, nn.Conv2d))][-1:]
    if not names and getattr(model, "head_name", None):             # NiN
        names = [model.head_name]
    if not names or not isinstance(_find(model, names[0]), (nn.Linear, nn.Conv2d)):
        raise ValueError(f"minicnn: transfer: cannot find the classifier head of "
                         f"{type(model).__name__}; expected a Linear layer named 'fc' "
                         "(ResNet, GoogLeNet, Inception v3), a Linear 'classifier' (DenseNet), "
                         "a Sequential 'classifier' with a Linear or Conv2d layer (AlexNet, VGG, "
                         "SqueezeNet), or a Linear or Conv2d layer named by the model's "
                         "head_name attribute (Network in Network)")
    return names


def head(model):
    """The main classifier layer (a Linear)."""
    return _find(model, head_names(model)[0])


def replace_head(model, num_classes):
    """Swap every classifier head (main and auxiliary) for a freshly initialised layer
    with ``num_classes`` outputs, on the old head's device and dtype: a Linear for a
    Linear, a Conv2d of the same kernel, stride and padding for a conv head (SqueezeNet,
    NiN).  The new layers require grad even when the model was frozen.  Returns ``model``."""
    for name in head_names(model):
        old = _find(model, name)
        like = dict(bias=old.bias is not None, device=old.weight.device, dtype=old.weight.dtype)
        if isinstance(old, nn.Conv2d):
            new = nn.Conv2d(old.in_channels, num_classes, old.kernel_size, stride=old.stride,
                            padding=old.padding, **like)
        else:
            new = nn.Linear(old.in_features, num_classes, **like)
        parent, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent), attr, new)
    return model


def finetune_param_groups(model, head_lr, body_lr, **group_settings):
    """Two optimizer parameter groups: the body with ``body_lr`` first, then the heads
    with ``head_lr``.  Frozen parameters are left out, and so is a group with none left.

        opt = SGD(finetune_param_groups(model, head_lr=0.01, body_lr=0.001), lr=0.01, momentum=0.9)

    ``group_settings`` (e.g. ``weight_decay=1e-4``) are added to both groups.
    """
    head_ids = {id(p) for name in head_names(model) for p in _find(model, name).parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    body = [p for p in trainable if id(p) not in head_ids]
    heads = [p for p in trainable if id(p) in head_ids]
    groups = [{"params": body, "lr": body_lr, **group_settings},
              {"params": heads, "lr": head_lr, **group_settings}]
    groups = [g for g in groups if g["params"]]
    if not groups:
        raise ValueError("minicnn: finetune_param_groups: every parameter is frozen")
    return groups


def extract_features(model, loader, device=None):
    """The "CNN codes" of every image in ``loader``: the input of the main head, i.e.
    the body's output (512 numbers per image for ResNet-18, 4096 for AlexNet/VGG, 2048
    for Inception v3).  Runs in eval mode without a graph (the mode is restored).

    Returns ``(features, labels)`` as NumPy arrays ``(N, D)`` and ``(N,)``.
    """
    captured = []

    def keep_head_input(module, inputs, output):
        captured.append(backend.to_numpy(inputs[0].data))

    features, labels = [], []
    was_training = model.training
    model.eval()
    handle = head(model).register_forward_hook(keep_head_input)
    try:
        with no_grad():
            for images, targets in loader:
                if device is not None:
                    images = Tensor(backend.to_device(images.data, device))
                model(images)
                codes = captured.pop()              # (N, C, H, W) before a conv head
                features.append(codes.reshape(len(codes), -1))
                labels.append(backend.to_numpy(targets.data if isinstance(targets, Tensor)
                                               else np.asarray(targets)))
    finally:
        handle.remove()
        model.train(was_training)
    return np.concatenate(features), np.concatenate(labels)


def _find(model, dotted):
    """The sub-module at ``dotted`` (e.g. "aux1.fc2"), or None."""
    module = model
    for part in dotted.split("."):
        module = module._modules.get(part) if isinstance(module, nn.Module) else None
        if module is None:
            return None
    return module
