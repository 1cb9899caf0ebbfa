"""`cenv create`: a spec (its lockfile, which must be fresh or missing; `--relock` re-locks) or a lockfile
into a prefix.

Creating from a lockfile imports neither the spec models (pydantic), nor the channel and solve stages: those
are imported only when a spec has to be read or locked, so `cenv create LOCK` starts fast (issue #6).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from cenv.errors import UserError
from cenv.lock.importers import is_lockfile, load_any_lock, read_lock
from cenv.platforms import KNOWN_PLATFORMS, host_platform
from cenv.settings import CreateSettings, LockSettings

if TYPE_CHECKING:
    from cenv.install.conda import InstallResult, Reporter
    from cenv.install.plan import InstallPlan
    from cenv.lock.models import Lockfile
    from cenv.plan import LockPlan
    from cenv.spec import Spec

__all__ = ["CreateResult", "choose_variant", "create", "is_lockfile", "read_lock"]


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
    from cenv.pipeline import variant_names

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


def _check_platform(spec: Spec, platform: str, source: Path) -> None:
    if spec.platforms and platform not in spec.platforms:
        raise UserError(
            f"{source}: the spec is locked for {', '.join(spec.platforms)}, not `{platform}`",
            hints=[f"add `{platform}` to `platforms:` in the spec, or pass `--platform`"],
        )


def create_plan(settings: LockSettings, spec: Spec, existing: Lockfile | None, platform: str) -> LockPlan:
    """The lock plan `create` checks the lockfile against: the lock's recorded inputs, plus `platform`."""
    from cenv.pipeline import plan_for

    plan = plan_for(settings, spec, existing)
    if platform not in plan.platform_names:
        plan = plan_for(replace(settings, platforms=(*plan.platform_names, platform)), spec, existing)
    return plan


def stale_reasons(existing: Lockfile, spec: Spec, plan: LockPlan, platform: str) -> list[str]:
    from cenv.lock.freshness import check_lock

    if platform not in existing.platforms:
        return [f"no packages for {platform}"]
    return [
        r.detail if r.platform == platform else str(r)
        for r in check_lock(spec, plan, existing, only=(platform,))
    ]


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
        if settings.lock_flags.given:
            raise UserError(
                f"`{' '.join(settings.lock_flags.given)}`: {source} is a lockfile, installed as it is",
                hints=["lock inputs apply to a spec: `cenv create SPEC --relock` with them, or `cenv lock`"],
            )
        lockfile = read_lock(source, platform)
        lock_path, lock_action = source, "given"
    else:
        from cenv.spec import load_spec

        spec = load_spec([source])
        warnings += spec.warnings
        env_vars, spec_name = dict(spec.variables), spec.name
        variant = choose_variant(spec, settings.variant, platform)
        if variant is not None:
            spec = spec.with_variant(variant)
            reporter.message(f"variant {variant}")
        _check_platform(spec, platform, source)
        flags = settings.lock_flags
        lock_settings = LockSettings(
            spec_paths=(source,),
            offline=settings.offline,
            variant=variant,
            cuda=flags.cuda,
            no_cuda=flags.no_cuda,
            glibc=flags.glibc,
            osx=flags.osx,
            pip_fallback=flags.pip_fallback,
        )
        lockfile, lock_path, lock_action = _lock_for_spec(spec, lock_settings, platform, settings, reporter)
    lockfile = _credentials_to_network(lockfile)
    name = settings.name or (spec_name if settings.prefix is None else None)
    prefix = resolve_prefix(settings.prefix, settings.name, spec_name)
    packages_dir = settings.pkgs_dir or pkgs_dir()
    for warning in warnings:
        reporter.warning(warning)
    if any(p.manager == "pip" for p in lockfile.package):  # the pip stage's imports cost ~40 ms
        from cenv.install.pip import anchor_lock

        lockfile = anchor_lock(lockfile, lock_path.parent)  # pip paths are relative to the lockfile
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


