"""Is a lockfile still what `cenv lock` would write for a spec? Typed reasons, no solve.

`check_lock` compares what a fresh lock *would record* (the per-platform match specs, virtual packages,
channels, platforms, channel priority and exclude-newer that `cenv.pipeline` would use) with the facts the
lock recorded in `metadata.custom_metadata`. Comparisons are semantic: editing a comment, reordering keys or
dependencies, or respacing a match spec never makes a lock stale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from cenv.errors import ChannelError
from cenv.lock.models import (
    CENV_LOCK_FORMAT,
    CUSTOM_CHANNEL_PRIORITY,
    CUSTOM_EXCLUDE_NEWER,
    CUSTOM_FORMAT,
    CUSTOM_PIP_REQUESTED,
    CUSTOM_REQUESTED,
    CUSTOM_VIRTUAL_PACKAGES,
    Lockfile,
    VirtualPackageSpec,
    parse_virtual_packages,
)

if TYPE_CHECKING:
    from cenv.settings import LockSettings
    from cenv.spec import Spec

__all__ = ["CUSTOM_PIP_REQUESTED", "StaleKind", "StaleReason", "check_lock", "is_fresh"]

# Written by the pip stage: the spec's pip lines for a platform, joined by "\n" (absent: no pip lines).

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


def is_fresh(spec: Spec, settings: LockSettings, lock: Lockfile) -> bool:
    return not check_lock(spec, settings, lock)


def check_lock(spec: Spec, settings: LockSettings, lock: Lockfile) -> list[StaleReason]:
    """Why `lock` differs from what `cenv lock` would record for `spec` with `settings`; empty when fresh.

    Does not solve and does no network I/O. Raises what `plan_lock` raises for an unusable spec or settings
    (an unknown platform, a platform with nothing to lock, a bad virtual-packages file).
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

    from cenv.pipeline import CUSTOM_SPEC_HASH, plan_lock

    reasons: list[StaleReason] = []
    plans = plan_lock(settings, spec)
    locked_platforms = lock.platforms
    planned = [p.platform for p in plans]
    added = [p for p in planned if p not in locked_platforms]
    removed = [p for p in locked_platforms if p not in planned]
    if added or removed:
        parts = [f"`{p}` added" for p in added] + [f"`{p}` removed" for p in removed]
        reasons.append(StaleReason("platforms-changed", "platforms: " + ", ".join(parts)))

    reasons.extend(_check_channels(spec, settings, lock))
    reasons.extend(_check_priority(spec, settings, lock))
    reasons.extend(_check_exclude_newer(spec, settings, lock))

    spec_hash_equal = lock.metadata.custom(CUSTOM_SPEC_HASH) == spec.content_hash()
    for plan in plans:
        if plan.platform not in locked_platforms:
            continue
        reasons.extend(_check_requested(plan.platform, plan.specs, lock, spec_hash_equal))
        reasons.extend(_check_pip(plan.platform, [r.requirement for r in spec.pip_for(plan.platform)], lock))
        reasons.extend(_check_virtual_packages(plan.platform, plan.virtual_packages.packages, lock))
    return reasons


def _format_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


# ---------------------------------------------------------------------------------------------- lock-wide


def _check_channels(spec: Spec, settings: LockSettings, lock: Lockfile) -> list[StaleReason]:
    from cenv.channels import resolve_channels
    from cenv.env_vars import channel_alias
    from cenv.redact import strip_credentials

    names = list(settings.channels or spec.channels)
    try:
        wanted = [c.lock_name for c in resolve_channels(names, settings.channel_alias or channel_alias())]
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


def _check_priority(spec: Spec, settings: LockSettings, lock: Lockfile) -> list[StaleReason]:
    wanted = settings.channel_priority or spec.channel_priority
    locked = lock.metadata.custom(CUSTOM_CHANNEL_PRIORITY) or "strict"
    if wanted == locked:
        return []
    return [StaleReason("priority-changed", f"channel priority `{locked}` -> `{wanted}`")]


def _check_exclude_newer(spec: Spec, settings: LockSettings, lock: Lockfile) -> list[StaleReason]:
    wanted = _utc(settings.exclude_newer or spec.exclude_newer)
    text = lock.metadata.custom(CUSTOM_EXCLUDE_NEWER)
    locked = _utc(_parse_time(text)) if text else None
    if wanted == locked and (text is None or locked is not None):
        return []
    new = wanted.isoformat() if wanted is not None else "none"
    return [StaleReason("exclude-newer-changed", f"exclude-newer `{text or 'none'}` -> `{new}`")]


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


# ---------------------------------------------------------------------------------------------- per platform

_SPACES = re.compile(r"\s+")


def _normalize_spec(text: str) -> tuple[str, str]:
    """A match spec as (name, canonical text): `numpy>=1.2` and `numpy  >=1.2` are the same request."""
    from rattler import MatchSpec

    text = text.strip()
    try:
        match = MatchSpec(text)
    except Exception:  # rattler raises its own exception types; fall back to plain text
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
