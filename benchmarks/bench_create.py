"""`cenv create` cold and warm package cache, next to a direct `rattler.install` of the same records.

    .venv/bin/python benchmarks/bench_create.py [--packages 60] [--files 100] [--runs 3]

A channel of real archives (the tests' channel factory: python wrapping this interpreter plus N packages with
F files each, half .conda, half .tar.bz2, chained dependencies) is served over HTTP from 127.0.0.1 and
locked once with `cenv lock`. Then, in the same run and on the same machine:

- cenv create, cold: the whole CLI process (start-up, lock read, fetch + sha256/md5 of every archive,
  rattler link into a temporary sibling, rename) with an empty package cache;
- cenv create, warm: the same lock into a new prefix, everything linked from the package cache;
- cenv in-process, cold / warm: `cenv.create.create` called in this process (no start-up);
- raw rattler.install, cold / warm: the lock's records from `rattler.LockFile` straight into
  `rattler.install` (rattler downloads and checks sha256 itself; no staging directory, no rename).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.channel_factory import ChannelFactory  # noqa: E402
from tests.support.http_server import ChannelServer  # noqa: E402


def build_channel(root: Path, packages: int, files: int) -> ChannelFactory:
    ch = ChannelFactory(root, "bench")
    ch.python_wrapper()
    for i in range(packages):
        deps = [f"bench-pkg-{i - 1:03d}"] if i else []
        ch.package(
            f"bench-pkg-{i:03d}",
            "1.0",
            subdir="linux-64",
            fmt=".conda" if i % 2 else ".tar.bz2",
            depends=deps,
            files={f"share/bench-{i:03d}/f{j:04d}.txt": f"package {i} file {j}\n" * 20 for j in range(files)},
        )
    ch.write_repodata()
    return ch


def cenv(*args: str | Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cenv", *map(str, args)], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def cenv_in_process(lock: Path, prefix: Path, pkgs: Path) -> float:
    from cenv.create import create
    from cenv.settings import CreateSettings

    started = time.perf_counter()
    create(CreateSettings(source=lock, prefix=prefix, pkgs_dir=pkgs))
    return time.perf_counter() - started


def raw_install(lock: Path, prefix: Path, cache: Path) -> float:
    import rattler

    started = time.perf_counter()
    environment = rattler.LockFile.from_path(lock).default_environment()
    assert environment is not None
    lock_platform = environment.platforms()[0]
    records = environment.conda_repodata_records_for_platform(lock_platform) or []
    asyncio.run(rattler.install(records, target_prefix=prefix, cache_dir=cache, show_progress=False))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=60)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ["CONDA_REGISTER_ENVS"] = "false"  # temporary envs stay out of ~/.conda/environments.txt

    with tempfile.TemporaryDirectory(prefix="cenv-bench-create-") as tmp_name:
        tmp = Path(tmp_name)
        ch = build_channel(tmp / "channels", args.packages, args.files)
        size = sum(p.path.stat().st_size for p in ch.packages)
        with ChannelServer(tmp / "channels") as server:
            spec = tmp / "env.yml"
            deps = "\n".join(f"  - bench-pkg-{i:03d}" for i in range(args.packages))
            spec.write_text(f"channels: [{server.channel_url('bench')}]\ndependencies:\n  - python\n{deps}\n")
            env = dict(os.environ, CENV_CACHE_DIR=str(tmp / "cenv-cache"), NO_COLOR="1")
            cenv("lock", spec, env=env)
            lock = tmp / "env-lock.yml"

            names = (
                "cenv cold",
                "cenv warm",
                "cenv in-process cold",
                "cenv in-process warm",
                "raw cold",
                "raw warm",
            )
            rows: dict[str, list[float]] = {k: [] for k in names}
            requests: dict[str, int] = {}
            for run in range(args.runs):
                pkgs = tmp / f"pkgs-{run}"
                run_env = dict(env, CONDA_PKGS_DIRS=str(pkgs))
                server.reset_counters()
                rows["cenv cold"].append(cenv("create", lock, "-p", tmp / f"c{run}", "-q", env=run_env))
                requests["cenv cold"] = server.count("/bench/*/*-1.0-*")
                server.reset_counters()
                rows["cenv warm"].append(cenv("create", lock, "-p", tmp / f"w{run}", "-q", env=run_env))
                requests["cenv warm"] = server.count("/bench/*/*-1.0-*")
                in_process = tmp / f"in-process-pkgs-{run}"
                server.reset_counters()
                rows["cenv in-process cold"].append(cenv_in_process(lock, tmp / f"ic{run}", in_process))
                requests["cenv in-process cold"] = server.count("/bench/*/*-1.0-*")
                server.reset_counters()
                rows["cenv in-process warm"].append(cenv_in_process(lock, tmp / f"iw{run}", in_process))
                requests["cenv in-process warm"] = server.count("/bench/*/*-1.0-*")
                raw_cache = tmp / f"raw-pkgs-{run}"
                server.reset_counters()
                rows["raw cold"].append(raw_install(lock, tmp / f"rc{run}", raw_cache))
                requests["raw cold"] = server.count("/bench/*/*-1.0-*")
                server.reset_counters()
                rows["raw warm"].append(raw_install(lock, tmp / f"rw{run}", raw_cache))
                requests["raw warm"] = server.count("/bench/*/*-1.0-*")
                for path in (pkgs, raw_cache, in_process):
                    shutil.rmtree(path, ignore_errors=True)

    from importlib.metadata import version

    import rattler  # noqa: F401  (version below)

    print(f"# cenv create benchmark ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    print(
        f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"Python {platform.python_version()}; py-rattler {version('py-rattler')}"
    )
    print(
        f"- channel: python + {args.packages} packages x {args.files} files over HTTP on 127.0.0.1, "
        f"{size / 1e6:.1f} MB of archives; median of {args.runs} runs"
    )
    print("- cenv = whole CLI process; raw = in-process rattler.install of rattler.LockFile records")
    print(f"- `cenv --help` start-up alone: {cenv('--help', env=dict(os.environ)):.3f} s\n")
    print("| what | seconds (median) | min | archive requests |")
    print("| --- | ---: | ---: | ---: |")
    for name, values in rows.items():
        print(f"| {name} | {statistics.median(values):.3f} | {min(values):.3f} | {requests[name]} |")


if __name__ == "__main__":
    main()
