"""The engine limit: the same work as `cenv lock`, done directly with py-rattler and uv and nothing else.

    python benchmarks/raw_rattler_lock.py --channel URL --cache DIR --specs FILE -p linux-64 ... [--cuda 12.4]
        [--pip FILE --index-url URL [--pypi-mapping JSON] [--uv-cache DIR]] [-o LOCKFILE] [--concurrency N]

One Gateway, every platform solved concurrently (`asyncio.gather`), the same virtual packages cenv assumes
by default (`__glibc 2.28`, `__osx 11.0`, `__linux 5.10`, `__archspec`); with `-o`, the records written as
rattler writes a lockfile itself (`rattler.LockFile.to_path`, pixi's format). With `--pip`,
each platform's solve is followed at once by one `uv pip compile --format pylock.toml --generate-hashes`
of those requirements for that platform (uv in the background, the platforms concurrently): the python
version from its own solve, `--python-platform`, and every python distribution of the solve pinned with
`-c` and left out with `--no-emit-package` (conda name, or its PyPI name from the parselmouth-style
`--pypi-mapping`), as cenv does; "raw uv" in benchmarks/bench_pip_stage.py. Imports only rattler, the
standard library and uv's binary finder, so its start-up is the floor a Python tool can reach. Prints
platform -> number of records and `pip <platform>` -> number of pip packages (JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import rattler
from rattler import BuildString, GenericVirtualPackage, MatchSpec, PackageName, Version

ARCHSPEC = {"linux-64": "x86_64", "osx-arm64": "arm64", "win-64": "x86_64"}
#: uv's --python-platform and environment per platform, for the virtual packages above
UV_PLATFORM = {
    "linux-64": ("x86_64-manylinux_2_28", {}),
    "osx-arm64": ("aarch64-apple-darwin", {"MACOSX_DEPLOYMENT_TARGET": "11.0"}),
    "win-64": ("x86_64-pc-windows-msvc", {}),
}


@dataclass(frozen=True)
class Pip:
    """The pip part: requirement lines, the index, the conda -> PyPI name table, uv's cache."""

    requirements: tuple[str, ...]
    index_url: str
    mapping: dict[str, str | None]
    uv_cache: str | None = None


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
    channel: str,
    cache: str,
    specs: list[str],
    platforms: list[str],
    cuda: str | None,
    pip: Pip | None = None,
    output: str | None = None,
    concurrency: int | None = None,
) -> dict[str, int]:
    # rattler's default client and settings (100 concurrent requests) unless `concurrency` is given
    extra = {} if concurrency is None else {"max_concurrent_requests": concurrency}
    gateway = rattler.Gateway(cache_dir=cache, **extra)
    channels = [rattler.Channel(channel.rstrip("/") + "/")]
    match_specs = [MatchSpec(s) for s in specs]

    solved: dict[str, list[rattler.RepoDataRecord]] = {}

    async def one(platform: str, work: str) -> tuple[int, int]:
        records = solved[platform] = await rattler.solve(
            channels,
            match_specs,
            gateway=gateway,
            platforms=[platform, "noarch"],
            virtual_packages=virtual_packages(platform, cuda),
        )
        return len(records), (await pip_compile(pip, platform, records, Path(work)) if pip else 0)

    with tempfile.TemporaryDirectory(prefix="raw-lock-") as tmp:
        works = [os.path.join(tmp, p) for p in platforms]
        counts = await asyncio.gather(*(one(p, w) for p, w in zip(platforms, works, strict=True)))
    if output:
        write_lock(output, channels, solved)
    result = {p: n for p, (n, _) in zip(platforms, counts, strict=True)}
    if pip:
        result.update({f"pip {p}": n for p, (_, n) in zip(platforms, counts, strict=True)})
    return result


def write_lock(
    path: str, channels: list[rattler.Channel], solved: dict[str, list[rattler.RepoDataRecord]]
) -> None:
    """The conda part as rattler writes a lockfile itself (pixi's format); uv wrote the pip part."""
    platforms = {p: rattler.LockPlatform(p) for p in solved}
    lock_file = rattler.LockFile(list(platforms.values()))
    lock_file.set_channels("default", [rattler.LockChannel(c.base_url) for c in channels])
    for platform, records in solved.items():
        for record in records:
            lock_file.add_conda_package("default", platforms[platform], record)
    lock_file.to_path(path)


