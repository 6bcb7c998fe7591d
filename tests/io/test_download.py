"""minicnn.io.download against a local HTTP server (tests/local_server.py): verified
downloads into torch.hub's cache, every failure leaving nothing behind, safe extraction."""
import hashlib
import io
import os
import socket
import tarfile

import pytest

from minicnn.io import download as D
from tests.local_server import local_server  # noqa: F401  (the fixture)

BODY = os.urandom(300_000)
SHA = hashlib.sha256(BODY).hexdigest()
NAME = f"tinynet-{SHA[:8]}.pth"                 # a weights file name as torchvision's
URL = f"https://download.pytorch.org/models/{NAME}"


def leftovers(folder):
    """Every file in ``folder`` (temporary ones included)."""
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_cache_folder_is_torch_hubs(monkeypatch, tmp_path):
    torch_hub = pytest.importorskip("torch.hub")
    for env in ({"TORCH_HOME": str(tmp_path / "th")}, {"XDG_CACHE_HOME": str(tmp_path / "x")},
                {}):
        for var in ("TORCH_HOME", "XDG_CACHE_HOME"):
            monkeypatch.delenv(var, raising=False)
        for var, value in env.items():
            monkeypatch.setenv(var, value)
        assert D.checkpoints_dir() == os.path.join(torch_hub.get_dir(), "checkpoints")


def test_hash_prefix_as_torch_hub():
    torch_hub = pytest.importorskip("torch.hub")
    for name in ("resnet50-0676ba61.pth", "vgg16_features-amdegroot-88682ab5.pth",
                 "inception_v3_google-0cc3c7bd.pth", "alexnet-owt-7be5be79.pth"):
        assert D.hash_prefix(name) == torch_hub.HASH_REGEX.search(name).group(1)
    assert D.hash_prefix("plain.pth") is None


def test_download_verified_into_torch_cache_then_offline(local_server):
    local_server.serve(f"/models/{NAME}", BODY)
    path = D.cached_weights(URL, progress=False)
    assert path == os.path.join(D.checkpoints_dir(), NAME)
    assert open(path, "rb").read() == BODY
    assert leftovers(D.checkpoints_dir()) == [NAME]          # no temporary file left
    asked = len(local_server.requests)
    local_server.routes.clear()                               # the server forgets the file
    assert D.cached_weights(URL, progress=False) == path      # the cache needs no network
    assert len(local_server.requests) == asked


def test_torch_hub_reads_our_file(local_server):
    torch_hub = pytest.importorskip("torch.hub")
    torch = pytest.importorskip("torch")
    buf = io.BytesIO()
    torch.save({"w": torch.arange(3.0)}, buf)
    body = buf.getvalue()
    name = f"tiny-{hashlib.sha256(body).hexdigest()[:10]}.pth"
    local_server.serve(f"/models/{name}", body)
    D.cached_weights(f"https://download.pytorch.org/models/{name}", progress=False)
    # torch.hub finds it in its cache: it would fail to reach download.pytorch.org otherwise
    state = torch_hub.load_state_dict_from_url(f"https://download.pytorch.org/models/{name}",
                                               check_hash=True)
    assert state["w"].tolist() == [0.0, 1.0, 2.0]


def test_wrong_hash_leaves_nothing(local_server):
    wrong = bytearray(BODY)
    wrong[1000] ^= 1
    local_server.serve(f"/models/{NAME}", bytes(wrong))
    with pytest.raises(D.DownloadError) as e:
        D.cached_weights(URL, progress=False)
    message = str(e.value)
    assert f"{local_server.url}/models/{NAME}" in message
    assert SHA[:8] in message and hashlib.sha256(wrong).hexdigest() in message
    assert os.path.join(D.checkpoints_dir(), NAME) in message      # where to put it by hand
    assert leftovers(D.checkpoints_dir()) == []


def test_connection_closed_half_way_leaves_nothing(local_server):
    local_server.cut(f"/models/{NAME}", BODY, after=100_000)
    with pytest.raises(D.DownloadError, match="cannot download .*" + NAME) as e:
        D.cached_weights(URL, progress=False)
    assert os.path.join(D.checkpoints_dir(), NAME) in str(e.value)
    assert leftovers(D.checkpoints_dir()) == []


def test_redirect_is_followed(local_server):
    local_server.redirect(f"/models/{NAME}", f"{local_server.url}/elsewhere/{NAME}")
    local_server.serve(f"/elsewhere/{NAME}", BODY)
    assert open(D.cached_weights(URL, progress=False), "rb").read() == BODY
    assert local_server.requests == [f"/models/{NAME}", f"/elsewhere/{NAME}"]


