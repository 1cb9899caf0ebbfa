"""The public API: lock, check, export (create lives in `cenv.create`). No click, no printing."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import cenv
from cenv.channels import ResolvedChannel, make_gateway, resolve_channels
from cenv.env_vars import channel_alias as env_channel_alias
from cenv.errors import UserError
from cenv.lock.models import (
    CENV_LOCK_FORMAT,
    CUSTOM_CHANNEL_PRIORITY,
    CUSTOM_EXCLUDE_NEWER,
    CUSTOM_FORMAT,
    CUSTOM_PIP_REQUESTED,
    CUSTOM_REQUESTED,
    CUSTOM_VERSION,
    CUSTOM_VIRTUAL_PACKAGES,
    LockChannel,
    LockedPackage,
    Lockfile,
    LockMetadata,
    PackageHash,
    format_virtual_packages,
)
from cenv.platforms import KNOWN_PLATFORMS, host_platform
from cenv.redact import strip_credentials
from cenv.settings import LockSettings
from cenv.solve import SolveRequest, solve
from cenv.spec import Spec, load_spec
from cenv.virtual_packages import (
    VirtualPackageOptions,
    VirtualPackages,
    build_virtual_packages,
    load_virtual_packages_file,
)

if TYPE_CHECKING:
    import rattler

    from cenv.lock.freshness import StaleReason

CUSTOM_SPEC_HASH = "cenv.spec-hash"
CUSTOM_VARIANT = "cenv.variant"


@dataclass(frozen=True)
class PlatformPlan:
    platform: str
    specs: tuple[str, ...]
    virtual_packages: VirtualPackages
    pip: tuple[str, ...] = ()  # the spec's pip lines for this platform


@dataclass(frozen=True)
class LockResult:
    lockfile: Lockfile
    path: Path
    seconds: float
    warnings: tuple[str, ...]
    virtual_packages: tuple[VirtualPackages, ...]
    previous: Lockfile | None = None  # the lockfile this one replaced, read for --update

    def count(self, platform: str) -> int:
        return len(self.lockfile.packages_for(platform))


def _platforms(settings: LockSettings, spec: Spec) -> tuple[str, ...]:
    platforms = settings.platforms or spec.platforms or (host_platform(),)
    for platform in platforms:
        if platform not in KNOWN_PLATFORMS or platform == "noarch":
            raise UserError(
                f"unknown platform `{platform}`",
                hints=["valid platforms: " + ", ".join(p for p in KNOWN_PLATFORMS if p != "noarch")],
            )
    return tuple(dict.fromkeys(platforms))


def plan_lock(settings: LockSettings, spec: Spec) -> list[PlatformPlan]:
    file_overrides = (
        load_virtual_packages_file(settings.virtual_packages_file) if settings.virtual_packages_file else {}
    )
    options = VirtualPackageOptions(
        cuda=settings.cuda,
        no_cuda=settings.no_cuda,
        glibc=settings.glibc,
        osx=settings.osx,
        file_overrides=file_overrides,
    )
    plans = []
    for platform in _platforms(settings, spec):
        specs = tuple(d.spec for d in spec.dependencies_for(platform))
        if not specs:
            raise UserError(f"nothing to lock for {platform}: the spec has no conda dependencies")
        vps = build_virtual_packages(platform, options, spec_cuda=spec.cuda_for(platform))
        pip = tuple(r.requirement for r in spec.pip_for(platform))
        plans.append(PlatformPlan(platform=platform, specs=specs, virtual_packages=vps, pip=pip))
    return plans


def _channels(settings: LockSettings, spec: Spec) -> list[ResolvedChannel]:
    names = settings.channels or spec.channels
    if not names:
        raise UserError(
            "no channels: the spec lists none and no `-c/--channel` was given",
            hints=["add `channels: [conda-forge]` to the spec"],
        )
    alias = settings.channel_alias or env_channel_alias()
    return resolve_channels(list(names), alias)


def lock_all(settings: LockSettings) -> list[LockResult]:
    """`cenv lock`: one lockfile, or one per variant when the spec declares `variants` (solved at once)."""
    spec = load_spec(list(settings.spec_paths))
    names = variant_names(spec, settings.variant)
    if not names:
        return [_lock_one(spec, settings)]
    if len(names) == 1:
        return [_lock_one(spec.with_variant(names[0]), replace(settings, variant=names[0]))]
    from concurrent.futures import ThreadPoolExecutor

    # Each variant solves in its own thread (and event loop); rattler releases the GIL while solving.
    with ThreadPoolExecutor(max_workers=min(4, len(names))) as pool:
        futures = [pool.submit(_lock_one, spec.with_variant(n), replace(settings, variant=n)) for n in names]
        return [f.result() for f in futures]


def variant_names(spec: Spec, chosen: str | None) -> list[str]:
    """The variants to lock: all of the spec's, or the one chosen (checked)."""
    if chosen is None:
        return list(spec.variants)
    if not spec.variants:
        raise UserError(f"`--variant {chosen}`: the spec declares no `variants`")
    if chosen not in spec.variants:
        raise UserError(
            f"unknown variant `{chosen}`", hints=["the spec's variants: " + ", ".join(spec.variants)]
        )
    return [chosen]


