"""Datasets by name: ``download=True`` against a local HTTP server (tests/local_server.py)
serving tiny files in the real formats (gzipped IDX, tar.gz of pickled CIFAR batches)
under the real names; the MD5 table entries are pointed at the generated files."""
import hashlib
import io
import os
import tarfile

import numpy as np
import pytest

from minicnn.data import CIFAR10, CIFAR100, MNIST, FashionMNIST
from minicnn.io import download as D
from tests.data.test_datasets import (check_cifar10, cifar_batch, make_cifar10, make_mnist,
                                      py2_pickle)
from tests.local_server import local_server  # noqa: F401  (the fixture)


def md5(data):
    return hashlib.md5(data).hexdigest()


def test_sources_equal_torchvisions():
    tv = pytest.importorskip("torchvision.datasets")
    for ours, theirs in [(MNIST, tv.MNIST), (FashionMNIST, tv.FashionMNIST)]:
        assert ours.mirrors == theirs.mirrors
        assert [tuple(r) for r in ours.resources] == [tuple(r) for r in theirs.resources]
    for ours, theirs in [(CIFAR10, tv.CIFAR10), (CIFAR100, tv.CIFAR100)]:
        assert (ours.url, ours.archive, ours.archive_md5, ours.base_folder) == \
            (theirs.url, theirs.filename, theirs.tgz_md5, theirs.base_folder)


@pytest.fixture
def mnist_files(tmp_path, monkeypatch):
    """Tiny MNIST .gz files: {name: bytes}, and MNIST.resources naming their MD5s."""
    arrays = make_mnist(str(tmp_path / "src"), gz=True)
    files = {name: (tmp_path / "src" / name).read_bytes() for name, _ in MNIST.resources}
    monkeypatch.setattr(MNIST, "resources", [(n, md5(b)) for n, b in files.items()])
    return files, arrays


def serve_mnist(server, files, prefix="/mnist/"):
    for name, body in files.items():
        server.serve(prefix + name, body)


def test_mnist_download_then_offline(local_server, mnist_files, tmp_path):
    files, arrays = mnist_files
    serve_mnist(local_server, files)
    root = tmp_path / "data"
    ds = MNIST(root, train=False, transform=None, download=True)
    np.testing.assert_array_equal(ds.data, arrays["t10k"][0])
    np.testing.assert_array_equal(ds.targets, arrays["t10k"][1])
    assert sorted(os.listdir(root / "MNIST" / "raw")) == sorted(files)    # torchvision's layout
    asked = len(local_server.requests)
    MNIST(root, download=True)                       # all there: nothing asked
    assert len(local_server.requests) == asked == 4


