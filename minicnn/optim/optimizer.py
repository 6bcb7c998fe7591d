"""The ``Optimizer`` base class: parameter groups, per-parameter state, state dicts.

An optimizer holds a list of *parameter groups*.  Each group is a dict with the
key ``"params"`` (a list of Tensors) plus its own settings (``lr``,
``weight_decay``, ...); settings a group leaves out come from the optimizer's
``defaults``.  This is how one model trains its backbone with a small learning
rate and its new head with a large one::

    opt = SGD([{"params": backbone.parameters(), "lr": 1e-3},
               {"params": head.parameters()}], lr=1e-2, momentum=0.9)

``step()`` visits every parameter that has a gradient and hands its arrays to
the subclass's ``_update(param, grad, state, group)``, which changes
``param`` *in place*.  Those updates are plain array maths (NumPy or CuPy,
whichever holds the parameter): an optimizer step is not part of any graph.

``state`` holds what each parameter's update remembers between steps
(momentum buffers, running averages); it is keyed by ``id(param)`` so that it
never depends on how ``Tensor`` defines ``==``.
"""
import copy

import numpy as np

from .. import backend
from ..autograd import Tensor, no_grad


class _Required:
    """Marks a default that every group must set (like SGD's ``lr``)."""

    def __repr__(self):
        return "<required parameter>"


required = _Required()


class Optimizer:
    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}              # id(param) -> dict of that parameter's state
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError("minicnn: params given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got a single Tensor; wrap it in a list")
        groups = list(params)
        if not groups:
            raise ValueError("minicnn: optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines) + "\n)"

    # ----- parameter groups ---------------------------------------------------
    def add_param_group(self, param_group):
        """Add a group (a dict with "params" and optional settings), as in fine-tuning
        when frozen layers start training."""
        if not isinstance(param_group, dict):
            raise TypeError("minicnn: param_group must be a dict, got "
                            f"{type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("minicnn: optimizer parameters must be in an ordered collection "
                            "(a list), not a set: a set's order changes between runs")
        group["params"] = params = list(params if params is not None else [])
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"minicnn: optimizer can only optimize Tensors, but one of the "
                                f"params is a {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("minicnn: can't optimize a non-leaf Tensor (one computed from "
                                 "others); optimize the leaves it was computed from")
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"minicnn: parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or seen & {id(p) for p in params}:
            raise ValueError("minicnn: some parameters appear more than once (in one group or "
                             "in more than one parameter group)")
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group):
        """Subclasses validate their settings here (lr >= 0, ...)."""

    # ----- the training-loop API ------------------------------------------------
    def zero_grad(self, set_to_none=True):
        """Forget the gradients of the last backward pass.

        ``set_to_none=True`` (the default, as in PyTorch) drops them: the next
        backward then stores fresh gradients instead of adding to zeros.
        """
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.data[...] = 0

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()`` if given.

        ``closure`` re-evaluates the model and returns the loss (it must call
        ``backward``); it is run with gradients enabled before the update.
        """
        loss = closure() if closure is not None else None
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue              # unused in this forward pass: leave it alone
                    grad = p.grad.data if isinstance(p.grad, Tensor) else p.grad
                    if grad.shape != p.data.shape:
                        raise RuntimeError(f"minicnn: {type(self).__name__}: gradient of shape "
                                           f"{grad.shape} for a parameter of shape {p.shape}")
                    self._update(p.data, grad, self.state.setdefault(id(p), {}), group)
                    p.bump_version()
        return loss

    def _update(self, param, grad, state, group):
        """Change the array ``param`` in place, given its gradient array ``grad``,
        its ``state`` dict (empty on the first step) and its ``group``'s settings."""
        raise NotImplementedError

    # ----- saving and resuming ---------------------------------------------------
    def state_dict(self):
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``.

        As in PyTorch, parameters are replaced by their position (0, 1, 2, ...
        counted across all groups in order), so the dict can be loaded into a new
        optimizer built over the same parameters in the same order.  The arrays
        in "state" are the live buffers, not copies (save or deep-copy them).
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {index[key]: dict(value) for key, value in self.state.items() if key in index}
        return {"type": type(self).__name__, "state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore settings and state saved by ``state_dict()`` (e.g. from a checkpoint).

        Arrays are copied onto each parameter's device and, when floating point,
        cast to its dtype.  The state must come from the same kind of optimizer
        (its ``"type"``; SGD's momentum buffers mean nothing to Adam, and Adam's
        settings would turn an AdamW into an Adam): another kind is a ValueError
        naming both.
        """
        self._check_same_kind(state_dict)
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"minicnn: loaded state dict has {len(saved_groups)} parameter "
                             f"groups, but the optimizer has {len(self.param_groups)}")
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"minicnn: loaded state dict's parameter group {i} has "
                                 f"{len(saved['params'])} parameters, the optimizer's has "
                                 f"{len(group['params'])}")
        by_index = {idx: p for saved, group in zip(saved_groups, self.param_groups)
                    for idx, p in zip(saved["params"], group["params"])}
        self.state = {}
        for idx, values in state_dict["state"].items():
            p = by_index.get(int(idx))
            if p is None:
                continue
            self.state[id(p)] = {k: _to_like(v, p) for k, v in values.items()}
        new_groups = []
        for saved, group in zip(saved_groups, self.param_groups):
            settings = {k: copy.deepcopy(v) for k, v in saved.items() if k != "params"}
            for k, v in settings.items():     # JSON and checkpoints turn tuples into lists
                if isinstance(v, list) and isinstance(group.get(k), tuple):
                    settings[k] = tuple(v)
            new_groups.append({**settings, "params": group["params"]})
        self.param_groups = new_groups

    def _check_same_kind(self, state_dict):
        ours = type(self).__name__
        saved = state_dict.get("type")
        if saved is None:      # written before state dicts named their type: compare settings
            keys = {k for g in state_dict["param_groups"] for k in g if k != "params"}
            if keys and keys != set(self.defaults):
                saved = f"an optimizer with settings {sorted(keys)}"
        if saved is not None and saved != ours:
            raise ValueError(f"minicnn: {ours}.load_state_dict: the state was saved by {saved}, "
                             f"not {ours}; build the optimizer the saved run used (its state "
                             "and settings mean nothing to another kind)")


def _to_like(value, param):
    """A saved state entry, as an array next to ``param`` (numbers are kept)."""
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.ndarray) or type(value).__module__.startswith("cupy"):
        value = backend.to_device(value, param.device)
        dtype = param.dtype if value.dtype.kind == "f" else value.dtype
        return value.astype(dtype, copy=True)
    return copy.deepcopy(value)
