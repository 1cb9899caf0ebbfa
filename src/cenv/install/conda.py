"""Carry out an install plan: fetch and verify archives, link them with rattler, move the prefix into place.

The orchestrator; the stages are their own modules: planner.py (what to fetch, what the cache has),
downloads.py + fetch.py (fetch), link.py + extract.py (extract, check, link with rattler, check again),
finish.py (link scripts, bytecode via pyc_cache.py, conda-meta), prefix.py (staging and the final rename).

Who checks what:
- every archive fetched or taken from the cache is checked against the lock's sha256 (md5 when that is all
  the lock has) before anything is linked: hashed while it streams, or, for a `file://` archive, by
  rattler's extractor while it reads it; a mismatch raises `InstallError` and nothing is installed.
- rattler links from the package cache. Fetched archives are handed to it as `file://` URLs of the verified
  copy in the cache, so it never downloads anything itself; the `conda-meta/*.json` records are rewritten
  afterwards to carry the original URL. Entries already extracted in the cache are linked only when
  rattler's cache index has them with the lock's sha256.
- rattler writes into a temporary sibling of the target but patches the *final* path into prefix
  placeholders and entry points (`alternative_target_prefix`); `prefix.py` renames it into place.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cenv.errors import InstallError
from cenv.install.cache import CacheLock
from cenv.install.deps import check_dependencies
from cenv.install.downloads import fetch_all
from cenv.install.finish import Finisher, FinishOptions
from cenv.install.host import check_requirements, detect_host, needs_cuda
from cenv.install.link import (
    changed_entries,
    check_linked,
    entry_bindings,
    extract_fetched,
    link_records,
    package_records,
)
from cenv.install.plan import InstallPlan
from cenv.install.planner import plan_install, virtual_requirements
from cenv.install.prefix import relocate_file, staged_prefix
from cenv.install.reporter import Reporter
from cenv.lock.models import dependencies_from_depends
from cenv.platforms import host_platform

if TYPE_CHECKING:
    import rattler

    from cenv.install.fetch import Fetched

__all__ = [
    "CacheChanged",
    "InstallResult",
    "Reporter",
    "install_plan",
    "plan_install",
    "virtual_requirements",
]

STATE_FILE = "state"  # PREFIX/conda-meta/state: {"env_vars": {...}}, as conda writes it


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


def _install_pip(plan: InstallPlan, staging: Path, reporter: Reporter, offline: bool) -> None:
    """The lock's PyPI packages, hash-checked by uv, into the staged prefix's own interpreter."""
    from cenv.install.pip import install_pip

    python = staging / ("python.exe" if plan.platform.startswith("win-") else "bin/python")
    if not python.exists():
        raise InstallError("the lock has pip packages but its conda part provides no python")
    reporter.message(f"installing {len(plan.pip)} pip package(s) with uv")
    install_pip(
        python,
        plan.pip,
        offline=offline,
        editable=plan.pip_editable,
        staging=staging,
        final=plan.prefix,
        progress=reporter.pip_progress,
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


async def _link_and_finish(
    plan: InstallPlan,
    staging: Path,
    records: list[rattler.RepoDataRecord],
    fetched: Mapping[str, Fetched],
    finisher: Finisher,
    reporter: Reporter,
    offline: bool,
    cache_lock: CacheLock | None,
    looking: asyncio.Future[None] | None = None,
) -> None:
    """Link with rattler (the bytecode the cache has linked meanwhile, what it lacks still compiling),
    check what was linked, release the cache, then the conda steps (finish.py). `looking`: the cached
    entries' bytecode being looked at (`EarlyBytecode.begin`), which the bytecode linked meanwhile
    waits for."""
    # cached bytecode is hard-linked while rattler links (its own __pycache__ folders, no package's)
    prelinking = asyncio.ensure_future(_prelink(finisher, staging, looking))
    verifying = asyncio.ensure_future(asyncio.to_thread(changed_entries, plan)) if plan.unverified else None
    checking: asyncio.Future[dict[Path, dict[str, Any]]] | None = None
    try:
        try:
            await link_records(plan, staging, records, reporter)
            # what rattler linked is checked while the cached bytecode may still be being linked
            checking = asyncio.ensure_future(
                check_linked(plan, staging, fetched, locked=cache_lock is not None)
            )
        finally:
            await asyncio.wait([prelinking])
            prelink_error = prelinking.exception()
        changed = await verifying if verifying is not None else []
        if changed:
            raise CacheChanged(changed)
        if prelink_error is not None:
            raise prelink_error
    except Exception as exc:
        if checking is not None:
            await _settled(checking)
        if isinstance(exc, CacheChanged):
            raise
        changed = await verifying if verifying is not None else []
        if changed:  # rattler tripped over the change (a file gone): plan again, checking first
            raise CacheChanged(changed) from None
        raise
    assert checking is not None
    linked = await checking
    if cache_lock is not None:
        cache_lock.release()  # the staging holds its own links now
    try:
        _write_state(staging, plan.env_vars)
        # post-link scripts, the rest of the bytecode
        await asyncio.to_thread(finisher.after_link, staging, linked)
        if plan.pip:
            _install_pip(plan, staging, reporter, offline)
        await asyncio.to_thread(finisher.complete, staging)  # conda-meta, history, prefix root
    except OSError as exc:
        raise InstallError(f"cannot finish the environment: {exc}") from exc


async def _settled(future: asyncio.Future[Any]) -> None:
    """Wait for `future`, its outcome dropped (another error is being raised)."""
    await asyncio.wait([future])
    if not future.cancelled():
        future.exception()


async def _prelink(finisher: Finisher, staging: Path, looking: asyncio.Future[None] | None) -> None:
    if looking is not None:
        await looking
    await asyncio.to_thread(finisher.prelink_bytecode, staging)


async def install_plan(
    plan: InstallPlan,
    reporter: Reporter | None = None,
    offline: bool = False,
    finish: FinishOptions | None = None,
    cache_lock: CacheLock | None = None,
    into: Path | None = None,
) -> InstallResult:
    """Create the environment described by `plan` atomically; on any failure the target is untouched.

    `cache_lock` (held by the caller since the plan was made) is released once the link is checked.
    `into`: write the environment into this empty folder and leave it there (an image's root), with
    `plan.prefix` (e.g. `/opt/env`) patched into it as the path it will have; nothing is registered.
    """
    reporter = reporter or Reporter()
    finisher = Finisher(plan, finish)
    started = time.perf_counter()
    # noarch bytecode the cache lacks compiles from each entry as soon as it is in place (pyc_cache.py)
    early = finisher.early_bytecode()
    cached = [p.dist for p in plan.packages if p.action == "cached"]
    looking = asyncio.ensure_future(asyncio.to_thread(early.begin, cached)) if early is not None else None
    try:
        fetched = await fetch_all(plan, reporter, offline)
        if looking is not None and fetched:
            await looking  # the python entry first, if the cache has it
        fetched = await extract_fetched(plan, fetched, early.placed if early is not None else None)
        records = await package_records(plan, fetched)
        check_dependencies(records, plan.platform)
        if plan.platform == host_platform() and into is None:  # explicit files reveal dependencies only now
            requirements = [
                (str(r.name.normalized), name, spec)
                for r in records
                for name, spec in dependencies_from_depends(list(r.depends or [])).items()
                if name.startswith("__")
            ]
            if requirements:
                check_requirements(requirements, detect_host(cuda=needs_cuda(requirements)))
    except BaseException:
        if looking is not None:
            await asyncio.wait([looking])
        finisher.abort()
        raise
    # Damaged entries, and entries of another archive with the same name, were replaced by `_extract`.
    with staged_prefix(plan.prefix) if into is None else _built_in(into) as staged:
        try:
            # The unverified entries' files are checked against their stamps while rattler links (the
            # paths it links are the checked ones: their paths.json matched); the staging is discarded
            # if one changed.
            finisher.bind_entries(await asyncio.to_thread(entry_bindings, plan))
            # with nothing to extract, the cached entries' bytecode is still being looked at (`looking`)
            # while rattler starts linking
            await _link_and_finish(
                plan, staged.path, records, fetched, finisher, reporter, offline, cache_lock, looking
            )
        finally:
            if looking is not None:
                await asyncio.wait([looking])
            finisher.abort()  # a compilation still running when something failed
        finisher.before_commit()
        staged.commit(replace=plan.replaces_existing)
    if into is None:
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


class _BuiltIn:
    """`staged_prefix`'s object for a build folder that stays where it is (no rename, nothing replaced)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def commit(self, replace: bool = False) -> None:
        pass


@contextlib.contextmanager
def _built_in(path: Path) -> Iterator[_BuiltIn]:
    path.mkdir(parents=True)
    yield _BuiltIn(path)


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
