"""Virtual packages for a *target* platform, never read from the host unless asked.

Defaults follow conda-lock's virtual-packages.yml; a conda-lock style file overrides them per platform,
and CLI flags (--cuda, --glibc, --osx) override the file. Each value records where it came from.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import cenv
from cenv.cache_files import store_text
from cenv.errors import SpecError, UsageError
from cenv.platforms import archspec_of
from cenv.redact import redact

if TYPE_CHECKING:
    import rattler

# One of cenv.precedence.PROVIDERS ("lock": a flag recorded in an existing lockfile, replayed as a flag)
Source = Literal["flag", "lock", "env", "condarc", "file", "variant", "spec", "recorded", "default"]


@dataclass(frozen=True, slots=True)
class VirtualPackageSpec:
    """A virtual package assumed for a platform: name, version and build string."""

    name: str
    version: str
    build: str = "0"

    def __str__(self) -> str:
        return f"{self.name}={self.version}={self.build}"

    @classmethod
    def parse(cls, text: str) -> VirtualPackageSpec:
        name, _, rest = text.partition("=")
        version, _, build = rest.partition("=")
        return cls(name=name, version=version or "0", build=build or "0")


def format_virtual_packages(packages: Iterable[VirtualPackageSpec]) -> str:
    return ",".join(str(p) for p in sorted(packages, key=lambda p: p.name))


def parse_virtual_packages(text: str) -> tuple[VirtualPackageSpec, ...]:
    return tuple(VirtualPackageSpec.parse(part) for part in text.split(",") if part)


DEFAULT_GLIBC = "2.28"
DEFAULT_OSX = "11.0"
DEFAULT_LINUX = "5.10"


@dataclass(frozen=True)
class VirtualPackageOptions:
    """What the user asked for. Precedence per value: flag > virtual-packages file > spec > default."""

    cuda: str | None = None  # --cuda VERSION
    no_cuda: bool = False  # --cuda none: no __cuda even where the file or spec sets one
    glibc: str | None = None
    osx: str | None = None
    file_overrides: Mapping[str, Mapping[str, str]] = field(
        default_factory=dict
    )  # platform -> name -> "ver [build]"


@dataclass(frozen=True)
class VirtualPackages:
    platform: str
    packages: tuple[VirtualPackageSpec, ...]
    sources: Mapping[str, Source]

    def get(self, name: str) -> VirtualPackageSpec | None:
        return next((p for p in self.packages if p.name == name), None)

    def to_rattler(self) -> list[rattler.GenericVirtualPackage]:
        from rattler import BuildString, GenericVirtualPackage, PackageName, Version

        return [
            GenericVirtualPackage(PackageName(p.name), Version(p.version), BuildString(p.build))
            for p in self.packages
        ]


_VERSION = re.compile(r"^\d+(\.\d+){0,3}$")


def check_version_flag(flag: str, value: str | None, *, allow_none: bool = False) -> str | None:
    """`--cuda 12.4` / `--glibc 2.28` / `--osx 13.0`: a version, or (for --cuda) `none`; else UserError."""
    if value is None:
        return None
    text = value.strip()
    if allow_none and text.lower() == "none":
        return "none"
    if flag == "--cuda":
        return _check_cuda(value, text)
    if _VERSION.match(text):
        return text
    examples = {"--cuda": "12.4", "--glibc": "2.28", "--osx": "13.0"}
    hint = f"give a version like `{flag} {examples.get(flag, '1.0')}`"
    if allow_none:
        hint += f", or `{flag} none` for a target without CUDA"
    raise UsageError(f"`{flag} {value}`: not a version", hints=[hint])


# CUDA's major versions that drivers report (`__cuda`): 7.0 (2015) to 13.x (2025); one above the newest is
# let through, so a lock for a driver released after this list still works
KNOWN_CUDA_MAJORS = range(7, 15)
_CUDA_LABEL = re.compile(r"^(?:cuda|cu)[-_]?(\d{2,3})$", re.IGNORECASE)


def _check_cuda(value: str, text: str) -> str:
    """`--cuda 12.1`: a version whose major CUDA has; `cu121` / `cuda12.1` get the version they name."""
    label = _CUDA_LABEL.match(text)
    spelled = re.match(r"^cuda[-_]?(\d+(?:\.\d+)*)$", text, re.IGNORECASE)
    guess = None
    if label:
        digits = label.group(1)
        guess = f"{digits[:-1]}.{digits[-1]}"
    elif spelled:
        guess = spelled.group(1)
    if guess is not None:
        raise UsageError(
            f"`--cuda {value}`: not a version: did you mean `--cuda {guess}`?",
            hints=["--cuda takes the driver's CUDA version (`nvidia-smi` shows it), e.g. `--cuda 12.1`"],
        )
    if not _VERSION.match(text):
        raise UsageError(
            f"`--cuda {value}`: not a version",
            hints=["give a version like `--cuda 12.4`, or `--cuda none` for a target without CUDA"],
        )
    major = int(text.split(".")[0])
    if major not in KNOWN_CUDA_MAJORS:
        near = f"{text[:-1]}.{text[-1]}" if "." not in text and len(text) == 3 else None
        known = f"known CUDA versions run from {KNOWN_CUDA_MAJORS.start} to {KNOWN_CUDA_MAJORS.stop - 2}.x"
        hint = f"did you mean `--cuda {near}`?" if near and int(near[:2]) in KNOWN_CUDA_MAJORS else known
        raise UsageError(f"`--cuda {value}`: CUDA has no version {major}", hints=[hint])
    return text


def defaults_for(platform: str) -> dict[str, VirtualPackageSpec]:
    family = platform.split("-", 1)[0]
    arch = VirtualPackageSpec(name="__archspec", version="1", build=archspec_of(platform))
    if family == "linux":
        return {
            "__unix": VirtualPackageSpec(name="__unix", version="0"),
            "__linux": VirtualPackageSpec(name="__linux", version=DEFAULT_LINUX),
            "__glibc": VirtualPackageSpec(name="__glibc", version=DEFAULT_GLIBC),
            "__archspec": arch,
        }
    if family == "osx":
        return {
            "__unix": VirtualPackageSpec(name="__unix", version="0"),
            "__osx": VirtualPackageSpec(name="__osx", version=DEFAULT_OSX),
            "__archspec": arch,
        }
    if family == "win":
        return {"__win": VirtualPackageSpec(name="__win", version="0"), "__archspec": arch}
    return {}


def parse_value(name: str, value: str) -> VirtualPackageSpec:
    version, _, build = str(value).strip().partition(" ")
    return VirtualPackageSpec(name=name, version=version or "0", build=build.strip() or "0")


def build_virtual_packages(
    platform: str, options: VirtualPackageOptions, spec_cuda: str | None = None
) -> VirtualPackages:
    """The virtual packages to assume for `platform` (noarch gets none)."""
    chosen = defaults_for(platform)
    sources: dict[str, Source] = dict.fromkeys(chosen, "default")
    family = platform.split("-", 1)[0]
    if spec_cuda is not None and family in ("linux", "win"):
        chosen["__cuda"] = VirtualPackageSpec(name="__cuda", version=spec_cuda)
        sources["__cuda"] = "spec"
    for name, value in options.file_overrides.get(platform, {}).items():
        chosen[name] = parse_value(name, value)
        sources[name] = "file"
    flags = {
        "__glibc": options.glibc if family == "linux" else None,
        "__osx": options.osx if family == "osx" else None,
    }
    if family in ("linux", "win"):
        flags["__cuda"] = options.cuda
    for name, version in flags.items():
        if version is not None:
            chosen[name] = VirtualPackageSpec(name=name, version=version)
            sources[name] = "flag"
    if options.no_cuda:
        chosen.pop("__cuda", None)
        sources.pop("__cuda", None)
    packages = tuple(sorted(chosen.values(), key=lambda p: p.name))
    return VirtualPackages(platform=platform, packages=packages, sources=sources)


def load_virtual_packages_file(path: Path) -> dict[str, dict[str, str]]:
    """Read conda-lock's virtual-packages.yml: `subdirs: {platform: {packages: {__cuda: "12.0"}}}`.

    A file read without error before is taken from cenv's cache by its text (importing ruamel.yaml is
    a tenth of a warm lock's start-up, issue #21); errors are never cached."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SpecError(f"{path}: virtual packages file not found") from exc
    key = _file_key(text)
    cached = _cached_file(key)
    if cached is not None:
        return cached
    result = _parse_virtual_packages_file(path, text)
    stored = json.dumps(result, separators=(",", ":"))
    if redact(stored) == stored:  # cenv writes secrets nowhere, its cache included
        store_text(_cache_folder(), f"{key}.json", stored, _MAX_CACHED_FILES)
    return result


