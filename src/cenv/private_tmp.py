"""cenv's own temporary folders (`$TMPDIR/cenv-auth-*`, `cenv-pack-*`): made private (0700), held with an
`flock` for as long as the process lives, and removed by the next run when the process that made one was
killed (SIGKILL runs no clean-up). A folder nobody holds, owned by this user, is a leftover: removing it is
safe (the secret inside an auth folder is the user's own)."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["make_private_dir", "release", "remove_stale_dirs"]

_HOLD = ".cenv-held"
_MIN_AGE_S = 5.0  # younger than this: perhaps between its creation and its maker's flock
_held: list[int] = []  # descriptors kept open (their flocks go with the process)


def make_private_dir(prefix: str, parent: Path | None = None) -> Path:
    """A new 0700 folder `<parent or $TMPDIR>/<prefix>XXXX`, held by this process; leftovers of killed
    processes with the same prefix are removed first."""
    remove_stale_dirs(prefix, parent)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    if sys.platform != "win32":
        import fcntl

        with contextlib.suppress(OSError):
            fd = os.open(path / _HOLD, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _held.append(fd)
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
    import fcntl

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
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # held: its process is alive
        try:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
        finally:
            os.close(fd)
    return removed
