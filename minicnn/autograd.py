"""The autograd core: ``Tensor``, ``Function``, ``no_grad``.

A ``Tensor`` wraps one array (NumPy or CuPy).  When it was computed from tensors
that require gradients, it also remembers the ``Function`` that made it.  Each
Function in turn remembers where its inputs came from (``parents``): the Function
that computed each one, or the leaf tensor itself.  Those links form the graph that
``Tensor.backward`` walks in reverse topological order.

The graph links Functions, not the intermediate Tensors: an activation that no
backward needs (a batch norm's output, once the ReLU after it has run) is freed as
soon as the model's code lets go of it.  Whatever backward needs, the op saved in
``forward``; nothing else stays alive.  PyTorch's graph works the same way.

A ``Function`` subclass implements ``forward`` and ``backward`` on *raw arrays*, and
names what backward needs with ``self.save_for_backward(x=x, ...)``.  Ops never see
Tensors, and this file never sees array maths: that split keeps both halves short.
"""
import contextlib
import itertools
import weakref

import numpy as np

from . import backend

_grad_enabled = True
# PyTorch's default dtype: what Python floats (and integer maths that must be fractional,
# such as int / int) become.
DEFAULT_FLOAT = np.dtype(np.float32)
# What apply and backward keep on every Function instance: a setting must not overwrite them.
_RESERVED = ("parents", "input_shapes", "output_shape", "needs_input_grad", "released",
             "saved_names")
_observers = []     # callbacks of the active ``observe`` blocks, outermost first


class InvalidValueError(ValueError, RuntimeError):
    """A wrong shape or value.  A ValueError, as Python code expects, and also the
    RuntimeError PyTorch raises for the same mistake, so code written for either catches it."""


class InvalidDtypeError(TypeError, NotImplementedError):
    """A dtype the op does not take.  A TypeError, as Python code expects, and also the
    NotImplementedError (a RuntimeError) PyTorch raises, so code written for either catches it."""


