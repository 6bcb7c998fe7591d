"""Shared by the scripts that tests/test_distributed.py runs under ``mpiexec -n 2``.

Each script checks its claims itself: a failed check raises, which (through the process
group's excepthook) aborts the whole job with a non-zero exit status; a passed check prints
``rank R ok: NAME``, and the test looks for those lines.
"""
import numpy as np

import minicnn as mc
import minicnn.distributed as dist
from minicnn import nn
from minicnn.utils import assert_close

B = 4          # images per process in one step


def ok(name):
    print(f"rank {dist.get_rank()} ok: {name}", flush=True)


def check_close(actual, expected, name, tol=1e-10):
    assert_close(actual, expected, rtol=tol, atol=tol, name=f"rank {dist.get_rank()}: {name}")


def global_batch(n, seed):
    """The same images (float64, with a non-zero mean) and labels on every process."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.5, 1.0, (n, 2, 6, 6)), rng.integers(0, 3, n)


def my_rows(n_per_process=B):
    rank = dist.get_rank()
    return slice(rank * n_per_process, (rank + 1) * n_per_process)


def small_cnn(batch_norm):
    """conv -> [BN2d] -> ReLU -> pool -> linear -> [BN1d] -> ReLU -> linear, in float64."""
    norm2d = [nn.BatchNorm2d(4)] if batch_norm else []
    norm1d = [nn.BatchNorm1d(8)] if batch_norm else []
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), *norm2d, nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(36, 8), *norm1d, nn.ReLU(),
                         nn.Linear(8, 3)).double()


def same_on_every_rank(arrays, name):
    """The arrays are bit for bit the same on every process."""
    flat = np.concatenate([mc.utils.as_numpy(a).ravel() for a in arrays])
    everyone = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, flat)
    for other in everyone[1:]:
        np.testing.assert_array_equal(other, everyone[0], err_msg=name)
