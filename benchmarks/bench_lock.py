"""Lock time for the pangeo pytorch notebook spec (3 merged files, 888 packages) next to raw py-rattler.

    .venv/bin/python benchmarks/bench_lock.py [--runs 5] [--results benchmarks/RESULTS.md] [--baseline SRC]

Both sides solve the same specs on the same real repodata (../shared/realdata/channels/pangeo-cuda) with the
same virtual packages, in the same run. "cenv lock" is the whole CLI process (start-up, spec loading, solve,
lockfile writing); "cenv pipeline" is the in-process lock; "raw rattler" is Gateway + solve only, also as
a whole process ("raw rattler (process)": the engine that `cenv lock` is held to, issue #21).
`--baseline SRC` (another checkout's src folder, e.g. `git archive REV src | tar -x -C /tmp/base`) adds
its `cenv lock` process to the same interleaved runs, bytecode compiled too. Every process's CPU seconds
(user + sys, from wait4) are reported beside its wall time: two cores shared with other work move wall
times more than CPU times. cenv's bytecode is compiled first (common.precompile_cenv). With --results,
the table replaces this script's section of that markdown file (run.py keeps the section when it
rewrites the file).
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from common import precompile_cenv, replace_section

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata"
SPECS = [
    REALDATA / "specs" / name / "environment.yml"
    for name in ("pangeo-pytorch-notebook", "pangeo-notebook", "pangeo-base-notebook")
]
HEADING = "Real repodata: the pangeo pytorch notebook lock (benchmarks/bench_lock.py)"
VP_FILE = REALDATA / "specs" / "pangeo-pytorch-notebook" / "virtual-packages.yml"


def _alias(root: Path) -> str:
    (root / "mirror").mkdir(parents=True, exist_ok=True)
    link = root / "mirror" / "conda-forge"
    if not link.exists():
        link.symlink_to(REALDATA / "channels" / "pangeo-cuda", target_is_directory=True)
    return (root / "mirror").as_uri()


def raw_rattler(cache: Path, alias: str) -> float:
    """Gateway + solve in this process (benchmarks/raw_rattler_pangeo.py)."""
    from raw_rattler_pangeo import solve

    started = time.perf_counter()
    records = solve(cache, alias, SPECS)
    assert len(records) > 800, len(records)
    return time.perf_counter() - started


def _process(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + sys of the process and its threads) of one command."""
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise subprocess.CalledProcessError(status, command)
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime


def raw_rattler_process(cache: Path, alias: str) -> tuple[float, float]:
    """The engine as a whole process (interpreter start, imports, exit): benchmarks/raw_rattler_pangeo.py,
    which imports only what the solve needs, not this script's own modules (statistics, tempfile,
    argparse, platform: ~13 ms, which counted as the engine's before)."""
    script = Path(__file__).with_name("raw_rattler_pangeo.py")
    return _process([sys.executable, str(script), str(cache), alias, *map(str, SPECS)])


def cenv_pipeline(cache: Path, alias: str, out: Path) -> float:
    from cenv.pipeline import lock
    from cenv.settings import LockSettings

    started = time.perf_counter()
    lock(
        LockSettings(
            spec_paths=tuple(SPECS),
            lockfile=out,
            platforms=("linux-64",),
            glibc="2.34",
            virtual_packages_file=VP_FILE,
            channel_alias=alias,
            cache_dir=cache,
        )
    )
    return time.perf_counter() - started


def cenv_cli(cache: Path, alias: str, out: Path, src: Path | None = None) -> tuple[float, float]:
    """`cenv lock` as a process (a re-lock once `out` exists); `src`: run that checkout's cenv instead."""
    env = {**os.environ, "CENV_CACHE_DIR": str(cache.parent)}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return _process(
        [
            sys.executable,
            "-m",
            "cenv",
            "lock",
            *map(str, SPECS),
            "--virtual-packages",
            str(VP_FILE),
            "--glibc",
            "2.34",
            "--channel-alias",
            alias,
            "-p",
            "linux-64",
            "-o",
            str(out),
            "-q",
        ],
        env,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--results", type=Path, help="also write the table into this markdown file")
    parser.add_argument("--baseline", type=Path, help="another checkout's src: its `cenv lock` too")
    args = parser.parse_args()
    precompile_cenv()
    if args.baseline:
        compileall.compile_dir(args.baseline, quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        alias = _alias(root)
        cache = root / "repodata"
        out = root / "pangeo-lock.yml"
        # Warm the repodata cache once so every figure is a warm lock.
        raw_rattler(cache, alias)
        rows: dict[str, list[float]] = {
            "raw rattler (gateway + solve)": [],
            "cenv pipeline (in-process)": [],
        }
        processes: dict[str, list[tuple[float, float]]] = {
            "raw rattler (process)": [],
            "cenv lock (CLI process)": [],
        }
        if args.baseline:
            processes["cenv lock, --baseline (process)"] = []
            cenv_cli(cache, alias, root / "baseline-lock.yml", args.baseline)  # its re-locks follow
        for _ in range(args.runs):
            rows["raw rattler (gateway + solve)"].append(raw_rattler(cache, alias))
            processes["raw rattler (process)"].append(raw_rattler_process(cache, alias))
            rows["cenv pipeline (in-process)"].append(cenv_pipeline(cache, alias, out))
            processes["cenv lock (CLI process)"].append(cenv_cli(cache, alias, out))
            if args.baseline:
                processes["cenv lock, --baseline (process)"].append(
                    cenv_cli(cache, alias, root / "baseline-lock.yml", args.baseline)
                )
    base = statistics.median(rows["raw rattler (gateway + solve)"])
    load = os.getloadavg()[0]
    lines = [
        f"pangeo pytorch notebook, linux-64, warm repodata cache, {args.runs} runs, median seconds",
        f"machine: {platform.machine()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {date.today()}, 1-min load {load:.1f} at the end",
        f"{'what':34} {'median s':>9} {'min s':>8} {'ratio':>6} {'CPU s':>7}",
    ]
    for name, times in rows.items():
        median = statistics.median(times)
        lines.append(f"{name:34} {median:9.3f} {min(times):8.3f} {median / base:6.2f}")
    for name, pairs in processes.items():
        walls, cpus = [w for w, _ in pairs], [c for _, c in pairs]
        median = statistics.median(walls)
        lines.append(
            f"{name:34} {median:9.3f} {min(walls):8.3f} {median / base:6.2f} {statistics.median(cpus):7.3f}"
        )
    engine = processes["raw rattler (process)"]
    for name in [n for n in processes if n.startswith("cenv")]:
        wall = statistics.median(w for w, _ in processes[name]) / statistics.median(w for w, _ in engine)
        cpu = statistics.median(c for _, c in processes[name]) / statistics.median(c for _, c in engine)
        lines.append(f"{name} / raw rattler process: {wall:.2f} (wall), {cpu:.2f} (CPU)")
    print("\n".join(lines))
    if args.results:
        command = "`.venv/bin/python benchmarks/bench_lock.py " + " ".join(sys.argv[1:]) + "`"
        body = f"{command} (888 packages, real conda-forge repodata):\n\n```\n" + "\n".join(lines) + "\n```"
        replace_section(args.results, HEADING, body)


if __name__ == "__main__":
    main()
