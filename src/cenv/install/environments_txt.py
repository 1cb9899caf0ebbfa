"""`~/.conda/environments.txt`: the list of environments `conda env list` shows (conda/core/envs_manager.py).

One absolute, normalised prefix per line. conda appends a location unless it is already listed, and when
it unregisters one it rewrites the file without it and without lines that are no longer environments
(a directory without `conda-meta/history`). `CONDA_REGISTER_ENVS=false` (conda's `register_envs` setting)
turns registration off.

conda takes no lock (envs_manager.register_env appends with `open(path, "a")`, _rewrite_environments_txt
rewrites with `open(path, "w")`); cenv holds an advisory lock on the file itself while it reads and writes,
so two cenv processes do not lose each other's lines. The lock is on conda's own file, not on a lock file
beside it, so that it is the file the lock is about whichever program made it: filelock's `lock_descriptor`
(the lock its `FileLock` takes, on a descriptor cenv opened), not `FileLock`, which truncates the file it
locks. Not on Windows, where such a lock is mandatory and would fail conda's own reads meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = [
    "environments_txt",
    "is_environment",
    "register_env",
    "registered",
    "registration_enabled",
    "unregister_env",
]


def environments_txt() -> Path:
    """conda's `get_user_environments_txt_file()`: `~/.conda/environments.txt`."""
    return Path(os.path.expanduser(os.path.join("~", ".conda", "environments.txt")))


def registration_enabled() -> bool:
    """conda's `register_envs` (default true): CONDA_REGISTER_ENVS, else a .condarc's `register_envs`."""
    from cenv.config import current_config

    return current_config().register_envs


def is_environment(prefix: str | Path) -> bool:
    """conda's `PrefixData.is_environment()`: the prefix has `conda-meta/history`."""
    return os.path.isfile(os.path.join(prefix, "conda-meta", "history"))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[IO[str]]:
    """The file open for reading and appending, after the bounded config reader judged it (a regular
    file, not too large, UTF-8: `ConfigFileError` naming it otherwise)."""
    from cenv.config_files import check_config_file

    path.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(path):
        check_config_file(path, "environments.txt")
    with open(path, "a+", encoding="utf-8") as handle:
        if sys.platform != "win32":
            from filelock import lock_descriptor

            lock_descriptor(handle.fileno(), poll_interval=0.01)  # waits; released when the file closes
        handle.seek(0)
        yield handle


def _lines(handle: IO[str]) -> list[str]:
    # conda's yield_lines: stripped, without blank lines and `#` comments
    return [s for s in (line.strip() for line in handle.read().splitlines()) if s and not s.startswith("#")]


def registered() -> list[str]:
    from cenv.config_files import read_config_text

    path = environments_txt()
    if not os.path.lexists(path):
        return []
    text = read_config_text(path, "environments.txt")
    return [s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith("#")]


def register_env(prefix: Path) -> None:
    """Add `prefix` to environments.txt unless it is listed (conda's `register_env`). Raises OSError."""
    location = os.path.normpath(prefix)
    with _locked(environments_txt()) as handle:
        existing = handle.read()
        handle.seek(0)
        if location in _lines(handle):
            return
        separator = "\n" if existing and not existing.endswith("\n") else ""
        handle.write(f"{separator}{location}\n")  # "a+": appended whatever the position


def unregister_env(prefix: Path) -> None:
    """Remove `prefix` (and lines that are no longer environments) from environments.txt, as conda's
    `unregister_env` does once an environment is gone. Raises OSError."""
    path = environments_txt()
    if not path.is_file():
        return
    location = os.path.normpath(prefix)
    with _locked(path) as handle:
        lines = _lines(handle)
        kept = [p for p in lines if p != location and is_environment(p)]
        if kept == lines:
            return
        handle.seek(0)
        handle.truncate()
        handle.write("".join(f"{p}\n" for p in kept))
