"""Models, optimizers and learning-rate schedules by name, as the command line asks for them."""
import sys

import numpy as np

from minicnn import models, optim, transfer
from minicnn.nn.utils import fuse_conv_bn_eval_model
from minicnn.io import load_checkpoint, load_pth
from minicnn.models._weights import Weights, resolve_weights
from minicnn.optim import lr_scheduler as S
from minicnn.train import PLATEAU_METRICS

OPTIMIZERS = {  # name: (default lr, default momentum, default weight decay)
    "sgd": (0.05, 0.9, 5e-4), "rmsprop": (0.01, 0.0, 0.0), "adam": (1e-3, None, 0.0),
    "adamw": (1e-3, None, 1e-2)}
RMSPROP_DEFAULTS = {"rmsprop_alpha": 0.99, "rmsprop_eps": 1e-8}     # PyTorch's alpha and eps
SCHEDULES = ["none", "step", "exponential", "multistep", "plateau", "cosine"]


# ----- models ---------------------------------------------------------------------------
GREY_MODELS = ("small_cnn", "lenet5")      # built for one-channel images; the others get RGB


def model_names():
    return [n for n in models.__all__ if n[0].islower()]


def build_model(name, num_classes, in_channels=3, weights=None):
    """A model from minicnn.models by name, with ``weights`` (a .pth path or state dict)."""
    if name not in model_names():
        raise SystemExit(f"minicnn: unknown model {name!r}; choose one of "
                         f"{', '.join(model_names())}")
    if name == "small_cnn":
        return models.small_cnn(weights, num_classes=num_classes, in_channels=in_channels)
    return getattr(models, name)(weights, num_classes=num_classes)


def fold_batch_norms(model, example, enabled=True):
    """``model`` in eval mode, each batch norm folded into the convolution before it where
    ``enabled`` (``nn.utils.fuse_conv_bn_eval_model``, in place: the same outputs within
    float rounding, one pass less over each such activation).  For the commands that only
    evaluate a loaded model (``evaluate``, ``predict``); one that cannot be folded runs as
    it is, with a note.  ``example``: one input (a Tensor) of the model."""
    model.eval()
    if not enabled:
        return model
    try:
        return fuse_conv_bn_eval_model(model, example, inplace=True)
    except ValueError as error:
        print(f"minicnn: batch norms left unfolded: {error}", file=sys.stderr)
        return model


def num_classes_in(state):
    """The number of outputs of the classifier stored in a state dict: ``fc.weight``,
    ``classifier.weight`` (DenseNet), the last ``classifier.N.weight``, or else the last
    weight of a Linear or conv layer (2-D or 4-D; Network in Network's 1x1 conv head)."""
    for key in ("fc.weight", "classifier.weight"):      # classifier.weight: DenseNet
        if key in state:
            return int(np.shape(state[key])[0])
    classifier = [k for k in state if k.startswith("classifier.") and k.endswith(".weight")]
    if classifier:
        last = max(classifier, key=lambda k: int(k.split(".")[1]))
        return int(np.shape(state[last])[0])
    layers = [k for k in state if k.endswith(".weight") and np.ndim(state[k]) in (2, 4)]
    if layers:
        return int(np.shape(state[layers[-1]])[0])
    raise SystemExit("minicnn: cannot tell the number of classes of these weights (no fc.weight, "
                     "classifier.weight, classifier.N.weight or any Linear or conv weight)")


def read_weights(spec, model=None, progress=True):
    """A state dict from a PyTorch .pth file, a minicnn checkpoint (.npz) or a weights
    name of ``model`` (``DEFAULT``, ``IMAGENET1K_V1``, ...: torchvision's file, from
    PyTorch's cache or downloaded), plus the checkpoint's training config (None otherwise)."""
    if spec.endswith(".npz"):
        ckpt = load_checkpoint(spec)
        return ckpt["model"], ckpt.get("config")
    if model is not None:
        named = resolve_weights(model, spec, {})
        if isinstance(named, Weights):
            return named.get_state_dict(progress), None
    return load_pth(spec), None


def build_finetune_model(cfg, state, num_classes, in_channels):
    """The pretrained model with new head(s) for ``num_classes``, its body frozen if asked,
    and the optimizer's two parameter groups (body lr, head lr)."""
    model = build_model(cfg["model"], num_classes_in(state), in_channels, weights=state)
    transfer.replace_head(model, num_classes)
    if cfg["freeze_body"]:
        transfer.freeze(model)
        for name in transfer.head_names(model):
            transfer.unfreeze(model.get_submodule(name))
    head_lr = cfg["head_lr"] or cfg["lr"] or OPTIMIZERS[cfg["optimizer"]][0]
    body_lr = cfg["body_lr"] if cfg["body_lr"] is not None else head_lr / 10
    cfg["lr"] = head_lr
    return model, transfer.finetune_param_groups(model, head_lr=head_lr, body_lr=body_lr)


# ----- optimizers and schedules ---------------------------------------------------------
def build_optimizer(cfg, params):
    name = cfg["optimizer"]
    lr, momentum, wd = OPTIMIZERS[name]
    lr = cfg["lr"] if cfg["lr"] is not None else lr
    wd = cfg["weight_decay"] if cfg["weight_decay"] is not None else wd
    momentum = cfg["momentum"] if cfg["momentum"] is not None else momentum
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd)
    if name == "rmsprop":
        alpha, eps = (cfg[k] if cfg[k] is not None else RMSPROP_DEFAULTS[k]
                      for k in ("rmsprop_alpha", "rmsprop_eps"))
        return optim.RMSprop(params, lr=lr, alpha=alpha, eps=eps, momentum=momentum,
                             weight_decay=wd)
    return (optim.Adam if name == "adam" else optim.AdamW)(params, lr=lr, weight_decay=wd)


def build_scheduler(cfg, optimizer):
    """The per-epoch schedule, after ``warmup`` epochs of linear warm-up from lr/10.
    step and exponential decay are both ``StepLR`` (lr x gamma every k epochs), with
    different defaults: x0.1 three times in the run, or x0.94 every epoch."""
    epochs, warmup, kind = cfg["epochs"], cfg["warmup"], cfg["schedule"]
    rest = max(1, epochs - warmup)
    gamma = cfg["lr_gamma"] or (0.94 if kind == "exponential" else 0.1)
    if kind == "plateau":
        if warmup:
            raise SystemExit("minicnn: --warmup cannot be combined with --schedule plateau")
        return S.ReduceLROnPlateau(optimizer, mode=PLATEAU_METRICS[cfg["plateau_metric"]],
                                   factor=gamma,
                                   patience=cfg["plateau_patience"])
    every = cfg["lr_step_epochs"] or (1 if kind == "exponential" else max(1, rest // 3))
    main = {"none": lambda: None,
            "step": lambda: S.StepLR(optimizer, step_size=every, gamma=gamma),
            "multistep": lambda: S.MultiStepLR(optimizer, [rest // 2, rest * 3 // 4], gamma=gamma),
            # (a run extended past its end stays at the end: docs/training.md)
            "cosine": lambda: S.CosineAnnealingLR(optimizer, T_max=rest, hold_at_end=True)}[
                "step" if kind == "exponential" else kind]()
    if not warmup:
        return main
    warm = S.LinearLR(optimizer, start_factor=0.1, total_iters=warmup)
    return warm if main is None else S.SequentialLR(optimizer, [warm, main], milestones=[warmup])
