"""A real HTTP server for conda channels on disk, with request counters and failure injection.

``ChannelServer(root)`` serves the files under ``root`` on ``127.0.0.1`` (ephemeral port) from a background
thread. Responses carry ``ETag`` (sha256 of the body), ``Cache-Control: public, max-age=0`` and
``Content-Length``; ``If-None-Match`` gets ``304``. rattler's repodata cache revalidates with ``ETag``
(sharded repodata fails against servers that send only ``Last-Modified``), so no ``Last-Modified`` is sent.

Failure switches, keyed by URL path (``/demo/noarch/repodata.json``) or an ``fnmatch`` pattern (``*.conda``);
all may be changed while the server runs:

- ``fail_paths[path] = 500``: answer with that status (``fail_times[path] = n``: only the next n hits);
- ``truncate_paths.add(path)``: announce a ``Content-Length`` larger than the body, send the body, close;
- ``drop_after_bytes[path] = n``: announce the full length, send n bytes, close the connection;
- ``hang_up_paths.add(path)``: read the request and close the connection without answering (recorded
  with status 0);
- ``delay_paths[path] = seconds``: sleep before answering;
- ``drip_paths[path] = (nbytes, seconds)``: send the body ``nbytes`` at a time, sleeping between pieces
  (a server that keeps a connection alive without ever finishing).
"""

from __future__ import annotations

import contextlib
import email.utils
import fnmatch
import hashlib
import socket
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["ChannelServer", "RequestRecord"]


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    status: int
    headers: dict[str, str]


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, owner: ChannelServer) -> None:
        self.owner = owner
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        with self._open_lock:
            self._open.add(sock)
        return sock, addr

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def abort_open_connections(self) -> None:
        """Unblock handler threads parked on idle keep-alive connections."""
        with self._open_lock:
            socks = list(self._open)
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real channel host
    server_version = "cenv-test-channel/1"
    sys_version = ""
    timeout = 30  # an idle keep-alive connection cannot hold a thread forever
    # TCP_NODELAY, as real channel hosts (nginx's `tcp_nodelay on`, the default for keep-alive): with Nagle's
    # algorithm the body waits behind the headers for the client's delayed ACK, ~40 ms per request on a
    # reused connection (benchmarks/RESULTS.md: cold lock over HTTP)
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _serve(self, body: bool) -> None:
        owner = self.server.owner
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        headers = {k.lower(): v for k, v in self.headers.items()}

        def record(status: int) -> None:
            owner._record(RequestRecord(self.command, path, status, headers))

        delay = owner._match(owner.delay_paths, path)
        if delay:
            with owner._lock:
                owner.held.append(path)
            time.sleep(float(delay))

        if owner._match_set(owner.hang_up_paths, path):
            record(0)
            self._hang_up()
            return

        status = owner._failure_for(path)
        if status is not None:
            record(status)
            msg = f"injected failure {status} for {path}\n".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            if body:
                self.wfile.write(msg)
            return

        file = owner._resolve(path)
        if file is None:
            record(404)
            msg = b"not found\n"
            self.send_response(HTTPStatus.NOT_FOUND)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            if body:
                self.wfile.write(msg)
            return

        data = file.read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest() + '"'
        inm = self.headers.get("If-None-Match")
        if inm is not None and (inm.strip() == "*" or etag in [t.strip() for t in inm.split(",")]):
            record(304)
            self.send_response(HTTPStatus.NOT_MODIFIED)
            self.send_header("ETag", etag)
            self.send_header("Cache-Control", "public, max-age=0")
            self.end_headers()
            return

        truncate = owner._match_set(owner.truncate_paths, path)
        drop_after = owner._match(owner.drop_after_bytes, path)
        drip = owner._match(owner.drip_paths, path)
        record(200)
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", _content_type(file.name))
        length = len(data) + (max(1024, len(data)) if truncate else 0)
        self.send_header("Content-Length", str(length))
        self.send_header("ETag", etag)
        self.send_header("Cache-Control", "public, max-age=0")
        self.send_header("Date", email.utils.formatdate(usegmt=True))
        self.end_headers()
        if not body:
            return
        if drop_after is not None:
            self.wfile.write(data[: int(drop_after)])
            self._hang_up()
            return
        if drip is not None:
            piece, pause = drip
            for start in range(0, len(data), int(piece)):
                if owner._stopping.is_set():
                    break
                try:
                    self.wfile.write(data[start : start + int(piece)])
                    self.wfile.flush()
                except OSError:  # the client gave up
                    self.close_connection = True
                    return
                owner._stopping.wait(float(pause))
            self._hang_up()
            return
        self.wfile.write(data)
        if truncate:
            self._hang_up()

    def _hang_up(self) -> None:
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True


