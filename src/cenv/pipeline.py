"""The public API: lock, export. The single asyncio.run boundary; no click, no printing."""

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
from cenv.errors import LockfileError, UserError
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
from cenv.settings import CreateSettings, LockSettings
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

    from cenv.install.conda import InstallResult, Reporter
    from cenv.install.plan import InstallPlan
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

    spec = load_spec(list(settings.spec_paths))
    if settings.variant is not None:
        variant_names(spec, settings.variant)
        spec = spec.with_variant(settings.variant)
    path = settings.lockfile_path()
    return path, check_lock(spec, settings, read_lock(path))


def lock_spec(
    spec: Spec, settings: LockSettings, previous: Lockfile | None = None
) -> tuple[Lockfile, list[PlatformPlan]]:
    plans = plan_lock(settings, spec)
    channels = _channels(settings, spec)
    priority = settings.channel_priority or spec.channel_priority
    exclude_newer = settings.exclude_newer or spec.exclude_newer
    records = asyncio.run(_solve_all(plans, channels, priority, exclude_newer, settings, previous))
    pip = _pip_stage(spec, plans, records, exclude_newer, settings)
    lockfile = build_lockfile(spec, settings, plans, channels, records, priority, exclude_newer, pip)
    return lockfile, plans


def _pip_stage(
    spec: Spec,
    plans: list[PlatformPlan],
    records: list[list[rattler.RepoDataRecord]],
    exclude_newer: datetime | None,
    settings: LockSettings,
) -> list[list[LockedPackage]]:
    """Resolve each platform's pip lines with uv after its conda solve (conda's packages stay pinned)."""
    if not any(plan.pip for plan in plans):
        return [[] for _ in plans]
    from concurrent.futures import ThreadPoolExecutor

    from cenv.errors import PipStageError
    from cenv.pip_stage import PipRequest, resolve_pip, to_locked
    from cenv.pypi_names import conda_to_pypi, dist_from_record

    options = spec.pip_options

    def one(plan: PlatformPlan, platform_records: list[rattler.RepoDataRecord]) -> list[LockedPackage]:
        if not plan.pip:
            return []
        python = next((r for r in platform_records if r.name.normalized == "python"), None)
        if python is None:
            raise PipStageError(
                f"{plan.platform}: the spec has pip requirements but the conda solution has no python",
                hints=["add `python` to the spec's dependencies"],
            )
        request = PipRequest(
            platform=plan.platform,
            python_version=str(python.version),
            requirements=plan.pip,
            conda_provided=conda_to_pypi(dist_from_record(r) for r in platform_records),
            virtual_packages=plan.virtual_packages,
            index_url=options.index_url,
            extra_index_urls=options.extra_index_urls,
            find_links=options.find_links,
            pytorch_index=options.pytorch_index,
            exclude_newer=exclude_newer,
            offline=settings.offline,
        )
        return to_locked(resolve_pip(request), plan.platform)

    # uv runs as a subprocess: platforms resolve in parallel threads.
    with ThreadPoolExecutor(max_workers=max(1, min(4, len(plans)))) as pool:
        return list(pool.map(one, plans, records))


async def _solve_all(
    plans: list[PlatformPlan],
    channels: list[ResolvedChannel],
    priority: str,
    exclude_newer: datetime | None,
    settings: LockSettings,
    previous: Lockfile | None = None,
) -> list[list[rattler.RepoDataRecord]]:
    from cenv.solve import records_for_urls

    gateway = make_gateway(offline=settings.offline, cache_dir=settings.cache_dir)

    async def one(plan: PlatformPlan) -> list[rattler.RepoDataRecord]:
        locked: list[rattler.RepoDataRecord] = []
        if previous is not None and settings.update:
            # --update PKG: every other package stays where the lock has it (a preference for the solver).
            keep = {
                p.name: p.url
                for p in previous.packages_for(plan.platform, "conda")
                if p.name not in settings.update
            }
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

    # Platforms solve concurrently: rattler releases the GIL while solving.
    return list(await asyncio.gather(*(one(plan) for plan in plans)))


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


def read_lock(path: Path, platform: str | None = None) -> Lockfile:
    from cenv.lock.importers import load_any_lock

    if not path.exists():
        raise LockfileError(f"{path}: no such lockfile", hints=["create one with `cenv lock SPEC`"])
    return load_any_lock(path, platform)


def _export_platform(lockfile: Lockfile, platform: str | None) -> str:
    chosen = platform or host_platform()
    if platform is None and chosen not in lockfile.platforms and len(lockfile.platforms) == 1:
        chosen = lockfile.platforms[0]
    return chosen