_MAX_CACHED_FILES = 64


def _cache_folder() -> Path:
    from cenv.env_vars import cache_root

    return cache_root() / "virtual-packages"


def _file_key(text: str) -> str:
    try:  # the reader's own modification time too: a development checkout changes it without a new version
        reader = os.stat(__file__).st_mtime_ns
    except OSError:
        reader = 0
    digest = hashlib.sha256(f"cenv {cenv.__version__} {reader} virtual-packages 1\0".encode())
    digest.update(text.encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _cached_file(key: str) -> dict[str, dict[str, str]] | None:
    """The parsed file stored under `key`, or None (absent, unreadable or not of the stored shape)."""
    try:
        data = json.loads((_cache_folder() / f"{key}.json").read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not all(
        isinstance(platform, str)
        and isinstance(packages, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in packages.items())
        for platform, packages in data.items()
    ):
        return None
    return data


def _parse_virtual_packages_file(path: Path, text: str) -> dict[str, dict[str, str]]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe").load(text)
    except YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from exc
    subdirs = data.get("subdirs") if isinstance(data, dict) else None
    if not isinstance(subdirs, dict):
        raise SpecError(
            f"{path}: subdirs: expected a mapping of platform -> packages",
            hints=["format: subdirs: {linux-64: {packages: {__cuda: '12.1', __glibc: '2.28'}}}"],
        )
    result: dict[str, dict[str, str]] = {}
    for platform, body in subdirs.items():
        packages = body.get("packages") if isinstance(body, dict) else None
        if not isinstance(packages, dict):
            raise SpecError(f"{path}: subdirs.{platform}.packages: expected a mapping of name -> version")
        for name in packages:
            if not str(name).startswith("__"):
                raise SpecError(
                    f"{path}: subdirs.{platform}.packages.{name}: virtual package names start with `__`"
                )
        result[str(platform)] = {str(k): str(v) for k, v in packages.items()}
    return result
