"""Why is a package in a lock? Dependency paths from what the spec requested down to the package.

Roots are the names in `cenv.requested.<platform>` (and `cenv.pip-requested.<platform>`) for locks cenv
wrote; for other tools' locks, the packages nothing else in the lock depends on. Paths are found by a
best-first search whose heuristic (distance from the nearest root) is exact, so the shortest come first.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cenv.errors import LockfileError
from cenv.lock.keys import (
    CUSTOM_PIP_REQUESTED,
    CUSTOM_REQUESTED,
)
from cenv.lock.models import (
    LockedPackage,
    Lockfile,
    dependencies_from_depends,
)

__all__ = ["MAX_PATHS", "WhyResult", "default_lockfile", "explain", "pick_platform", "render_why", "why"]

MAX_PATHS = 5
_MAX_EXPANSIONS = 50_000  # a bound on the search in pathological graphs; paths found so far are kept
_SHOW_MENTIONS = 12


@dataclass(frozen=True)
class WhyResult:
    """The answer for one package on one platform.

    `paths` run from a root to the package (`["xarray", "pandas", "numpy"]`); `requested` maps each root in
    them to the spec that asked for it (for non-cenv locks: the root's locked version). For a package that is
    not in the lock, `mentioned_by` lists the locked packages that name it in their dependencies.
    """

    package: str
    platform: str
    present: bool
    version: str | None = None
    paths: tuple[tuple[str, ...], ...] = ()
    requested: dict[str, str] = field(default_factory=dict)
    mentioned_by: tuple[str, ...] = ()
    roots_from_spec: bool = True
    truncated: bool = False
    virtual: str | None = None  # for `__glibc` and friends: what the lock assumed, e.g. `__glibc=2.34=0`

    def to_json(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "platform": self.platform,
            "in_lock": self.present,
            "version": self.version,
            "paths": [list(p) for p in self.paths],
            "requested": dict(self.requested),
            "mentioned_by": list(self.mentioned_by),
            "roots": "requested" if self.roots_from_spec else "top-level",
            "truncated": self.truncated,
            "virtual_package": self.virtual,
        }


def why(lock: Lockfile, package: str, platform: str, limit: int = MAX_PATHS) -> list[list[str]]:
    """Up to `limit` dependency paths, shortest first, from a requested package to `package`."""
    return [list(p) for p in explain(lock, package, platform, limit).paths]


def _key(name: str) -> str:
    return name.strip().lower()


def _requested_roots(lock: Lockfile, platform: str) -> dict[str, str] | None:
    conda = lock.metadata.custom(CUSTOM_REQUESTED + platform)
    if conda is None:
        return None
    roots: dict[str, str] = {}
    for spec in conda.split("\n"):
        for name in dependencies_from_depends([spec]):
            roots.setdefault(_key(name), spec.strip())
    pip = lock.metadata.custom(CUSTOM_PIP_REQUESTED + platform)
    if pip:
        from packaging.requirements import InvalidRequirement, Requirement

        for line in pip.split("\n"):
            try:
                roots.setdefault(_key(Requirement(line).name), f"{line.strip()} (pip)")
            except InvalidRequirement:
                continue
    return roots


def explain(lock: Lockfile, package: str, platform: str, limit: int = MAX_PATHS) -> WhyResult:
    """Why `package` is (or is not) in `lock` for `platform`.

    Raises `LockfileError` when the lock has no such platform.
    """
    if platform not in lock.platforms:
        raise LockfileError(
            f"the lockfile has no platform `{platform}`",
            hints=["its platforms: " + ", ".join(f"`{p}`" for p in lock.platforms)],
        )
    packages: dict[str, LockedPackage] = {}
    for p in lock.packages_for(platform):
        packages.setdefault(_key(p.name), p)  # a conda package wins over a pip one of the same name
    target = _key(package)
    if target not in packages and not target.startswith("__"):  # `huggingface_hub` typed as `huggingface-hub`
        target = next((n for n in packages if n.replace("_", "-") == target.replace("_", "-")), target)
    dependents: dict[str, set[str]] = {name: set() for name in packages}
    for name, p in packages.items():
        for dep in p.dependencies:
            if _key(dep) in dependents and _key(dep) != name:
                dependents[_key(dep)].add(name)

    if target not in packages:
        mentioned = sorted(
            packages[name].name
            for name, p in packages.items()
            if any(_key(d) == target for d in p.dependencies)
        )
        virtual = None
        if target.startswith("__"):
            assumed = {vp.name: str(vp) for vp in lock.virtual_packages(platform) or ()}
            virtual = assumed.get(target, "not recorded in the lock")
        return WhyResult(
            package=package, platform=platform, present=False, mentioned_by=tuple(mentioned), virtual=virtual
        )

    requested = _requested_roots(lock, platform)
    from_spec = requested is not None
    if requested is None:
        requested = {name: p.version for name, p in packages.items() if not dependents[name]}
    roots = {name for name in requested if name in packages}
    paths, truncated = _paths(target, roots, packages, dependents, limit)
    used = {path[0] for path in paths}
    return WhyResult(
        package=packages[target].name,
        platform=platform,
        present=True,
        version=packages[target].version,
        paths=tuple(tuple(packages[n].name for n in path) for path in paths),
        requested={packages[n].name: requested[n] for n in sorted(used)},
        roots_from_spec=from_spec,
        truncated=truncated,
    )


def _paths(
    target: str,
    roots: set[str],
    packages: dict[str, LockedPackage],
    dependents: dict[str, set[str]],
    limit: int,
) -> tuple[list[list[str]], bool]:
    # distance[n]: fewest dependency edges from any root down to n (multi-source BFS over dependencies)
    distance: dict[str, int] = dict.fromkeys(roots, 0)
    queue = deque(sorted(roots))
    while queue:
        node = queue.popleft()
        for dep in packages[node].dependencies:
            dep_key = _key(dep)
            if dep_key in packages and dep_key not in distance:
                distance[dep_key] = distance[node] + 1
                queue.append(dep_key)
    if target not in distance:
        return [], False
    # Best-first over simple paths from the target up to a root; heap key = length so far + exact remainder.
    found: list[list[str]] = []
    heap: list[tuple[int, tuple[str, ...]]] = [(distance[target], (target,))]
    expansions = 0
    while heap and len(found) < limit:
        _, path = heapq.heappop(heap)
        head = path[-1]
        if head in roots:
            found.append(list(reversed(path)))
        expansions += 1
        if expansions > _MAX_EXPANSIONS:
            return found, True
        for parent in sorted(dependents[head]):
            if parent in distance and parent not in path:
                heapq.heappush(heap, (len(path) + distance[parent], (*path, parent)))
    return found, bool(heap) and len(found) >= limit


def render_why(result: WhyResult) -> str:
    """`numpy 2.1.3` then one line per path: `numpy <- pandas <- xarray  (requested: xarray >=2024)`."""
    if not result.present:
        if result.virtual is not None:
            head = (
                f"`{result.package}` is a virtual package: the system provides it, the lock does not "
                f"(assumed for {result.platform}: {result.virtual})"
            )
        else:
            head = f"`{result.package}` is not in the lock for {result.platform}"
        if not result.mentioned_by:
            return f"{head}; no locked package depends on it\n"
        shown = ", ".join(result.mentioned_by[:_SHOW_MENTIONS])
        more = len(result.mentioned_by) - _SHOW_MENTIONS
        if more > 0:
            shown += f" and {more} more"
        return f"{head}\nnamed as a dependency by {len(result.mentioned_by)} locked packages: {shown}\n"
    lines = [f"{result.package} {result.version} ({result.platform})"]
    if not result.paths:
        lines.append("  no dependency path from a requested package leads here")
    for path in result.paths:
        root = path[0]
        if result.roots_from_spec:
            how = f"requested: `{result.requested.get(root, root)}`"
        else:
            how = "top-level in the lock"
        chain = " <- ".join(reversed(path))
        lines.append(f"  {chain}  ({how})")
    if result.truncated:
        lines.append(f"  ... more paths not shown (first {len(result.paths)})")
    return "\n".join(lines) + "\n"


def default_lockfile(directory: Path) -> Path:
    """The single `*-lock.yml` in `directory`; a `LockfileError` with a hint for none or several."""
    found = sorted(p for p in directory.glob("*-lock.yml") if p.is_file())
    if len(found) == 1:
        return found[0]
    if not found:
        raise LockfileError(
            f"no `*-lock.yml` in {directory}",
            hints=["pass one with `-l/--lockfile LOCKFILE`", "create one with `cenv lock SPEC`"],
        )
    raise LockfileError(
        f"several lockfiles in {directory}: " + ", ".join(f"`{p.name}`" for p in found),
        hints=["choose one with `-l/--lockfile LOCKFILE`"],
    )


def pick_platform(lock: Lockfile, platform: str | None) -> str:
    """`platform` if given; else the host's when the lock has it, else the lock's only platform."""
    if platform is not None:
        return platform
    from cenv.platforms import host_platform

    host = host_platform()
    if host in lock.platforms:
        return host
    if len(lock.platforms) == 1:
        return lock.platforms[0]
    raise LockfileError(
        f"the lockfile has no packages for this machine's platform `{host}`",
        hints=["choose one with `-p/--platform`: " + ", ".join(f"`{p}`" for p in lock.platforms)],
    )
