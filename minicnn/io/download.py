"""Downloading a file once, verified, into a cache: what pretrained weights
(``mc.models.resnet50(weights="DEFAULT")``) and datasets (``CIFAR10(root, download=True)``)
share.  docs/interop.md, "The cache", tells the user's side of it.

* ``download(url, path, sha256_prefix=..., md5=...)``: fetch ``url`` into ``path``.  The
  bytes go to a temporary file in the same folder, which is renamed to ``path`` only when
  the whole file arrived and its hash is the expected one: an interrupted, cut or corrupt
  download never leaves a file under the real name.  Any failure is one ``DownloadError``
  naming the URL, what went wrong and where to put the file by hand.
* ``cached_weights(url)``: torch.hub's cache for weight files,
  ``$TORCH_HOME/hub/checkpoints/<file name>`` (by default ``~/.cache/torch/hub/checkpoints``),
  checked as torch.hub checks it: the name's hash part (``resnet50-0676ba61.pth``: ``0676ba61``)
  is the start of the file's SHA-256.  A file PyTorch downloaded serves minicnn and the reverse.
* ``extract_tar(archive, folder)``: unpack a .tar(.gz) archive, refusing members that would
  land outside ``folder`` (absolute names, ``..``, links pointing out) and device files.

The only setting is the server: the environment variable ``MINICNN_DOWNLOAD_MIRROR``
(e.g. ``http://mirror.local:8000``) replaces the scheme and host of every URL, keeping the
path (``https://download.pytorch.org/models/x.pth`` -> ``http://mirror.local:8000/models/x.pth``):
for a mirror inside an air-gapped site, and for the tests, which serve files from 127.0.0.1.
Only urllib is used (no third-party HTTP library).
"""
import errno
import hashlib
import http.client
import os
import re
import socket
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request

from .files import atomic_path

MIRROR_VARIABLE = "MINICNN_DOWNLOAD_MIRROR"
TIMEOUT = 30.0          # seconds without a byte from the server before giving up
CHUNK = 1 << 16

# torch.hub's rule: the hash part of a weights file's name is the hex digits between the
# last "-" and the extension ("vgg16_features-amdegroot-88682ab5.pth": 88682ab5)
HASH_IN_NAME = re.compile(r"-([0-9a-f]+)\.[^.-]+$")


class DownloadError(OSError):
    """A download that failed: the message names the URL, the reason and where to put the
    file by hand.  Nothing was left under the file's name."""


# ----- where files go -------------------------------------------------------------------
def torch_home():
    """PyTorch's cache folder: ``$TORCH_HOME``, else ``$XDG_CACHE_HOME/torch``, else
    ``~/.cache/torch`` (torch.hub's rule, so that both libraries share the files)."""
    default = os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "torch")
    return os.path.expanduser(os.environ.get("TORCH_HOME", default))


def checkpoints_dir():
    """Where weight files are cached: ``torch_home()/hub/checkpoints``."""
    return os.path.join(torch_home(), "hub", "checkpoints")


def file_name(url):
    """The file name at the end of ``url`` (query and fragment dropped)."""
    return os.path.basename(urllib.parse.urlparse(url).path)


def hash_prefix(name):
    """The hex SHA-256 prefix a weights file's name carries, or None (no check)."""
    match = HASH_IN_NAME.search(name)
    return match.group(1) if match else None


def mirrored(url):
    """``url`` with its scheme and host replaced by ``$MINICNN_DOWNLOAD_MIRROR`` when set."""
    mirror = os.environ.get(MIRROR_VARIABLE, "").rstrip("/")
    if not mirror:
        return url
    return mirror + urllib.parse.urlparse(url).path


