"""cenv's own temporary folders (`$TMPDIR/cenv-auth-*`, `cenv-pack-*`): made private (0700), held for as
long as the process lives, and removed by the next run when the process that made one was killed (SIGKILL
runs no clean-up). A folder nobody holds, owned by this user, is a leftover: removing it is safe (the secret
inside an auth folder is the user's own).

The hold is filelock's `FileLock` on the folder's own lock file `.cenv-held`. Another process's folder is
probed with filelock's `lock_descriptor` (the same lock, one non-blocking try) on a descriptor opened
without O_CREAT: `FileLock` would make a hold file in a folder that has none (one made by an older cenv,
not ours to judge). filelock is imported only to hold a folder or to probe one that may be a leftover:
its import (~20 ms) would otherwise be paid by every `cenv lock`, whose start-up issue #21 bounds."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from filelock import FileLock

__all__ = ["make_private_dir", "release", "remove_stale_dirs"]

_HOLD = ".cenv-held"
_MIN_AGE_S = 5.0  # younger than this: perhaps between its creation and its maker's flock
_held: list[FileLock] = []  # held until the process ends (a lock object let go would release its lock)


def make_private_dir(prefix: str, parent: Path | None = None) -> Path:
    """A new 0700 folder `<parent or $TMPDIR>/<prefix>XXXX`, held by this process; leftovers of killed
    processes with the same prefix are removed first."""
    remove_stale_dirs(prefix, parent)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    if sys.platform != "win32":  # a held file would keep Windows from removing the folder
        from filelock import FileLock, Timeout

        # Not thread-local: any thread's release (none: it goes with the process) is this process's. No
        # soft-lock fallback: the probe reads only the kernel lock. A file system without locks: not held.
        hold = FileLock(os.fspath(path / _HOLD), mode=0o600, thread_local=False, fallback_to_soft=False)
        with contextlib.suppress(Timeout, OSError):
            hold.acquire(blocking=False)
            _held.append(hold)
    return path


def release(path: Path) -> None:
    """`path` is about to become something permanent (a pack folder renamed into place): its hold file
    goes, so nothing of cenv's bookkeeping is left in it."""
    with contextlib.suppress(OSError):
        (path / _HOLD).unlink()


def remove_stale_dirs(prefix: str, parent: Path | None = None) -> list[Path]:
    """Remove `<prefix>*` folders that this user owns and no live process holds; returns them."""
    if sys.platform == "win32":
        return []
    folder = Path(parent or tempfile.gettempdir())
    removed = []
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(prefix)]
    except OSError:
        return []
    for entry in entries:
        try:
            info = entry.stat(follow_symlinks=False)
            if not entry.is_dir(follow_symlinks=False) or info.st_uid != os.getuid():
                continue
            if time.time() - info.st_mtime < _MIN_AGE_S:
                continue
            fd = os.open(Path(entry.path) / _HOLD, os.O_RDWR | os.O_NOFOLLOW)
        except OSError:
            continue  # no hold file: not ours to judge (or made by an older cenv)
        if not _take(fd):
            os.close(fd)
            continue  # held: its process is alive
        try:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
        finally:
            os.close(fd)
    return removed


def _take(fd: int) -> bool:
    """One non-blocking try at the hold of another folder (kept until `fd` closes); False when its
    process holds it, or when the file system refuses locks (then nothing is judged a leftover)."""
    from filelock import lock_descriptor

    try:
        return lock_descriptor(fd, blocking=False)
    except OSError:
        return False
