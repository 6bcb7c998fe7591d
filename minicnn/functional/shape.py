"""Shape ops: reshape, transpose/permute, flatten, indexing, cat and stack.

None of these does arithmetic; backward just moves the gradient back to where
each element came from.
"""
import numpy as np

from .. import backend
from ..autograd import Function, InvalidValueError, Tensor
from .arguments import result_type, wrap_dim
from .elementwise import to_dtype


class Reshape(Function):
    settings = ("shape",)

    def forward(self, x):
        return x.reshape(self.shape)

    def backward(self, g):
        return g.reshape(self.input_shapes[0])

    def backward_graph(self, g):
        return g.reshape(self.input_shapes[0])


class Permute(Function):
    settings = ("axes",)

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, g):
        return g.transpose(np.argsort(self.axes))

    def backward_graph(self, g):
        return g.permute(*(int(a) for a in np.argsort(self.axes)))


class GetItem(Function):
    """x[index] for any NumPy index; backward scatters into zeros (np.add.at handles
    repeated integer indices, which a plain assignment would silently drop)."""
    settings = ("index",)

    def forward(self, x):
        return x[self.index]

    def backward(self, g):
        return _scatter(g, self.index, self.input_shapes[0])

    def backward_graph(self, g):
        return Scatter.apply(g, index=self.index, shape=self.input_shapes[0])


class Scatter(Function):
    """GetItem's backward as an op: g (the indexed shape) added into zeros of ``shape`` at
    ``index``.  Its own backward reads the same places back: GetItem."""
    settings = ("index", "shape")

    def forward(self, g):
        return _scatter(g, self.index, self.shape)

    def backward_graph(self, v):
        return GetItem.apply(v, index=self.index)


def _scatter(g, index, shape):
    """zeros(shape) with g added at ``index`` (np.add.at handles repeated integer indices,
    which a plain assignment would silently drop)."""
    xp = backend.get_array_module(g)
    out = xp.zeros(shape, dtype=g.dtype)
    if _is_basic_index(index):
        out[index] = g
    else:
        xp.add.at(out, index, g)
    return out


def _is_basic_index(index):
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, slice)) for p in parts)


class Concatenate(Function):
    """cat(tensors, dim): inputs (.., C_i, ..) -> (.., sum C_i, ..)."""
    settings = ("dim",)

    def forward(self, *xs):
        return backend.get_array_module(*xs).concatenate(xs, axis=self.dim)

    def backward(self, g):
        bounds = np.cumsum([shape[self.dim] for shape in self.input_shapes])[:-1]
        return tuple(backend.get_array_module(g).split(g, bounds, axis=self.dim))

    def backward_graph(self, g):
        stops = np.cumsum([shape[self.dim] for shape in self.input_shapes])
        lead = (slice(None),) * self.dim
        return tuple(GetItem.apply(g, index=lead + (slice(int(stop - shape[self.dim]), int(stop)),))
                     for stop, shape in zip(stops, self.input_shapes))


class Stack(Function):
    """stack(tensors, dim): n inputs of shape S -> S with a new axis of size n at dim."""
    settings = ("dim",)

    def forward(self, *xs):
        return backend.get_array_module(*xs).stack(xs, axis=self.dim)

    def backward(self, g):
        return tuple(g.take(i, axis=self.dim) for i in range(g.shape[self.dim]))

    def backward_graph(self, g):
        lead = (slice(None),) * self.dim
        return tuple(GetItem.apply(g, index=lead + (i,)) for i in range(g.shape[self.dim]))


