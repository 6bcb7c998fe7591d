"""``Module`` and ``Parameter``: how layers hold weights, sub-layers and state.

A ``Module`` keeps three ordered tables, filled automatically by attribute
assignment (``self.conv1 = Conv2d(...)``):

  * ``_parameters``: the learnable ``Parameter`` tensors (``weight``, ``bias``);
  * ``_buffers``: state that is saved but not learned (BatchNorm's running
    statistics);
  * ``_modules``: sub-modules.

Everything else -- ``parameters()``, ``state_dict()``, ``train()``, ``to()`` -- is
a walk over these tables.  Names follow ``torch.nn.Module``, and so do the
state-dict keys (``layer1.0.bn1.running_mean``), so a PyTorch checkpoint loads
unchanged.
"""
import collections
import itertools

import numpy as np

from .. import backend
from ..autograd import Function, RemovableHandle, Tensor, is_grad_enabled  # noqa: F401
from ..utils import as_numpy


class Parameter(Tensor):
    """A Tensor that is a learnable weight, as ``torch.nn.Parameter``.

    It requires grad, and assigning one to a Module attribute registers it in
    ``module.parameters()``.  Layers make theirs in ``__init__``
    (``self.weight = Parameter(...)``); an optimizer is built from ``model.parameters()``,
    and ``state_dict()`` saves them under their attribute names.

    Args:
        data (array-like or Tensor, optional): the values (kept as given, not copied when
            already an array). Default: ``None`` (an empty float32 array)
        requires_grad (bool, optional): whether backward computes its gradient.
            Default: ``True``

    Example::

        >>> p = nn.Parameter(np.zeros(2, np.float32))
        >>> p
        Parameter containing:
        tensor([0., 0.], dtype=float32, requires_grad=True)
        >>> m = nn.Module()
        >>> m.scale = p                      # registered by assignment
        >>> [name for name, _ in m.named_parameters()]
        ['scale']
    """

    def __init__(self, data=None, requires_grad=True):
        super().__init__(np.empty(0, np.float32) if data is None else data, requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


IncompatibleKeys = collections.namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of every layer and model, as ``torch.nn.Module``.

    Subclasses call ``super().__init__()`` first, assign their parameters and sub-modules,
    and define ``forward``.  Attribute assignment files each value into one of three ordered
    tables: a ``Parameter`` into the parameters, a ``Module`` into the sub-modules, and a
    Tensor registered with ``register_buffer`` into the buffers (saved, not learned:
    BatchNorm's running statistics).  Everything else -- ``parameters()``, ``state_dict()``,
    ``train()``, ``to()`` -- is a walk over these tables, and the state-dict keys follow
    PyTorch's (``layer1.0.bn1.running_mean``), so a PyTorch checkpoint loads unchanged.
    Calling the module runs the forward pre-hooks, ``forward`` and the forward hooks.

    Example::

        >>> class TwoLayers(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc1 = nn.Linear(4, 8)
        ...         self.fc2 = nn.Linear(8, 2)
        ...     def forward(self, x):
        ...         return self.fc2(F.relu(self.fc1(x)))
        >>> model = TwoLayers()
        >>> model
        TwoLayers(
          (fc1): Linear(in_features=4, out_features=8, bias=True)
          (fc2): Linear(in_features=8, out_features=2, bias=True)
        )
        >>> [name for name, _ in model.named_parameters()]
        ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']
        >>> model(mc.tensor(np.zeros((3, 4), np.float32))).shape
        (3, 2)
        >>> model.eval().training
        False
        >>> list(model.state_dict())[:2]
        ['fc1.weight', 'fc1.bias']
    """

    def __init__(self):
        # object.__setattr__: our own __setattr__ needs these tables to exist already
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_forward_pre_hooks", {})
        object.__setattr__(self, "_forward_hooks", {})

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"minicnn: {type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        for hook in list(self._forward_pre_hooks.values()):
            new_args = hook(self, args)
            if new_args is not None:
                args = new_args if isinstance(new_args, tuple) else (new_args,)
        gates = None
        if (self.__dict__.get("_backward_hooks") or self.__dict__.get("_backward_pre_hooks")) \
                and is_grad_enabled():
            gates, args = _BackwardHookGates.around_inputs(self, args)
        output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            new_output = hook(self, args, output)
            if new_output is not None:
                output = new_output
        return output if gates is None else gates.around_output(output)

    # ----- registration: attribute assignment files values into the tables --
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"minicnn: cannot assign {name!r} before Module.__init__() "
                                 f"was called (call super().__init__() first in {type(self).__name__})")
        params, buffers, modules = self._parameters, self._buffers, self._modules
        if isinstance(value, Parameter):
            self._forget(name)
            params[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"minicnn: cannot assign {type(value).__name__} as parameter "
                                f"{name!r} of {type(self).__name__} (use nn.Parameter or None)")
            params[name] = None
        elif isinstance(value, Module):
            self._forget(name)
            modules[name] = value
        elif name in modules:
            if value is not None:
                raise TypeError(f"minicnn: cannot assign {type(value).__name__} as child module "
                                f"{name!r} of {type(self).__name__} (use a Module or None)")
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"minicnn: cannot assign {type(value).__name__} as buffer "
                                f"{name!r} of {type(self).__name__} (use a Tensor or None)")
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name):
        """Remove ``name`` from every table and the plain attributes (before re-filing it)."""
        for table in (self.__dict__, self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        self._non_persistent_buffers.discard(name)

    def __getattr__(self, name):   # called only when normal lookup fails
        for table in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(table)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        if name in self._parameters or name in self._buffers or name in self._modules:
            self._forget(name)
        else:
            object.__delattr__(self, name)

    def register_parameter(self, name, param):
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"minicnn: register_parameter({name!r}) needs a Parameter or None, "
                            f"got {type(param).__name__}")
        self._forget(name)
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Saved state that is not learned.  ``persistent=False`` keeps it out of the state dict."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"minicnn: register_buffer({name!r}) needs a Tensor or None, "
                            f"got {type(tensor).__name__}")
        self._forget(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent_buffers.add(name)

    def add_module(self, name, module):
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"minicnn: add_module({name!r}) needs a Module or None, "
                            f"got {type(module).__name__}")
        self._forget(name)
        self._modules[name] = module

    register_module = add_module

    # ----- walking the tree --------------------------------------------------
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """This module and all below it, depth first, as (dotted name, module)."""
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                child_prefix = f"{prefix}.{name}" if prefix else name
                yield from child.named_modules(memo, child_prefix, remove_duplicate)

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_children(self):
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self):
        return (m for _, m in self.named_children())

    def _named_members(self, table, prefix, recurse):
        """(dotted name, tensor) from one table of every module; shared tensors once."""
        seen = set()
        walk = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for module_name, module in walk:
            for name, value in getattr(module, table).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{module_name}.{name}" if module_name else name), value

    def named_parameters(self, prefix="", recurse=True):
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse=True):
        return (p for _, p in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix="", recurse=True):
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse=True):
        return (b for _, b in self.named_buffers(recurse=recurse))

    def apply(self, fn):
        """Call ``fn(m)`` on every sub-module (children first) and on self; returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ----- modes and gradients ----------------------------------------------
    def train(self, mode=True):
        """Training mode (dropout active, BatchNorm uses batch statistics) for the whole tree."""
        if not isinstance(mode, bool):
            raise TypeError(f"minicnn: train(mode) expects a bool, got {mode!r}")
        object.__setattr__(self, "training", mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad = Tensor(backend.get_array_module(p.grad.data).zeros_like(p.grad.data))

    # ----- devices and dtypes -------------------------------------------------
    def _convert(self, fn, floating_only):
        """Replace every parameter's and buffer's array (and gradient) by fn(array) in place,
        keeping the Parameter objects, so optimizers holding them stay valid."""
        for t in itertools.chain(self.parameters(), self.buffers()):
            if floating_only and t.dtype.kind != "f":
                continue            # num_batches_tracked stays int64
            t.data = fn(t.data)
            if t.grad is not None:
                t.grad = Tensor(fn(t.grad.data))
        return self

    def to(self, target):
        """``to('cuda')`` / ``to('cpu')`` moves everything; ``to(np.float64)`` converts the
        floating-point parameters and buffers."""
        if isinstance(target, str) and target.split(":")[0] in backend.DEVICES:
            device = backend.normalize_device(target)
            return self._convert(lambda a: backend.to_device(a, device), floating_only=False)
        dtype = np.dtype(target)
        if dtype.kind != "f":
            raise TypeError(f"minicnn: Module.to() only converts to floating-point dtypes, got {dtype}")
        return self._convert(lambda a: a.astype(dtype, copy=False), floating_only=True)

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    # ----- saving and loading -------------------------------------------------
    def _state_items(self, prefix=""):
        """(key, tensor) for every parameter and persistent buffer, in PyTorch's order:
        a module's own parameters, then its buffers, then each child's entries."""
        for name, p in self._parameters.items():
            if p is not None:
                yield prefix + name, p
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers:
                yield prefix + name, b
        for name, child in self._modules.items():
            if child is not None:
                yield from child._state_items(f"{prefix}{name}.")

    def state_dict(self, prefix="", keep_vars=False):
        """An ordered dict key -> Tensor (detached, sharing memory with the module)."""
        return collections.OrderedDict(
            (k, t if keep_vars else Tensor(t.data)) for k, t in self._state_items(prefix))

    def _key_may_be_missing(self, key):
        """Keys a checkpoint may lack (old PyTorch files have no num_batches_tracked)."""
        module_path, _, name = key.rpartition(".")
        module = self.get_submodule(module_path)
        return name in getattr(module, "_optional_state_keys", ())

    def get_submodule(self, target):
        module = self
        for part in target.split(".") if target else []:
            if not isinstance(module._modules.get(part), Module):
                raise AttributeError(f"minicnn: {type(self).__name__} has no submodule {target!r}")
            module = module._modules[part]
        return module

    def load_state_dict(self, state_dict, strict=True):
        """Copy values from ``state_dict`` (key -> minicnn Tensor, NumPy array, torch tensor
        or anything ``numpy.asarray`` accepts) into this module's tensors, in place.

        Missing or unexpected keys are errors when ``strict``; a shape mismatch is
        always an error.  Nothing is copied unless every check passes.  Returns
        ``(missing_keys, unexpected_keys)``.
        """
        own = collections.OrderedDict(self._state_items())
        missing = [k for k in own if k not in state_dict and not self._key_may_be_missing(k)]
        unexpected = [k for k in state_dict if k not in own]
        values, problems = {}, []
        for key, value in state_dict.items():
            if key in own:
                values[key] = as_numpy(value)
                if values[key].dtype.kind not in "biuf":    # an object array would load as NaN
                    problems.append(f"{key}: expected numbers (a tensor or numeric array), got "
                                    f"an array of dtype {values[key].dtype}")
                elif values[key].shape != own[key].shape:
                    problems.append(f"size mismatch for {key}: copying a value of shape "
                                    f"{values[key].shape} from the state dict, but the shape "
                                    f"in this model is {own[key].shape}")
        if strict and unexpected:
            problems.insert(0, "unexpected key(s) in state_dict: " + ", ".join(map(repr, unexpected)))
        if strict and missing:
            problems.insert(0, "missing key(s) in state_dict: " + ", ".join(map(repr, missing)))
        if problems:
            raise RuntimeError(f"minicnn: error(s) loading state_dict into {type(self).__name__}:\n\t"
                               + "\n\t".join(problems))
        for key, value in values.items():
            target = own[key]     # assignment converts to the target's dtype
            target.data[...] = backend.to_device(value, target.device)
            target.bump_version()
        return IncompatibleKeys(missing, unexpected)

    # ----- hooks -------------------------------------------------------------
    def register_forward_hook(self, hook):
        """``hook(module, inputs, output)`` runs after every forward; a non-None return value
        replaces the output.  Returns a handle whose ``remove()`` unregisters it."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def register_forward_pre_hook(self, hook):
        """``hook(module, inputs)`` runs before forward; a non-None return replaces the inputs."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    def register_full_backward_pre_hook(self, hook):
        """``hook(module, grad_output)`` runs when the gradient of the module's output is
        known, before it flows into the module; a returned tuple replaces ``grad_output``."""
        return self._add_hook("_backward_pre_hooks", hook)

    def register_full_backward_hook(self, hook):
        """``hook(module, grad_input, grad_output)`` runs when the gradients of the module's
        Tensor inputs are known (None for an input that needs none): what Grad-CAM and
        "watch the gradient flow" use.  A returned tuple replaces ``grad_input`` (for a module
        with one input that needs a gradient)."""
        return self._add_hook("_backward_hooks", hook)

    def _add_hook(self, table, hook):
        if table not in self.__dict__:
            object.__setattr__(self, table, {})
        handle = RemovableHandle(self.__dict__[table])
        self.__dict__[table][handle.id] = hook
        return handle

    # ----- printing ------------------------------------------------------------
    def extra_repr(self):
        """The layer's own settings, shown inside its parentheses (override in layers)."""
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        # PyTorch's format: settings, then one indented "(name): child" line per child
        extra_lines = self.extra_repr().split("\n") if self.extra_repr() else []
        child_lines = [f"({name}): " + _indent(repr(child), 2)
                       for name, child in self._modules.items()]
        lines = extra_lines + child_lines
        body = ""
        if len(extra_lines) == 1 and not child_lines:
            body = extra_lines[0]
        elif lines:
            body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{self._get_name()}({body})"

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))


def _indent(text, spaces):
    """Indent every line but the first (for nesting one repr inside another)."""
    first, *rest = text.split("\n")
    return "\n".join([first] + [" " * spaces + line if line.strip() else "" for line in rest])


# ----- helpers for the layers ---------------------------------------------------
def empty_array(shape, dtype=None, device=None):
    """An uninitialised array, float32 on the CPU unless told otherwise."""
    xp = np if device is None or backend.normalize_device(device) == "cpu" else backend.require_cupy()
    return xp.empty(shape, dtype=np.float32 if dtype is None else dtype)


def new_parameter(shape, dtype=None, device=None):
    """An uninitialised Parameter; the layer's reset_parameters() fills it."""
    return Parameter(empty_array(shape, dtype, device))


def describe(module):
    """How error messages name a layer: 'minicnn: Linear(in_features=512, ...)'."""
    return f"minicnn: {module._get_name()}({module.extra_repr()})"


def named_errors(layer, fn, *args, **kwargs):
    """Run an op; if it rejects the input, say which layer called it (same exception class:
    minicnn's shape errors are also PyTorch's RuntimeError)."""
    try:
        return fn(*args, **kwargs)
    except ValueError as e:
        error = type(e) if type(e).__init__ is ValueError.__init__ else ValueError
        raise error(f"{describe(layer)}: {str(e).removeprefix('minicnn: ')}") from None


# ----- full backward hooks: identity ops around a module's inputs and output ---------------
class _BackwardHookGates:
    """One call of a module with backward hooks.  Its Tensor inputs and its output pass
    through identity ops (``_InputGate``, ``_OutputGate``) whose backward sees the gradients
    at the module's boundary: the output's first (pre-hooks), then the inputs' (hooks)."""

    def __init__(self, module, n_inputs):
        self.module, self.grad_inputs, self.grad_output = module, [None] * n_inputs, None
        self.pending = set()          # inputs whose gradient has not arrived yet

    @classmethod
    def around_inputs(cls, module, args):
        tensors = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        gates = cls(module, len(tensors))
        args = list(args)
        for k, i in enumerate(tensors):
            if args[i].requires_grad:
                gates.pending.add(k)
                args[i] = _InputGate.apply(args[i], gates=gates, index=k)
        return gates, tuple(args)

    def around_output(self, output):
        if isinstance(output, Tensor) and output.requires_grad:
            return _OutputGate.apply(output, gates=self)
        return output

    # g is an array, or a Tensor in a graph (create_graph): what the hooks return goes back
    # as the same kind
    def output_gradient(self, g):
        grad_output = (_as_tensor(g),)
        for hook in list(self.module.__dict__.get("_backward_pre_hooks", {}).values()):
            new = hook(self.module, grad_output)
            if new is not None:
                grad_output = tuple(new) if isinstance(new, (tuple, list)) else (new,)
        self.grad_output = grad_output
        if not self.pending:          # no input needs a gradient: the hooks see Nones
            self._call_hooks()
        return _like(grad_output[0], g)

    def input_gradient(self, index, g):
        self.grad_inputs[index] = _as_tensor(g)
        self.pending.discard(index)
        if self.pending:
            return g
        new = self._call_hooks()
        if new is None:
            return g
        if sum(t is not None for t in self.grad_inputs) > 1:
            raise NotImplementedError("minicnn: a full backward hook replaced grad_input of a "
                                      "module with several inputs that need gradients; minicnn "
                                      "can replace it for one input only")
        return _like(new[index], g)

    def _call_hooks(self):
        result = None
        for hook in list(self.module.__dict__.get("_backward_hooks", {}).values()):
            new = hook(self.module, tuple(self.grad_inputs), self.grad_output)
            if new is not None:
                result = self.grad_inputs = list(new if isinstance(new, (tuple, list)) else (new,))
        return result


def _as_tensor(g):
    return g if isinstance(g, Tensor) else Tensor(g)


def _like(value, g):
    """``value`` (a Tensor or an array) as the kind of gradient ``g`` is."""
    if isinstance(g, Tensor):
        return _as_tensor(value)
    return value.data if isinstance(value, Tensor) else value


class _InputGate(Function):
    settings = ("gates", "index")

    def forward(self, x):
        return x

    def backward(self, g):
        return self.gates.input_gradient(self.index, g)

    backward_graph = backward


class _OutputGate(Function):
    settings = ("gates",)

    def forward(self, y):
        return y

    def backward(self, g):
        return self.gates.output_gradient(g)

    backward_graph = backward
