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

    As ``torch.nn.Sequential``.  Also accepts one OrderedDict name -> module.  Children are
    named "0", "1", ... (or by the dict's keys), which fixes state-dict keys such as
    ``features.0.weight``.  Indexing gives a child; a slice gives a new Sequential holding
    the same children under their original names, as PyTorch does.

    Args:
        *modules (Module, or one OrderedDict of name -> Module): the layers, in order.

    Example::

        >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> model
        Sequential(
          (0): Linear(in_features=4, out_features=8, bias=True)
          (1): ReLU()
          (2): Linear(in_features=8, out_features=2, bias=True)
        )
        >>> model(mc.tensor(np.zeros((3, 4), np.float32))).shape
        (3, 2)
        >>> model[0]
        Linear(in_features=4, out_features=8, bias=True)
        >>> list(model.state_dict())
        ['0.weight', '0.bias', '2.weight', '2.bias']
        >>> import collections
        >>> nn.Sequential(collections.OrderedDict(fc=nn.Linear(4, 2), act=nn.ReLU()))
        Sequential(
          (fc): Linear(in_features=4, out_features=2, bias=True)
          (act): ReLU()
        )
    """

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
    """A list of modules (no forward of its own): ``self.blocks = ModuleList([...])``.

    As ``torch.nn.ModuleList``.  Unlike a plain Python list, its members are registered
    (named "0", "1", ...), so the parent module finds their parameters, saves them and
    moves them with ``to()``.  It supports indexing, slicing, ``len``, iteration,
    ``append``, ``extend``, ``insert`` and ``+=``.

    Args:
        modules (iterable of Module, optional): the initial members. Default: ``None``
            (empty)

    Example::

        >>> blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
        >>> blocks
        ModuleList(
          (0-2): 3 x Linear(in_features=4, out_features=4, bias=True)
        )
        >>> x = mc.tensor(np.zeros((2, 4), np.float32))
        >>> for block in blocks:
        ...     x = block(x)
        >>> x.shape
        (2, 4)
        >>> len(list(blocks.parameters()))
        6
    """

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
    """A dict of modules, registered under their keys.

    As ``torch.nn.ModuleDict``: the members' parameters belong to the parent module, and
    their state-dict keys start with the member's key.  It supports ``d[key]``,
    ``d[key] = module``, ``del d[key]``, ``in``, ``len``, iteration over the keys, and
    ``keys()``, ``items()`` and ``values()``.

    Args:
        modules (dict or iterable of (str, Module) pairs, optional): the initial members.
            Default: ``None`` (empty)

    Example::

        >>> heads = nn.ModuleDict({"digits": nn.Linear(8, 10), "parity": nn.Linear(8, 2)})
        >>> heads["parity"]
        Linear(in_features=8, out_features=2, bias=True)
        >>> sorted(heads.state_dict())
        ['digits.bias', 'digits.weight', 'parity.bias', 'parity.weight']
    """

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
