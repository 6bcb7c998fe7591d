"""Dataset readers, tested on small files written here in the real formats."""
import gzip
import hashlib
import io
import os
import pickle
import struct
import sys
import tarfile

import numpy as np
import pytest

from minicnn.data import (CIFAR10, CIFAR100, MNIST, FashionMNIST, ImageFolder, load_digits,
                          read_idx, transforms as T)
from minicnn.io import UnsafePickleError


# ----- the embedded digits -----------------------------------------------------------
def test_embedded_digits_file_is_the_documented_one():
    ds = load_digits("all", transform=None)
    assert len(ds) == 1797
    assert np.bincount(ds.targets).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    counts = np.rint(ds.data[..., 0] * 16).astype(np.uint8)          # back to 0..16
    assert counts.min() == 0 and counts.max() == 16
    assert hashlib.sha256(counts.tobytes()).hexdigest() == (
        "8f26b2bd9d135c256808f68f14fdabddde6d9c7f869ae419704b051f0f14b3b3")


def test_digits_split_is_fixed_stratified_and_disjoint():
    everything = load_digits("all", transform=None)
    train, test = load_digits("train", transform=None), load_digits("test", transform=None)
    assert (len(train), len(test)) == (1442, 355)
    # Every image lands in exactly one split (compare as rows of bytes).
    key = lambda ds: {(ds.data[i].tobytes(), int(ds.targets[i])) for i in range(len(ds))}  # noqa
    assert key(train) | key(test) == key(everything)
    assert not key(train) & key(test)
    fractions = np.bincount(test.targets) / np.bincount(everything.targets)
    assert fractions.min() > 0.18 and fractions.max() < 0.21
    again = load_digits("test", transform=None)
    np.testing.assert_array_equal(again.data, test.data)


def test_digits_samples_and_upscaling():
    img, label = load_digits("train")[0]
    assert img.shape == (1, 8, 8) and img.dtype == np.float32 and isinstance(label, int)
    assert 0.0 <= img.min() and img.max() <= 1.0
    raw = load_digits("train", transform=None)
    big = load_digits("train", size=32, transform=None)
    assert big.data.shape == (1442, 32, 32, 1)
    np.testing.assert_allclose(big.data[3], T.bilinear_resize(raw.data[3], 32, 32), rtol=1e-6)
    with pytest.raises(ValueError, match="split must be 'train', 'test' or 'all'"):
        load_digits("validation")


