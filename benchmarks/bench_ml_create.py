"""`cenv create` of an ML-shaped environment next to `rattler.install` of the same records, cold and warm.

    .venv/bin/python benchmarks/bench_ml_create.py [--data /tmp/cenv-ml-bench] [--runs 3] [--phases]

The channel comes from benchmarks/generate_ml_env.py (146 real archives, ~330 MB, ~20k files, 15,000 noarch
python modules; generated once under --data and reused), served from a local `file://` channel and locked
once with `cenv lock` (the lock is kept beside the channel). Each run, interleaved (the order of cenv and the
engine alternates between runs, so a load change hits both):

- cold: an empty package cache (CONDA_PKGS_DIRS and CENV_CACHE_DIR fresh) into a new prefix;
- warm: a second prefix from the cold run's cache;
- engine: benchmarks/raw_rattler_install.py (the lock's records from `rattler.LockFile` into
  `rattler.install`, its own fresh cache; it compiles no bytecode and checks no sha256 for file://
  channels) as a process.

Every figure is a whole process (wall seconds, user and system CPU seconds and peak RSS from wait4, which
covers the process and the children it waited for); the 1-minute load average (`os.getloadavg`, what
`uptime` prints) is recorded before each. `--phases` adds one cold and one warm in-process create with
cenv's install steps timed (a benchmark-only wrapper around the step functions; cenv has no such switch).
Prints a Markdown section.

Fair conditions: cenv's bytecode (and --baseline's) is compiled before anything is measured (an installed
cenv has its .pyc files; a checkout run with PYTHONDONTWRITEBYTECODE=1 would compile every module in every
process). Caches and prefixes go under `--work`, by default on tmpfs (/dev/shm) where there is one: on ext4,
creating tens of thousands of files shortly after deleting as many costs seconds of kernel time, so each
invocation works in a fresh sub-folder and nothing is deleted until every run is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import contextlib
import functools
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HERE = REPO / "benchmarks"
for _p in (str(REPO), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from common import precompile_cenv  # noqa: E402
from generate_ml_env import Generated, generate  # noqa: E402

CENV = [sys.executable, "-m", "cenv"]
RAW = [sys.executable, str(HERE / "raw_rattler_install.py")]

# The install steps timed by --phases: (module, function); a name missing from the code is skipped.
PHASES = (
    ("cenv.install.planner", "plan_install"),
    ("cenv.install.downloads", "fetch_all"),
    ("cenv.install.link", "extract_fetched"),
    ("cenv.install.link", "package_records"),
    ("cenv.install.link", "link_records"),
    ("cenv.install.link", "check_linked"),
    ("cenv.install.finish", "Finisher.after_link"),
    ("cenv.install.finish", "Finisher.complete"),
    ("cenv.install.fetch", "fetch_archive"),
    ("cenv.install.extract", "extract_all"),
    ("cenv.install.planner", "_cache_state"),
    ("cenv.install.link", "changed_entries"),
    ("cenv.install.link", "entry_bindings"),
    ("cenv.install.finish", "Finisher._run_link_scripts"),
    ("cenv.install.finish", "Finisher._start_noarch"),
    ("cenv.install.pyc_cache", "probe"),
    ("cenv.install.pyc_cache", "link_files"),
    ("cenv.install.pyc_cache", "link_checked"),
    ("cenv.install.pyc_cache", "cached_manifest"),
    ("cenv.install.noarch_bytecode", "EarlyBytecode.begin"),
    ("cenv.install.finish", "Finisher.prelink_bytecode"),
    ("cenv.install.meta", "read_records"),
    ("cenv.install.pyc_cache", "store"),
    ("cenv.install.meta", "write_records"),
    ("cenv.install.meta", "write_history"),
    ("cenv.install.prefix", "staged_prefix"),
    ("cenv.install.archive_guard", "check_extracted"),
    ("cenv.install.meta", "complete_records"),
    ("cenv.install.prefix", "check_target"),
)


@dataclass
class Run:
    seconds: float
    rss_mb: float
    load: float  # 1-minute load average before the run
    cpu: float = 0.0  # user + system CPU seconds (the process and the children it waited for)


@dataclass
class Series:
    runs: list[Run] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    def span(self) -> str:
        values = [r.seconds for r in self.runs]
        return f"{min(values):.2f}-{max(values):.2f}"

    def loads(self) -> str:
        values = [r.load for r in self.runs]
        return f"{min(values):.1f}-{max(values):.1f}"

    def rss(self) -> float:
        return max(r.rss_mb for r in self.runs)

    def cpu(self) -> str:
        values = [r.cpu for r in self.runs]
        return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def run_measured(cmd: list[str], env: dict[str, str]) -> Run:
    """Wall time and peak RSS (wait4) of one process."""
    load = os.getloadavg()[0]
    started = time.perf_counter()
    pid = os.posix_spawn(
        cmd[0],
        cmd,
        env,
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (
                os.POSIX_SPAWN_OPEN,
                1,
                "/tmp/cenv-ml-bench-last.out",
                os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                0o644,
            ),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
    )
    _, status, rusage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        output = Path("/tmp/cenv-ml-bench-last.out").read_text(errors="replace")
        raise RuntimeError(f"{' '.join(cmd)} failed ({code}):\n{output[-4000:]}")
    cpu = rusage.ru_utime + rusage.ru_stime
    return Run(seconds=seconds, rss_mb=rusage.ru_maxrss / 1024, load=load, cpu=cpu)


def compile_bound(prefix: Path, scratch: Path) -> Run:
    """What the bytecode alone costs: the environment's python compiling the noarch packages' modules
    (`compileall -j 0`, as conda runs it) into a scratch `pycache_prefix`, nothing else."""
    site = next((prefix / "lib").glob("python*/site-packages"))
    folders = sorted(str(p) for p in site.glob("mlbpy*") if p.is_dir())
    cmd = [str(prefix / "bin" / "python"), "-X", f"pycache_prefix={scratch}", "-m", "compileall"]
    return run_measured([*cmd, "-q", "-j", "0", *folders], dict(os.environ))


def lock_for(data: Generated, env: dict[str, str]) -> Path:
    lock = data.root / "spec-lock.yml"
    if not lock.exists():
        subprocess.run([*CENV, "lock", str(data.spec), "-o", str(lock)], env=env, check=True)
    return lock


def default_work(name: str) -> Path:
    """A work folder on tmpfs where there is one (see the module doc), else under /tmp."""
    shm = Path("/dev/shm")
    return (shm if shm.is_dir() and os.access(shm, os.W_OK) else Path("/tmp")) / name


def prepare(data_dir: Path, scale: float, work_dir: Path) -> tuple[Generated, Path, dict[str, str], Path]:
    """The generated environment, a fresh empty work folder under `work_dir` (nothing deleted: see the
    module doc), the base environment of every measured process and the lock of the generated spec (made
    once, not timed). cenv's bytecode is compiled first."""
    precompile_cenv()
    data = generate(data_dir.resolve(), scale)
    work = work_dir.resolve() / f"run-{os.getpid()}-{time.strftime('%H%M%S')}"
    work.mkdir(parents=True)
    base = dict(
        os.environ, NO_COLOR="1", CONDA_REGISTER_ENVS="false", CENV_CACHE_DIR=str(work / "lock-cache")
    )
    return data, work, base, lock_for(data, base)


