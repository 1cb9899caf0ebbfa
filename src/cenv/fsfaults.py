"""File-system faults of the user's environment (read-only or full disks, a file where a directory should
be, names too long) as one-line errors with a hint, exit 1: they are not cenv's bugs."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from cenv.errors import UserError

__all__ = ["ENVIRONMENT_ERRNOS", "describe", "ensure_dir", "fault"]

#: errors that come from the machine's state, not from a bug in cenv
ENVIRONMENT_ERRNOS = frozenset(
    code
    for code in (
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.ENOSPC,
        getattr(errno, "EDQUOT", errno.ENOSPC),
        errno.ENOTDIR,
        errno.EISDIR,
        errno.EEXIST,
        errno.ENAMETOOLONG,
        errno.ELOOP,
        errno.EMFILE,
        errno.ENFILE,
        errno.EIO,
    )
)


def _file_ancestor(path: Path) -> Path | None:
    """The nearest ancestor (or `path` itself) that exists and is not a directory."""
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return None if candidate.is_dir() else candidate
    return None


def describe(exc: OSError, path: Path) -> str:
    """Why `path` cannot be used, in words that name the culprit (the file in the way, the full disk)."""
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        blocker = _file_ancestor(path)
        if blocker is not None:
            return f"`{blocker}` is a file, not a directory"
    return exc.strerror or str(exc)


def fault(exc: OSError, path: Path, what: str, variable: str | None = None) -> UserError:
    """`cannot use <what> <path>: <why>` with a hint fitting the cause."""
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        hint = f"free some space on the disk of `{path}`"
        if variable:
            hint += f", or point {variable} at another disk"
    elif variable:
        hint = f"set {variable} to a writable directory"
    else:
        hint = "check that the directory exists and is writable"
    return UserError(f"cannot use {what} `{path}`: {describe(exc, path)}", hints=[hint])


def ensure_dir(path: Path, what: str, variable: str | None = None) -> None:
    """Create directory `path` (and parents) or raise a `fault`."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise fault(exc, Path(path), what, variable) from exc
