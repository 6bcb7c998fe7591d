"""Read PyTorch ``.pth`` checkpoints without PyTorch, and without running their code.

The format ``torch.save`` writes (PyTorch >= 1.6) is a zip archive::

    archive/data.pkl        the object tree (dicts, lists, tensors) as a pickle
    archive/data/0, 1, ...  one raw little-endian byte buffer per tensor *storage*
    archive/byteorder       "little" (or "big")
    archive/version, ...    bookkeeping we only need to tolerate

(``archive`` is whatever name the file had when saved.)  Inside ``data.pkl`` a
tensor is the call ``torch._utils._rebuild_tensor_v2(storage, storage_offset,
size, stride, requires_grad, backward_hooks)`` where ``storage`` is a
*persistent id* ``('storage', torch.FloatStorage, '0', 'cpu', numel)`` naming
the buffer ``data/0``.  Several tensors may share one storage (views), which
is why offset and strides are needed to cut each tensor out of it.

``RestrictedUnpickler`` maps exactly those names to the local functions below,
so loading builds NumPy arrays and plain containers and can never run code
from the file (try ``torch.load(..., weights_only=True)`` for the same idea
inside PyTorch).
"""
import collections
import io
import math
import os
import pickle
import zipfile
import zlib

import numpy as np

from .files import open_for_reading
from .safe_pickle import RestrictedUnpickler, UnsafePickleError, codecs_encode

# torch's storage class names -> NumPy dtypes.  bfloat16 has no NumPy dtype: it
# is read as uint16 bits and widened to float32 exactly (see _bfloat16_to_float32).
_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16", "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_, "ComplexFloatStorage": np.complex64,
    "ComplexDoubleStorage": np.complex128,
}


class _StorageType:
    """What ``torch.FloatStorage`` & co. resolve to: just the element type."""

    def __init__(self, name):
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]

    def __repr__(self):
        return f"torch.{self.name}"


def _bfloat16_to_float32(bits):
    # bfloat16 is the top half of a float32: shift the 16 bits into place.
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    """Cut one tensor out of its storage: a strided view, copied to a compact array
    (unless it repeats the storage's elements: see below)."""
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if not isinstance(storage, np.ndarray) or storage.ndim != 1:
        raise UnsafePickleError("minicnn: malformed tensor record: its storage is not a "
                                "storage of the archive")
    if len(size) != len(stride) or min(size + stride + (storage_offset,), default=0) < 0:
        raise UnsafePickleError(f"minicnn: malformed tensor record: size {size}, stride "
                                f"{stride}, offset {storage_offset}")
    numel = math.prod(size)                          # (np.prod could overflow)
    if numel:
        # The last element the view touches must lie inside the storage: as_strided
        # itself would happily read memory beyond it.
        last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= storage.size:
            raise UnsafePickleError(
                f"minicnn: malformed tensor record: size {size}, stride {stride}, offset "
                f"{storage_offset} reach element {last} of a storage with {storage.size}")
        item = storage.itemsize
        view = np.lib.stride_tricks.as_strided(
            storage[storage_offset:], shape=size, strides=[s * item for s in stride],
            writeable=False)
        if numel > storage.size:
            # A view that repeats elements (an expand()ed tensor: stride 0) has more
            # elements than its storage.  Copying it out could turn a few bytes of file
            # into gigabytes (a (20000, 20000) record with strides (0, 0) over one float
            # is 1.6 GB): it stays a read-only view of the storage, as torch.load keeps it.
            return view
        return np.array(view, copy=True, order="C")  # own, C-contiguous memory
    return np.zeros(size, dtype=storage.dtype)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    """An ``nn.Parameter`` is saved as its tensor plus flags: keep the array."""
    return data


# Everything a torch.save'd state dict may import; each entry is a local stand-in.
_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch", "Size"): tuple,
    ("_codecs", "encode"): codecs_encode,
}
_ALLOWED.update({("torch", name): _StorageType(name) for name in _STORAGE_DTYPES})