# ----- hashes ---------------------------------------------------------------------------
def file_digest(path, algorithm):
    """The hex digest (``"sha256"`` or ``"md5"``) of the file at ``path``, read in chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def hash_mismatch(path, sha256_prefix=None, md5=None):
    """None when the file has the expected hash(es), else ``(algorithm, expected, actual)``."""
    if sha256_prefix:
        actual = file_digest(path, "sha256")
        if not actual.startswith(sha256_prefix):
            return "SHA-256", sha256_prefix, actual
    if md5:
        actual = file_digest(path, "md5")
        if actual != md5:
            return "MD5", md5, actual
    return None


# ----- the download ---------------------------------------------------------------------
def _progress_bar(total, name, enabled):
    """A tqdm bar on a terminal; elsewhere (logs, CI) one line, then nothing."""
    if enabled and sys.stderr.isatty():
        from tqdm import tqdm
        return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                    file=sys.stderr)
    if enabled:
        size = f" ({total / 1e6:.1f} MB)" if total else ""
        print(f"minicnn: downloading {name}{size}", file=sys.stderr, flush=True)
    return None


def _fetch(url, out, timeout, progress, name):
    """Copy the body at ``url`` into the open file ``out``; returns (bytes received,
    bytes announced or None).  urllib follows redirects itself."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        bar = _progress_bar(total, name, progress)
        received = 0
        try:
            while True:
                block = response.read(CHUNK)
                if not block:
                    break
                out.write(block)
                received += len(block)
                if bar is not None:
                    bar.update(len(block))
        finally:
            if bar is not None:
                bar.close()
    return received, total


def _reason(error):
    """What went wrong, in words: HTTP status, timeout, no network, cut connection."""
    if isinstance(error, urllib.error.HTTPError):
        return f"the server answered HTTP {error.code} ({error.reason})"
    if isinstance(error, urllib.error.URLError):
        if not isinstance(error.reason, BaseException):
            return f"the connection failed ({error.reason})"
        error = error.reason
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "no answer from the server in time (timed out)"
    if isinstance(error, (socket.gaierror, ConnectionRefusedError)) or \
            getattr(error, "errno", None) in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return (f"no network connection ({error}): this machine is offline or cannot "
                "reach the server")
    return f"the connection broke ({type(error).__name__}: {error})"


def download(url, path, sha256_prefix=None, md5=None, timeout=None, progress=True):
    """Download ``url`` (through the mirror, if set) to ``path``, verified.

    Args:
        url: the file's official URL.
        path: where the file goes; its folder is created.
        sha256_prefix: hex digits the file's SHA-256 must start with (weights files).
        md5: the file's full MD5 (datasets, as torchvision lists them).
        timeout: seconds without data before giving up (default ``TIMEOUT``).
        progress: a progress bar on a terminal, one line otherwise; False for nothing.

    Returns ``path``.  Raises ``DownloadError`` (an OSError) naming the URL, the reason
    (HTTP status, no network, timeout, cut short, wrong hash with both hashes) and ``path``,
    where a copy fetched by hand can go; in every case nothing is left at ``path`` nor in a
    temporary file.

    Example::

        >>> download("https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth",
        ...          "/tmp/w/squeezenet1_1-b8a52dc0.pth",
        ...          sha256_prefix="b8a52dc0")                        # doctest: +SKIP
    """
    path = os.fspath(path)
    source = mirrored(url)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    name = os.path.basename(path)
    by_hand = f"download it yourself and put it at {path}"
    # atomic_path: a temporary file in the same folder, renamed to ``path`` at the end of
    # the block only; an error inside (any of the raises below) removes it
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as out:
            try:
                received, total = _fetch(source, out, TIMEOUT if timeout is None else timeout,
                                         progress, name)
            except (OSError, http.client.HTTPException, EOFError) as e:
                # (urllib's URLError and HTTPError are OSErrors; a body cut short is an
                # http.client.IncompleteRead)
                raise DownloadError(f"minicnn: cannot download {source}: {_reason(e)}; "
                                    f"{by_hand}") from e
        if total is not None and received != total:
            raise DownloadError(f"minicnn: cannot download {source}: the connection closed "
                                f"after {received} of {total} bytes; {by_hand}")
        wrong = hash_mismatch(tmp, sha256_prefix, md5)
        if wrong:
            algorithm, expected, actual = wrong
            raise DownloadError(f"minicnn: the file downloaded from {source} is not the "
                                f"expected one: {algorithm} {actual}, expected {expected}"
                                f"{'...' if algorithm == 'SHA-256' else ''} ({received} "
                                f"bytes; damaged on the way, or the server gave another "
                                f"file); nothing was saved; {by_hand}")
    return path


