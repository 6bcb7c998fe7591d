"""Datasets read from their official file formats, plus one embedded in minicnn.

* ``load_digits``: the UCI handwritten digits (1,797 images of 8x8), shipped
  inside minicnn (``digits.npz``): no download, trains in seconds on a CPU.
* ``MNIST`` / ``FashionMNIST``: the IDX files (``train-images-idx3-ubyte[.gz]`` ...).
* ``CIFAR10`` / ``CIFAR100``: the "python version" pickles (``data_batch_1`` ...),
  from the extracted folder or straight from the ``.tar.gz``; read with a
  restricted unpickler that only rebuilds byte arrays and never runs code.
* ``ImageFolder``: ``root/<class>/<image>``; PNG/JPEG need Pillow, ``.npy`` does not.

MNIST, Fashion-MNIST and CIFAR take ``download=True``, as in torchvision: the missing
files are fetched from torchvision's sources into ``root`` (its layout), each checked
against its MD5 (a damaged or cut file is fetched again), and CIFAR's archive extracted
with every member checked (minicnn.io.download; docs/interop.md, "Datasets by name").
Without it, the files must already be there.

Every dataset gives its ``transform`` the raw image as a NumPy array ``(H, W)`` or
``(H, W, C)`` (``uint8``, or float for the digits), like a decoded file; the default
transform ``ToTensor()`` makes it a float32 ``(C, H, W)`` array in [0, 1].  Pass ``transform=None`` for the raw image.
"""
import gzip
import io
import math
import os
import shutil
import tarfile
import tempfile
import zlib

import numpy as np

from ..io.download import download, download_first, extract_tar, file_digest
from ..io.safe_pickle import RestrictedUnpickler, UnsafePickleError, codecs_encode
from .dataset import Dataset
from .transforms import ToTensor, bilinear_resize


