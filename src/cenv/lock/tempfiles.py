"""Temporaries of atomic lockfile writes (`.<name>.<hex>.tmp` beside the lockfile): the writer holds an
`flock` on its temporary until it is renamed into place; one that nobody holds is left by a killed writer
(SIGKILL runs no clean-up) and is removed by the next write of the same lockfile.

Raw `fcntl.flock`, not filelock: the lock is on the data file being written (its rename into place is the
commit), which filelock's `FileLock` would truncate when it takes it; its `lock_descriptor` takes the same
lock on a descriptor, but importing filelock costs ~20 ms (its package loads sqlite3, its asyncio and
read-write locks), paid by every `cenv lock` (issue #21 holds lock start-up to 1.3x the engine's)."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from pathlib import Path

__all__ = ["hold", "remove_stale_temporaries"]

_MIN_AGE_S = 2.0  # a temporary this young may be between its creation and its writer's flock
_MIN_AGE_NO_FLOCK_S = 3600.0  # where there is no flock (Windows), only old ones go


def hold(fd: int) -> None:
    """Mark the temporary open on `fd` as in use (its lock goes with the process)."""
    if sys.platform == "win32":
        return
    import fcntl

    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _unused(path: Path) -> bool:
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return False
    if sys.platform == "win32":
        return age > _MIN_AGE_NO_FLOCK_S
    if age < _MIN_AGE_S:
        return False
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # a live writer holds it
    finally:
        os.close(fd)
    return True


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove `.<path.name>.<hex>.tmp` files beside `path` that no live writer holds."""
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.[0-9a-f]{{8,32}}\.tmp$")
    removed = []
    with contextlib.suppress(OSError):
        for name in os.listdir(path.parent):
            candidate = path.parent / name
            if pattern.match(name) and _unused(candidate):
                with contextlib.suppress(OSError):
                    candidate.unlink()
                    removed.append(candidate)
    return removed
