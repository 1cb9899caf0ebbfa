"""Virtual packages for a *target* platform, never read from the host unless asked.

Defaults follow conda-lock's virtual-packages.yml; a conda-lock style file overrides them per platform,
and CLI flags (--cuda, --glibc, --osx) override the file. Each value records where it came from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cenv.errors import SpecError, UsageError
from cenv.platforms import archspec_of

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
    if _VERSION.match(text):
        return text
    examples = {"--cuda": "12.4", "--glibc": "2.28", "--osx": "13.0"}
    hint = f"give a version like `{flag} {examples.get(flag, '1.0')}`"
    if allow_none:
        hint += f", or `{flag} none` for a target without CUDA"
    raise UsageError(f"`{flag} {value}`: not a version", hints=[hint])


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
    """Read conda-lock's virtual-packages.yml: `subdirs: {platform: {packages: {__cuda: "12.0"}}}`."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SpecError(f"{path}: virtual packages file not found") from exc
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
