"""minicnn.data: Dataset helpers, collation and the DataLoader (with prefetching)."""
import threading

import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from minicnn import optim
from minicnn.data import (DataLoader, Dataset, Subset, TensorDataset, default_collate,
                          load_digits, random_split, transforms as T)


class Squares(Dataset):
    """Sample i is (a 2x2 float image filled with i, the label i % 3)."""

    def __init__(self, n=10, fail_at=None, on_get=None):
        self.n, self.fail_at, self.on_get = n, fail_at, on_get

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.fail_at:
            raise KeyError(f"sample {i} is broken")
        if self.on_get is not None:
            self.on_get(i)
        return np.full((2, 2), float(i)), i % 3


def labels_of(loader):
    return [int(v) for _, y in loader for v in y.numpy()]


def firsts_of(batches):
    """The value each sample's image was filled with: its index in the dataset."""
    return [int(v) for x, _ in batches for v in x.numpy()[:, 0, 0]]


# ----- datasets ---------------------------------------------------------------------
def test_tensor_dataset_indexes_rows_of_arrays_and_tensors():
    x, y = np.arange(12.0).reshape(6, 2), mc.tensor(np.arange(6))
    ds = TensorDataset(x, y)
    assert len(ds) == 6
    a, b = ds[4]
    np.testing.assert_array_equal(a, [8.0, 9.0])
    assert b == 4
    with pytest.raises(ValueError, match="same length .* got lengths \\[6, 5\\]"):
        TensorDataset(x, np.arange(5))


def test_random_split_is_a_disjoint_cover_and_reproducible():
    ds = Squares(10)
    a, b = random_split(ds, [7, 3], seed=1)
    ids = sorted(a.indices + b.indices)
    assert ids == list(range(10)) and len(a) == 7 and len(b) == 3
    assert random_split(ds, [7, 3], seed=1)[0].indices == a.indices
    # Fractions: floor(n * f) each, leftovers to the first subsets (as torch does).
    assert [len(s) for s in random_split(ds, [0.5, 0.25, 0.25], seed=0)] == [6, 2, 2]
    assert [len(s) for s in random_split(Squares(11), [0.3, 0.3, 0.4])] == [4, 3, 4]
    assert a[0][1] == a.indices[0] % 3
    with pytest.raises(ValueError, match="sum to 9, but the dataset has 10"):
        random_split(ds, [6, 3])


def test_subset_keeps_order():
    sub = Subset(Squares(10), [7, 2, 5])
    assert [sub[i][1] for i in range(3)] == [7 % 3, 2 % 3, 5 % 3]


# ----- collation ----------------------------------------------------------------------------
def test_default_collate_dtypes_and_shapes():
    samples = [(np.ones((3, 2, 2), dtype=np.float64), 1, np.True_),
               (np.zeros((3, 2, 2), dtype=np.float64), 2, np.False_)]
    x, y, flag = default_collate(samples)
    assert isinstance(x, mc.Tensor) and x.shape == (2, 3, 2, 2) and x.dtype == np.float32
    assert y.dtype == np.int64 and y.tolist() == [1, 2]
    assert flag.dtype == np.bool_
    batch = default_collate([{"img": np.zeros(2, np.uint8), "name": "a"},
                             {"img": np.ones(2, np.uint8), "name": "b"}])
    assert batch["img"].dtype == np.int64 and batch["name"] == ["a", "b"]
    with pytest.raises(ValueError, match="different shapes"):
        default_collate([np.zeros(3), np.zeros(4)])


# ----- the loader ---------------------------------------------------------------------------
@pytest.mark.parametrize("n,batch,drop_last,expected", [(10, 3, False, 4), (10, 3, True, 3),
                                                       (9, 3, True, 3), (2, 5, False, 1),
                                                       (2, 5, True, 0)])
def test_len_and_batch_sizes(n, batch, drop_last, expected):
    loader = DataLoader(Squares(n), batch_size=batch, drop_last=drop_last)
    sizes = [len(y) for _, y in loader]
    assert len(loader) == len(sizes) == expected
    assert all(s == batch for s in sizes[:-1])
    assert sum(sizes) == (n - n % batch if drop_last else n)


def test_no_shuffle_keeps_dataset_order():
    assert firsts_of(DataLoader(Squares(7), batch_size=3)) == list(range(7))


def test_shuffle_visits_every_sample_once_per_epoch_in_a_new_order():
    loader = DataLoader(Squares(20), batch_size=6, shuffle=True, seed=0)
    epochs = [firsts_of(loader) for _ in range(3)]
    for order in epochs:
        assert sorted(order) == list(range(20))
    assert epochs[0] != epochs[1] != epochs[2]
    # The same seed gives the same sequence of epochs; another seed another one.
    again = DataLoader(Squares(20), batch_size=6, shuffle=True, seed=0)
    assert [firsts_of(again) for _ in range(3)] == epochs
    other = DataLoader(Squares(20), batch_size=6, shuffle=True, seed=1)
    assert firsts_of(other) != epochs[0]
    gen = DataLoader(Squares(20), batch_size=6, shuffle=True,
                     generator=np.random.default_rng(0))
    assert firsts_of(gen) == epochs[0]


