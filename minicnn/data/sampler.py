"""``DistributedSampler``: each process's share of a dataset, for data-parallel training.

    sampler = DistributedSampler(train_set)          # num_replicas, rank: from the process group
    loader = DataLoader(train_set, batch_size=64, sampler=sampler)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)                     # a new shuffle, the same on all ranks
        for images, labels in loader: ...

PyTorch's rules, so the shards are the same as torch's for the same order:
every process draws the same permutation (seeded by ``seed + epoch``), makes its length a
multiple of ``num_replicas`` -- by repeating indices from its start (wrapping around as often
as needed), or with ``drop_last`` by cutting the tail -- and process ``rank`` takes every
``num_replicas``-th index from position ``rank``.  All shards have the same length, so every
process runs the same number of steps (each step is a collective all-reduce).
(PyTorch draws its permutation with its own generator; minicnn uses NumPy's, so shuffled
orders differ from torch's, while the sharding rules are the same.)
"""
import math

import numpy as np


class DistributedSampler:
    """The indices of ``dataset`` that process ``rank`` of ``num_replicas`` visits in one epoch."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0,
                 drop_last=False):
        if num_replicas is None or rank is None:
            from .. import distributed as dist      # the process group must exist for these
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if not (isinstance(num_replicas, int) and num_replicas >= 1):
            raise ValueError(f"minicnn: DistributedSampler: num_replicas must be a positive int, "
                             f"got {num_replicas!r}")
        if not (isinstance(rank, int) and 0 <= rank < num_replicas):
            raise ValueError(f"minicnn: DistributedSampler: invalid rank {rank!r}, rank should be "
                             f"in the interval [0, {num_replicas - 1}]")
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.seed, self.drop_last, self.epoch = shuffle, seed, drop_last, 0
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)   # the tail is cut
        else:
            self.num_samples = math.ceil(n / num_replicas)                    # padded up
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch):
        """Choose the epoch's shuffle: call it before each epoch, with the same number on
        every process."""
        self.epoch = epoch

    def __iter__(self):
        n = len(self.dataset)
        order = (np.random.default_rng(self.seed + self.epoch).permutation(n) if self.shuffle
                 else np.arange(n))
        if self.drop_last:
            order = order[:self.total_size]
        else:   # repeat from the start until every process gets num_samples indices
            order = np.resize(order, self.total_size)
        return iter(order[self.rank:self.total_size:self.num_replicas].tolist())

    def __len__(self):
        return self.num_samples
