"""Is a lockfile still what `cenv lock` would write for a spec? Typed reasons, no solve.

`check_lock` compares what a fresh lock *would record* (the per-platform match specs, virtual packages,
channels, platforms, channel priority and exclude-newer of the lock plan, `cenv.plan`) with the facts the
lock recorded in `metadata.custom_metadata`. Comparisons are semantic: editing a comment, reordering keys or
dependencies, or respacing a match spec never makes a lock stale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from cenv.errors import ChannelError
from cenv.lock.keys import (
    CENV_LOCK_FORMAT,
    CUSTOM_CHANNEL_PRIORITY,
    CUSTOM_EXCLUDE_NEWER,
    CUSTOM_FORMAT,
    CUSTOM_PIP_FALLBACK,
    CUSTOM_PIP_REQUESTED,
    CUSTOM_REQUESTED,
    CUSTOM_SPEC_HASH,
    CUSTOM_VIRTUAL_PACKAGES,
)
from cenv.lock.models import Lockfile, recorded_inputs
from cenv.virtual_packages import VirtualPackageSpec, parse_virtual_packages

if TYPE_CHECKING:
    from cenv.plan import LockPlan
    from cenv.settings import LockSettings
    from cenv.spec import Spec

__all__ = ["StaleKind", "StaleReason", "check_lock", "is_fresh"]

StaleKind = Literal[
    "dependency-added",
    "dependency-removed",
    "dependency-changed",
    "channels-changed",
    "platforms-changed",
    "virtual-packages-changed",
    "pip-changed",
    "exclude-newer-changed",
    "priority-changed",
    "format-newer",
    "not-cenv",
]


@dataclass(frozen=True)
class StaleReason:
    """One reason a lock no longer matches its spec and settings; `platform` is None when lock-wide."""

    kind: StaleKind
    detail: str
    platform: str | None = None

    def __str__(self) -> str:
        return f"{self.platform}: {self.detail}" if self.platform else self.detail

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "detail": self.detail, "platform": self.platform}


def is_fresh(spec: Spec, settings: LockSettings | LockPlan, lock: Lockfile) -> bool:
    return not check_lock(spec, settings, lock)


def check_lock(
    spec: Spec,
    plan: LockSettings | LockPlan,
    lock: Lockfile,
    *,
    only: tuple[str, ...] | None = None,
) -> list[StaleReason]:
    """Why `lock` differs from what `cenv lock` would record for `spec` with `plan`; empty when fresh.

    `plan` may be the settings (the flags given now): the plan is then resolved with the lock's recorded
    inputs. `only`: check these platforms alone (`lock --check -p P`, `create` for one platform).
    Does not solve and does no network I/O. Raises what `resolve_plan` raises for an unusable spec or
    settings (an unknown platform, a platform with nothing to lock, a bad virtual-packages file).
    """
    if not lock.written_by_cenv:
        return [
            StaleReason(
                "not-cenv",
                "the lockfile was not written by cenv, so it records nothing to compare the spec with",
            )
        ]
    fmt = lock.metadata.custom(CUSTOM_FORMAT)
    if fmt is not None and _format_number(fmt) > _format_number(CENV_LOCK_FORMAT):
        return [
            StaleReason(
                "format-newer",
                f"the lockfile has cenv lock format `{fmt}`, newer than this cenv's `{CENV_LOCK_FORMAT}`",
            )
        ]
    from cenv.plan import LockPlan, resolve_plan

    if not isinstance(plan, LockPlan):
        plan = resolve_plan(plan, spec, recorded_inputs(lock))
    reasons: list[StaleReason] = []
    locked_platforms = lock.platforms
    planned = list(plan.platform_names)
    if only is not None:
        planned = [p for p in planned if p in only] + [p for p in only if p not in planned]
        missing = [p for p in planned if p not in locked_platforms]
        if missing:
            parts = [f"`{p}` is not in the lock" for p in missing]
            reasons.append(StaleReason("platforms-changed", "platforms: " + ", ".join(parts)))
    else:
        added = [p for p in planned if p not in locked_platforms]
        removed = [p for p in locked_platforms if p not in planned]
        if added or removed:
            parts = [f"`{p}` added" for p in added] + [f"`{p}` removed" for p in removed]
            reasons.append(StaleReason("platforms-changed", "platforms: " + ", ".join(parts)))

    reasons.extend(_check_channels(plan, lock))
    reasons.extend(_check_priority(plan, lock))
    reasons.extend(_check_exclude_newer(plan, lock))

    spec_hash_equal = lock.metadata.custom(CUSTOM_SPEC_HASH) == spec.content_hash()
    for platform in plan.platforms:
        if platform.platform not in locked_platforms or platform.platform not in planned:
            continue
        name = platform.platform
        reasons.extend(_check_requested(name, platform.specs, lock, spec_hash_equal))
        reasons.extend(_check_pip(name, list(platform.pip), lock))
        reasons.extend(_check_pip_fallback(name, plan, lock))
        reasons.extend(_check_virtual_packages(name, platform.virtual_packages.packages, lock))
    return reasons


def _format_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


# ---------------------------------------------------------------------------------------------- lock-wide


def _check_channels(plan: LockPlan, lock: Lockfile) -> list[StaleReason]:
    from cenv.redact import strip_credentials

    names = [*plan.channel_names, *plan.pinned_channels]
    try:
        wanted = [c.lock_name for c in plan.channels()]
    except ChannelError:  # e.g. a local channel folder that is gone: compare the names as written
        wanted = [strip_credentials(n.strip().rstrip("/")) for n in names]
    locked = [c.url for c in lock.metadata.channels]
    if wanted == locked:
        return []
    if sorted(wanted) == sorted(locked):
        detail = f"channel order changed: {_names(locked)} -> {_names(wanted)}"
    else:
        parts = [f"`{c}` added" for c in wanted if c not in locked]
        parts += [f"`{c}` removed" for c in locked if c not in wanted]
        detail = "channels: " + ", ".join(parts)
    return [StaleReason("channels-changed", detail)]


def _names(items: list[str]) -> str:
    return ", ".join(f"`{i}`" for i in items) or "none"


def _check_priority(plan: LockPlan, lock: Lockfile) -> list[StaleReason]:
    wanted = plan.priority.value
    locked = lock.metadata.custom(CUSTOM_CHANNEL_PRIORITY) or "strict"
    if wanted == locked:
        return []
    return [StaleReason("priority-changed", f"channel priority `{locked}` -> `{wanted}`")]


def _check_exclude_newer(plan: LockPlan, lock: Lockfile) -> list[StaleReason]:
    from cenv.plan import recorded_time

    wanted = _utc(plan.exclude_newer)
    text = lock.metadata.custom(CUSTOM_EXCLUDE_NEWER)
    locked = _utc(recorded_time(text)) if text else None
    if wanted == locked and (text is None or locked is not None):
        return []
    new = wanted.isoformat() if wanted is not None else "none"
    return [StaleReason("exclude-newer-changed", f"exclude-newer `{text or 'none'}` -> `{new}`")]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


# ---------------------------------------------------------------------------------------------- per platform

_SPACES = re.compile(r"\s+")


def _normalize_spec(text: str) -> tuple[str, str]:
    """A match spec as (name, canonical text): `numpy>=1.2` and `numpy  >=1.2` are the same request."""
    from rattler import MatchSpec
    from rattler.exceptions import InvalidMatchSpecError

    text = text.strip()
    try:
        match = MatchSpec(text)
    except InvalidMatchSpecError:  # compared as plain text
        name = re.split(r"[\s=<>!~\[]", text, maxsplit=1)[0].rsplit("::", 1)[-1].lower()
        return name, _SPACES.sub(" ", text)
    name = match.name.normalized if match.name is not None else text
    return name, str(match)


def _by_name(specs: list[str] | tuple[str, ...]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for spec in specs:
        if not spec.strip():
            continue
        name, canonical = _normalize_spec(spec)
        grouped.setdefault(name, []).append(canonical)
    return {name: sorted(values) for name, values in grouped.items()}


def _check_requested(
    platform: str, wanted: tuple[str, ...], lock: Lockfile, spec_hash_equal: bool
) -> list[StaleReason]:
    text = lock.metadata.custom(CUSTOM_REQUESTED + platform)
    if text is None:
        if spec_hash_equal:
            return []
        return [
            StaleReason(
                "dependency-changed",
                "the lock does not record the requested specs and the spec changed since it was written",
                platform,
            )
        ]
    return _compare_requirements(platform, _by_name(wanted), _by_name(text.split("\n")), pip=False)


def _compare_requirements(
    platform: str, wanted: dict[str, list[str]], locked: dict[str, list[str]], *, pip: bool
) -> list[StaleReason]:
    reasons = []
    prefix = "pip " if pip else ""
    for name in sorted(wanted.keys() | locked.keys()):
        new, old = wanted.get(name), locked.get(name)
        if new == old:
            continue
        if old is None:
            kind: StaleKind = "pip-changed" if pip else "dependency-added"
            detail = f"{prefix}dependency `{' , '.join(new or [])}` added"
        elif new is None:
            kind = "pip-changed" if pip else "dependency-removed"
            detail = f"{prefix}dependency `{' , '.join(old)}` removed"
        else:
            kind = "pip-changed" if pip else "dependency-changed"
            detail = f"{prefix}dependency `{' , '.join(old)}` changed to `{' , '.join(new)}`"
        reasons.append(StaleReason(kind, detail, platform))
    return reasons


def _pip_by_name(lines: list[str]) -> dict[str, list[str]]:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    grouped: dict[str, list[str]] = {}
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement:  # a URL or `-e path`: the line itself is the identity
            grouped.setdefault(_SPACES.sub(" ", line), []).append(_SPACES.sub(" ", line))
            continue
        grouped.setdefault(canonicalize_name(req.name), []).append(str(req))
    return {name: sorted(values) for name, values in grouped.items()}


def _check_pip_fallback(platform: str, plan: LockPlan, lock: Lockfile) -> list[StaleReason]:
    """A lock whose pip stage took conda names (`pip-fallback`) needs the fallback on to be made again."""
    taken = (lock.metadata.custom(CUSTOM_PIP_FALLBACK + platform) or "").split()
    if not taken or plan.pip_options.fallback:
        return []
    names = ", ".join(f"`{n}`" for n in taken)
    return [
        StaleReason("pip-changed", f"pip-fallback is off, but the lock took {names} from the index", platform)
    ]


def _check_pip(platform: str, wanted: list[str], lock: Lockfile) -> list[StaleReason]:
    text = lock.metadata.custom(CUSTOM_PIP_REQUESTED + platform)
    locked = text.split("\n") if text else []
    return _compare_requirements(platform, _pip_by_name(wanted), _pip_by_name(locked), pip=True)


def _check_virtual_packages(
    platform: str, wanted: tuple[VirtualPackageSpec, ...], lock: Lockfile
) -> list[StaleReason]:
    text = lock.metadata.custom(CUSTOM_VIRTUAL_PACKAGES + platform)
    if text is None:
        return [
            StaleReason(
                "virtual-packages-changed",
                "the lock does not record the virtual packages it assumed",
                platform,
            )
        ]
    locked = {p.name: p for p in parse_virtual_packages(text)}
    new = {p.name: p for p in wanted}
    parts = []
    for name in sorted(new.keys() | locked.keys()):
        before, after = locked.get(name), new.get(name)
        if before == after:
            continue
        if before is None:
            parts.append(f"`{after}` added")
        elif after is None:
            parts.append(f"`{before}` removed")
        else:
            parts.append(f"`{before}` -> `{after}`")
    if not parts:
        return []
    return [StaleReason("virtual-packages-changed", "virtual packages: " + ", ".join(parts), platform)]
