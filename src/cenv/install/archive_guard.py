"""Refuse hostile or broken package archives before rattler extracts them, and package-cache entries that
no longer match their own `info/paths.json` before rattler links them.

What rattler 0.28 does by itself (measured, see `tests/test_hostile_archives.py`): its tar reader skips
`../` members and strips the leading `/` of absolute ones (into the cache entry), and refuses to write
through a symbolic link that leaves the extraction directory. It does *not* check the paths it links:
a `paths.json` (or, without one, `info/files`) entry `../x` is copied to `PREFIX/../x`, and an absolute
one panics a rayon thread, which aborts the process. It never compares files with the sha256/size that
`paths.json` declares, neither at extraction nor when linking from an existing cache entry.

So cenv checks, before anything is extracted, every archive member through rattler's own archive reader
(`PackageArchive.stream`, headers only: the reader cenv checks is the reader rattler extracts with) and
the package's metadata; and before a cache entry is linked, its files against `info/paths.json`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shlex
import shutil
import stat
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cenv.hashing import file_sha256

__all__ = [
    "UnsafePackage",
    "check_archive",
    "check_extracted",
    "check_linked_paths",
    "check_linked_records",
    "check_zip_layout",
    "discard_cache_entry",
    "entry_binding",
    "file_sha256",
    "stamp_matches",
    "stamp_metadata_matches",
    "unsafe_path",
]

_MAX_INFO_FILE = 256 << 20  # bytes of one info/ file read into memory (paths.json of huge packages: ~10 MB)
_PATH_LISTS = ("info/has_prefix", "info/no_link", "info/no_softlink")
_INFO_READ = frozenset({"info/paths.json", "info/files", *_PATH_LISTS})
_STAMP_DIR = ".cenv-verified"


class UnsafePackage(Exception):
    """A package archive or cache entry cenv will not let rattler extract or link. `str()` is the reason."""


def unsafe_path(path: str) -> str | None:
    """Why `path` (from a package) is not a plain path inside the package, or None when it is."""
    if not path or "\x00" in path:
        return "is empty or contains a NUL byte"
    if path.startswith(("/", "\\")) or (len(path) > 1 and path[1] == ":"):
        return "is an absolute path"
    if ".." in path and ".." in path.replace("\\", "/").split("/"):  # split only when it may matter
        return "leaves the package (`..`)"
    return None


def _brief(text: str, limit: int = 120) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _parents(path: str) -> Iterator[str]:
    parts = path.rstrip("/").split("/")
    for i in range(1, len(parts)):
        yield "/".join(parts[:i])


@dataclass(frozen=True)
class _Entry:
    kind: str  # file | dir | symlink | hardlink
    size: int
    target: str | None


# ---------------------------------------------------------------- archives (before extraction)


def check_zip_layout(path: Path) -> None:
    """A `.conda` is a zip; refuse one whose local entries are not exactly its central directory.

    rattler extracts `.conda` files by streaming the local headers; a reader of the central directory
    (Python's, and rattler's random-access one) would not see an entry hidden between them.
    """
    try:
        with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
            infos = sorted(archive.infolist(), key=lambda i: i.header_offset)
            offset = 0
            for info in infos:
                if info.header_offset != offset:
                    raise UnsafePackage(
                        f"the .conda zip has {info.header_offset - offset} unlisted bytes "
                        f"before `{_brief(info.filename)}`"
                    )
                raw.seek(info.header_offset)
                header = raw.read(30)
                if len(header) != 30 or header[:4] != b"PK\x03\x04":
                    raise UnsafePackage(f"the .conda zip entry `{_brief(info.filename)}` has no local header")
                name_len = int.from_bytes(header[26:28], "little")
                extra_len = int.from_bytes(header[28:30], "little")
                offset = info.header_offset + 30 + name_len + extra_len + info.compress_size
                if info.flag_bits & 0x08:  # data descriptor after the data
                    raw.seek(offset)
                    descriptor = raw.read(4)
                    offset += 16 if descriptor == b"PK\x07\x08" else 12
                    if info.file_size >= 0xFFFFFFFF or info.compress_size >= 0xFFFFFFFF:
                        offset += 8
            if offset != archive.start_dir:
                raise UnsafePackage(f"the .conda zip has {archive.start_dir - offset} unlisted bytes")
            names = [i.filename for i in infos]
    except zipfile.BadZipFile as exc:
        raise UnsafePackage(f"the .conda file is not a valid zip: {exc}") from exc
    for kind in ("info-", "pkg-"):
        found = [n for n in names if n.startswith(kind) and n.endswith(".tar.zst")]
        if len(found) != 1:
            raise UnsafePackage(f"the .conda zip has {len(found)} `{kind}*.tar.zst` streams, not 1")


async def _read_entries(path: Path) -> tuple[dict[str, _Entry], dict[str, bytes]]:
    from rattler.package_streaming import PackageArchive

    entries: dict[str, _Entry] = {}
    info: dict[str, bytes] = {}
    symlinks: set[str] = set()
    section = "info"
    name = ""
    try:
        archive = await PackageArchive.from_path(path)
        for section in ("info", "pkg"):
            name = ""
            async for entry in archive.stream(section):  # type: ignore[arg-type]
                name = str(entry.name)
                reason = unsafe_path(name)
                if reason is not None:
                    raise UnsafePackage(f"archive member `{_brief(name)}` {reason}")
                key = name.rstrip("/")
                through = next((p for p in _parents(key) if p in symlinks), None)
                if through is not None:
                    raise UnsafePackage(
                        f"archive member `{_brief(name)}` is written through "
                        f"the symbolic link `{_brief(through)}`"
                    )
                target = None if entry.link_target is None else str(entry.link_target)
                if entry.is_symlink:
                    kind = "symlink"
                    symlinks.add(key)
                elif entry.is_hardlink:
                    kind = "hardlink"
                    reason = unsafe_path(target or "")
                    if reason is not None or target is None or target not in entries:
                        why = reason or "does not name an earlier member"
                        raise UnsafePackage(
                            f"archive member `{_brief(name)}` is a hard link "
                            f"to `{_brief(target or '')}`, which {why}"
                        )
                elif entry.is_file:
                    kind = "file"
                elif name.endswith("/"):
                    kind = "dir"
                else:
                    raise UnsafePackage(f"archive member `{_brief(name)}` is not a file, directory or link")
                entries[key] = _Entry(kind, int(entry.size), target)
                if section == "info" and key in _INFO_READ and kind == "file":
                    if entry.size > _MAX_INFO_FILE:
                        raise UnsafePackage(f"`{key}` is {entry.size} bytes")
                    info[key] = bytes(await entry.read())
    except UnsafePackage:
        raise
    except Exception as exc:  # rattler's reader: corrupt zstd/bzip2/tar, and its own path refusals
        detail = (
            "; ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
        )
        marker = "invalid package-relative archive path: "
        if marker in detail:  # rattler's reader refuses absolute and `..` member names itself
            bad = detail.split(marker, 1)[1].split(";", 1)[0]
            why = unsafe_path(bad) or "is not inside the package"
            raise UnsafePackage(f"archive member `{_brief(bad)}` {why}") from exc
        where = f" after `{_brief(name)}`" if name else ""
        raise UnsafePackage(
            f"the archive's {section} part is corrupt or unsafe{where}: {_brief(detail, 300)}"
        ) from exc
    return entries, info


def _paths_json_entries(data: bytes, where: str) -> list[dict[str, object]]:
    try:
        parsed = json.loads(data)
        paths = parsed["paths"]
        if not isinstance(paths, list) or not all(isinstance(p, dict) for p in paths):
            raise TypeError("`paths` is not a list of objects")
        for p in paths:
            if not isinstance(p.get("_path"), str):
                raise TypeError("an entry has no `_path`")
    except (ValueError, KeyError, TypeError) as exc:
        raise UnsafePackage(f"{where} is not valid: {_brief(str(exc))}") from exc
    return paths


def _path_list(data: bytes, name: str) -> list[str]:
    """Paths in info/files, info/no_link, info/no_softlink (one per line) or info/has_prefix
    (`path` or `placeholder mode path`, shell-quoted when it has spaces)."""
    paths = []
    for line in data.decode("utf-8", "replace").splitlines():
        if not line.strip():
            continue
        if name != "info/has_prefix":
            paths.append(line.strip())
            continue
        try:
            words = shlex.split(line)
        except ValueError:
            words = line.split()
        paths.append(words[-1] if words else line)
    return paths


def _check_metadata(entries: Mapping[str, _Entry], info: Mapping[str, bytes]) -> None:
    """The paths rattler will link (paths.json, else info/files) and the other path lists: inside the
    package, present in the archive with the declared type and size."""
    archive_links = {p for p, e in entries.items() if e.kind == "symlink"}
    if "info/paths.json" in info:
        declared = _paths_json_entries(info["info/paths.json"], "`info/paths.json`")
        listed = "info/paths.json"
    elif "info/files" in info:
        declared = [{"_path": p} for p in _path_list(info["info/files"], "info/files")]
        listed = "info/files"
    else:
        raise UnsafePackage("the package has neither `info/paths.json` nor `info/files`")
    linked_links = archive_links | {str(d["_path"]) for d in declared if d.get("path_type") == "softlink"}
    for item in declared:
        path = str(item["_path"])
        reason = unsafe_path(path)
        if reason is not None:
            raise UnsafePackage(f"`{listed}` entry `{_brief(path)}` {reason}")
        through = next((p for p in _parents(path) if p in linked_links), None)
        if through is not None:
            raise UnsafePackage(
                f"`{listed}` entry `{_brief(path)}` lies under the symbolic link `{_brief(through)}`"
            )
        entry = entries.get(path)
        path_type = item.get("path_type")
        if entry is None:
            if path_type != "directory":
                raise UnsafePackage(f"`{listed}` lists `{_brief(path)}`, which the archive does not contain")
            continue
        if path_type == "softlink" and entry.kind != "symlink":
            raise UnsafePackage(
                f"`{listed}` says `{_brief(path)}` is a symbolic link; the archive has a {entry.kind}"
            )
        if path_type == "hardlink" and entry.kind not in ("file", "hardlink"):
            raise UnsafePackage(f"`{listed}` says `{_brief(path)}` is a file; the archive has a {entry.kind}")
        size = item.get("size_in_bytes")
        if isinstance(size, int) and entry.kind == "file" and size != entry.size:
            raise UnsafePackage(
                f"`{listed}` says `{_brief(path)}` has {size} bytes; the archive's has {entry.size}"
            )
    for name in _PATH_LISTS:
        for path in _path_list(info.get(name, b""), name):
            reason = unsafe_path(path)
            if reason is not None:
                raise UnsafePackage(f"`{name}` entry `{_brief(path)}` {reason}")


async def check_archive(path: Path) -> None:
    """Raise `UnsafePackage` unless the archive at `path` is safe to hand to rattler's extractor.

    Reads member headers (and the small `info/` path lists) with rattler's own reader: no member data is
    hashed here (`check_extracted` does that after extraction, from disk).
    """
    if path.name.endswith(".conda"):
        check_zip_layout(path)
    entries, info = await _read_entries(path)
    _check_metadata(entries, info)


# ---------------------------------------------------------------- extracted cache entries


def _stamp_path(directory: Path) -> Path:
    return directory.parent / _STAMP_DIR / f"{directory.name}.json"


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _scan(directory: Path, archive_sha256: str | None) -> tuple[str, list[tuple[str, str, str]]]:
    """Check every declared path of an extracted entry (no hashing): its stamp signature and the files to
    hash as (path in the package, path, sha256). Raises `UnsafePackage`.

    One lstat per path serves both the checks and the signature (`_files_digest`'s lines, computed from
    the same results: nothing else writes into an entry being extracted). Strings, not Paths: this runs
    for every file of every package."""
    paths_json = directory / "info" / "paths.json"
    listed = "info/paths.json"
    try:
        if paths_json.stat().st_size > _MAX_INFO_FILE:
            raise UnsafePackage("`info/paths.json` is too big")
        declared = _paths_json_entries(paths_json.read_bytes(), "`info/paths.json`")
    except FileNotFoundError:
        files = directory / "info" / "files"
        if not files.is_file():
            raise UnsafePackage("the entry has neither `info/paths.json` nor `info/files`") from None
        declared = [{"_path": p} for p in _path_list(files.read_bytes(), "info/files")]
        listed = "info/files"
    except OSError as exc:
        raise UnsafePackage(f"cannot read `info/paths.json`: {exc.strerror or exc}") from exc
    root = os.path.realpath(directory)
    base = os.path.join(directory, "")
    softlinks = {str(d["_path"]) for d in declared if d.get("path_type") == "softlink"}
    resolved_parents: dict[str, bool] = {}
    to_hash: list[tuple[str, str, str]] = []
    files_digest = hashlib.sha256()
    lstat, S_ISLNK, S_ISDIR, S_ISREG, S_IFMT = os.lstat, stat.S_ISLNK, stat.S_ISDIR, stat.S_ISREG, stat.S_IFMT
    for item in declared:
        rel = str(item["_path"])
        reason = unsafe_path(rel)
        if reason is not None:
            raise UnsafePackage(f"`{listed}` entry `{_brief(rel)}` {reason}")
        parent = rel.rpartition("/")[0]
        if softlinks and any(p in softlinks for p in _parents(rel)):
            raise UnsafePackage(f"`{listed}` entry `{_brief(rel)}` lies under a symbolic link")
        inside = resolved_parents.get(parent)
        if inside is None:
            inside = resolved_parents[parent] = _inside(os.path.realpath(base + parent), root)
        if not inside:
            raise UnsafePackage(f"`{_brief(rel)}` resolves outside the cache entry")
        target = base + rel
        try:
            st = lstat(target)
        except FileNotFoundError:
            raise UnsafePackage(f"`{_brief(rel)}` is missing") from None
        except OSError as exc:
            raise UnsafePackage(f"cannot read `{_brief(rel)}`: {exc.strerror or exc}") from exc
        if S_ISLNK(st.st_mode):
            line = f"{rel}\0L{os.readlink(target)}\0"
        else:
            line = f"{rel}\0{S_IFMT(st.st_mode)}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\0"
        files_digest.update(line.encode("utf-8", "surrogateescape"))
        path_type = item.get("path_type", "hardlink")
        if path_type == "softlink":
            if not S_ISLNK(st.st_mode):
                raise UnsafePackage(f"`{_brief(rel)}` should be a symbolic link")
            continue
        if path_type == "directory":
            if not S_ISDIR(st.st_mode):
                raise UnsafePackage(f"`{_brief(rel)}` should be a directory")
            continue
        if not S_ISREG(st.st_mode):
            raise UnsafePackage(f"`{_brief(rel)}` should be a regular file")
        size = item.get("size_in_bytes")
        if isinstance(size, int) and st.st_size != size:
            raise UnsafePackage(
                f"`{listed}` says `{_brief(rel)}` has {size} bytes; the file has {st.st_size}"
            )
        expected = item.get("sha256")
        if isinstance(expected, str):
            to_hash.append((rel, target, expected.lower()))
    _check_path_lists(directory)
    signature = f"{_metadata_digest(directory, archive_sha256)} {files_digest.hexdigest()}"
    return signature, to_hash


def _check_path_lists(directory: Path) -> None:
    """info/has_prefix, info/no_link, info/no_softlink (and info/files): every path inside the package."""
    for name in (*_PATH_LISTS, "info/files"):
        try:
            path = directory / name
            if path.stat().st_size > _MAX_INFO_FILE:
                raise UnsafePackage(f"`{name}` is too big")
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise UnsafePackage(f"cannot read `{name}`: {exc.strerror or exc}") from exc
        for listed in _path_list(data, name):
            reason = unsafe_path(listed)
            if reason is not None:
                raise UnsafePackage(f"`{name}` entry `{_brief(listed)}` {reason}")


def _declared(directory: str | Path) -> list[dict[str, object]] | None:
    """paths.json's entries for the quick stamp comparison; None where only the full check will do."""
    try:
        with open(os.path.join(directory, "info", "paths.json"), "rb") as handle:
            return _paths_json_entries(handle.read(), "`info/paths.json`")
    except (OSError, UnsafePackage):
        return None