@dataclass(frozen=True)
class Export:
    platform: str
    files: list[tuple[str, str]]  # (file name, text)
    commands: list[str]  # how a collaborator without cenv rebuilds the environment


def export(lockfile_path: Path, fmt: str, platform: str | None, name: str | None = None) -> Export:
    """`explicit`: the @EXPLICIT file; `requirements`: the hashed pip file; `share`: both plus commands."""
    from cenv.lock.explicit import render_explicit
    from cenv.pip_stage import render_requirements

    lockfile = read_lock(lockfile_path)
    chosen = _export_platform(lockfile, platform)
    stem = lockfile_path.name.removesuffix(".yml").removesuffix(".yaml").removesuffix("-lock")
    env = name or stem
    explicit_name = f"{stem}.{chosen}.explicit.txt"
    has_pip = bool(lockfile.packages_for(chosen, "pip"))
    requirements_name = f"{stem}.{chosen}.requirements.txt" if has_pip else None
    commands = sharing_commands(env, explicit_name, requirements_name)
    if fmt == "requirements":
        if chosen not in lockfile.platforms:
            render_explicit(lockfile, chosen)  # raises the error that lists the lock's platforms
        return Export(
            chosen, [(f"{stem}.{chosen}.requirements.txt", render_requirements(lockfile, chosen))], []
        )
    header = ["Rebuild this environment without cenv:", *(f"  {c}" for c in commands)]
    files = [(explicit_name, render_explicit(lockfile, chosen, header_lines=header))]
    if fmt == "share" and requirements_name:
        files.append((requirements_name, render_requirements(lockfile, chosen)))
    return Export(chosen, files, commands)


def sharing_commands(env: str, explicit_name: str, requirements_name: str | None) -> list[str]:
    pip = (
        f" && {{tool}} run -n {env} python -m pip install --no-deps --require-hashes -r {requirements_name}"
        if requirements_name
        else ""
    )
    return [
        f"conda create -n {env} --file {explicit_name}" + pip.format(tool="conda"),
        f"micromamba create -n {env} -f {explicit_name}" + pip.format(tool="micromamba"),
    ]


# ---------------------------------------------------------------- create

_LOCK_NAME_SUFFIXES = ("-lock.yml", "-lock.yaml", ".lock", "conda-lock.yml", "conda-lock.yaml")


def is_lockfile(path: Path) -> bool:
    """A lockfile (cenv/conda-lock v1, `@EXPLICIT`, pixi.lock) rather than an environment spec."""
    import re

    if path.name.endswith(_LOCK_NAME_SUFFIXES):
        return True
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if re.search(r"^\s*@EXPLICIT\s*$", text, re.MULTILINE):
        return True
    has_version = re.search(r"^version:", text, re.MULTILINE) is not None
    return has_version and re.search(r"^(package|environments):", text, re.MULTILINE) is not None


@dataclass(frozen=True)
class CreateResult:
    prefix: Path
    name: str | None  # the environment's name when it lives in an envs dir (`-n` or the spec's name)
    lockfile: Path
    lock_action: str  # "fresh" (reused), "locked" (solved now) or "given" (a lockfile was passed)
    plan: InstallPlan
    install: InstallResult | None  # None for --dry-run
    warnings: tuple[str, ...]


def choose_variant(spec: Spec, requested: str | None, platform: str) -> str | None:
    """The variant to create: the one named, or for `auto` the highest CUDA the host's driver supports
    (a CUDA-less variant when there is no driver)."""
    if not spec.variants:
        if requested is not None and requested != "auto":
            variant_names(spec, requested)  # raises: the spec has no variants
        return None
    if requested is None:
        raise UserError(
            "the spec declares variants: " + ", ".join(spec.variants),
            hints=["pass `--variant NAME`, or `--variant auto` to pick by this host's CUDA driver"],
        )
    if requested != "auto":
        return variant_names(spec, requested)[0]
    from rattler import Version

    from cenv.install.host import detect_host

    driver = detect_host(cuda=True).get("__cuda")
    cuda = {name: spec.with_variant(name).cuda_for(platform) for name in spec.variants}
    usable = [
        (Version(version), name)
        for name, version in cuda.items()
        if version is not None and driver is not None and Version(version) <= Version(driver.version)
    ]
    if usable:
        return max(usable)[1]
    cpu = [name for name, version in cuda.items() if version is None]
    if cpu:
        return cpu[0]
    found = f"CUDA {driver.version}" if driver else "no CUDA driver"
    raise UserError(
        f"no variant fits this host ({found})",
        hints=["the spec's variants: " + ", ".join(f"{n} (cuda {v})" for n, v in cuda.items())],
    )


