"""What changed between two lockfiles, per platform: added, removed, upgraded, downgraded, rebuilt.

Packages are matched by (manager, name) within a platform. Versions compare with `rattler.Version` for
conda packages and PEP 440 for pip packages. Same version with another build string (conda's
`name-version-build.ext` file name, e.g. a `cpu_*` build replaced by a `cuda*` one) or another checksum
is "rebuilt". Channel URLs are not compared: the same file from a mirror is the same package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from cenv.lock.models import LockedPackage, Lockfile, Manager

__all__ = [
    "ChangeKind",
    "LockDiff",
    "PackageChange",
    "PlatformDiff",
    "build_of",
    "diff_locks",
    "render_diff",
]

ChangeKind = Literal["added", "removed", "upgraded", "downgraded", "rebuilt"]
CHANGE_KINDS: tuple[ChangeKind, ...] = ("added", "removed", "upgraded", "downgraded", "rebuilt")
_MARKERS: dict[ChangeKind, str] = {
    "added": "+",
    "removed": "-",
    "upgraded": "^",
    "downgraded": "v",
    "rebuilt": "~",
}
_CONDA_EXTENSIONS = (".conda", ".tar.bz2")


def build_of(package: LockedPackage) -> str | None:
    """The build string of a conda package: the lock's `build` if set, else from `name-version-build.ext`."""
    if package.build:
        return package.build
    if not package.is_conda:
        return None
    filename = package.filename
    for extension in _CONDA_EXTENSIONS:
        if filename.endswith(extension):
            stem = filename[: -len(extension)]
            parts = stem.rsplit("-", 2)
            return parts[2] if len(parts) == 3 else None
    return None


@dataclass(frozen=True)
class PackageChange:
    """One package that differs; `old_*` is None for added packages, `new_*` for removed ones."""

    kind: ChangeKind
    name: str
    manager: Manager
    old_version: str | None = None
    new_version: str | None = None
    old_build: str | None = None
    new_build: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "manager": self.manager,
            "old": None
            if self.old_version is None
            else {"version": self.old_version, "build": self.old_build},
            "new": None
            if self.new_version is None
            else {"version": self.new_version, "build": self.new_build},
        }


@dataclass(frozen=True)
class PlatformDiff:
    platform: str
    changes: tuple[PackageChange, ...] = ()

    def of_kind(self, kind: ChangeKind, manager: Manager | None = None) -> list[PackageChange]:
        return [c for c in self.changes if c.kind == kind and (manager is None or c.manager == manager)]

    def counts(self) -> dict[str, int]:
        return {kind: len(self.of_kind(kind)) for kind in CHANGE_KINDS}


