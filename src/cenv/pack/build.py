"""`cenv pack LOCK -o FILE.tar`: a lockfile's conda archives and pip artifacts in one self-contained pack.

Works from the lockfile alone, on any host: every artifact is fetched (or copied from the package cache) and
checked against the lock's hash, the archives become a conda channel (`index_fs` writes a repodata.json per
subdir, noarch included: rattler refuses a channel without it), and the lockfile is rewritten so that every
URL is a path inside the pack. The pack is staged in a hidden sibling of the output and renamed into place
when complete: a failed pack leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cenv
from cenv.errors import InstallError
from cenv.install.conda import Reporter
from cenv.install.fetch import Fetched, fetch_archive, verify_file
from cenv.lock.models import LockedPackage, Lockfile, LockMetadata
from cenv.pack.manifest import CHANNEL_DIR, MANIFEST, PYPI_DIR, Manifest, PackError, PackFile
from cenv.private_tmp import make_private_dir, release
from cenv.redact import strip_credentials
from cenv.safe_paths import join_within

__all__ = ["PackResult", "pack"]

_MAX_PARALLEL = 5
_TAR_MTIME = 1_700_000_000  # fixed: the same lock packs to the same bytes
_LOCK_SUFFIXES = ("-lock.yml", "-lock.yaml")


@dataclass(frozen=True)
class PackResult:
    output: Path
    lockfile: str
    platforms: tuple[str, ...]
    conda: dict[str, int]  # platform -> conda packages
    pip: dict[str, int]  # platform -> pip packages
    files: int
    size: int  # bytes of all files in the pack
    downloaded: int  # artifacts fetched (the others came from the package cache)
    seconds: float

    def summary(self) -> dict[str, object]:
        return {
            "pack": str(self.output),
            "lockfile": self.lockfile,
            "platforms": {p: {"conda": self.conda[p], "pip": self.pip[p]} for p in self.platforms},
            "files": self.files,
            "bytes": self.size,
            "downloaded": self.downloaded,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class _Artifact:
    path: str  # inside the pack
    package: LockedPackage  # as locked (original URL)


def _file_name(url: str) -> str:
    name = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise PackError(f"cannot pack `{strip_credentials(url)}`: its URL names no file")
    return name


def _subdir(package: LockedPackage) -> str:
    parts = urllib.parse.urlsplit(package.url).path.rstrip("/").rsplit("/", 2)
    subdir = parts[-2] if len(parts) >= 2 else ""
    return subdir if subdir == "noarch" or subdir == package.platform else package.platform


def _pack_path(package: LockedPackage) -> str:
    if package.is_conda:
        return f"{CHANNEL_DIR}/{_subdir(package)}/{_file_name(package.url)}"
    scheme = urllib.parse.urlsplit(package.url).scheme
    if scheme not in ("http", "https", "file"):
        raise PackError(
            f"cannot pack pip package `{package.name}`: `{strip_credentials(package.url)}` is not a file to "
            "download",
            hints=["only locked wheels and sdists (http, https or file URLs) can travel in a pack"],
        )
    if not package.hash.sha256:
        raise PackError(f"pip package `{package.name}` has no sha256 in the lock", hints=["re-lock it"])
    return f"{PYPI_DIR}/{_file_name(package.url)}"


def _artifacts(lock: Lockfile, platforms: Sequence[str]) -> list[_Artifact]:
    found: dict[str, _Artifact] = {}
    for platform in platforms:
        for package in lock.packages_for(platform):
            path = _pack_path(package)
            seen = found.get(path)
            if seen is None:
                found[path] = _Artifact(path, package)
            elif (seen.package.hash.sha256 or seen.package.hash.md5) != (
                package.hash.sha256 or package.hash.md5
            ):
                raise PackError(
                    f"the lock has two different files named `{path.rsplit('/', 1)[-1]}`",
                    hints=["a pack holds one file per name; pack the platforms separately"],
                )
    return sorted(found.values(), key=lambda a: a.path)


def _choose_platforms(lock: Lockfile, wanted: Sequence[str]) -> tuple[str, ...]:
    if not wanted:
        return lock.platforms
    missing = [p for p in wanted if p not in lock.platforms]
    if missing:
        raise PackError(
            f"the lock has no packages for {', '.join(f'`{p}`' for p in missing)}",
            hints=["platforms in this lock: " + ", ".join(lock.platforms)],
        )
    return tuple(dict.fromkeys(wanted))


def _pack_lock_name(source: Path) -> str:
    if source.name.endswith(_LOCK_SUFFIXES):
        return source.name
    stem = source.name.split(".", 1)[0] or "environment"
    return f"{stem}-lock.yml"


def _rewritten(lock: Lockfile, platforms: tuple[str, ...]) -> Lockfile:
    """The lock for `platforms` with every URL a path inside the pack."""
    packages = tuple(
        dataclasses.replace(p, url=_pack_path(p), source=None)
        for p in lock.package
        if p.platform in platforms
    )
    metadata: LockMetadata = dataclasses.replace(
        lock.metadata,
        platforms=platforms,
        content_hash={p: h for p, h in lock.metadata.content_hash.items() if p in platforms},
    )
    return dataclasses.replace(lock, metadata=metadata, package=packages)


# ---------------------------------------------------------------- fetching


def _fetch_one(artifact: _Artifact, staging: Path, pkgs_dir: Path | None, reporter: Reporter,
               cancel: threading.Event) -> tuple[PackFile, bool]:  # fmt: skip
    """Fetch (or copy from the package cache) one artifact into the staging folder, verified against the
    lock; returns its manifest entry and whether it was downloaded."""
    package = artifact.package
    target = join_within(staging, *artifact.path.split("/"), what=f"package `{package.name}`")
    target.parent.mkdir(parents=True, exist_ok=True)
    cached = pkgs_dir / package.filename if pkgs_dir is not None and package.is_conda else None
    downloaded = True
    got: Fetched | None = None
    if cached is not None and cached.is_file():
        try:  # the copy is what gets hashed: the cache may change under us
            shutil.copyfile(cached, target)
            got, downloaded = verify_file(package, target), False
        except (InstallError, OSError):
            with contextlib.suppress(OSError):
                target.unlink()
    if got is None:
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
            got = fetch_archive(package, Path(tmp), reporter.fetch_progress, cancel)
            os.replace(got.path, target)
        reporter.fetch_package_done(f"{package.name} {package.version}")
    else:  # honest wording: it was not downloaded
        reporter.message(f"  copied {package.name} {package.version} from the package cache")
    entry = PackFile(artifact.path, got.sha256, got.size, strip_credentials(package.url))
    return entry, downloaded


def _fetch_all(
    artifacts: Sequence[_Artifact], staging: Path, pkgs_dir: Path | None, reporter: Reporter
) -> tuple[list[PackFile], int]:
    cached = sum(
        1
        for a in artifacts
        if pkgs_dir is not None and a.package.is_conda and (pkgs_dir / a.package.filename).is_file()
    )
    if cached:
        reporter.message(f"{cached} of {len(artifacts)} packages are in the package cache")
    if cached < len(artifacts):
        reporter.fetch_start(len(artifacts) - cached, None)
    cancel = threading.Event()
    entries: list[PackFile] = []
    downloaded = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=_MAX_PARALLEL) as pool:
        futures = [pool.submit(_fetch_one, a, staging, pkgs_dir, reporter, cancel) for a in artifacts]
        try:
            for future in futures:
                entry, fetched = future.result()
                entries.append(entry)
                downloaded += fetched
        except BaseException:
            cancel.set()
            for future in futures:
                future.cancel()
            raise
    reporter.fetch_done()
    return entries, downloaded


# ---------------------------------------------------------------- writing


def _hash_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _index_channel(channel: Path, subdirs: set[str]) -> list[PackFile]:
    """repodata.json for every subdir of the pack's channel (noarch always), written by rattler's indexer."""
    from rattler.index import index_fs

    for subdir in subdirs | {"noarch"}:
        (channel / subdir).mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(index_fs(channel, write_zst=False, write_shards=False, force=True))
    except Exception as exc:  # rattler's own exception types
        raise PackError(f"cannot index the pack's channel: {exc}") from exc
    shutil.rmtree(channel / ".tmp", ignore_errors=True)  # the indexer's scratch folder
    entries = []
    for repodata in sorted(channel.glob("*/repodata.json")):
        data = _without_index_time(repodata.read_bytes())
        repodata.write_bytes(data)
        entries.append(
            PackFile(repodata.relative_to(channel.parent).as_posix(), _hash_bytes(data), len(data))
        )
    return entries


def _without_index_time(data: bytes) -> bytes:
    """repodata without the indexer's `indexed_timestamp`: the same lock packs to the same bytes, and an
    `--exclude-newer` cut-off on the pack's channel judges the packages' own `timestamp` (rattler prefers
    `indexed_timestamp`, which would be the time of packing)."""
    repodata = json.loads(data)
    for key in ("packages", "packages.conda"):
        for record in (repodata.get(key) or {}).values():
            record.pop("indexed_timestamp", None)
    return (json.dumps(repodata, indent=1, sort_keys=True) + "\n").encode("utf-8")


def _write_text(staging: Path, path: str, text: str) -> PackFile:
    data = text.encode("utf-8")
    target = join_within(staging, *path.split("/"), what="a pack file")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return PackFile(path, _hash_bytes(data), len(data))


def _requirements(lock: Lockfile, platform: str) -> str:
    lines = [
        f"# pip packages for {platform} from this pack; from the pack's folder, in the environment:",
        "#   uv pip install --offline --no-deps --require-hashes -r " + f"requirements-{platform}.txt",
    ]
    for package in sorted(lock.packages_for(platform, "pip"), key=lambda p: p.name):
        lines.append(f"./{package.url} --hash=sha256:{package.hash.sha256}")
    return "\n".join(lines) + "\n"


def _write_tar(staging: Path, manifest: Manifest, output: Path, part: Path) -> None:
    """A plain tar (the archives inside are compressed already), manifest first, deterministic; written as
    `part` (inside the staging folder, so it goes with it) and renamed into place."""
    try:
        with tarfile.open(part, "w", format=tarfile.PAX_FORMAT) as tar:
            names = [MANIFEST, *sorted(manifest.files)]
            for name in names:
                info = tarfile.TarInfo(name)
                info.size = (staging / name).stat().st_size
                info.mtime = _TAR_MTIME
                info.mode = 0o644
                with open(staging / name, "rb") as handle:
                    tar.addfile(info, handle)
        os.replace(part, output)
    except BaseException:
        with contextlib.suppress(OSError):
            part.unlink()
        raise


def _check_no_credentials(texts: Sequence[str]) -> None:
    for text in texts:
        for line in text.splitlines():
            if strip_credentials(line) != line:
                raise PackError(
                    "refusing to pack: a credential would be written into the pack",
                    hints=["lock again with a current cenv (it strips credentials from URLs)"],
                )


def pack(
    lock_path: Path,
    output: Path,
    platforms: Sequence[str] = (),
    reporter: Reporter | None = None,
    pkgs_dir: Path | None = None,
) -> PackResult:
    """Write the pack of `lock_path` (the given platforms, default all) to `output`: a tar when its name
    ends in `.tar`, else a folder (which must not exist yet, or be empty)."""
    from cenv.lock.explicit import render_explicit
    from cenv.lock.importers import read_lock
    from cenv.lock.io import dump_lockfile

    started = time.perf_counter()
    reporter = reporter or Reporter()
    lock = read_lock(lock_path)
    chosen = _choose_platforms(lock, platforms)
    artifacts = _artifacts(lock, chosen)
    as_tar = output.name.endswith(".tar")
    if not as_tar and output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise PackError(f"`{output}` exists and is not an empty folder", hints=["give `-o NEW.tar`"])
    output.parent.mkdir(parents=True, exist_ok=True)
    # held while this run lives; a killed run's staging beside the same output is removed here
    staging = make_private_dir(f".{output.name}.cenv-pack-", output.parent)
    try:
        entries, downloaded = _fetch_all(artifacts, staging, pkgs_dir, reporter)
        reporter.message("indexing the pack's channel")
        subdirs = {a.path.split("/")[1] for a in artifacts if a.package.is_conda}
        entries += _index_channel(staging / CHANNEL_DIR, subdirs)
        packed = _rewritten(lock, chosen)
        lock_name = _pack_lock_name(lock_path)
        texts = {lock_name: dump_lockfile(packed, file_name=lock_name)}
        for platform in chosen:
            texts[f"explicit-{platform}.txt"] = render_explicit(
                packed,
                platform,
                header_lines=[
                    f"the conda part of {lock_name} for {platform}, from this pack's own channel;",
                    "from the pack's folder: conda create --offline -p PREFIX --file "
                    + f"explicit-{platform}.txt",
                    "tools that need absolute URLs (micromamba, rattler), from the same folder:",
                    f'  sed "s|^channel/|file://$PWD/channel/|" explicit-{platform}.txt > explicit.txt',
                ],
            )
            if packed.packages_for(platform, "pip"):
                texts[f"requirements-{platform}.txt"] = _requirements(packed, platform)
        _check_no_credentials(list(texts.values()))
        entries += [_write_text(staging, name, text) for name, text in texts.items()]
        manifest = Manifest(
            lockfile=lock_name,
            platforms=chosen,
            files={e.path: e for e in entries},
            cenv_version=cenv.__version__,
        )
        (staging / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
        if as_tar:
            reporter.message(f"writing {output}")
            _write_tar(staging, manifest, output, staging / f"{output.name}.part")
        else:
            if output.exists():
                output.rmdir()
            release(staging)
            os.replace(staging, output)
    except OSError as exc:
        raise PackError(f"cannot write the pack `{output}`: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return PackResult(
        output=output,
        lockfile=lock_name,
        platforms=chosen,
        conda={p: len(lock.packages_for(p, "conda")) for p in chosen},
        pip={p: len(lock.packages_for(p, "pip")) for p in chosen},
        files=len(manifest.files) + 1,
        size=sum(f.size for f in manifest.files.values()),
        downloaded=downloaded,
        seconds=time.perf_counter() - started,
    )
