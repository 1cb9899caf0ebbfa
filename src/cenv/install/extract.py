"""Extract verified archives into the package cache, and check what was extracted before anything links it.

Each archive is read once: rattler's extractor (the one `rattler.install` uses) hashes it (sha256 and md5)
while it decompresses it into a hidden sibling `.<dist>.cenv-extract-<hex>` of its cache entry; an archive
whose sha256 is not the lock's is refused there (`ChecksumMismatch`: fetch.py leaves `file://` archives to
this check instead of hashing them itself); cenv then checks that tree against its own
`info/paths.json` (paths inside the package, types, sizes, sha256) and the other path lists, renames it to
`<pkgs>/<dist>` and writes rattler's `<dist>.lock` (revision, archive sha256), so `rattler.install` links
from it without extracting again. Only when something is wrong is the archive read a second time, member by
member (`archive_guard.check_archive`), to name the offending member. Runs under the package cache lock.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import os
import secrets
import shutil
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cenv.install.archive_guard import (
    UnsafePackage,
    check_archive,
    check_extracted,
    check_zip_layout,
    discard_cache_entry,
    file_sha256,
)
from cenv.redact import error_text

if TYPE_CHECKING:
    from rattler.networking import Client

__all__ = ["ChecksumMismatch", "Extracted", "ToExtract", "entry_sha256", "extract_all", "extraction_order"]

_RATTLER_LOCK = struct.Struct(">Q")  # rattler's `<dist>.lock`: a big-endian revision, then the sha256
_PARALLEL = 16  # archives extracted at once (rattler's tokio threads do the work)
# threads checking extracted entries: their Python holds the GIL, so more threads than this only take turns
# at it (a futex hand-over per system call: 1M per cold create of 20k files with asyncio's 6 threads)
_CHECK_THREADS = 2


@dataclass(frozen=True)
class ToExtract:
    dist: str
    archive: Path  # the archive in the package cache
    key: str  # the lock's checksum for it (sha256, else md5): what the entry's stamp is bound to
    expected_sha256: str | None  # the lock's sha256: the extractor's hash must be it


@dataclass
class Extracted:
    hashes: dict[str, tuple[str, str]] = field(default_factory=dict)  # dist: (sha256, md5) as read
    refused: dict[str, str] = field(default_factory=dict)  # dist: why
    mismatched: dict[str, tuple[str, str]] = field(default_factory=dict)  # dist: (sha256, md5) as read


class ChecksumMismatch(Exception):
    """The archive's sha256, hashed while it was extracted, is not the lock's (nothing was placed)."""

    def __init__(self, sha256: str, md5: str) -> None:
        super().__init__(sha256)
        self.sha256 = sha256
        self.md5 = md5


def extraction_order(name: str, url: str, depends: Iterable[str], size: int) -> tuple[int, int, int]:
    """The sort key of an archive among those extracted together (at most `_PARALLEL` at once, in this
    order): the python package first (the bytecode compiled while the others extract needs its
    interpreter), then noarch packages that depend on python (their modules keep the compile processes
    busy while the rest extracts; compiling is most of a cold create), then the largest first (the longest
    extractions do not start last)."""
    noarch_python = "/noarch/" in url and any(d.split(" ")[0] == "python" for d in depends)
    return (name != "python", not noarch_python, -size)


def _local_fault(exc: BaseException) -> OSError | None:
    """A failure of the disk under the cache (rattler's io errors are OSErrors too, corrupt data included)."""
    local = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENAMETOOLONG)
    if isinstance(exc, OSError) and exc.errno in local:
        return exc
    text = str(exc)
    for code in local:
        if f"os error {code})" in text or os.strerror(code) in text:
            return OSError(code, os.strerror(code))
    return None


async def _precise_reason(archive: Path) -> str | None:
    """The member-level reason an archive is unsafe (a second read, on the failure path only)."""
    try:
        await check_archive(archive)
    except UnsafePackage as exc:
        return str(exc)
    return None


def write_rattler_lock(pkgs_dir: Path, dist: str, sha256: str) -> None:
    path = pkgs_dir / f"{dist}.lock"
    revision = 0
    with contextlib.suppress(OSError, struct.error), open(path, "rb") as handle:
        revision = _RATTLER_LOCK.unpack(handle.read(_RATTLER_LOCK.size))[0]
    # in place: rattler flocks this very file, a rename would leave its lock on the old inode
    with open(path, "ab") as handle:
        handle.truncate(0)
        handle.write(_RATTLER_LOCK.pack(revision + 1) + bytes.fromhex(sha256))


