"""Activation checkpointing: trade compute for memory (``mc.utils.checkpoint``).

A deep network's training step keeps every activation that a backward needs, from the
first layer to the last, until backward has used it.  A checkpointed block keeps only its
inputs: its forward runs without recording a graph, and when backward reaches the block it
runs the block's forward again, recording this time, and backpropagates through that.  The
memory of the block's activations is then held for one block at a time, at the price of a
second forward pass of every checkpointed block (about a third more arithmetic per step).

The gradients are exactly those of the plain run: the same operations on the same numbers,
in the same order.  Random ops (dropout) draw the same numbers twice: the random state of
the inputs' device is saved before the first run and put back for the second.  Batch norm
in training mode updates its running statistics in both runs, as in PyTorch: run such
blocks plainly, or in eval mode, if the running statistics must count each batch once.
"""
import warnings

from . import random
from .autograd import Function, Tensor, enable_grad, is_grad_enabled, no_grad
from .backend import get_array_module


class Checkpoint(Function):
    """Runs ``function`` on the inputs without a graph; backward runs it again with one.
    Inputs: the function's arguments, then the parameters of a Module (so that the op is in
    the graph even when no argument needs a gradient: a network's first block sees only
    images).  Backward adds into every parameter the block reaches, named or not, and
    returns the arguments' gradients.  Settings: the function, the random state before the first
    run, and how many of the inputs are the function's arguments."""
    settings = ("function", "rng_state", "n_args")

    def forward(self, *arrays):
        with no_grad():
            out = self.function(*[Tensor(a) for a in arrays[:self.n_args]])
        if not isinstance(out, Tensor):
            raise TypeError(f"minicnn: checkpoint: the function must return one Tensor, got "
                            f"{type(out).__name__}")
        self.save_for_backward(inputs=arrays[:self.n_args])
        return out.data

    def backward(self, g):
        xp = get_array_module(g)
        now = random.get_state(xp)
        random.set_state(self.rng_state, xp)            # the same dropout masks as the first run
        try:
            inputs = [Tensor(a, requires_grad=needed)
                      for a, needed in zip(self.inputs, self.needs_input_grad)]
            with enable_grad():
                out = self.function(*inputs)
        finally:
            random.set_state(now, xp)
        if out.requires_grad:     # every parameter inside the block gets its .grad here,
            out.backward(g)       # those passed as inputs (to be in the graph) included
        n_parameters = len(self.needs_input_grad) - len(inputs)
        return tuple(None if t.grad is None else t.grad.data for t in inputs) + (None,) * n_parameters

    def backward_graph(self, g):
        # as PyTorch's reentrant checkpoint: the recomputed block's gradients would need its
        # inputs' graph, which the block (run without one) never linked to
        raise NotImplementedError("minicnn: checkpoint does not support create_graph=True "
                                  "(gradients of gradients): run the block without "
                                  "mc.utils.checkpoint where you need them")


def _parameters(function):
    """The parameters inside ``function``: a Module's, or those a function made by
    checkpoint_sequential names; none for a plain function (its arguments must then carry
    the graph)."""
    parameters = getattr(function, "parameters", None)
    return list(parameters()) if callable(parameters) else []


def checkpoint(function, *args):
    """``function(*args)``, keeping only ``args`` for backward: the block's activations are
    recomputed when backward reaches it (see the module's docstring).

    Args:
        function (callable): Tensors -> one Tensor (a module, a few layers, a lambda).
        *args (Tensor): its inputs.

    Example::

        >>> block = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> x = mc.tensor(np.ones((3, 4), np.float32), requires_grad=True)
        >>> y = mc.utils.checkpoint(block, x)
        >>> y.sum().backward()
        >>> x.grad.shape, block[0].weight.grad.shape
        ((3, 4), (8, 4))
    """
    if not args or not all(isinstance(a, Tensor) for a in args):
        raise TypeError("minicnn: checkpoint: expected the function's inputs as Tensors, got "
                        f"{[type(a).__name__ for a in args]}")
    parameters = [p for p in _parameters(function) if p.requires_grad]
    if is_grad_enabled() and not parameters and not any(a.requires_grad for a in args):
        # nothing would be recorded: parameters the function uses without saying so (a
        # lambda's closure) would silently get no gradient, as in PyTorch's reentrant checkpoint
        warnings.warn("minicnn: checkpoint: none of the inputs has requires_grad=True and the "
                      "function names no parameters (pass a Module), so nothing inside it gets "
                      "a gradient", UserWarning, stacklevel=2)
    state = random.get_state(get_array_module(args[0].data))
    return Checkpoint.apply(*args, *parameters, function=function, rng_state=state,
                            n_args=len(args))


def checkpoint_sequential(functions, segments, input):
    """Run ``functions`` (an ``nn.Sequential`` or a list of modules) in ``segments`` chunks,
    every chunk but the last checkpointed (the last one's activations are needed at once).

    Args:
        functions (Sequential or list): the layers, applied in order.
        segments (int): how many chunks (1 <= segments <= the number of layers).
        input (Tensor): the first layer's input.

    Example::

        >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU())
        >>> y = mc.utils.checkpoint_sequential(model, 2, mc.tensor(np.ones((2, 4), np.float32)))
        >>> y.shape
        (2, 8)
    """
    layers = list(functions)
    if not isinstance(segments, int) or not 1 <= segments <= max(len(layers), 1):
        raise ValueError(f"minicnn: checkpoint_sequential: segments must be an int from 1 to the "
                         f"number of layers ({len(layers)}), got {segments!r}")
    size = -(-len(layers) // segments)
    chunks = [layers[i:i + size] for i in range(0, len(layers), size)]

    def run(chunk):
        def forward(x):
            for layer in chunk:
                x = layer(x)
            return x
        forward.parameters = lambda: [p for layer in chunk for p in layer.parameters()]
        return forward

    for chunk in chunks[:-1]:
        input = checkpoint(run(chunk), input)
    return run(chunks[-1])(input)
