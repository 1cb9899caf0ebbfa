"""The public API: lock, check, export (create lives in `cenv.create`). No click, no printing."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import cenv
from cenv.channels import ResolvedChannel, make_gateway
from cenv.errors import CenvError, ChannelError, SolveError, UserError
from cenv.lock.keys import (
    CENV_LOCK_FORMAT,
    CUSTOM_FORMAT,
    CUSTOM_PIP_EDITABLE,
    CUSTOM_PIP_FALLBACK,
    CUSTOM_PIP_REQUESTED,
    CUSTOM_REQUESTED,
    CUSTOM_SPEC_HASH,
    CUSTOM_VARIABLES,
    CUSTOM_VERSION,
    format_variables,
)
from cenv.lock.models import (
    LockChannel,
    LockedPackage,
    Lockfile,
    LockMetadata,
    PackageHash,
)
from cenv.plan import LockPlan, PlatformPlan, resolve_plan
from cenv.redact import strip_credentials
from cenv.settings import LockSettings
from cenv.solve import SolveRequest, solve
from cenv.spec import Spec, load_spec
from cenv.variants import variant_jobs, variants_failed
from cenv.virtual_packages import VirtualPackages, format_virtual_packages

if TYPE_CHECKING:
    import rattler

    from cenv.lock.freshness import StaleReason
    from cenv.pip.lines import PipLine
    from cenv.spec.models import CondaDependency
    from cenv.update import Moved


@dataclass(frozen=True)
class LockResult:
    lockfile: Lockfile
    path: Path
    seconds: float
    warnings: tuple[str, ...]
    virtual_packages: tuple[VirtualPackages, ...]
    previous: Lockfile | None = None  # the lockfile this one replaced, read for --update
    plan: LockPlan | None = None
    moved: tuple[Moved, ...] = ()  # --update NAMES: the other packages that had to change, and why

    def count(self, platform: str) -> int:
        return len(self.lockfile.packages_for(platform))


def lock_all(settings: LockSettings) -> list[LockResult]:
    """`cenv lock`: one lockfile, or one per variant when the spec declares `variants` (solved at once).
    Every variant is solved before any lockfile is written: all of them are written, or none."""
    spec = load_spec(list(settings.spec_paths))
    jobs = variant_jobs(spec, settings)
    started = time.perf_counter()
    if len(jobs) == 1:
        solved = [_solve_job(*jobs[0])]
    else:
        from concurrent.futures import ThreadPoolExecutor

        # Each variant solves in its own thread (and event loop); rattler releases the GIL while solving.
        with ThreadPoolExecutor(max_workers=min(4, len(jobs))) as pool:
            solved = list(pool.map(lambda job: _solve_job(*job), jobs))
    failed = [(job, error) for job, (_, error) in zip(jobs, solved, strict=True) if error is not None]
    if failed:
        raise variants_failed(failed, len(jobs))
    results = []
    for (variant_spec, _), (done, _) in zip(jobs, solved, strict=True):
        assert done is not None
        results.append(_write_result(done, variant_spec, time.perf_counter() - started))
    return results


@dataclass(frozen=True)
class _Solved:
    plan: LockPlan
    lockfile: Lockfile
    previous: Lockfile | None
    moved: tuple[Moved, ...]


def _solve_job(spec: Spec, settings: LockSettings) -> tuple[_Solved | None, CenvError | None]:
    """Plan and solve one variant (nothing written); a cenv error is returned, to be reported with the
    others."""
    try:
        if settings.update is None and (solved := _relock(spec, settings)) is not None:
            return solved, None
        existing = existing_lock(settings.lockfile_path())
        plan = plan_for(settings, spec, existing)
        previous = existing if settings.update is not None else None
        _check_update(plan, previous)
        lockfile, moved = solve_plan(plan, spec, previous)
    except CenvError as exc:
        return None, exc
    return _Solved(plan, lockfile, previous, tuple(moved)), None


def _relock(spec: Spec, settings: LockSettings) -> _Solved | None:
    """A re-lock without `--update` needs only the existing lockfile's metadata (its recorded inputs) before
    it solves (issue #21). Before, the whole file was read first and an unreadable one counted as absent, so
    the plan was the head's (readable) or the bare one (not). When both are the same plan, the whole file
    cannot change the outcome and is not read; otherwise it is read and validated in a thread while rattler
    solves. None when there is no head, the plan fails, or the whole file disagrees with the head
    (unreadable, other metadata): the caller then does exactly what it did before, from the whole file.
    A failed solve of the plan the old path would have made too is raised, not solved a second time."""
    from concurrent.futures import ThreadPoolExecutor

    from cenv.lock.head import read_lock_head

    path = settings.lockfile_path()
    head = read_lock_head(path)
    if head is None:
        return None
    try:
        plan = plan_for(settings, spec, head)
        _check_update(plan, None)
        bare = plan == _bare_plan(settings, spec)
    except CenvError:
        return None
    if bare:  # a failed solve is final too: the whole file could not have changed it
        lockfile, moved = solve_plan(plan, spec, None)
        return _Solved(plan, lockfile, None, tuple(moved))
    failure: CenvError | None = None
    with ThreadPoolExecutor(max_workers=1) as pool:
        whole = pool.submit(existing_lock, path)
        try:
            lockfile, moved = solve_plan(plan, spec, None)
        except CenvError as exc:
            failure = exc
        existing = whole.result()
    if existing is None or existing.metadata != head.metadata:
        return None
    if failure is not None:  # the same plan as before, so the same failure, without solving again
        raise failure
    return _Solved(plan, lockfile, None, tuple(moved))


def _bare_plan(settings: LockSettings, spec: Spec) -> LockPlan | None:
    """The plan without any recorded inputs (an unreadable lockfile's), None when that plan is an error."""
    try:
        return plan_for(settings, spec, None)
    except CenvError:
        return None


def lock(settings: LockSettings) -> LockResult:
    """Solve every platform of the spec(s) (one variant, if it has variants) and write the lockfile."""
    results = lock_all(settings)
    if len(results) > 1:
        raise UserError("the spec has several variants; choose one", hints=["pass `--variant NAME`"])
    return results[0]


def existing_lock(path: Path) -> Lockfile | None:
    """The cenv lockfile at `path`, or None when there is none or it cannot be read as one."""
    if not path.exists():
        return None
    from cenv.errors import LockfileError
    from cenv.lock.io import read_lockfile

    try:
        return read_lockfile(path)
    except LockfileError:
        return None


def plan_for(settings: LockSettings, spec: Spec, existing: Lockfile | None = None) -> LockPlan:
    """The lock plan for `settings` and `spec`, gaps filled from the existing lockfile's recorded inputs."""
    from cenv.lock.models import recorded_inputs  # not via cenv.lock.freshness: a lock checks nothing (#21)

    return resolve_plan(settings, spec, recorded_inputs(existing))


def lock_with_plan(plan: LockPlan, spec: Spec, previous: Lockfile | None) -> LockResult:
    """Solve `plan` and write its lockfile; `previous`: the lock `--update` keeps packages from."""
    started = time.perf_counter()
    _check_update(plan, previous)
    lockfile, moved = solve_plan(plan, spec, previous)
    solved = _Solved(plan, lockfile, previous, tuple(moved))
    return _write_result(solved, spec, time.perf_counter() - started)


def _check_update(plan: LockPlan, previous: Lockfile | None) -> None:
    if plan.update and previous is None:
        raise UserError(
            f"`--update {' '.join(plan.update)}`: there is no lockfile at {plan.output} to update",
            hints=[f"lock first: `{plan.lock_command()}`"],
        )
    if previous is not None and plan.update:
        from cenv.update import check_update_names

        check_update_names(previous, plan.update, plan.platform_names)


def _write_result(solved: _Solved, spec: Spec, seconds: float) -> LockResult:
    from cenv.lock.io import write_lockfile

    plan, lockfile = solved.plan, solved.lockfile
    write_lockfile(lockfile, plan.output)
    recorded = (lockfile.metadata.custom(CUSTOM_PIP_FALLBACK + p) or "" for p in plan.platform_names)
    fell_back = sorted({name for value in recorded for name in value.split()})
    warnings = spec.warnings
    if fell_back:
        names = ", ".join(f"`{n}`" for n in fell_back)
        warnings += (f"no channel has {names}: taken from the package index by the pip stage (pip-fallback)",)
    return LockResult(
        lockfile=lockfile,
        path=plan.output,
        seconds=seconds,
        warnings=warnings,
        virtual_packages=tuple(p.virtual_packages for p in plan.platforms),
        previous=solved.previous,
        plan=plan,
        moved=solved.moved,
    )


def check(settings: LockSettings) -> tuple[LockPlan, list[StaleReason]]:
    """Whether the lockfile satisfies the spec(s), without solving: the typed reasons it is stale.
    With `-p`, only those platforms are checked. One variant (the spec's only lock, or `--variant`)."""
    results = check_all(settings)
    if len(results) > 1:
        raise UserError("the spec has several variants; choose one", hints=["pass `--variant NAME`"])
    return results[0].plan, results[0].reasons


@dataclass(frozen=True)
class CheckResult:
    """`lock --check` for one lockfile (one variant): its plan, why it is stale, and the recorded flags
    that override a spec value changed since the lock was written."""

    plan: LockPlan
    reasons: list[StaleReason]
    overrides: tuple[str, ...] = ()
    missing: bool = False  # no lockfile at plan.output


def check_all(settings: LockSettings) -> list[CheckResult]:
    """`lock --check`: every variant's lockfile (or the one `--variant` names), each with its reasons."""
    from cenv.lock.freshness import check_lock
    from cenv.lock.importers import read_lock

    spec = load_spec(list(settings.spec_paths))
    results = []
    for variant_spec, variant_settings in variant_jobs(spec, settings):
        path = variant_settings.lockfile_path()
        if not path.exists() and spec.variants:
            plan = plan_for(variant_settings, variant_spec, None)
            results.append(CheckResult(plan, [], missing=True))
            continue
        lock = read_lock(path)
        plan = plan_for(variant_settings, variant_spec, lock)
        reasons = check_lock(variant_spec, plan, lock, only=settings.platforms or None)
        results.append(CheckResult(plan, reasons, plan.overrides))
    return results


def lock_spec(
    spec: Spec, settings: LockSettings, previous: Lockfile | None = None
) -> tuple[Lockfile, LockPlan]:
    """Solve `spec` with `settings` (no recorded inputs), without writing: for `diff` and tools."""
    plan = plan_for(settings, spec, previous)
    lockfile, _ = solve_plan(plan, spec, previous if settings.update is not None else None)
    return lockfile, plan


def solve_plan(plan: LockPlan, spec: Spec, previous: Lockfile | None = None) -> tuple[Lockfile, list[Moved]]:
    """Solve (and resolve the pip part of) every platform of `plan`; `previous`: the lock `--update` keeps
    from. Returns the lockfile and, for `--update NAMES`, the other packages that had to move."""
    try:
        channels = plan.channels()
    except ChannelError as exc:
        where = _index_lines(spec, (exc.channel,)).get(exc.channel) if exc.channel else None
        if where is None:
            raise
        raise ChannelError(f"{where}: {exc.message}", exc.hints) from None
    fallback: dict[str, list[str]] = {}
    solved = asyncio.run(_solve_and_pip(spec, plan, channels, previous, fallback))
    records = [platform_records for platform_records, _, _ in solved]
    pip = [platform_pip for _, platform_pip, _ in solved]
    moved = [m for _, _, platform_moved in solved for m in platform_moved]
    return build_lockfile(spec, plan, channels, records, pip, fallback), moved


async def _solve_and_pip(
    spec: Spec,
    plan: LockPlan,
    channels: list[ResolvedChannel],
    previous: Lockfile | None,
    fallback_names: dict[str, list[str]] | None = None,
) -> list[tuple[list[rattler.RepoDataRecord], list[LockedPackage], list[Moved]]]:
    """Every platform's conda solve, each followed at once by its pip stage: uv resolves one platform while
    rattler still solves the others. `fallback_names` receives, per platform, the conda names the pip stage
    took instead (`pip-fallback`)."""
    from cenv.channels import repodata_cache_dir
    from cenv.deadline import repodata_deadline

    gateway = make_gateway(offline=plan.offline, cache_dir=plan.cache_dir, channels=channels)
    cache_dir, urls = plan.cache_dir or repodata_cache_dir(), [c.url for c in channels]
    fallback_names = {} if fallback_names is None else fallback_names

    async def one(
        platform: PlatformPlan,
    ) -> tuple[list[rattler.RepoDataRecord], list[LockedPackage], list[Moved]]:
        where = {d.name: str(d.location) for d in spec.dependencies_for(platform.platform)}
        extra: tuple[CondaDependency, ...] = ()
        try:
            # a stalled server fails after CONDA_REMOTE_READ_TIMEOUT_SECS, never hangs
            solving = _solve_one(gateway, platform, plan, channels, previous, where)
            records, moved = await repodata_deadline(solving, cache_dir, urls)
        except SolveError as exc:
            extra = await _pip_fallback(gateway, spec, platform, plan, channels, exc)
            fallback_names[platform.platform] = [d.name for d in extra]
            names = {d.name for d in extra}
            narrowed = replace(platform, specs=tuple(s for s in platform.specs if _spec_name(s) not in names))
            solving = _solve_one(gateway, narrowed, plan, channels, previous, where)
            records, moved = await repodata_deadline(solving, cache_dir, urls)
        if not platform.pip and not extra:
            return records, [], moved
        pip = await asyncio.to_thread(_pip_one, spec, platform, records, plan, extra)
        return records, pip, moved

    return list(await asyncio.gather(*(one(p) for p in plan.platforms)))


def _pip_one(
    spec: Spec,
    platform: PlatformPlan,
    records: list[rattler.RepoDataRecord],
    plan: LockPlan,
    extra: tuple[CondaDependency, ...] = (),
) -> list[LockedPackage]:
    """Resolve one platform's pip lines with uv after its conda solve (conda's packages stay pinned);
    `extra`: conda dependencies the pip stage takes instead (`pip-fallback`)."""
    from cenv.errors import PipStageError
    from cenv.pip import PipRequest, resolve_pip, to_locked
    from cenv.pip.lines import PipLine
    from cenv.pypi_names import conda_to_pypi, dist_from_record

    python = next((r for r in records if r.name.normalized == "python"), None)
    if python is None:
        raise PipStageError(
            f"{platform.platform}: the spec has pip requirements but the conda solution has no python",
            hints=["add `python` to the spec's dependencies"],
        )
    options = plan.pip_options
    request = PipRequest(
        platform=platform.platform,
        python_version=str(python.version),
        requirements=platform.pip + tuple(d.name for d in extra),
        conda_provided=conda_to_pypi(dist_from_record(r) for r in records),
        virtual_packages=platform.virtual_packages,
        index_url=options.index_url,
        extra_index_urls=options.extra_index_urls,
        find_links=options.find_links,
        pytorch_index=options.pytorch_index,
        exclude_newer=plan.exclude_newer,
        offline=plan.offline,
        lines=_pip_lines(spec, platform.platform)
        + tuple(PipLine(d.name, str(d.location), None) for d in extra),
        lock_dir=plan.output.resolve().parent,
        index_where=_index_lines(spec, (options.index_url, *options.extra_index_urls, *options.find_links)),
    )
    return to_locked(resolve_pip(request), platform.platform)


async def _solve_one(
    gateway: rattler.Gateway,
    platform: PlatformPlan,
    plan: LockPlan,
    channels: list[ResolvedChannel],
    previous: Lockfile | None,
    where: dict[str, str],
) -> tuple[list[rattler.RepoDataRecord], list[Moved]]:
    request = SolveRequest(
        platform=platform.platform,
        channels=tuple(channels),
        specs=platform.specs,
        virtual_packages=platform.virtual_packages,
        channel_priority=plan.priority,
        exclude_newer=plan.exclude_newer,
        offline=plan.offline,
        where=where,
    )
    if previous is not None and plan.update:
        from cenv.update import solve_update

        return await solve_update(gateway, request, previous, plan.update)
    return await solve(request, gateway), []


def _content_hash(spec_hash: str, platform: PlatformPlan, plan: LockPlan, channels: list[str]) -> str:
    payload = {
        "spec": spec_hash,
        "platform": platform.platform,
        "specs": list(platform.specs),
        "channels": channels,
        "virtual_packages": format_virtual_packages(platform.virtual_packages.packages),
        "priority": plan.priority.value,
        "exclude_newer": plan.exclude_newer.isoformat() if plan.exclude_newer else "",
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
    plan: LockPlan,
    channels: list[ResolvedChannel],
    records: list[list[rattler.RepoDataRecord]],
    pip: list[list[LockedPackage]] | None = None,
    pip_fallback: dict[str, list[str]] | None = None,
) -> Lockfile:
    spec_hash = spec.content_hash()
    custom = {
        CUSTOM_VERSION: cenv.__version__,
        CUSTOM_FORMAT: CENV_LOCK_FORMAT,
        CUSTOM_SPEC_HASH: spec_hash,
        **plan.records(),
    }
    if spec.variables:  # collaborators get them with the lock (`create LOCK`, packs, `export --format share`)
        custom[CUSTOM_VARIABLES] = format_variables(dict(spec.variables))
    packages: list[LockedPackage] = []
    for index, (platform, platform_records) in enumerate(zip(plan.platforms, records, strict=True)):
        custom[CUSTOM_REQUESTED + platform.platform] = "\n".join(strip_credentials(s) for s in platform.specs)
        packages.extend(locked_package(r, platform.platform) for r in platform_records)
        fallback = (pip_fallback or {}).get(platform.platform)
        if fallback:
            custom[CUSTOM_PIP_FALLBACK + platform.platform] = "\n".join(sorted(fallback))
            if not platform.pip:
                packages.extend(pip[index] if pip else ())
        if platform.pip:
            custom[CUSTOM_PIP_REQUESTED + platform.platform] = "\n".join(
                strip_credentials(r) for r in platform.pip
            )
            packages.extend(pip[index] if pip else ())
            editable = _pip_editable(spec, plan, platform.platform, pip[index] if pip else [])
            if editable:
                custom[CUSTOM_PIP_EDITABLE + platform.platform] = "\n".join(editable)
    lock_dir = plan.output.resolve().parent
    names = [c.lock_name for c in channels]
    metadata = LockMetadata(
        content_hash={p.platform: _content_hash(spec_hash, p, plan, names) for p in plan.platforms},
        channels=tuple(LockChannel(url=name) for name in names),
        platforms=plan.platform_names,
        sources=tuple(_relative(Path(s), lock_dir) for s in spec.sources),
        custom_metadata=custom,
    )
    return Lockfile(version=1, metadata=metadata, package=tuple(packages))


def _spec_name(spec: str) -> str:
    from cenv.solve import parse_match_spec

    return str(parse_match_spec(spec).name.normalized)


async def _pip_fallback(
    gateway: rattler.Gateway,
    spec: Spec,
    platform: PlatformPlan,
    plan: LockPlan,
    channels: list[ResolvedChannel],
    error: SolveError,
) -> tuple[CondaDependency, ...]:
    """The conda dependencies no channel has that the package index has by that exact name, when the
    fallback is on; otherwise `error`, saying which are on the index. Re-raises `error` when none is."""
    from cenv.pip.fallback import missing_from_channels, on_index

    dependencies = spec.dependencies_for(platform.platform)
    missing = await missing_from_channels(gateway, channels, platform.platform, dependencies)
    requested = [d for d in dependencies if d.channel is None and not d.name.startswith("__")]
    if not missing or len(missing) == len(requested):
        raise error  # the channels hold none of the names: they, not PyPI, are what to look at
    found = await on_index([d.name for d in missing], plan.pip_options.index_url, plan.offline)
    chosen = tuple(d for d in missing if found and d.name in found)
    if not chosen or len(chosen) < len(missing):
        # a name that is on neither side says the channels are what is wrong (a missing `conda-forge`,
        # a typo): suggesting PyPI for the others would mislead; the solver's error names every missing one
        raise error
    if not plan.pip_options.fallback:
        raise _on_pypi_error(chosen, error)
    return chosen


def _on_pypi_error(chosen: tuple[CondaDependency, ...], error: SolveError) -> SolveError:
    first = chosen[0]
    others = ", ".join(f"`{d.name}` ({d.location})" for d in chosen[1:])
    return SolveError(
        f"`{first.name}` ({first.location}) is on PyPI: move it under `pip:` or set `pip-fallback: true`",
        hints=[*([f"also on PyPI and in no channel: {others}"] if others else []), error.message],
    )


def _pip_editable(spec: Spec, plan: LockPlan, platform: str, packages: list[LockedPackage]) -> list[str]:
    if not any(r.requirement.startswith(("-e", "--editable")) for r in spec.pip_for(platform)):
        return []
    from cenv.pip.resolve import editable_names

    return editable_names(_pip_lines(spec, platform), packages, plan.output.resolve().parent)


def _index_lines(spec: Spec, urls: tuple[str | None, ...]) -> dict[str, str]:
    """Where the spec's files name each index URL (`file:line`), for the pip stage's errors."""
    found: dict[str, str] = {}
    wanted = [u for u in urls if u]
    for source in spec.sources:
        try:
            lines = Path(source).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for number, text in enumerate(lines, 1):
            for url in wanted:
                if url not in found and url in text:
                    found[url] = f"{source}:{number}"
    return found


def _pip_lines(spec: Spec, platform: str) -> tuple[PipLine, ...]:
    """The spec's pip lines for `platform` with their file:line and the folder relative paths start from."""
    from cenv.pip.lines import PipLine

    return tuple(
        PipLine(r.requirement, str(r.location), str(Path(r.location.file).resolve().parent))
        for r in spec.pip_for(platform)
    )


def _relative(path: Path, base: Path) -> str:
    try:
        return os.path.relpath(path.resolve(), base)
    except ValueError:
        return str(path)