def _signature(
    directory: str | Path, declared: Iterable[Mapping[str, object]], archive_sha256: str | None
) -> str:
    """What a stamp records, as `<metadata digest> <files digest>`: the archive's checksum and paths.json's
    own size, mtime and inode; then every declared path's type, size, mtime and inode (a symbolic link's
    target). Editing a file in place changes its mtime, replacing it its inode. ctime is left out on
    purpose: hard-linking a file into an environment changes it, and anyone able to reset mtimes in the
    cache could as well rewrite the stamps, which live there too."""
    return f"{_metadata_digest(directory, archive_sha256)} {_files_digest(directory, declared)}"


def _metadata_digest(directory: str | Path, archive_sha256: str | None) -> str:
    digest = hashlib.sha256(b"v3\0" + (archive_sha256.encode() if archive_sha256 else b"-"))
    try:
        st = os.stat(os.path.join(directory, "info", "paths.json"))
        digest.update(f"{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\0".encode())
    except OSError:
        digest.update(b"no paths.json\0")
    return digest.hexdigest()


def _files_digest(directory: str | Path, declared: Iterable[Mapping[str, object]]) -> str:
    digest = hashlib.sha256()
    base = os.path.join(directory, "")  # strings, not Paths: this runs for every file of every package
    lstat = os.lstat
    for item in declared:
        rel = str(item["_path"])
        target = base + rel
        try:
            st = lstat(target)
        except OSError:
            digest.update(f"{rel}\0missing\0".encode("utf-8", "surrogateescape"))
            continue
        if stat.S_ISLNK(st.st_mode):
            line = f"{rel}\0L{os.readlink(target)}\0"
        else:
            kind = stat.S_IFMT(st.st_mode)
            line = f"{rel}\0{kind}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\0"
        digest.update(line.encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def check_extracted(directory: Path, archive_sha256: str | None, stamp_as: Path | None = None) -> None:
    """Raise `UnsafePackage` unless the extracted package `directory` matches its `info/paths.json`.

    The full check: every path is inside the entry and not under a symbolic link, has the declared type,
    exists and has the declared size, and its sha256 matches; the other path lists are inside too. It
    writes the stamp `stamp_matches` compares (see `_signature`), for `stamp_as` when the entry is about to
    be renamed there (inodes and mtimes survive the rename).
    """
    stamp = _stamp_path(stamp_as or directory)
    signature, to_hash = _scan(directory, archive_sha256)
    for rel, target, expected in to_hash:
        try:
            got = file_sha256(target)
        except OSError as exc:
            raise UnsafePackage(f"cannot read `{_brief(rel)}`: {exc.strerror or exc}") from exc
        if got != expected:
            raise UnsafePackage(f"`{_brief(rel)}` does not match its sha256 in `info/paths.json`")
    _write_stamp(stamp, signature)


def _recorded(directory: str | Path) -> tuple[str, str] | None:
    """The stamp of an extracted entry: (metadata digest, files digest), or None."""
    parent, name = os.path.split(os.fspath(directory))
    try:
        with open(os.path.join(parent, _STAMP_DIR, f"{name}.json"), encoding="ascii") as handle:
            metadata, _, files = handle.read().strip().partition(" ")
    except OSError:
        return None
    return (metadata, files) if files else None


def stamp_matches(directory: str | Path, archive_sha256: str | None) -> bool:
    """Whether the extracted entry passed a full check for the archive `archive_sha256` (the stamp is keyed by
    it) and nothing in it changed since: one stat per file, no hashing."""
    recorded = _recorded(directory)
    if recorded is None or recorded[0] != _metadata_digest(directory, archive_sha256):
        return False
    declared = _declared(directory)
    return declared is not None and recorded[1] == _files_digest(directory, declared)


def entry_binding(directory: str | Path, archive_sha256: str | None) -> str:
    """What identifies an extracted entry for what is derived from it (its bytecode, pyc_cache.py): the
    archive's checksum and its paths.json's size, mtime and inode (an entry extracted again has another)."""
    return _metadata_digest(directory, archive_sha256)


def stamp_metadata_matches(directory: str | Path, archive_sha256: str | None) -> bool:
    """The part of `stamp_matches` that must hold before rattler links from an entry: it was fully checked
    for this archive and its paths.json is the one checked (every path it lists is safe to link). A small
    read and a stat; the per-file part may then run while rattler links (see `install_plan`)."""
    recorded = _recorded(directory)
    return recorded is not None and recorded[0] == _metadata_digest(directory, archive_sha256)


def _write_stamp(stamp: Path, signature: str) -> None:
    with contextlib.suppress(OSError):
        stamp.parent.mkdir(exist_ok=True)
        tmp = stamp.with_name(f".{stamp.name}.{secrets.token_hex(4)}")
        tmp.write_text(signature + "\n", encoding="ascii")
        os.replace(tmp, stamp)


def discard_cache_entry(
    pkgs_dir: Path, dist: str, archives: Iterable[str] = (), keep_stamp: bool = False
) -> None:
    """Remove an extracted entry (renamed aside first, so nothing links from half of it) and `archives`;
    its stamp too unless `keep_stamp` (already written for the entry about to take its place)."""
    directory = pkgs_dir / dist
    if not keep_stamp:
        with contextlib.suppress(OSError):
            _stamp_path(directory).unlink()
    if directory.exists() or directory.is_symlink():
        aside = pkgs_dir / f".{dist}.cenv-discard-{secrets.token_hex(4)}"
        try:
            os.rename(directory, aside)
        except OSError:
            aside = directory
        if aside.is_symlink():
            aside.unlink()
        else:
            shutil.rmtree(aside, ignore_errors=True)
    for name in archives:
        with contextlib.suppress(OSError):
            (pkgs_dir / name).unlink()


# ---------------------------------------------------------------- the linked prefix


def check_linked_paths(prefix: Path) -> dict[Path, dict[str, Any]]:
    """Raise `UnsafePackage` unless every path the `conda-meta` records list is inside `prefix`, and its
    parent directory resolves inside `prefix` (nothing was written through a symbolic link). Returns the
    records read, those that are JSON objects, in file name order (as `meta.read_records` reads them), so
    the steps after the link do not read them again."""
    records: dict[Path, object] = {}
    for record in sorted((prefix / "conda-meta").glob("*.json")):
        try:
            records[record] = json.loads(record.read_bytes())
        except (OSError, ValueError) as exc:
            raise UnsafePackage(f"cannot read `{record.name}`: {exc}") from exc
    check_linked_records(prefix, records)
    return {path: data for path, data in records.items() if isinstance(data, dict)}


def check_linked_records(prefix: Path, records: Mapping[Path, object]) -> None:
    """`check_linked_paths` of `conda-meta` records already read ({their path: their JSON})."""
    root = os.path.realpath(prefix)
    base = os.path.join(prefix, "")
    parents: dict[str, bool] = {".": True, "": True}

    def resolves_inside(directory: str) -> bool:
        # One lstat per directory, its parent's answer reused (a realpath of each would lstat every
        # component again); a symbolic link, rare, gets the full realpath. Iterative: paths can be deep.
        unknown = []
        while directory not in parents:
            unknown.append(directory)
            directory = directory.rpartition("/")[0]
        known = parents[directory]
        for directory in reversed(unknown):
            if known:
                try:
                    is_link = stat.S_ISLNK(os.lstat(base + directory).st_mode)
                except OSError:
                    is_link = False  # not there: realpath would resolve it lexically, inside its parent
                if is_link:
                    known = _inside(os.path.realpath(base + directory), root)
            parents[directory] = known
        return known

    for record, data in records.items():
        files = data.get("files") if isinstance(data, dict) else None
        for rel in files if isinstance(files, list) else []:
            rel = str(rel)
            reason = unsafe_path(rel)
            if reason is not None:
                raise UnsafePackage(f"`{record.stem}` installed `{_brief(rel)}`, which {reason}")
            if not resolves_inside(rel.rpartition("/")[0]):  # strings, not Paths: runs for every linked file
                raise UnsafePackage(
                    f"`{record.stem}` installed `{_brief(rel)}` through a link leading outside"
                )
