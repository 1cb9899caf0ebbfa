"""Atomic prefixes: build an environment in a hidden sibling directory and rename it into place.

The sibling `.<name>.cenv-tmp-<random>` lives in the target's parent, so the final rename never crosses
file systems. While it is being built its owner holds filelock's `FileLock` on the sibling file
`.<name>.cenv-lock-<random>`, made before the directory: a `.cenv-tmp-*` whose lock file is gone or can be
taken belongs to a process that died (even by SIGKILL) and is removed by the next create. Another
process's lock files are probed with filelock's `lock_descriptor` (the same lock, one non-blocking try) on
a descriptor opened without O_CREAT: `FileLock` would create a lock file that is gone (its absence is how
a swapped or an old-style directory is recognised) and truncate one it takes. The lock lives
outside the environment, so the final rename leaves nothing of cenv's inside it whenever the process
dies. A name too long for these siblings is shortened in them (with a hash of the full name). Replacing
an existing environment (`--force`) swaps the two directories with `renameat2(RENAME_EXCHANGE)` where the
kernel has it (Linux), else with two renames.

Signals: the CLI's SIGINT/SIGTERM handler is `interrupt`; a signal that comes during the final rename is
held until the rename is done, and once the environment is in place the create is complete, whatever
signal follows.
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
from typing import IO, TYPE_CHECKING

from cenv.errors import InstallError

if TYPE_CHECKING:
    from filelock import FileLock

__all__ = [
    "StagedPrefix",
    "check_target",
    "clean_stale_siblings",
    "interrupt",
    "is_empty_dir",
    "staged_prefix",
]

_LOCK_NAME = ".cenv-building"  # inside `.cenv-tmp-*` directories of earlier cenv versions
_STALE_UNLOCKED_AFTER_S = 30.0  # an old-style `.cenv-init-*` with no lock file yet is someone else's
_NAME_MAX = 255  # bytes in one file name (Linux, macOS, Windows)
_SIBLING_EXTRA = len(".") + len(".cenv-lock-") + 8  # the longest sibling decoration, random part included


class _SignalGate:
    """What `interrupt` does: raise, hold the signal through the final rename, or (afterwards) ignore it."""

    critical = False
    held: int | None = None
    done = False


_gate = _SignalGate()


def interrupt(signum: int, frame: object) -> None:
    """SIGINT/SIGTERM handler for a create: KeyboardInterrupt (the staging is removed while unwinding),
    except while the environment is being renamed into place (held) or once it is there (ignored)."""
    if _gate.done:
        return
    if _gate.critical:
        _gate.held = signum
        return
    raise KeyboardInterrupt


def _stem(final: Path) -> str:
    """The target's name as used in its siblings' names: shortened, with a hash, where it would not fit."""
    name = final.name
    encoded = os.fsencode(name)
    if len(encoded) + _SIBLING_EXTRA <= _NAME_MAX:
        return name
    import hashlib

    room = _NAME_MAX - _SIBLING_EXTRA - 9
    short = encoded[:room].decode("utf-8", "ignore") if sys.platform != "win32" else name[: room // 4]
    return f"{short}~{hashlib.sha256(encoded).hexdigest()[:8]}"


def _tmp_glob(final: Path) -> str:
    return f".{_stem(final)}.cenv-tmp-*"


def _lock_glob(final: Path) -> str:
    return f".{_stem(final)}.cenv-lock-*"


def _init_glob(final: Path) -> str:
    return f".{_stem(final)}.cenv-init-*"


def _old_glob(final: Path) -> str:
    return f".{_stem(final)}.cenv-old-*"


def is_empty_dir(path: Path) -> bool:
    try:
        return not any(os.scandir(path))
    except OSError:
        return False


def check_target(final: Path, force: bool) -> bool:
    """Refuse targets cenv must not touch; True if an existing environment will be replaced."""
    size = len(os.fsencode(final.name))
    if size > _NAME_MAX:
        raise InstallError(
            f"the environment name `{final.name[:40]}...` is {size} bytes long; a file name can have at most "
            f"{_NAME_MAX}",
            hints=["choose a shorter `-p PREFIX` or `-n NAME`"],
        )
    try:
        final.lstat()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise InstallError(
            f"cannot use `{final}`: {exc.strerror or exc}", hints=["choose another `-p PREFIX`"]
        ) from exc
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
    """One non-blocking try at the lock of an existing lock file (kept until `handle` closes); False when
    another process holds it, or when the file system refuses locks (then nothing is judged dead)."""
    from filelock import lock_descriptor

    try:
        return lock_descriptor(handle.fileno(), blocking=False)
    except OSError:
        return False


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():  # a file written concurrently by a dying engine thread; try once more
        time.sleep(0.05)
        shutil.rmtree(path, ignore_errors=True)


def _token(path: Path) -> str:
    return path.name.rsplit("-", 1)[-1]


def clean_stale_siblings(final: Path) -> list[Path]:
    """Remove half-built (`.cenv-tmp-*`) and replaced (`.cenv-old-*`) siblings of `final` whose owner died,
    and their lock files."""
    parent = final.parent
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    for old in parent.glob(_old_glob(final)):
        _remove_tree(old)
        removed.append(old)
    live: set[str] = set()
    for lock_path in parent.glob(_lock_glob(final)):
        try:
            handle = open(lock_path, "rb")  # noqa: SIM115
        except OSError:
            continue
        with handle:
            if not _try_lock(handle):
                live.add(_token(lock_path))
                continue
            tmp = lock_path.with_name(lock_path.name.replace(".cenv-lock-", ".cenv-tmp-"))
            if tmp.exists():
                _remove_tree(tmp)
                removed.append(tmp)
            with contextlib.suppress(OSError):
                lock_path.unlink()
            removed.append(lock_path)
    # directories without a lock file of their own (a create makes its lock first; one that appeared since
    # the pass above belongs to a create that just started): left by a dead create, or by an earlier cenv
    # version (then locked by `.cenv-building` inside)
    candidates = [
        (p, True)
        for p in parent.glob(_tmp_glob(final))
        if _token(p) not in live and not p.with_name(p.name.replace(".cenv-tmp-", ".cenv-lock-")).exists()
    ]
    candidates += [(p, False) for p in parent.glob(_init_glob(final))]
    for tmp, always_locked in candidates:
        if not tmp.exists():
            continue
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


def relocate_file(path: Path, data: bytes, old: bytes, new: bytes) -> None:
    """Write `data` (read from `path`) back with the staging path `old` replaced by the final `new`.

    A new file renamed over the old one, its mode kept, not an in-place write: the old one may be a hard
    link into a cache."""
    fresh = path.with_name(f".{path.name}.cenv-relocate")
    fresh.write_bytes(data.replace(old, new))
    shutil.copymode(path, fresh)
    os.replace(fresh, path)


class StagedPrefix:
    """A temporary sibling of `final`; `commit()` renames it into place, `discard()` removes it."""

    def __init__(self, final: Path) -> None:
        self.final = final
        token = secrets.token_hex(4)
        self.path = final.parent / f".{_stem(final)}.cenv-tmp-{token}"
        self.lock_path = final.parent / f".{_stem(final)}.cenv-lock-{token}"
        self._lock: FileLock | None = None
        self.committed = False

    def create(self) -> None:
        from filelock import FileLock, Timeout

        os.close(os.open(self.lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))  # a new file, ours
        # Not thread-local: commit or discard may run on another thread than create. No soft-lock fallback
        # where the file system has no flock: the probes above read only the kernel lock. As before, a file
        # system that refuses locks still builds (a cleaner may then judge the build dead).
        self._lock = FileLock(os.fspath(self.lock_path), thread_local=False, fallback_to_soft=False)
        with contextlib.suppress(Timeout, OSError):
            self._lock.acquire(blocking=False)
        self.path.mkdir()  # after the lock: a `.cenv-tmp-*` without a locked lock file is dead

    def _release_lock(self) -> None:
        with contextlib.suppress(OSError):
            self.lock_path.unlink()  # gone before the lock is let go: a prober never takes a live one
        if self._lock is not None:
            with contextlib.suppress(OSError):
                self._lock.release()
            self._lock = None

    def commit(self, replace: bool) -> None:
        """Move the finished environment to `final`, replacing an existing one only when `replace`.

        A SIGINT/SIGTERM (through `interrupt`) that comes meanwhile is held; once the rename is done the
        environment is complete and such signals are ignored. If the rename fails, a held one is raised."""
        _gate.critical, _gate.held = True, None
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
            self.committed = _gate.done = True
        except OSError as exc:
            raise InstallError(
                f"cannot move the new environment to `{self.final}`: {exc.strerror or exc}"
            ) from exc
        finally:
            _gate.critical = False
            if not self.committed and _gate.held is not None:
                raise KeyboardInterrupt
        self._release_lock()

    def _swap(self) -> None:
        old = self.final.parent / f".{_stem(self.final)}.cenv-old-{secrets.token_hex(4)}"
        if _exchange(self.path, self.final):
            self.committed = _gate.done = True  # the new environment is in place
            # self.path now holds the previous environment; if it cannot move, the next create removes it
            with contextlib.suppress(OSError):
                os.rename(self.path, old)
        else:
            os.rename(self.final, old)
            os.rename(self.path, self.final)
        _remove_tree(old)

    def discard(self) -> None:
        if self.committed:
            self._release_lock()
            return
        _remove_tree(self.path)
        self._release_lock()


@contextlib.contextmanager
def staged_prefix(final: Path) -> Iterator[StagedPrefix]:
    """Yield a fresh staging directory for `final`; removed again unless committed (also on Ctrl-C)."""
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InstallError(f"cannot create `{final.parent}`: {exc.strerror or exc}") from exc
    clean_stale_siblings(final)
    _gate.done = False
    staged = StagedPrefix(final)
    try:
        staged.create()
    except OSError as exc:
        staged.discard()
        raise InstallError(
            f"cannot write in `{final.parent}`: {exc.strerror or exc}",
            hints=["choose a `-p PREFIX` in a writable directory"],
        ) from exc
    try:
        yield staged
    finally:
        staged.discard()