# ----- the functional API ---------------------------------------------------
def reshape(input, *shape):
    """The same elements in a new shape, as ``torch.reshape`` (``F.view`` is the same op).

    One dim may be -1: it takes whatever size makes the element count match.  Nothing is
    computed; backward reshapes the gradient back to the input's shape.

    Args:
        input (Tensor): the tensor to reshape.
        *shape (ints, or one tuple or list of them): the new shape, with at most one -1.

    Shape:
        - Input: (*), any shape.
        - Output: ``shape``, holding as many elements as the input.

    Example::

        >>> x = mc.tensor([[1, 2, 3], [4, 5, 6]])
        >>> F.reshape(x, 3, 2)
        tensor([[1, 2],
                [3, 4],
                [5, 6]], dtype=int64)
        >>> x.reshape(-1).shape
        (6,)
        >>> F.view(x, (1, 6)).shape
        (1, 6)
    """
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    if input.data.size != np.prod([s for s in shape if s != -1]) and -1 not in shape:
        raise InvalidValueError(f"minicnn: reshape: cannot view {input.shape} "
                                f"({input.data.size} elements) as {shape}")
    return Reshape.apply(input, shape=shape)


view = reshape


def permute(input, *dims):
    """Reorder the dims: output dim i is input dim ``dims[i]``, as ``torch.permute``.

    ``x.T`` reverses every dim with it.  Backward applies the inverse permutation.

    Args:
        input (Tensor): the tensor to permute.
        *dims (ints, or one tuple or list of them): a permutation of ``range(input.ndim)``;
            negative dims count from the end.

    Shape:
        - Input: (D_0, ..., D_{n-1}).
        - Output: (D_dims[0], ..., D_dims[n-1]).

    Example::

        >>> x = mc.tensor(np.zeros((2, 3, 4)))
        >>> F.permute(x, 2, 0, 1).shape
        (4, 2, 3)
        >>> x.permute((0, 2, 1)).shape
        (2, 4, 3)
    """
    dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
    axes = tuple(wrap_dim(d, input.ndim, "permute") for d in dims)
    if sorted(axes) != list(range(input.ndim)):
        raise InvalidValueError(f"minicnn: permute: {dims} is not a permutation of the {input.ndim} "
                                f"dims of a tensor of shape {input.shape}")
    return Permute.apply(input, axes=axes)


def transpose(input, dim0, dim1):
    """Swap two dims, as ``torch.transpose``.

    Args:
        input (Tensor): the tensor.
        dim0 (int): the first dim to swap (negative counts from the end).
        dim1 (int): the second dim to swap.

    Shape:
        - Input: (..., D_dim0, ..., D_dim1, ...).
        - Output: the input's shape with D_dim0 and D_dim1 swapped.

    Example::

        >>> x = mc.tensor([[1, 2, 3], [4, 5, 6]])
        >>> F.transpose(x, 0, 1)
        tensor([[1, 4],
                [2, 5],
                [3, 6]], dtype=int64)
    """
    dim0, dim1 = wrap_dim(dim0, input.ndim, "transpose"), wrap_dim(dim1, input.ndim, "transpose")
    axes = list(range(input.ndim))
    if axes:                    # a 0-d tensor has nothing to swap
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
    return Permute.apply(input, axes=tuple(axes))


def flatten(input, start_dim=0, end_dim=-1):
    """Merge dims start_dim..end_dim into one: (2, 3, 4, 5) with (1, 2) -> (2, 12, 5).

    A 0-d tensor becomes shape (1,).  ``nn.Flatten`` is this with ``start_dim=1`` (keeping
    the batch dim).

    Args:
        input (Tensor): the tensor to flatten.
        start_dim (int, optional): the first dim to merge. Default: ``0``
        end_dim (int, optional): the last dim to merge (inclusive). Default: ``-1``

    Shape:
        - Input: (D_0, ..., D_{n-1}).
        - Output: (D_0, ..., D_start_dim * ... * D_end_dim, ..., D_{n-1}).

    Example::

        >>> x = mc.tensor(np.zeros((2, 3, 4, 5)))
        >>> F.flatten(x).shape
        (120,)
        >>> F.flatten(x, 1, 2).shape
        (2, 12, 5)
    """
    start, end = wrap_dim(start_dim, input.ndim, "flatten"), wrap_dim(end_dim, input.ndim, "flatten")
    if start > end:
        raise InvalidValueError(f"minicnn: flatten: start_dim {start_dim} comes after end_dim "
                                f"{end_dim} for a tensor of shape {input.shape}")
    # the merged size is spelled out: -1 cannot be inferred when the tensor is empty
    merged = int(np.prod(input.shape[start:end + 1]))
    return Reshape.apply(input, shape=input.shape[:start] + (merged,) + input.shape[end + 1:])


