"""Carry out an install plan: fetch and verify archives, link them with rattler, move the prefix into place.

Who checks what:
- cenv hashes every archive it fetches (http, https and file://) against the lock's sha256 (md5 when that is
  all the lock has) before anything is linked; a mismatch raises `InstallError` and nothing is installed.
- rattler links from the package cache. Fetched archives are handed to it as `file://` URLs of the verified
  copy in the cache, so it never downloads anything itself; the `conda-meta/*.json` records are rewritten
  afterwards to carry the original URL. Entries already extracted in the cache are linked only when
  rattler's cache index has them with the lock's sha256.
- rattler writes into a temporary sibling of the target but patches the *final* path into prefix
  placeholders and entry points (`alternative_target_prefix`); `prefix.py` renames it into place.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import json
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cenv.errors import InstallError, InternalError
from cenv.install.archive_guard import (
    UnsafePackage,
    check_extracted,
    check_linked_paths,
    discard_cache_entry,
    entry_binding,
    stamp_matches,
    stamp_metadata_matches,
)
from cenv.install.cache import CacheLock, cache_dir_error, check_archive_names, content_key
from cenv.install.deps import check_dependencies
from cenv.install.extract import ToExtract, entry_sha256, extract_all
from cenv.install.fetch import (
    Fetched,
    check_has_hash,
    fetch_archive,
    local_path,
    mismatch,
    remote_size,
    verify_file,
)
from cenv.install.finish import Finisher, FinishOptions
from cenv.install.host import check_requirements, detect_host, lock_assumption_warnings, needs_cuda
from cenv.install.plan import InstallPlan, PlannedPackage, dist_name, make_plan
from cenv.install.prefix import check_target, relocate_file, staged_prefix
from cenv.lock.models import LockedPackage, Lockfile, dependencies_from_depends
from cenv.lock.requirements import editable_names
from cenv.platforms import host_platform
from cenv.redact import error_text

if TYPE_CHECKING:
    import rattler

__all__ = [
    "CacheChanged",
    "InstallResult",
    "Reporter",
    "install_plan",
    "plan_install",
    "virtual_requirements",
]

STATE_FILE = "state"  # PREFIX/conda-meta/state: {"env_vars": {...}}, as conda writes it
_MAX_PARALLEL = 5  # conda's default fetch_threads; more overflowed small listen backlogs (1 s SYN retries)


class Reporter:
    """Progress callbacks; the CLI subclasses this (rich bars, plain lines or nothing). No-ops here.

    `fetch_progress` is called from download threads. `link_package` is called only when
    `wants_link_progress`: rattler calling back into Python for every package slows its link step.
    """

    wants_link_progress = False

    def message(self, text: str) -> None:
        pass

    def warning(self, text: str) -> None:
        pass

    def fetch_start(self, count: int, total_bytes: int | None) -> None:
        pass

    def fetch_progress(self, nbytes: int) -> None:
        pass

    def fetch_package_done(self, name: str) -> None:
        pass

    def fetch_done(self) -> None:
        pass

    def link_start(self, count: int) -> None:
        pass

    def link_package(self, name: str) -> None:
        pass

    def link_done(self) -> None:
        pass


class CacheChanged(Exception):
    """A cached entry linked on the strength of its stamp's metadata turned out changed: the staged
    environment was discarded; plan again with `speculative=False` (the entry then gets its full check)."""

    def __init__(self, filenames: Sequence[str]) -> None:
        super().__init__(", ".join(filenames))
        self.filenames = tuple(filenames)


@dataclass(frozen=True)
class InstallResult:
    prefix: Path
    platform: str
    packages: int
    fetched: int
    fetched_bytes: int
    from_cache: int
    seconds: float
    warnings: tuple[str, ...] = ()
    replaced: bool = False
    conda_steps: Mapping[str, object] | None = None  # link scripts, menu entries, bytecode (finish.py)

    def summary(self) -> dict[str, object]:
        return {
            "prefix": str(self.prefix),
            "platform": self.platform,
            "packages": self.packages,
            "downloaded": self.fetched,
            "downloaded_bytes": self.fetched_bytes,
            "linked_from_cache": self.from_cache,
            "seconds": round(self.seconds, 3),
            "replaced": self.replaced,
            "warnings": list(self.warnings),
            **(self.conda_steps or {}),
        }


# ---------------------------------------------------------------- records


def _channel_of(url: str) -> str:
    parts = url.rsplit("/", 2)
    return parts[0] if len(parts) == 3 else url


async def _cache_state(
    packages: Sequence[LockedPackage], pkgs_dir: Path, speculative: bool
) -> tuple[set[tuple[str, str]], set[tuple[str, str]], dict[str, str], set[str]]:
    """(content keys extracted in the cache with matching checksums and intact files, content keys whose
    archive file is there (its checksum is checked before use), {file name: why its extracted entry cannot
    be linked}, and of the first the file names whose files are still to be checked against their stamp
    while rattler links, when `speculative`). An entry counts for a record only with the record's checksum
    (the stamp and rattler's `<dist>.lock` hold the archive's), whatever its file name."""
    if not pkgs_dir.is_dir():
        return set(), set(), {}, set()
    root = os.fspath(pkgs_dir)
    check = stamp_metadata_matches if speculative else stamp_matches
    # One worker thread, not one per package: the checks are GIL-bound Python (stat calls), and hundreds
    # of threads contending for the GIL cost more than they overlap.
    stamped = await asyncio.to_thread(
        lambda: [check(os.path.join(root, dist_name(p.filename)), content_key(p)[1]) for p in packages]
    )
    # A matching stamp is keyed by the archive's checksum: the entry was fully checked for this very archive.
    cached = {content_key(p) for p, ok in zip(packages, stamped, strict=True) if ok}
    unverified = {p.filename for p, ok in zip(packages, stamped, strict=True) if ok} if speculative else set()
    rest = [p for p, ok in zip(packages, stamped, strict=True) if not ok]
    archives: set[tuple[str, str]] = set()
    damaged: dict[str, str] = {}
    if not rest:
        return cached, archives, damaged, unverified
    candidates = []
    for package in rest:
        index_json = pkgs_dir / dist_name(package.filename) / "info" / "index.json"
        sha256 = (package.hash.sha256 or "").lower()
        if sha256 and index_json.is_file() and entry_sha256(pkgs_dir, dist_name(package.filename)) == sha256:
            candidates.append(package)
        elif (pkgs_dir / package.filename).is_file():
            archives.add(content_key(package))
    reasons = await asyncio.to_thread(lambda: [_damage(p, pkgs_dir) for p in candidates])
    for package, reason in zip(candidates, reasons, strict=True):
        if reason is None:
            cached.add(content_key(package))
            continue
        damaged[package.filename] = reason
        if (pkgs_dir / package.filename).is_file():
            archives.add(content_key(package))
    return cached, archives, damaged, unverified


def _damage(package: LockedPackage, pkgs_dir: Path) -> str | None:
    """Why the extracted cache entry of `package` (its stamp did not match) must not be linked, or None
    when the full check passes (which stamps it)."""
    try:
        check_extracted(pkgs_dir / dist_name(package.filename), content_key(package)[1])
    except UnsafePackage as exc:
        return str(exc)
    return None


def virtual_requirements(packages: Iterable[LockedPackage]) -> list[tuple[str, str, str]]:
    """(package, virtual package, version spec) for every `__*` dependency recorded in the lock."""
    return [
        (p.name, name, spec)
        for p in packages
        for name, spec in sorted(p.dependencies.items())
        if name.startswith("__")
    ]


async def plan_install(
    lock: Lockfile,
    platform: str,
    prefix: Path,
    pkgs_dir: Path,
    *,
    force: bool = False,
    env_vars: Mapping[str, str] | None = None,
    sizes: bool = False,
    speculative: bool = True,
) -> tuple[InstallPlan, list[str]]:
    """Check the target and the host, then decide what to fetch. Returns the plan and warnings.

    With `sizes`, archive sizes are looked up (stat for file://, HEAD for http) for a dry run. With
    `speculative`, cached entries whose paths.json passed their full check are planned as cached at once and
    their files checked while rattler links (`install_plan` raises `CacheChanged` if one changed); without,
    every file is checked first.
    """
    packages = lock.packages_for(platform, "conda")
    pip = lock.packages_for(platform, "pip")
    for package in pip:
        # git sources are pinned by their commit, local directories by their path
        if not package.hash.sha256 and not _pinned_source(package.url):
            raise InstallError(
                f"pip package `{package.name}` has no sha256 in the lock", hints=["re-lock it"]
            )
    if pip and platform != host_platform():
        raise InstallError(
            f"the lock's pip packages for {platform} can only be installed on {platform}",
            hints=["create without pip packages elsewhere with `cenv export --format explicit` and conda"],
        )
    if not packages:
        raise InstallError(f"the lock has no conda packages for {platform}")
    for package in packages:
        check_has_hash(package)
    check_archive_names(packages)
    replaces = check_target(prefix, force)
    warnings: list[str] = []
    if platform == host_platform():
        requirements = virtual_requirements(packages)
        assumed = lock.virtual_packages(platform) or ()
        host = detect_host(cuda=needs_cuda(requirements) or any(vp.name == "__cuda" for vp in assumed))
        check_requirements(requirements, host)
        warnings += lock_assumption_warnings(assumed, host)
    cached, archives, damaged, unverified = await _cache_state(packages, pkgs_dir, speculative)
    for filename, reason in sorted(damaged.items()):
        warnings.append(
            f"package cache entry `{dist_name(filename)}` is damaged ({reason}); extracting it again"
        )
    known: dict[str, int] = {}
    if sizes:
        missing = [p for p in packages if content_key(p) not in cached]
        found = await asyncio.gather(*(asyncio.to_thread(remote_size, p) for p in missing))
        known = {p.filename: s for p, s in zip(missing, found, strict=True) if s is not None}
    plan = make_plan(
        prefix,
        platform,
        pkgs_dir,
        packages,
        cached,
        archives,
        known,
        replaces,
        env_vars,
        pip=pip,
        pip_editable=editable_names(lock, platform),
        damaged=damaged,
        unverified=unverified,
    )
    return plan, warnings


# ---------------------------------------------------------------- fetching


async def _fetch_all(plan: InstallPlan, reporter: Reporter, offline: bool) -> dict[str, Fetched]:
    fetched: dict[str, Fetched] = {}
    to_fetch: list[PlannedPackage] = list(plan.to_fetch)
    for planned in plan.packages:
        if planned.action != "archive":
            continue
        try:  # an archive already in the cache: re-hash it locally, fetch again if it does not match
            fetched[planned.filename] = await asyncio.to_thread(
                verify_file, planned.package, plan.pkgs_dir / planned.filename
            )
        except (InstallError, OSError):
            to_fetch.append(planned)
    if not to_fetch:
        return fetched
    remote = [p for p in to_fetch if local_path(p.package.url) is None]
    if offline and remote:
        names = ", ".join(f"`{p.package.name}`" for p in remote[:5]) + (" ..." if len(remote) > 5 else "")
        raise InstallError(
            f"--offline: {len(remote)} package(s) are not in the package cache: {names}",
            hints=[f"package cache: {plan.pkgs_dir}; run once without --offline"],
        )
    plan.pkgs_dir.mkdir(parents=True, exist_ok=True)
    sizes = [p.size for p in to_fetch]
    reporter.fetch_start(len(to_fetch), None if None in sizes else sum(s or 0 for s in sizes))
    cancel = threading.Event()
    loop = asyncio.get_running_loop()
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=min(_MAX_PARALLEL, len(to_fetch)))

    def one(planned: PlannedPackage) -> Fetched:
        result = fetch_archive(
            planned.package, plan.pkgs_dir, reporter.fetch_progress, cancel, hash_later=True
        )
        reporter.fetch_package_done(planned.package.name)
        return result

    futures = [loop.run_in_executor(executor, one, p) for p in to_fetch]
    try:
        done, pending = await asyncio.wait(futures, return_when=asyncio.FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            cancel.set()
            if pending:
                await asyncio.wait(pending)  # threads stop at their next chunk
            errors = [f.exception() for f in failed]
            first = next((e for e in errors if isinstance(e, InstallError)), errors[0])
            assert first is not None
            raise first
    finally:
        cancel.set()
        executor.shutdown(wait=False, cancel_futures=True)
    for planned, future in zip(to_fetch, futures, strict=True):
        fetched[planned.filename] = future.result()
    reporter.fetch_done()
    return fetched


# ---------------------------------------------------------------- linking


async def _records(plan: InstallPlan, fetched: Mapping[str, Fetched]) -> list[rattler.RepoDataRecord]:
    """Full records from each package's own index.json (explicit files carry nothing else)."""
    from rattler import PackageRecord, RepoDataRecord

    def one(planned: PlannedPackage) -> rattler.RepoDataRecord:
        package = planned.package
        channel = _channel_of(package.url)
        got = fetched.get(planned.filename)
        index_json = plan.pkgs_dir / planned.dist / "info" / "index.json"
        try:
            if got is None:
                record = PackageRecord.from_index_json(
                    index_json, sha256=package.hash.sha256, md5=package.hash.md5
                )
                repo = RepoDataRecord(record, package.filename, package.url, channel)
            else:  # extracted by `_extract` with a matching `<dist>.lock`: rattler links it, fetches nothing
                record = PackageRecord.from_index_json(
                    index_json, size=got.size, sha256=got.sha256, md5=got.md5
                )
                repo = RepoDataRecord(record, package.filename, package.url, channel)
        except Exception as exc:
            raise InstallError(
                f"package `{package.name}` ({package.filename}) is not a valid conda package: "
                f"{error_text(exc)}"
            ) from exc
        if repo.name.normalized != package.name.lower():
            raise InstallError(
                f"package `{package.name}` ({package.filename}) is not `{package.name}`: its archive says "
                f"`{repo.name.normalized}`",
                hints=["the lock's entry and its archive disagree; the lockfile was edited, lock again"],
            )
        return repo

    return await asyncio.to_thread(lambda: [one(p) for p in plan.packages])


class _LinkReporter:
    """Forwards rattler's link callbacks to cenv's reporter (structural InstallerReporter)."""

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter
        self.names: dict[int, str] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("on_"):
            return _noop
        raise AttributeError(name)

    def on_link_start(self, operation: int, package_name: str) -> int:
        self.names[operation] = package_name
        return operation

    def on_link_complete(self, index: int) -> None:
        self.reporter.link_package(self.names.get(index, "?"))


def _noop(*args: object) -> int:
    return 0


async def _link(
    plan: InstallPlan, staging: Path, records: list[rattler.RepoDataRecord], reporter: Reporter
) -> None:
    import rattler

    reporter.link_start(len(records))
    try:
        await rattler.install(
            records,
            target_prefix=staging,
            cache_dir=plan.pkgs_dir,
            installed_packages=[],
            platform=rattler.Subdir(plan.platform),
            execute_link_scripts=False,
            show_progress=False,
            reporter=_LinkReporter(reporter) if reporter.wants_link_progress else None,
            alternative_target_prefix=plan.prefix,
        )
    except Exception as exc:
        raise InstallError(f"linking the environment failed: {error_text(exc)}") from exc
    except BaseException as exc:  # rattler panics are BaseExceptions
        if isinstance(exc, KeyboardInterrupt | SystemExit | asyncio.CancelledError | GeneratorExit):
            raise
        raise InternalError(f"rattler failed while linking: {error_text(exc)}") from exc
    reporter.link_done()


def _changed_entries(plan: InstallPlan) -> list[str]:
    return [
        p.filename
        for p in plan.packages
        if p.filename in plan.unverified
        and not stamp_matches(plan.pkgs_dir / p.dist, content_key(p.package)[1])
    ]


def _refused(planned: PlannedPackage, reason: str) -> InstallError:
    return InstallError(
        f"package `{planned.package.name}` ({planned.filename}) was refused: {reason}",
        hints=[
            "its archive matches the lock's checksum, so the package itself is broken or hostile",
            "nothing was installed; report it to the channel and do not use this build",
        ],
    )


async def _extract(plan: InstallPlan, fetched: Mapping[str, Fetched]) -> dict[str, Fetched]:
    """Every archive fetched or verified in this run: extracted once into its cache entry and checked there
    (extract.py) before anything links from it; a refused archive is removed from the cache. Returns
    `fetched` with the checksums rattler's extractor read (file:// archives were not hashed before)."""
    planned = [p for p in plan.packages if p.filename in fetched]
    items = [
        ToExtract(p.dist, fetched[p.filename].path, content_key(p.package)[1], p.package.hash.sha256 or None)
        for p in planned
    ]
    try:
        extracted = await extract_all(plan.pkgs_dir, items)
    except OSError as exc:
        raise cache_dir_error(exc, plan.pkgs_dir, "extract into") from exc
    for p in planned:
        if p.dist in extracted.mismatched:
            sha256, md5 = extracted.mismatched[p.dist]
            with contextlib.suppress(OSError):  # the archive is not the lock's; its entry was not touched
                fetched[p.filename].path.unlink()
            raise mismatch(p.package, sha256, md5) or InstallError(f"`{p.filename}`: checksum mismatch")
        if p.dist in extracted.refused:
            await asyncio.to_thread(discard_cache_entry, plan.pkgs_dir, p.dist, [p.filename])
            raise _refused(p, extracted.refused[p.dist])
    result = dict(fetched)
    for p in planned:
        got = fetched[p.filename]
        sha256, md5 = extracted.hashes[p.dist]
        result[p.filename] = dataclasses.replace(
            got, sha256=got.sha256 or sha256, md5=got.md5 or md5, verified=True
        )
    return result


async def _check_linked(plan: InstallPlan, staging: Path, fetched: Mapping[str, Fetched]) -> None:
    """After linking, before the prefix is moved into place: the entries extracted in this run are still
    the checked ones (rattler did not extract them again), and every linked path is inside the prefix."""
    fresh = [p for p in plan.packages if p.filename in fetched]

    def changed() -> list[PlannedPackage]:
        key = {p.filename: content_key(p.package)[1] for p in fresh}
        return [p for p in fresh if not stamp_matches(plan.pkgs_dir / p.dist, key[p.filename])]

    replaced = await asyncio.to_thread(changed)
    if replaced:
        raise _refused(replaced[0], "its cache entry changed while it was being linked")
    try:
        await asyncio.to_thread(check_linked_paths, staging)
    except UnsafePackage as exc:
        raise InstallError(f"the linked environment is unsafe: {exc}") from exc


def _bindings(plan: InstallPlan) -> dict[str, str]:
    """Each linked entry's identity while the cache lock is held (what its cached bytecode is bound to)."""
    return {p.dist: entry_binding(plan.pkgs_dir / p.dist, content_key(p.package)[1]) for p in plan.packages}


def _pinned_source(url: str) -> bool:
    """A git source at a commit (`git+URL@COMMIT`) or a local directory (an absolute path by now)."""
    return url.startswith("git+") or Path(url).is_absolute()


def _install_pip(plan: InstallPlan, staging: Path, reporter: Reporter, offline: bool) -> None:
    """The lock's PyPI packages, hash-checked by uv, into the staged prefix's own interpreter."""
    from cenv.install.pip import install_pip

    python = staging / ("python.exe" if plan.platform.startswith("win-") else "bin/python")
    if not python.exists():
        raise InstallError("the lock has pip packages but its conda part provides no python")
    reporter.message(f"installing {len(plan.pip)} pip package(s) with uv")
    install_pip(
        python, plan.pip, offline=offline, editable=plan.pip_editable, staging=staging, final=plan.prefix
    )
    _relocate_scripts(staging, plan.prefix)


def _relocate_scripts(staging: Path, final: Path) -> None:
    """uv wrote the staging path into console-script shebangs; point them at the final prefix.

    conda's own entry points already carry the final path (rattler's alternative_target_prefix).
    """
    old, new = str(staging).encode(), str(final).encode()
    for folder in (staging / "bin", staging / "Scripts"):
        if not folder.is_dir():
            continue
        for script in folder.iterdir():
            if script.is_symlink() or not script.is_file():
                continue
            with open(script, "rb") as handle:
                head = handle.read(2)
            if head != b"#!":
                continue
            data = script.read_bytes()
            if old in data:
                relocate_file(script, data, old, new)


def _write_state(staging: Path, env_vars: Mapping[str, str]) -> None:
    if not env_vars:
        return
    path = staging / "conda-meta" / STATE_FILE
    path.write_text(
        json.dumps({"env_vars": dict(env_vars)}, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )


async def install_plan(
    plan: InstallPlan,
    reporter: Reporter | None = None,
    offline: bool = False,
    finish: FinishOptions | None = None,
    cache_lock: CacheLock | None = None,
) -> InstallResult:
    """Create the environment described by `plan` atomically; on any failure the target is untouched.

    `cache_lock` (held by the caller since the plan was made) is released once the link is checked.
    """
    reporter = reporter or Reporter()
    finisher = Finisher(plan, finish)
    started = time.perf_counter()
    fetched = await _extract(plan, await _fetch_all(plan, reporter, offline))
    records = await _records(plan, fetched)
    check_dependencies(records, plan.platform)
    if plan.platform == host_platform():  # explicit files only reveal dependencies now
        requirements = [
            (str(r.name.normalized), name, spec)
            for r in records
            for name, spec in dependencies_from_depends(list(r.depends or [])).items()
            if name.startswith("__")
        ]
        if requirements:
            check_requirements(requirements, detect_host(cuda=needs_cuda(requirements)))
    # Damaged entries, and entries of another archive with the same name, were replaced by `_extract`.
    with staged_prefix(plan.prefix) as staged:
        # The unverified entries' files are checked against their stamps while rattler links (the paths it
        # links are the checked ones: their paths.json matched); the staging is discarded if one changed.
        verifying = (
            asyncio.ensure_future(asyncio.to_thread(_changed_entries, plan)) if plan.unverified else None
        )
        finisher.bind_entries(await asyncio.to_thread(_bindings, plan))
        # cached bytecode is hard-linked while rattler links (its own __pycache__ folders, no package's)
        prelinking = asyncio.ensure_future(asyncio.to_thread(finisher.prelink_bytecode, staged.path))
        try:
            try:
                await _link(plan, staged.path, records, reporter)
            finally:
                await asyncio.wait([prelinking])
                prelink_error = prelinking.exception()
        except Exception:
            changed = await verifying if verifying is not None else []
            if changed:  # rattler tripped over the change (a file gone): plan again, checking first
                raise CacheChanged(changed) from None
            raise
        changed = await verifying if verifying is not None else []
        if changed:
            raise CacheChanged(changed)
        if prelink_error is not None:
            raise prelink_error
        await _check_linked(plan, staged.path, fetched)
        if cache_lock is not None:
            cache_lock.release()  # the staging holds its own links now
        try:
            _write_state(staged.path, plan.env_vars)
            await asyncio.to_thread(finisher.after_link, staged.path)  # post-link scripts, bytecode starts
            if plan.pip:
                _install_pip(plan, staged.path, reporter, offline)
            await asyncio.to_thread(finisher.complete, staged.path)  # conda-meta, history, prefix root
        except OSError as exc:
            raise InstallError(f"cannot finish the environment: {exc}") from exc
        finally:
            finisher.abort()  # a compilation still running when something failed
        finisher.before_commit()
        staged.commit(replace=plan.replaces_existing)
    finisher.after_commit()
    _report_finish(finisher, reporter)
    transferred = sum(f.transferred for f in fetched.values())
    downloaded = sum(1 for f in fetched.values() if f.transferred)
    return InstallResult(
        prefix=plan.prefix,
        platform=plan.platform,
        packages=len(plan.packages),
        fetched=downloaded,
        fetched_bytes=transferred,
        from_cache=len(plan.packages) - downloaded,
        seconds=time.perf_counter() - started,
        replaced=plan.replaces_existing,
        warnings=tuple(finisher.report.warnings),
        conda_steps=finisher.report.summary(),
    )


def _names(names: Sequence[str]) -> str:
    return ", ".join(names)


def _report_finish(finisher: Finisher, reporter: Reporter) -> None:
    """The conda steps' one-line notes: which link scripts ran or were skipped, menu entries, messages."""
    report = finisher.report
    if report.post_link:
        reporter.message(f"ran post-link scripts of: {_names(report.post_link)}")
    if report.pre_unlink:
        reporter.message(f"ran pre-unlink scripts of the replaced environment: {_names(report.pre_unlink)}")
    if report.skipped:
        reporter.warning(f"link scripts not run (--no-link-scripts): {_names(report.skipped)}")
    if report.menu:
        reporter.message(f"menu entries not installed (cenv does not run menuinst): {_names(report.menu)}")
    for line in report.messages:
        reporter.message(line)
    for warning in report.warnings:
        reporter.warning(warning)
