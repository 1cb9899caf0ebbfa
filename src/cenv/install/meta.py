"""conda-meta as conda writes it: the per-package records and `conda-meta/history`.

rattler writes `conda-meta/<dist>.json` itself; this module completes them the way conda's `PrefixRecord`
(conda/models/records.py) has them, whatever state the package cache was in:
- `size` and `package_tarball_full_path` from the archive in the package cache, `package_type` for noarch
  packages (`noarch_python`, `noarch_generic`);
- `requested_spec` / `requested_specs` for the packages the spec asked for;
- `paths_data` for symlinks as conda records them: `sha256_in_prefix` and `size_in_bytes` of the file the
  link points to (rattler hashes the link's target text, and `conda doctor` then reports the link altered:
  conda/conda#14836);
- the `.pyc` files compiled at link time (`path_type: pyc_file`), as conda's CompileMultiPycAction adds them;
- files readable by the group and others as the umask allows (rattler writes them 0600).

`conda-meta/history` gets one revision in conda's format (conda/history.py): `==> date <==`, `# cmd:`, the
`+channel/subdir::name-version-build` lines, and `# update specs: [...]`, which is what
`conda env export --from-history` reads back.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cenv.env_vars import DEFAULT_CHANNEL_ALIAS
from cenv.install import meta_json
from cenv.install.archive_guard import file_sha256
from cenv.redact import redact, strip_credentials

__all__ = [
    "PackageFacts",
    "add_pyc",
    "canonical_channel",
    "complete_records",
    "history_text",
    "read_records",
    "requested_by_name",
    "spec_name",
    "write_history",
    "write_readable",
    "write_records",
]

_NOARCH_TYPES = {"python": "noarch_python", "generic": "noarch_generic"}


@dataclass(frozen=True)
class PackageFacts:
    """What cenv knows about one linked package beyond rattler's record."""

    dist: str  # name-version-build, the record's file stem
    archive: Path  # the archive's path in the package cache (it may have been cleaned away)
    pyc_files: tuple[str, ...] = ()  # prefix-relative .pyc paths compiled at link time


def spec_name(spec: str) -> str:
    """The package name a match spec asks for (`conda-forge::numpy >=1` -> `numpy`)."""
    from rattler import MatchSpec
    from rattler.exceptions import InvalidMatchSpecError

    try:
        name = MatchSpec(spec).name
    except InvalidMatchSpecError:  # a spec rattler cannot read names no package
        return ""
    return name.normalized if name is not None else ""


def requested_by_name(specs: Iterable[str]) -> dict[str, list[str]]:
    """{package name: the specs asking for it} for the specs a lock was solved for."""
    result: dict[str, list[str]] = {}
    for spec in specs:
        name = spec_name(spec)
        if name and not name.startswith("__"):
            result.setdefault(name, []).append(strip_credentials(spec))  # conda-meta is world-readable
    return result


