"""The head of a lockfile: its metadata without its packages, for a re-lock's recorded inputs.

A re-lock needs only the metadata (the inputs the last lock recorded) before it can solve; parsing and
validating the package list of a large lockfile costs as much as a third of the warm solve (issue #21).
"""

from __future__ import annotations

import re
from pathlib import Path

from cenv.errors import LockfileError
from cenv.lock.io import lockfile_from_text, read_lock_text
from cenv.lock.models import Lockfile

__all__ = ["read_lock_head"]

# a line that is not indented, a comment, empty or a sequence item: a top-level key
_TOP_LEVEL_KEY = re.compile(r"\n(?![ #\n]|-[ \n]|$)")


def read_lock_head(path: Path) -> Lockfile | None:
    """The lockfile at `path` read and validated up to its top-level `package:` key (no packages), or
    None when there is none, the head is not a usable lockfile on its own, or its metadata lists no
    platforms (the platforms would then come from the packages)."""
    try:
        text = read_lock_text(path)
    except LockfileError:
        return None
    cut = text.find("\npackage:")
    # after `package:`, only its items: another top-level key (a second `metadata:`) would make the
    # whole file's metadata differ from the head's
    if cut < 0 or _TOP_LEVEL_KEY.search(text, cut + 1 + len("package:")):
        return None
    try:
        head = lockfile_from_text(text[: cut + 1], path)
    except LockfileError:
        return None
    return head if head.metadata.platforms else None
