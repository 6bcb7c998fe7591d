"""minicnn.optim: optimizers and learning-rate schedules, with PyTorch's semantics.

    import minicnn.optim as optim
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    sched = optim.lr_scheduler.StepLR(opt, step_size=30)

Each optimizer file holds one update rule (``_update``) that fits on a screen;
``optimizer.py`` holds what they share (parameter groups, state dicts).
"""
from .optimizer import Optimizer
from .sgd import SGD
from .rmsprop import RMSprop
from .adam import Adam, AdamW
from . import lr_scheduler

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "lr_scheduler"]
