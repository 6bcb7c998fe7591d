"""Datasets: anything with ``len(ds)`` and ``ds[i] -> sample`` (usually ``(image, label)``)."""
import numpy as np

from ..autograd import Tensor


class Dataset:
    """Base class: subclasses implement ``__getitem__(index)`` and ``__len__()``."""

    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError


def _as_array(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


class TensorDataset(Dataset):
    """Samples are the rows of equally long arrays: ``ds[i] = (x[i], y[i])``."""

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("minicnn: TensorDataset needs at least one array")
        self.arrays = [_as_array(a) for a in arrays]
        lengths = [len(a) for a in self.arrays]
        if len(set(lengths)) != 1:
            raise ValueError(f"minicnn: TensorDataset: all arrays must have the same length "
                             f"(first dimension), got lengths {lengths}")

    def __getitem__(self, index):
        return tuple(a[index] for a in self.arrays)

    def __len__(self):
        return len(self.arrays[0])


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = [int(i) for i in indices]

    def __getitem__(self, index):
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)


def random_split(dataset, lengths, seed=None):
    """Split into non-overlapping random subsets of the given lengths (e.g. train/val).

    ``lengths`` are counts summing to ``len(dataset)``, or fractions summing to 1
    (rounding remainders go to the first subsets, as in PyTorch).
    """
    n = len(dataset)
    if all(isinstance(x, float) and 0 <= x <= 1 for x in lengths) and abs(sum(lengths) - 1) < 1e-9:
        counts = [int(np.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError(f"minicnn: random_split: lengths {list(lengths)} sum to {sum(lengths)}, "
                         f"but the dataset has {n} samples")
    order = np.random.default_rng(seed).permutation(n)
    bounds = np.cumsum([0] + list(lengths))
    return [Subset(dataset, order[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
