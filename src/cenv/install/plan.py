"""The install plan: what to fetch and what to link from the package cache. Pure data, no I/O.

A `--dry-run` prints it; `conda.install_plan` carries it out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cenv.lock.models import LockedPackage

__all__ = ["Action", "InstallPlan", "PlannedPackage", "content_key", "dist_name", "make_plan"]

#: cached: an extracted, checksum-matching entry in the package cache is linked as is;
#: archive: the archive is in the package cache but not extracted: re-hashed locally, then linked;
#: fetch: downloaded (or copied from a file:// channel) into the cache and hashed before linking.
Action = Literal["cached", "archive", "fetch"]

_EXTENSIONS = (".conda", ".tar.bz2")


def content_key(package: LockedPackage) -> tuple[str, str]:
    """What binds a lock record to a cache entry: its file name and its checksum (sha256, else md5)."""
    return package.filename, (package.hash.sha256 or package.hash.md5 or "").lower()


def dist_name(filename: str) -> str:
    """`name-version-build` of an archive file name."""
    for ext in _EXTENSIONS:
        if filename.endswith(ext):
            return filename[: -len(ext)]
    return filename


@dataclass(frozen=True)
class PlannedPackage:
    package: LockedPackage
    action: Action
    size: int | None = None  # archive size in bytes where known without downloading

    @property
    def filename(self) -> str:
        return self.package.filename

    @property
    def dist(self) -> str:
        return dist_name(self.package.filename)


@dataclass(frozen=True)
class InstallPlan:
    prefix: Path
    platform: str
    pkgs_dir: Path
    packages: tuple[PlannedPackage, ...]
    replaces_existing: bool = False
    env_vars: Mapping[str, str] = field(default_factory=dict)
    pip: tuple[LockedPackage, ...] = ()  # installed with uv after the conda part, inside the same staging
    pip_editable: frozenset[str] = (
        frozenset()
    )  # pip packages installed editable (the lock's cenv.pip-editable)
    damaged: frozenset[str] = frozenset()  # file names whose extracted cache entry failed its check
    # cached entries whose per-file stamp check runs while rattler links (their paths.json is the checked one)
    unverified: frozenset[str] = frozenset()

    @property
    def to_fetch(self) -> list[PlannedPackage]:
        return [p for p in self.packages if p.action == "fetch"]

    @property
    def from_cache(self) -> list[PlannedPackage]:
        return [p for p in self.packages if p.action != "fetch"]

    @property
    def fetch_size(self) -> int | None:
        """Bytes to fetch, or None when some sizes are unknown."""
        sizes = [p.size for p in self.to_fetch]
        return None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)

    def summary(self) -> dict[str, object]:
        return {
            "prefix": str(self.prefix),
            "platform": self.platform,
            "packages": len(self.packages),
            "replaces_existing": self.replaces_existing,
            "fetch": [{"name": p.package.name, "url": p.package.url, "size": p.size} for p in self.to_fetch],
            "from_cache": [p.package.name for p in self.from_cache],
            "fetch_bytes": self.fetch_size,
            "pip": [{"name": p.name, "version": p.version, "url": p.url} for p in self.pip],
        }


def make_plan(
    prefix: Path,
    platform: str,
    pkgs_dir: Path,
    packages: Iterable[LockedPackage],
    cached: Iterable[tuple[str, str]],
    archives: Iterable[tuple[str, str]] = (),
    sizes: Mapping[str, int] | None = None,
    replaces_existing: bool = False,
    env_vars: Mapping[str, str] | None = None,
    pip: Iterable[LockedPackage] = (),
    damaged: Iterable[str] = (),
    pip_editable: Iterable[str] = (),
    unverified: Iterable[str] = (),
) -> InstallPlan:
    """Decide per package: `cached` if its content key (file name and checksum, `content_key`) is in `cached`
    (extracted entries of that very archive), `archive` if in `archives` (an archive file of that name is in
    the cache; its checksum is checked before use), else `fetch`."""
    cached_set, archive_set = set(cached), set(archives)
    sizes = sizes or {}
    planned = []
    for package in packages:
        key = content_key(package)
        action: Action = "cached" if key in cached_set else "archive" if key in archive_set else "fetch"
        planned.append(PlannedPackage(package=package, action=action, size=sizes.get(package.filename)))
    return InstallPlan(
        prefix=prefix,
        platform=platform,
        pkgs_dir=pkgs_dir,
        packages=tuple(planned),
        replaces_existing=replaces_existing,
        env_vars=dict(env_vars or {}),
        pip=tuple(pip),
        pip_editable=frozenset(pip_editable),
        damaged=frozenset(damaged),
        unverified=frozenset(unverified),
    )
