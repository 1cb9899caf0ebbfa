"""The layers teams put between cenv and a channel, as real servers on 127.0.0.1.

- ``AuthChannelServer``: a ChannelServer that answers 401 unless a request carries the right credentials:
  HTTP Basic (``user:password``), a bearer token, or anaconda.org's ``/t/<token>/`` path prefix;
- ``tls=`` (a ``trustme.CA``): the same server over HTTPS with a certificate for ``127.0.0.1`` and
  ``localhost`` signed by a private CA;
- ``ConnectProxy``: a forward proxy (``CONNECT host:port`` tunnels and absolute-URI plain HTTP) that records
  every target it was asked for, so a test can prove the traffic went through it;
- ``AuthIndexServer``: a PEP 503 index (a ``WheelIndex`` root) behind the same authorization.
"""

from __future__ import annotations

import base64
import contextlib
import select
import socket
import socketserver
import ssl
import threading
import urllib.parse
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.support.http_server import ChannelServer, _Handler
from tests.support.wheel_factory import _IndexHandler

__all__ = ["AuthChannelServer", "AuthIndexServer", "ConnectProxy"]


class _AuthHandler(_Handler):
    def _serve(self, body: bool) -> None:
        owner: AuthChannelServer = self.server.owner  # type: ignore[assignment]
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        if not owner.authorized(path, self.headers.get("Authorization")):
            owner.denied.append(path)
            msg = b"unauthorized\n"
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="channel"')
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            if body:
                self.wfile.write(msg)
            return
        super()._serve(body)


class AuthChannelServer(ChannelServer):
    """Serve ``root``; every request must be authorized (``basic`` user:password, ``token`` in the
    ``/t/<token>/`` path or as a bearer token). With ``tls`` (a ``trustme.CA``) it speaks HTTPS."""

    def __init__(
        self,
        root: Path,
        basic: tuple[str, str] | None = None,
        token: str | None = None,
        tls: Any = None,
    ) -> None:
        super().__init__(root)
        self.basic = basic
        self.token = token
        self.tls = tls
        self.denied: list[str] = []

    def authorized(self, path: str, header: str | None) -> bool:
        if self.basic is None and self.token is None:
            return True
        if self.token is not None and (
            path.startswith(f"/t/{self.token}/") or header == f"Bearer {self.token}"
        ):
            return True
        if self.basic is not None and header and header.startswith("Basic "):
            expected = base64.b64encode(":".join(self.basic).encode()).decode()
            return header.removeprefix("Basic ").strip() == expected
        return False

    def _resolve(self, path: str) -> Path | None:
        if self.token is not None and path.startswith("/t/"):
            _, _, token, rest = path.split("/", 3)
            if token != self.token:
                return None
            path = "/" + rest
        return super()._resolve(path)

    def start(self) -> AuthChannelServer:
        super().start()
        assert self._server is not None
        self._server.RequestHandlerClass = _AuthHandler
        if self.tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.tls.issue_cert("127.0.0.1", "localhost").configure_cert(context)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        return self

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"


class _AuthIndexHandler(_AuthHandler, _IndexHandler):
    pass


class AuthIndexServer(AuthChannelServer):
    """A PEP 503 index (``WheelIndex.root``) that answers 401 unless a request is authorized as in
    :class:`AuthChannelServer`; a directory URL gets its ``index.html`` as ``text/html``."""

    def start(self) -> AuthIndexServer:
        super().start()
        assert self._server is not None
        self._server.RequestHandlerClass = _AuthIndexHandler
        return self

    def _resolve(self, path: str) -> Path | None:
        return super()._resolve(path + "index.html" if path.endswith("/") else path)


class _ProxyHandler(socketserver.BaseRequestHandler):
    server: _ProxyServer

    def handle(self) -> None:
        conn: socket.socket = self.request
        conn.settimeout(30)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(65536)
            if not chunk:
                return
            head += chunk
        header, _, rest = head.partition(b"\r\n\r\n")
        request_line = header.split(b"\r\n", 1)[0].decode("latin-1")
        method, target, _version = request_line.split(" ", 2)
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            self.server.owner.seen.append(target)
            try:
                upstream = socket.create_connection((host, int(port)), timeout=30)
            except OSError:
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rest:
                upstream.sendall(rest)
        else:  # plain HTTP through the proxy: an absolute URI
            parts = urllib.parse.urlsplit(target)
            self.server.owner.seen.append(f"{parts.hostname}:{parts.port or 80}")
            upstream = socket.create_connection((parts.hostname or "", parts.port or 80), timeout=30)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            lines = header.split(b"\r\n")
            lines[0] = f"{method} {path} HTTP/1.1".encode()
            kept = [line for line in lines if not line.lower().startswith(b"proxy-connection:")]
            kept.append(b"Connection: close")
            upstream.sendall(b"\r\n".join(kept) + b"\r\n\r\n" + rest)
        self._pipe(conn, upstream)

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        with contextlib.closing(b):
            sockets = [a, b]
            while True:
                readable, _, errored = select.select(sockets, [], sockets, 30)
                if errored or not readable:
                    return
                for sock in readable:
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    (b if sock is a else a).sendall(data)


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, owner: ConnectProxy) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _ProxyHandler)


class ConnectProxy:
    """A forward proxy on 127.0.0.1; ``seen`` lists the ``host:port`` of every tunnel or request."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._server: _ProxyServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ConnectProxy:
        self._server = _ProxyServer(self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"
