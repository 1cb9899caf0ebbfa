"""An OCI image archive (image layout in a tar: `oci-layout`, `index.json`, `blobs/sha256/...`), written
byte for byte the same for the same input: layers are tars with sorted entries, a fixed mtime, uid/gid 0 and
no user or host names, gzip without a file name or time; every JSON document sorted and compact.
Layers are streamed (tar -> compressor -> file, both streams hashed on the way) and copied into the
archive a chunk at a time, so memory does not grow with the environment.

This is the format `skopeo`, `umoci`, `podman load`, `docker load` and `apptainer build x.sif
oci-archive://FILE` read (the OCI image spec 1.1: image-layout.md, manifest.md, config.md).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO, cast

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MEDIA_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
EPOCH = 0  # every mtime in a layer (SOURCE_DATE_EPOCH is honoured when set)


def epoch() -> int:
    try:
        return int(os.environ.get("SOURCE_DATE_EPOCH", EPOCH))
    except ValueError:
        return EPOCH


def _json(data: object) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class Blob:
    """A blob of the archive: a small document held in `data`, or a layer streamed into the file `path`."""

    media_type: str
    digest: str  # sha256:<hex>
    size: int
    data: bytes = field(default=b"", repr=False)
    path: Path | None = None

    @classmethod
    def of(cls, media_type: str, data: bytes) -> Blob:
        return cls(media_type, "sha256:" + hashlib.sha256(data).hexdigest(), len(data), data)

    def descriptor(self, **extra: object) -> dict[str, object]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}

    def open(self) -> BinaryIO:
        return open(self.path, "rb") if self.path is not None else io.BytesIO(self.data)


@dataclass(frozen=True)
class Layer:
    blob: Blob
    diff_id: str  # sha256 of the uncompressed tar (the config's rootfs.diff_ids)
    files: int


_CHUNK = 1024 * 1024  # bytes copied at a time: memory stays bounded whatever the size of a file


class _Hashing:
    """A write-only stream that hashes and counts what goes through it on its way to `target` (tarfile
    asks for `tell`)."""

    def __init__(self, target: IO[bytes] | None) -> None:
        self.target = target
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        if self.target is not None:
            self.target.write(data)
        return len(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        if self.target is not None:
            self.target.flush()

    @property
    def digest(self) -> str:
        return "sha256:" + self.sha.hexdigest()


def _tar_info(name: str, source: Path, epoch: int) -> tarfile.TarInfo:
    info = os.lstat(source)
    entry = tarfile.TarInfo(name)
    entry.mtime = epoch
    entry.uid = entry.gid = 0
    entry.uname = entry.gname = ""
    entry.mode = stat.S_IMODE(info.st_mode)
    if stat.S_ISLNK(info.st_mode):
        entry.type = tarfile.SYMTYPE
        entry.linkname = os.readlink(source)
        entry.mode = 0o777
    elif stat.S_ISDIR(info.st_mode):
        entry.type = tarfile.DIRTYPE
    elif stat.S_ISREG(info.st_mode):
        entry.type = tarfile.REGTYPE
        entry.size = info.st_size
    else:
        raise ValueError(f"{source}: not a file, folder or symlink")
    return entry


def _write_tar(sink: _Hashing, root: Path, paths: Iterable[str], under: str) -> int:
    """A deterministic tar of `paths` (relative to `root`, `/`-separated) placed under `under` (e.g.
    `opt/env`), with their parent folders; sorted, fixed mtime, uid/gid 0. Returns the file count."""
    when = epoch()
    wanted = sorted(set(paths))
    folders: set[str] = set()
    for path in wanted:
        parts = path.split("/")[:-1]
        folders.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    prefix = under.strip("/")
    top = prefix.split("/") if prefix else []
    outer = ["/".join(top[: i + 1]) for i in range(len(top))]
    count = 0
    with tarfile.open(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT, copybufsize=_CHUNK) as tar:  # type: ignore[call-overload]
        for name in outer:
            entry = tarfile.TarInfo(name)
            entry.type, entry.mode, entry.mtime = tarfile.DIRTYPE, 0o755, when
            tar.addfile(entry)
        for path in sorted(folders | set(wanted)):
            source = root / path
            entry = _tar_info(f"{prefix}/{path}" if prefix else path, source, when)
            if entry.type == tarfile.REGTYPE:
                with open(source, "rb") as handle:
                    tar.addfile(entry, handle)
                count += 1
            else:
                tar.addfile(entry)
    return count


MEDIA_TYPES = {"gzip": MEDIA_LAYER_GZIP, "zstd": MEDIA_LAYER_ZSTD, "none": MEDIA_LAYER_TAR}
LEVELS = {"gzip": 6, "zstd": 3}  # the default level of each compression


def write_layer(
    root: Path,
    paths: Iterable[str],
    under: str,
    compression: str,
    folder: Path,
    level: int | None = None,
) -> Layer:
    """The layer of `paths` (see `_write_tar`), streamed through the compressor into a new file in
    `folder`: the uncompressed stream is hashed on the way (the diff_id), the compressed one too (the
    digest), so no layer is ever held in memory. gzip carries no name and mtime 0; zstd is one frame
    written as a stream (without the content size, which a stream does not know)."""
    media = MEDIA_TYPES.get(compression)
    if media is None:
        raise ValueError(f"unknown compression {compression!r}")
    with tempfile.NamedTemporaryFile(dir=folder, prefix="layer-", suffix=".blob", delete=False) as handle:
        blob = _Hashing(handle)
        if compression == "gzip":
            with gzip.GzipFile(
                fileobj=cast(IO[bytes], blob),
                mode="wb",
                mtime=0,
                filename="",
                compresslevel=level or LEVELS["gzip"],
            ) as gz:
                tar = _Hashing(cast(IO[bytes], gz))
                files = _write_tar(tar, root, paths, under)
        elif compression == "zstd":
            import zstandard

            compressor = zstandard.ZstdCompressor(level=level or LEVELS["zstd"])
            with compressor.stream_writer(cast(IO[bytes], blob), closefd=False) as zst:
                tar = _Hashing(cast(IO[bytes], zst))
                files = _write_tar(tar, root, paths, under)
        else:
            tar = blob
            files = _write_tar(tar, root, paths, under)
        diff_id = tar.digest
    return Layer(Blob(media, blob.digest, blob.size, path=Path(handle.name)), diff_id, files)


@dataclass(frozen=True)
class ImageConfig:
    architecture: str  # amd64, arm64, ppc64le
    env: Mapping[str, str]
    labels: Mapping[str, str]
    entrypoint: Sequence[str] = ()
    cmd: Sequence[str] = ()
    working_dir: str = ""
    os: str = "linux"


def config_blob(config: ImageConfig, diff_ids: Sequence[str], history: Sequence[str]) -> Blob:
    document = {
        "architecture": config.architecture,
        "os": config.os,
        "config": {
            "Env": [f"{k}={v}" for k, v in config.env.items()],
            "Labels": dict(config.labels),
            **({"Entrypoint": list(config.entrypoint)} if config.entrypoint else {}),
            **({"Cmd": list(config.cmd)} if config.cmd else {}),
            **({"WorkingDir": config.working_dir} if config.working_dir else {}),
        },
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [{"created_by": what, "created": "1970-01-01T00:00:00Z"} for what in history],
        "created": "1970-01-01T00:00:00Z",
    }
    return Blob.of(MEDIA_CONFIG, _json(document))


def write_archive(
    out: Path,
    layers: Sequence[Layer],
    config: Blob,
    tag: str | None,
    extra_blobs: Sequence[Blob] = (),
) -> Blob:
    """The OCI archive at `out` (written whole, then renamed into place); returns the manifest blob."""
    manifest = Blob.of(
        MEDIA_MANIFEST,
        _json(
            {
                "schemaVersion": 2,
                "mediaType": MEDIA_MANIFEST,
                "config": config.descriptor(),
                "layers": [layer.blob.descriptor() for layer in layers],
            }
        ),
    )
    annotations = {"org.opencontainers.image.ref.name": tag} if tag else {}
    index = {
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": [manifest.descriptor(**({"annotations": annotations} if annotations else {}))],
    }
    blobs = {b.digest: b for b in (*extra_blobs, *(layer.blob for layer in layers), config, manifest)}
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    when = epoch()
    try:
        with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT, copybufsize=_CHUNK) as tar:  # type: ignore[call-overload]

            def add(name: str, blob: Blob) -> None:
                entry = tarfile.TarInfo(name)
                entry.size, entry.mode, entry.mtime = blob.size, 0o644, when
                with blob.open() as handle:  # a layer is copied from its file, a chunk at a time
                    tar.addfile(entry, handle)

            def folder(name: str) -> None:
                entry = tarfile.TarInfo(name)
                entry.type, entry.mode, entry.mtime = tarfile.DIRTYPE, 0o755, when
                tar.addfile(entry)

            add("oci-layout", Blob.of("", _json({"imageLayoutVersion": "1.0.0"})))
            add("index.json", Blob.of(MEDIA_INDEX, _json(index)))
            folder("blobs")
            folder("blobs/sha256")
            for digest in sorted(blobs):
                add(f"blobs/sha256/{digest.removeprefix('sha256:')}", blobs[digest])
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return manifest


@dataclass(frozen=True)
class Base:
    """A base image read from an OCI archive: its layers (kept as they are) and what its config says."""

    layers: tuple[Layer, ...]
    env: Mapping[str, str]
    architecture: str
    name: str


class BaseError(ValueError):
    """The base archive is not an OCI image archive cenv can use (the message says why)."""


_MAX_DOCUMENT = 4 * 1024 * 1024


def read_base(path: Path, folder: Path) -> Base:
    """The first image of the OCI archive at `path`, its layers copied into files in `folder` (a chunk at
    a time). A base is untrusted input: only regular members under `blobs/sha256/` and the two layout
    files are read, each digest is checked, documents are bounded."""
    try:
        tar = tarfile.open(path, mode="r:")  # noqa: SIM115 - closed by the `with` below; plain tar only
    except (OSError, tarfile.TarError) as exc:
        raise BaseError(f"not a tar archive: {exc}") from None
    with tar:
        members: dict[str, tarfile.TarInfo] = {}
        for entry in tar.getmembers():
            if entry.isdir():
                continue
            if not entry.isreg():
                raise BaseError(f"member `{entry.name}` is not a regular file")
            members[entry.name.removeprefix("./")] = entry

        def member(name: str, limit: int | None = None) -> IO[bytes]:
            found: tarfile.TarInfo | None = members.get(name)
            if found is None:
                raise BaseError(f"no `{name}` in the archive")
            if limit is not None and found.size > limit:
                raise BaseError(f"`{name}` is larger than {limit} bytes")
            handle = tar.extractfile(found)
            if handle is None:
                raise BaseError(f"`{name}` cannot be read")
            return handle

        def read(name: str, limit: int | None = None) -> bytes:
            data: bytes = member(name, limit).read()
            return data

        def checked(descriptor: Mapping[str, object]) -> str:
            digest = str(descriptor.get("digest", ""))
            if not digest.startswith("sha256:") or len(digest) != 71:
                raise BaseError(f"unsupported digest `{digest[:80]}`")
            return digest

        def blob(descriptor: Mapping[str, object], limit: int | None = None) -> bytes:
            digest = checked(descriptor)
            data = read(f"blobs/sha256/{digest[7:]}", limit)
            if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
                raise BaseError(f"blob {digest} does not match its digest")
            return data

        def layer(descriptor: Mapping[str, object], diff_id: object) -> Layer:
            digest = checked(descriptor)
            source = member(f"blobs/sha256/{digest[7:]}")
            with tempfile.NamedTemporaryFile(dir=folder, prefix="base-", suffix=".blob", delete=False) as out:
                copy = _Hashing(out)
                while chunk := source.read(_CHUNK):
                    copy.write(chunk)
            if copy.digest != digest:
                raise BaseError(f"blob {digest} does not match its digest")
            media = str(descriptor.get("mediaType", MEDIA_LAYER_TAR))
            return Layer(Blob(media, digest, copy.size, path=Path(out.name)), str(diff_id), 0)

        try:
            index = json.loads(read("index.json", _MAX_DOCUMENT))
            manifest = json.loads(blob(index["manifests"][0], _MAX_DOCUMENT))
            config = json.loads(blob(manifest["config"], _MAX_DOCUMENT))
            diff_ids = list(config["rootfs"]["diff_ids"])
            descriptors = list(manifest["layers"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise BaseError(f"not an OCI image layout: {type(exc).__name__}: {exc}") from None
        if len(diff_ids) != len(descriptors):
            raise BaseError("the config's diff_ids do not match the manifest's layers")
        try:
            layers = tuple(layer(d, diff) for d, diff in zip(descriptors, diff_ids, strict=True))
        except (AttributeError, TypeError) as exc:
            raise BaseError(f"not an OCI image layout: {type(exc).__name__}: {exc}") from None
        env = {}
        for item in (config.get("config") or {}).get("Env") or ():
            key, _, value = str(item).partition("=")
            env[key] = value
        ref = (
            (index["manifests"][0].get("annotations") or {}).get("org.opencontainers.image.ref.name")
        ) or ""
        return Base(layers, env, str(config.get("architecture", "")), str(ref))