def lock(settings: LockSettings) -> LockResult:
    """Solve every platform of the spec(s) (one variant, if it has variants) and write the lockfile."""
    results = lock_all(settings)
    if len(results) > 1:
        raise UserError("the spec has several variants; choose one", hints=["pass `--variant NAME`"])
    return results[0]


def _lock_one(spec: Spec, settings: LockSettings) -> LockResult:
    started = time.perf_counter()
    previous = _previous_lock(settings) if settings.update is not None else None
    lockfile, plans = lock_spec(spec, settings, previous)
    path = settings.lockfile_path()
    from cenv.lock.io import write_lockfile

    write_lockfile(lockfile, path)
    return LockResult(
        lockfile=lockfile,
        path=path,
        seconds=time.perf_counter() - started,
        warnings=spec.warnings,
        virtual_packages=tuple(p.virtual_packages for p in plans),
        previous=previous,
    )


def check(settings: LockSettings) -> tuple[Path, list[StaleReason]]:
    """Whether the lockfile satisfies the spec(s), without solving: the typed reasons it is stale."""
    from cenv.lock.freshness import check_lock
    from cenv.lock.importers import read_lock

    spec = load_spec(list(settings.spec_paths))
    if settings.variant is not None:
        variant_names(spec, settings.variant)
        spec = spec.with_variant(settings.variant)
    path = settings.lockfile_path()
    return path, check_lock(spec, settings, read_lock(path))


def lock_spec(
    spec: Spec, settings: LockSettings, previous: Lockfile | None = None
) -> tuple[Lockfile, list[PlatformPlan]]:
    """Solve (and resolve the pip part of) every platform; `previous`: the lock `--update` keeps from."""
    plans = plan_lock(settings, spec)
    channels = _channels(settings, spec)
    priority = settings.channel_priority or spec.channel_priority
    exclude_newer = settings.exclude_newer or spec.exclude_newer
    solved = asyncio.run(_solve_and_pip(spec, plans, channels, priority, exclude_newer, settings, previous))
    records = [platform_records for platform_records, _ in solved]
    pip = [platform_pip for _, platform_pip in solved]
    lockfile = build_lockfile(spec, settings, plans, channels, records, priority, exclude_newer, pip)
    return lockfile, plans


async def _solve_and_pip(
    spec: Spec,
    plans: list[PlatformPlan],
    channels: list[ResolvedChannel],
    priority: str,
    exclude_newer: datetime | None,
    settings: LockSettings,
    previous: Lockfile | None,
) -> list[tuple[list[rattler.RepoDataRecord], list[LockedPackage]]]:
    """Every platform's conda solve, each followed at once by its pip stage: uv resolves one platform while
    rattler still solves the others."""
    gateway = make_gateway(offline=settings.offline, cache_dir=settings.cache_dir)

    async def one(plan: PlatformPlan) -> tuple[list[rattler.RepoDataRecord], list[LockedPackage]]:
        records = await _solve_one(gateway, plan, channels, priority, exclude_newer, settings, previous)
        if not plan.pip:
            return records, []
        return records, await asyncio.to_thread(_pip_one, spec, plan, records, exclude_newer, settings)

    return list(await asyncio.gather(*(one(plan) for plan in plans)))


def _pip_one(
    spec: Spec,
    plan: PlatformPlan,
    records: list[rattler.RepoDataRecord],
    exclude_newer: datetime | None,
    settings: LockSettings,
) -> list[LockedPackage]:
    """Resolve one platform's pip lines with uv after its conda solve (conda's packages stay pinned)."""
    from cenv.errors import PipStageError
    from cenv.pip import PipRequest, resolve_pip, to_locked
    from cenv.pypi_names import conda_to_pypi, dist_from_record

    python = next((r for r in records if r.name.normalized == "python"), None)
    if python is None:
        raise PipStageError(
            f"{plan.platform}: the spec has pip requirements but the conda solution has no python",
            hints=["add `python` to the spec's dependencies"],
        )
    options = spec.pip_options
    request = PipRequest(
        platform=plan.platform,
        python_version=str(python.version),
        requirements=plan.pip,
        conda_provided=conda_to_pypi(dist_from_record(r) for r in records),
        virtual_packages=plan.virtual_packages,
        index_url=options.index_url,
        extra_index_urls=options.extra_index_urls,
        find_links=options.find_links,
        pytorch_index=options.pytorch_index,
        exclude_newer=exclude_newer,
        offline=settings.offline,
    )
    return to_locked(resolve_pip(request), plan.platform)


