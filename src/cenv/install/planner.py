"""Decide what a create does before it does anything: the target and the host checked, and per package
whether its extracted cache entry is linked as it is, its cached archive re-hashed, or it is fetched."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cenv.errors import InstallError
from cenv.install.archive_guard import (
    UnsafePackage,
    check_extracted,
    stamp_matches,
    stamp_metadata_matches,
)
from cenv.install.cache import check_archive_names, content_key
from cenv.install.extract import entry_sha256
from cenv.install.fetch import (
    check_has_hash,
    remote_size,
)
from cenv.install.host import check_requirements, detect_host, lock_assumption_warnings, needs_cuda
from cenv.install.plan import InstallPlan, dist_name, make_plan
from cenv.install.prefix import check_target
from cenv.lock.models import LockedPackage, Lockfile
from cenv.lock.requirements import editable_names
from cenv.platforms import host_platform

if TYPE_CHECKING:
    pass

__all__ = ["plan_install", "virtual_requirements"]


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
    image: bool = False,
) -> tuple[InstallPlan, list[str]]:
    """Check the target and the host, then decide what to fetch. Returns the plan and warnings.

    With `sizes`, archive sizes are looked up (stat for file://, HEAD for http) for a dry run. With
    `speculative`, cached entries whose paths.json passed their full check are planned as cached at once and
    their files checked while rattler links (`install_plan` raises `CacheChanged` if one changed); without,
    every file is checked first. With `image`, the target is a path inside an image (nothing there is
    replaced) and the host is not the machine that will run it (its driver and glibc are not checked).
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
    replaces = False if image else check_target(prefix, force)
    warnings: list[str] = []
    if platform == host_platform() and not image:
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


def _pinned_source(url: str) -> bool:
    """A git source at a commit (`git+URL@COMMIT`) or a local directory (an absolute path by now)."""
    return url.startswith("git+") or Path(url).is_absolute()
