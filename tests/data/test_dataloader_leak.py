"""An abandoned prefetching DataLoader iterator (``break``) stops its thread and frees
the batches it queued: the thread must not hold the iterator, or ``__del__`` never runs."""
import gc
import threading
import time
import weakref

import numpy as np

from minicnn.data import DataLoader


def loader_threads():
    return [t for t in threading.enumerate() if t.name == "minicnn-DataLoader"]


def wait_until(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


class Batch:
    """A batch that can be watched with a weak reference."""
    def __init__(self, samples):
        self.samples = samples


def test_forty_abandoned_iterators_leave_no_thread():
    before = len(loader_threads())
    loader = DataLoader(list(range(100)), batch_size=2, prefetch=2)
    for _ in range(40):
        for _batch in loader:
            break
    gc.collect()
    assert wait_until(lambda: len(loader_threads()) == before), \
        f"{len(loader_threads()) - before} prefetch threads still alive after 40 breaks"


def test_an_abandoned_iterator_frees_its_queued_batches():
    made = []

    def collate(samples):
        batch = Batch(samples)
        made.append(weakref.ref(batch))
        return batch

    before = len(loader_threads())
    loader = DataLoader(list(range(100)), batch_size=2, prefetch=4, collate_fn=collate)
    for batch in loader:
        break
    del batch
    assert wait_until(lambda: len(made) >= 2)         # the thread had queued more batches
    gc.collect()
    assert wait_until(lambda: len(loader_threads()) == before)
    alive = sum(ref() is not None for ref in made)
    assert alive == 0, f"{alive} of {len(made)} prefetched batches still alive"


def test_a_finished_iterator_ends_its_thread_and_gives_every_batch():
    before = len(loader_threads())
    loader = DataLoader(np.arange(10.0), batch_size=3, prefetch=2)
    assert [b.numpy().tolist() for b in loader] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert wait_until(lambda: len(loader_threads()) == before)