async def _solve_one(
    gateway: rattler.Gateway,
    plan: PlatformPlan,
    channels: list[ResolvedChannel],
    priority: str,
    exclude_newer: datetime | None,
    settings: LockSettings,
    previous: Lockfile | None,
) -> list[rattler.RepoDataRecord]:
    from cenv.solve import records_for_urls

    locked: list[rattler.RepoDataRecord] = []
    if previous is not None and settings.update:
        # --update PKG: every other package stays where the lock has it (a preference for the solver).
        previous_conda = previous.packages_for(plan.platform, "conda")
        keep = {p.name: p.url for p in previous_conda if p.name not in settings.update}
        locked = await records_for_urls(gateway, tuple(channels), plan.platform, keep)
    request = SolveRequest(
        platform=plan.platform,
        channels=tuple(channels),
        specs=plan.specs,
        virtual_packages=plan.virtual_packages,
        channel_priority=priority,  # type: ignore[arg-type]
        exclude_newer=exclude_newer,
        locked=tuple(locked),
        offline=settings.offline,
    )
    return await solve(request, gateway)


def _previous_lock(settings: LockSettings) -> Lockfile | None:
    path = settings.lockfile_path()
    if not path.exists():
        return None
    from cenv.lock.io import read_lockfile

    return read_lockfile(path)


def _content_hash(
    spec_hash: str, plan: PlatformPlan, channels: list[ResolvedChannel], extra: dict[str, str]
) -> str:
    payload = {
        "spec": spec_hash,
        "platform": plan.platform,
        "specs": list(plan.specs),
        "channels": [c.lock_name for c in channels],
        "virtual_packages": format_virtual_packages(plan.virtual_packages.packages),
        **extra,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def locked_package(record: rattler.RepoDataRecord, platform: str) -> LockedPackage:
    from cenv.lock.models import dependencies_from_depends

    return LockedPackage(
        name=record.name.normalized,
        version=str(record.version),
        manager="conda",
        platform=platform,
        dependencies=dependencies_from_depends(list(record.depends or [])),
        url=strip_credentials(str(record.url)),
        hash=PackageHash(
            md5=record.md5.hex() if record.md5 else None,
            sha256=record.sha256.hex() if record.sha256 else None,
        ),
    )


def build_lockfile(
    spec: Spec,
    settings: LockSettings,
    plans: list[PlatformPlan],
    channels: list[ResolvedChannel],
    records: list[list[rattler.RepoDataRecord]],
    priority: str,
    exclude_newer: datetime | None,
    pip: list[list[LockedPackage]] | None = None,
) -> Lockfile:
    extra = {"priority": priority, "exclude_newer": exclude_newer.isoformat() if exclude_newer else ""}
    spec_hash = spec.content_hash()
    custom = {
        CUSTOM_VERSION: cenv.__version__,
        CUSTOM_FORMAT: CENV_LOCK_FORMAT,
        CUSTOM_CHANNEL_PRIORITY: priority,
        CUSTOM_SPEC_HASH: spec_hash,
    }
    if settings.variant is not None:
        custom[CUSTOM_VARIANT] = settings.variant
    if exclude_newer is not None:
        custom[CUSTOM_EXCLUDE_NEWER] = exclude_newer.astimezone(timezone.utc).isoformat()
    packages: list[LockedPackage] = []
    for index, (plan, platform_records) in enumerate(zip(plans, records, strict=True)):
        custom[CUSTOM_VIRTUAL_PACKAGES + plan.platform] = format_virtual_packages(
            plan.virtual_packages.packages
        )
        custom[CUSTOM_REQUESTED + plan.platform] = "\n".join(strip_credentials(s) for s in plan.specs)
        packages.extend(locked_package(r, plan.platform) for r in platform_records)
        if plan.pip:
            custom[CUSTOM_PIP_REQUESTED + plan.platform] = "\n".join(strip_credentials(r) for r in plan.pip)
            packages.extend(pip[index] if pip else ())
    lock_dir = settings.lockfile_path().resolve().parent
    metadata = LockMetadata(
        content_hash={p.platform: _content_hash(spec_hash, p, channels, extra) for p in plans},
        channels=tuple(LockChannel(url=c.lock_name) for c in channels),
        platforms=tuple(p.platform for p in plans),
        sources=tuple(_relative(Path(s), lock_dir) for s in spec.sources),
        custom_metadata=custom,
    )
    return Lockfile(version=1, metadata=metadata, package=tuple(packages))


def _relative(path: Path, base: Path) -> str:
    try:
        return os.path.relpath(path.resolve(), base)
    except ValueError:
        return str(path)