def entry_sha256(pkgs_dir: Path, dist: str) -> str | None:
    """The sha256 of the archive the entry `<pkgs>/<dist>` was extracted from, per rattler's `<dist>.lock`."""
    try:
        with open(pkgs_dir / f"{dist}.lock", "rb") as handle:
            data = handle.read(_RATTLER_LOCK.size + 33)
    except OSError:
        return None
    return data[_RATTLER_LOCK.size :].hex() if len(data) == _RATTLER_LOCK.size + 32 else None


def _check_and_place(pkgs_dir: Path, item: ToExtract, tmp: Path, sha256: str) -> None:
    """The extracted tree against its paths.json (stamped for its final name), then moved into place."""
    final = pkgs_dir / item.dist
    check_extracted(tmp, item.key, stamp_as=final)
    discard_cache_entry(pkgs_dir, item.dist, keep_stamp=True)  # the stamp is the new entry's already
    os.rename(tmp, final)
    write_rattler_lock(pkgs_dir, item.dist, sha256)


async def _extract_one(
    client: Client, pkgs_dir: Path, item: ToExtract, checker: concurrent.futures.Executor
) -> tuple[str, str]:
    """Extract, check and move into place one archive; its (sha256, md5) as read. `UnsafePackage` or
    `ChecksumMismatch` (nothing left behind) if refused."""
    from rattler.package_streaming import download_and_extract

    tmp = pkgs_dir / f".{item.dist}.cenv-extract-{secrets.token_hex(4)}"
    try:
        try:
            if item.archive.name.endswith(".conda"):
                check_zip_layout(item.archive)
            # rattler's async extractor (the sync one holds the GIL: 4x slower over 300 small archives),
            # hashing the archive while it reads it (it does not compare: cenv does, below)
            sha, md5 = await download_and_extract(client, item.archive.as_uri(), tmp)
            read = (bytes(sha).hex(), bytes(md5).hex())
            if item.expected_sha256 is not None and read[0] != item.expected_sha256.lower():
                raise ChecksumMismatch(*read)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(checker, _check_and_place, pkgs_dir, item, tmp, read[0])
            return read
        except ChecksumMismatch:
            raise
        except UnsafePackage as exc:
            raise UnsafePackage(await _precise_reason(item.archive) or str(exc)) from exc
        except Exception as exc:  # rattler's extractor: corrupt streams, and its own path refusals
            local = _local_fault(exc)
            if local is not None:  # a full or read-only disk is not the archive's fault
                raise local from exc
            reason = await _precise_reason(item.archive)
            why = reason or f"the archive is corrupt or unsafe: {error_text(exc, 300)}"
            raise UnsafePackage(why) from exc
    except UnsafePackage:
        # an archive that is not the lock's says so, rather than how it is broken (hashed on this path only)
        if item.expected_sha256 is not None:
            actual = await asyncio.to_thread(file_sha256, item.archive)
            if actual != item.expected_sha256.lower():
                raise ChecksumMismatch(actual, "") from None
        raise
    finally:
        if tmp.exists():
            await asyncio.to_thread(shutil.rmtree, tmp, True)


async def extract_all(
    pkgs_dir: Path, items: Sequence[ToExtract], on_placed: Callable[[str], None] | None = None
) -> Extracted:
    """Extract `items` concurrently: the archives' hashes as read, and the ones refused or not the lock's.
    `on_placed(dist)` is called (in a worker thread) as each entry is in place."""
    if not items:
        return Extracted()
    from rattler.networking import Client

    client = Client()
    limit = asyncio.Semaphore(_PARALLEL)
    loop = asyncio.get_running_loop()
    checker = concurrent.futures.ThreadPoolExecutor(_CHECK_THREADS, thread_name_prefix="cenv-check")

    async def one(item: ToExtract) -> tuple[str, str]:
        async with limit:
            read = await _extract_one(client, pkgs_dir, item, checker)
        if on_placed is not None:
            await loop.run_in_executor(checker, on_placed, item.dist)
        return read

    try:
        results = await asyncio.gather(*(one(item) for item in items), return_exceptions=True)
    finally:
        checker.shutdown(wait=False)
    extracted = Extracted()
    for item, result in zip(items, results, strict=True):
        if isinstance(result, UnsafePackage):
            extracted.refused[item.dist] = str(result)
        elif isinstance(result, ChecksumMismatch):
            extracted.mismatched[item.dist] = (result.sha256, result.md5)
        elif isinstance(result, BaseException):
            raise result
        else:
            extracted.hashes[item.dist] = result
    return extracted
