"""Several package caches, as conda uses `pkgs_dirs`: every entry is a source of packages, downloads and
extraction go to the first *writable* one (conda's `PackageCacheData.first_writable`). That is how clusters
share one read-only package cache on a network file system with a writable cache per node.

cenv links with rattler from one cache folder, so a package found in a read-only cache is brought into the
writable one first: its archive (checked against the lock's sha256 while it is read) or its extracted
folder (bound to the lock's sha256 by `info/repodata_record.json` and checked file by file against its
`paths.json`), hard-linked where both caches share a file system, else copied. Nothing is written to, and
no lock is taken on, a read-only cache.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from cenv.hashing import hash_file
from cenv.install.archive_guard import UnsafePackage, check_extracted, discard_cache_entry, stamp_matches
from cenv.install.extract import entry_sha256, write_rattler_lock
from cenv.install.plan import content_key, dist_name
from cenv.lock.models import LockedPackage


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _take_archive(package: LockedPackage, source: Path, target: Path) -> bool:
    archive = source / package.filename
    if not archive.is_file():
        return False
    sha256, md5, _ = hash_file(archive)
    want_sha, want_md5 = (package.hash.sha256 or "").lower(), (package.hash.md5 or "").lower()
    if (want_sha and sha256 != want_sha) or (not want_sha and (not want_md5 or md5 != want_md5)):
        return False  # another archive under the same name: not this lock's
    tmp = target / f".{package.filename}.shared-{os.getpid()}"
    try:
        _link_or_copy(str(archive), str(tmp))
        os.replace(tmp, target / package.filename)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return True


def _recorded_sha256(entry: Path) -> str | None:
    """The archive checksum an extracted entry says it came from: rattler's `.lock` or cenv's stamp via
    `entry_sha256`, else conda's `info/repodata_record.json`."""
    found = entry_sha256(entry.parent, entry.name)
    if found:
        return found.lower()
    try:
        record = json.loads((entry / "info" / "repodata_record.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = record.get("sha256") if isinstance(record, dict) else None
    return str(value).lower() if value else None


def _take_entry(package: LockedPackage, source: Path, target: Path) -> bool:
    sha256 = (package.hash.sha256 or "").lower()
    entry = source / dist_name(package.filename)
    if not sha256 or not (entry / "info" / "index.json").is_file() or _recorded_sha256(entry) != sha256:
        return False
    placed = target / entry.name
    copy = target / f".{entry.name}.shared-{os.getpid()}"
    try:
        shutil.copytree(entry, copy, symlinks=True, copy_function=_link_or_copy)
        try:  # every file against paths.json; the stamp is written for the name it takes
            check_extracted(copy, content_key(package)[1], stamp_as=placed)
        except UnsafePackage:
            return False
        discard_cache_entry(target, entry.name, keep_stamp=True)
        os.rename(copy, placed)
        write_rattler_lock(target, entry.name, sha256)
    finally:
        if copy.exists():
            shutil.rmtree(copy, ignore_errors=True)
    return True


def take_from_shared(packages: Iterable[LockedPackage], target: Path, sources: Sequence[Path]) -> list[str]:
    """Bring the conda packages the writable cache `target` lacks from the read-only `sources`; returns
    the file names taken. A package that no source has, or has under another checksum, is left to the
    download."""
    if not sources:
        return []
    target.mkdir(parents=True, exist_ok=True)
    taken = []
    for package in packages:
        if package.manager != "conda":
            continue
        have = target / package.filename
        if have.is_file() or stamp_matches(target / dist_name(package.filename), content_key(package)[1]):
            continue
        for source in sources:
            if _take_entry(package, source, target) or _take_archive(package, source, target):
                taken.append(package.filename)
                break
    return taken