def _lock_for_spec(
    spec: Spec, lock_settings: LockSettings, platform: str, settings: CreateSettings, reporter: Reporter
) -> tuple[Lockfile, Path, str]:
    """The lock to install: a fresh one as it is; a missing one made now; a stale one is an error unless
    `--relock` (a lockfile is a contract: nothing rewrites it unasked)."""
    from cenv.lock.importers import select_platform
    from cenv.pipeline import existing_lock, lock_with_plan, solve_plan

    lock_path = lock_settings.lockfile_path()
    existing = existing_lock(lock_path)
    if existing is None and lock_path.exists():
        existing = load_any_lock(lock_path)  # another tool's lock: stale (it records no inputs)
    plan = create_plan(lock_settings, spec, existing, platform)
    _index_credentials_to_network(plan)
    if existing is None:
        if settings.dry_run:
            reporter.message(f"would lock {lock_path} (no lockfile yet); not written in a dry run")
            return select_platform(solve_plan(plan, spec)[0], platform, lock_path), lock_path, "locked"
        reporter.message(f"locking {lock_path} (no lockfile yet)")
        made = lock_with_plan(plan, spec, None).lockfile
        reporter.message(f"locked {lock_path}")
        return select_platform(made, platform, lock_path), lock_path, "locked"
    reasons = stale_reasons(existing, spec, plan, platform)
    if not reasons:
        reporter.message(f"using fresh lockfile {lock_path}")
        return select_platform(existing, platform, lock_path), lock_path, "fresh"
    if not settings.relock:
        raise UserError(
            f"{lock_path} is stale for {platform}: " + "; ".join(reasons),
            hints=[
                f"refresh it with `{plan.lock_command()}`, then run this command again",
                "or add `--relock` to re-lock now with the lock's recorded inputs (and any lock flags given)",
            ],
        )
    from cenv.lock.diff import diff_locks, render_diff

    if settings.dry_run:
        reporter.message(f"would re-lock {lock_path} ({'; '.join(reasons)}); not written in a dry run")
        return select_platform(solve_plan(plan, spec)[0], platform, lock_path), lock_path, "locked"
    reporter.message(f"re-locking {lock_path} ({'; '.join(reasons)})")
    result = lock_with_plan(plan, spec, None)
    changes = diff_locks(existing, result.lockfile)
    reporter.message(render_diff(changes) if changes.has_changes else "no package changed")
    reporter.message(f"locked {lock_path}")
    return select_platform(result.lockfile, platform, lock_path), lock_path, "locked"


def _config_offline() -> bool:
    """`offline: true` in a .condarc or CONDA_OFFLINE (the `--offline` flag is checked first)."""
    from cenv.config import current_config

    return current_config().offline


def _index_credentials_to_network(plan: LockPlan) -> None:
    """`user:pass@` in the spec's pip index URLs: the lock's URLs never hold them, so uv installing from it
    gets them by host from the network layer (`Network.uv_environment`)."""
    options = plan.pip_options
    urls = [url for url in (options.index_url, *options.extra_index_urls) if url and "$" not in url]
    if any("@" in url for url in urls):
        from cenv.net import network

        net = network()
        for url in urls:
            net.clean(url)


def _credentials_to_network(lockfile: Lockfile) -> Lockfile:
    """Package URLs with credentials (an `@EXPLICIT` file with `user:pass@` URLs): the credentials go to
    the network layer by host, and nothing written from the plan (conda-meta) holds them."""
    if not any("@" in p.url or "/t/" in p.url for p in lockfile.package):
        return lockfile
    from dataclasses import replace

    from cenv.net import network

    net = network()
    packages = tuple(replace(p, url=net.clean(p.url)) for p in lockfile.package)
    return replace(lockfile, package=packages)


async def _create_async(
    lockfile: Lockfile,
    platform: str,
    prefix: Path,
    packages_dir: Path,
    settings: CreateSettings,
    env_vars: dict[str, str],
    reporter: Reporter,
) -> tuple[InstallPlan, InstallResult | None, list[str]]:
    from cenv.install.cache import locked_cache
    from cenv.install.conda import CacheChanged, install_plan, plan_install
    from cenv.install.finish import FinishOptions
    from cenv.lock.keys import CUSTOM_REQUESTED

    requested = lockfile.metadata.custom(CUSTOM_REQUESTED + platform) or ""
    finish = FinishOptions(
        requested=tuple(s for s in requested.split("\n") if s.strip()),
        link_scripts=settings.link_scripts,
    )

    speculative = True
    # The package cache stays locked from the plan (which entries match the lock) to the checked link.
    guard = contextlib.nullcontext() if settings.dry_run else locked_cache(packages_dir, reporter.message)
    with guard as lock:
        while True:
            plan, warnings = await plan_install(
                lockfile,
                platform,
                prefix,
                packages_dir,
                force=settings.force,
                env_vars=env_vars,
                sizes=False,  # a dry run makes no round trip per package: a lock records no sizes
                speculative=speculative,
            )
            for warning in warnings:
                reporter.warning(warning)
            if settings.dry_run:
                return plan, None, warnings
            try:
                offline = settings.offline or _config_offline()
                installed = await install_plan(
                    plan, reporter, offline=offline, finish=finish, cache_lock=lock
                )
                return plan, installed, warnings
            except CacheChanged:
                if not speculative:
                    raise
                speculative = False  # once more, every cached entry checked before anything is linked
