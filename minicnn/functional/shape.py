"""Shape ops: reshape, transpose/permute, flatten, indexing, cat and stack.

None of these does arithmetic; backward just moves the gradient back to where
each element came from.
"""
import numpy as np

from .. import backend
from ..autograd import Function, InvalidValueError, Tensor
from .elementwise import wrap_dim


class Reshape(Function):
    settings = ("shape",)

    def forward(self, x):
        self.x_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, g):
        return g.reshape(self.x_shape)


class Permute(Function):
    settings = ("axes",)

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, g):
        return g.transpose(np.argsort(self.axes))


class GetItem(Function):
    """x[index] for any NumPy index; backward scatters into zeros (np.add.at handles
    repeated integer indices, which a plain assignment would silently drop)."""
    settings = ("index",)

    def forward(self, x):
        self.x_shape = x.shape
        return x[self.index]

    def backward(self, g):
        xp = backend.get_array_module(g)
        gx = xp.zeros(self.x_shape, dtype=g.dtype)
        if _is_basic_index(self.index):
            gx[self.index] = g
        else:
            xp.add.at(gx, self.index, g)
        return gx


def _is_basic_index(index):
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, slice)) for p in parts)


class Concatenate(Function):
    """cat(tensors, dim): inputs (.., C_i, ..) -> (.., sum C_i, ..)."""
    settings = ("dim",)

    def forward(self, *xs):
        self.sizes = [x.shape[self.dim] for x in xs]
        return backend.get_array_module(*xs).concatenate(xs, axis=self.dim)

    def backward(self, g):
        bounds = np.cumsum(self.sizes)[:-1]
        return tuple(backend.get_array_module(g).split(g, bounds, axis=self.dim))


class Stack(Function):
    """stack(tensors, dim): n inputs of shape S -> S with a new axis of size n at dim."""
    settings = ("dim",)

    def forward(self, *xs):
        return backend.get_array_module(*xs).stack(xs, axis=self.dim)

    def backward(self, g):
        return tuple(g.take(i, axis=self.dim) for i in range(g.shape[self.dim]))


# ----- the functional API ---------------------------------------------------
def reshape(input, *shape):
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    if input.data.size != np.prod([s for s in shape if s != -1]) and -1 not in shape:
        raise InvalidValueError(f"minicnn: reshape: cannot view {input.shape} "
                                f"({input.data.size} elements) as {shape}")
    return Reshape.apply(input, shape=shape)


view = reshape


def permute(input, *dims):
    dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
    axes = tuple(wrap_dim(d, input.ndim, "permute") for d in dims)
    if sorted(axes) != list(range(input.ndim)):
        raise InvalidValueError(f"minicnn: permute: {dims} is not a permutation of the {input.ndim} "
                                f"dims of a tensor of shape {input.shape}")
    return Permute.apply(input, axes=axes)


def transpose(input, dim0, dim1):
    dim0, dim1 = wrap_dim(dim0, input.ndim, "transpose"), wrap_dim(dim1, input.ndim, "transpose")
    axes = list(range(input.ndim))
    if axes:                    # a 0-d tensor has nothing to swap
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
    return Permute.apply(input, axes=tuple(axes))


def flatten(input, start_dim=0, end_dim=-1):
    """Merge dims start_dim..end_dim into one: (2, 3, 4, 5) with (1, 2) -> (2, 12, 5).
    A 0-d tensor becomes shape (1,)."""
    start, end = wrap_dim(start_dim, input.ndim, "flatten"), wrap_dim(end_dim, input.ndim, "flatten")
    if start > end:
        raise InvalidValueError(f"minicnn: flatten: start_dim {start_dim} comes after end_dim "
                                f"{end_dim} for a tensor of shape {input.shape}")
    # the merged size is spelled out: -1 cannot be inferred when the tensor is empty
    merged = int(np.prod(input.shape[start:end + 1]))
    return Reshape.apply(input, shape=input.shape[:start] + (merged,) + input.shape[end + 1:])


def getitem(input, index):
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return GetItem.apply(input, index=index)


def _check_same_rank(op, tensors):
    if not tensors:
        raise InvalidValueError(f"minicnn: {op}: expected a non-empty sequence of tensors")
    shapes = [t.shape for t in tensors]
    if len({len(s) for s in shapes}) != 1:
        raise InvalidValueError(f"minicnn: {op}: all tensors must have the same number of dims, "
                                f"got {shapes}")
    return shapes


def cat(tensors, dim=0):
    shapes = _check_same_rank("cat", tensors)
    if not shapes[0]:
        raise InvalidValueError(f"minicnn: cat: zero-dimensional tensors cannot be concatenated, "
                                f"got shapes {shapes}")
    dim = wrap_dim(dim, len(shapes[0]), "cat")
    others = {s[:dim] + s[dim + 1:] for s in shapes}
    if len(others) != 1:
        raise InvalidValueError(f"minicnn: cat: shapes must match except in dim {dim}, got {shapes}")
    return Concatenate.apply(*tensors, dim=dim)


def stack(tensors, dim=0):
    """Join same-shape tensors along a new dim, which may be any of ndim + 1 positions."""
    shapes = _check_same_rank("stack", tensors)
    if len(set(shapes)) != 1:
        raise InvalidValueError(f"minicnn: stack: all tensors must have the same shape, got {shapes}")
    return Stack.apply(*tensors, dim=wrap_dim(dim, len(shapes[0]) + 1, "stack"))