def _lock_platforms(spec: Spec, platform: str, source: Path) -> tuple[str, ...]:
    if not spec.platforms:
        return (platform,)
    if platform not in spec.platforms:
        raise UserError(
            f"{source}: the spec is locked for {', '.join(spec.platforms)}, not `{platform}`",
            hints=[f"add `{platform}` to `platforms:` in the spec, or pass `--platform`"],
        )
    return ()


def lock_is_fresh(lock_path: Path, spec: Spec, settings: LockSettings, platform: str) -> str | None:
    """None if `lock_path` satisfies the spec with the assumptions a fresh lock would make (the same check
    as `cenv lock --check`); otherwise why not."""
    if not lock_path.exists():
        return "no lockfile yet"
    from cenv.lock.freshness import check_lock
    from cenv.lock.importers import load_any_lock

    try:
        existing = load_any_lock(lock_path)
    except LockfileError as exc:
        return f"unreadable: {exc.message}"
    if platform not in existing.platforms:
        return f"no packages for {platform}"
    reasons = check_lock(spec, settings, existing)
    return str(reasons[0]) if reasons else None


def create(settings: CreateSettings, reporter: Reporter | None = None) -> CreateResult:
    """Create an environment from a spec (locking first unless its lockfile is fresh) or a lockfile."""
    from cenv.install.conda import Reporter as NullReporter
    from cenv.install.envs import pkgs_dir, resolve_prefix

    reporter = reporter or NullReporter()
    source = settings.source
    if not source.exists():
        raise UserError(f"`{source}`: no such file", hints=["give an environment spec or a lockfile"])
    platform = settings.platform or host_platform()
    if platform not in KNOWN_PLATFORMS or platform == "noarch":
        raise UserError(f"unknown platform `{platform}`")
    warnings: list[str] = []
    env_vars: dict[str, str] = {}
    spec_name: str | None = None
    if is_lockfile(source):
        lockfile = read_lock(source, platform)
        lock_path, lock_action = source, "given"
    else:
        spec = load_spec([source])
        warnings += spec.warnings
        env_vars, spec_name = dict(spec.variables), spec.name
        variant = choose_variant(spec, settings.variant, platform)
        if variant is not None:
            spec = spec.with_variant(variant)
            reporter.message(f"variant {variant}")
        lock_settings = LockSettings(
            spec_paths=(source,),
            platforms=_lock_platforms(spec, platform, source),
            offline=settings.offline,
            variant=variant,
        )
        lock_path = lock_settings.lockfile_path()
        stale = lock_is_fresh(lock_path, spec, lock_settings, platform)
        if stale is None:
            lockfile = read_lock(lock_path, platform)
            lock_action = "fresh"
            reporter.message(f"using fresh lockfile {lock_path}")
        elif settings.dry_run:
            lockfile, _ = lock_spec(spec, lock_settings)
            lock_action = "locked"
            reporter.message(f"would lock {lock_path} ({stale}); not written in a dry run")
        else:
            reporter.message(f"locking {lock_path} ({stale})")
            lockfile = lock(lock_settings).lockfile
            lock_action = "locked"
            reporter.message(f"locked {lock_path}")
    name = settings.name or (spec_name if settings.prefix is None else None)
    prefix = resolve_prefix(settings.prefix, settings.name, spec_name)
    packages_dir = settings.pkgs_dir or pkgs_dir()
    for warning in warnings:
        reporter.warning(warning)
    plan, install, more = asyncio.run(
        _create_async(lockfile, platform, prefix, packages_dir, settings, env_vars, reporter)
    )
    return CreateResult(
        prefix=prefix,
        name=name,
        lockfile=lock_path,
        lock_action=lock_action,
        plan=plan,
        install=install,
        warnings=tuple(warnings + more),
    )


async def _create_async(
    lockfile: Lockfile,
    platform: str,
    prefix: Path,
    packages_dir: Path,
    settings: CreateSettings,
    env_vars: dict[str, str],
    reporter: Reporter,
) -> tuple[InstallPlan, InstallResult | None, list[str]]:
    from cenv.install.conda import install_plan, plan_install

    plan, warnings = await plan_install(
        lockfile,
        platform,
        prefix,
        packages_dir,
        force=settings.force,
        env_vars=env_vars,
        sizes=settings.dry_run and not settings.offline,
    )
    for warning in warnings:
        reporter.warning(warning)
    if settings.dry_run:
        return plan, None, warnings
    return plan, await install_plan(plan, reporter, offline=settings.offline), warnings
