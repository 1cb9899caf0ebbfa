"""Joining untrusted names (from a lockfile, a pack, a config file) onto a folder without leaving it."""

from __future__ import annotations

import os
from pathlib import Path

from cenv.errors import UserError

__all__ = ["OutsideBase", "join_within"]


class OutsideBase(UserError):
    """A path read from a file would resolve outside the folder it belongs in."""


def join_within(base: Path, *parts: str, what: str = "a path") -> Path:
    """`base / parts...`, refused (`OutsideBase`) when the result is not strictly inside `base`: an
    absolute part, a `..`, an empty or `.` name, a NUL, or a symlink already on disk that leads out.

    `what` names the source of the parts in the message (`"pip package `x`"`)."""
    for part in parts:
        if (
            not part
            or "\x00" in part
            or part in (".", "..")
            or os.path.isabs(part)
            or any(p == ".." for p in part.replace("\\", "/").split("/"))
        ):
            raise OutsideBase(f"{what}: `{part[:80]}` is not a name inside `{base}`")
    joined = Path(base, *parts)
    real_base = os.path.realpath(base)
    real = os.path.realpath(joined)
    if real == real_base or not real.startswith(real_base.rstrip(os.sep) + os.sep):
        raise OutsideBase(f"{what}: `{joined}` resolves outside `{base}`")
    return joined
