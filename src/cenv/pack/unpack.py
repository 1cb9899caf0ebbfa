"""Open a pack (a tar or its unpacked folder) for `cenv create`: every file checked before anything is used.

A tar is read member by member into a private temporary folder; the whole pack is refused (exit 1, nothing
created) when a member's name would land outside that folder, a member is a link or a device, a name occurs
twice, or a file differs from the manifest's sha256 and size. The pack's lockfile is then copied with its
relative URLs turned into `file://` URLs of the checked files, so the ordinary create path installs it with
no network; it verifies each archive against the lock's own hash once more when it copies it into the package
cache, and uv checks each wheel's hash.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import tarfile
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from cenv.pack.manifest import MANIFEST, MAX_MANIFEST_BYTES, Manifest, PackError, PackFile, safe_member_name
from cenv.private_tmp import make_private_dir

if TYPE_CHECKING:
    from cenv.create import CreateResult
    from cenv.install.conda import Reporter
    from cenv.lock.models import LockedPackage
    from cenv.settings import CreateSettings

__all__ = ["OpenedPack", "create_from_pack", "open_pack"]

_CHUNK = 1 << 20
MAX_MEMBERS = 100_000  # a pack of 10,000 packages has about 10,000 members
_COMPRESSED = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"PK\x03\x04", "zip"),
)
_TAMPERED = "the pack changed after `cenv pack` wrote it: do not trust it; make it again from the lockfile"


@dataclass(frozen=True)
class OpenedPack:
    source: Path
    root: Path  # the checked files: the folder itself, or a temporary copy of the tar's members
    manifest: Manifest
    lockfile: Path  # the pack's lockfile with absolute file:// URLs into `root`


def _mismatch(where: Path, entry: PackFile, sha256: str, size: int) -> PackError | None:
    if size == entry.size and sha256 == entry.sha256:
        return None
    detail = f"size {size}, expected {entry.size}" if size != entry.size else "sha256 differs"
    return PackError(f"{where}: `{entry.path}` does not match the pack's manifest ({detail})", [_TAMPERED])


def _copy_hashed(reader: IO[bytes], target: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "xb") as out:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return digest.hexdigest(), size


def _hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _refuse_compressed(source: Path) -> None:
    """A pack is a plain tar (the archives inside are compressed already): a compressed one could expand
    without bound, so it is refused before any decompressor sees it."""
    with open(source, "rb") as handle:
        head = handle.read(6)
    for magic, kind in _COMPRESSED:
        if head.startswith(magic):
            raise PackError(
                f"{source}: refusing the pack: it is {kind}-compressed",
                hints=[
                    "a pack is a plain tar, as `cenv pack` writes it; decompress it yourself if you trust it"
                ],
            )


def _read_members(source: Path, tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """The member headers, at most `MAX_MEMBERS` (two million empty members took 1 GB and 39 s)."""
    members: list[tarfile.TarInfo] = []
    while (member := tar.next()) is not None:
        members.append(member)
        if len(members) > MAX_MEMBERS:
            raise PackError(f"{source}: refusing the pack: more than {MAX_MEMBERS:,} members", [_TAMPERED])
    return members


def _check_members(source: Path, members: list[tarfile.TarInfo]) -> dict[str, tarfile.TarInfo]:
    """Every member judged before one byte is written: safe names, plain files and folders, no repeats,
    no sparse member, and no more bytes in all than the pack itself holds (a plain tar cannot expand)."""
    files: dict[str, tarfile.TarInfo] = {}
    limit = source.stat().st_size
    total = 0
    for member in members:
        name = member.name.removeprefix("./")
        if not safe_member_name(name):
            raise PackError(
                f"{source}: refusing the pack: member `{member.name}` would land outside its folder",
                [_TAMPERED],
            )
        if member.isdir():
            continue
        if not member.isfile() or member.issparse():
            raise PackError(
                f"{source}: refusing the pack: member `{member.name}` is a link, a sparse or a special file",
                [_TAMPERED],
            )
        total += member.size
        if total > limit:
            raise PackError(
                f"{source}: refusing the pack: its members claim more bytes than the pack holds ({limit:,})",
                [_TAMPERED],
            )
        if name in files:
            raise PackError(f"{source}: refusing the pack: member `{name}` occurs twice", [_TAMPERED])
        files[name] = member
    return files


def _extract_tar(source: Path, root: Path) -> Manifest:
    _refuse_compressed(source)
    try:
        with tarfile.open(source, "r:") as tar:
            files = _check_members(source, _read_members(source, tar))
            if MANIFEST not in files:
                raise PackError(
                    f"{source}: not a cenv pack (no {MANIFEST})", hints=["make one with `cenv pack`"]
                )
            if files[MANIFEST].size > MAX_MANIFEST_BYTES:  # judged before a byte of it is read
                raise PackError(f"{source}: {MANIFEST} is too large", [_TAMPERED])
            reader = tar.extractfile(files[MANIFEST])
            assert reader is not None  # a regular file
            manifest = Manifest.from_bytes(reader.read(MAX_MANIFEST_BYTES + 1), str(source))
            missing = sorted(set(manifest.files) - set(files))
            if missing:
                raise PackError(f"{source}: `{missing[0]}` is missing from the pack", [_TAMPERED])
            for name, entry in sorted(manifest.files.items(), key=lambda item: files[item[0]].offset):
                reader = tar.extractfile(files[name])
                assert reader is not None
                sha256, size = _copy_hashed(reader, root / name)
                error = _mismatch(source, entry, sha256, size)
                if error is not None:
                    raise error
            return manifest
    except (tarfile.TarError, EOFError) as exc:
        raise PackError(f"{source}: not a readable tar ({exc})", hints=["copy the pack again"]) from exc


def _check_folder(source: Path) -> Manifest:
    if (source / MANIFEST).is_symlink() or not (source / MANIFEST).is_file():
        raise PackError(f"{source}: `{MANIFEST}` is a link or not a file", [_TAMPERED])
    if (source / MANIFEST).stat().st_size > MAX_MANIFEST_BYTES:
        raise PackError(f"{source}: {MANIFEST} is too large", [_TAMPERED])
    with open(source / MANIFEST, "rb") as handle:
        manifest = Manifest.from_bytes(handle.read(MAX_MANIFEST_BYTES + 1), str(source))
    real_root = os.path.realpath(source)
    for name, entry in sorted(manifest.files.items()):
        path = source / name
        if path.is_symlink() or not os.path.realpath(path).startswith(real_root + os.sep):
            raise PackError(f"{source}: `{name}` is a link or lies outside the pack's folder", [_TAMPERED])
        if not path.is_file():
            raise PackError(f"{source}: `{name}` is missing from the pack", [_TAMPERED])
        sha256, size = _hash_file(path)
        error = _mismatch(source, entry, sha256, size)
        if error is not None:
            raise error
    return manifest


def _absolute(package: LockedPackage, root: Path, manifest: Manifest, source: Path) -> LockedPackage:
    url = package.url
    entry = manifest.files.get(url)
    if urllib.parse.urlsplit(url).scheme or entry is None:
        raise PackError(
            f"{source}: the pack's lockfile points outside the pack (`{package.name}`: {url})", [_TAMPERED]
        )
    locked = package.hash.sha256
    if locked and locked.lower() != entry.sha256:
        raise PackError(f"{source}: `{url}` does not match the pack's lockfile (sha256)", [_TAMPERED])
    return dataclasses.replace(package, url=(root / url).as_uri(), source=None)


def _open(source: Path, made: list[Path]) -> OpenedPack:
    from cenv.lock.io import read_lockfile, write_lockfile

    if source.is_dir():
        root = source
        manifest = _check_folder(source)
    else:
        root = make_private_dir("cenv-pack-")  # a killed run's leftovers are removed here
        made.append(root)
        manifest = _extract_tar(source, root)
    lock = read_lockfile(root / manifest.lockfile)
    packages = tuple(_absolute(p, root, manifest, source) for p in lock.package)
    work = make_private_dir("cenv-pack-lock-")
    made.append(work)
    lockfile = work / manifest.lockfile
    write_lockfile(dataclasses.replace(lock, package=packages), lockfile)
    return OpenedPack(source=source, root=root, manifest=manifest, lockfile=lockfile)


@contextlib.contextmanager
def open_pack(source: Path) -> Iterator[OpenedPack]:
    """Check the pack at `source` completely and yield it; temporary files go when the block ends."""
    source = Path(os.path.abspath(source))
    made: list[Path] = []
    try:
        try:
            opened = _open(source, made)
        except OSError as exc:
            raise PackError(f"cannot read the pack `{source}`: {exc.strerror or exc}") from exc
        yield opened
    finally:
        for path in made:
            shutil.rmtree(path, ignore_errors=True)


def create_from_pack(settings: CreateSettings, reporter: Reporter | None = None) -> CreateResult:
    """`cenv create PACK`: the pack checked, then its lockfile installed with no network at all."""
    from cenv.create import create

    with open_pack(settings.source) as opened:
        if reporter is not None:
            reporter.message(f"checked {len(opened.manifest.files)} files of {settings.source}")
        result = create(dataclasses.replace(settings, source=opened.lockfile, offline=True), reporter)
        if result.install is not None:
            restore_origins(result.prefix, opened)
    return dataclasses.replace(result, lockfile=settings.source, lock_action="pack")


def restore_origins(prefix: Path, opened: OpenedPack) -> None:
    """Record where each package came from before it was packed, as a direct create does: the conda-meta
    records' `url`/`channel`, the history's `+channel/subdir::dist` lines and the pip packages'
    `direct_url.json` (what `uv pip freeze` shows) would otherwise name the pack's temporary folder. The files
    are byte-identical to those sources: both hashes were checked. Runs once the environment is in place;
    each file is replaced atomically."""
    origins = {
        urllib.parse.unquote((opened.root / path).as_uri()): entry.source
        for path, entry in opened.manifest.files.items()
        if entry.source is not None
    }
    if not origins:
        return
    from cenv.install.meta import canonical_channel

    history: dict[str, str] = {}
    for meta in sorted((prefix / "conda-meta").glob("*.json")):
        record = json.loads(meta.read_text(encoding="utf-8"))
        if not isinstance(record, dict):
            continue
        source = origins.get(urllib.parse.unquote(str(record.get("url"))))
        if source is None:
            continue
        channel, subdir = source.rsplit("/", 2)[0], str(record.get("subdir"))
        dist = f"/{subdir}::{record.get('name')}-{record.get('version')}-{record.get('build')}"
        packed = str(record.get("channel")).rstrip("/").removesuffix(f"/{subdir}")  # conda: channel/subdir
        history[f"+{canonical_channel(packed)}{dist}"] = f"+{canonical_channel(channel)}{dist}"
        record["url"], record["channel"] = source, f"{channel}/{subdir}"
        _replace_text(meta, json.dumps(record, indent=2) + "\n")  # as cenv.install.meta writes records
    log = prefix / "conda-meta" / "history"
    if history and log.is_file():
        lines = log.read_text(encoding="utf-8").splitlines()
        _replace_text(log, "\n".join(history.get(line, line) for line in lines) + "\n")
    for direct_url in sorted(prefix.glob("lib/python*/site-packages/*.dist-info/direct_url.json")) + sorted(
        prefix.glob("Lib/site-packages/*.dist-info/direct_url.json")
    ):
        data = json.loads(direct_url.read_text(encoding="utf-8"))
        source = origins.get(urllib.parse.unquote(str(data.get("url")))) if isinstance(data, dict) else None
        if source is not None:
            data["url"] = source
            text = json.dumps(data, separators=(",", ":"))
            _replace_text(direct_url, text)
            _update_record(direct_url.parent / "RECORD", f"{direct_url.parent.name}/{direct_url.name}", text)


def _replace_text(path: Path, text: str) -> None:
    fresh = path.with_name(f".{path.name}.cenv-origin")
    fresh.write_text(text, encoding="utf-8")
    shutil.copymode(path, fresh)
    os.replace(fresh, path)


def _update_record(record: Path, member: str, text: str) -> None:
    """The wheel RECORD line of `member` with the hash and size of its new `text`."""
    import base64

    if not record.is_file():
        return
    data = text.encode("utf-8")
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    lines = record.read_text(encoding="utf-8").splitlines()
    changed = [
        f"{member},sha256={digest},{len(data)}" if line.split(",", 1)[0] == member else line for line in lines
    ]
    _replace_text(record, "\n".join(changed) + "\n")
