"""The lockfile model: conda-lock v1 with cenv's own facts in `metadata.custom_metadata`.

conda-lock's parser forbids extra keys, so everything cenv adds lives in the string-to-string
`custom_metadata` map under `cenv.*` keys (see CUSTOM_* below).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
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
CUSTOM_PIP_REQUESTED = "cenv.pip-requested."  # + platform, value: the spec's pip lines, joined by "\n"
CENV_LOCK_FORMAT = "1"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class LockChannel(_Frozen):
    url: str
    used_env_vars: tuple[str, ...] = ()


class PackageHash(_Frozen):
    md5: str | None = None
    sha256: str | None = None


class PackageSource(_Frozen):
    """conda-lock v1 `source:` of a pip package installed from a direct URL."""

    type: Literal["url"] = "url"
    url: str


class LockedPackage(_Frozen):
    """One package for one platform, as in conda-lock v1's `package:` list."""

    name: str
    version: str
    manager: Manager = "conda"
    platform: str
    dependencies: dict[str, str] = Field(default_factory=dict)
    url: str
    hash: PackageHash
    source: PackageSource | None = None
    build: str | None = None
    category: str = "main"
    optional: bool = False

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def is_conda(self) -> bool:
        return self.manager == "conda"


class TimeMetadata(_Frozen):
    created_at: str


class GitMetadata(_Frozen):
    git_user_name: str | None = None
    git_user_email: str | None = None
    git_sha: str | None = None


class InputMetadata(_Frozen):
    md5: str | None = None
    sha256: str | None = None


class LockMetadata(_Frozen):
    """conda-lock v1 `metadata:`; fields in conda-lock's order (the writer keeps it)."""

    content_hash: dict[str, str] = Field(default_factory=dict)
    channels: tuple[LockChannel, ...] = ()
    platforms: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    time_metadata: TimeMetadata | None = None
    git_metadata: GitMetadata | None = None
    inputs_metadata: dict[str, InputMetadata] | None = None
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
            p for p in self.package if p.platform == platform and (manager is None or p.manager == manager)
        ]

    def virtual_packages(self, platform: str) -> tuple[VirtualPackageSpec, ...] | None:
        """The virtual packages cenv assumed when it solved `platform`; None for other tools' locks."""
        text = self.metadata.custom(CUSTOM_VIRTUAL_PACKAGES + platform)
        return None if text is None else parse_virtual_packages(text)

    @property
    def written_by_cenv(self) -> bool:
        return self.metadata.custom(CUSTOM_VERSION) is not None


# Where a dependency's package name ends: whitespace, an operator or a bracket (`numpy>=1.2`, `numpy[...]`).
_NAME_END = re.compile(r"[\s=<>!~\[]")
_AROUND_SEPARATORS = re.compile(r"\s*([,|])\s*")
_AFTER_OPERATOR = re.compile(r"(==|!=|>=|<=|~=|>|<)\s+")
_BRACKET_VERSION = re.compile(r"""\bversion\s*=\s*(?:'([^']*)'|"([^"]*)"|([^,\]\s]+))""")


@functools.lru_cache(maxsize=8192)  # a lock repeats few distinct specs (1891 depends, 208 distinct)
def _split_depend(spec: str) -> tuple[str, str]:
    """`"python >=3.9,<3.10.0a0 *_cpython"` -> `("python", ">=3.9,<3.10.0a0")`, as conda-lock stores it.

    conda-lock keeps only the version part of a match spec (`MatchSpec(dep).version.spec_str`); the build
    string is dropped, a bare name maps to `""`.
    """
    spec = spec.strip()
    match = _NAME_END.search(spec)
    if match is None:
        name, rest = spec, ""
    else:
        name, rest = spec[: match.start()], spec[match.start() :].strip()
    if "::" in name:  # `conda-forge::numpy`
        name = name.rsplit("::", 1)[1]
    if rest.startswith("["):
        found = _BRACKET_VERSION.search(rest)
        return name, next((g for g in found.groups() if g is not None), "") if found else ""
    rest = _AFTER_OPERATOR.sub(r"\1", _AROUND_SEPARATORS.sub(r"\1", rest))
    if rest.startswith("=") and not rest.startswith("=="):
        # `numpy=1.26` / `numpy =1.26` is fuzzy (1.26.*); `numpy=1.26=py_0` pins the version exactly
        version, sep, _build = rest[1:].partition("=")
        version = version.split()[0] if version.split() else ""
        if version and not sep and not version.endswith("*") and not any(c in version for c in ",|"):
            version += ".*"
        return name, version
    version = rest.split()[0] if rest else ""
    if version.startswith("==") and not any(c in version[2:] for c in ",|"):
        version = version[2:]
    return name, version


def dependencies_from_depends(depends: Sequence[str]) -> dict[str, str]:
    """A conda record's `depends` as conda-lock v1's `dependencies:` map (name -> version spec).

    The build-string part of a spec is dropped, like conda-lock does; two specs for one name are joined
    with `,` (both must hold). Order of first appearance is kept; the writer sorts by name.
    """
    result: dict[str, str] = {}
    for spec in depends:
        if not spec or not spec.strip():
            continue
        name, version = _split_depend(spec)
        if not name:
            continue
        previous = result.get(name)
        if previous is None or previous in ("", "*"):
            result[name] = version
        elif version not in ("", "*", previous):
            result[name] = f"{previous},{version}"
    return result
