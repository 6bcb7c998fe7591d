"""A small HTTP server on 127.0.0.1 for the download tests: no test reaches the internet.

``local_server`` (a pytest fixture) starts it in a thread and points minicnn at it through
the one setting the download code has, ``MINICNN_DOWNLOAD_MIRROR`` (so the code under
test is the code users run, with only the host changed); ``TORCH_HOME`` goes to a
temporary folder.  Any connection to another address fails the test.  Each path can be
served whole, cut after some bytes (the connection closed half-way), slowly (against a
timeout), as a redirect, or not at all (404, the default).
"""
import http.server
import socket
import threading

import pytest

from minicnn.io import download


class LocalServer:
    def __init__(self, server):
        self.server = server
        self.routes = {}          # path -> (kind, body, extra)
        self.requests = []        # the paths asked for, in order
        self.release = threading.Event()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def serve(self, path, body):
        self.routes[path] = ("ok", body, None)

    def cut(self, path, body, after):
        """Announce all of ``body`` but close the connection after ``after`` bytes."""
        self.routes[path] = ("cut", body, after)

    def slow(self, path, body):
        """Send the headers, then nothing until the test ends."""
        self.routes[path] = ("slow", body, None)

    def redirect(self, path, to):
        self.routes[path] = ("redirect", b"", to)


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):          # quiet
        pass

    def do_GET(self):
        state = self.server.state
        state.requests.append(self.path)
        kind, body, extra = state.routes.get(self.path, ("404", b"", None))
        if kind == "404":
            self.send_error(404, "Not Found")
            return
        if kind == "redirect":
            self.send_response(302)
            self.send_header("Location", extra)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            if kind == "ok":
                self.wfile.write(body)
            elif kind == "cut":
                self.wfile.write(body[:extra])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            elif kind == "slow":
                state.release.wait(10)
                self.wfile.write(body)
        except OSError:                     # the client gave up first
            pass


@pytest.fixture
def local_server(monkeypatch, tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.state = LocalServer(server)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()

    real_create_connection = socket.create_connection

    def only_local(address, *args, **kwargs):
        if address[0] not in ("127.0.0.1", "localhost"):
            raise RuntimeError(f"a test tried to reach {address}: tests stay on 127.0.0.1")
        return real_create_connection(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", only_local)
    for proxy in ("http_proxy", "https_proxy", "all_proxy"):    # (urllib would use them)
        monkeypatch.delenv(proxy, raising=False)
        monkeypatch.delenv(proxy.upper(), raising=False)
    monkeypatch.setenv(download.MIRROR_VARIABLE, server.state.url)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    try:
        yield server.state
    finally:
        server.state.release.set()
        server.shutdown()
        server.server_close()


def serve_torchvision_weights(server, monkeypatch, model="squeezenet1_1", names=None):
    """torchvision's ``model`` (random weights, seed 0) saved as a .pth and served by
    ``server``; minicnn's table entries ``names`` (default: what "DEFAULT" and
    ``pretrained=True`` mean) point at it under a name carrying its SHA-256 (the real
    file's hash cannot be produced).  Returns (torch model, file name)."""
    import hashlib
    import io

    import torch
    import torchvision.models as tvm
    from minicnn.models.weights_table import WEIGHTS

    torch.manual_seed(0)
    reference = getattr(tvm, model)().eval()
    buf = io.BytesIO()
    torch.save(reference.state_dict(), buf)
    body = buf.getvalue()
    file = f"{model}-{hashlib.sha256(body).hexdigest()[:8]}.pth"
    server.serve(f"/models/{file}", body)
    for name in names or {WEIGHTS[model]["default"], WEIGHTS[model]["pretrained"]}:
        entry = WEIGHTS[model]["files"][name]
        monkeypatch.setitem(entry, "url", f"https://download.pytorch.org/models/{file}")
    return reference, file
