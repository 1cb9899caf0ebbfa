"""cenv's log files (`<cache>/logs/`): a tool's whole output or an internal error's traceback, credentials
redacted, readable by the user only. The messages name them; they are never needed to go on."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from cenv.redact import redact


def log_dir() -> Path:
    from cenv.env_vars import cache_root

    return cache_root() / "logs"


def write_log(text: str, stem: str, folders: Sequence[Path] | None = None) -> Path | None:
    """`text` (credentials redacted) as `<folder>/<stem>-<time>-<pid>.log` in the first of `folders` (default:
    the log folder) that takes it; None when none does."""
    name = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    for folder in folders or (log_dir(),):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(redact(text))
            return path
        except OSError:
            continue
    return None
