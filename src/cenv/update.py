"""`cenv lock --update NAMES`: move the named packages and only what must move with them.

A solve with every other locked record preferred (rattler's `locked_packages`) says where the named packages
go; a second solve pins every other record (`pinned_packages`) with the named ones at those versions. When the
pins leave no solution, the preferred solve stands, and each other package that changed is reported with the
requirement, from the new solution, that its locked version does not satisfy.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from cenv.errors import SolveError, UserError
from cenv.solve import SolveRequest, records_for_urls, solve

if TYPE_CHECKING:
    import rattler

    from cenv.lock.models import Lockfile


@dataclass(frozen=True)
class Moved:
    """A package `--update` did not name that changed anyway, and the requirement that forced it."""

    platform: str
    name: str
    before: str  # version-build, "" when it was not locked
    after: str  # "" when it was removed
    because: str  # e.g. "pytorch 2.8.0 requires `numpy >=2`"

    def __str__(self) -> str:
        change = f"{self.before or 'none'} -> {self.after or 'removed'}"
        return f"{self.platform}: {self.name} {change} ({self.because})"


def check_update_names(previous: Lockfile, names: tuple[str, ...], platforms: tuple[str, ...]) -> None:
    """Every `--update NAME` must be a package of the lock (exit 1 with did-you-mean otherwise)."""
    locked = {p.name for p in previous.package if p.platform in platforms}
    unknown = [n for n in names if n not in locked]
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(locked), n=3, cutoff=0.6)
        if close:
            hints.append(f"`{name}`: did you mean {', '.join(f'`{c}`' for c in close)}?")
    hints.append("`--update NAME` re-solves packages of the lock; to add a package, add it to the spec")
    raise UserError(f"`--update`: {', '.join(f'`{n}`' for n in unknown)} not in the lock", hints=hints)


async def solve_update(
    gateway: rattler.Gateway, request: SolveRequest, previous: Lockfile, names: tuple[str, ...]
) -> tuple[list[rattler.RepoDataRecord], list[Moved]]:
    """Solve with every locked package except `names` pinned; if that fails, prefer them and report."""
    platform = request.platform
    keep = {p.name: p.url for p in previous.packages_for(platform, "conda") if p.name not in names}
    kept = await records_for_urls(gateway, request.channels, platform, keep)
    # The solve with every other package preferred (soft) says where the named packages go; then the same
    # with every other package pinned (hard) keeps all of them when that is possible.
    soft = await solve(replace(request, locked=tuple(kept)), gateway)
    targets = tuple(r for r in soft if r.name.normalized in names)
    try:
        return await solve(replace(request, pinned=(*kept, *targets)), gateway), []
    except SolveError:
        pass
    return soft, _moved(platform, previous, soft, names)


def _moved(
    platform: str, previous: Lockfile, records: list[rattler.RepoDataRecord], names: tuple[str, ...]
) -> list[Moved]:
    from rattler import MatchSpec

    before = {p.name: p for p in previous.packages_for(platform, "conda")}
    after = {r.name.normalized: r for r in records}
    moved = []
    for name, old in sorted(before.items()):
        if name in names:
            continue
        new = after.get(name)
        if new is not None and new.url.rsplit("/", 1)[-1] == old.url.rsplit("/", 1)[-1]:
            continue
        because = "no longer needed"
        if new is not None:
            because = "no single requirement found: moved with the packages around it"
            for other in records:
                for dep in other.depends or []:
                    try:
                        spec = MatchSpec(dep)
                    except Exception:
                        continue
                    if spec.name is None or spec.name.normalized != name:
                        continue
                    if spec.version is not None and not _version_ok(str(spec.version), old.version):
                        because = f"{other.name.normalized} {other.version} requires `{dep}`"
                        break
                else:
                    continue
                break
        old_text = f"{old.version}"
        new_text = f"{new.version}-{new.build}" if new is not None else ""
        moved.append(Moved(platform, name, old_text, new_text, because))
    return moved


def _version_ok(constraint: str, version: str) -> bool:
    from rattler import Version, VersionSpec

    try:
        return bool(VersionSpec(constraint).matches(Version(version)))
    except Exception:
        return True
