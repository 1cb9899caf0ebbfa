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

from cenv.errors import UsageError, UserError
from cenv.lock.importers import is_lockfile, load_any_lock, read_lock
from cenv.lock.keys import CUSTOM_VARIANT
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
    variant: str | None = None  # the spec's variant created, or the lock's (a pixi.lock's environment)


def choose_variant(
    spec: Spec, requested: str | None, platform: str, source: Path | None = None
) -> tuple[str | None, str]:
    """The variant to create and why: the one named, or for `auto` the CUDA variant whose lock assumes the
    highest `__cuda` this host's driver satisfies, else the CPU-only one. What a variant assumes is read
    from its lockfile (the `__cuda` it was locked for, `--cuda` included) when there is one, else from the
    spec."""
    from cenv.variants import variant_names

    if not spec.variants:
        if requested is not None and requested != "auto":
            variant_names(spec, requested)  # raises: the spec has no variants
        return None, ""
    if requested is None:
        raise UserError(
            "the spec declares variants: " + ", ".join(spec.variants),
            hints=["pass `--variant NAME`, or `--variant auto` to pick by this host's CUDA driver"],
        )
    if requested != "auto":
        return variant_names(spec, requested)[0], "chosen with --variant"
    from rattler import Version

    from cenv.install.host import detect_host

    host = detect_host(cuda=True).get("__cuda")
    assumed = {name: _assumed_cuda(spec, name, platform, source) for name in spec.variants}
    cuda = [(Version(v), name, v, where) for name, (v, where) in assumed.items() if v is not None]
    usable = [c for c in cuda if host is not None and c[0] <= Version(host.version)]
    if usable:
        _, name, version, where = max(usable)
        return name, f"host driver {host.version if host else '?'} >= {name}'s {version}{where}"
    cpu = [name for name, (version, _) in assumed.items() if version is None]
    if not cpu:
        found = f"CUDA driver {host.version}" if host else "no CUDA driver"
        raise UserError(
            f"no variant fits this host ({found})",
            hints=[
                "the spec's variants: " + ", ".join(f"{n} (cuda {v})" for n, (v, _) in assumed.items()),
                "choose one with `--variant NAME` (and set CONDA_OVERRIDE_CUDA to install it anyway)",
            ],
        )
    if host is None:
        return cpu[0], "no CUDA driver on this host"
    lowest = min(cuda)
    return cpu[0], f"host driver {host.version} < {lowest[1]}'s {lowest[2]}{lowest[3]}"


def _assumed_cuda(spec: Spec, variant: str, platform: str, source: Path | None) -> tuple[str | None, str]:
    """The `__cuda` variant `variant` assumes for `platform`, and where that was read (its lockfile)."""
    if source is not None:
        from cenv.lock.keys import CUSTOM_VIRTUAL_PACKAGES
        from cenv.pipeline import existing_lock
        from cenv.virtual_packages import parse_virtual_packages

        path = LockSettings(spec_paths=(source,), variant=variant).lockfile_path()
        lock = existing_lock(path)
        recorded = lock.metadata.custom(CUSTOM_VIRTUAL_PACKAGES + platform) if lock is not None else None
        if recorded is not None:
            found = next((p for p in parse_virtual_packages(recorded) if p.name == "__cuda"), None)
            return (found.version if found else None), f" (as locked in {path.name})"
    if not spec.variants[variant].uses_cuda:
        return None, ""
    return spec.with_variant(variant).cuda_for(platform), " (from the spec)"


def lock_variables(lockfile: Lockfile, source: Path) -> dict[str, str]:
    """The spec's `variables:` a cenv lock carries (`cenv.variables`), checked: names as a shell takes them,
    values without NUL; a lock that says otherwise is refused, naming the key."""
    import re

    from cenv.errors import LockfileError
    from cenv.lock.keys import CUSTOM_VARIABLES, parse_variables

    try:
        variables = parse_variables(lockfile.metadata.custom(CUSTOM_VARIABLES))
    except ValueError as exc:
        raise LockfileError(f"{source}: {exc}", hints=["lock it again with `cenv lock SPEC`"]) from None
    for name, value in variables.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,254}", name) or "\0" in value:
            raise LockfileError(
                f"{source}: `{CUSTOM_VARIABLES}` has an unusable variable `{name[:60]}`",
                hints=["variable names are letters, digits and `_`; lock it again with `cenv lock SPEC`"],
            )
    return variables


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
        raise UsageError(
            f"`--platform {platform}`: unknown platform",
            hints=["valid platforms: " + ", ".join(p for p in KNOWN_PLATFORMS if p != "noarch")],
        )
    warnings: list[str] = []
    env_vars: dict[str, str] = {}
    spec_name: str | None = None
    chosen_variant: str | None = None
    if is_lockfile(source):
        if settings.lock_flags.given:
            raise UsageError(
                f"`{' '.join(settings.lock_flags.given)}`: {source} is a lockfile, installed as it is",
                hints=["lock inputs apply to a spec: `cenv create SPEC --relock` with them, or `cenv lock`"],
            )
        environment = None if settings.variant in (None, "auto") else settings.variant
        chosen_variant = environment
        lockfile = read_lock(source, platform, environment=environment)
        lock_path, lock_action = source, "given"
        env_vars = lock_variables(lockfile, source)
    else:
        from cenv.spec import load_spec

        spec = load_spec([source])
        warnings += spec.warnings
        env_vars, spec_name = dict(spec.variables), spec.name
        variant, why = choose_variant(spec, settings.variant, platform, source)
        chosen_variant = variant
        if variant is not None:
            from cenv.variants import check_cuda_flag

            if settings.variant not in (None, "auto"):
                check_cuda_flag(spec, variant, settings.lock_flags.cuda)
            spec = spec.with_variant(variant)
            reporter.message(f"variant {variant}: {why}")
        _check_platform(spec, platform, source)
        flags = settings.lock_flags
        lock_settings = LockSettings(
            spec_paths=(source,),
            offline=settings.offline,
            variant=variant,
            named_variant=variant is not None,
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
        variant=chosen_variant or lockfile.metadata.custom(CUSTOM_VARIANT) or None,
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
    """Credentials in the spec's channel URLs, its channel alias (every layout `redact.parse_credentials`
    knows) and `user:pass@` in its pip index URLs: the lock's URLs never hold them, so installing from a
    fresh lock gets them by host from the network layer (rattler's auth, `Network.uv_environment`)."""
    options = plan.pip_options
    urls = [url for url in (options.index_url, *options.extra_index_urls) if url and "$" not in url]
    urls += [n for n in (*plan.channel_names, *plan.pinned_channels, plan.channel_alias) if "://" in n]
    if any("@" in url or "/t/" in url for url in urls):
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


def _take_from_shared_caches(lockfile: Lockfile, platform: str, writable: Path, reporter: Reporter) -> None:
    """The other `pkgs_dirs` (a cluster's shared read-only cache) provide what the writable one lacks."""
    from cenv.install.envs import pkgs_dirs
    from cenv.install.shared_cache import take_from_shared

    sources = [d for d in pkgs_dirs() if d != writable and d.is_dir()]
    taken = take_from_shared(lockfile.packages_for(platform, "conda"), writable, sources)
    if taken:
        reporter.message(
            f"{len(taken)} packages from the shared package caches ({', '.join(map(str, sources))})"
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
        if not settings.dry_run and settings.pkgs_dir is None:
            await asyncio.to_thread(_take_from_shared_caches, lockfile, platform, packages_dir, reporter)
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
