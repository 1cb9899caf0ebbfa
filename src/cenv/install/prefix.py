"""Atomic prefixes: build an environment in a hidden sibling directory and rename it into place.

The sibling `.<name>.cenv-tmp-<random>` lives in the target's parent, so the final rename never crosses
file systems. While it is being built its owner holds an exclusive `flock` on `<tmp>/.cenv-building`
(the directory is made as `.cenv-init-*` and renamed to `.cenv-tmp-*` once the lock is held, so every
`.cenv-tmp-*` has one); a sibling whose lock can be taken belongs to a process that died (even by SIGKILL)
and is removed by the next create. Replacing an existing environment (`--force`) swaps the two
directories with `renameat2(RENAME_EXCHANGE)` where the kernel has it (Linux), else with two renames.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import secrets
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from cenv.errors import InstallError

__all__ = ["StagedPrefix", "check_target", "clean_stale_siblings", "is_empty_dir", "staged_prefix"]

_LOCK_NAME = ".cenv-building"
_STALE_UNLOCKED_AFTER_S = 30.0  # a temp dir with no lock file yet is someone else's until this old


def _tmp_glob(final: Path) -> str:
    return f".{final.name}.cenv-tmp-*"


def _init_glob(final: Path) -> str:
    return f".{final.name}.cenv-init-*"


def _old_glob(final: Path) -> str:
    return f".{final.name}.cenv-old-*"


def is_empty_dir(path: Path) -> bool:
    try:
        return not any(os.scandir(path))
    except OSError:
        return False


def check_target(final: Path, force: bool) -> bool:
    """Refuse targets cenv must not touch; True if an existing environment will be replaced."""
    if final.is_symlink() or (final.exists() and not final.is_dir()):
        raise InstallError(f"`{final}` exists and is not a directory")
    if not final.exists() or is_empty_dir(final):
        return False
    if not force:
        raise InstallError(
            f"`{final}` already exists and is not empty",
            hints=["pass `--force` to replace it, or choose another `-p PREFIX` / `-n NAME`"],
        )
    if not (final / "conda-meta").is_dir():
        raise InstallError(
            f"`{final}` is not a conda environment (no conda-meta); refusing to replace it",
            hints=["remove it yourself if it is really meant to go"],
        )
    return True


def _try_lock(handle: IO[bytes]) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():  # a file written concurrently by a dying engine thread; try once more
        time.sleep(0.05)
        shutil.rmtree(path, ignore_errors=True)


def clean_stale_siblings(final: Path) -> list[Path]:
    """Remove half-built (`.cenv-tmp-*`) and replaced (`.cenv-old-*`) siblings of `final` whose owner died."""
    parent = final.parent
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    for old in parent.glob(_old_glob(final)):
        _remove_tree(old)
        removed.append(old)
    candidates = [(p, True) for p in parent.glob(_tmp_glob(final))]
    candidates += [(p, False) for p in parent.glob(_init_glob(final))]
    for tmp, always_locked in candidates:
        lock_file = tmp / _LOCK_NAME
        try:
            handle = open(lock_file, "rb")  # noqa: SIM115
        except FileNotFoundError:
            # a `.cenv-tmp-*` without its lock is left over from a swap; an `.cenv-init-*` may be starting
            with contextlib.suppress(OSError):
                if always_locked or time.time() - tmp.stat().st_mtime > _STALE_UNLOCKED_AFTER_S:
                    _remove_tree(tmp)
                    removed.append(tmp)
            continue
        except OSError:
            continue
        with handle:
            if not _try_lock(handle):
                continue  # a live create owns it
            _remove_tree(tmp)
            removed.append(tmp)
    return removed


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two directories (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EPERM, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(a))


class StagedPrefix:
    """A temporary sibling of `final`; `commit()` renames it into place, `discard()` removes it."""

    def __init__(self, final: Path) -> None:
        self.final = final
        self.path = final.parent / f".{final.name}.cenv-tmp-{secrets.token_hex(4)}"
        self._lock: IO[bytes] | None = None
        self.committed = False

    def create(self) -> None:
        init = self.path.with_name(self.path.name.replace(".cenv-tmp-", ".cenv-init-"))
        init.mkdir()
        self._lock = open(init / _LOCK_NAME, "wb")  # noqa: SIM115
        _try_lock(self._lock)
        os.rename(init, self.path)  # the open handle keeps the lock

    def _release_lock(self) -> None:
        with contextlib.suppress(OSError):
            (self.path / _LOCK_NAME).unlink()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def commit(self, replace: bool) -> None:
        """Move the finished environment to `final`, replacing an existing one only when `replace`."""
        try:
            if self.final.exists() and not is_empty_dir(self.final):
                if not replace:
                    raise InstallError(
                        f"`{self.final}` appeared while the environment was being built",
                        hints=["another create wrote it; pass `--force` to replace it"],
                    )
                self._swap()
            else:
                if sys.platform == "win32" and self.final.exists():
                    self.final.rmdir()
                os.rename(self.path, self.final)
        except OSError as exc:
            raise InstallError(
                f"cannot move the new environment to `{self.final}`: {exc.strerror or exc}"
            ) from exc
        finally:
            if self._lock is not None:
                self._lock.close()
                self._lock = None
        self.committed = True
        with contextlib.suppress(OSError):
            (self.final / _LOCK_NAME).unlink()  # not part of the environment

    def _swap(self) -> None:
        old = self.final.parent / f".{self.final.name}.cenv-old-{secrets.token_hex(4)}"
        if _exchange(self.path, self.final):
            os.rename(self.path, old)  # self.path now holds the previous environment
        else:
            os.rename(self.final, old)
            os.rename(self.path, self.final)
        _remove_tree(old)

    def discard(self) -> None:
        if self.committed:
            return
        self._release_lock()
        _remove_tree(self.path)


@contextlib.contextmanager
def staged_prefix(final: Path) -> Iterator[StagedPrefix]:
    """Yield a fresh staging directory for `final`; removed again unless committed (also on Ctrl-C)."""
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InstallError(f"cannot create `{final.parent}`: {exc.strerror or exc}") from exc
    clean_stale_siblings(final)
    staged = StagedPrefix(final)
    try:
        staged.create()
    except OSError as exc:
        raise InstallError(f"cannot write in `{final.parent}`: {exc.strerror or exc}") from exc
    try:
        yield staged
    finally:
        staged.discard()
