"""Small files in cenv's own cache (validated specs, pip dependency graphs): each written whole or not at
all, the oldest dropped past a bound. A cache that cannot be written is skipped: it only saves time."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["store_text"]


def store_text(folder: Path, name: str, text: str, keep: int) -> None:
    """`text` as `folder/name` (a temporary file renamed over it); then, past `keep` entries in `folder`,
    the oldest go. Any OSError is swallowed."""
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{name}.{secrets.token_hex(4)}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, folder / name)
        entries = list(os.scandir(folder))
        if len(entries) <= keep:
            return
        entries.sort(key=lambda e: e.stat().st_mtime)
        for entry in entries[: len(entries) - keep]:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