def counts(prefix: Path) -> tuple[int, int]:
    """(.pyc files, regular files) in an environment."""
    pyc = files = 0
    for _, _, names in os.walk(prefix):
        files += len(names)
        pyc += sum(1 for n in names if n.endswith(".pyc"))
    return pyc, files


@contextlib.contextmanager
def timed_phases(totals: dict[str, float]) -> Iterator[None]:
    """Wrap the PHASES functions with timers (seconds summed per name, concurrent calls overlap)."""
    undo: list[tuple[Any, str, Any]] = []
    for module_name, qualname in PHASES:
        try:
            owner: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        *path, name = qualname.split(".")
        for part in path:
            owner = getattr(owner, part, None)
        original = getattr(owner, name, None) if owner is not None else None
        if original is None:
            continue
        label = f"{module_name.rsplit('.', 1)[1]}.{qualname}"
        wrapper: Callable[..., Any]
        if asyncio.iscoroutinefunction(original):

            async def wrapper(*a: Any, _f: Any = original, _l: str = label, **k: Any) -> Any:
                t = time.perf_counter()
                try:
                    return await _f(*a, **k)
                finally:
                    totals[_l] = totals.get(_l, 0.0) + time.perf_counter() - t

        else:

            def wrapper(*a: Any, _f: Any = original, _l: str = label, **k: Any) -> Any:
                t = time.perf_counter()
                try:
                    return _f(*a, **k)
                finally:
                    totals[_l] = totals.get(_l, 0.0) + time.perf_counter() - t

        functools.update_wrapper(wrapper, original)
        setattr(owner, name, wrapper)
        undo.append((owner, name, original))
        # modules that imported the function by name
        for module in list(sys.modules.values()):
            named = getattr(module, "__name__", "") if module is not None else ""
            if named.startswith("cenv.") and not path and getattr(module, name, None) is original:
                setattr(module, name, wrapper)
                undo.append((module, name, original))
    try:
        yield
    finally:
        for owner, name, original in reversed(undo):
            setattr(owner, name, original)


