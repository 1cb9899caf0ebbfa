"""The fetch stage: every archive the plan fetches, in parallel threads (fetch.py does one), cancelled
together when one fails; archives already in the cache are re-hashed instead."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import TYPE_CHECKING

from cenv.errors import InstallError
from cenv.install.fetch import (
    Fetched,
    fetch_archive,
    local_path,
    verify_file,
)
from cenv.install.plan import InstallPlan, PlannedPackage
from cenv.install.reporter import Reporter

if TYPE_CHECKING:
    pass

__all__ = ["fetch_all"]

_MAX_PARALLEL = 5  # conda's default fetch_threads; more overflowed small listen backlogs (1 s SYN retries)


async def fetch_all(plan: InstallPlan, reporter: Reporter, offline: bool) -> dict[str, Fetched]:
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