def getitem(input, index):
    """``input[index]``, for any NumPy index: what ``x[...]`` calls.

    Ints, slices, ``None``, ``...``, integer or boolean arrays (and Tensors holding them),
    or a tuple of these.  Backward scatters the gradient into zeros (np.add.at handles
    repeated integer indices, which a plain assignment would silently drop).

    Args:
        input (Tensor): the tensor to index.
        index (int, slice, None, Ellipsis, array, Tensor or tuple of them): what to select,
            as in NumPy.

    Shape:
        - Input: (*), any shape.
        - Output: as NumPy gives for ``input.numpy()[index]``.

    Example::

        >>> x = mc.tensor([[1, 2, 3], [4, 5, 6]])
        >>> F.getitem(x, (slice(None), 1))
        tensor([2, 5], dtype=int64)
        >>> x[1, ::2]
        tensor([4, 6], dtype=int64)
        >>> x[mc.tensor([1, 1, 0])].shape
        (3, 3)
    """
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
    """Concatenate tensors along an existing dim, as ``torch.cat``.

    Every tensor has the same number of dims and the same sizes except in ``dim``;
    backward splits the gradient back into the pieces.  0-d tensors cannot be
    concatenated (``stack`` them).

    Args:
        tensors (sequence of Tensors): the tensors to join, at least one.
        dim (int, optional): the dim to join along. Default: ``0``

    Shape:
        - Input: each (..., C_i, ...), with C_i at ``dim``.
        - Output: (..., sum of C_i, ...).

    Example::

        >>> a, b = mc.tensor([[1, 2]]), mc.tensor([[3, 4], [5, 6]])
        >>> F.cat([a, b])
        tensor([[1, 2],
                [3, 4],
                [5, 6]], dtype=int64)
        >>> F.cat([b, b], dim=1).shape
        (2, 4)
    """
    shapes = _check_same_rank("cat", tensors)
    if not shapes[0]:
        raise InvalidValueError(f"minicnn: cat: zero-dimensional tensors cannot be concatenated, "
                                f"got shapes {shapes}")
    dim = wrap_dim(dim, len(shapes[0]), "cat")
    others = {s[:dim] + s[dim + 1:] for s in shapes}
    if len(others) != 1:
        raise InvalidValueError(f"minicnn: cat: shapes must match except in dim {dim}, got {shapes}")
    return Concatenate.apply(*_one_dtype(tensors), dim=dim)


def stack(tensors, dim=0):
    """Join same-shape tensors along a new dim, which may be any of ndim + 1 positions.

    As ``torch.stack``.  Backward takes each tensor's slice of the gradient.

    Args:
        tensors (sequence of Tensors): the tensors to join, at least one, all of one shape.
        dim (int, optional): where the new dim goes, in -(ndim + 1)..ndim. Default: ``0``

    Shape:
        - Input: each (*), the same shape S.
        - Output: S with a new dim of size ``len(tensors)`` at ``dim``.

    Example::

        >>> a, b = mc.tensor([1, 2]), mc.tensor([3, 4])
        >>> F.stack([a, b])
        tensor([[1, 2],
                [3, 4]], dtype=int64)
        >>> F.stack([a, b], dim=1)
        tensor([[1, 3],
                [2, 4]], dtype=int64)
    """
    shapes = _check_same_rank("stack", tensors)
    if len(set(shapes)) != 1:
        raise InvalidValueError(f"minicnn: stack: all tensors must have the same shape, got {shapes}")
    return Stack.apply(*_one_dtype(tensors), dim=wrap_dim(dim, len(shapes[0]) + 1, "stack"))


def _one_dtype(tensors):
    """The tensors cast to their common dtype (PyTorch's result_type), as torch.cat and
    torch.stack promote; the casts stay in the graph, so each gradient keeps its input's dtype."""
    dtype = result_type(*tensors)
    return [to_dtype(t, dtype) for t in tensors]
