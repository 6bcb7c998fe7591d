"""Save and resume training: model weights + optimizer state + epoch, written atomically.

Format: one NumPy ``.npz`` archive (a zip of ``.npy`` files) holding

* every array of the checkpoint as its own entry ``a0``, ``a1``, ..., and
* ``__meta__``: UTF-8 JSON describing the nested structure, in which each array
  appears as ``{"__array__": "a0"}``.

No pickle is involved in either direction (``np.load(..., allow_pickle=False)``),
so a checkpoint from someone else can be loaded without running their code.
JSON cannot tell ``{0: ...}`` from ``{"0": ...}`` or a tuple from a list, so
dicts are stored as lists of ``[key, value]`` pairs and tuples are marked:
``load_checkpoint`` returns exactly the structure that was saved (arrays come
back as NumPy arrays, on the CPU).

Atomic write: the archive is written to a temporary file in the same folder,
flushed to disk (``fsync``), and only then renamed over the target with
``os.replace``, which POSIX and Windows perform atomically.  A crash or error
mid-write therefore leaves the previous checkpoint untouched; a temporary file that a
killed process left behind is deleted by the next save to the same path.
"""
import json
import os
import tempfile
import zipfile

import numpy as np

from .. import backend
from ..autograd import Tensor
from .files import available_memory, default_file_mode, open_for_reading

FORMAT = "minicnn-checkpoint"
VERSION = 1
TMP_SUFFIX = ".tmp"         # temporary files: .<name>.<random>.tmp, next to the target


def _encode(obj, arrays):
    """Replace arrays by references into ``arrays``; make the rest JSON-friendly."""
    if isinstance(obj, Tensor):
        obj = obj.data
    if type(obj).__module__.startswith("cupy"):
        obj = backend.to_numpy(obj)
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biufc":
            raise TypeError(f"minicnn: save_checkpoint: cannot store an array of dtype {obj.dtype}")
        name = f"a{len(arrays)}"
        arrays[name] = obj
        return {"__array__": name}
    if isinstance(obj, np.generic):                   # NumPy scalars -> Python numbers
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, dict):
        for k in obj:
            if not isinstance(k, (str, int)):
                raise TypeError("minicnn: save_checkpoint: dict keys must be str or int, "
                                f"got {k!r}")
        return {"__dict__": [[k, _encode(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, arrays) for v in obj]
    raise TypeError(f"minicnn: save_checkpoint: cannot store a {type(obj).__name__} ({obj!r:.60}); "
                    "allowed are arrays/Tensors, numbers, strings, None, lists, tuples and dicts")


def _decode(obj, arrays):
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    if isinstance(obj, dict):
        if "__array__" in obj:
            return arrays[obj["__array__"]]
        if "__tuple__" in obj:
            return tuple(_decode(v, arrays) for v in obj["__tuple__"])
        return {k: _decode(v, arrays) for k, v in obj["__dict__"]}
    return obj


def _state(obj):
    """Accept a state dict, or anything with a ``state_dict()`` method (model, optimizer)."""
    return obj.state_dict() if hasattr(obj, "state_dict") else obj


def save_checkpoint(path, model_state, optimizer_state=None, epoch=None, **extra):
    """Write ``{"model", "optimizer", "epoch", **extra}`` to ``path`` atomically.

    ``model_state`` / ``optimizer_state`` are state dicts (or a model / optimizer,
    whose ``state_dict()`` is taken).  ``extra`` may hold any nested mix of arrays,
    numbers, strings, lists, tuples and dicts, e.g. a scheduler's state dict or
    the best accuracy so far.
    """
    path = os.fspath(path)
    content = {"model": _state(model_state), "optimizer": _state(optimizer_state),
               "epoch": epoch}
    for key, value in extra.items():
        if key in content:
            raise ValueError(f"minicnn: save_checkpoint: extra entry {key!r} clashes with a "
                             "built-in entry")
        content[key] = _state(value) if hasattr(value, "state_dict") else value
    arrays = {}
    meta = {"format": FORMAT, "version": VERSION, "content": _encode(content, arrays)}
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)

    folder = os.path.dirname(os.path.abspath(path))
    prefix = "." + os.path.basename(path) + "."
    _remove_stale_temporaries(folder, prefix)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=TMP_SUFFIX)
    try:
        if hasattr(os, "fchmod"):                     # mkstemp's 0600 -> what open() gives
            os.fchmod(fd, default_file_mode())
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())                      # the bytes are on disk ...
        os.replace(tmp, path)                         # ... before the name points at them
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_folder(folder)                             # make the rename itself durable


def _remove_stale_temporaries(folder, prefix):
    """Delete the temporary files of earlier saves to the same path that never reached
    their rename (the process was killed mid-write): each is a whole checkpoint's size.
    One process writes a given checkpoint path at a time, so none of them is in use."""
    for name in os.listdir(folder):
        if name.startswith(prefix) and name.endswith(TMP_SUFFIX):
            try:
                os.remove(os.path.join(folder, name))
            except FileNotFoundError:                 # removed meanwhile: fine
                pass


def _fsync_folder(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:                                   # e.g. Windows: folders cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _check_unpacked_size(f, path):
    """Refuse, before reading any array, an archive whose entries unpack to more than the
    memory available (a few KB of deflated zeros can claim gigabytes: np.savez writes
    them uncompressed, so a real checkpoint is about its file's size)."""
    try:
        with zipfile.ZipFile(f) as archive:
            size = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return                                        # np.load reports what is wrong
    finally:
        f.seek(0)
    available = available_memory()
    if available is not None and size > available:
        raise ValueError(f"minicnn: load_checkpoint: {path} unpacks to {size} bytes, more than "
                         f"the {available} bytes of memory available (damaged, or not a "
                         "checkpoint)")


def load_checkpoint(path):
    """Read a checkpoint written by ``save_checkpoint``: a dict with "model",
    "optimizer", "epoch" and the extra entries, arrays as NumPy arrays."""
    path = os.fspath(path)
    with open_for_reading(path, "load_checkpoint") as f:
        _check_unpacked_size(f, path)
        try:
            with np.load(f, allow_pickle=False) as archive:
                if "__meta__" not in archive.files:
                    raise ValueError("it has no __meta__ entry")
                meta = json.loads(archive["__meta__"].tobytes().decode("utf-8"))
                if meta.get("format") != FORMAT:
                    raise ValueError(f"its format is {meta.get('format')!r}")
                if meta.get("version", 0) > VERSION:
                    raise ValueError(f"it has version {meta['version']}, newer than this "
                                     f"minicnn reads ({VERSION})")
                arrays = {name: archive[name] for name in archive.files if name != "__meta__"}
            # (a renamed or missing array entry shows here, as a KeyError)
            return _decode(meta["content"], arrays)
        except Exception as e:
            raise ValueError(f"minicnn: load_checkpoint: {path} is not a minicnn checkpoint "
                             f"({type(e).__name__}: {e})") from e
