"""Learning-rate schedules, with PyTorch's exact semantics.

A scheduler rewrites ``group["lr"]`` of its optimizer's parameter groups each
time ``step()`` is called, usually once per epoch *after* ``optimizer.step()``::

    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(90):
        train_one_epoch(...)      # many opt.step()
        sched.step()

Conventions copied from PyTorch (so learning-rate curves match it exactly):

* ``last_epoch`` counts ``step()`` calls; the constructor already performs one
  "initial" step (``last_epoch`` -1 -> 0) that sets the epoch-0 learning rate.
* The first construction stores each group's starting lr as
  ``group["initial_lr"]``; ``base_lrs`` are those values.
* Most schedules are *chainable*: ``get_lr`` computes the new lr from the
  current ``group["lr"]`` (multiplying by a ratio), so two schedulers can act
  on one optimizer.  ``step(epoch)`` instead uses the closed form from
  ``base_lrs`` (``_get_closed_form_lr``) where one exists.
* ``state_dict()`` is every attribute except the optimizer (plain numbers and
  lists, so it fits in a JSON/``.npz`` checkpoint).
"""
import math
from bisect import bisect_right

from .optimizer import Optimizer


class LRScheduler:
    """Base class: subclasses implement ``get_lr()`` (and ``_get_closed_form_lr()``)."""

    def __init__(self, optimizer, last_epoch=-1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"minicnn: {type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"minicnn: param_groups[{i}] has no 'initial_lr', needed to "
                                   f"resume a scheduler at last_epoch={last_epoch}; load the "
                                   "optimizer's state dict first")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self):
        """The constructor's step: sets the lr of epoch 0 (or of ``last_epoch + 1``)."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self):
        """The new lr of each group, computed after ``last_epoch`` was advanced."""
        raise NotImplementedError

    def get_last_lr(self):
        """The learning rates set by the latest ``step()``, one per group."""
        return list(self._last_lr)

    def step(self, epoch=None):
        """Advance one epoch (or jump to ``epoch``, using the closed form)."""
        self._step_count += 1
        self._update_lr(epoch)

    def _update_lr(self, epoch=None):
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            closed_form = getattr(self, "_get_closed_form_lr", None)
            values = closed_form() if closed_form is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _lrs(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self):
        state = {key: value for key, value in self.__dict__.items() if key != "optimizer"}
        return {"type": type(self).__name__, **state}

    def load_state_dict(self, state_dict):
        """Restore what ``state_dict()`` saved.  The state must come from the same kind of
        scheduler (its ``"type"``): loaded into another kind, it would only overwrite the
        attributes the two happen to share -- neither schedule.  Another kind is a
        ValueError naming both."""
        state = dict(state_dict)
        self._check_same_kind(state.pop("type", None))
        self.__dict__.update(state)

    def _check_same_kind(self, saved):
        ours = type(self).__name__
        if saved is not None and saved != ours:     # (None: saved before states named it)
            raise ValueError(f"minicnn: {ours}.load_state_dict: the state was saved by {saved}, "
                             f"not {ours}; build the schedule the saved run used")


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs (AlexNet, ResNet recipes)."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._lrs()
        return [lr * self.gamma for lr in self._lrs()]

    def _get_closed_form_lr(self):
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the lr by ``gamma`` at each epoch listed in ``milestones``
    (a milestone listed twice multiplies by ``gamma**2``)."""

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones = sorted(int(m) for m in milestones)   # a list: JSON-friendly
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        hits = self.milestones.count(self.last_epoch)
        if hits == 0:
            return self._lrs()
        return [lr * self.gamma ** hits for lr in self._lrs()]

    def _get_closed_form_lr(self):
        passed = bisect_right(self.milestones, self.last_epoch)
        return [base * self.gamma ** passed for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every epoch."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return self._lrs()
        return [lr * self.gamma for lr in self._lrs()]

    def _get_closed_form_lr(self):
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class ConstantLR(LRScheduler):
    """Multiply the lr by ``factor`` for the first ``total_iters`` epochs, then restore it."""

    def __init__(self, optimizer, factor=1.0 / 3, total_iters=5, last_epoch=-1):
        if not 0 <= factor <= 1:
            raise ValueError(f"minicnn: ConstantLR: factor must be in [0, 1], got {factor}")
        self.factor, self.total_iters = factor, total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return [lr * self.factor for lr in self._lrs()]
        if self.last_epoch != self.total_iters:
            return self._lrs()
        return [lr * (1.0 / self.factor) for lr in self._lrs()]

    def _get_closed_form_lr(self):
        return [base * (self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor))
                for base in self.base_lrs]