def phases(lock: Path, work: Path) -> dict[str, dict[str, float]]:
    import cenv.install.conda  # noqa: F401  (imported before the wrappers go in: its names get wrapped too)
    from cenv.create import create
    from cenv.settings import CreateSettings

    pkgs = work / "phases-pkgs"
    result: dict[str, dict[str, float]] = {}
    for label, prefix in (("cold", work / "phases-cold"), ("warm", work / "phases-warm")):
        totals: dict[str, float] = {}
        with timed_phases(totals):
            started = time.perf_counter()
            create(CreateSettings(source=lock, prefix=prefix, pkgs_dir=pkgs))
            totals["total"] = time.perf_counter() - started
        result[label] = totals
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/cenv-ml-bench"))
    parser.add_argument(
        "--work",
        type=Path,
        default=default_work("cenv-ml-bench-work"),
        help="caches and prefixes go here (default: on tmpfs where there is one; see the module doc)",
    )
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--warm-repeat",
        type=int,
        default=1,
        help="warm creates per run (each a new prefix from the run's cache; the engine likewise)",
    )
    parser.add_argument("--phases", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another cenv's src/ (`git archive REV src | tar -x -C /tmp/base`), measured in the same runs",
    )
    args = parser.parse_args()

    data, work, base, lock = prepare(args.data, args.scale, args.work)
    if args.baseline:
        compileall.compile_dir(args.baseline.resolve(), quiet=1)

    kinds = ["cenv cold", "engine cold", "cenv warm", "engine warm"]
    if args.baseline:
        kinds += ["baseline cold", "baseline warm"]
    series = {k: Series() for k in kinds}
    pyc_counts: dict[str, tuple[int, int]] = {}
    for i in range(args.runs):
        cache = work / f"pkgs-{i}"
        raw_cache = work / f"raw-pkgs-{i}"
        env = dict(base, CONDA_PKGS_DIRS=str(cache), CENV_CACHE_DIR=str(work / f"cenv-cache-{i}"))
        steps = [
            ("cenv cold", [*CENV, "create", str(lock), "-p", str(work / f"c{i}"), "-q"], env),
            ("engine cold", [*RAW, str(lock), str(work / f"rc{i}"), "--cache", str(raw_cache)], base),
        ]
        for k in range(args.warm_repeat):
            suffix = f"{i}" if k == 0 else f"{i}-{k}"
            engine = [*RAW, str(lock), str(work / f"rw{suffix}"), "--cache", str(raw_cache)]
            pair = [
                ("cenv warm", [*CENV, "create", str(lock), "-p", str(work / f"w{suffix}"), "-q"], env),
                ("engine warm", engine, base),
            ]
            steps += pair if (i + k) % 2 == 0 else pair[::-1]
        if i % 2:  # the engine first on odd runs
            steps[0:2] = steps[1::-1]
        if args.baseline:
            old = dict(
                env,
                PYTHONPATH=str(args.baseline.resolve()),
                CONDA_PKGS_DIRS=str(work / f"base-pkgs-{i}"),
                CENV_CACHE_DIR=str(work / f"base-cache-{i}"),
            )
            steps += [
                ("baseline cold", [*CENV, "create", str(lock), "-p", str(work / f"bc{i}"), "-q"], old),
                ("baseline warm", [*CENV, "create", str(lock), "-p", str(work / f"bw{i}"), "-q"], old),
            ]
        for name, cmd, step_env in steps:
            series[name].runs.append(run_measured(cmd, step_env))
            print(f"run {i} {name}: {series[name].runs[-1]}", file=sys.stderr, flush=True)
        if i == 0:
            pyc_counts = {"cenv": counts(work / "w0"), "engine": counts(work / "rw0")}
            compile_only = compile_bound(work / "w0", work / "pycache-prefix")

    phase_times = phases(lock, work) if args.phases else {}

    print(f"- data: {data.describe()} (benchmarks/generate_ml_env.py, scale {args.scale})")
    print(
        f"- {args.runs} interleaved runs; seconds as median and range; "
        "load = 1-minute load average before each"
    )
    print(
        f"- warm environment holds {pyc_counts['cenv'][0]} .pyc of {pyc_counts['cenv'][1]} files (cenv), "
        f"{pyc_counts['engine'][0]} of {pyc_counts['engine'][1]} (engine)\n"
    )
    print(
        f"- the bytecode alone (the environment's python, `compileall -j 0` of the {data.noarch_modules} "
        f"noarch modules, nothing else): {compile_only.seconds:.2f} s at load {compile_only.load:.1f}\n"
    )
    print(
        "| what | cenv s (range) | engine s (range) | ratio (median) | cenv CPU s | engine CPU s "
        "| cenv peak RSS MB | engine RSS MB | load |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for kind in ("cold", "warm"):
        c, e = series[f"cenv {kind}"], series[f"engine {kind}"]
        print(
            f"| create {kind} | {c.median():.2f} ({c.span()}) | {e.median():.2f} ({e.span()}) | "
            f"{c.median() / e.median():.2f}x | {c.cpu()} | {e.cpu()} | {c.rss():.0f} | {e.rss():.0f} "
            f"| {c.loads()} |"
        )
        if args.baseline:
            b = series[f"baseline {kind}"]
            print(
                f"| create {kind}, before (--baseline) | {b.median():.2f} ({b.span()}) | {e.median():.2f} "
                f"({e.span()}) | {b.median() / e.median():.2f}x | {b.cpu()} | {e.cpu()} | {b.rss():.0f} "
                f"| {e.rss():.0f} | {b.loads()} |"
            )
    if phase_times:
        print("\n| in-process step (summed, concurrent calls overlap) | cold s | warm s |")
        print("| --- | ---: | ---: |")
        names = sorted(set(phase_times["cold"]) | set(phase_times["warm"]), key=lambda n: n != "total")
        for name in names:
            cold = phase_times["cold"].get(name)
            warm = phase_times["warm"].get(name)
            print(f"| {name} | {cold or 0:.3f} | {warm or 0:.3f} |")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "series": {k: [r.__dict__ for r in v.runs] for k, v in series.items()},
                    "phases": phase_times,
                    "pyc": pyc_counts,
                    "compile_only": compile_only.__dict__,
                },
                indent=2,
            )
        )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