class _PthUnpickler(RestrictedUnpickler):
    """Resolves storages to NumPy arrays read from ``<prefix>data/<key>``."""

    def __init__(self, file, archive, prefix, filename, byteorder):
        super().__init__(file, _ALLOWED, filename=filename,
                         what="only tensors and containers are allowed")
        self.archive, self.prefix, self.byteorder = archive, prefix, byteorder
        self.storages = {}           # key -> array; views share one storage

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise UnsafePickleError(f"minicnn: {self.filename}: unsupported persistent id "
                                    f"{pid!r}; expected ('storage', torch.<Type>Storage, key, "
                                    "location, numel)")
        _, storage_type, key, _location, numel = pid
        if key not in self.storages:
            self.storages[key] = self._read_storage(storage_type, str(key), int(numel))
        return self.storages[key]

    def _read_storage(self, storage_type, key, numel):
        name = f"{self.prefix}data/{key}"
        try:
            info = self.archive.getinfo(name)
        except KeyError:
            raise ValueError(f"minicnn: {self.filename}: storage {name} is missing from the "
                             "archive") from None
        bf16 = storage_type.dtype == "bfloat16"
        dtype = np.dtype(np.uint16 if bf16 else storage_type.dtype)
        if dtype.itemsize > 1:
            dtype = dtype.newbyteorder("<" if self.byteorder == "little" else ">")
        # Sizes first, from the archive's directory: nothing is decompressed (or allocated)
        # for a storage that cannot be right, and no more than the tensor needs is read.
        expected = numel * dtype.itemsize
        if numel < 0 or info.file_size < expected:
            raise ValueError(f"minicnn: {self.filename}: storage {name} holds {info.file_size} "
                             f"bytes, expected {numel} x {storage_type} ({expected} bytes)")
        with self.archive.open(info) as member:
            raw = member.read(expected)
        array = np.frombuffer(raw, dtype=dtype, count=numel).astype(dtype.newbyteorder("="))
        return _bfloat16_to_float32(array) if bf16 else array


def read_pth(path):
    """Unpickle a ``torch.save`` zip file into plain Python objects.

    Tensors become NumPy arrays, ``OrderedDict``/``dict``/``list``/``tuple`` and
    numbers/strings stay as they are.  Anything else (classes, functions, ...)
    is refused with ``UnsafePickleError`` before it could run.
    """
    path = os.fspath(path)
    with open_for_reading(path, "load_pth") as f:
        try:
            return _read_pth_archive(path, f)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError,
                UnicodeDecodeError, pickle.UnpicklingError, IndexError, KeyError,
                AttributeError) as e:
            if isinstance(e, UnsafePickleError):
                raise
            # a damaged archive (bad CRC, cut short) or a damaged pickle inside it
            raise ValueError(f"minicnn: load_pth: {path} is damaged ({type(e).__name__}: "
                             f"{e})") from e


def _read_pth_archive(path, f):
    """``read_pth`` of the open file ``f`` (``path`` names it in errors)."""
    if not zipfile.is_zipfile(f):
        raise ValueError(
            f"minicnn: load_pth: {path} is not a zip archive. minicnn reads the format "
            "torch.save has written since PyTorch 1.6; a file in the legacy format "
            "(_use_new_zipfile_serialization=False) or something else entirely was given. "
            "Re-save it with a recent PyTorch: torch.save(torch.load(f), f)")
    with zipfile.ZipFile(f) as archive:
        names = archive.namelist()
        if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
            raise ValueError(f"minicnn: load_pth: {path} is a TorchScript archive "
                             "(torch.jit.save), which holds code, not just weights; save "
                             "model.state_dict() with torch.save instead")
        pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise ValueError(f"minicnn: load_pth: {path}: expected exactly one <name>/data.pkl "
                             f"in the archive, found {len(pickles)}")
        prefix = pickles[0][:-len("data.pkl")]
        byteorder = "little"
        if prefix + "byteorder" in names:
            byteorder = archive.read(prefix + "byteorder").decode("ascii").strip()
            if byteorder not in ("little", "big"):
                raise ValueError(f"minicnn: load_pth: {path}: unknown byteorder {byteorder!r}")
        unpickler = _PthUnpickler(io.BytesIO(archive.read(pickles[0])), archive, prefix,
                                  path, byteorder)
        return unpickler.load()


def _is_state_dict(obj):
    return isinstance(obj, dict) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, np.ndarray) for k, v in obj.items())


# Keys under which training scripts commonly nest the model's weights.
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "model_state", "net", "module")


def load_pth(path):
    """Load a PyTorch checkpoint's weights as ``OrderedDict[str, np.ndarray]``.

    Accepts ``torch.save(model.state_dict(), path)`` directly and the common
    wrappers ``{"state_dict": ...}``, ``{"model": ...}`` (see ``WRAPPER_KEYS``).
    Arrays keep the tensor's dtype (bfloat16 becomes float32) and shape.
    Use ``read_pth`` to get the whole unpickled object instead.
    """
    obj = read_pth(path)
    if _is_state_dict(obj):
        return collections.OrderedDict(obj)
    if isinstance(obj, dict):
        for key in WRAPPER_KEYS:
            if _is_state_dict(obj.get(key)):
                return collections.OrderedDict(obj[key])
        found = ", ".join(f"{k!r}: {type(v).__name__}" for k, v in list(obj.items())[:8])
        raise ValueError(f"minicnn: load_pth: {path} holds a dict that is not a state dict "
                         f"(name -> tensor) and has none under {WRAPPER_KEYS}; found {{{found}}}. "
                         "Use read_pth() to inspect it.")
    raise ValueError(f"minicnn: load_pth: {path} holds a {type(obj).__name__}, expected a state "
                     "dict (name -> tensor). Use read_pth() to inspect it.")