def test_batches_are_tensors_with_float32_images_and_int64_labels():
    x, y = next(iter(DataLoader(Squares(5), batch_size=4)))
    assert isinstance(x, mc.Tensor) and x.dtype == np.float32 and x.shape == (4, 2, 2)
    assert isinstance(y, mc.Tensor) and y.dtype == np.int64 and y.tolist() == [0, 1, 2, 0]


@pytest.mark.parametrize("prefetch", [1, 3])
def test_prefetching_gives_exactly_the_same_batches(prefetch):
    def loader(prefetch):
        ds = load_digits("train", transform=T.Compose([
            T.RandomCrop(8, padding=1, seed=0), T.RandomHorizontalFlip(seed=0), T.ToTensor()]))
        return DataLoader(ds, batch_size=100, shuffle=True, seed=3, prefetch=prefetch)
    plain, fetched = loader(0), loader(prefetch)
    for _ in range(2):                                   # two epochs
        batches = list(fetched)
        reference = list(plain)
        assert len(batches) == len(reference) == len(plain)
        for (x, y), (rx, ry) in zip(batches, reference):
            np.testing.assert_array_equal(x.numpy(), rx.numpy())
            np.testing.assert_array_equal(y.numpy(), ry.numpy())


def test_prefetch_thread_works_ahead_of_the_consumer():
    batch_size, depth = 2, 2
    reached = threading.Event()
    # The thread may finish batch 0 (taken by the consumer) plus `depth` queued ones.
    last_index_of_batch = batch_size * (1 + depth) - 1

    def on_get(i):
        if i == last_index_of_batch:
            reached.set()
    it = iter(DataLoader(Squares(20, on_get=on_get), batch_size=batch_size, prefetch=depth))
    next(it)
    assert reached.wait(timeout=30), "the background thread did not prepare batches ahead"
    assert firsts_of(it) == list(range(2, 20))


def test_prefetch_reraises_errors_from_the_thread():
    loader = DataLoader(Squares(10, fail_at=7), batch_size=3, prefetch=2)
    it = iter(loader)
    assert firsts_of([next(it), next(it)]) == list(range(6))
    with pytest.raises(KeyError, match="sample 7 is broken"):
        next(it)
    with pytest.raises(StopIteration):
        next(it)


def test_abandoned_prefetch_iterator_stops_its_thread():
    loader = DataLoader(Squares(1000), batch_size=1, prefetch=2)
    for _ in loader:
        break                     # the generator is dropped here
    it = iter(loader)
    next(it)
    it.close()
    it._thread.join(timeout=30)
    assert not it._thread.is_alive()


def test_device_cpu_and_bad_arguments():
    x, _ = next(iter(DataLoader(Squares(4), batch_size=2, device="cpu", prefetch=1)))
    assert x.device == "cpu"
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        DataLoader(Squares(4), batch_size=0)
    with pytest.raises(ValueError, match="prefetch must be >= 0"):
        DataLoader(Squares(4), prefetch=-1)
    with pytest.raises(ValueError, match="unknown device"):
        DataLoader(Squares(4), device="tpu")


@pytest.mark.gpu
def test_device_cuda_moves_batches_in_the_background():
    x, y = next(iter(DataLoader(Squares(4), batch_size=2, device="cuda", prefetch=1)))
    assert x.device == "cuda" and y.device == "cuda"
    np.testing.assert_array_equal(x.numpy()[:, 0, 0], [0.0, 1.0])


def test_softmax_regression_on_digits_learns():
    """Integration: DataLoader + SGD + autograd fit a linear classifier on the digits."""
    train = DataLoader(load_digits("train"), batch_size=64, shuffle=True, seed=0, prefetch=2)
    test_x, test_y = next(iter(DataLoader(load_digits("test"), batch_size=1000)))
    rng = np.random.default_rng(0)
    w = mc.Tensor((rng.standard_normal((10, 64)) * 0.01).astype(np.float32), requires_grad=True)
    b = mc.Tensor(np.zeros(10, np.float32), requires_grad=True)
    opt = optim.SGD([w, b], lr=0.5, momentum=0.9)
    for _ in range(10):
        for x, y in train:
            opt.zero_grad()
            loss = F.cross_entropy(F.linear(x.reshape(len(y), 64), w, b), y)
            loss.backward()
            opt.step()
    logits = F.linear(test_x.reshape(len(test_y), 64), w, b)
    accuracy = (logits.numpy().argmax(1) == test_y.numpy()).mean()
    assert accuracy > 0.9, accuracy