def _content_type(name: str) -> str:
    if name.endswith(".json"):
        return "application/json"
    if name.endswith(".zst"):
        return "application/zstd"
    if name.endswith(".bz2"):
        return "application/x-bzip2"
    return "application/octet-stream"


class ChannelServer:
    """Serve ``root`` over HTTP on 127.0.0.1 from a background thread; use as a context manager.

    >>> with ChannelServer(tmp_path) as srv:            # doctest: +SKIP
    ...     url = srv.url + "/demo"                      # channel at tmp_path/demo
    ...     srv.hits["/demo/noarch/repodata.json"]
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.fail_paths: dict[str, int] = {}
        self.fail_times: dict[str, int] = {}
        self.truncate_paths: set[str] = set()
        self.drop_after_bytes: dict[str, int] = {}
        self.hang_up_paths: set[str] = set()
        self.delay_paths: dict[str, float] = {}
        #: paths of delayed requests, recorded when they arrive (`log` records a request once answered)
        self.held: list[str] = []
        self.drip_paths: dict[str, tuple[int, float]] = {}
        self._stopping = threading.Event()
        #: every request in order
        self.log: list[RequestRecord] = []
        #: paths requested, in order (GET and HEAD)
        self.requests: list[str] = []
        #: number of requests per path
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> ChannelServer:
        if self._server is not None:
            raise RuntimeError("server already running")
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="cenv-channel-server"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()  # dripping handlers stop at once
        server.shutdown()  # stop accepting
        thread.join()
        server.abort_open_connections()
        server.server_close()  # joins handler threads (block_on_close)
        self._server = self._thread = None

    def __enter__(self) -> ChannelServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    def channel_url(self, name: str) -> str:
        return f"{self.url}/{name.strip('/')}"

    def reset_counters(self) -> None:
        with self._lock:
            self.log.clear()
            self.requests.clear()
            self.hits.clear()

    def count(self, pattern: str, method: str | None = None) -> int:
        """Number of requests whose path matches ``pattern`` (exact or fnmatch)."""
        with self._lock:
            return sum(
                1
                for r in self.log
                if (method is None or r.method == method)
                and (r.path == pattern or fnmatch.fnmatch(r.path, pattern))
            )

    # ------------------------------------------------------------------ internals
    def _record(self, rec: RequestRecord) -> None:
        with self._lock:
            self.log.append(rec)
            self.requests.append(rec.path)
            self.hits[rec.path] += 1

    @staticmethod
    def _keys_matching(keys: list[str], path: str) -> list[str]:
        """Keys that match ``path``: exact ones first, then fnmatch patterns."""
        norm = [(k, "/" + k.lstrip("/")) for k in keys]
        exact = [k for k, n in norm if n == path]
        return exact + [k for k, n in norm if n != path and fnmatch.fnmatch(path, n)]

    def _match(self, table: dict[str, Any], path: str) -> Any:
        with self._lock:
            keys = self._keys_matching(list(table), path)
            return table[keys[0]] if keys else None

    def _match_set(self, table: set[str], path: str) -> bool:
        with self._lock:
            return bool(self._keys_matching(list(table), path))

    def _failure_for(self, path: str) -> int | None:
        with self._lock:
            for key in self._keys_matching(list(self.fail_paths), path):
                if key in self.fail_times:
                    if self.fail_times[key] <= 0:
                        continue  # used up: fall through to the next matching switch
                    self.fail_times[key] -= 1
                return int(self.fail_paths[key])
            return None

    def _resolve(self, path: str) -> Path | None:
        rel = path.lstrip("/")
        if any(part in ("..", "") for part in rel.split("/")) and rel != "":
            return None
        target = (self.root / rel).resolve()
        if not target.is_relative_to(self.root) or not target.is_file():
            return None
        return target