# ----- MNIST (IDX) ------------------------------------------------------------------------
def write_idx(path, array, magic=None):
    """An IDX file: 0, 0, type code 0x08 (ubyte), ndim, big-endian dims, then the bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    if magic is not None:
        header = struct.pack(">I", magic) + header[4:]
    data = header + array.astype(np.uint8).tobytes()
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(data)


def make_mnist(folder, n_train=5, n_test=3, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    ext = ".gz" if gz else ""
    arrays = {}
    for prefix, n in [("train", n_train), ("t10k", n_test)]:
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        write_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte{ext}"), images)
        write_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte{ext}"), labels)
        arrays[prefix] = images, labels
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_idx_files_raw_and_gzipped(tmp_path, gz):
    arrays = make_mnist(str(tmp_path / "MNIST" / "raw"), gz=gz)     # torchvision's layout
    for train, prefix in [(True, "train"), (False, "t10k")]:
        ds = MNIST(tmp_path, train=train, transform=None)
        images, labels = arrays[prefix]
        np.testing.assert_array_equal(ds.data, images)
        np.testing.assert_array_equal(ds.targets, labels.astype(np.int64))
    img, label = MNIST(tmp_path)[2]                                  # default ToTensor
    assert img.shape == (1, 28, 28) and img.dtype == np.float32
    np.testing.assert_allclose(img[0], arrays["train"][0][2] / 255.0, rtol=1e-6)
    assert label == arrays["train"][1][2]


def test_fashion_mnist_folder_and_class_names(tmp_path):
    make_mnist(str(tmp_path / "FashionMNIST" / "raw"))
    ds = FashionMNIST(tmp_path, train=False)
    assert len(ds) == 3 and ds.classes[9] == "Ankle boot"
    make_mnist(str(tmp_path / "flat"))                                # files right in root
    assert len(FashionMNIST(tmp_path / "flat")) == 5


def test_read_idx_other_types_and_shapes(tmp_path):
    values = np.arange(-6, 6, dtype=">i4").reshape(3, 4)
    path = str(tmp_path / "ints")
    with open(path, "wb") as f:
        f.write(bytes([0, 0, 0x0C, 2]) + struct.pack(">2I", 3, 4) + values.tobytes())
    out = read_idx(path)
    assert out.dtype == np.int32 and out.dtype.isnative
    np.testing.assert_array_equal(out, values)


def test_mnist_errors_name_the_file_and_the_problem(tmp_path):
    folder = str(tmp_path)
    make_mnist(folder)
    images_path = os.path.join(folder, "train-images-idx3-ubyte")
    write_idx(images_path, np.zeros((5, 28, 28)), magic=1234)
    with pytest.raises(ValueError, match=f"MNIST: {images_path}: bad magic number 1234, "
                                         "expected 2051"):
        MNIST(folder)
    with open(images_path, "wb") as f:                # header promises 5 images, holds 1
        f.write(bytes([0, 0, 8, 3]) + struct.pack(">3I", 5, 28, 28) + bytes(784))
    with pytest.raises(ValueError, match="expected 3920 bytes of data for shape \\(5, 28, 28\\), "
                                         "found 784"):
        MNIST(folder)
    write_idx(images_path, np.zeros((4, 28, 28)))      # 4 images, 5 labels
    with pytest.raises(ValueError, match="holds images of shape \\(4, 28, 28\\) but .* labels "
                                         "of shape \\(5,\\)"):
        MNIST(folder)
    os.remove(images_path)
    with open(images_path + ".gz", "wb") as f:
        f.write(b"this is not gzip")
    with pytest.raises(ValueError, match="cannot read it"):
        MNIST(folder)
    with pytest.raises(FileNotFoundError, match="cannot find t10k-images-idx3-ubyte\\[.gz\\]"):
        MNIST(tmp_path / "empty", train=False)


# ----- CIFAR (python pickles) ------------------------------------------------------------
def py2_pickle(obj):
    """Pickle ``obj`` the way Python 2's cPickle wrote the CIFAR files (protocol 2):
    str as 8-bit strings (SHORT_BINSTRING/BINSTRING), arrays through
    numpy.core.multiarray._reconstruct.  Supports dict/list/int/bytes/ndarray."""
    out = io.BytesIO()

    def string(b):
        out.write(b"U" + bytes([len(b)]) + b if len(b) < 256 else
                  b"T" + struct.pack("<i", len(b)) + b)

    def integer(i):
        out.write(b"K" + bytes([i]) if 0 <= i < 256 else b"J" + struct.pack("<i", i))

    def dump(o):
        if isinstance(o, dict):
            out.write(b"}(")
            for k, v in o.items():
                dump(k)
                dump(v)
            out.write(b"u")
        elif isinstance(o, list):
            out.write(b"](")
            for v in o:
                dump(v)
            out.write(b"e")
        elif isinstance(o, bytes):
            string(o)
        elif isinstance(o, int):
            integer(o)
        elif isinstance(o, np.ndarray):
            out.write(b"cnumpy.core.multiarray\n_reconstruct\n(cnumpy\nndarray\n(K\x00t")
            string(b"b")
            out.write(b"tR(K\x01(")
            for n in o.shape:
                integer(n)
            out.write(b"tcnumpy\ndtype\n(")
            string(o.dtype.str[1:].encode())
            out.write(b"K\x00K\x01tR(K\x03")
            string(o.dtype.str[:1].encode())
            out.write(b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89")
            string(np.ascontiguousarray(o).tobytes())
            out.write(b"tb")
        else:
            raise TypeError(type(o))
    out.write(b"\x80\x02")
    dump(obj)
    out.write(b".")
    return out.getvalue()


def cifar_batch(n, rng, label_keys=(b"labels",), classes=10):
    batch = {b"batch_label": b"training batch", b"data": rng.integers(
        0, 256, size=(n, 3072), dtype=np.uint8), b"filenames": [b"x.png"] * n}
    for key in label_keys:
        batch[key] = [int(v) for v in rng.integers(0, classes, size=n)]
    return batch


def make_cifar10(folder, writer=py2_pickle, seed=0):
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batches[name] = cifar_batch(3, rng)
        with open(os.path.join(folder, name), "wb") as f:
            f.write(writer(batches[name]))
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
             b"ship", b"truck"]
    with open(os.path.join(folder, "batches.meta"), "wb") as f:
        f.write(writer({b"label_names": names, b"num_vis": 3072}))
    return batches


def test_py2_pickle_writer_produces_what_numpy_reads():
    # Guards the test helper itself: the standard unpickler reads it back unchanged.
    batch = cifar_batch(2, np.random.default_rng(0))
    loaded = pickle.loads(py2_pickle(batch), encoding="bytes")
    np.testing.assert_array_equal(loaded[b"data"], batch[b"data"])
    assert loaded[b"labels"] == batch[b"labels"]


def check_cifar10(ds, batches, names):
    data = np.concatenate([batches[n][b"data"] for n in names])
    labels = sum((batches[n][b"labels"] for n in names), [])
    assert ds.data.shape == (len(labels), 32, 32, 3) and ds.data.dtype == np.uint8
    np.testing.assert_array_equal(ds.targets, labels)
    # Pixel (y, x) of channel c is entry c*1024 + y*32 + x of the row.
    for i, y, x, c in [(0, 0, 0, 0), (1, 5, 7, 2), (len(labels) - 1, 31, 30, 1)]:
        assert ds.data[i, y, x, c] == data[i, c * 1024 + y * 32 + x]


@pytest.mark.parametrize("writer", ["python2", "python3"])
def test_cifar10_from_the_extracted_folder(tmp_path, writer):
    write = py2_pickle if writer == "python2" else lambda o: pickle.dumps(o, protocol=2)
    batches = make_cifar10(str(tmp_path / "cifar-10-batches-py"), write)
    train = CIFAR10(tmp_path, train=True, transform=None)
    check_cifar10(train, batches, [f"data_batch_{i}" for i in range(1, 6)])
    test = CIFAR10(tmp_path / "cifar-10-batches-py", train=False, transform=None)
    check_cifar10(test, batches, ["test_batch"])
    assert train.classes[3] == "cat"
    img, label = CIFAR10(tmp_path, train=False)[1]
    assert img.shape == (3, 32, 32) and img.dtype == np.float32 and label == test.targets[1]


def test_cifar10_straight_from_the_tar_gz(tmp_path):
    batches = make_cifar10(str(tmp_path / "src" / "cifar-10-batches-py"))
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    check_cifar10(CIFAR10(tmp_path, train=False, transform=None), batches, ["test_batch"])
    assert not (tmp_path / "cifar-10-batches-py").exists()          # nothing extracted


@pytest.mark.parametrize("label", ["fine", "coarse"])
def test_cifar100(tmp_path, label):
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    batches = {}
    for name in ["train", "test"]:
        batches[name] = cifar_batch(4, rng, (b"fine_labels", b"coarse_labels"), classes=20)
        (folder / name).write_bytes(py2_pickle(batches[name]))
    (folder / "meta").write_bytes(py2_pickle({
        b"fine_label_names": [b"f%d" % i for i in range(100)],
        b"coarse_label_names": [b"c%d" % i for i in range(20)]}))
    ds = CIFAR100(tmp_path, train=False, label=label, transform=None)
    np.testing.assert_array_equal(ds.targets, batches["test"][f"{label}_labels".encode()])
    assert len(ds.classes) == (100 if label == "fine" else 20)


def test_cifar_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)
    folder = tmp_path / "cifar-10-batches-py"
    make_cifar10(str(folder))
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(UnsafePickleError, match=r"refusing to load (posix|nt|os)\.system from "
                                                r".*test_batch"):
        CIFAR10(tmp_path, train=False)
    assert not marker.exists()


def test_cifar_object_arrays_are_refused(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    make_cifar10(str(folder))
    (folder / "test_batch").write_bytes(pickle.dumps(
        {b"data": np.array([1, "x"], dtype=object), b"labels": [0]}, protocol=2))
    with pytest.raises(UnsafePickleError, match="only numeric arrays"):
        CIFAR10(tmp_path, train=False)


def test_cifar_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="found neither cifar-10-batches-py/ nor "
                                                "cifar-10-python.tar.gz"):
        CIFAR10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    make_cifar10(str(folder))
    (folder / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="missing .*data_batch_3"):
        CIFAR10(tmp_path, train=True)
    (folder / "test_batch").write_bytes(py2_pickle({b"labels": [1, 2]}))
    with pytest.raises(ValueError, match="test_batch: expected a dict with key b'data'"):
        CIFAR10(tmp_path, train=False)
    (folder / "test_batch").write_bytes(b"\x80\x02garbage")
    with pytest.raises(ValueError, match="test_batch: not a valid pickle"):
        CIFAR10(tmp_path, train=False)


# ----- ImageFolder -----------------------------------------------------------------------------
def test_image_folder_png_and_npy(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
    gray = rng.integers(0, 256, size=(6, 5), dtype=np.uint8)
    arr = rng.random((6, 5, 3)).astype(np.float32)
    (tmp_path / "dog").mkdir()
    (tmp_path / "cat" / "nested").mkdir(parents=True)
    Image.fromarray(rgb).save(tmp_path / "dog" / "b.png")
    Image.fromarray(gray).save(tmp_path / "cat" / "nested" / "g.png")
    np.save(tmp_path / "cat" / "a.npy", arr)
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    ds = ImageFolder(tmp_path, transform=None)
    assert ds.classes == ["cat", "dog"] and ds.class_to_idx == {"cat": 0, "dog": 1}
    assert [os.path.relpath(p, tmp_path) for p, _ in ds.samples] == [
        os.path.join("cat", "a.npy"), os.path.join("cat", "nested", "g.png"),
        os.path.join("dog", "b.png")]
    assert ds.targets == [0, 0, 1]
    np.testing.assert_array_equal(ds[0][0], arr)
    np.testing.assert_array_equal(ds[1][0], np.stack([gray] * 3, axis=-1))   # RGB, as torchvision
    np.testing.assert_array_equal(ds[2][0], rgb)
    img, label = ImageFolder(tmp_path)[2]
    assert img.shape == (3, 6, 5) and label == 1


def test_image_folder_without_pillow_explains(tmp_path, monkeypatch):
    from PIL import Image
    (tmp_path / "a").mkdir()
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / "a" / "x.png")
    np.save(tmp_path / "a" / "y.npy", np.zeros((2, 2)))
    monkeypatch.setitem(sys.modules, "PIL", None)           # "import PIL" now fails
    ds = ImageFolder(tmp_path, transform=None)
    with pytest.raises(ImportError, match="x.png needs Pillow"):
        ds[0]
    assert ds[1][0].shape == (2, 2)


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        ImageFolder(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no class folders"):
        ImageFolder(tmp_path)
    (tmp_path / "a").mkdir()
    with pytest.raises(FileNotFoundError, match="no files ending in"):
        ImageFolder(tmp_path)


def test_image_folder_skips_hidden_folders_and_files(tmp_path):
    # Jupyter leaves an empty .ipynb_checkpoints/ in every folder it opened: as a class it
    # came first in the sorted list and shifted every label by one
    for name in ("blue", "red"):
        (tmp_path / name).mkdir()
        np.save(tmp_path / name / "x.npy", np.zeros((2, 2)))
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / "red" / ".ipynb_checkpoints").mkdir()
    np.save(tmp_path / "red" / ".ipynb_checkpoints" / "x-checkpoint.npy", np.zeros((2, 2)))
    np.save(tmp_path / "red" / "._x.npy", np.zeros((2, 2)))       # macOS's resource fork
    ds = ImageFolder(tmp_path, transform=None)
    assert ds.classes == ["blue", "red"] and ds.targets == [0, 1]
    assert [os.path.basename(p) for p, _ in ds.samples] == ["x.npy", "x.npy"]


def test_image_folder_refuses_a_class_folder_without_images(tmp_path):
    for name in ("blue", "red"):
        (tmp_path / name).mkdir()
    np.save(tmp_path / "red" / "x.npy", np.zeros((2, 2)))
    (tmp_path / "blue" / "notes.txt").write_text("no image")
    with pytest.raises(FileNotFoundError, match=r"class folder blue in .* holds no file ending"):
        ImageFolder(tmp_path)


def test_an_idx_gzip_bomb_is_never_unpacked_beyond_its_header(tmp_path, monkeypatch):
    """A .gz whose header promises 5 images but that unpacks to 64 MiB more: refused after
    reading what the header needs plus one byte (reading it all could exhaust memory)."""
    path = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + struct.pack(">3I", 5, 28, 28) + bytes(5 * 784))
        for _ in range(64):
            f.write(bytes(1 << 20))
    requested = []
    real_open = gzip.open

    def counting_open(*args, **kwargs):
        f = real_open(*args, **kwargs)
        read = f.read
        f.read = lambda n=-1: (requested.append(n), read(n))[1]
        return f
    monkeypatch.setattr(gzip, "open", counting_open)
    with pytest.raises(ValueError, match=r"expected 3920 bytes of data for shape \(5, 28, 28\), "
                                         "found more"):
        read_idx(str(path))
    assert requested and all(0 <= n <= 3921 for n in requested), requested


def test_a_damaged_image_file_is_named_in_the_error(tmp_path):
    """A truncated PNG failed with Pillow's "image file is truncated", without its path."""
    from PIL import Image
    (tmp_path / "a").mkdir()
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "a" / "cut.png")
    raw = (tmp_path / "a" / "cut.png").read_bytes()
    (tmp_path / "a" / "cut.png").write_bytes(raw[:len(raw) * 9 // 10])
    (tmp_path / "a" / "header.npy").write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': '\0")
    ds = ImageFolder(tmp_path, transform=None)
    for i, name in enumerate(["cut.png", "header.npy"]):
        with pytest.raises(ValueError, match=f"cannot read the image .*{name} "):
            ds[i]