def conda_provided(records: list[rattler.RepoDataRecord], mapping: dict[str, str | None]) -> dict[str, str]:
    """PyPI name -> version of the solve's python distributions (depend on python, or noarch python)."""
    provided: dict[str, str] = {}
    for record in records:
        name = record.name.normalized
        if name in ("python", "python_abi"):
            continue
        if any(d.split()[0] == "python" for d in record.depends if d.split()) or record.noarch.python:
            pypi = mapping.get(name, name)
            if pypi:
                provided.setdefault(re.sub(r"[-_.]+", "-", pypi).lower(), str(record.version))
    return provided


async def pip_compile(pip: Pip, platform: str, records: list[rattler.RepoDataRecord], work: Path) -> int:
    """One `uv pip compile` for the platform, conda's python distributions pinned; pip packages locked."""
    from uv import find_uv_bin

    python = next(str(r.version) for r in records if r.name.normalized == "python")
    provided = conda_provided(records, pip.mapping)
    work.mkdir(parents=True)
    (work / "requirements.in").write_text("".join(f"{r}\n" for r in pip.requirements))
    (work / "constraints.txt").write_text("".join(f"{n}=={v}\n" for n, v in sorted(provided.items())))
    target, env = UV_PLATFORM[platform]
    args = [
        "pip", "compile", str(work / "requirements.in"), "--no-config", "--no-python-downloads", "--quiet",
        "--python", sys.executable, "--python-version", python, "--python-platform", target,
        "--default-index", pip.index_url,
        "--generate-hashes", "--format", "pylock.toml", "-o", str(work / "pylock.toml"),
        "-c", str(work / "constraints.txt"),
    ]  # fmt: skip
    if pip.uv_cache:
        args += ["--cache-dir", pip.uv_cache]
    for name in sorted(provided):
        args += ["--no-emit-package", name]
    proc = await asyncio.create_subprocess_exec(
        str(find_uv_bin()), *args, env={**os.environ, **env}, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"uv pip compile failed for {platform}:\n{stderr.decode()}")
    return (work / "pylock.toml").read_text().count("[[packages]]")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--channel", required=True)
    parser.add_argument("--cache", required=True)
    parser.add_argument("--specs", required=True, help="a file with one match spec per line")
    parser.add_argument("-p", "--platform", dest="platforms", action="append", required=True)
    parser.add_argument("--cuda", default=None, help="__cuda version, or `none`")
    parser.add_argument("--pip", help="a file with the pip requirement lines")
    parser.add_argument("--index-url", help="the PEP 503 index for --pip")
    parser.add_argument("--pypi-mapping", help="JSON: conda name -> PyPI name (null: not on PyPI)")
    parser.add_argument("--uv-cache", help="uv's cache directory (default: uv's own)")
    parser.add_argument("-o", "--output", help="write the conda part as rattler's own lockfile (pixi format)")
    parser.add_argument(
        "--concurrency", type=int, help="Gateway max_concurrent_requests (default: rattler's)"
    )
    args = parser.parse_args()
    with open(args.specs, encoding="utf-8") as lines:
        specs = [s.strip() for s in lines if s.strip()]
    cuda = None if args.cuda in (None, "none") else args.cuda
    pip = None
    if args.pip:
        with open(args.pip, encoding="utf-8") as lines:
            requirements = tuple(s.strip() for s in lines if s.strip())
        mapping = {}
        if args.pypi_mapping:
            with open(args.pypi_mapping, encoding="utf-8") as table:
                mapping = json.load(table)
        pip = Pip(requirements, args.index_url, mapping, args.uv_cache)
    result = asyncio.run(
        lock(args.channel, args.cache, specs, args.platforms, cuda, pip, args.output, args.concurrency)
    )
    print(json.dumps(result), flush=True)
    # Leave like `cenv` does (cenv.cli._exit): rattler sometimes segfaults during interpreter shutdown
    # (exit 139 seen on cold runs), and both sides then skip the same teardown.
    os._exit(0)


if __name__ == "__main__":
    main()
