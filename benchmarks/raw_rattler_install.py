"""The engine limit for `cenv create`: the lock's records straight into `rattler.install`, nothing else.

    python benchmarks/raw_rattler_install.py LOCK PREFIX --cache DIR [--platform linux-64]

Reads the lock with `rattler.LockFile`, takes the conda records of the platform (the lock's own platform
objects) and installs them with `rattler.install(records, target_prefix, cache_dir=...)`: rattler downloads
what the cache lacks (checking sha256) and hard-links into the prefix. No staging directory, no rename,
no extra checks. Imports only rattler.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

import rattler


def records(lock: Path, platform: str) -> list[rattler.RepoDataRecord]:
    environment = rattler.LockFile.from_path(lock).default_environment()
    if environment is None:
        raise SystemExit(f"{lock}: no default environment")
    for lock_platform in environment.platforms():
        if str(lock_platform) == platform:
            return environment.conda_repodata_records_for_platform(lock_platform) or []
    raise SystemExit(f"{lock}: no platform {platform}")


def install(lock: Path, prefix: Path, cache: Path, platform: str = "linux-64") -> int:
    recs = records(lock, platform)
    asyncio.run(rattler.install(recs, target_prefix=prefix, cache_dir=cache, show_progress=False))
    return len(recs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("lock", type=Path)
    parser.add_argument("prefix", type=Path)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--platform", default="linux-64")
    args = parser.parse_args()
    print(install(args.lock, args.prefix, args.cache, args.platform), flush=True)
    os._exit(0)  # as raw_rattler_lock.py and cenv: skip the interpreter teardown


if __name__ == "__main__":
    main()
