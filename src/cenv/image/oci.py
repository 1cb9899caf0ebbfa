"""An OCI image archive (image layout in a tar: `oci-layout`, `index.json`, `blobs/sha256/...`), written
byte for byte the same for the same input: layers are tars with sorted entries, a fixed mtime, uid/gid 0 and
no user or host names, gzip without a file name or time; every JSON document sorted and compact.

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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MEDIA_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
EPOCH = 0  # every mtime in a layer (SOURCE_DATE_EPOCH is honoured when set)


def source_date_epoch() -> int:
    """The time every file and record of an image carries: SOURCE_DATE_EPOCH when set, else 0."""
    return _epoch()


def _epoch() -> int:
    try:
        return int(os.environ.get("SOURCE_DATE_EPOCH", EPOCH))
    except ValueError:
        return EPOCH


def _json(data: object) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class Blob:
    media_type: str
    digest: str  # sha256:<hex>
    size: int
    data: bytes = field(repr=False)

    @classmethod
    def of(cls, media_type: str, data: bytes) -> Blob:
        return cls(media_type, "sha256:" + hashlib.sha256(data).hexdigest(), len(data), data)

    def descriptor(self, **extra: object) -> dict[str, object]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}


@dataclass(frozen=True)
class Layer:
    blob: Blob
    diff_id: str  # sha256 of the uncompressed tar (the config's rootfs.diff_ids)
    files: int


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


def layer_tar(root: Path, paths: Iterable[str], under: str) -> tuple[bytes, int]:
    """A deterministic tar of `paths` (relative to `root`, `/`-separated) placed under `under` (e.g.
    `opt/env`), with their parent folders; sorted, fixed mtime, uid/gid 0. Returns (bytes, file count)."""
    epoch = _epoch()
    wanted = sorted(set(paths))
    folders: set[str] = set()
    for path in wanted:
        parts = path.split("/")[:-1]
        folders.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    prefix = under.strip("/")
    top = prefix.split("/") if prefix else []
    outer = ["/".join(top[: i + 1]) for i in range(len(top))]
    out = io.BytesIO()
    count = 0
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in outer:
            entry = tarfile.TarInfo(name)
            entry.type, entry.mode, entry.mtime = tarfile.DIRTYPE, 0o755, epoch
            tar.addfile(entry)
        for path in sorted(folders | set(wanted)):
            source = root / path
            entry = _tar_info(f"{prefix}/{path}" if prefix else path, source, epoch)
            if entry.type == tarfile.REGTYPE:
                with open(source, "rb") as handle:
                    tar.addfile(entry, handle)
                count += 1
            else:
                tar.addfile(entry)
    return out.getvalue(), count


def compress(data: bytes, compression: str, level: int | None = None) -> tuple[str, bytes]:
    """(media type, bytes) of a layer tar compressed as asked: gzip (no name, mtime 0) or zstd or none."""
    if compression == "gzip":
        out = io.BytesIO()
        with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="", compresslevel=level or 6) as gz:
            gz.write(data)
        return MEDIA_LAYER_GZIP, out.getvalue()
    if compression == "zstd":
        import zstandard

        return MEDIA_LAYER_ZSTD, zstandard.ZstdCompressor(level=level or 3).compress(data)
    if compression == "none":
        return MEDIA_LAYER_TAR, data
    raise ValueError(f"unknown compression {compression!r}")


def make_layer(tar: bytes, files: int, compression: str) -> Layer:
    media, data = compress(tar, compression)
    return Layer(Blob.of(media, data), "sha256:" + hashlib.sha256(tar).hexdigest(), files)


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
    epoch = _epoch()
    try:
        with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:

            def add(name: str, data: bytes, mode: int = 0o644) -> None:
                entry = tarfile.TarInfo(name)
                entry.size, entry.mode, entry.mtime = len(data), mode, epoch
                tar.addfile(entry, io.BytesIO(data))

            def folder(name: str) -> None:
                entry = tarfile.TarInfo(name)
                entry.type, entry.mode, entry.mtime = tarfile.DIRTYPE, 0o755, epoch
                tar.addfile(entry)

            add("oci-layout", _json({"imageLayoutVersion": "1.0.0"}))
            add("index.json", _json(index))
            folder("blobs")
            folder("blobs/sha256")
            for digest in sorted(blobs):
                add(f"blobs/sha256/{digest.removeprefix('sha256:')}", blobs[digest].data)
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


def read_base(path: Path) -> Base:
    """The first image of the OCI archive at `path`. A base is untrusted input: only regular members under
    `blobs/sha256/` and the two layout files are read, each digest is checked, documents are bounded."""
    try:
        tar = tarfile.open(path, mode="r:")  # noqa: SIM115 - closed by the `with` below; plain tar only
    except (OSError, tarfile.TarError) as exc:
        raise BaseError(f"not a tar archive: {exc}") from None
    with tar:
        members = {}
        for member in tar.getmembers():
            if member.isdir():
                continue
            if not member.isreg():
                raise BaseError(f"member `{member.name}` is not a regular file")
            members[member.name.removeprefix("./")] = member

        def read(name: str, limit: int | None = None) -> bytes:
            member = members.get(name)
            if member is None:
                raise BaseError(f"no `{name}` in the archive")
            if limit is not None and member.size > limit:
                raise BaseError(f"`{name}` is larger than {limit} bytes")
            handle = tar.extractfile(member)
            if handle is None:
                raise BaseError(f"`{name}` cannot be read")
            return handle.read()

        def blob(descriptor: Mapping[str, object], limit: int | None = None) -> bytes:
            digest = str(descriptor.get("digest", ""))
            if not digest.startswith("sha256:") or len(digest) != 71:
                raise BaseError(f"unsupported digest `{digest[:80]}`")
            data = read(f"blobs/sha256/{digest[7:]}", limit)
            if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
                raise BaseError(f"blob {digest} does not match its digest")
            return data

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
        layers = tuple(
            Layer(Blob.of(str(d.get("mediaType", MEDIA_LAYER_TAR)), blob(d)), str(diff), 0)
            for d, diff in zip(descriptors, diff_ids, strict=True)
        )
        env = {}
        for item in (config.get("config") or {}).get("Env") or ():
            key, _, value = str(item).partition("=")
            env[key] = value
        ref = (
            (index["manifests"][0].get("annotations") or {}).get("org.opencontainers.image.ref.name")
        ) or ""
        return Base(layers, env, str(config.get("architecture", "")), str(ref))
