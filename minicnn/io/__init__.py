"""Reading and writing weights and training state.

* ``load_pth(path)``: the weights of a PyTorch ``.pth`` checkpoint as NumPy
  arrays, without PyTorch and without running code from the file.
* ``save_checkpoint`` / ``load_checkpoint``: minicnn's own pickle-free,
  atomically written training checkpoints (model + optimizer + epoch + extras).
"""
from .pth import load_pth, read_pth
from .checkpoint import save_checkpoint, load_checkpoint
from .safe_pickle import RestrictedUnpickler, UnsafePickleError

__all__ = ["load_pth", "read_pth", "save_checkpoint", "load_checkpoint",
           "RestrictedUnpickler", "UnsafePickleError"]
