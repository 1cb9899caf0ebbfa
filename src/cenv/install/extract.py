"""Extract verified archives into the package cache, and check what was extracted before anything links it.

Each archive is decompressed once: rattler's extractor (the one `rattler.install` uses) writes it into
a hidden sibling `.<dist>.cenv-extract-<hex>` of its cache entry; cenv checks that tree against its own
`info/paths.json` (paths inside the package, types, sizes, sha256) and the other path lists, renames it to
`<pkgs>/<dist>` and writes rattler's `<dist>.lock` (revision, archive sha256), so `rattler.install` links
from it without extracting again. Only when something is wrong is the archive read a second time, member by
member (`archive_guard.check_archive`), to name the offending member. Runs under the package cache lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import secrets
import shutil
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cenv.install.archive_guard import (
    UnsafePackage,
    check_archive,
    check_extracted,
    check_zip_layout,
    discard_cache_entry,
)
from cenv.redact import error_text

if TYPE_CHECKING:
    from rattler.networking import Client

__all__ = ["ToExtract", "entry_sha256", "extract_all"]

_RATTLER_LOCK = struct.Struct(">Q")  # rattler's `<dist>.lock`: a big-endian revision, then the sha256
_PARALLEL = 16  # archives extracted at once (rattler's tokio threads do the work)


@dataclass(frozen=True)
class ToExtract:
    dist: str
    archive: Path  # the verified archive in the package cache
    sha256: str  # of the archive, as hashed while fetching or verifying it
    key: str  # the lock's checksum for it (sha256, else md5): what the entry's stamp is bound to


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


def _write_rattler_lock(pkgs_dir: Path, dist: str, sha256: str) -> None:
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


def _check_and_place(pkgs_dir: Path, item: ToExtract, tmp: Path) -> None:
    """The extracted tree against its paths.json (stamped for its final name), then moved into place."""
    final = pkgs_dir / item.dist
    check_extracted(tmp, item.key, stamp_as=final)
    discard_cache_entry(pkgs_dir, item.dist, keep_stamp=True)  # the stamp is the new entry's already
    os.rename(tmp, final)
    _write_rattler_lock(pkgs_dir, item.dist, item.sha256)


async def _extract_one(client: Client, pkgs_dir: Path, item: ToExtract) -> None:
    """Extract, check and move into place one archive; `UnsafePackage` (nothing left behind) if refused."""
    from rattler.package_streaming import download_and_extract

    tmp = pkgs_dir / f".{item.dist}.cenv-extract-{secrets.token_hex(4)}"
    try:
        try:
            if item.archive.name.endswith(".conda"):
                check_zip_layout(item.archive)
            # rattler's async extractor (the sync one holds the GIL: 4x slower over 300 small archives),
            # checking the sha256 it was verified with while it reads
            await download_and_extract(
                client, item.archive.as_uri(), tmp, expected_sha=bytes.fromhex(item.sha256)
            )
            await asyncio.to_thread(_check_and_place, pkgs_dir, item, tmp)
        except UnsafePackage as exc:
            raise UnsafePackage(await _precise_reason(item.archive) or str(exc)) from exc
        except Exception as exc:  # rattler's extractor: corrupt streams, and its own path refusals
            local = _local_fault(exc)
            if local is not None:  # a full or read-only disk is not the archive's fault
                raise local from exc
            reason = await _precise_reason(item.archive)
            why = reason or f"the archive is corrupt or unsafe: {error_text(exc, 300)}"
            raise UnsafePackage(why) from exc
    finally:
        if tmp.exists():
            await asyncio.to_thread(shutil.rmtree, tmp, True)


async def extract_all(pkgs_dir: Path, items: Sequence[ToExtract]) -> dict[str, str]:
    """Extract `items` concurrently; {dist: why it was refused} for the ones that were not placed."""
    if not items:
        return {}
    from rattler.networking import Client

    client = Client()
    limit = asyncio.Semaphore(_PARALLEL)

    async def one(item: ToExtract) -> None:
        async with limit:
            await _extract_one(client, pkgs_dir, item)

    results = await asyncio.gather(*(one(item) for item in items), return_exceptions=True)
    refused: dict[str, str] = {}
    for item, result in zip(items, results, strict=True):
        if isinstance(result, UnsafePackage):
            refused[item.dist] = str(result)
        elif isinstance(result, BaseException):
            raise result
    return refused