@contextlib.contextmanager
def no_grad():
    """Inside this block no graph is recorded (evaluation, optimizer steps)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled():
    return _grad_enabled


@contextlib.contextmanager
def enable_grad():
    """Inside this block the graph is recorded, even within ``no_grad`` (PyTorch's name)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, True
    try:
        yield
    finally:
        _grad_enabled = previous


@contextlib.contextmanager
def observe(callback):
    """Inside this block, ``callback(fn, inputs, output)`` runs after every op.

    ``fn`` is the op's ``Function`` after its forward (its settings, ``input_shapes``,
    ``output_shape`` and what it declares -- ``windows()``, ``multiply_adds()`` -- can be
    read), ``inputs`` the Tensors (or None) it was given, ``output`` its Tensor result
    (the first one, for ops with extra outputs).  ``mc.summary`` and ``viz`` are built on
    it; blocks nest.  Example::

        seen = []
        with mc.autograd.observe(lambda fn, inputs, out: seen.append(fn.name())):
            model(x)
    """
    _observers.append(callback)
    try:
        yield
    finally:
        _observers.remove(callback)


class RemovableHandle:
    """Returned by every ``register_*hook`` (a module's, a tensor's); ``handle.remove()``
    unregisters the hook.

    As ``torch.utils.hooks.RemovableHandle``.  Also a context manager: the hook is removed
    when the ``with`` block ends.

    Args:
        hooks (dict): the table of hooks (id -> hook) that ``remove`` deletes the hook from.

    Example::

        >>> layer = nn.Identity()
        >>> handle = layer.register_forward_hook(lambda module, inputs, out: out * 2)
        >>> layer(mc.tensor([1.0, 2.0]))
        tensor([2., 4.], dtype=float32)
        >>> handle.remove()
        >>> layer(mc.tensor([1.0, 2.0]))
        tensor([1., 2.], dtype=float32)
        >>> with layer.register_forward_hook(lambda module, inputs, out: out + 10):
        ...     print(layer(mc.tensor([1.0, 2.0])))
        tensor([11., 12.], dtype=float32)
        >>> layer(mc.tensor([1.0, 2.0]))
        tensor([1., 2.], dtype=float32)
    """

    _ids = itertools.count()

    def __init__(self, hooks):
        self.hooks, self.id = hooks, next(self._ids)

    def remove(self):
        self.hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()



class Function:
    """Base class of every differentiable op.

    Subclasses define ``forward(*arrays) -> array`` and
    ``backward(grad_out) -> one gradient per input`` (an array, or None for an
    input that needs no gradient).  What an op is, it declares:

    * ``settings``: the names of its non-tensor settings (stride, eps, ...), passed to
      ``apply`` as keywords; they become attributes of the instance.
    * what backward needs: ``forward`` calls ``self.save_for_backward(x=x, ...)``, and
      backward reads ``self.x``.  Nothing else may be set on ``self`` in forward (apply
      says so): ``saved`` lists it, ``release`` drops it after backward.
    * ``windows()``: an op that slides a window over its first input returns the
      window tables of that input's rows and columns (``geometry.Windows``); ``summary``
      grows receptive fields with them and ``viz`` finds which pixels a unit sees.
    * ``multiply_adds()``: the op's multiply-adds, for ``summary``'s arithmetic column.
    * ``in_place_in_models``: True for an op that torchvision's models run in place
      (ReLU): ``summary`` counts no new memory for its output, as the lectures' tables do.
    * ``accumulates_into``: the inputs whose gradient the op can add straight into an
      existing array (Linear's weight).  Backward then receives ``into={i: array}`` for
      those whose leaf already has a ``.grad``, adds input i's gradient there and returns
      None for it: gradient accumulation needs no weight-sized temporary.

    ``self.needs_input_grad`` tells backward which gradients are wanted, so it can skip
    expensive ones (for example a convolution's input gradient); ``self.input_shapes``
    and ``self.output_shape`` are the shapes forward saw.  ``forward`` may also return a
    tuple ``(output, *extras)``: the extras are results that carry no gradient (max
    pooling's argmax), handed back by ``apply`` as plain Tensors after the output.
    """
    settings = ()       # names of the op's non-tensor settings, e.g. ("stride", "padding")
    saved_names = ()    # what forward saved for backward (save_for_backward fills it)
    accumulates_into = ()   # inputs whose gradient backward(g, into=...) can add in place
    in_place_in_models = False
    _tensor_hooks = None    # hooks registered on the op's output tensor (register_hook)
    _retains_grad = None    # weakref to the output tensor, when it called retain_grad()
    _watched = ()           # (leaf tensor, its version) for leaves whose arrays forward saved

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        clashes = [name for name in cls.settings if name in _RESERVED or hasattr(Function, name)]
        if clashes:
            raise TypeError(f"minicnn: {cls.__name__}: setting(s) {clashes} would overwrite "
                            "what every Function needs; choose other names")

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, grad_out):
        """The gradients on arrays.  By default, ``backward_graph`` run on constant Tensors:
        an op that exists only as another op's backward (``ConvInputGrad``) writes its maths
        once, as Tensor ops."""
        with no_grad():
            grads = self.backward_graph(Tensor(grad_out))
        grads = grads if isinstance(grads, tuple) else (grads,)
        return tuple(None if g is None else g.data for g in grads)

    def backward_graph(self, grad_out):
        """``backward`` again, written with minicnn's differentiable ops on Tensors, so that
        the gradients it returns are themselves in a graph (``create_graph=True``: gradients
        of gradients).  ``grad_out`` is a Tensor; return one Tensor (or None) per input.
        What forward saved comes back into the graph through ``input_tensor`` and
        ``output_tensor``."""
        raise NotImplementedError(
            f"minicnn: {type(self).__name__} has no double backward (backward_graph), so "
            "create_graph=True cannot differentiate through it")

    def input_tensor(self, i, array):
        """Input ``i`` as a Tensor of the graph, from the array forward saved: the leaf tensor
        itself, or a Tensor computed by the same Function as the original, so a derivative
        of the backward flows on through the forward graph; a constant for an input that
        needs no gradient."""
        parent = self.parents[i] if hasattr(self, "parents") else None
        if parent is None:
            return Tensor(array)
        if isinstance(parent, Tensor):          # a leaf (its version is checked by backward)
            return parent
        return Tensor(array, requires_grad=True, _creator=parent)

    def output_tensor(self, array):
        """This op's output as a Tensor of the graph (an op whose backward uses its output:
        exp, sigmoid, softmax)."""
        return Tensor(array, requires_grad=True, _creator=self)

    def save_for_backward(self, **values):
        """Keep ``values`` (arrays or small facts such as a shape) for backward, as
        attributes: ``self.save_for_backward(x=x, w=w)``, then ``self.x`` in backward."""
        for name, value in values.items():
            setattr(self, name, value)
        self.saved_names = self.saved_names + tuple(n for n in values if n not in self.saved_names)

    @property
    def saved(self):
        """What forward saved for backward: {name: value} ({} once released)."""
        return {name: getattr(self, name) for name in self.saved_names if hasattr(self, name)}

    def windows(self):
        """(rows, cols) window tables of the first input, for an op that slides a window
        over it; None (the default) for an op that does not."""
        return None

    def multiply_adds(self):
        """The op's multiply-adds (0 by default: only products of many terms count)."""
        return 0

    @classmethod
    def apply(cls, *inputs, **settings):
        """Run forward on the inputs' arrays and link the result into the graph.

        ``inputs`` are Tensors or None (an absent optional input such as a bias);
        ``settings`` are exactly the names in ``cls.settings``.
        """
        if set(settings) != set(cls.settings):
            unknown = sorted(set(settings) - set(cls.settings))
            missing = sorted(set(cls.settings) - set(settings))
            raise TypeError(f"minicnn: {cls.__name__} takes the settings {list(cls.settings)}; "
                            f"unknown: {unknown}, missing: {missing}")
        fn = cls()
        for name, value in settings.items():
            setattr(fn, name, value)
        arrays = [None if t is None else t.data for t in inputs]
        fn.needs_input_grad = tuple(t is not None and t.requires_grad for t in inputs)
        fn.input_shapes = tuple(None if t is None else t.shape for t in inputs)
        out = fn.forward(*arrays)
        out, extras = (out[0], out[1:]) if isinstance(out, tuple) else (out, ())
        fn.output_shape = tuple(out.shape)
        # forward may set only what it declared (a quick count first: this runs on every op)
        if len(vars(fn)) != len(settings) + 3 + (len(fn.saved_names) + 1 if fn.saved_names else 0):
            _refuse_undeclared_state(fn, settings)
        if _grad_enabled and any(fn.needs_input_grad):
            # per input: None (no gradient wanted), a leaf Tensor, or the Function that
            # computed it -- never an intermediate Tensor, so its array can be freed
            fn.parents = tuple(_node(t) if needed else None
                               for t, needed in zip(inputs, fn.needs_input_grad))
            if fn.saved_names:
                fn._watched = _saved_leaves(fn, inputs)
            result = Tensor(out, requires_grad=True, _creator=fn)
        else:
            result = Tensor(out)
        for callback in _observers:
            callback(fn, inputs, result)
        return (result, *map(Tensor, extras)) if extras else result

    def release(self):
        """Drop what forward saved, and the settings (a dropout mask is one); a second
        backward through here then fails clearly.  The graph's links and shapes stay."""
        for name in self.saved_names + type(self).settings:
            delattr(self, name)
        self.saved_names = ()
        self.released = True

    def name(self):
        """A readable name, as PyTorch's grad_fn.name(): 'Conv2dBackward'."""
        return f"{type(self).__name__}Backward"

    def __repr__(self):
        return f"<{type(self).__name__}>"


