"""The engine limit for `cenv lock` of the pangeo spec: rattler's Gateway + solve of its specs, nothing else.

    python benchmarks/raw_rattler_pangeo.py CACHE_DIR CHANNEL_ALIAS SPEC...

Reads each spec's `dependencies` with ruamel.yaml (later files override earlier ones by name, as cenv
merges them), solves them for linux-64 with the virtual packages of the pangeo virtual-packages.yml, and
leaves with os._exit, as cenv does (rattler may crash in interpreter shutdown). Imports only what that
needs (asyncio, rattler, ruamel.yaml): as a process it is the engine that `cenv lock` is held to (issue
#21); bench_lock.py runs it, and imports `solve` for its in-process row.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import rattler
from rattler import BuildString, GenericVirtualPackage, MatchSpec, PackageName, Version

VIRTUAL_PACKAGES = [
    ("__unix", "0", "0"),
    ("__linux", "5.10", "0"),
    ("__glibc", "2.34", "0"),
    ("__cuda", "12.0", "0"),
    ("__archspec", "1", "x86_64"),
]


def solve(cache: Path, alias: str, specs: list[Path]) -> list[rattler.RepoDataRecord]:
    from ruamel.yaml import YAML

    deps: dict[str, str] = {}
    for path in reversed(specs):
        for dep in YAML(typ="safe").load(path.read_text())["dependencies"]:
            if isinstance(dep, str):
                deps[MatchSpec(dep).name.normalized] = dep
    vps = [GenericVirtualPackage(PackageName(n), Version(v), BuildString(b)) for n, v, b in VIRTUAL_PACKAGES]
    channel = rattler.Channel(alias + "/conda-forge/")
    gateway = rattler.Gateway(cache_dir=cache)
    return asyncio.run(
        rattler.solve(
            [channel],
            [MatchSpec(d) for d in deps.values()],
            gateway=gateway,
            platforms=["linux-64", "noarch"],
            virtual_packages=vps,
        )
    )


if __name__ == "__main__":
    records = solve(Path(sys.argv[1]), sys.argv[2], [Path(p) for p in sys.argv[3:]])
    if len(records) <= 800:
        print(f"only {len(records)} records", file=sys.stderr)
        os._exit(1)
    os._exit(0)
