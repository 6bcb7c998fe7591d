"""``DataLoader``: turn a Dataset into shuffled mini-batches of minicnn Tensors.

    loader = DataLoader(train_set, batch_size=128, shuffle=True, seed=0, prefetch=2)
    for epoch in range(epochs):
        for images, labels in loader:      # (128, C, H, W) float32, (128,) int64
            ...

With ``prefetch=k > 0`` a background thread prepares up to ``k`` batches ahead
(reading, augmenting, collating and optionally moving them to the GPU), so
that work overlaps the training step.  One thread, batches in order: results
are the same with or without prefetching.  (NumPy releases Python's global
interpreter lock in most array operations, so the overlap is real.)
"""
import math
import queue
import threading

import numpy as np

from .. import backend
from ..autograd import Tensor


def default_collate(samples):
    """Stack a list of samples into a batch.

    Samples may be tuples/lists (collated field by field), dicts (key by key),
    arrays, Tensors or numbers.  Arrays and numbers become one Tensor with a new
    leading batch axis: floating point -> float32 (minicnn's default), integers
    -> int64 (class labels), bool stays bool.  Strings are returned as a list.
    """
    first = samples[0]
    if isinstance(first, (tuple, list)):
        if any(len(s) != len(first) for s in samples):
            raise ValueError("minicnn: DataLoader: samples in one batch have different lengths")
        return tuple(default_collate(list(field)) for field in zip(*samples))
    if isinstance(first, dict):
        return {key: default_collate([s[key] for s in samples]) for key in first}
    if isinstance(first, str):
        return list(samples)
    arrays = [s.data if isinstance(s, Tensor) else s for s in samples]
    xp = backend.get_array_module(*arrays)          # CuPy if the samples live on the GPU
    arrays = [xp.asarray(a) for a in arrays]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"minicnn: DataLoader: cannot batch samples of different shapes "
                         f"{sorted(shapes)[:3]}; make them equal with a transform (Resize, "
                         "CenterCrop) or pass collate_fn")
    batch = xp.stack(arrays)
    kind = batch.dtype.kind
    if kind == "f":
        batch = batch.astype(np.float32, copy=False)
    elif kind in "iu":
        batch = batch.astype(np.int64, copy=False)
    return Tensor(batch)


def _move(batch, device):
    """Move every Tensor in a collated batch to ``device``."""
    if isinstance(batch, Tensor):
        return Tensor(backend.to_device(batch.data, device))
    if isinstance(batch, tuple):
        return tuple(_move(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _move(v, device) for k, v in batch.items()}
    return batch


class DataLoader:
    """Iterate over ``dataset`` in batches.

    batch_size: samples per batch.  shuffle: a new random order every epoch.
    seed / generator: where the shuffling randomness comes from (an int seed,
        or a ``numpy.random.Generator``); the sequence of epochs is reproducible.
    sampler: where the indices come from instead (anything with ``len`` that iterates
        over indices, such as ``DistributedSampler``); excludes ``shuffle``.
    drop_last: skip the final, smaller batch.
    collate_fn: turns a list of samples into a batch (default ``default_collate``).
    prefetch: number of batches a background thread prepares ahead (0: none).
    device: move each batch there ("cpu" / "cuda"), in the background thread.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None,
                 generator=None, collate_fn=None, prefetch=0, device=None, sampler=None):
        if not (isinstance(batch_size, int) and batch_size > 0):
            raise ValueError(f"minicnn: DataLoader: batch_size must be a positive int, got "
                             f"{batch_size!r}")
        if sampler is not None and shuffle:
            raise ValueError("minicnn: DataLoader: sampler option is mutually exclusive with "
                             "shuffle (the sampler decides the order; DistributedSampler "
                             "shuffles by itself)")
        if prefetch < 0:
            raise ValueError(f"minicnn: DataLoader: prefetch must be >= 0, got {prefetch}")
        self.dataset, self.batch_size = dataset, batch_size
        self.shuffle, self.drop_last, self.sampler = shuffle, drop_last, sampler
        self.rng = generator if generator is not None else np.random.default_rng(seed)
        self.collate_fn = collate_fn or default_collate
        self.prefetch = prefetch
        self.device = None if device is None else backend.normalize_device(device)

    def __len__(self):
        n = len(self.dataset if self.sampler is None else self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def batch_indices(self):
        """The index lists of one epoch's batches (draws the epoch's shuffle)."""
        if self.sampler is not None:
            order = np.fromiter(self.sampler, dtype=np.int64)
        elif self.shuffle:
            order = self.rng.permutation(len(self.dataset))
        else:
            order = np.arange(len(self.dataset))
        n, stop = len(order), len(self) * self.batch_size
        return [order[i:min(i + self.batch_size, n)].tolist()
                for i in range(0, stop, self.batch_size)]

    def _make_batch(self, indices):
        batch = self.collate_fn([self.dataset[i] for i in indices])
        return batch if self.device is None else _move(batch, self.device)

    def __iter__(self):
        # The order is drawn here, in the caller's thread, so that it never
        # depends on timing.
        batches = self.batch_indices()
        if self.prefetch == 0:
            return (self._make_batch(b) for b in batches)
        return _Prefetcher(self._make_batch, batches, self.prefetch)


class _Prefetcher:
    """An iterator that computes ``make(item)`` for each item in a background thread,
    keeping at most ``depth`` finished results waiting in a queue.

    An exception in the thread is re-raised by ``next()``; abandoning the
    iterator (``break``) stops the thread at its next batch and drops the batches it
    queued.  The thread holds only the queue and the stop flag, never this iterator:
    so an abandoned iterator is freed at once, and its ``__del__`` stops the thread.
    """

    def __init__(self, make, items, depth):
        self._queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=_produce,
                                        args=(make, items, self._queue, self._stop),
                                        daemon=True, name="minicnn-DataLoader")
        self._thread.start()

    def __iter__(self):
        return self

    def __next__(self):
        if self._finished:
            raise StopIteration
        kind, value = self._queue.get()
        if kind == "batch":
            return value
        self.close()
        if kind == "error":
            raise value
        raise StopIteration

    def close(self):
        """Stop the background thread (called at the end, or when abandoned) and drop
        the batches it queued."""
        self._finished = True
        self._stop.set()
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    def __del__(self):
        self.close()


def _produce(make, items, results, stop):
    """The background thread: ``make(item)`` for each item into the queue ``results``,
    then ("end", None); an exception is handed over as ("error", error).  Returns as soon
    as ``stop`` is set."""
    try:
        for item in items:
            if stop.is_set():
                return
            _put(results, stop, ("batch", make(item)))
        _put(results, stop, ("end", None))
    except BaseException as error:      # handed over to the consumer thread
        _put(results, stop, ("error", error))


def _put(results, stop, message):
    while not stop.is_set():            # wake up now and then to notice a close()
        try:
            results.put(message, timeout=0.05)
            return
        except queue.Full:
            pass
