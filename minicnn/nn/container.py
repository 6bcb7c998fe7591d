"""Containers: ``Sequential`` (a pipeline), ``ModuleList`` and ``ModuleDict`` (plain
collections whose members are registered, so their parameters are found).

Children are named "0", "1", ... exactly as in PyTorch, which fixes state-dict
keys such as ``features.0.weight`` or ``layer1.0.conv1.weight``.
"""
import collections
import operator

from .module import Module, _indent


class Sequential(Module):
    """Runs its children one after another: ``Sequential(Conv2d(...), ReLU())``.
    Also accepts one OrderedDict name -> module."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], collections.OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(modules):
                self.add_module(str(i), module)

    def _key_at(self, index):
        keys = list(self._modules)
        try:
            return keys[operator.index(index)]
        except IndexError:
            raise IndexError(f"minicnn: index {index} is out of range for "
                             f"{type(self).__name__} of length {len(self)}") from None

    def __getitem__(self, index):
        if isinstance(index, slice):   # keeps the original names, as PyTorch does
            return type(self)(collections.OrderedDict(list(self._modules.items())[index]))
        return self._modules[self._key_at(index)]

    def __setitem__(self, index, module):
        setattr(self, self._key_at(index), module)

    def __delitem__(self, index):
        delattr(self, self._key_at(index))

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def forward(self, x):
        for module in self:
            x = module(x)
        return x


class ModuleList(Module):
    """A list of modules (no forward of its own): ``self.blocks = ModuleList([...])``."""

    def __init__(self, modules=None):
        super().__init__()
        self.extend(modules or [])

    def __getitem__(self, index):
        items = list(self._modules.values())
        if isinstance(index, slice):
            return ModuleList(items[index])
        return items[operator.index(index)]

    def __setitem__(self, index, module):
        key = list(self._modules)[operator.index(index)]
        setattr(self, key, module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def insert(self, index, module):
        items = list(self._modules.values())
        items.insert(index, module)
        self._modules.clear()
        self.extend(items)

    def __repr__(self):
        # PyTorch compresses runs of identical children: "(0-2): 3 x Linear(...)"
        if not len(self):
            return "ModuleList()"
        runs = []                  # [first index, last index, repr]
        for i, module in enumerate(self):
            r = repr(module)
            if runs and runs[-1][2] == r:
                runs[-1][1] = i
            else:
                runs.append([i, i, r])
        lines = [_indent(f"({a}): {r}" if a == b else f"({a}-{b}): {b - a + 1} x {r}", 2)
                 for a, b, r in runs]
        return "ModuleList(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """A dict of modules, registered under their keys."""

    def __init__(self, modules=None):
        super().__init__()
        for name, module in dict(modules or {}).items():
            self.add_module(name, module)

    def __getitem__(self, name):
        return self._modules[name]

    def __setitem__(self, name, module):
        self.add_module(name, module)

    def __delitem__(self, name):
        del self._modules[name]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, name):
        return name in self._modules

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()