def test_mnist_damaged_file_is_fetched_again(local_server, mnist_files, tmp_path):
    files, arrays = mnist_files
    serve_mnist(local_server, files)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    name = "train-images-idx3-ubyte.gz"
    (raw / name).write_bytes(files[name][: len(files[name]) // 2])     # an interrupted copy
    for other, body in files.items():
        if other != name:
            (raw / other).write_bytes(body)
    ds = MNIST(tmp_path, transform=None, download=True)
    np.testing.assert_array_equal(ds.data, arrays["train"][0])
    assert local_server.requests == ["/mnist/" + name]


def test_mnist_second_mirror_and_all_failing(local_server, mnist_files, tmp_path):
    files, _ = mnist_files
    serve_mnist(local_server, files, prefix="/exdb/mnist/")     # the first mirror has none
    MNIST(tmp_path / "a", download=True)
    assert local_server.requests[:2] == ["/mnist/train-images-idx3-ubyte.gz",
                                         "/exdb/mnist/train-images-idx3-ubyte.gz"]
    local_server.routes.clear()
    with pytest.raises(D.DownloadError, match="from any of its 2 sources.*/mnist/train-images"
                                              ".*HTTP 404.*/exdb/mnist/train-images") as e:
        MNIST(tmp_path / "b", download=True)
    assert str(tmp_path / "b" / "MNIST" / "raw") in str(e.value)
    assert not (tmp_path / "b" / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").exists()


def test_fashion_mnist_download(local_server, tmp_path, monkeypatch):
    make_mnist(str(tmp_path / "src"), gz=True, seed=3)
    files = {n: (tmp_path / "src" / n).read_bytes() for n, _ in FashionMNIST.resources}
    monkeypatch.setattr(FashionMNIST, "resources", [(n, md5(b)) for n, b in files.items()])
    serve_mnist(local_server, files, prefix="/")
    ds = FashionMNIST(tmp_path / "data", train=False, download=True)
    assert len(ds) == 3 and ds.classes[0] == "T-shirt/top"
    assert (tmp_path / "data" / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte.gz").is_file()


def cifar10_archive(tmp_path, extra=None):
    batches = make_cifar10(str(tmp_path / "src" / "cifar-10-batches-py"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
        if extra:
            extra(tar)
    return buf.getvalue(), batches


def test_cifar10_download_extracts_then_offline(local_server, tmp_path, monkeypatch):
    body, batches = cifar10_archive(tmp_path)
    monkeypatch.setattr(CIFAR10, "archive_md5", md5(body))
    local_server.serve("/~kriz/cifar-10-python.tar.gz", body)
    root = tmp_path / "data"
    train = CIFAR10(root, transform=None, download=True)
    check_cifar10(train, batches, [f"data_batch_{i}" for i in range(1, 6)])
    assert (root / "cifar-10-batches-py" / "test_batch").is_file()      # extracted
    check_cifar10(CIFAR10(root, train=False, transform=None, download=True), batches,
                  ["test_batch"])
    assert local_server.requests == ["/~kriz/cifar-10-python.tar.gz"]


def test_cifar10_corrupt_archive_fetched_again(local_server, tmp_path, monkeypatch):
    body, batches = cifar10_archive(tmp_path)
    monkeypatch.setattr(CIFAR10, "archive_md5", md5(body))
    local_server.serve("/~kriz/cifar-10-python.tar.gz", body)
    root = tmp_path / "data"
    root.mkdir()
    (root / "cifar-10-python.tar.gz").write_bytes(body[:1000])      # torchvision, interrupted
    (root / "cifar-10-batches-py").mkdir()                           # ... half extracted
    (root / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"torn")
    check_cifar10(CIFAR10(root, transform=None, download=True), batches,
                  [f"data_batch_{i}" for i in range(1, 6)])
    assert len(local_server.requests) == 1
    assert sorted(os.listdir(root)) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]


def test_cifar10_wrong_md5_from_server_leaves_nothing(local_server, tmp_path):
    body, _ = cifar10_archive(tmp_path)                 # not the official archive's MD5
    local_server.serve("/~kriz/cifar-10-python.tar.gz", body)
    with pytest.raises(D.DownloadError, match="MD5 .*expected c58f30108f718f92721af3b95e74349a"):
        CIFAR10(tmp_path / "data", download=True)
    assert os.listdir(tmp_path / "data") == []


def test_cifar10_archive_escaping_the_folder_is_refused(local_server, tmp_path, monkeypatch):
    def evil(tar):
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    body, _ = cifar10_archive(tmp_path, evil)
    monkeypatch.setattr(CIFAR10, "archive_md5", md5(body))
    local_server.serve("/~kriz/cifar-10-python.tar.gz", body)
    with pytest.raises(ValueError, match="refusing to extract .*'../escaped.txt'"):
        CIFAR10(tmp_path / "data", download=True)
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "data" / "cifar-10-batches-py").exists()


def test_cifar100_download(local_server, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    files = {name: py2_pickle(cifar_batch(4, rng, (b"fine_labels", b"coarse_labels"), 20))
             for name in ("train", "test")}
    files["meta"] = py2_pickle({b"fine_label_names": [b"c%d" % i for i in range(100)],
                                b"coarse_label_names": [b"s%d" % i for i in range(20)]})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    monkeypatch.setattr(CIFAR100, "archive_md5", md5(buf.getvalue()))
    local_server.serve("/~kriz/cifar-100-python.tar.gz", buf.getvalue())
    ds = CIFAR100(tmp_path, train=False, label="coarse", download=True)
    assert len(ds) == 4 and ds.classes[3] == "s3"


def test_cifar10_archive_without_its_folder_is_refused(local_server, tmp_path, monkeypatch):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("something-else/data_batch_1")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    monkeypatch.setattr(CIFAR10, "archive_md5", md5(buf.getvalue()))
    local_server.serve("/~kriz/cifar-10-python.tar.gz", buf.getvalue())
    with pytest.raises(ValueError, match="CIFAR10: .*cifar-10-python.tar.gz has no "
                                         "cifar-10-batches-py/ folder"):
        CIFAR10(tmp_path, download=True)
    assert sorted(os.listdir(tmp_path)) == ["cifar-10-python.tar.gz"]    # no staging left
