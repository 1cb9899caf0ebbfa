"""The conda solve: a SolveRequest in, RepoDataRecords out.

The one place rattler's SolverError becomes SolveError.

Solver backend: py-rattler (resolvo). Everything rattler-specific about solving stays in this module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from cenv.channels import ResolvedChannel, channel_error, to_rattler, tolerant_local_channel
from cenv.errors import SolveError, SpecError
from cenv.platforms import COMMON_PLATFORMS
from cenv.settings import ChannelPriority
from cenv.virtual_packages import VirtualPackages

if TYPE_CHECKING:
    import rattler


@dataclass(frozen=True)
class SolveRequest:
    platform: str
    channels: tuple[ResolvedChannel, ...]
    specs: tuple[str, ...]
    virtual_packages: VirtualPackages
    channel_priority: ChannelPriority = ChannelPriority.STRICT
    exclude_newer: datetime | None = None
    locked: tuple[rattler.RepoDataRecord, ...] = field(default=())  # preferred (soft)
    pinned: tuple[rattler.RepoDataRecord, ...] = field(default=())  # required where the name appears
    where: Mapping[str, str] = field(default_factory=dict)  # package name -> "spec file:line"
    offline: bool = False


def parse_match_spec(text: str) -> rattler.MatchSpec:
    from rattler import MatchSpec
    from rattler.exceptions import InvalidMatchSpecError

    try:
        return MatchSpec(text)
    except InvalidMatchSpecError as exc:
        raise SpecError(f"invalid match spec `{text}`: {exc}") from exc


def _through_alias(text: str, channels: Sequence[ResolvedChannel]) -> str:
    """`conda-forge::python` -> `<conda-forge's URL>::python`: rattler would resolve the name through its own
    default alias (conda.anaconda.org), so a mirror's or custom channel's records would never match."""
    prefix, sep, rest = text.partition("::")
    if not sep:
        return text
    name = prefix.strip().rstrip("/")
    for channel in channels:
        if channel.name.strip().rstrip("/") == name:
            prefix = channel.url
            break
    if "://" not in prefix:  # a channel name the list lacks: rattler resolves it
        return text
    from cenv.net import network

    # the gateway's channels carry no credentials (they reach the server by host): a pinned spec's URL
    # must not either, or no record would match its channel
    return f"{network().clean(prefix).rstrip('/')}::{rest}"


def _requested(
    specs: Sequence[str], channels: Sequence[ResolvedChannel] = ()
) -> tuple[list[rattler.MatchSpec], list[rattler.MatchSpec]]:
    """Split specs into bare names to request and full specs as constraints.

    rattler's gateway filters records by the requested spec *before* applying strict channel priority,
    so `libfoo >=9` would be taken from a lower channel when a higher one has only libfoo 1 (conda refuses).
    Requesting the bare name keeps priority decided by name alone; the constraint then applies the limits.
    Specs pinned to a channel (`chan::pkg`) are the user's explicit choice and stay as written.
    """
    from rattler import MatchSpec

    requested: list[rattler.MatchSpec] = []
    constraints: list[rattler.MatchSpec] = []
    for text in specs:
        spec = parse_match_spec(_through_alias(text, channels))
        name = spec.name.normalized if hasattr(spec.name, "normalized") else str(spec.name)
        if spec.channel is not None or str(spec) == name:
            requested.append(spec)
        else:
            requested.append(MatchSpec(name))
            constraints.append(spec)
    return requested, constraints


async def solve(request: SolveRequest, gateway: rattler.Gateway) -> list[rattler.RepoDataRecord]:
    import rattler
    from rattler.exceptions import GatewayError, SolverError

    requested, constraints = _requested(request.specs, request.channels)
    priority = {
        ChannelPriority.STRICT: rattler.ChannelPriority.Strict,
        ChannelPriority.FLEXIBLE: rattler.ChannelPriority.Flexible,
        ChannelPriority.DISABLED: rattler.ChannelPriority.Disabled,
    }[ChannelPriority(request.channel_priority)]
    channels = [to_rattler(c) for c in request.channels]
    try:
        return await rattler.solve(
            channels,
            requested,
            gateway=gateway,
            platforms=_subdirs(request.platform, "noarch"),
            virtual_packages=request.virtual_packages.to_rattler(),
            channel_priority=priority,
            exclude_newer=request.exclude_newer,
            constraints=constraints,
            locked_packages=list(request.locked) or None,
            pinned_packages=list(request.pinned) or None,
            timestamp_policy="allow-missing" if request.exclude_newer else "require-timestamp",
        )
    except SolverError as exc:
        if request.pinned:  # `--update` tries pins first; the caller relaxes them
            raise SolveError(f"no solution for {request.platform} with the locked packages pinned") from exc
        raise await _solve_error(request, gateway, str(exc)) from exc
    except GatewayError as exc:
        if "invalid type: null" in str(exc):
            repaired = [tolerant_local_channel(c) for c in request.channels]
            if any(repaired):
                fixed = tuple(r or c for r, c in zip(repaired, request.channels, strict=True))
                return await solve(replace(request, channels=fixed), gateway)
        raise channel_error(exc, list(request.channels), request.offline) from exc


async def _solve_error(request: SolveRequest, gateway: rattler.Gateway, text: str) -> SolveError:
    """SolveError for resolvo's `text`: all unknown names at once, else its explanation in cenv's words."""
    from cenv.solve_errors import explain, unknown_message, unknown_names, virtual_package_hints

    written = {_name_of(s): s for s in request.specs}
    try:
        names = await _channel_names(gateway, request)
    except _query_errors():  # best effort: the solver's own explanation still stands
        names = []
    unknown = unknown_names(written, set(names)) if names else []
    if unknown:
        channels = ", ".join(c.name for c in request.channels)
        others = [p for p in COMMON_PLATFORMS if p not in (request.platform, "noarch")]
        elsewhere = {n: await _platforms_having(gateway, request.channels, others, n) for n in unknown}
        message, hints = unknown_message(
            request.platform, unknown, written, request.where, names, channels, elsewhere
        )
        return SolveError(message, hints=hints)
    hints = virtual_package_hints(text, request.virtual_packages)
    hints += [h for h in await _explain(request, gateway, text) if not (hints and "__cuda" in h)]
    headline, tree = explain(text, written)
    return SolveError(f"no solution for {request.platform}: {headline}", hints=hints, details=tree)


def _name_of(text: str) -> str:
    spec = parse_match_spec(text)
    return spec.name.normalized if spec.name is not None else text


async def _channel_names(gateway: rattler.Gateway, request: SolveRequest) -> list[str]:
    found = await gateway.names(
        [to_rattler(c) for c in request.channels], _subdirs(request.platform, "noarch")
    )
    return sorted({str(n.normalized) for n in found})


async def records_for_urls(
    gateway: rattler.Gateway, channels: tuple[ResolvedChannel, ...], platform: str, urls: dict[str, str]
) -> list[rattler.RepoDataRecord]:
    """The channels' full records for locked packages (`urls`: name -> locked URL).

    Records match on `<subdir>/<filename>`, so a lock made against a mirror (or by another tool against
    the original channel) still applies. Locked packages a channel no longer serves are not returned:
    the solver then treats them as new.
    """
    from rattler import MatchSpec
    from rattler.exceptions import GatewayError

    if not urls:
        return []
    try:
        result = await gateway.query(
            [to_rattler(c) for c in channels],
            _subdirs(platform, "noarch"),
            [MatchSpec(name) for name in urls],
            recursive=False,
        )
    except GatewayError as exc:
        raise channel_error(exc, list(channels), offline=False) from exc
    wanted = {_tail(url) for url in urls.values()}
    return [r for records in result for r in records if _tail(str(r.url)) in wanted]


def _tail(url: str) -> str:
    return "/".join(url.rsplit("/", 2)[-2:])


def _subdirs(*names: str) -> list[rattler.Subdir]:
    from rattler import Subdir

    return [Subdir(name) for name in names]


async def _query(
    gateway: rattler.Gateway, channels: list[rattler.Channel], platforms: list[str], name: str
) -> list[rattler.RepoDataRecord]:
    """Records named `name` in `channels` (the gateway answers one list per channel and subdir)."""
    from rattler import MatchSpec

    result = await gateway.query(channels, _subdirs(*platforms), [MatchSpec(name)], recursive=False)
    return [r for records in result for r in records if r.name.normalized == name]


def _query_errors() -> tuple[type[Exception], ...]:
    """What a best-effort channel query may raise (evaluated only when raised: rattler loads lazily)."""
    from rattler.exceptions import GatewayError, InvalidMatchSpecError, InvalidPackageNameError

    return (GatewayError, InvalidMatchSpecError, InvalidPackageNameError)


async def _explain(request: SolveRequest, gateway: rattler.Gateway, message: str) -> list[str]:
    """Hints for the common reasons a solve fails. Best effort: a failure here never hides the solve error."""
    try:
        return await _explain_inner(request, gateway, message)
    except _query_errors():
        return []


async def _explain_inner(request: SolveRequest, gateway: rattler.Gateway, message: str) -> list[str]:
    hints: list[str] = []
    if "__cuda" in message and request.virtual_packages.get("__cuda") is None:
        hints.append(
            "a package needs `__cuda` (a CUDA driver) on the target: pass `--cuda 12.4` (your driver's CUDA "
            "version) or set `cuda:` in the spec"
        )
    platforms = [request.platform, "noarch"]
    # Only the requested packages the solver's explanation names are worth a look.
    mentioned = set(re.findall(r"[A-Za-z0-9_.\-]+", message))
    specs = [parse_match_spec(s) for s in request.specs]
    for spec in specs:
        name = spec.name.normalized
        if name not in mentioned:
            continue
        per_channel = []
        for channel in request.channels:
            per_channel.append((channel, await _query(gateway, [to_rattler(channel)], platforms, name)))
        holders = [(c, recs) for c, recs in per_channel if recs]
        if not holders:
            others = [p for p in COMMON_PLATFORMS if p not in platforms]
            found = await _platforms_having(gateway, request.channels, others, name)
            if found:
                hints.append(f"`{name}` exists only for {', '.join(found)}, not for {request.platform}")
            else:
                hints.append(await _did_you_mean(gateway, request, name))
            continue
        if request.channel_priority != ChannelPriority.STRICT or spec.channel is not None:
            continue
        first_channel, first_records = holders[0]
        if not any(spec.matches(r) for r in first_records):
            lower = [c for c, recs in holders[1:] if any(spec.matches(r) for r in recs)]
            if lower:
                hints.append(
                    f"`{spec}` matches only in lower-priority channel `{lower[0].name}`; "
                    f"`{first_channel.name}` has `{name}` and wins under strict channel priority: "
                    f"write `{lower[0].name}::{spec}` or use `channel-priority: flexible`"
                )
    return hints


async def _platforms_having(
    gateway: rattler.Gateway, channels: tuple[ResolvedChannel, ...], platforms: list[str], name: str
) -> list[str]:
    found = []
    for platform in platforms:
        try:
            if await _query(gateway, [to_rattler(c) for c in channels], [platform], name):
                found.append(platform)
        except _query_errors():
            continue
    return found


async def _did_you_mean(gateway: rattler.Gateway, request: SolveRequest, name: str) -> str:
    from cenv.solve_errors import close_names

    channels = ", ".join(c.name for c in request.channels)
    close = close_names(name, await _channel_names(gateway, request))
    if close:
        return f"no package named `{name}` in {channels}; did you mean {', '.join(f'`{c}`' for c in close)}?"
    return f"no package named `{name}` in {channels}"
