"""Fetch package archives into the package cache and verify their checksums before anything is linked.

rattler checks sha256 over HTTP but not for `file://` channels (ENGINE-NOTES), and never checks md5-only
locks, so cenv fetches every archive itself: streamed to a temporary file beside its final name, hashed
while streaming, compared with the lock, and only then renamed into the cache. One pass over the bytes:
a download is hashed as it streams (md5 too only when the lock has no sha256); a `file://` archive whose
lock has a sha256 is copied by the kernel (`copy_file_range`, or `sendfile` across file systems) without
passing through Python, and hashed by rattler's extractor as it reads it (extract.py compares that hash with
the lock's before the entry is placed), so its `Fetched` is `verified=False` until then.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from cenv import hashing
from cenv.deadline import Stalled, read_timeout, stalled_hint
from cenv.errors import InstallError
from cenv.hashing import Hasher
from cenv.lock.models import LockedPackage
from cenv.redact import redact

if TYPE_CHECKING:
    pass

__all__ = [
    "FetchCancelled",
    "Fetched",
    "fetch_archive",
    "hash_file",
    "local_path",
    "mismatch",
    "remote_size",
    "verify_file",
]

_CHUNK = 1 << 18
_RETRIES = 3
_TIMEOUT = 60


class FetchCancelled(Exception):
    """Raised in a download thread when the create was interrupted."""


@dataclass(frozen=True)
class Fetched:
    path: Path
    sha256: str
    md5: str
    size: int
    transferred: int  # bytes read from the source (including failed attempts)
    # False: copied without hashing (a file:// archive with a sha256 in the lock); extraction hashes it
    # and compares before anything is placed, and fills `sha256`/`md5` in (conda.py)
    verified: bool = True


def hash_file(path: Path, md5: bool = True) -> tuple[str, str, int]:
    """(sha256, md5 or "" without `md5`, size) of a file (cenv.hashing's)."""
    return hashing.hash_file(path, md5)


def mismatch(package: LockedPackage, sha256: str, md5: str) -> InstallError | None:
    """The error for an archive whose checksum is not the lock's, or None when it matches."""
    return _mismatch(package, sha256, md5)


def _mismatch(package: LockedPackage, sha256: str, md5: str) -> InstallError | None:
    expected = package.hash
    if expected.sha256 and expected.sha256.lower() != sha256:
        kind, want, got = "sha256", expected.sha256.lower(), sha256
    elif not expected.sha256 and expected.md5 and expected.md5.lower() != md5:
        kind, want, got = "md5", expected.md5.lower(), md5
    else:
        return None
    return InstallError(
        f"{kind} mismatch for package `{package.name}` ({package.filename}): expected {want}, got {got}",
        hints=[
            f"the archive at {redact(package.url)} is not the one the lock was made with",
            "if the channel rebuilt it on purpose, lock again (`cenv lock SPEC`); otherwise do not trust it",
        ],
    )


def check_has_hash(package: LockedPackage) -> None:
    if not package.hash.sha256 and not package.hash.md5:
        raise InstallError(
            f"the lock has no checksum for package `{package.name}` ({package.filename})",
            hints=["cenv verifies every archive; lock again, or export with `conda list --explicit --md5`"],
        )


def verify_file(package: LockedPackage, path: Path) -> Fetched:
    """Hash an archive already on disk; raise InstallError on a mismatch."""
    sha256, md5, size = hash_file(path, md5=not package.hash.sha256)
    error = _mismatch(package, sha256, md5)
    if error is not None:
        raise error
    return Fetched(path=path, sha256=sha256, md5=md5, size=size, transferred=0)


def local_path(url: str) -> str | None:
    """The file system path of a `file://` URL or a bare path (pixi.lock stores local packages so)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "file":
        return _url2pathname(parsed.path)
    if not parsed.scheme or (len(parsed.scheme) == 1 and url[1:3] in (":\\", ":/")):
        return url
    return None


def _url2pathname(path: str) -> str:
    # urllib.request's own function, without importing urllib.request (http.client, ssl, email: ~10 ms of
    # start-up that a create from the package cache never needs)
    if os.name == "nt":
        from nturl2path import url2pathname

        return url2pathname(path)
    return urllib.parse.unquote(path)


def _sink(
    out: BinaryIO, hasher: Hasher, progress: Callable[[int], None], cancel: Any
) -> Callable[[bytes], None]:
    """Where an archive's bytes go, from a local channel or the network alike: the `.part` file, the hashes,
    the progress bar; a set `cancel` stops the copy."""

    def write(data: bytes) -> None:
        if cancel is not None and cancel.is_set():
            raise FetchCancelled
        _write_all(out, data)
        hasher.update(data)
        progress(len(data))

    return write


def _download(
    url: str, out: BinaryIO, hasher: Hasher, progress: Callable[[int], None], cancel: Any, timeout: float
) -> None:
    """Stream `url` through the one network client (connection reuse, retries, mirrors, credentials by
    host, proxies, TLS: cenv.net) into `out`, hashing as it goes; `Stalled` after `timeout` seconds without
    progress (or below the floor)."""
    from cenv.net import HttpError, stream

    try:
        stream(url, _sink(out, hasher, progress, cancel), timeout=timeout)
    except HttpError as exc:
        if not exc.body_cut:
            raise  # the client's RetryMiddleware retried what a retry of the request can fix
        raise _BodyCut(f"the connection failed after {hasher.size} bytes ({exc})") from exc
    if cancel is not None and cancel.is_set():
        raise FetchCancelled


def _place(tmp: Path, target: Path, dest_dir: Path) -> None:
    """The finished download renamed into place (the temporary removed when that fails)."""
    try:
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise _write_error(dest_dir, exc) from exc


def remote_size(package: LockedPackage) -> int | None:
    """The archive size without downloading it: stat for a local archive; None (unknown) otherwise.

    Every request goes through the one network client (auth, mirrors, proxies, TLS: cenv.net), and
    rattler's client has no HEAD; a size is not worth a download, so `--dry-run` says it is unknown
    (issue #25: a HEAD through urllib skipped all of those settings)."""
    path = local_path(package.url)
    if path is not None:
        with contextlib.suppress(OSError):
            return os.stat(path).st_size
    return None


class _BodyCut(Exception):
    """The response's body broke off: the one failure `fetch_archive` retries itself (see its docstring)."""


class _LocalWriteError(Exception):
    """Writing into the package cache failed (a full disk is not the server's fault)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


def _write_all(out: BinaryIO, data: bytes) -> None:
    """Write `data` to an unbuffered file: a full disk fails the write that hit it, never a later close."""
    view = memoryview(data)
    try:
        while view:
            view = view[out.write(view) or 0 :]
    except OSError as exc:
        raise _LocalWriteError(exc) from exc


def _open_part(tmp: Path) -> BinaryIO:
    try:
        return open(tmp, "wb", buffering=0)
    except OSError as exc:
        raise _LocalWriteError(exc) from exc


def _stalled(package: LockedPackage, exc: Stalled, timeout: float) -> InstallError:
    return InstallError(
        f"download of package `{package.name}` from {redact(package.url)} stalled: {exc}",
        hints=[stalled_hint("the server", timeout)],
    )


def _write_error(dest_dir: Path, exc: OSError) -> InstallError:
    from cenv.install.cache import cache_dir_error

    return cache_dir_error(exc, dest_dir, "write to")


def _retried_hint(exc: BaseException) -> list[str]:
    """What to do after a failure the network client gave up on (its retries: cenv.net.stream)."""
    from cenv.net import ATTEMPTS, HttpError

    if isinstance(exc, HttpError) and (exc.status is None or exc.status >= 500 or exc.status in (408, 429)):
        return [f"tried {ATTEMPTS} times; check the channel server, then run the same command again"]
    return []


def _describe(exc: BaseException) -> str:
    from cenv.net import HttpError

    if isinstance(exc, HttpError) and exc.status is not None:
        return exc.reason
    return str(exc) or type(exc).__name__


def _kernel_copy(reader: BinaryIO, out: BinaryIO, progress: Callable[[int], None], cancel: Any) -> int:
    """Copy `reader` to `out` inside the kernel (copy_file_range, else sendfile: Linux >= 5.19 refuses
    copy_file_range across file systems, e.g. a channel on disk and a package cache on tmpfs); the bytes
    copied, or -1 when neither works between these files."""
    copied = 0
    src, dst = reader.fileno(), out.fileno()
    unsupported = (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP)
    use_sendfile = not hasattr(os, "copy_file_range")
    while True:
        if cancel is not None and cancel.is_set():
            raise FetchCancelled
        try:
            if use_sendfile:
                n = os.sendfile(dst, src, None, 1 << 26)  # type: ignore[attr-defined,unused-ignore]
            else:
                n = os.copy_file_range(src, dst, 1 << 26)
        except OSError as exc:
            if copied == 0 and exc.errno in unsupported:
                if not use_sendfile and hasattr(os, "sendfile"):
                    use_sendfile = True
                    continue
                return -1  # not between these files: the caller copies through Python
            raise _LocalWriteError(exc) from exc
        if n == 0:
            return copied
        copied += n
        progress(n)


def fetch_archive(
    package: LockedPackage,
    dest_dir: Path,
    progress: Callable[[int], None] = lambda n: None,
    cancel: threading.Event | None = None,
    hash_later: bool = False,
) -> Fetched:
    """Download (http/https) or copy (file://) `package` into `dest_dir/<filename>`, verified.

    `progress(n)` gets byte deltas (negative when a failed attempt is restarted). A checksum mismatch or a
    failure after retries raises InstallError; nothing is left under `dest_dir` then.

    Retries: the network client's `RetryMiddleware` retries the request (a 5xx, 408 or 429, a failed
    connection: cenv.net.stream); it has returned the response before the body streams, so a body that
    breaks off (a short body, a dropped connection) is the one failure retried here, from the start,
    `_RETRIES` attempts in all. Nothing else is retried twice. With `hash_later`,
    a `file://` archive whose lock has a sha256 is copied by the kernel and left for the caller to verify
    (`verified=False`: rattler's extractor hashes it while reading it).
    """
    check_has_hash(package)
    parsed = urllib.parse.urlsplit(package.url)
    source = local_path(package.url)
    if source is None and parsed.scheme not in ("http", "https"):
        raise InstallError(
            f"package `{package.name}`: cannot fetch `{redact(package.url)}` (only http, https and file URLs)"
        )
    target = dest_dir / package.filename
    timeout = read_timeout()
    transferred = 0
    last_error: BaseException | None = None
    for attempt in range(_RETRIES if source is None else 1):
        if attempt:
            time.sleep(0.1 * 2**attempt)
        tmp = dest_dir / f".{package.filename}.{secrets.token_hex(4)}.part"
        hasher = Hasher(md5=not package.hash.sha256)
        copied = -1
        try:
            if source is not None:
                try:
                    reader = open(source, "rb")  # noqa: SIM115
                except OSError as exc:
                    raise InstallError(
                        f"package `{package.name}`: cannot read {source}: {exc.strerror or exc}",
                        hints=["the local channel changed since the lock was made; lock again"],
                    ) from exc
                with reader, _open_part(tmp) as out:
                    if hash_later and package.hash.sha256:
                        copied = _kernel_copy(reader, out, progress, cancel)
                    if copied < 0:
                        write = _sink(out, hasher, progress, cancel)
                        while chunk := reader.read(_CHUNK):
                            write(chunk)
            else:
                with _open_part(tmp) as out:
                    _download(package.url, out, hasher, progress, cancel, timeout)
            transferred += max(copied, 0) + hasher.size
        except BaseException as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            transferred += max(copied, 0) + hasher.size
            progress(-(max(copied, 0) + hasher.size))
            if isinstance(exc, InstallError | FetchCancelled) or not isinstance(exc, Exception):
                raise
            if isinstance(exc, _LocalWriteError):  # not retried, not the server's fault
                raise _write_error(dest_dir, exc.error) from exc
            if isinstance(exc, Stalled):  # not retried: the deadline is the user's to raise
                raise _stalled(package, exc, timeout) from exc
            if not isinstance(exc, _BodyCut):
                raise InstallError(
                    f"cannot download package `{package.name}` from {redact(package.url)}: {_describe(exc)}",
                    hints=_retried_hint(exc),
                ) from exc
            last_error = exc
            continue
        if copied >= 0:  # hashed by the extractor (extract.py), compared with the lock there
            _place(tmp, target, dest_dir)
            return Fetched(target, "", "", copied, transferred, verified=False)
        sha256, md5 = hasher.sha256.hexdigest(), hasher.md5_hex()
        error = _mismatch(package, sha256, md5)
        if error is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise error
        _place(tmp, target, dest_dir)
        return Fetched(path=target, sha256=sha256, md5=md5, size=hasher.size, transferred=transferred)
    assert last_error is not None
    raise InstallError(
        f"cannot download package `{package.name}` from {redact(package.url)}: {_describe(last_error)}",
        hints=[f"tried {_RETRIES} times; check the channel server, then run the same command again"],
    ) from last_error
