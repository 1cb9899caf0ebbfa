"""The package cache shared with conda (`CONDA_PKGS_DIRS` layout): one exclusive lock per cache, content-bound
entries, leftovers of killed runs removed.

A create holds `<pkgs>/.cenv-cache.lock` from the moment it looks at the cache until rattler has linked and
cenv has checked what was linked: no other cenv process can replace `<pkgs>/<file>` or `<pkgs>/<dist>/`
between the check of an entry and its use (micromamba locks its package cache the same way). An entry is
used for a lock record only when its checksum is the record's (`conda.py`); a lock that lists one file name
twice is refused, since one cache entry (and one `conda-meta/<dist>.json`) cannot hold two contents.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from cenv.env_vars import CENV_CACHE_DIR, CONDA_PKGS_DIRS
from cenv.errors import InstallError
from cenv.install.plan import content_key
from cenv.redact import redact

if TYPE_CHECKING:
    from cenv.lock.models import LockedPackage

__all__ = [
    "ARCHIVE_EXTENSIONS",
    "CacheLock",
    "cache_dir_error",
    "check_archive_names",
    "content_key",
    "locked_cache",
    "remove_leftovers",
]

LOCK_NAME = ".cenv-cache.lock"
ARCHIVE_EXTENSIONS = (".conda", ".tar.bz2")
_WAIT_NOTICE_AFTER_S = 0.5


def cache_dir_error(exc: OSError, pkgs_dir: Path, doing: str = "use") -> InstallError:
    """An OSError on the package cache as a one-line error naming the directory and what to do."""
    from cenv.fsfaults import describe

    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = f"free some space on the disk of `{pkgs_dir}`, or point {CONDA_PKGS_DIRS} at another disk"
    else:
        hint = f"set {CONDA_PKGS_DIRS} (or {CENV_CACHE_DIR}) to a writable directory"
    why = describe(exc, pkgs_dir)
    return InstallError(f"cannot {doing} the package cache `{pkgs_dir}`: {why}", hints=[hint])


def check_archive_names(packages: Iterable[LockedPackage]) -> None:
    """Refuse records whose URL does not end in a conda archive name, and two records with one file name
    (one cache entry, and one `conda-meta/<dist>.json`, cannot hold two packages)."""
    seen: dict[str, LockedPackage] = {}
    for package in packages:
        name = package.filename
        dist = next((name[: -len(ext)] for ext in ARCHIVE_EXTENSIONS if name.endswith(ext)), "")
        # a dist starting with `.` could name cenv's own files in the cache (`.cenv-verified`, `..`)
        if not dist or dist.startswith(".") or "\\" in name or "\x00" in name:
            shown = name if name and len(name) <= 80 else (name[:77] + "..." if name else "(empty)")
            raise InstallError(
                f"package `{package.name}`: the URL {redact(package.url)} does not end in a conda package "
                f"file name (`{shown}`)",
                hints=["a package URL ends in `<name>-<version>-<build>.conda` or `.tar.bz2`; lock again"],
            )
        other = seen.get(name)
        if other is not None:
            same = content_key(other) == content_key(package)
            raise InstallError(
                f"the lock lists `{name}` twice (packages `{other.name}` and `{package.name}`"
                + (")" if same else ", with different checksums)"),
                hints=["an environment holds one package per file name; the lockfile was edited, lock again"],
            )
        seen[name] = package


def remove_leftovers(pkgs_dir: Path) -> list[str]:
    """Remove what killed cenv runs left in the cache: partial downloads (`.<file>.<hex>.part`), entries
    renamed aside for removal, stamp temporaries. Only called with the cache lock held (nobody is writing)."""
    removed: list[str] = []
    try:
        names = os.listdir(pkgs_dir)
    except OSError:
        return removed
    for name in names:
        if not name.startswith("."):
            continue
        path = pkgs_dir / name
        if name.endswith(".part") or ".cenv-discard-" in name or ".cenv-extract-" in name:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()
            removed.append(name)
    stamps = pkgs_dir / ".cenv-verified"
    with contextlib.suppress(OSError):
        for name in os.listdir(stamps):
            if name.startswith("."):
                with contextlib.suppress(OSError):
                    (stamps / name).unlink()
                removed.append(f".cenv-verified/{name}")
    return removed


class CacheLock:
    """The exclusive lock on one package cache; `release()` may come before the end of the `with`."""

    def __init__(self, pkgs_dir: Path) -> None:
        from filelock import FileLock

        self.pkgs_dir = pkgs_dir
        self._lock = FileLock(os.fspath(pkgs_dir / LOCK_NAME))
        self.held = False

    def acquire(self, on_wait: Callable[[str], None]) -> None:
        from filelock import Timeout

        try:
            try:
                self._lock.acquire(timeout=_WAIT_NOTICE_AFTER_S)
            except Timeout:
                on_wait(
                    f"waiting for another cenv process to release the package cache `{self.pkgs_dir}` "
                    f"(lock file {self.pkgs_dir / LOCK_NAME})"
                )
                started = time.monotonic()
                self._lock.acquire()
                on_wait(f"package cache free after {time.monotonic() - started:.1f}s")
        except OSError as exc:
            raise cache_dir_error(exc, self.pkgs_dir, "lock") from exc
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self._lock.release()


@contextlib.contextmanager
def locked_cache(pkgs_dir: Path, on_wait: Callable[[str], None]) -> Iterator[CacheLock]:
    """Create the package cache if needed, hold its lock, and clear leftovers of killed runs."""
    try:
        pkgs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cache_dir_error(exc, pkgs_dir, "create") from exc
    lock = CacheLock(pkgs_dir)
    lock.acquire(on_wait)
    try:
        remove_leftovers(pkgs_dir)
        yield lock
    finally:
        lock.release()
