"""Before linking: every package's dependencies are satisfied within the set being installed.

A lock edited by hand (a record deleted, or moved to another `platform:`) or a foreign lock missing a
record would otherwise give an environment that imports fail in, with create reporting success. The check
reads the records' own `depends` (from each package's `info/index.json`), so `@EXPLICIT` files, which
carry no dependencies, are checked too. Virtual packages (`__cuda`, ...) are the host check's business.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cenv.errors import InstallError

if TYPE_CHECKING:
    import rattler

__all__ = ["check_dependencies"]


def check_dependencies(records: Sequence[rattler.RepoDataRecord], platform: str) -> None:
    """Raise InstallError naming the first package whose dependency nothing in `records` satisfies."""
    from rattler import MatchSpec
    from rattler.exceptions import InvalidMatchSpecError

    by_name: dict[str, list[rattler.RepoDataRecord]] = {}
    for record in records:
        by_name.setdefault(record.name.normalized, []).append(record)
    parsed: dict[str, MatchSpec | None] = {}
    for record in sorted(records, key=lambda r: r.name.normalized):
        for dependency in record.depends or []:
            if dependency.startswith("__"):
                continue
            if dependency not in parsed:
                try:
                    parsed[dependency] = MatchSpec(dependency)
                except InvalidMatchSpecError:  # metadata rattler cannot read: the solver judged it
                    parsed[dependency] = None
            spec = parsed[dependency]
            if spec is None:
                continue
            name = spec.name.normalized if hasattr(spec.name, "normalized") else str(spec.name)
            candidates = by_name.get(name, [])
            if any(spec.matches(c) for c in candidates):
                continue
            what = f"`{record.name.normalized}` {record.version} ({record.file_name})"
            if candidates:
                have = ", ".join(f"{c.version} {c.build}" for c in candidates)
                problem = f"needs `{dependency}`, but the lock installs `{name}` {have}"
            else:
                problem = f"needs `{dependency}`, which the lock does not install for {platform}"
            raise InstallError(
                f"package {what} {problem}",
                hints=[
                    "the lockfile is incomplete or was edited by hand (a record removed, or its `platform:` "
                    "changed); lock again with `cenv lock SPEC`",
                ],
            )
