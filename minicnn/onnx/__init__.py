"""ONNX out and in: ``mc.onnx.export(model, example_input, path)`` writes a model as a
standard ONNX graph; ``mc.onnx.load(path)`` builds a minicnn Module that runs one.

The ``onnx`` package (and ``onnxruntime``, to check an export) come with the extra
``pip install -e ".[onnx]"``.  ``import minicnn`` never needs them: this module imports
``onnx`` only when one of its functions is called.  See docs/interop.md.

How each direction works:

* export (exporter.py) runs one forward pass of the model in eval mode inside
  ``mc.autograd.observe``, which hands over every op as it runs (its ``Function`` with
  its settings, its input Tensors and its output); one table maps each Function class
  to the ONNX node(s) that compute the same.  Parameters and buffers become
  initializers under their state-dict names.
* import (importer.py) keeps the ONNX nodes in order and runs each with minicnn's
  functional ops, so the loaded model trains with minicnn's autograd; its float
  initializers become Parameters.
"""

DEFAULT_OPSET = 18


def require_onnx(what):
    """Import the onnx package, or say how to install it."""
    try:
        import onnx
    except ImportError as error:
        raise ModuleNotFoundError(f"minicnn: {what} needs the onnx package: pip install -e "
                                  "\".[onnx]\" in minicnn's checkout (the extra adds "
                                  "onnxruntime), or pip install onnx") from error
    return onnx


def export(model, example_input, path, opset=DEFAULT_OPSET, external_data=None):
    """Write ``model`` as an ONNX graph, traced by running it once on ``example_input``.

    The model runs in eval mode (dropout off, batch norm with its running statistics)
    and is put back into the mode it was in.  The graph's shapes are those of the
    example input; the input is called ``input`` and the output ``output``.  An op that
    has no ONNX translation is a ValueError naming it.

    Args:
        model (nn.Module): the model (any callable taking one Tensor works).
        example_input (Tensor or array): an input of the shape the graph will take.
        path (str or os.PathLike): where to write the .onnx file (written atomically).
        opset (int, optional): the ONNX opset to write, at least 13. Default: ``18``
        external_data (bool, optional): write the weights into a second file,
            ``path + ".data"``, which the .onnx file points to (ONNX's external data; one
            file cannot hold more than 2 GiB, and writing it is faster).  Default: ``None``
            (only when the weights exceed 1 GiB)

    Returns:
        onnx.ModelProto: the model written.

    Example::

        >>> model = mc.models.small_cnn(num_classes=10)
        >>> proto = mc.onnx.export(model, np.zeros((1, 1, 8, 8), np.float32), "small.onnx")
        >>> [node.op_type for node in proto.graph.node][:3]
        ['Conv', 'BatchNormalization', 'Relu']
    """
    require_onnx("onnx.export")
    from .exporter import export as _export
    return _export(model, example_input, path, opset, external_data)


def load(path):
    """A minicnn Module that runs the ONNX graph in ``path`` with minicnn's ops.

    Float initializers become Parameters (trainable with minicnn's autograd and
    optimizers), the running statistics of BatchNormalization nodes buffers; their
    state-dict keys are the initializers' names (so a model exported by minicnn comes
    back with its own keys).  An op minicnn cannot run is a ValueError naming the op
    type and the node, raised here rather than at the first forward pass.

    Args:
        path (str, os.PathLike or onnx.ModelProto): the .onnx file, or a loaded model.

    Returns:
        nn.Module: its ``forward`` takes the graph's inputs in order and returns its
        output (a tuple when the graph has several).

    Example::

        >>> model = mc.onnx.load("small.onnx")
        >>> model(mc.tensor(np.zeros((1, 1, 8, 8), np.float32))).shape
        (1, 10)
    """
    require_onnx("onnx.load")
    from .importer import load as _load
    return _load(path)


__all__ = ["export", "load", "DEFAULT_OPSET"]