@functools.cache
def _umask() -> int:
    """The process umask, read without changing it where the system says it (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: the classic read-by-setting (once per process)
    os.umask(mask)
    return mask


def write_readable(path: Path, text: str) -> None:
    """Write `text` to `path` in the staged prefix, mode 0666 less the umask (0644 typically), as conda
    writes conda-meta. Overwritten in place and then cut to length: nothing else sees the staging
    directory, and ext4 flushes a file renamed over another or truncated to zero before it is rewritten
    (measured 2-4 ms each here: about 1 s for 300 records)."""
    data = text.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.ftruncate(fd, len(data))
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o666 & ~_umask())  # rattler created them 0600
    finally:
        os.close(fd)


def _link_target(staging: Path, final: Path, link: Path) -> Path:
    """Where a symlink in the staged prefix points (an absolute link into the final prefix: into staging)."""
    target = Path(os.readlink(link))
    if target.is_absolute():
        try:
            return staging / target.relative_to(final)
        except ValueError:
            return target
    return link.parent / target


def _fix_paths(record: dict[str, Any], staging: Path, final: Path) -> None:
    """conda records a symlink with the checksum and size of the file it points to (conda-build's
    paths.json does too); `conda doctor` follows the link and compares. Links to nothing or to a
    directory keep what rattler wrote: conda doctor skips them. A link to a file of the same package
    linked unchanged takes that file's checksum from paths.json (checked against the file when the
    package was extracted) instead of hashing it again (a 50 MB library behind two links: 100 MB)."""
    paths = (record.get("paths_data") or {}).get("paths") or []
    unchanged: dict[str, str] = {}
    for entry in paths:
        if entry.get("path_type") == "hardlink" and "sha256" in entry and "prefix_placeholder" not in entry:
            # linked unchanged; conda records sha256_in_prefix for every file
            entry.setdefault("sha256_in_prefix", entry["sha256"])
            unchanged[str(entry["_path"])] = str(entry["sha256_in_prefix"])
    root = os.path.realpath(staging)
    for entry in paths:
        if entry.get("path_type") != "softlink":
            continue
        link = staging / entry["_path"]
        try:
            target = _link_target(staging, final, link)
            if not target.is_file():
                continue
            real = os.path.realpath(target)
            rel = os.path.relpath(real, root) if real.startswith(root + os.sep) else None
            known = unchanged.get(rel.replace(os.sep, "/")) if rel is not None else None
            entry["sha256_in_prefix"] = known or file_sha256(target)
            entry["size_in_bytes"] = target.stat().st_size
        except OSError:
            continue


def _insert_after(record: dict[str, Any], after: str, key: str, value: object) -> dict[str, Any]:
    """`record` with `key` placed where rattler writes it when it knows it (same bytes either way)."""
    if after not in record:
        return {**record, key: value}
    result: dict[str, Any] = {}
    for name, existing in record.items():
        result[name] = existing
        if name == after:
            result[key] = value
    return result


def _add_pyc(record: dict[str, Any], pyc_files: Sequence[str]) -> None:
    if not pyc_files:
        return
    files = list(record.get("files") or [])
    known = set(files)
    new = [p for p in pyc_files if p not in known]
    record["files"] = files + new
    paths_data = record.setdefault("paths_data", {"paths_version": 1, "paths": []})
    paths_data.setdefault("paths", []).extend({"_path": p, "path_type": "pyc_file"} for p in new)


def _complete(
    record: dict[str, Any],
    facts: PackageFacts | None,
    requested: Mapping[str, Sequence[str]],
    staging: Path,
    final: Path,
) -> dict[str, Any]:
    if facts is not None:
        if record.get("size") is None:
            # an archive cleaned from the cache leaves rattler's record as it is
            with contextlib.suppress(OSError):
                record = _insert_after(record, "sha256", "size", facts.archive.stat().st_size)
        record["package_tarball_full_path"] = str(facts.archive)
        _add_pyc(record, facts.pyc_files)
    record = _as_conda_writes(record)
    package_type = _NOARCH_TYPES.get(str(record.get("noarch") or ""))
    if package_type is not None:
        record["package_type"] = package_type
    asked = list(requested.get(str(record.get("name", "")), ()))
    if asked:
        record["requested_spec"] = asked[0]
        record["requested_specs"] = asked
    _fix_paths(record, staging, final)
    return record


def _as_conda_writes(record: dict[str, Any]) -> dict[str, Any]:
    """Two fields as conda's `PrefixRecord` dump writes them: `channel` with the subdir
    (`https://conda.anaconda.org/conda-forge/linux-64`; rattler writes the channel alone) and `constrains`
    present even when empty."""
    channel, subdir = str(record.get("channel") or ""), str(record.get("subdir") or "")
    if channel and subdir and not channel.rstrip("/").endswith("/" + subdir):
        record["channel"] = f"{strip_credentials(channel.rstrip('/'))}/{subdir}"
    if "constrains" not in record:
        record = _insert_after(record, "depends", "constrains", [])
    return record


def read_records(staging: Path) -> dict[Path, dict[str, Any]]:
    """Every `conda-meta/*.json` of the staged prefix that is a JSON object, in file name order."""
    records: dict[Path, dict[str, Any]] = {}
    for path in sorted((staging / "conda-meta").glob("*.json")):
        record = json.loads(path.read_bytes())
        if isinstance(record, dict):
            records[path] = record
    return records


def complete_records(
    staging: Path,
    final: Path,
    facts: Iterable[PackageFacts],
    requested: Mapping[str, Sequence[str]],
    records: Mapping[Path, dict[str, Any]] | None = None,
) -> dict[Path, dict[str, Any]]:
    """Every `conda-meta/*.json` of the staged prefix (`records`: as `read_records` read them, changed in
    place), completed in memory (see the module doc)."""
    by_dist = {f.dist: f for f in facts}
    found = read_records(staging) if records is None else records
    return {
        path: _complete(record, by_dist.get(path.stem), requested, staging, final)
        for path, record in found.items()
    }


def add_pyc(record: dict[str, Any], pyc_files: Sequence[str]) -> None:
    """Record `.pyc` files compiled for the package as conda does (`files` and `path_type: pyc_file`)."""
    _add_pyc(record, pyc_files)


def write_records(records: Mapping[Path, Mapping[str, Any]]) -> None:
    for path, record in records.items():
        write_readable(path, meta_json.dumps(record) + "\n")  # json.dumps(indent=2), faster


def canonical_channel(channel: str) -> str:
    """conda's `Channel.canonical_name`: `conda-forge` for the default channel alias, else the URL
    (credentials removed)."""
    channel = strip_credentials(channel.rstrip("/"))
    prefix = DEFAULT_CHANNEL_ALIAS + "/"
    if channel.startswith(prefix):
        return channel[len(prefix) :]
    for main in ("https://repo.anaconda.com/", "http://repo.anaconda.com/"):
        if channel.startswith(main + "pkgs/"):
            return channel[len(main) :]
    return channel


def _dist_str(record: Mapping[str, Any]) -> str:
    """conda's `PackageRecord.dist_str()`: `channel/subdir::name-version-build`."""
    subdir = str(record.get("subdir") or "")
    channel = canonical_channel(str(record.get("channel") or "").rstrip("/").removesuffix("/" + subdir))
    head = f"{channel}/{subdir}" if subdir else channel
    return f"{head}::{record['name']}-{record['version']}-{record['build']}"


def history_text(
    records: Iterable[Mapping[str, Any]], command: str, specs: Sequence[str], when: float | None = None
) -> str:
    """One revision of `conda-meta/history` as conda writes it for a create.

    No `# conda version:` line: conda compares it with its own version, and cenv's is not conda's.
    """
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))
    lines = [f"==> {stamp} <==", f"# cmd: {redact(command)}"]
    lines += sorted(f"+{_dist_str(r)}" for r in records)
    if specs:
        # conda writes the Python repr of a list of strings; conda parses it back with literal_eval
        lines.append(f"# update specs: {[strip_credentials(s) for s in specs]!r}")
    return "\n".join(lines) + "\n"


def write_history(
    staging: Path, records: Iterable[Mapping[str, Any]], command: str, specs: Sequence[str]
) -> None:
    write_readable(staging / "conda-meta" / "history", history_text(records, command, specs))