def cached_weights(url, progress=True, timeout=None):
    """The local path of the weights file at ``url``: from torch.hub's cache folder when
    it is there (no network needed), else downloaded into it, its SHA-256 checked against
    the hash in its name.  A cached file is checked too: one put there by hand with other
    content is an error naming both hashes (delete it, or put the right file there)."""
    name = file_name(url)
    path = os.path.join(checkpoints_dir(), name)
    expected = hash_prefix(name)
    if os.path.isfile(path):
        wrong = hash_mismatch(path, expected)
        if wrong:
            raise DownloadError(f"minicnn: the cached weights file {path} is not {url}: its "
                                f"SHA-256 is {wrong[2]}, expected {expected}...; delete it (it "
                                "is then downloaded again) or put the right file there")
        return path
    return download(url, path, sha256_prefix=expected, progress=progress, timeout=timeout)


# ----- archives -------------------------------------------------------------------------
def _inside(folder, target):
    folder = os.path.realpath(folder)
    return os.path.commonpath([folder, os.path.realpath(target)]) == folder


def check_tar_member(member, folder, archive):
    """Refuse a member that could write outside ``folder`` or make a device: an absolute
    name, a ``..`` component, a link whose target lies outside, a device or FIFO."""
    name = member.name
    problem = None
    if os.path.isabs(name) or name.startswith(("/", "\\")):
        problem = "an absolute path"
    elif ".." in re.split(r"[/\\]", name):
        problem = "a '..' component"
    elif member.isdev():
        problem = "a device file or FIFO"
    elif member.issym() or member.islnk():
        # a symlink's target is relative to the link's folder; a hard link's to the root
        base = os.path.dirname(os.path.join(folder, name)) if member.issym() else folder
        target = member.linkname
        if os.path.isabs(target) or not _inside(folder, os.path.join(base, target)):
            problem = f"a link to {target!r}, outside the folder"
    elif not (member.isfile() or member.isdir()):
        problem = "an unusual member type"
    if problem is None and not _inside(folder, os.path.join(folder, name)):
        problem = "a path outside the folder"
    if problem:
        raise ValueError(f"minicnn: refusing to extract {archive}: its member {name!r} is "
                         f"{problem}; a data archive never needs one (damaged or malicious)")


def extract_tar(archive, folder):
    """Extract the .tar/.tar.gz ``archive`` into ``folder``, every member checked first by
    ``check_tar_member`` (then extracted with tarfile's own "data" filter as well)."""
    os.makedirs(folder, exist_ok=True)
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for member in members:
            check_tar_member(member, folder, archive)
        if hasattr(tarfile, "data_filter"):
            tar.extractall(folder, members=members, filter="data")
        else:                                       # (Python without extraction filters)
            tar.extractall(folder, members=members)
    return folder


def download_first(urls, path, md5=None, sha256_prefix=None, progress=True, timeout=None):
    """Download the first of ``urls`` (a data set's mirrors, in order) that gives the right
    file; when every one fails, one ``DownloadError`` saying what each gave."""
    failures = []
    for url in urls:
        try:
            return download(url, path, sha256_prefix=sha256_prefix, md5=md5,
                            progress=progress, timeout=timeout)
        except DownloadError as e:
            failures.append(str(e).split("; download it yourself")[0].replace("minicnn: ", ""))
    raise DownloadError(f"minicnn: cannot download {os.path.basename(path)} from any of its "
                        f"{len(urls)} sources: {'; '.join(failures)}; download it yourself "
                        f"and put it at {path}")
