"""Bytecode compiled once per package and interpreter, kept in the package cache entry, linked into each
environment like the package's other files.

conda compiles a noarch python package's modules in every environment it links them into
(CompileMultiPycAction in conda/core/path_actions.py). The `.pyc` of a module depends only on the module's
bytes and the interpreter's bytecode format, and Python re-targets `co_filename` to the module's actual path
when it loads one (`SourceLoader.get_code` calls `_imp._fix_co_filename`), so cenv compiles each package once
per interpreter into `<pkgs>/<dist>/.cenv-pyc/<cache tag>-<magic number>/` and hard-links the files into every
environment next to the sources (a copy where a hard link is impossible). The `.pyc` files keep timestamp
validation: their header holds the source's mtime and size, which a hard-linked source shares with the cache,
so an edited source is compiled again by Python as usual.

An entry's bytecode is bound to the entry it was compiled from: its manifest records the entry's binding
(`archive_guard.entry_binding`: the archive's checksum and paths.json's identity, taken while the package
cache lock was held), and the size, mtime and inode of every `.pyc`; anything else (an entry extracted
again, another archive of the same name, a changed `.pyc`) and the package is compiled again.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import stat
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

__all__ = [
    "PYC_DIR",
    "Cached",
    "CompileJob",
    "Interpreter",
    "cached_pycs",
    "discard",
    "entry_sources",
    "known_interpreter",
    "link_checked",
    "link_files",
    "probe",
    "remember",
    "store",
    "verified",
]

PYC_DIR = ".cenv-pyc"
_MANIFEST = "manifest.json"
_INTERPRETER = "interpreter.json"
_STALE_S = 1200  # twice pyc_compile's timeout: older temporaries belong to killed creates
_PROBE = (
    "import sys; from importlib._bootstrap_external import MAGIC_NUMBER as m; "
    "print(sys.implementation.cache_tag, m.hex())"
)


@dataclass(frozen=True)
class Interpreter:
    """The bytecode format of an environment's python: what a cached `.pyc` must match."""

    python: Path
    cache_tag: str  # `cpython-311`: the `.pyc` name's middle part
    magic: str  # importlib's MAGIC_NUMBER, hex

    @property
    def key(self) -> str:
        return f"{self.cache_tag}-{self.magic}"

    def pyc_path(self, source: str) -> str:
        """`a/b.py` -> `a/__pycache__/b.cpython-311.pyc` (importlib.util.cache_from_source). Strings, as
        `PurePosixPath` would (tests/test_bytecode_cache.py): this runs for every module of every package."""
        head, sep, name = source.rpartition("/")
        if name in ("", ".", "..") or "//" in source or "/./" in "/" + source:  # what a Path would normalize
            path = PurePosixPath(source)
            return str(path.parent / "__pycache__" / f"{path.stem}.{self.cache_tag}.pyc")
        dot = name.rfind(".")
        stem = name[:dot] if 0 < dot < len(name) - 1 else name  # PurePath.stem
        return f"{head}{sep}__pycache__/{stem}.{self.cache_tag}.pyc"


