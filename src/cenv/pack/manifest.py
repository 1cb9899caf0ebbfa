"""The pack's layout and its manifest (`cenv-pack.json`): every file of the pack with its sha256 and size.

A pack (a tar, or the folder it unpacks to) holds:

    cenv-pack.json              this manifest
    <name>-lock.yml             the lockfile, its URLs relative to the pack (`channel/...`, `pypi/...`)
    channel/<subdir>/...        the locked conda archives and a repodata.json per subdir (noarch always)
    pypi/...                    the locked wheels and sdists
    explicit-<platform>.txt     `@EXPLICIT` files for conda/mamba/micromamba, run from the pack's folder
    requirements-<platform>.txt hashed pip requirements of the pack's own wheels, same folder

Nothing of this module touches the network or rattler: `cenv create` imports it to recognise a pack.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from cenv.errors import UserError

__all__ = [
    "CHANNEL_DIR",
    "MANIFEST",
    "MAX_MANIFEST_BYTES",
    "PYPI_DIR",
    "Manifest",
    "PackError",
    "PackFile",
    "is_pack",
    "safe_member_name",
]

MANIFEST = "cenv-pack.json"
FORMAT = "cenv-pack/1"
CHANNEL_DIR = "channel"
PYPI_DIR = "pypi"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_MANIFEST_BYTES = 64 * 1024 * 1024


class PackError(UserError):
    """A pack that cannot be written, read or trusted."""


@dataclass(frozen=True)
class PackFile:
    path: str  # relative, POSIX separators
    sha256: str
    size: int
    source: str | None = None  # where it came from (credentials stripped), for the record


@dataclass(frozen=True)
class Manifest:
    lockfile: str  # file name of the lockfile inside the pack
    platforms: tuple[str, ...]
    files: Mapping[str, PackFile]  # every file of the pack but the manifest itself
    cenv_version: str

    def to_json(self) -> str:
        payload: dict[str, Any] = {
            "format": FORMAT,
            "cenv_version": self.cenv_version,
            "lockfile": self.lockfile,
            "platforms": list(self.platforms),
            "files": {
                path: {"sha256": f.sha256, "size": f.size, **({"source": f.source} if f.source else {})}
                for path, f in sorted(self.files.items())
            },
        }
        return json.dumps(payload, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> Manifest:
        """Parse and check a manifest; every problem is a PackError naming `where`."""
        if len(data) > MAX_MANIFEST_BYTES:
            raise PackError(f"{where}: {MANIFEST} is too large")
        try:
            payload = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise PackError(f"{where}: {MANIFEST} is not valid JSON ({exc})") from None
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            found = payload.get("format") if isinstance(payload, dict) else None
            raise PackError(
                f"{where}: not a cenv pack of a known format (format `{found}`, expected `{FORMAT}`)",
                hints=["make the pack again with this version of cenv: `cenv pack LOCK -o FILE.tar`"],
            )
        files_raw = payload.get("files")
        lockfile = payload.get("lockfile")
        platforms = payload.get("platforms")
        if (
            not isinstance(files_raw, dict)
            or not isinstance(lockfile, str)
            or not isinstance(platforms, list)
        ):
            raise PackError(f"{where}: {MANIFEST} lacks `files`, `lockfile` or `platforms`")
        files: dict[str, PackFile] = {}
        for path, entry in files_raw.items():
            if not isinstance(path, str) or not safe_member_name(path) or path == MANIFEST:
                raise PackError(f"{where}: {MANIFEST} lists an unsafe path `{path}`")
            if (
                not isinstance(entry, dict)
                or not isinstance(entry.get("sha256"), str)
                or not _SHA256.match(entry["sha256"])
                or not isinstance(entry.get("size"), int)
                or entry["size"] < 0
            ):
                raise PackError(f"{where}: {MANIFEST} has no valid sha256 and size for `{path}`")
            source = entry.get("source")
            files[path] = PackFile(
                path, entry["sha256"], entry["size"], source if isinstance(source, str) else None
            )
        from cenv.platforms import KNOWN_PLATFORMS

        unknown = [p for p in platforms if not isinstance(p, str) or p not in KNOWN_PLATFORMS]
        if unknown:
            raise PackError(f"{where}: {MANIFEST} names an unknown platform `{str(unknown[0])[:60]}`")
        if lockfile not in files:
            raise PackError(f"{where}: the lockfile `{lockfile}` named in {MANIFEST} is not in the pack")
        return cls(
            lockfile=lockfile,
            platforms=tuple(str(p) for p in platforms),
            files=files,
            cenv_version=str(payload.get("cenv_version", "")),
        )


def safe_member_name(name: str) -> bool:
    """A relative POSIX path that stays inside the folder it is unpacked into."""
    if not name or "\\" in name or "\x00" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return False
    parts = PurePosixPath(name).parts
    return bool(parts) and all(part not in ("..", "") for part in parts)


def is_pack(path: Path) -> bool:
    """A pack written by `cenv pack`: a folder holding `cenv-pack.json`, or a tar file."""
    if path.is_dir():
        return (path / MANIFEST).is_file()
    if not path.is_file() or path.name.endswith((".yml", ".yaml", ".txt", ".lock", ".json")):
        return False
    import tarfile  # here: `cenv create LOCK` asks first, and should not pay for it

    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False
