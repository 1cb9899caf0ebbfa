"""The extract and link stages: archives extracted into their checked cache entries (extract.py), the
records rattler links built from each package's own index.json, rattler linking into the staging, and what
is checked after it (cache entries unchanged, every linked path inside the prefix)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cenv.errors import InstallError, InternalError
from cenv.install.archive_guard import (
    UnsafePackage,
    check_linked_paths,
    discard_cache_entry,
    entry_binding,
    stamp_matches,
    stamp_metadata_matches,
)
from cenv.install.cache import cache_dir_error, content_key
from cenv.install.extract import ToExtract, extract_all, extraction_order
from cenv.install.fetch import (
    Fetched,
    mismatch,
)
from cenv.install.plan import InstallPlan, PlannedPackage
from cenv.install.reporter import Reporter
from cenv.redact import error_text

if TYPE_CHECKING:
    import rattler

__all__ = [
    "changed_entries",
    "check_linked",
    "entry_bindings",
    "extract_fetched",
    "link_records",
    "package_records",
    "refused_error",
]


def _channel_of(url: str) -> str:
    parts = url.rsplit("/", 2)
    return parts[0] if len(parts) == 3 else url


async def package_records(plan: InstallPlan, fetched: Mapping[str, Fetched]) -> list[rattler.RepoDataRecord]:
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


async def link_records(
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


def changed_entries(plan: InstallPlan) -> list[str]:
    return [
        p.filename
        for p in plan.packages
        if p.filename in plan.unverified
        and not stamp_matches(plan.pkgs_dir / p.dist, content_key(p.package)[1])
    ]


def refused_error(planned: PlannedPackage, reason: str) -> InstallError:
    return InstallError(
        f"package `{planned.package.name}` ({planned.filename}) was refused: {reason}",
        hints=[
            "its archive matches the lock's checksum, so the package itself is broken or hostile",
            "nothing was installed; report it to the channel and do not use this build",
        ],
    )


async def extract_fetched(
    plan: InstallPlan, fetched: Mapping[str, Fetched], on_placed: Callable[[str], None] | None = None
) -> dict[str, Fetched]:
    """Every archive fetched or verified in this run: extracted once into its cache entry and checked there
    (extract.py) before anything links from it; a refused archive is removed from the cache. Returns
    `fetched` with the checksums rattler's extractor read (file:// archives were not hashed before)."""
    # the python package first: the bytecode compiled while the others extract needs its interpreter
    planned = sorted(
        (p for p in plan.packages if p.filename in fetched),
        key=lambda p: extraction_order(
            p.package.name, p.package.url, p.package.dependencies, fetched[p.filename].size
        ),
    )
    items = [
        ToExtract(p.dist, fetched[p.filename].path, content_key(p.package)[1], p.package.hash.sha256 or None)
        for p in planned
    ]
    try:
        extracted = await extract_all(plan.pkgs_dir, items, on_placed)
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
            raise refused_error(p, extracted.refused[p.dist])
    result = dict(fetched)
    for p in planned:
        got = fetched[p.filename]
        sha256, md5 = extracted.hashes[p.dist]
        result[p.filename] = dataclasses.replace(
            got, sha256=got.sha256 or sha256, md5=got.md5 or md5, verified=True
        )
    return result


async def check_linked(
    plan: InstallPlan, staging: Path, fetched: Mapping[str, Fetched], locked: bool = False
) -> dict[Path, dict[str, Any]]:
    """After linking, before the prefix is moved into place: the entries extracted in this run are still
    the checked ones (rattler did not extract them again), and every linked path is inside the prefix.
    Returns the `conda-meta` records it read (as `meta.read_records` reads them), for the steps after it.

    `locked`: the package cache lock has been held since these entries were extracted and fully checked
    (`archive_guard.check_extracted`, moments ago), so no cenv wrote into them since: the one writer left
    is rattler, which extracts an entry again only from the archive handed to it (the verified copy).
    Then paths.json's identity (`stamp_metadata_matches`: its size, mtime and inode, and the archive's
    checksum; a stat) gives the per-file stamp's answer (`stamp_matches`: an lstat of every file of every
    package, 20k for an ML environment): the same archive extracted again has the same bytes, sizes and
    mtimes, and neither check tells it apart (nor needs to); another archive has another paths.json
    (tests/test_cold_pipeline.py). What only the per-file stamp would see is a tool ignoring the lock
    and editing one file in place while rattler links. Without the lock (an image build), every file is
    compared."""
    fresh = [p for p in plan.packages if p.filename in fetched]
    same = stamp_metadata_matches if locked else stamp_matches

    def changed() -> list[PlannedPackage]:
        key = {p.filename: content_key(p.package)[1] for p in fresh}
        return [p for p in fresh if not same(plan.pkgs_dir / p.dist, key[p.filename])]

    replaced = await asyncio.to_thread(changed)
    if replaced:
        raise refused_error(replaced[0], "its cache entry changed while it was being linked")
    try:
        return await asyncio.to_thread(check_linked_paths, staging)
    except UnsafePackage as exc:
        raise InstallError(f"the linked environment is unsafe: {exc}") from exc


def entry_bindings(plan: InstallPlan) -> dict[str, str]:
    """Each linked entry's identity while the cache lock is held (what its cached bytecode is bound to)."""
    return {p.dist: entry_binding(plan.pkgs_dir / p.dist, content_key(p.package)[1]) for p in plan.packages}