class LinearLR(LRScheduler):
    """Scale the lr by a factor going linearly from ``start_factor`` (epoch 0) to
    ``end_factor`` (epoch ``total_iters`` and after): the usual linear warm-up.

    Chainable form: each step multiplies the current lr by the ratio of
    consecutive factors, ``f(t) / f(t-1)``.
    """

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5,
                 last_epoch=-1):
        if not 0 < start_factor <= 1:
            raise ValueError("minicnn: LinearLR: start_factor must be in (0, 1], got "
                             f"{start_factor}")
        if not 0 <= end_factor <= 1:
            raise ValueError(f"minicnn: LinearLR: end_factor must be in [0, 1], got {end_factor}")
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._lrs()]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._lrs()
        change = self.end_factor - self.start_factor
        # f(t)/f(t-1) with f(t) = start + change * t / total, rearranged as PyTorch does
        ratio = 1.0 + change / (self.total_iters * self.start_factor
                                + (self.last_epoch - 1) * change)
        return [lr * ratio for lr in self._lrs()]

    def _get_closed_form_lr(self):
        change = self.end_factor - self.start_factor
        return [base * (self.start_factor
                        + change * min(self.total_iters, self.last_epoch) / self.total_iters)
                for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Anneal the lr from its base value to ``eta_min`` along half a cosine over
    ``T_max`` epochs (then back up, periodically, if stepping continues):

        lr(t) = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2

    computed recursively from the current lr, exactly like PyTorch.

    ``hold_at_end=True`` (not in PyTorch): after ``T_max`` epochs the lr stays at
    ``eta_min`` instead of rising again -- what a run extended past its planned end
    wants (the command line's cosine schedule): a converged model is not kicked back
    to the initial learning rate.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1, *, hold_at_end=False):
        self.T_max, self.eta_min, self.hold_at_end = T_max, eta_min, bool(hold_at_end)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t, T, lo = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._lrs()
        if self.hold_at_end and t >= T:
            return [lo for _ in self.base_lrs]
        if self._step_count == 1 and t > 0:        # resumed with last_epoch > 0
            return [lo + (base - lo) * (1 + math.cos(t * math.pi / T)) / 2
                    for base in self.base_lrs]
        if (t - 1 - T) % (2 * T) == 0:             # at the bottom the ratio below is 0/0
            return [lr + (base - lo) * (1 - math.cos(math.pi / T)) / 2
                    for base, lr in zip(self.base_lrs, self._lrs())]
        ratio = (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
        return [ratio * (lr - lo) + lo for lr in self._lrs()]

    def _get_closed_form_lr(self):
        t = min(self.last_epoch, self.T_max) if self.hold_at_end else self.last_epoch
        return [self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2
                for base in self.base_lrs]


class SequentialLR(LRScheduler):
    """Run ``schedulers[0]`` until ``milestones[0]``, then ``schedulers[1]``, ...

    Typical use: ``SequentialLR(opt, [LinearLR(opt, 0.1, total_iters=5),
    CosineAnnealingLR(opt, T_max=85)], milestones=[5])`` (warm-up, then cosine).
    At a milestone the next scheduler restarts from its epoch 0.
    """

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        if len(schedulers) < 1:
            raise ValueError("minicnn: SequentialLR expects at least one scheduler")
        for i, s in enumerate(schedulers):
            if isinstance(s, ReduceLROnPlateau):
                raise ValueError(f"minicnn: SequentialLR does not support ReduceLROnPlateau "
                                 f"(index {i}): its step() needs a metric")
            if s.optimizer is not optimizer:
                raise ValueError(f"minicnn: SequentialLR: scheduler {i} "
                                 f"({type(s).__name__}) belongs to a different optimizer")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"minicnn: SequentialLR expects one milestone fewer than schedulers, "
                             f"got {len(schedulers)} schedulers and {len(milestones)} milestones")
        self._schedulers = list(schedulers)
        self._milestones = list(milestones)
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        # Every scheduler's constructor already stepped once: undo that, restore the
        # initial lrs and let only the first one take its initial step.
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for s in self._schedulers:
            s.last_epoch -= 1
        first = self._schedulers[bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self):
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)              # restart the next phase at its epoch 0
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self):
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return {"type": type(self).__name__, **state}

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        saved = state.pop("type", None)
        if saved is None and "_schedulers" not in state:   # untyped, and not a SequentialLR's
            saved = "a single schedule"
        self._check_same_kind(saved)
        for s, saved in zip(self._schedulers, state.pop("_schedulers")):
            s.load_state_dict(saved)
        self.__dict__.update(state)


class ReduceLROnPlateau(LRScheduler):
    """Multiply the lr by ``factor`` when a metric stops improving.

    ``step(metric)`` once per epoch (e.g. the validation loss).  An epoch is
    "better" when the metric beats the best so far by more than ``threshold``
    (relative: ``best * (1 - threshold)`` in min mode; absolute: ``best -
    threshold``).  After more than ``patience`` epochs that are not better, the
    lr is reduced (never below ``min_lr``, and not at all if the change would be
    smaller than ``eps``), then ``cooldown`` epochs are ignored.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8):
        if factor >= 1.0:
            raise ValueError(f"minicnn: ReduceLROnPlateau: factor should be < 1.0, got {factor}")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"minicnn: {type(optimizer).__name__} is not an Optimizer")
        if mode not in ("min", "max"):
            raise ValueError("minicnn: ReduceLROnPlateau: mode must be 'min' or 'max', got "
                             f"{mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError("minicnn: ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', "
                             f"got {threshold_mode!r}")
        self.optimizer = optimizer
        n = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n:
                raise ValueError(f"minicnn: ReduceLROnPlateau: expected {n} min_lrs, got "
                                 f"{len(min_lr)}")
            self.default_min_lr, self.min_lrs = None, list(min_lr)
        else:
            self.default_min_lr, self.min_lrs = min_lr, [min_lr] * n
        self.factor, self.patience, self.cooldown, self.eps = factor, patience, cooldown, eps
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.last_epoch = 0
        self._last_lr = self._lrs()
        self._reset()

    def _reset(self):
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self):
        return self.cooldown_counter > 0

    def is_better(self, a, best):
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, metrics, epoch=None):
        current = float(metrics.item() if hasattr(metrics, "item") else metrics)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0          # bad epochs during cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._lrs()

    def _reduce_lr(self):
        if len(self.min_lrs) != len(self.optimizer.param_groups):
            if self.default_min_lr is None:
                raise RuntimeError("minicnn: ReduceLROnPlateau: the optimizer now has "
                                   f"{len(self.optimizer.param_groups)} param groups but min_lr "
                                   f"lists {len(self.min_lrs)}; update min_lrs")
            self.min_lrs = [self.default_min_lr] * len(self.optimizer.param_groups)
        for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new