@dataclass(frozen=True)
class LockDiff:
    """Differences from an old lock to a new one. Platforms only in one lock are listed, not expanded."""

    platforms: tuple[PlatformDiff, ...] = ()
    platforms_added: tuple[str, ...] = ()
    platforms_removed: tuple[str, ...] = ()
    unchanged: dict[str, int] = field(default_factory=dict)  # platform -> packages that are the same

    @property
    def has_changes(self) -> bool:
        return bool(self.platforms_added or self.platforms_removed or any(p.changes for p in self.platforms))

    def platform(self, name: str) -> PlatformDiff | None:
        return next((p for p in self.platforms if p.platform == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "has_changes": self.has_changes,
            "platforms_added": list(self.platforms_added),
            "platforms_removed": list(self.platforms_removed),
            "platforms": {
                p.platform: {
                    "counts": {**p.counts(), "unchanged": self.unchanged.get(p.platform, 0)},
                    **{kind: [c.to_json() for c in p.of_kind(kind)] for kind in CHANGE_KINDS},
                }
                for p in self.platforms
            },
        }


def _compare_versions(old: str, new: str, manager: Manager) -> int:
    """-1, 0 or 1. Falls back to text comparison only when a version cannot be parsed at all."""
    if old == new:
        return 0
    if manager == "pip":
        from packaging.version import InvalidVersion, Version

        try:
            a, b = Version(old), Version(new)
            return (a > b) - (a < b)
        except InvalidVersion:
            pass
    from rattler import Version as CondaVersion
    from rattler.exceptions import InvalidVersionError

    try:
        x, y = CondaVersion(old), CondaVersion(new)
    except InvalidVersionError:
        return (old > new) - (old < new)
    return (x > y) - (x < y)


def _change(old: LockedPackage | None, new: LockedPackage | None) -> PackageChange | None:
    if old is None and new is None:  # pragma: no cover - never called so
        return None
    if old is None:
        assert new is not None
        return PackageChange("added", new.name, new.manager, new_version=new.version, new_build=build_of(new))
    if new is None:
        return PackageChange(
            "removed", old.name, old.manager, old_version=old.version, old_build=build_of(old)
        )
    order = _compare_versions(old.version, new.version, old.manager)
    old_build, new_build = build_of(old), build_of(new)
    if order < 0:
        kind: ChangeKind = "upgraded"
    elif order > 0:
        kind = "downgraded"
    elif old_build != new_build or _checksum_differs(old, new):
        kind = "rebuilt"
    else:
        return None
    return PackageChange(
        kind,
        new.name,
        new.manager,
        old_version=old.version,
        new_version=new.version,
        old_build=old_build,
        new_build=new_build,
    )


def _checksum_differs(old: LockedPackage, new: LockedPackage) -> bool:
    if old.hash.sha256 and new.hash.sha256:
        return old.hash.sha256 != new.hash.sha256
    if old.hash.md5 and new.hash.md5:
        return old.hash.md5 != new.hash.md5
    return False


def _index(packages: list[LockedPackage]) -> dict[tuple[str, str], LockedPackage]:
    return {(p.manager, p.name.lower()): p for p in packages}


def diff_locks(old: Lockfile, new: Lockfile) -> LockDiff:
    """Per-platform package changes from `old` to `new` (platforms present in both)."""
    old_platforms, new_platforms = old.platforms, new.platforms
    platforms: list[PlatformDiff] = []
    unchanged: dict[str, int] = {}
    for platform in [p for p in new_platforms if p in old_platforms]:
        before = _index(old.packages_for(platform))
        after = _index(new.packages_for(platform))
        changes = []
        same = 0
        for key in sorted(before.keys() | after.keys(), key=lambda k: (k[0], k[1])):
            change = _change(before.get(key), after.get(key))
            if change is None:
                same += 1
            else:
                changes.append(change)
        platforms.append(PlatformDiff(platform, tuple(changes)))
        unchanged[platform] = same
    return LockDiff(
        platforms=tuple(platforms),
        platforms_added=tuple(p for p in new_platforms if p not in old_platforms),
        platforms_removed=tuple(p for p in old_platforms if p not in new_platforms),
        unchanged=unchanged,
    )


def _describe(change: PackageChange) -> tuple[str, str]:
    name = change.name if change.manager == "conda" else f"{change.name} (pip)"

    def version(v: str | None, b: str | None) -> str:
        return f"{v} {b}" if b else str(v)

    if change.kind == "added":
        return name, version(change.new_version, change.new_build)
    if change.kind == "removed":
        return name, version(change.old_version, change.old_build)
    if change.kind == "rebuilt":
        if change.old_build == change.new_build:
            return (
                name,
                f"{change.new_version} {change.new_build or ''} (same build, other checksum)".replace(
                    "  ", " "
                ),
            )
        return name, f"{change.new_version} {change.old_build} -> {change.new_build}"
    if change.old_build and change.new_build:
        return name, f"{change.old_version} {change.old_build} -> {change.new_version} {change.new_build}"
    return name, f"{change.old_version} -> {change.new_version}"


def render_diff(diff: LockDiff) -> str:
    """Readable text: one section per platform, one line per changed package, a summary line each."""
    lines: list[str] = []
    for platform in diff.platforms_added:
        lines.append(f"{platform}: platform added")
    for platform in diff.platforms_removed:
        lines.append(f"{platform}: platform removed")
    for pdiff in diff.platforms:
        counts = pdiff.counts()
        summary = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
        if not summary:
            lines.append(f"{pdiff.platform}: no changes ({diff.unchanged.get(pdiff.platform, 0)} packages)")
            continue
        lines.append(f"{pdiff.platform}: {summary} ({diff.unchanged.get(pdiff.platform, 0)} unchanged)")
        described = [(_MARKERS[c.kind], *_describe(c)) for kind in CHANGE_KINDS for c in pdiff.of_kind(kind)]
        width = max(len(name) for _, name, _ in described)
        lines.extend(f"  {marker} {name:<{width}}  {text}" for marker, name, text in described)
    if not lines:
        lines.append("no platforms to compare")
    return "\n".join(lines) + "\n"
