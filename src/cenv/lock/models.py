"""The lockfile model: conda-lock v1 with cenv's own facts in `metadata.custom_metadata`.

conda-lock's parser forbids extra keys, so everything cenv adds lives in the string-to-string
`custom_metadata` map under `cenv.*` keys (see CUSTOM_* below).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Manager = Literal["conda", "pip"]

# Keys cenv writes into metadata.custom_metadata.
CUSTOM_VERSION = "cenv.version"
CUSTOM_FORMAT = "cenv.format"
CUSTOM_EXCLUDE_NEWER = "cenv.exclude-newer"
CUSTOM_VIRTUAL_PACKAGES = "cenv.virtual-packages."  # + platform, value "__cuda=12.1=0,__glibc=2.28=0"
CUSTOM_CHANNEL_PRIORITY = "cenv.channel-priority"
CUSTOM_REQUESTED = "cenv.requested."  # + platform, value: the match specs solved for, joined by "\n"
CENV_LOCK_FORMAT = "1"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class LockChannel(_Frozen):
    url: str
    used_env_vars: tuple[str, ...] = ()


class PackageHash(_Frozen):
    md5: str | None = None
    sha256: str | None = None


class LockedPackage(_Frozen):
    """One package for one platform, as in conda-lock v1's `package:` list."""

    name: str
    version: str
    manager: Manager = "conda"
    platform: str
    dependencies: dict[str, str] = Field(default_factory=dict)
    url: str
    hash: PackageHash
    category: str = "main"
    optional: bool = False

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def is_conda(self) -> bool:
        return self.manager == "conda"


class LockMetadata(_Frozen):
    content_hash: dict[str, str] = Field(default_factory=dict)
    channels: tuple[LockChannel, ...] = ()
    platforms: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    custom_metadata: dict[str, str] | None = None

    def custom(self, key: str) -> str | None:
        return (self.custom_metadata or {}).get(key)


class VirtualPackageSpec(_Frozen):
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


class Lockfile(_Frozen):
    """A whole lockfile: metadata plus packages for every platform."""

    version: int = 1
    metadata: LockMetadata
    package: tuple[LockedPackage, ...] = ()

    @property
    def platforms(self) -> tuple[str, ...]:
        if self.metadata.platforms:
            return self.metadata.platforms
        return tuple(sorted({p.platform for p in self.package}))

    def packages_for(self, platform: str, manager: Manager | None = None) -> list[LockedPackage]:
        return [
            p
            for p in self.package
            if p.platform == platform and (manager is None or p.manager == manager)
        ]

    def virtual_packages(self, platform: str) -> tuple[VirtualPackageSpec, ...] | None:
        """The virtual packages cenv assumed when it solved `platform`; None for other tools' locks."""
        text = self.metadata.custom(CUSTOM_VIRTUAL_PACKAGES + platform)
        return None if text is None else parse_virtual_packages(text)

    @property
    def written_by_cenv(self) -> bool:
        return self.metadata.custom(CUSTOM_VERSION) is not None