class ArrayImageDataset(Dataset):
    """Images and integer labels held in memory: ``ds[i] = (transform(images[i]), label)``.

    ``data`` holds the raw images (N, H, W) or (N, H, W, C) and ``targets`` the
    int64 labels, as in torchvision; ``classes`` names each label.
    """

    def __init__(self, data, targets, classes, transform=None, target_transform=None):
        self.data, self.targets = data, np.asarray(targets, dtype=np.int64)
        self.classes = list(classes)
        self.transform, self.target_transform = transform, target_transform

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        img, target = self.data[index], int(self.targets[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __repr__(self):
        return f"{type(self).__name__}({len(self)} images of {self.data.shape[1:]}, " \
               f"{len(self.classes)} classes)"


# ----- the embedded digits ------------------------------------------------------
DIGITS_FILE = os.path.join(os.path.dirname(__file__), "digits.npz")


def load_digits(split="train", size=None, transform=ToTensor(), target_transform=None):
    """The UCI optical handwritten digits: 8x8 grey images of 0-9 (see README.md here).

    split: "train" (1,442 images), "test" (355) or "all" (1,797).  The split is
        fixed and stratified: within each class, every 5th image (in file
        order) is a test image, so all 10 classes keep the same proportions.
    size: None for 8x8, or an int to upscale (bilinear) to ``size x size``,
        e.g. 32 to feed a network built for CIFAR-sized inputs.
    Raw images are float32 ``(H, W, 1)`` in [0, 1] (the 0..16 counts / 16).
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"minicnn: load_digits: split must be 'train', 'test' or 'all', "
                         f"got {split!r}")
    with np.load(DIGITS_FILE, allow_pickle=False) as f:
        images, targets = f["images"], f["targets"].astype(np.int64)
    position_in_class = np.zeros(len(targets), dtype=np.int64)
    for c in range(10):
        members = np.flatnonzero(targets == c)
        position_in_class[members] = np.arange(len(members))
    is_test = position_in_class % 5 == 4
    keep = {"train": ~is_test, "test": is_test, "all": np.ones_like(is_test)}[split]
    images = (images[keep].astype(np.float32) / 16.0)[..., None]     # (N, 8, 8, 1)
    if size is not None:
        # Resize the whole stack at once: bilinear_resize works on the first two axes.
        stack = images.transpose(1, 2, 0, 3)                            # (8, 8, N, 1)
        images = np.ascontiguousarray(bilinear_resize(stack, size, size).transpose(2, 0, 1, 3))
    return ArrayImageDataset(images, targets[keep], [str(d) for d in range(10)],
                             transform, target_transform)


# ----- MNIST and Fashion-MNIST (IDX files) ----------------------------------------
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_idx_bytes(path, what):
    """The IDX file's bytes (un-gzipped if it ends in .gz): the header, then no more data
    than the header's shape needs plus one byte: a .gz that would unpack to far more
    (a gzip bomb) is never held in memory."""
    try:
        with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
            head = f.read(4)
            if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in _IDX_DTYPES:
                return head                 # (read_idx says what is wrong)
            head += f.read(4 * head[3])
            if len(head) < 4 + 4 * head[3]:
                return head
            shape = tuple(int.from_bytes(head[4 + 4 * i:8 + 4 * i], "big")
                          for i in range(head[3]))
            expected = math.prod(shape) * np.dtype(_IDX_DTYPES[head[2]]).itemsize
            try:
                return head + f.read(expected + 1)
            except MemoryError:
                raise ValueError(f"minicnn: {what}: {path}: its header promises {expected} "
                                 f"bytes of data (shape {shape}), more than fits in "
                                 "memory (damaged, or not this data set)") from None
    except (OSError, EOFError, zlib.error) as e:        # gzip.BadGzipFile is an OSError
        raise ValueError(f"minicnn: {what}: {path}: cannot read it "
                         f"({type(e).__name__}: {e})") from e


def read_idx(path, expected_magic=None, what="IDX"):
    """Read an IDX file (the MNIST format): a big-endian header, then raw numbers.

    Header: 2 zero bytes, a type code (0x08 = unsigned byte, ...), the number of
    dimensions ``n``, then ``n`` big-endian int32 sizes.  The first four bytes
    read as one big-endian int are the "magic number" (2051 for MNIST images:
    unsigned bytes, 3 dimensions; 2049 for labels).
    """
    raw = _read_idx_bytes(path, what)
    if len(raw) < 4:
        raise ValueError(f"minicnn: {what}: {path}: file too short for an IDX header "
                         f"({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if expected_magic is not None and magic != expected_magic:
        raise ValueError(f"minicnn: {what}: {path}: bad magic number {magic}, expected "
                         f"{expected_magic}")
    type_code, ndim = raw[2], raw[3]
    if raw[:2] != b"\0\0" or type_code not in _IDX_DTYPES:
        raise ValueError(f"minicnn: {what}: {path}: not an IDX file (magic number {magic})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"minicnn: {what}: {path}: truncated header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) - header != expected:
        found = len(raw) - header if len(raw) - header <= expected else "more"
        raise ValueError(f"minicnn: {what}: {path}: expected {expected} bytes of data for shape "
                         f"{shape}, found {found} (truncated or corrupt file)")
    array = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))              # native byte order, own copy


def _find_file(name, folders, what):
    """The first existing ``folder/name`` or ``folder/name.gz``."""
    for folder in folders:
        for candidate in (name, name + ".gz"):
            path = os.path.join(folder, candidate)
            if os.path.isfile(path):
                return path
    raise FileNotFoundError(f"minicnn: {what}: cannot find {name}[.gz] in {folders}; "
                            "pass download=True to fetch the official files, or put them there")


class MNIST(ArrayImageDataset):
    """MNIST from its four IDX files (optionally gzipped) in ``root`` or
    ``root/MNIST/raw`` (torchvision's layout).  Images (28, 28) uint8.
    ``download=True`` fetches the missing files into ``root/MNIST/raw`` first."""

    folder = "MNIST"
    classes_names = [str(d) for d in range(10)]
    files = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
    # torchvision's sources, tried in order, and each file's MD5
    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/",
               "http://yann.lecun.com/exdb/mnist/"]
    resources = [("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
                 ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
                 ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
                 ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c")]

    def __init__(self, root, train=True, transform=ToTensor(), target_transform=None,
                 download=False):
        name = type(self).__name__
        root = os.fspath(root)
        if download:
            self.download(root)
        folders = [root, os.path.join(root, self.folder, "raw"), os.path.join(root, self.folder)]
        image_name, label_name = self.files[bool(train)]
        image_path = _find_file(image_name, folders, name)
        label_path = _find_file(label_name, folders, name)
        images = read_idx(image_path, expected_magic=2051, what=name)
        labels = read_idx(label_path, expected_magic=2049, what=name)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"minicnn: {name}: {image_path} holds images of shape {images.shape} "
                             f"but {label_path} holds labels of shape {labels.shape}; expected "
                             "(N, H, W) and (N,)")
        if labels.size and labels.max() >= len(self.classes_names):
            raise ValueError(f"minicnn: {name}: {label_path}: label {labels.max()} out of range "
                             f"0..{len(self.classes_names) - 1}")
        self.train = bool(train)
        super().__init__(images, labels, self.classes_names, transform, target_transform)


    @classmethod
    def download(cls, root, progress=True):
        """Fetch the files missing from ``root/<folder>/raw``: a file there whose MD5 is not
        the official one (a download cut short, a damaged copy) is fetched again; files
        torchvision already unpacked there (no ``.gz``) are kept."""
        raw = os.path.join(os.fspath(root), cls.folder, "raw")
        for name, md5 in cls.resources:
            path = os.path.join(raw, name)
            if os.path.isfile(path) and file_digest(path, "md5") == md5:
                continue
            if not os.path.exists(path) and os.path.isfile(path[:-len(".gz")]):
                continue
            download_first([mirror + name for mirror in cls.mirrors], path, md5=md5,
                           progress=progress)


class FashionMNIST(MNIST):
    """Fashion-MNIST: same files and format as MNIST, in ``root`` or ``root/FashionMNIST/raw``."""

    folder = "FashionMNIST"
    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                 ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
                 ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
                 ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310")]
    classes_names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                     "Sneaker", "Bag", "Ankle boot"]


# ----- CIFAR (python pickles, read safely) ---------------------------------------------
class _DTypeRecipe:
    """Stand-in for ``numpy.dtype(...)`` inside a pickle: only plain numeric types."""

    def __init__(self, typestr, align=False, copy=False):
        if isinstance(typestr, bytes):
            typestr = typestr.decode("ascii")
        dtype = np.dtype(typestr) if isinstance(typestr, str) else None
        if dtype is None or dtype.kind not in "biufc":
            raise UnsafePickleError(f"minicnn: refusing array dtype {typestr!r} in a pickle: "
                                    "only numeric arrays are allowed")
        self.dtype = dtype

    def __setstate__(self, state):
        # (version, byteorder, subarray, names, fields, elsize, alignment, flags)
        byteorder = state[1].decode() if isinstance(state[1], bytes) else state[1]
        if any(x is not None for x in state[2:5]):
            raise UnsafePickleError("minicnn: refusing a structured dtype in a pickle")
        if byteorder in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(byteorder)


class _ArrayRecipe:
    """Stand-in for ``numpy.core.multiarray._reconstruct``: collects the array's
    (shape, dtype, bytes) from BUILD; ``_finish`` turns it into an ndarray."""

    def __setstate__(self, state):
        if len(state) == 5:
            state = state[1:]                       # drop the format version
        shape, dtype, is_fortran, raw = state
        if not isinstance(dtype, _DTypeRecipe) or not isinstance(raw, bytes):
            raise UnsafePickleError("minicnn: refusing an array in a pickle whose data is not "
                                    "raw bytes of a numeric dtype")
        count = int(np.prod(shape, dtype=np.int64))
        if len(raw) != count * dtype.dtype.itemsize:
            raise UnsafePickleError(f"minicnn: array of shape {tuple(shape)} and dtype "
                                    f"{dtype.dtype} with {len(raw)} bytes of data")
        array = np.frombuffer(raw, dtype=dtype.dtype).reshape(shape, order="F" if is_fortran
                                                               else "C")
        self.array = array.astype(dtype.dtype.newbyteorder("="))


def _reconstruct(subtype, shape, dtype_code):
    if subtype is not _NDARRAY:
        raise UnsafePickleError("minicnn: refusing to rebuild an ndarray subclass from a pickle")
    return _ArrayRecipe()


_NDARRAY = object()      # what the name numpy.ndarray resolves to
_ARRAY_PICKLE_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _DTypeRecipe,
    ("_codecs", "encode"): codecs_encode,
}


def _finish(obj):
    """Replace the recipes in an unpickled tree by the arrays they describe."""
    if isinstance(obj, _ArrayRecipe):
        if not hasattr(obj, "array"):
            raise UnsafePickleError("minicnn: an array in the pickle has no data")
        return obj.array
    if isinstance(obj, dict):
        return {k: _finish(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_finish(v) for v in obj)
    return obj


def load_array_pickle(raw, filename, what):
    """Unpickle a dict of lists/bytes/numeric arrays (a CIFAR batch) without running code."""
    unpickler = RestrictedUnpickler(io.BytesIO(raw), _ARRAY_PICKLE_ALLOWED, filename=filename,
                                    what=f"{what} files hold only arrays, lists and strings",
                                    encoding="bytes")
    try:
        obj = unpickler.load()
    except UnsafePickleError:
        raise
    except Exception as e:
        raise ValueError(f"minicnn: {what}: {filename}: not a valid pickle "
                         f"({type(e).__name__}: {e})") from e
    return _finish(obj)


OFFICIAL_CIFAR_FILE = 155_000_000      # bytes: CIFAR-100's "train", the largest file
MAX_CIFAR_FILE = 2 * OFFICIAL_CIFAR_FILE


class CIFAR10(ArrayImageDataset):
    """CIFAR-10 (32x32 RGB, 10 classes) from the official "python version".

    ``root`` may contain the extracted folder ``cifar-10-batches-py`` (or be it),
    or the archive ``cifar-10-python.tar.gz`` (read without extracting).
    Images (32, 32, 3) uint8.  ``download=True`` fetches and extracts the archive into
    ``root`` first, unless the folder is already complete.
    """

    base_folder = "cifar-10-batches-py"
    archive = "cifar-10-python.tar.gz"
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"        # torchvision's
    archive_md5 = "c58f30108f718f92721af3b95e74349a"
    train_files = [f"data_batch_{i}" for i in range(1, 6)]
    test_files = ["test_batch"]
    meta_file, label_key, names_key = "batches.meta", b"labels", b"label_names"
    default_classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                       "ship", "truck"]

    def __init__(self, root, train=True, transform=ToTensor(), target_transform=None,
                 download=False):
        self.train = bool(train)
        if download:
            self.download(os.fspath(root))
        read, close = self._reader(os.fspath(root))
        try:
            images, labels = [], []
            for name in (self.train_files if train else self.test_files):
                path, batch = read(name)
                data = self._field(batch, b"data", path)
                batch_labels = self._field(batch, self.label_key, path)
                if not (isinstance(data, np.ndarray) and data.dtype == np.uint8
                        and data.ndim == 2 and data.shape[1] == 3 * 32 * 32):
                    raise ValueError(f"minicnn: {type(self).__name__}: {path}: b'data' should be "
                                     f"a uint8 array (N, 3072), got "
                                     f"{getattr(data, 'shape', type(data).__name__)}")
                if len(batch_labels) != len(data):
                    raise ValueError(f"minicnn: {type(self).__name__}: {path}: {len(data)} "
                                     f"images but {len(batch_labels)} labels")
                # Each row is 1024 red, then 1024 green, then 1024 blue values, row-major.
                images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
                labels.append(np.asarray(batch_labels, dtype=np.int64))
            classes = self.default_classes
            try:
                _, meta = read(self.meta_file)
                classes = [n.decode() if isinstance(n, bytes) else str(n)
                           for n in meta[self.names_key]]
            except (FileNotFoundError, KeyError, TypeError):
                pass                                   # the class names are optional
        finally:
            close()
        targets = np.concatenate(labels)
        if targets.size and not 0 <= targets.min() <= targets.max() < len(classes):
            raise ValueError(f"minicnn: {type(self).__name__}: labels out of range "
                             f"0..{len(classes) - 1}")
        super().__init__(np.ascontiguousarray(np.concatenate(images)), targets, classes,
                         transform, target_transform)

    @classmethod
    def download(cls, root, progress=True):
        """Make ``root/<base_folder>`` complete: nothing to do when all its files are there;
        else the archive, fetched (again, when its MD5 is not the official one: cut short
        or damaged) and extracted, every member checked (``extract_tar``)."""
        root = os.fspath(root)
        names = cls.train_files + cls.test_files + [cls.meta_file]
        if all(os.path.isfile(os.path.join(root, cls.base_folder, n)) for n in names):
            return
        archive = os.path.join(root, cls.archive)
        if not (os.path.isfile(archive) and file_digest(archive, "md5") == cls.archive_md5):
            download(cls.url, archive, md5=cls.archive_md5, progress=progress)
        # Extracted beside the target, then moved into place in one step: a reader (another
        # process of an mpiexec job) never sees half a folder, nor does an interrupted run
        # leave one.
        staging = tempfile.mkdtemp(dir=root, prefix=f".{cls.base_folder}.")
        try:
            extract_tar(archive, staging)
            fresh = os.path.join(staging, cls.base_folder)
            if not os.path.isdir(fresh):
                raise ValueError(f"minicnn: {cls.__name__}: {archive} has no "
                                 f"{cls.base_folder}/ folder (not the official archive)")
            target = os.path.join(root, cls.base_folder)
            if os.path.exists(target):             # an incomplete folder: set aside first
                try:
                    os.rename(target, os.path.join(staging, "old"))
                except OSError:
                    pass                           # (another process moved it)
            try:
                os.rename(fresh, target)
            except OSError:                        # another process put its copy there first
                if not os.path.isdir(target):
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _field(self, batch, key, path):
        if not isinstance(batch, dict) or key not in batch:
            keys = list(batch)[:6] if isinstance(batch, dict) else type(batch).__name__
            raise ValueError(f"minicnn: {type(self).__name__}: {path}: expected a dict with key "
                             f"{key!r}, found {keys}")
        return batch[key]

    def _reader(self, root):
        """``(read, close)``: ``read(name) -> (path, unpickled dict)`` from the folder or
        from the .tar.gz (read in memory: nothing is extracted to disk)."""
        what = type(self).__name__
        for folder in (os.path.join(root, self.base_folder), root):
            if os.path.isfile(os.path.join(folder, self.test_files[0])):
                def read(name, folder=folder):
                    path = os.path.join(folder, name)
                    if not os.path.isfile(path):
                        raise FileNotFoundError(f"minicnn: {what}: missing {path}")
                    with open(path, "rb") as f:
                        return path, load_array_pickle(f.read(), path, what)
                return read, lambda: None
        archive = os.path.join(root, self.archive)
        if not os.path.isfile(archive):
            raise FileNotFoundError(f"minicnn: {what}: found neither {self.base_folder}/ nor "
                                    f"{self.archive} in {root}; pass download=True to fetch "
                                    "them, or put the official python-version files there")
        try:
            tar = tarfile.open(archive, "r:gz")
        except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
            raise ValueError(f"minicnn: {what}: {archive}: not a readable .tar.gz ({e})") from e

        def read(name):
            member = f"{self.base_folder}/{name}"
            try:
                info = tar.getmember(member)
                if info.size > MAX_CIFAR_FILE:         # a tar bomb: refused before reading
                    raise ValueError(f"minicnn: {what}: {archive}: {member} claims "
                                     f"{info.size} bytes; the official files are at most "
                                     f"{OFFICIAL_CIFAR_FILE} (damaged or not CIFAR)")
                raw = tar.extractfile(info).read()
            except (KeyError, AttributeError):
                raise FileNotFoundError(f"minicnn: {what}: {archive} has no {member}") from None
            except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
                # cut short (EOFError), damaged compressed data, a bad header
                raise ValueError(f"minicnn: {what}: {archive} is damaged ({type(e).__name__}: "
                                 f"{e})") from e
            return f"{archive}:{member}", load_array_pickle(raw, f"{archive}:{member}", what)
        return read, tar.close


class CIFAR100(CIFAR10):
    """CIFAR-100 (``cifar-100-python``): ``label="fine"`` (100 classes) or ``"coarse"`` (20)."""

    base_folder = "cifar-100-python"
    archive = "cifar-100-python.tar.gz"
    url = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
    archive_md5 = "eb9058c3a382ffc7106e4002c42a8d85"
    train_files, test_files, meta_file = ["train"], ["test"], "meta"

    def __init__(self, root, train=True, transform=ToTensor(), target_transform=None,
                 label="fine", download=False):
        if label not in ("fine", "coarse"):
            raise ValueError(f"minicnn: CIFAR100: label must be 'fine' or 'coarse', got {label!r}")
        self.label_key = f"{label}_labels".encode()
        self.names_key = f"{label}_label_names".encode()
        self.default_classes = [str(i) for i in range(100 if label == "fine" else 20)]
        super().__init__(root, train, transform, target_transform, download)


# ----- a folder per class ----------------------------------------------------------------
IMG_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".gif", ".tif", ".tiff",
                  ".webp", ".npy")


def load_image(path):
    """An image file as a NumPy array: ``.npy`` directly, other formats through
    Pillow (converted to RGB ``(H, W, 3)`` uint8, as torchvision's loader does)."""
    if path.lower().endswith(".npy"):
        try:
            img = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise FileNotFoundError(f"minicnn: no such image file {path}") from None
        except MemoryError:
            raise MemoryError(f"minicnn: the image {path} does not fit in memory") from None
        except Exception as e:        # a damaged header parses as damaged Python (SyntaxError)
            raise ValueError(f"minicnn: cannot read the image {path} ({type(e).__name__}: "
                             f"{' '.join(str(e).split())})") from e
        if img.ndim not in (2, 3):
            raise ValueError(f"minicnn: {path}: expected an (H, W) or (H, W, C) image, got "
                             f"shape {img.shape}")
        return img
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(f"minicnn: reading {path} needs Pillow (pip install pillow); or store "
                          "the images as .npy arrays") from None
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))      # (decodes the whole file)
    except FileNotFoundError:
        raise FileNotFoundError(f"minicnn: no such image file {path}") from None
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
        # damaged (cut short, not an image) or a decompression bomb (an image too large to
        # decode: Pillow's limit Image.MAX_IMAGE_PIXELS)
        raise ValueError(f"minicnn: cannot read the image {path} ({type(e).__name__}: "
                         f"{' '.join(str(e).split())})") from e
    except MemoryError:
        raise MemoryError(f"minicnn: the image {path} does not fit in memory once "
                          "decoded") from None


def _hidden(name):
    """Hidden files and folders (``.ipynb_checkpoints``, ``.DS_Store``, macOS ``._x.png``)
    are not images nor classes."""
    return name.startswith(".")


class ImageFolder(Dataset):
    """Images in ``root/<class name>/**/<file>``; classes are the sorted folder names.

    ``samples`` lists ``(path, class_index)`` in sorted order; ``class_to_idx``
    maps names to labels.  Files are read when indexed, so large sets fit.
    Hidden folders and files (names starting with ".", e.g. Jupyter's
    ``.ipynb_checkpoints``) are skipped; a class folder holding no image file is
    refused, naming it (it would shift every later class's label).
    """

    def __init__(self, root, transform=ToTensor(), target_transform=None,
                 extensions=IMG_EXTENSIONS, loader=load_image):
        root = os.fspath(root)
        if not os.path.isdir(root):
            raise FileNotFoundError(f"minicnn: ImageFolder: no such folder {root}")
        self.root = root
        self.classes = sorted(e.name for e in os.scandir(root)
                              if e.is_dir() and not _hidden(e.name))
        if not self.classes:
            raise FileNotFoundError(f"minicnn: ImageFolder: no class folders in {root}; expected "
                                    "root/<class name>/<image file>")
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        extensions = tuple(e.lower() for e in extensions)
        self.samples = []
        empty = []
        for name in self.classes:
            found = len(self.samples)
            walked = []
            for folder, subfolders, files in os.walk(os.path.join(root, name)):
                subfolders[:] = [d for d in subfolders if not _hidden(d)]   # not walked
                walked.append((folder, files))
            for folder, files in sorted(walked):
                for file in sorted(files):
                    if file.lower().endswith(extensions) and not _hidden(file):
                        self.samples.append((os.path.join(folder, file), self.class_to_idx[name]))
            if len(self.samples) == found:
                empty.append(name)
        if not self.samples:
            raise FileNotFoundError(f"minicnn: ImageFolder: no files ending in {extensions} "
                                    f"under {root}")
        if empty:
            raise FileNotFoundError(
                f"minicnn: ImageFolder: class folder{'s' if len(empty) > 1 else ''} "
                f"{', '.join(empty)} in {root} hold{'' if len(empty) > 1 else 's'} no file ending "
                f"in {extensions}; expected at least one image per class (remove the folder or "
                "add its images)")
        self.targets = [t for _, t in self.samples]
        self.transform, self.target_transform, self.loader = transform, target_transform, loader

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, target = self.samples[index]
        img = self.loader(path)
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target