class Tensor:
    """An array plus, optionally, its gradient and the Function that produced it."""

    __array_priority__ = 1000   # make `ndarray + Tensor` call Tensor.__radd__
    _retains_grad = None        # a leaf keeps its gradient anyway (see retain_grad)
    _version = 0                # how many times its array was changed in place (bump_version)

    def __init__(self, data, requires_grad=False, _creator=None):
        if isinstance(data, Tensor):
            data = data.data
        xp = backend.get_array_module(data)
        self.data = data if isinstance(data, xp.ndarray) else xp.asarray(data)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError("minicnn: only floating-point tensors can require gradients, "
                            f"got dtype {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._creator = _creator
        self._grad_hooks = []
        self._tensor_hooks = None

    # ----- array facts -------------------------------------------------------
    shape = property(lambda self: tuple(self.data.shape))
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    device = property(lambda self: backend.device_of(self.data))
    is_leaf = property(lambda self: self._creator is None)
    # the Function that made this tensor (None for a leaf); PyTorch's name for it
    grad_fn = property(lambda self: self._creator)

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self):
        return int(self.data.size)

    def __len__(self):
        return len(self.data)

    def numpy(self):
        """The values as a NumPy array (copied from the GPU if needed)."""
        return backend.to_numpy(self.data)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"minicnn: item() needs a tensor with one element, got shape {self.shape}")
        return self.data.reshape(-1)[0].item()

    def tolist(self):
        return self.numpy().tolist()

    def __repr__(self):
        extra = ", requires_grad=True" if self.requires_grad else ""
        if self.device != "cpu":
            extra += f", device='{self.device}'"
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        return f"tensor({body}, dtype={self.dtype}{extra})"

    # ----- conversions -------------------------------------------------------
    def detach(self):
        """Same data, cut off from the graph."""
        return Tensor(self.data)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` each time backward has added into this leaf's ``.grad``
        (PyTorch's name).  DistributedDataParallel uses it to start averaging a gradient
        across processes as soon as it is final."""
        if self._creator is not None:
            raise RuntimeError("minicnn: post-accumulate-grad hooks can only be registered on "
                               "leaf tensors")
        self._grad_hooks.append(hook)

    def register_hook(self, hook):
        """Call ``hook(grad)`` with the gradient of this tensor each time backward computes it;
        a Tensor that the hook returns replaces the gradient (for the leaf's ``.grad`` and for
        everything backward computes from it).  Hooks run in the order they were registered,
        before a leaf's gradient is accumulated.  Returns a handle: ``handle.remove()``.

        Example::

            >>> x = mc.tensor([1.0, 2.0], requires_grad=True)
            >>> y = x * 3
            >>> handle = y.register_hook(lambda g: g * 10)     # scale what flows back through y
            >>> y.sum().backward()
            >>> x.grad
            tensor([30., 30.], dtype=float32)
        """
        if not self.requires_grad:
            raise RuntimeError("minicnn: cannot register a hook on a tensor that doesn't require "
                               "gradient")
        node = _node(self)
        if node._tensor_hooks is None:
            node._tensor_hooks = {}
        handle = RemovableHandle(node._tensor_hooks)
        node._tensor_hooks[handle.id] = hook
        return handle

    def retain_grad(self):
        """Keep this (non-leaf) tensor's gradient in its ``.grad`` when backward runs, as a
        leaf's is kept (a leaf keeps it anyway).  It sees the gradient after the hooks."""
        if not self.requires_grad:
            raise RuntimeError("minicnn: can't retain_grad on a tensor that has requires_grad=False")
        if self._creator is not None:
            self._creator._retains_grad = weakref.ref(self)

    @property
    def retains_grad(self):
        return self._creator is not None and self._creator._retains_grad is not None \
            and self._creator._retains_grad() is self

    def bump_version(self):
        """Record that this tensor's array was changed in place (optimizer steps,
        ``load_state_dict`` and ``nn.init`` call it): a backward that needs the old values
        then refuses to run, as PyTorch's does, instead of computing a wrong gradient."""
        self._version += 1

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.dtype.kind != "f":
            raise TypeError(f"minicnn: only floating-point tensors can require gradients, got {self.dtype}")
        self.requires_grad = requires_grad
        return self

    # to(target) -- to('cuda'), to('cpu'), to(np.float64) -- is an op: minicnn.functional
    # attaches it, like the operators, so this file never imports the ops.
    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    # ----- backpropagation ---------------------------------------------------
    def backward(self, grad=None, retain_graph=None, create_graph=False):
        """Accumulate d(self)/d(leaf) * grad into every leaf's ``.grad``.

        ``grad`` may be omitted only for a one-element tensor (then it is 1).  With
        ``create_graph=True`` the gradients are computed by differentiable ops, so each
        ``.grad`` is itself in a graph and can be differentiated again (a gradient penalty,
        a Hessian-vector product); ``retain_graph`` then defaults to True, as in PyTorch.
        """
        if not self.requires_grad:
            raise RuntimeError("minicnn: backward() on a tensor that does not require grad "
                               "(no input of the computation had requires_grad=True)")
        xp = backend.get_array_module(self.data)
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError("minicnn: backward() without a gradient works only for a "
                                   f"one-element (scalar) output; this output has shape {self.shape}. "
                                   "Pass grad=<tensor of that shape>.")
            grad = xp.ones_like(self.data)
        grad = _as_root_gradient(grad, self, create_graph)
        if grad.shape != self.shape:
            raise ValueError(f"minicnn: backward() got a gradient of shape {grad.shape} for an "
                             f"output of shape {self.shape}")
        _backpropagate([(_node(self), grad)], create_graph if retain_graph is None else retain_graph,
                       create_graph=create_graph)


def _as_root_gradient(grad, output, create_graph):
    """The gradient a backward starts from: an array in the output's dtype, or with
    ``create_graph`` a Tensor (the caller's own, if it is in a graph: gradients then flow
    into it too)."""
    if create_graph:
        if isinstance(grad, Tensor) and grad.requires_grad:
            return grad
        return Tensor(_as_root_gradient(grad, output, False))
    xp = backend.get_array_module(output.data)
    return xp.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=output.dtype)


def _backpropagate(roots, retain_graph, capture=None, create_graph=False):
    """Walk the graph back from ``roots`` [(node, gradient)], handing each Function the
    sum of the gradients that reached it.  Gradients reaching a leaf are added to its
    ``.grad``; or, with ``capture`` ({id(node): None}), nothing is accumulated and the
    gradient reaching each captured node is recorded there instead (``grad``).

    The gradients are arrays, or with ``create_graph`` Tensors computed by each Function's
    ``backward_graph``: the walk is the same, and ``+`` sums either."""
    if create_graph:
        with enable_grad():
            return _backpropagate_tensors(roots, retain_graph, capture)
    # The gradient flowing into each node (Function or leaf), and whether it is owned: an
    # array nothing else holds.  A leaf adopts an owned array as its .grad; it copies one that
    # something else may also hold (the caller's grad, a hook's result, an upstream gradient
    # passed straight through, one array handed to two inputs, a view), so an in-place change
    # of one .grad cannot change another -- and no 150 MB weight gradient is copied for nothing.
    grads = {}
    for node, g in roots:
        _add_gradient(grads, id(node), g, owned=False)
    order, through = _walk(roots, capture)
    for node in order:
        g, owned = grads.pop(id(node), (None, False))
        if g is None:
            continue
        if node._tensor_hooks:          # the user's hooks may replace the gradient
            new = _run_hooks(node, g)
            g, owned = new, owned and new is g
        if capture is not None:
            if id(node) in capture:
                capture[id(node)] = g
            if isinstance(node, Tensor) or id(node) not in through:
                continue
        elif node._retains_grad is not None and node._retains_grad() is not None:
            _accumulate(node._retains_grad(), g, own=False)
            owned = False
        if isinstance(node, Tensor):    # a leaf: accumulate, as PyTorch does
            _accumulate(node, g, own=owned)
            continue
        fn = node
        _check_can_backward(fn)
        into = _accumulation_targets(fn) if capture is None and fn.accumulates_into else None
        in_grads = fn.backward(g, into=into) if into else fn.backward(g)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        xp = backend.get_array_module(g)
        # an input's gradient is owned unless it shares memory with one handed to another
        # input, or with g when g is not ours (a view of a fresh array, as a convolution's
        # weight gradient, is owned: a leaf adopts it without a copy)
        handed_out = [] if owned else [g]
        for parent, ig, shape in zip(fn.parents, in_grads, fn.input_shapes):
            if parent is not None and ig is not None:
                if ig.shape != shape:
                    raise RuntimeError(f"minicnn: {fn} returned a gradient of shape {ig.shape} "
                                       f"for an input of shape {shape}")
                shares = any(xp.may_share_memory(ig, h) for h in handed_out)
                handed_out.append(ig)
                _add_gradient(grads, id(parent), ig, owned=not shares)
        if not retain_graph:
            fn.release()


def _add_gradient(grads, key, g, owned):
    """grads[key] += g, as (array, owned): a sum is a new array, owned."""
    if key in grads:
        grads[key] = (grads[key][0] + g, True)
    else:
        grads[key] = (g, owned)


def _backpropagate_tensors(roots, retain_graph, capture):
    """``_backpropagate`` with gradients that are Tensors in a graph (``create_graph``).
    A leaf's ``.grad`` is then replaced by ``.grad + g``, never added to in place, as in
    PyTorch: the old ``.grad`` may be part of someone's graph."""
    grads = {}
    for node, g in roots:
        grads[id(node)] = g if id(node) not in grads else grads[id(node)] + g
    order, through = _walk(roots, capture)
    for node in order:
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if node._tensor_hooks:
            g = _run_hooks(node, g)
        if capture is not None:
            if id(node) in capture:
                capture[id(node)] = g
            if isinstance(node, Tensor) or id(node) not in through:
                continue
        elif node._retains_grad is not None and node._retains_grad() is not None:
            kept = node._retains_grad()
            kept.grad = g if kept.grad is None else kept.grad + g
        if isinstance(node, Tensor):
            node.grad = g if node.grad is None else node.grad + g
            for hook in node._grad_hooks:
                hook(node)
            continue
        _check_can_backward(node)
        in_grads = node.backward_graph(g)
        in_grads = in_grads if isinstance(in_grads, tuple) else (in_grads,)
        for parent, ig, shape in zip(node.parents, in_grads, node.input_shapes):
            if parent is not None and ig is not None:
                if ig.shape != shape:
                    raise RuntimeError(f"minicnn: {node}.backward_graph returned a gradient of "
                                       f"shape {ig.shape} for an input of shape {shape}")
                key = id(parent)
                grads[key] = ig if key not in grads else grads[key] + ig
        if not retain_graph:
            node.release()


def _check_can_backward(fn):
    """Refuse a released graph, and a saved leaf changed in place since forward."""
    if getattr(fn, "released", False):
        raise RuntimeError("minicnn: trying to backward through the graph a second time; "
                           "pass retain_graph=True to the first backward() to keep it")
    for leaf, version in fn._watched:
        if leaf._version != version:
            raise RuntimeError(
                "minicnn: one of the variables needed for gradient computation has been "
                f"modified by an inplace operation: a tensor of shape {leaf.shape}, which "
                f"{fn.name()} saved, is at version {leaf._version}; expected version "
                f"{version} instead (an optimizer step, load_state_dict or nn.init "
                "between forward and backward?)")


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """The gradients of ``outputs`` with respect to ``inputs``, returned instead of added to
    any ``.grad`` (``torch.autograd.grad``).

    Args:
        outputs (Tensor or sequence of Tensors): what is differentiated.
        inputs (Tensor or sequence of Tensors): with respect to what (leaves or not).
        grad_outputs (sequence, optional): the gradient of each output (None: 1 for a
            one-element output). Default: ``None``
        retain_graph (bool, optional): keep the graph for another backward. Default: ``None``
            (as ``create_graph``)
        create_graph (bool, optional): build the gradients from differentiable ops, so
            they can be differentiated again (gradients of gradients). Default: ``False``
        allow_unused (bool, optional): None for an input the outputs do not depend on,
            instead of an error. Default: ``False``

    Example::

        >>> x = mc.tensor([1.0, 2.0], requires_grad=True)
        >>> (g,) = mc.autograd.grad((x * x).sum(), x)
        >>> g, x.grad
        (tensor([2., 4.], dtype=float32), None)
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"minicnn: autograd.grad: got {len(grad_outputs)} grad_outputs for "
                         f"{len(outputs)} outputs")
    roots = []
    for out, g in zip(outputs, grad_outputs):
        if not out.requires_grad:
            raise RuntimeError("minicnn: autograd.grad: an output does not require grad (no "
                               "input of its computation had requires_grad=True)")
        if g is None:
            if out.data.size != 1:
                raise RuntimeError("minicnn: autograd.grad: grad can be implicitly created only "
                                   f"for one-element outputs; pass grad_outputs for shape {out.shape}")
            g = backend.get_array_module(out.data).ones_like(out.data)
        g = _as_root_gradient(g, out, create_graph)
        if g.shape != out.shape:
            raise ValueError(f"minicnn: autograd.grad: a gradient of shape {g.shape} for an "
                             f"output of shape {out.shape}")
        roots.append((_node(out), g))
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError("minicnn: autograd.grad: one of the differentiated Tensors does "
                               "not require grad")
    capture = {id(_node(t)): None for t in inputs}
    _backpropagate(roots, create_graph if retain_graph is None else retain_graph, capture,
                   create_graph=create_graph)
    found = [capture[id(_node(t))] for t in inputs]
    if not allow_unused and any(g is None for g in found):
        raise RuntimeError("minicnn: autograd.grad: one of the differentiated Tensors appears "
                           "to not have been used in the graph; set allow_unused=True if this "
                           "is the desired behavior")
    if create_graph:            # Tensors of the new graph, as they are
        return tuple(found)
    return tuple(None if g is None else Tensor(g.copy()) for g in found)


def _refuse_undeclared_state(fn, settings):
    """forward set something on ``fn`` it did not declare: say what, and how to keep it."""
    declared = set(settings) | set(fn.saved_names) | {
        "needs_input_grad", "input_shapes", "output_shape", "saved_names"}
    undeclared = sorted(set(vars(fn)) - declared)
    if undeclared:
        raise TypeError(f"minicnn: {type(fn).__name__}.forward set {undeclared} on self without "
                        "declaring it: use self.save_for_backward(name=value) for what backward "
                        "needs, and local variables for the rest")


def _saved_leaves(fn, inputs):
    """(tensor, version) of each leaf input whose array (or a view of it) forward saved:
    changing such a tensor in place before backward would change the gradient."""
    leaves = [t for t in inputs if t is not None and t._creator is None]
    if not leaves:                  # the common case inside a network: nothing to watch
        return ()
    xp = backend.get_array_module(leaves[0].data)
    arrays = [v for v in (getattr(fn, n) for n in fn.saved_names) if isinstance(v, xp.ndarray)]
    return tuple((t, t._version) for t in leaves
                 if any(xp.may_share_memory(t.data, a) for a in arrays))


def _node(t):
    """The graph node of a tensor that requires grad: its Function, or itself if a leaf."""
    return t if t._creator is None else t._creator


def _run_hooks(node, g):
    """Pass the gradient ``g`` (an array, or a Tensor with create_graph) through the hooks
    of a graph node in order."""
    for hook in list(node._tensor_hooks.values()):
        new = hook(g if isinstance(g, Tensor) else Tensor(g))
        if new is not None:
            if not isinstance(g, Tensor):
                new = new.data if isinstance(new, Tensor) else new
            elif not isinstance(new, Tensor):
                new = Tensor(new)
            if new.shape != g.shape:
                raise RuntimeError(f"minicnn: a tensor hook returned a gradient of shape "
                                   f"{tuple(new.shape)} for a tensor of shape {tuple(g.shape)}")
            g = new
    return g


def _accumulate(leaf, g, own):
    """Add ``g`` into ``leaf.grad``; ``own``: nothing else holds ``g``, so no copy.

    A ``.grad`` that exists is added to in place, as PyTorch's AccumulateGrad does: gradient
    accumulation over micro-batches then holds one weight-sized array per parameter, not
    three (old, new, sum).  A ``.grad`` the user holds sees the change, as in PyTorch."""
    grad = None if leaf.grad is None else leaf.grad.data
    if grad is None:
        leaf.grad = Tensor(g if own else g.copy())
    elif grad.shape == g.shape and getattr(grad.flags, "writeable", True):
        grad += g
    else:                                   # a read-only or broadcast .grad the user assigned
        leaf.grad = Tensor(grad + g)
    for hook in leaf._grad_hooks:
        hook(leaf)


def _accumulation_targets(fn):
    """{input index: the leaf's .grad array} for the inputs of ``fn`` whose gradient it can
    add straight into an existing ``.grad`` (``Function.accumulates_into``).  Only where the
    result is the same as handing the gradient to the leaf: no hook of the leaf would see
    it, and the .grad is an ordinary writeable array of the leaf's own shape and dtype."""
    into = {}
    for i in fn.accumulates_into:
        leaf = fn.parents[i]
        if (isinstance(leaf, Tensor) and leaf.grad is not None and not leaf._tensor_hooks
                and not leaf._grad_hooks):
            grad = leaf.grad.data
            if (grad.shape == leaf.shape and grad.dtype == leaf.dtype
                    and getattr(grad.flags, "writeable", True)):
                into[i] = grad
    return into


def _walk(roots, capture):
    """The nodes backward visits, in order, and the ids of those it backpropagates through.
    Without ``capture``: every node reachable from the roots.  With it (autograd.grad):
    only nodes from which a captured node can be reached, and the captured ones, which
    record their gradient and are gone through only if another captured node lies beyond:
    gradients nobody asked for, and the graph below them, are never computed (as in
    PyTorch)."""
    order = list(_reverse_topological_order([node for node, _ in roots]))
    if capture is None:
        return order, None
    leads = set()                   # ids of nodes through which a captured node is reached
    for node in reversed(order):    # inputs before the nodes computed from them
        if not isinstance(node, Tensor) and any(
                p is not None and (id(p) in leads or id(p) in capture) for p in node.parents):
            leads.add(id(node))
    return [node for node in order if id(node) in leads or id(node) in capture], leads


def _reverse_topological_order(roots):
    """Graph nodes (Functions and leaf Tensors) reachable from ``roots`` (a node or a list of
    them), each before the nodes that computed its inputs.

    Iterative depth-first search: deep networks would overflow Python's recursion limit.
    The reversed finishing order of a depth-first search is a topological order, for one
    root or many."""
    roots = roots if isinstance(roots, list) else [roots]
    order, visited, stack = [], set(), [(root, False) for root in reversed(roots)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        parents = () if isinstance(node, Tensor) else node.parents
        # leaves first onto the stack, so they finish last of the parents and come right
        # after this node in the order: a weight's gradient reaches its .grad (and is freed,
        # when added into one) at once, not at the end of the walk with every other one
        for parent in sorted((p for p in parents if p is not None and id(p) not in visited),
                             key=lambda p: not isinstance(p, Tensor)):
            stack.append((parent, False))
    return reversed(order)


def _default_dtype(data):
    """PyTorch's rule: Python floats become float32; arrays keep their dtype."""
    if isinstance(data, (bool, int, float, list, tuple)):
        kind = np.asarray(data).dtype.kind
        return {"f": DEFAULT_FLOAT, "i": np.int64, "u": np.int64, "b": np.bool_}.get(kind)
    return None


def _check_nested_lists(data, dim=0, shape=None):
    """Say where nested lists stop being rectangular: a ValueError for a wrong length, a
    TypeError for a number where a list belongs or back (PyTorch's classes)."""
    if shape is None:                       # the shape that the first elements promise
        shape, first = [], data
        while isinstance(first, (list, tuple)):
            shape.append(len(first))
            first = first[0] if first else None
    is_list = isinstance(data, (list, tuple))
    want = f"a sequence of length {shape[dim]}" if dim < len(shape) else "a number"
    got = f"a sequence of length {len(data)}" if is_list else "a number"
    if got != want:     # PyTorch's classes: TypeError for a number in a list's place or back
        error = TypeError if is_list != (dim < len(shape)) else ValueError
        raise error(f"minicnn: tensor: nested lists of different lengths (ragged): "
                    f"expected {want} at dim {dim}, got {got}")
    for item in data if is_list else ():
        _check_nested_lists(item, dim + 1, shape)


def tensor(data, requires_grad=False, dtype=None, device="cpu"):
    """Make a Tensor from array-like data (a copy, like ``torch.tensor``)."""
    if isinstance(data, Tensor):
        data = data.data
    xp = np if backend.normalize_device(device) == "cpu" else backend.require_cupy()
    if backend.get_array_module(data) is not np and xp is np:
        data = backend.to_numpy(data)
    try:
        dtype = dtype if dtype is not None else _default_dtype(data)
        array = xp.array(data, dtype=dtype, copy=True)
    except (ValueError, TypeError):
        if isinstance(data, (list, tuple)):
            _check_nested_lists(data)       # NumPy's message hides where: give ours
        raise
    if array.dtype.kind not in "biuf":      # strings, None, arbitrary objects
        raise TypeError(f"minicnn: tensor: expected numbers (bool, int or float), got "
                        f"{type(data).__name__} data of dtype {array.dtype}")
    return Tensor(array, requires_grad=requires_grad)
