"""`cenv lock --update NAMES`: move the named packages and only what must move with them.

A solve with every other locked record preferred (rattler's `locked_packages`) says where the named packages
go. resolvo's preference is only a preference, so the records it moved are then pinned back
(`pinned_packages`) in groups, halving the groups that leave no solution, within a budget of solves. Each
other package that still changed is reported with the requirement, from the new solution, that its locked
version does not satisfy.
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
    """Solve with every locked package except `names` kept where possible; report what had to move."""
    platform = request.platform
    keep = {p.name: p.url for p in previous.packages_for(platform, "conda") if p.name not in names}
    kept = await records_for_urls(gateway, request.channels, platform, keep)
    # The solve with every other package preferred (soft) says where the named packages go; resolvo's
    # preference is weak, so then as many other packages as possible are pinned back to their locked records.
    soft = await solve(replace(request, locked=tuple(kept)), gateway)
    targets = tuple(r for r in soft if r.name.normalized in names)
    soft_files = {_file(r) for r in soft}
    unchanged = tuple(r for r in kept if _file(r) in soft_files)
    changed = [r for r in kept if _file(r) not in soft_files]
    pins = await _pin_back(gateway, request, (*unchanged, *targets), changed, budget=_SOLVE_BUDGET)
    try:
        records = await solve(replace(request, pinned=pins, locked=tuple(kept)), gateway)
    except SolveError:
        records = soft
    return records, _moved(platform, previous, records, names)


# Each probe is one solve (about a second for a 900-package environment).
_SOLVE_BUDGET = 8


async def _pin_back(
    gateway: rattler.Gateway,
    request: SolveRequest,
    pins: tuple[rattler.RepoDataRecord, ...],
    candidates: list[rattler.RepoDataRecord],
    budget: int,
) -> tuple[rattler.RepoDataRecord, ...]:
    """Add to `pins` as many of `candidates` (locked records the soft solve moved) as still solve: whole
    groups first, halves of the groups that fail next, within `budget` solves."""
    groups = [candidates] if candidates else []
    while groups and budget > 0:
        group = groups.pop(0)
        budget -= 1
        try:
            await solve(replace(request, pinned=(*pins, *group)), gateway)
        except SolveError:
            if len(group) > 1:
                half = len(group) // 2
                groups += [group[:half], group[half:]]
            continue
        pins = (*pins, *group)
    return pins


def _file(record: rattler.RepoDataRecord) -> str:
    return str(record.url).rsplit("/", 1)[-1]


def _moved(
    platform: str, previous: Lockfile, records: list[rattler.RepoDataRecord], names: tuple[str, ...]
) -> list[Moved]:
    before = {p.name: p for p in previous.packages_for(platform, "conda")}
    after = {r.name.normalized: r for r in records}
    moved = []
    for name, old in sorted(before.items()):
        if name in names:
            continue
        new = after.get(name)
        if new is not None and _file(new) == old.filename:
            continue
        because = "no longer needed"
        if new is not None:
            because = (
                _required_by(name, old.version, records)
                or _needs(old.dependencies, after)
                or ("no single requirement found: moved with the packages around it")
            )
        new_text = f"{new.version}-{new.build}" if new is not None else ""
        moved.append(Moved(platform, name, old.version, new_text, because))
    return moved


def _required_by(name: str, old_version: str, records: list[rattler.RepoDataRecord]) -> str | None:
    """A requirement in the new solution that the locked version of `name` does not satisfy."""
    from rattler import MatchSpec
    from rattler.exceptions import InvalidMatchSpecError

    for other in records:
        for dep in other.depends or []:
            try:
                spec = MatchSpec(dep)
            except InvalidMatchSpecError:
                continue  # a requirement rattler cannot read requires nothing it can name
            if spec.name is None or spec.name.normalized != name or spec.version is None:
                continue
            if not _version_ok(str(spec.version), old_version):
                return f"{other.name.normalized} {other.version} requires `{dep}`"
    return None


def _needs(dependencies: dict[str, str], after: dict[str, rattler.RepoDataRecord]) -> str | None:
    """A dependency of the locked record that the new solution no longer satisfies."""
    for dep, constraint in sorted(dependencies.items()):
        new = after.get(dep)
        if new is not None and constraint and not _version_ok(constraint, str(new.version)):
            return f"its locked build needs `{dep} {constraint}`, and {dep} is now {new.version}"
    return None


def _version_ok(constraint: str, version: str) -> bool:
    from rattler import Version, VersionSpec
    from rattler.exceptions import InvalidVersionError, InvalidVersionSpecError

    try:
        return bool(VersionSpec(constraint).matches(Version(version)))
    except (InvalidVersionError, InvalidVersionSpecError):
        return False  # unreadable: not known to hold, so the change is reported with this constraint