def probe(python: Path) -> Interpreter | None:
    """Ask the environment's python for its cache tag and magic number; None when it cannot run."""
    try:
        out = subprocess.run(
            [str(python), "-I", "-S", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    words = out.stdout.split()
    if out.returncode != 0 or len(words) != 2 or not words[0].isascii() or "/" in words[0]:
        return None
    try:
        bytes.fromhex(words[1])
    except ValueError:
        return None
    return Interpreter(python, words[0], words[1])


def _pyc_root(entry: Path, interpreter: Interpreter) -> Path:
    return entry / PYC_DIR / interpreter.key


def _identity(st: os.stat_result) -> list[int]:
    """What a manifest records of a `.pyc`: [size, mtime_ns, inode]."""
    return [st.st_size, st.st_mtime_ns, st.st_ino]


@dataclass(frozen=True)
class Cached:
    """An entry's bytecode for one interpreter, as its manifest lists it."""

    root: Path  # the `.pyc` files lie under root, at their prefix-relative paths
    pycs: frozenset[str]
    sources: tuple[str, ...]  # sorted, prefix-relative: what was compiled
    identities: Mapping[str, list[int]] = field(default_factory=dict)  # .pyc: [size, mtime_ns, inode]


def cached_manifest(entry: Path, interpreter: Interpreter, binding: str) -> Cached | None:
    """The entry's bytecode for `interpreter` as its manifest lists it, when it was compiled from this very
    entry (its files not checked yet: `link_checked`, `verified`)."""
    root = _pyc_root(entry, interpreter)
    try:
        manifest = json.loads((root / _MANIFEST).read_bytes())
        if not isinstance(manifest, dict) or manifest.get("binding") != binding:
            return None
        files, sources = manifest["pyc"], manifest["sources"]
        if not isinstance(files, dict) or not isinstance(sources, list):
            return None
        for rel, identity in files.items():
            # an identity is only ever compared with a stat's, so a bogus one fails that comparison
            if not isinstance(rel, str) or _unsafe(rel) or not isinstance(identity, list):
                return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Cached(root, frozenset(files), tuple(str(x) for x in sources), files)


def _same(st: os.stat_result, identity: Sequence[int]) -> bool:
    return _identity(st) == identity


def verified(cached: Cached) -> bool:
    """Whether every `.pyc` of `cached` is still the file its manifest recorded (size, mtime, inode)."""
    root = os.path.join(cached.root, "")  # strings, not Paths: this runs for every cached file
    lstat = os.lstat
    try:
        return all(_same(lstat(root + rel), identity) for rel, identity in cached.identities.items())
    except OSError:
        return False


def cached_pycs(entry: Path, interpreter: Interpreter, binding: str) -> Cached | None:
    """The entry's bytecode for `interpreter`, or None when it has none, was not compiled from this very
    entry, or a `.pyc` changed since."""
    cached = cached_manifest(entry, interpreter, binding)
    return cached if cached is not None and verified(cached) else None


def known_interpreter(python_entry: Path, binding: str | None, python: Path) -> Interpreter | None:
    """The interpreter of the python package extracted at `python_entry`, as `remember` recorded it after
    a probe (the same entry runs the same interpreter): lets cached bytecode be linked before the
    environment's python is there."""
    if binding is None:
        return None
    try:
        data = json.loads((python_entry / PYC_DIR / _INTERPRETER).read_bytes())
        if not isinstance(data, dict) or data.get("binding") != binding:
            return None
        tag, magic = str(data["cache_tag"]), str(data["magic"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not tag.isascii() or "/" in tag or not tag:
        return None
    return Interpreter(python, tag, magic)


def remember(python_entry: Path, binding: str, interpreter: Interpreter) -> None:
    """Record the probed interpreter beside the python package's entry (best effort)."""
    data = {"binding": binding, "cache_tag": interpreter.cache_tag, "magic": interpreter.magic}
    with contextlib.suppress(OSError):
        folder = python_entry / PYC_DIR
        folder.mkdir(exist_ok=True)
        tmp = folder / f".{_INTERPRETER}.{secrets.token_hex(4)}"
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, folder / _INTERPRETER)


def _unsafe(rel: str) -> bool:
    if not rel or rel[0] == "/" or "\x00" in rel:
        return True
    return ".." in rel and ".." in rel.split("/")  # the substring test first: this runs for every file


@dataclass(frozen=True)
class CompileJob:
    """One package's modules, compiled from the environment's (hard-linked) sources into a temporary
    directory of its cache entry, then moved into place by `store`."""

    dist: str
    entry: Path
    binding: str
    sources: tuple[str, ...]  # prefix-relative
    pycs: tuple[str, ...]  # prefix-relative, one per source
    tmp: Path
    # where each source is read from, when not from the environment: the cache entry's own file (the one
    # hard-linked into the environment, same mtime and size), for compiling before the link
    origins: tuple[str, ...] | None = None

    @classmethod
    def make(
        cls,
        dist: str,
        entry: Path,
        binding: str,
        sources: Sequence[str],
        interpreter: Interpreter,
        origins: Sequence[str] | None = None,
    ) -> CompileJob:
        _remove_stale(entry / PYC_DIR)
        tmp = entry / PYC_DIR / f".{interpreter.key}.{secrets.token_hex(4)}"
        pycs = tuple(interpreter.pyc_path(s) for s in sources)
        return cls(
            dist, entry, binding, tuple(sources), pycs, tmp, None if origins is None else tuple(origins)
        )


def entry_sources(entry: Path, site_packages: str) -> tuple[list[str], list[str]] | None:
    """A noarch python package's modules as its extracted entry lists them: (prefix-relative paths, as
    rattler links them under `site_packages`, the entry's own files), leaving out files with a prefix
    placeholder (rewritten when linked); None for any other package."""
    try:
        index = json.loads((entry / "info" / "index.json").read_bytes())
        if not isinstance(index, dict) or index.get("noarch") != "python":
            return None
        paths = json.loads((entry / "info" / "paths.json").read_bytes())["paths"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    sources: list[str] = []
    origins: list[str] = []
    head = site_packages.rstrip("/") + "/"
    for item in paths if isinstance(paths, list) else ():
        rel = item.get("_path") if isinstance(item, dict) else None
        if not isinstance(rel, str) or not rel.startswith("site-packages/") or not rel.endswith(".py"):
            continue
        if _unsafe(rel) or item.get("prefix_placeholder") or item.get("path_type", "hardlink") != "hardlink":
            continue
        sources.append(head + rel[len("site-packages/") :])
        origins.append(str(entry / rel))
    return sources, origins


def _remove_stale(folder: Path) -> None:
    """Temporary directories of killed creates (older than any compilation runs)."""
    now = time.time()
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            path = folder / name
            with contextlib.suppress(OSError):
                if name.startswith(".") and now - path.lstat().st_mtime > _STALE_S:
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        path.unlink()


def store(job: CompileJob, interpreter: Interpreter) -> tuple[Path, frozenset[str]]:
    """Move what `job` compiled into its cache entry (manifest first, then one rename; a concurrent
    create that stored the same package first wins). Returns where the `.pyc` files are and which."""
    final = _pyc_root(job.entry, interpreter)
    identities = _compiled(job)
    compiled = list(identities)
    try:
        manifest = {"binding": job.binding, "sources": sorted(job.sources), "pyc": identities}
        (job.tmp / _MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
        if final.exists():
            current = cached_pycs(job.entry, interpreter, job.binding)
            if current is not None and current.sources == tuple(sorted(job.sources)):
                discard(
                    job
                )  # a concurrent create stored the same bytecode first: keep it (it may be linking)
                return current.root, current.pycs
            # stale (another binding, or changed): this run's replaces it
            aside = final.with_name(f".{final.name}.discard-{secrets.token_hex(4)}")
            os.rename(final, aside)
            shutil.rmtree(aside, ignore_errors=True)
        os.rename(job.tmp, final)
    except OSError:
        return job.tmp, frozenset(compiled)  # linked from the temporary directory, removed afterwards
    return final, frozenset(compiled)


def _compiled(job: CompileJob) -> dict[str, list[int]]:
    """{.pyc: its identity} for what `job` compiled: one lstat each (strings, not Paths: 15k files in a
    large environment)."""
    base = os.path.join(job.tmp, "")
    found = {}
    for rel in job.pycs:
        try:
            st = os.lstat(base + rel)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            found[rel] = _identity(st)
    return found


def discard(job: CompileJob) -> None:
    shutil.rmtree(job.tmp, ignore_errors=True)


_COPY_ERRORS = (errno.EXDEV, errno.EMLINK, errno.EPERM, errno.ENOTSUP)


class _Linker:
    """Hard links (copies where a hard link is impossible) from one root into the staging, with string
    paths, one `makedirs` per folder, and `os.link` relative to the folders' descriptors (the kernel
    walks each folder's path once, not once per file): this runs for every `.pyc` of every environment.
    Holds two descriptors at most (the rels come sorted, a folder's files together); `close` them."""

    def __init__(self, root: Path, staging: Path) -> None:
        self.root = os.path.join(root, "")
        self.base = os.path.join(staging, "")
        self.folders: set[str] = set()
        self.can_link = True
        self._open: tuple[str, int, int] | None = None  # (folder, its fd in root, its fd in the staging)

    def folder(self, rel: str) -> None:
        parent = rel.rpartition("/")[0]
        if parent not in self.folders:
            os.makedirs(self.base + parent, exist_ok=True)
            self.folders.add(parent)

    def _fds(self, parent: str) -> tuple[int, int]:
        if self._open is not None and self._open[0] == parent:
            return self._open[1], self._open[2]
        self.close()
        flags = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)
        src = os.open(self.root + parent, flags)
        try:
            dst = os.open(self.base + parent, flags)
        except BaseException:
            os.close(src)
            raise
        self._open = (parent, src, dst)
        return src, dst

    def close(self) -> None:
        if self._open is not None:
            _, src, dst = self._open
            self._open = None
            os.close(src)
            os.close(dst)

    def link(self, rel: str) -> bool:
        """Hard-link `rel`; False where that is impossible (`copy` it instead). Raises FileExistsError and
        FileNotFoundError as `os.link` does."""
        if not self.can_link:
            return False
        try:
            parent, _, name = rel.rpartition("/")
            src, dst = self._fds(parent)
            os.link(name, name, src_dir_fd=src, dst_dir_fd=dst)
        except (FileExistsError, FileNotFoundError):
            raise
        except OSError as exc:
            if exc.errno not in _COPY_ERRORS:
                raise
            self.can_link = exc.errno == errno.EMLINK  # across file systems: copy the rest too
            return False
        return True

    def linked_stat(self, rel: str) -> os.stat_result:
        """The lstat of what `link` made (the very directory entry, through the staging folder's fd)."""
        parent, _, name = rel.rpartition("/")
        return os.stat(name, dir_fd=self._fds(parent)[1], follow_symlinks=False)

    def copy(self, rel: str) -> None:
        shutil.copy2(self.root + rel, self.base + rel)


class _Changed(Exception):
    """A cached `.pyc` is not the file its manifest recorded."""


def link_checked(cached: Cached, staging: Path) -> list[str] | None:
    """Hard-link every `.pyc` of `cached` into `staging`, each checked to be the file its manifest recorded
    (size, mtime, inode): for a hard link, the link's own stat (the very file linked, no window between
    check and link); for a copy (another file system), the cached file's before it is copied. None when one
    is not (or is gone), with the files linked here removed again: the package is then compiled again. An
    existing file in the environment is kept (the cached one is still checked). The paths now there."""
    linker = _Linker(cached.root, staging)
    try:
        return _link_each_checked(cached, linker)
    finally:
        linker.close()


def _link_each_checked(cached: Cached, linker: _Linker) -> list[str] | None:
    lstat = os.lstat
    made: list[str] = []
    linked: list[str] = []
    try:
        for rel in sorted(cached.identities):
            identity = cached.identities[rel]
            linker.folder(rel)
            try:
                if linker.link(rel):
                    made.append(rel)
                    if not _same(linker.linked_stat(rel), identity):
                        raise _Changed
                else:
                    if not _same(lstat(linker.root + rel), identity):
                        raise _Changed
                    linker.copy(rel)
                    made.append(rel)
            except FileExistsError:
                if not _same(lstat(linker.root + rel), identity):
                    raise _Changed from None
            linked.append(rel)
    except (_Changed, FileNotFoundError):
        for rel in made:
            with contextlib.suppress(OSError):
                os.unlink(linker.base + rel)
        return None
    return linked


def link_files(root: Path, rels: Iterable[str], staging: Path) -> list[str]:
    """Hard-link `root/rel` to `staging/rel` for each of `rels` (a copy across file systems or past the
    link limit); an existing file in the environment is kept. The paths now in the environment."""
    linker = _Linker(root, staging)
    linked: list[str] = []
    try:
        for rel in rels:
            linker.folder(rel)
            try:
                if not linker.link(rel):
                    linker.copy(rel)
            except FileExistsError:
                pass
            except FileNotFoundError:  # a concurrent create replaced the stale bytecode: Python compiles it
                continue
            linked.append(rel)
    finally:
        linker.close()
    return linked