def test_slow_server_times_out(local_server):
    local_server.slow(f"/models/{NAME}", BODY)
    with pytest.raises(D.DownloadError, match="timed out") as e:
        D.cached_weights(URL, progress=False, timeout=0.3)
    assert NAME in str(e.value)
    assert leftovers(D.checkpoints_dir()) == []


def test_404_names_the_url(local_server):
    with pytest.raises(D.DownloadError, match=f"HTTP 404.*{NAME}"):
        D.cached_weights(URL, progress=False)
    assert leftovers(D.checkpoints_dir()) == []


def test_no_network_says_so(local_server, monkeypatch):
    # a port where nothing listens: the connection is refused, as on a machine offline
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(D.MIRROR_VARIABLE, f"http://127.0.0.1:{port}")
    with pytest.raises(D.DownloadError, match="no network connection") as e:
        D.cached_weights(URL, progress=False)
    assert f"http://127.0.0.1:{port}/models/{NAME}" in str(e.value)
    assert os.path.join(D.checkpoints_dir(), NAME) in str(e.value)


def test_hand_placed_wrong_file_is_refused(local_server):
    os.makedirs(D.checkpoints_dir())
    with open(os.path.join(D.checkpoints_dir(), NAME), "wb") as f:
        f.write(b"not the weights")
    with pytest.raises(D.DownloadError, match=f"cached weights file .*{NAME}.*expected {SHA[:8]}"):
        D.cached_weights(URL, progress=False)
    assert local_server.requests == []


def test_md5_checked(local_server, tmp_path):
    local_server.serve("/data/a.bin", BODY)
    D.download("https://example.org/data/a.bin", tmp_path / "a.bin",
               md5=hashlib.md5(BODY).hexdigest(), progress=False)
    assert (tmp_path / "a.bin").read_bytes() == BODY
    with pytest.raises(D.DownloadError, match="MD5"):
        D.download("https://example.org/data/a.bin", tmp_path / "b.bin", md5="0" * 32,
                   progress=False)
    assert not (tmp_path / "b.bin").exists()


def test_one_line_without_terminal(local_server, tmp_path, capsys):
    local_server.serve("/data/a.bin", BODY)
    D.download("https://example.org/data/a.bin", tmp_path / "a.bin")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a.bin" in err


# ----- safe extraction ------------------------------------------------------------------
def make_tar(path, add):
    with tarfile.open(path, "w:gz") as tar:
        add(tar)
    return path


def add_file(tar, name, data=b"x", **changes):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for k, v in changes.items():
        setattr(info, k, v)
    tar.addfile(info, io.BytesIO(data) if info.isfile() else None)


@pytest.mark.parametrize("name,changes,problem", [
    ("/tmp/evil", {}, "absolute path"),
    ("data/../../evil", {}, "'..'"),
    ("data/link", {"type": tarfile.SYMTYPE, "linkname": "../../etc/passwd", "size": 0},
     "outside the folder"),
    ("data/link", {"type": tarfile.SYMTYPE, "linkname": "/etc/passwd", "size": 0},
     "outside the folder"),
    ("data/hard", {"type": tarfile.LNKTYPE, "linkname": "../outside", "size": 0}, "'..'|outside"),
    ("data/dev", {"type": tarfile.CHRTYPE, "size": 0}, "device"),
    ("data/fifo", {"type": tarfile.FIFOTYPE, "size": 0}, "device"),
])
def test_extract_refuses(tmp_path, name, changes, problem):
    archive = make_tar(tmp_path / "a.tar.gz",
                       lambda tar: (add_file(tar, "data/ok.txt"), add_file(tar, name, **changes)))
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=f"refusing to extract .*{problem}"):
        D.extract_tar(archive, out)
    assert leftovers(out) == []              # checked before anything is written
    assert not (tmp_path / "evil").exists()


def test_extract_keeps_inside_links(tmp_path):
    archive = make_tar(tmp_path / "a.tar.gz", lambda tar: (
        add_file(tar, "data/ok.txt", b"hello"),
        add_file(tar, "data/link", type=tarfile.SYMTYPE, linkname="ok.txt", size=0)))
    D.extract_tar(archive, tmp_path / "out")
    assert (tmp_path / "out" / "data" / "link").read_bytes() == b"hello"


def test_progress_bar_on_a_terminal(local_server, tmp_path, capsys, monkeypatch):
    import sys
    local_server.serve("/data/a.bin", BODY)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    D.download("https://example.org/data/a.bin", tmp_path / "a.bin")
    err = capsys.readouterr().err
    assert "a.bin" in err and "100%" in err and "downloading" not in err     # tqdm's bar
    D.download("https://example.org/data/a.bin", tmp_path / "b.bin", progress=False)
    assert capsys.readouterr().err == ""
