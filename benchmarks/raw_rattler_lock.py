"""The engine limit: the same solves as `cenv lock`, done directly with py-rattler and nothing else.

    python benchmarks/raw_rattler_lock.py --channel URL --cache DIR --specs FILE -p linux-64 ... [--cuda 12.4]

One Gateway, every platform solved concurrently (`asyncio.gather`), the same virtual packages cenv assumes
by default (`__glibc 2.28`, `__osx 11.0`, `__linux 5.10`, `__archspec`), no lockfile written. Imports only
rattler so its start-up is the floor a Python tool can reach. Prints platform -> number of records (JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os

import rattler
from rattler import BuildString, GenericVirtualPackage, MatchSpec, PackageName, Version

ARCHSPEC = {"linux-64": "x86_64", "osx-arm64": "arm64", "win-64": "x86_64"}


def virtual_packages(platform: str, cuda: str | None) -> list[GenericVirtualPackage]:
    family = platform.split("-")[0]
    values = {
        "linux": [("__unix", "0"), ("__linux", "5.10"), ("__glibc", "2.28")],
        "osx": [("__unix", "0"), ("__osx", "11.0")],
        "win": [("__win", "0")],
    }[family]
    packages = [GenericVirtualPackage(PackageName(n), Version(v), BuildString("0")) for n, v in values]
    packages.append(
        GenericVirtualPackage(PackageName("__archspec"), Version("1"), BuildString(ARCHSPEC[platform]))
    )
    if cuda and family in ("linux", "win"):
        packages.append(GenericVirtualPackage(PackageName("__cuda"), Version(cuda), BuildString("0")))
    return packages


async def lock(
    channel: str, cache: str, specs: list[str], platforms: list[str], cuda: str | None
) -> dict[str, int]:
    gateway = rattler.Gateway(cache_dir=cache)
    channels = [rattler.Channel(channel.rstrip("/") + "/")]
    match_specs = [MatchSpec(s) for s in specs]
    results = await asyncio.gather(
        *(
            rattler.solve(
                channels,
                match_specs,
                gateway=gateway,
                platforms=[platform, "noarch"],
                virtual_packages=virtual_packages(platform, cuda),
            )
            for platform in platforms
        )
    )
    return {p: len(r) for p, r in zip(platforms, results, strict=True)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--channel", required=True)
    parser.add_argument("--cache", required=True)
    parser.add_argument("--specs", required=True, help="a file with one match spec per line")
    parser.add_argument("-p", "--platform", dest="platforms", action="append", required=True)
    parser.add_argument("--cuda", default=None, help="__cuda version, or `none`")
    args = parser.parse_args()
    with open(args.specs, encoding="utf-8") as lines:
        specs = [s.strip() for s in lines if s.strip()]
    cuda = None if args.cuda in (None, "none") else args.cuda
    print(json.dumps(asyncio.run(lock(args.channel, args.cache, specs, args.platforms, cuda))), flush=True)
    # Leave like `cenv` does (cenv.cli._exit): rattler sometimes segfaults during interpreter shutdown
    # (exit 139 seen on cold runs), and both sides then skip the same teardown.
    os._exit(0)


if __name__ == "__main__":
    main()
