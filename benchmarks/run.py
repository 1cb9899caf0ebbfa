"""cenv at conda-forge scale (issue #6): one command, every figure next to raw py-rattler, into RESULTS.md.

    .venv/bin/python benchmarks/run.py                  # full: 300k linux-64 records (+ noarch, osx, win)
    .venv/bin/python benchmarks/run.py --records 20000  # smoke (~30 s)

What it does, in one run:

1. generates (or reuses, under --workdir) a conda-forge-shaped channel with benchmarks/generate_channel.py and
   serves it on 127.0.0.1 with tests/support/http_server.py (ETag, Cache-Control, sharded repodata offered);
2. locks the ML spec (generate_channel.ML_SPEC: python 3.11, pytorch, numpy, scipy, pandas and ~30 more,
   plus a pip part, pip_index.ML_PIP: wandb, lightning, hydra-core, timm, accelerate, datasets, ... from a
   local PEP 503 index of generated wheels served on 127.0.0.1, 38 PyPI packages per platform) for
   linux-64, osx-arm64 and win-64, once per CUDA variant (cpu: ``--cuda none``, cu12: ``--cuda 12.4``):
   cold (empty caches, uv's included) and warm (caches of the cold run), as a `cenv lock` process and as a
   raw py-rattler + uv process (benchmarks/raw_rattler_lock.py: one Gateway, the same platforms solved
   concurrently, each followed by one `uv pip compile --format pylock.toml`, then rattler's own lockfile
   written with `LockFile.to_path`), with the peak
   RSS of each process (/usr/bin/time -v, else RUSAGE_CHILDREN);
3. the same warm lock in-process (cenv.pipeline.lock vs rattler.solve) to separate start-up from the rest;
4. checks from the server's request log that repodata came as shards (index + shards, no repodata.json);
5. the same cold/warm lock with the shard index hidden (404), i.e. the full repodata.json.zst path;
6. `cenv --help` start-up next to `python -c pass`; `cenv lock --check` when the CLI has it; `cenv create`
   (measure_create): the cu12 linux-64 lock's records as real archives in an "archive mirror"
   (create_mirror.py, filler packages up to --create-packages=300), re-locked against the mirror, then
   created with a cold and a warm package cache next to `rattler.install` of the same records
   (raw_rattler_install.py), as processes and in-process, plus the hard-link share of the warm env;
7. where the time goes: the warm in-process cenv lock phase by phase (load_spec, solve, build_lockfile,
   dump_lockfile, write) and the biggest imports of a `cenv lock` process (`python -X importtime`);
8. optionally (--profile) a cProfile of the warm in-process cenv lock, cenv frames only.

cenv's bytecode is compiled first (an installed cenv has .pyc files; see common.precompile_cenv).
RESULTS.md sections that run.py does not generate (hand-written analysis, bench_lock.py's section) are kept.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import platform
import pstats
import resource
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parents[1]
HERE = REPO / "benchmarks"
for _p in (str(REPO), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from common import precompile_cenv, sections  # noqa: E402
from create_mirror import Mirror, build_mirror  # noqa: E402
from generate_channel import CHANNEL, ML_SPEC, PLATFORMS, generate, ml_spec_yaml  # noqa: E402
from pip_index import (  # noqa: E402
    ML_PIP,
    build_pip_index,
    conda_versions,
    pypi_server,
    wheel_count,
    write_mapping,
)
from raw_rattler_lock import Pip  # noqa: E402

if TYPE_CHECKING:
    from cenv.settings import LockSettings
from tests.support.http_server import ChannelServer  # noqa: E402

VARIANTS = {"cpu": "none", "cu12": "12.4"}
TIME = Path("/usr/bin/time")
# The RESULTS.md sections run.py writes; every other `## ` section of the file is kept as it is.
GENERATED = (
    "## Targets",
    "## Warm in-process lock, phase by phase (cu12)",
    "## Biggest imports of a warm `cenv lock` process (cu12)",
    "## cProfile of a warm in-process cenv lock (cu12)",
)
TARGETS = {
    "overhead": 1.15,  # cenv / raw, warm lock
    "warm_total_s": 3.0,  # 3 platforms x 2 variants, warm
    "help_s": 0.25,
    "check_s": 0.3,  # `cenv lock --check`, warm
    "rss_mb": 1536.0,  # full-scale lock
    "create_warm_s": 2.0,  # second environment, same ~300 packages, warm package cache
    "create_cold_overhead": 1.5,  # cenv / raw, cold create (every archive fetched, extracted, checked)
    "http_cold_lock": 1.0,  # cenv / rattler Gateway() defaults, cold lock over HTTP, same work (issue #14)
}

# A `cenv` process whose create skips the bytecode step (issue #16's compileall run), for comparison with
# raw `rattler.install`, which compiles nothing: benchmark-only, cenv has no such switch.
NO_BYTECODE = (
    "import cenv.install.finish as f; f.Finisher._start_compile = lambda *a, **k: None; "
    "f.Finisher._start_noarch = lambda *a, **k: None; "
    "from cenv.cli import main; main()"
)


# ------------------------------------------------------------------------------------------------ measuring
@dataclass
class Run:
    seconds: float
    rss_mb: float | None = None
    requests: dict[str, int] = field(default_factory=dict)
    output: str = ""


@dataclass
class Sample:
    runs: list[Run]

    @property
    def seconds(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def rss_mb(self) -> float | None:
        values = [r.rss_mb for r in self.runs if r.rss_mb is not None]
        return max(values) if values else None


def run_process(cmd: list[str], env: dict[str, str] | None = None) -> Run:
    """Wall time and peak RSS of one process; raises with its output if it fails."""
    full_env = {**os.environ, **(env or {})}
    with tempfile.NamedTemporaryFile("r", suffix=".time") as stats:
        wrapped = [str(TIME), "-v", "-o", stats.name, *cmd] if TIME.exists() else cmd
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        proc = subprocess.run(wrapped, env=full_env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        rss = None
        if TIME.exists():
            for line in Path(stats.name).read_text().splitlines():
                if "Maximum resident set size" in line:
                    rss = int(line.rsplit(":", 1)[1]) / 1024
        else:
            after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            rss = after / 1024 if after > before else None  # only a new maximum is attributable
    return Run(seconds=seconds, rss_mb=rss, output=proc.stdout)


def classify(server: ChannelServer) -> dict[str, int]:
    """What the gateway asked the server for since the last reset."""
    counts = {"index": 0, "shards": 0, "full": 0, "not_modified": 0, "other": 0}
    for record in server.log:
        if record.status == 304:
            counts["not_modified"] += 1
        if "/shards/" in record.path:
            counts["shards"] += 1
        elif record.path.endswith("repodata_shards.msgpack.zst"):
            counts["index"] += 1
        elif "/repodata.json" in record.path:
            counts["full"] += record.method == "GET" and record.status == 200
        else:
            counts["other"] += 1
    return counts


@contextmanager
def uv_cache(path: Path) -> Iterator[None]:
    """UV_CACHE_DIR for in-process cenv runs (cenv's uv processes inherit it)."""
    saved = os.environ.get("UV_CACHE_DIR")
    os.environ["UV_CACHE_DIR"] = str(path)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("UV_CACHE_DIR", None)
        else:
            os.environ["UV_CACHE_DIR"] = saved


class Bench:
    def __init__(
        self, args: argparse.Namespace, server: ChannelServer, work: Path, index_url: str, mapping: Path
    ) -> None:
        self.args = args
        self.server = server
        self.work = work
        self.index_url = index_url
        self.mapping = mapping
        self.spec = work / "ml-spec.yml"
        self.spec.write_text(ml_spec_yaml(pip=ML_PIP, index_url=index_url))
        self.spec_lines = work / "ml-spec.txt"
        self.spec_lines.write_text("\n".join(ML_SPEC) + "\n")
        self.pip_lines = work / "ml-pip.txt"
        self.pip_lines.write_text("\n".join(ML_PIP) + "\n")
        cenv_script = Path(sys.executable).parent / "cenv"
        self.cenv = [str(cenv_script)] if cenv_script.exists() else [sys.executable, "-m", "cenv"]
        self.counter = 0

    def fresh(self, name: str) -> Path:
        self.counter += 1
        path = self.work / "caches" / f"{self.counter:03d}-{name}"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    # -- the two sides, as processes
    def cenv_lock(self, cache_root: Path, cuda: str, out: Path, extra: tuple[str, ...] = ()) -> Run:
        platforms = [a for p in PLATFORMS for a in ("-p", p)]
        cmd = [*self.cenv, "lock", str(self.spec), *platforms, "--cuda", cuda]
        cmd += ["--channel-alias", self.server.url, "-o", str(out), "-q", *extra]
        self.server.reset_counters()
        run = run_process(
            cmd, env={"CENV_CACHE_DIR": str(cache_root), "UV_CACHE_DIR": str(cache_root / "uv")}
        )
        run.requests = classify(self.server)
        return run

    def raw_pip(self, uv: Path) -> Pip:
        import json

        return Pip(ML_PIP, self.index_url, json.loads(self.mapping.read_text()), str(uv))

    def raw_lock(self, cache: Path, cuda: str) -> Run:
        platforms = [a for p in PLATFORMS for a in ("-p", p)]
        cmd = [
            sys.executable,
            str(HERE / "raw_rattler_lock.py"),
            "--channel",
            self.server.channel_url(CHANNEL),
        ]
        cmd += ["--cache", str(cache), "--specs", str(self.spec_lines), *platforms, "--cuda", cuda]
        cmd += [
            "--pip",
            str(self.pip_lines),
            "--index-url",
            self.index_url,
            "--pypi-mapping",
            str(self.mapping),
        ]
        cmd += ["--uv-cache", str(cache.parent / "uv"), "-o", str(self.work / "raw-lock.yml")]
        self.server.reset_counters()
        run = run_process(cmd)
        run.requests = classify(self.server)
        return run

    def http_cold_lock(self, cuda: str, runs: int) -> dict[str, Sample]:
        """Cold lock over HTTP, the conda part only (issue #14): `cenv lock` with its default concurrency
        next to raw_rattler_lock.py (`Gateway()` with rattler's defaults, and with cenv's concurrency),
        each solving the same 3 platforms and writing its lockfile; fresh caches and a new lockfile path
        every run (nothing previous to read), interleaved run by run."""
        from cenv.config import DEFAULT_CONCURRENCY

        spec = self.work / "ml-conda.yml"
        spec.write_text("dependencies:\n" + "".join(f"  - '{s}'\n" for s in ML_SPEC))
        platforms = [a for p in PLATFORMS for a in ("-p", p)]
        raw = [
            sys.executable,
            str(HERE / "raw_rattler_lock.py"),
            "--channel",
            self.server.channel_url(CHANNEL),
        ]
        raw += ["--specs", str(self.spec_lines), *platforms, "--cuda", cuda]
        sides = {
            "cenv": None,
            "raw": [],
            f"raw {DEFAULT_CONCURRENCY}": ["--concurrency", str(DEFAULT_CONCURRENCY)],
        }
        found: dict[str, list[Run]] = {side: [] for side in sides}
        for _ in range(runs):
            for side, extra in sides.items():
                cache = self.fresh(f"http-{side.replace(' ', '')}")
                self.server.reset_counters()
                if extra is None:
                    cmd = [*self.cenv, "lock", str(spec), *platforms, "--cuda", cuda, "-q"]
                    cmd += ["-c", self.server.channel_url(CHANNEL), "-o", str(cache / "lock.yml")]
                    run = run_process(cmd, env={"CENV_CACHE_DIR": str(cache)})
                else:
                    cmd = [*raw, *extra, "--cache", str(cache / "repodata"), "-o", str(cache / "lock.yml")]
                    run = run_process(cmd)
                run.requests = classify(self.server)
                found[side].append(run)
        return {side: Sample(r) for side, r in found.items()}

    def cold_warm(self, variant: str, label: str) -> dict[str, Sample]:
        """Cold (fresh cache each time) then warm runs, for cenv and raw, interleaved run by run."""
        cuda = VARIANTS[variant]
        out = self.work / f"ml-{variant}{label}-lock.yml"
        cold: dict[str, list[Run]] = {"cenv": [], "raw": []}
        warm: dict[str, list[Run]] = {"cenv": [], "raw": []}
        cenv_cache = raw_cache = self.work
        for _ in range(self.args.cold_runs):
            cenv_cache = self.fresh(f"cenv-{variant}{label}")
            raw_cache = self.fresh(f"raw-{variant}{label}")
            cold["cenv"].append(self.cenv_lock(cenv_cache, cuda, out))
            cold["raw"].append(self.raw_lock(raw_cache / "repodata", cuda))
        for _ in range(self.args.warm_runs):
            warm["cenv"].append(self.cenv_lock(cenv_cache, cuda, out))
            warm["raw"].append(self.raw_lock(raw_cache / "repodata", cuda))
        self.check_lock(out, variant)
        return {
            "cold cenv": Sample(cold["cenv"]),
            "cold raw": Sample(cold["raw"]),
            "warm cenv": Sample(warm["cenv"]),
            "warm raw": Sample(warm["raw"]),
            "cache": Sample([Run(0.0, output=str(cenv_cache))]),
        }

    def check_lock(self, lockfile: Path, variant: str) -> None:
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        data = yaml.load(lockfile.read_text(), Loader=loader)
        torch = {p["platform"]: p["url"].rsplit("/", 1)[1] for p in data["package"] if p["name"] == "pytorch"}
        counts: dict[str, int] = {}
        pip: dict[str, int] = {}
        for p in data["package"]:
            into = pip if p.get("manager") == "pip" else counts
            into[p["platform"]] = into.get(p["platform"], 0) + 1
        self.packages, self.pip_packages = counts, pip
        if sorted(pip) != sorted(PLATFORMS) or min(pip.values()) < len(ML_PIP):
            raise AssertionError(f"{variant}: pip packages per platform {pip}, expected all of {PLATFORMS}")
        for plat in ("linux-64", "win-64"):
            want = "cuda" if variant == "cu12" else "cpu"
            if want not in torch[plat]:
                raise AssertionError(f"{variant}: {plat} locked {torch[plat]}, expected a {want} build")

    def lock_settings(self, name: str, cache_root: Path, cuda: str) -> LockSettings:
        """In-process lock settings equal to the CLI runs: the ML spec, 3 platforms, the served channel."""
        from cenv.settings import LockSettings

        return LockSettings(
            spec_paths=(self.spec,),
            lockfile=self.work / f"{name}-lock.yml",
            platforms=PLATFORMS,
            cuda=None if cuda == "none" else cuda,
            no_cuda=cuda == "none",
            channel_alias=self.server.url,
            cache_dir=cache_root / "repodata",
        )

    # -- in-process: the same warm lock without interpreter start-up and imports
    def in_process(self, cache_root: Path, cuda: str, runs: int) -> tuple[Sample, Sample]:
        import rattler  # noqa: F401  (imported before timing, as in a warm process)
        from raw_rattler_lock import lock as raw

        from cenv.pipeline import lock

        settings = self.lock_settings("in-process", cache_root, cuda)
        raw_cache = str(cache_root / "repodata")
        pip = self.raw_pip(cache_root / "uv")
        cenv_runs, raw_runs = [], []
        for _ in range(runs):
            started = time.perf_counter()
            with uv_cache(cache_root / "uv"):
                lock(settings)
            cenv_runs.append(Run(time.perf_counter() - started))
            started = time.perf_counter()
            asyncio.run(
                raw(
                    self.server.channel_url(CHANNEL),
                    raw_cache,
                    list(ML_SPEC),
                    list(PLATFORMS),
                    cuda,
                    pip,
                    str(self.work / "raw-in-process-lock.yml"),
                )
            )
            raw_runs.append(Run(time.perf_counter() - started))
        return Sample(cenv_runs), Sample(raw_runs)

    def profile(self, cache_root: Path, cuda: str) -> str:
        from cenv.pipeline import lock

        settings = self.lock_settings("profile", cache_root, cuda)
        with uv_cache(cache_root / "uv"):
            lock(settings)
            profiler = cProfile.Profile()
            profiler.enable()
            lock(settings)
            profiler.disable()
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text).sort_stats("cumulative")
        stats.print_stats(r"cenv|rattler|yaml|pydantic|asyncio/runners", 40)
        return text.getvalue()

    def phases(self, cache_root: Path, cuda: str, runs: int) -> dict[str, Sample]:
        """The warm in-process lock phase by phase (the steps of cenv.pipeline.lock), plus raw rattler."""
        from raw_rattler_lock import lock as raw

        from cenv import pipeline
        from cenv.lock.io import dump_lockfile, write_lockfile
        from cenv.spec import load_spec

        settings = self.lock_settings("phases", cache_root, cuda)
        times: dict[str, list[Run]] = {}

        def timed(name: str, started: float) -> float:
            now = time.perf_counter()
            times.setdefault(name, []).append(Run(now - started))
            return now

        for _ in range(runs):
            t = time.perf_counter()
            spec = load_spec(list(settings.spec_paths))
            t = timed("load_spec", t)
            plan = pipeline.plan_for(settings, spec)
            channels = plan.channels()
            t = timed("plan + channels", t)
            with uv_cache(cache_root / "uv"):
                solved = asyncio.run(pipeline._solve_and_pip(spec, plan, channels, None))
            t = timed("solve + pip stage (each platform's uv after its solve, platforms concurrently)", t)
            records = [platform_records for platform_records, _, _ in solved]
            pip = [platform_pip for _, platform_pip, _ in solved]
            with uv_cache(cache_root / "uv"):
                for platform, platform_records in zip(plan.platforms, records, strict=True):
                    pipeline._pip_one(spec, platform, platform_records, plan)
            t = timed("(the pip stage again, alone: the 3 platforms one after another)", t)
            lockfile = pipeline.build_lockfile(spec, plan, channels, records, pip)
            t = timed("build_lockfile", t)
            dump_lockfile(lockfile)
            t = timed("dump_lockfile", t)
            write_lockfile(lockfile, settings.lockfile_path())
            timed("write_lockfile (dump + fsync + rename)", t)
            t = time.perf_counter()
            asyncio.run(
                raw(
                    self.server.channel_url(CHANNEL),
                    str(cache_root / "repodata"),
                    list(ML_SPEC),
                    list(PLATFORMS),
                    cuda,
                    self.raw_pip(cache_root / "uv"),
                    str(self.work / "raw-phases-lock.yml"),
                )
            )
            timed("raw rattler + uv (gateway + solve + pip compile + rattler's lockfile)", t)
        return {name: Sample(r) for name, r in times.items()}

    def importtime(self, cache_root: Path, cuda: str, top: int = 10) -> list[tuple[str, float]]:
        """The biggest top-level imports (cumulative ms) of one warm `cenv lock` process."""
        platforms = [a for p in PLATFORMS for a in ("-p", p)]
        cmd = [sys.executable, "-X", "importtime", "-m", "cenv", "lock", str(self.spec), *platforms]
        cmd += [
            "--cuda",
            cuda,
            "--channel-alias",
            self.server.url,
            "-o",
            str(self.work / "it-lock.yml"),
            "-q",
        ]
        proc = subprocess.run(
            cmd,
            env={**os.environ, "CENV_CACHE_DIR": str(cache_root), "UV_CACHE_DIR": str(cache_root / "uv")},
            capture_output=True,
            text=True,
        )
        found: list[tuple[str, float]] = []
        for line in proc.stderr.splitlines():
            if not line.startswith("import time:") or "|" not in line:
                continue
            _, cumulative, name = line.split("|")
            if cumulative.strip().isdigit() and not name.startswith("  "):  # top level: one leading space
                found.append((name.strip(), int(cumulative) / 1000))
        return sorted(found, key=lambda item: -item[1])[:top]

    # -- start-up
    def startup(self, cmd: list[str], runs: int) -> Sample:
        run_process(cmd)  # page cache
        return Sample([run_process(cmd) for _ in range(runs)])


# ------------------------------------------------------------------------------------------------ hooks
def cli_has(cenv: list[str], args: list[str], needle: str) -> bool:
    proc = subprocess.run([*cenv, *args], capture_output=True, text=True)
    return proc.returncode == 0 and needle in proc.stdout


def measure_lock_check(bench: Bench, variant: str, cache_root: Path) -> tuple[Run, Run] | str:
    """`cenv lock --check` (is the lockfile up to date?) cold (empty cache) and warm, or why it is n/a."""
    if not cli_has(bench.cenv, ["lock", "--help"], "--check"):
        return "n/a (cenv lock has no --check yet)"
    cuda = VARIANTS[variant]
    out = bench.work / f"ml-{variant}-lock.yml"
    cold = bench.cenv_lock(bench.fresh(f"check-{variant}"), cuda, out, extra=("--check",))
    warm = [bench.cenv_lock(cache_root, cuda, out, extra=("--check",)) for _ in range(bench.args.warm_runs)]
    return cold, Run(Sample(warm).seconds)  # median of the warm runs


@dataclass
class Created:
    """`cenv create` from a lock of the archive mirror, next to `rattler.install` of the same records."""

    mirror: Mirror
    packages: int
    samples: dict[str, Sample]  # "{cold,warm} {cenv,raw}[ in-process]"
    requests: dict[str, int]  # archive downloads of the first cold/warm run of each side
    links: dict[str, tuple[int, int]]  # warm env -> (regular files with st_nlink > 1, regular files)


def hard_links(prefix: Path) -> tuple[int, int]:
    """(regular files with more than one link, regular files) under prefix, conda-meta/ and __pycache__/
    excluded (the bytecode a create compiles since issue #16 is written there, never in the cache)."""
    linked = total = 0
    for root, dirs, files in os.walk(prefix):
        if Path(root) == prefix and "conda-meta" in dirs:
            dirs.remove("conda-meta")
        if "__pycache__" in dirs:
            dirs.remove("__pycache__")
        for name in files:
            st = os.lstat(os.path.join(root, name))
            if stat.S_ISREG(st.st_mode):
                total += 1
                linked += st.st_nlink > 1
    return linked, total


@contextmanager
def without_bytecode() -> Iterator[None]:
    """In-process creates without the bytecode step (as NO_BYTECODE does for a process)."""
    from cenv.install.finish import Finisher

    saved = Finisher._start_compile, Finisher._start_noarch
    Finisher._start_compile = lambda *a, **k: None  # type: ignore[method-assign]
    Finisher._start_noarch = lambda *a, **k: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        Finisher._start_compile, Finisher._start_noarch = saved  # type: ignore[method-assign]


def archive_requests(server: ChannelServer) -> int:
    return sum(
        r.method == "GET" and r.path.endswith((".conda", ".tar.bz2")) and r.status == 200 for r in server.log
    )


def measure_create(bench: Bench, variant: str) -> Created | str:
    """`cenv create` cold/warm package cache vs raw `rattler.install`, or why it is n/a.

    The generated channel has repodata only, so the linux-64 records of the variant's lock get real archives
    in an "archive mirror" (create_mirror.py; filler packages up to --create-packages), the mirror is served
    on 127.0.0.1 and re-locked with `cenv lock` (a genuine lock of the mirror's archives), and that lock is
    installed: cold = empty package cache, warm = a second environment from the same cache. Raw rattler gets
    its own cache and the same records (rattler.LockFile). `__cuda` of the cu12 lock: CONDA_OVERRIDE_CUDA.
    """
    if not cli_has(bench.cenv, ["create", "--help"], "Usage"):
        return "n/a (cenv create not available)"
    from raw_rattler_install import install as raw_install
    from raw_rattler_install import records as raw_records

    from cenv.create import create
    from cenv.settings import CreateSettings

    args = bench.args
    cuda = VARIANTS[variant]
    base = bench.work / "create"
    shutil.rmtree(base, ignore_errors=True)
    mirror = build_mirror(
        bench.work / f"ml-{variant}-lock.yml", base / "mirror", "linux-64", packages=args.create_packages
    )
    spec = base / "ml-mirror.yml"
    spec.write_text(ml_spec_yaml(("linux-64",)) + "".join(f"  - {name}\n" for name in mirror.fillers))
    lock = base / "ml-mirror-lock.yml"
    env = {"CONDA_OVERRIDE_CUDA": cuda} if cuda != "none" else {}
    env["CONDA_REGISTER_ENVS"] = "false"  # the benchmark's environments stay out of ~/.conda/environments.txt
    envs = base / "envs"
    samples: dict[str, list[Run]] = {}
    requests: dict[str, int] = {}
    with ChannelServer(mirror.root) as server:
        cmd = [*bench.cenv, "lock", str(spec), "-p", "linux-64", "--cuda", cuda]
        cmd += ["--channel-alias", server.url, "-o", str(lock), "-q"]
        run_process(cmd, env={"CENV_CACHE_DIR": str(bench.fresh("mirror-lock"))})

        def timed(key: str, cmd: list[str], run_env: dict[str, str]) -> None:
            server.reset_counters()
            run = run_process(cmd, env={**env, **run_env})
            requests.setdefault(key, archive_requests(server))
            samples.setdefault(key, []).append(run)

        def in_process(key: str, fn: object) -> None:
            server.reset_counters()
            started = time.perf_counter()
            fn()  # type: ignore[operator]
            samples.setdefault(key, []).append(Run(time.perf_counter() - started))
            requests.setdefault(key, archive_requests(server))

        n = len(raw_records(lock, "linux-64"))
        no_bytecode = [sys.executable, "-c", NO_BYTECODE]
        cenv_pkgs = raw_pkgs = base
        for i in range(args.cold_runs):
            cenv_pkgs, raw_pkgs = bench.fresh("create-cenv-pkgs"), bench.fresh("create-raw-pkgs")
            cache = {"CONDA_PKGS_DIRS": str(cenv_pkgs), "CENV_CACHE_DIR": str(bench.fresh("create-cenv"))}
            timed(
                "cold cenv",
                [*bench.cenv, "create", str(lock), "-p", str(envs / f"cenv-cold-{i}"), "-q"],
                cache,
            )
            raw = [sys.executable, str(HERE / "raw_rattler_install.py"), str(lock)]
            timed("cold raw", [*raw, str(envs / f"raw-cold-{i}"), "--cache", str(raw_pkgs)], {})
            nobc_pkgs = bench.fresh("create-nobc-pkgs")
            nobc = {"CONDA_PKGS_DIRS": str(nobc_pkgs), "CENV_CACHE_DIR": str(bench.fresh("create-nobc"))}
            timed(
                "cold cenv no-bytecode",
                [*no_bytecode, "create", str(lock), "-p", str(envs / f"nobc-cold-{i}"), "-q"],
                nobc,
            )
        for i in range(args.warm_runs):
            timed(
                "warm cenv",
                [*bench.cenv, "create", str(lock), "-p", str(envs / f"cenv-warm-{i}"), "-q"],
                cache,
            )
            timed("warm raw", [*raw, str(envs / f"raw-warm-{i}"), "--cache", str(raw_pkgs)], {})
            timed(
                "warm cenv no-bytecode",
                [*no_bytecode, "create", str(lock), "-p", str(envs / f"nobc-warm-{i}"), "-q"],
                nobc,
            )
        links = {
            "cenv": hard_links(envs / f"cenv-warm-{args.warm_runs - 1}"),
            "raw": hard_links(envs / f"raw-warm-{args.warm_runs - 1}"),
        }
        # in-process: no interpreter start-up, no imports
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            ip_cenv, ip_raw = bench.fresh("create-ip-cenv-pkgs"), bench.fresh("create-ip-raw-pkgs")
            ip_nobc = bench.fresh("create-ip-nobc-pkgs")
            for i in range(args.warm_runs + 1):
                phase = "cold" if i == 0 else "warm"
                prefix = envs / f"ip-cenv-{i}"
                in_process(
                    f"{phase} cenv in-process",
                    lambda prefix=prefix: create(
                        CreateSettings(source=lock, prefix=prefix, pkgs_dir=ip_cenv)
                    ),
                )
                prefix = envs / f"ip-raw-{i}"
                in_process(f"{phase} raw in-process", lambda prefix=prefix: raw_install(lock, prefix, ip_raw))
                prefix = envs / f"ip-nobc-{i}"
                with without_bytecode():
                    in_process(
                        f"{phase} cenv no-bytecode in-process",
                        lambda prefix=prefix: create(
                            CreateSettings(source=lock, prefix=prefix, pkgs_dir=ip_nobc)
                        ),
                    )
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    return Created(mirror, n, {k: Sample(v) for k, v in samples.items()}, requests, links)


# ------------------------------------------------------------------------------------------------ report
def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        mem = f", {pages / 2**30:.0f} GiB RAM"
    except (ValueError, OSError):
        pass
    import rattler

    version = getattr(rattler, "__version__", "?")
    return (
        f"{cpu}, {os.cpu_count()} cores{mem}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; py-rattler {version}"
    )


def fmt_s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def fmt_range(sample: Sample) -> str:
    times = [r.seconds for r in sample.runs]
    return f"{min(times):.2f}-{max(times):.2f} s"


def fmt_mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def fmt_req(req: dict[str, int]) -> str:
    return f"{req.get('index', 0)}/{req.get('shards', 0)}/{req.get('full', 0)}/{req.get('not_modified', 0)}"


def lock_row(label: str, cenv: Sample, raw: Sample) -> tuple[str, ...]:
    """A lock row of the table: times, ratio, peak RSS of both sides, the cenv side's requests."""
    return (
        label,
        fmt_s(cenv.seconds),
        fmt_s(raw.seconds),
        ratio(cenv.seconds, raw.seconds),
        fmt_mb(cenv.rss_mb),
        fmt_mb(raw.rss_mb),
        fmt_req(cenv.runs[0].requests),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--records", type=int, default=300_000, help="linux-64 records (noarch/osx/win scale)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "cenv-bench")
    parser.add_argument("--cold-runs", type=int, default=1)
    parser.add_argument("--warm-runs", type=int, default=3)
    parser.add_argument("--help-runs", type=int, default=10)
    parser.add_argument(
        "--skip-full-repodata", action="store_true", help="skip the no-shards (json.zst) runs"
    )
    parser.add_argument(
        "--create-packages",
        type=int,
        default=300,
        help="create figures: packages in the environment (filler packages added to the lock's records)",
    )
    parser.add_argument("--skip-create", action="store_true", help="skip the create figures")
    parser.add_argument(
        "--http-runs",
        type=int,
        default=3,
        help="cold lock over HTTP, conda part, cenv vs rattler's Gateway: runs of each (0: skip)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the warm in-process cenv lock")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument(
        "--no-precompile",
        action="store_true",
        help="do not write cenv's bytecode first (source compile per process)",
    )
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    if not args.no_precompile:
        print(f"compiled {precompile_cenv()} to bytecode", file=sys.stderr)

    args.workdir.mkdir(parents=True, exist_ok=True)
    channel_dir = args.workdir / f"channel-s{args.seed}-r{args.records}"
    started = time.perf_counter()
    print(f"generating/reusing {channel_dir} ...", file=sys.stderr)
    stats = generate(channel_dir, args.records, args.seed, verbose=True)
    gen_s = time.perf_counter() - started
    work = args.workdir / f"run-s{args.seed}-r{args.records}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    # the pip part's index: PyPI-only wheels plus the PyPI counterparts of what conda provides
    started = time.perf_counter()
    provided = conda_versions((channel_dir / CHANNEL).as_uri(), ML_SPEC, PLATFORMS, (None, VARIANTS["cu12"]))
    index = build_pip_index(work / "pypi", provided)
    mapping = write_mapping(work / "pypi-mapping.json")
    os.environ["CENV_PYPI_MAPPING"] = str(mapping)  # cenv's conda -> PyPI names, as raw's --pypi-mapping
    pip_s = time.perf_counter() - started

    rows: list[tuple[str, ...]] = []
    notes: list[str] = []
    checks: dict[str, tuple[bool | None, str]] = {}
    with ChannelServer(channel_dir) as server, pypi_server(index.root) as pypi:
        bench = Bench(args, server, work, pypi.url + "/simple", mapping)
        results: dict[str, dict[str, Sample]] = {}
        for variant in VARIANTS:
            print(f"locking {variant} (sharded) ...", file=sys.stderr)
            results[variant] = bench.cold_warm(variant, "")
        packages, pip_counts = bench.packages, bench.pip_packages
        for variant in VARIANTS:
            r = results[variant]
            for phase in ("cold", "warm"):
                c, w = r[f"{phase} cenv"], r[f"{phase} raw"]
                rows.append(lock_row(f"{phase} lock, {variant} (3 platforms)", c, w))
        http: dict[str, Sample] = {}
        if args.http_runs:
            print("cold lock over HTTP, conda part (cenv vs Gateway) ...", file=sys.stderr)
            http = bench.http_cold_lock(VARIANTS["cu12"], args.http_runs)
            for side in (k for k in http if k != "cenv"):
                label = "`Gateway()` defaults" if side == "raw" else f"`Gateway({side.split()[1]})`"
                rows.append(
                    lock_row(
                        f"cold lock over HTTP, conda part only, cu12 (3 platforms): cenv vs {label}",
                        http["cenv"],
                        http[side],
                    )
                )
        warm_total_cenv = sum(results[v]["warm cenv"].seconds for v in VARIANTS)
        warm_total_raw = sum(results[v]["warm raw"].seconds for v in VARIANTS)
        rows.append(
            (
                "**warm lock, 3 platforms x 2 variants (sum)**",
                fmt_s(warm_total_cenv),
                fmt_s(warm_total_raw),
                ratio(warm_total_cenv, warm_total_raw),
                "",
                "",
                "",
            )
        )
        # in-process warm: no interpreter start-up, no imports
        print("in-process warm locks ...", file=sys.stderr)
        in_proc: dict[str, tuple[Sample, Sample]] = {}
        for variant in VARIANTS:
            cache_root = Path(results[variant]["cache"].runs[0].output)
            in_proc[variant] = bench.in_process(cache_root, VARIANTS[variant], args.warm_runs)
            c, w = in_proc[variant]
            rows.append(
                (
                    f"warm lock in-process, {variant}",
                    fmt_s(c.seconds),
                    fmt_s(w.seconds),
                    ratio(c.seconds, w.seconds),
                    "",
                    "",
                    "",
                )
            )
        # lock --check and create hooks
        check_warm: dict[str, float] = {}
        for variant in VARIANTS:
            cache_root = Path(results[variant]["cache"].runs[0].output)
            check = measure_lock_check(bench, variant, cache_root)
            if isinstance(check, str):
                rows.append((f"lock --check cold/warm, {variant}", check, "", "", "", "", ""))
            else:
                cold_run, warm_run = check
                rows.append(
                    (
                        f"lock --check cold, {variant}",
                        fmt_s(cold_run.seconds),
                        "",
                        "",
                        fmt_mb(cold_run.rss_mb),
                        "",
                        fmt_req(cold_run.requests),
                    )
                )
                rows.append((f"lock --check warm, {variant}", fmt_s(warm_run.seconds), "", "", "", "", ""))
                check_warm[variant] = warm_run.seconds
        # create: cold and warm package cache, from a lock of the archive mirror of the cu12 linux-64 lock
        created: Created | str = "n/a (--skip-create)"
        if not args.skip_create:
            print("create (archive mirror of the cu12 linux-64 lock) ...", file=sys.stderr)
            created = measure_create(bench, "cu12")
        if isinstance(created, str):
            rows.append(("create cold/warm, cu12", created, "", "", "", "", ""))
        else:
            n = created.packages
            labels = {
                "cold": f"create cold (empty package cache), cu12 linux-64, {n} packages",
                "warm": f"**create warm (second env, same cache), cu12 linux-64, {n} packages**",
            }
            for phase in ("cold", "warm"):
                c, w = created.samples[f"{phase} cenv"], created.samples[f"{phase} raw"]
                rows.append(
                    (
                        labels[phase],
                        fmt_s(c.seconds),
                        fmt_s(w.seconds),
                        ratio(c.seconds, w.seconds),
                        fmt_mb(c.rss_mb),
                        fmt_mb(w.rss_mb),
                        f"{created.requests[f'{phase} cenv']}/{created.requests[f'{phase} raw']} archives",
                    )
                )
            for phase in ("cold", "warm"):
                c, w = created.samples[f"{phase} cenv no-bytecode"], created.samples[f"{phase} raw"]
                rows.append(
                    (
                        f"create {phase}, cu12 linux-64, cenv without its bytecode step (raw compiles none)",
                        fmt_s(c.seconds),
                        fmt_s(w.seconds),
                        ratio(c.seconds, w.seconds),
                        fmt_mb(c.rss_mb),
                        fmt_mb(w.rss_mb),
                        "",
                    )
                )
            for phase, kind in [(p, k) for p in ("cold", "warm") for k in ("", " no-bytecode")]:
                c = created.samples[f"{phase} cenv{kind} in-process"]
                w = created.samples[f"{phase} raw in-process"]
                rows.append(
                    (
                        f"create {phase} in-process, cu12 linux-64"
                        + (", cenv without its bytecode step" if kind else ""),
                        fmt_s(c.seconds),
                        fmt_s(w.seconds),
                        ratio(c.seconds, w.seconds),
                        "",
                        "",
                        "",
                    )
                )
        # full repodata: the server hides the shard index
        full: dict[str, Sample] = {}
        if not args.skip_full_repodata:
            print("locking cu12 without shards (repodata.json.zst) ...", file=sys.stderr)
            server.fail_paths["*/repodata_shards.msgpack.zst"] = 404
            full = bench.cold_warm("cu12", "-full")
            server.fail_paths.clear()
            for phase in ("cold", "warm"):
                c, w = full[f"{phase} cenv"], full[f"{phase} raw"]
                rows.append(lock_row(f"{phase} lock, cu12, **no shards** (full repodata.json.zst)", c, w))
        print("start-up ...", file=sys.stderr)
        help_sample = bench.startup([*bench.cenv, "--help"], args.help_runs)
        floor = bench.startup([sys.executable, "-c", "pass"], args.help_runs)
        import_rattler = bench.startup([sys.executable, "-c", "import rattler"], args.help_runs)
        rows.append(
            (
                "`cenv --help` (vs `python -c pass`)",
                fmt_s(help_sample.seconds),
                fmt_s(floor.seconds),
                ratio(help_sample.seconds, floor.seconds),
                fmt_mb(help_sample.rss_mb),
                fmt_mb(floor.rss_mb),
                "",
            )
        )
        rows.append(("`python -c 'import rattler'`", fmt_s(import_rattler.seconds), "", "", "", "", ""))
        print("phases and imports ...", file=sys.stderr)
        cu12_cache = Path(results["cu12"]["cache"].runs[0].output)
        phases = bench.phases(cu12_cache, VARIANTS["cu12"], max(args.warm_runs, 5))
        imports = bench.importtime(cu12_cache, VARIANTS["cu12"])
        profile_text = ""
        if args.profile:
            print("profiling ...", file=sys.stderr)
            profile_text = bench.profile(Path(results["cu12"]["cache"].runs[0].output), VARIANTS["cu12"])

    # targets
    warm_ratios = [results[v]["warm cenv"].seconds / results[v]["warm raw"].seconds for v in VARIANTS]
    checks["cenv/raw warm lock (process) <= 1.15x"] = (
        max(warm_ratios) <= TARGETS["overhead"],
        ", ".join(f"{v}: {x:.2f}x" for v, x in zip(VARIANTS, warm_ratios, strict=True)),
    )
    in_ratios = [in_proc[v][0].seconds / in_proc[v][1].seconds for v in VARIANTS]
    checks["cenv/raw warm lock (in-process) <= 1.15x"] = (
        max(in_ratios) <= TARGETS["overhead"],
        ", ".join(f"{v}: {x:.2f}x" for v, x in zip(VARIANTS, in_ratios, strict=True)),
    )
    if http:
        c, r = http["cenv"], http["raw"]
        same = [k for k in http if k not in ("cenv", "raw")]
        spread = ", ".join(
            f"{k}: {min(x.seconds for x in v.runs):.2f}-{max(x.seconds for x in v.runs):.2f} s"
            for k, v in http.items()
        )
        checks["cold lock over HTTP no slower than rattler's Gateway() (same server, same work)"] = (
            c.seconds / r.seconds <= TARGETS["http_cold_lock"],
            f"{c.seconds / r.seconds:.2f}x ({c.seconds:.2f} s vs {r.seconds:.2f} s; at cenv's concurrency "
            + ", ".join(f"{c.seconds / http[k].seconds:.2f}x vs {http[k].seconds:.2f} s" for k in same)
            + f"; ranges {spread}; {len(c.runs)} runs)",
        )
    checks["warm lock 3 platforms x 2 variants < 3 s"] = (
        warm_total_cenv < TARGETS["warm_total_s"],
        f"{warm_total_cenv:.2f} s (raw rattler + uv {warm_total_raw:.2f} s)",
    )
    if check_warm:
        checks["`cenv lock --check` (warm) < 0.3 s"] = (
            max(check_warm.values()) < TARGETS["check_s"],
            ", ".join(f"{v}: {x:.3f} s" for v, x in check_warm.items())
            + " (no engine counterpart: rattler has no freshness check)",
        )
    checks["`cenv --help` < 0.25 s"] = (
        help_sample.seconds < TARGETS["help_s"],
        f"{help_sample.seconds:.3f} s",
    )
    peak = [
        s.rss_mb for r in (*results.values(), full) for k, s in r.items() if k.endswith("cenv") and s.rss_mb
    ]
    peak_sharded = [
        s.rss_mb for r in results.values() for k, s in r.items() if k.endswith("cenv") and s.rss_mb
    ]
    checks["peak RSS of a full-scale lock < 1.5 GB"] = (
        (max(peak) < TARGETS["rss_mb"]) if peak else None,
        f"sharded {max(peak_sharded):.0f} MB"
        + (f", no shards {full['cold cenv'].rss_mb:.0f} MB" if full else "")
        if peak_sharded
        else "n/a",
    )
    sharded = all(
        s.runs[0].requests.get("full", 0) == 0 and s.runs[0].requests.get("shards", 0) > 0
        for r in results.values()
        for k, s in r.items()
        if k.startswith("cold")
    )
    cold_req = results["cu12"]["cold cenv"].runs[0].requests
    checks["repodata fetched sharded where offered"] = (
        sharded,
        f"cold cu12 cenv lock: {cold_req['index']} shard-index + {cold_req['shards']} shard requests, "
        f"{cold_req['full']} repodata.json downloads",
    )
    if isinstance(created, Created):
        warm_c, warm_r = created.samples["warm cenv"].seconds, created.samples["warm raw"].seconds
        cold_c, cold_r = created.samples["cold cenv"].seconds, created.samples["cold raw"].seconds
        ip_c = created.samples["warm cenv in-process"].seconds
        ip_r = created.samples["warm raw in-process"].seconds
        checks[f"second env, same packages (warm cache) < 2 s for ~300 packages ({created.packages})"] = (
            warm_c < TARGETS["create_warm_s"],
            f"{warm_c:.3f} s (raw rattler.install {warm_r:.3f} s)",
        )
        nobc = {p: created.samples[f"{p} cenv no-bytecode"].seconds for p in ("cold", "warm")}

        def ranges(phase: str) -> str:
            keys = [f"{phase} cenv", f"{phase} raw", f"{phase} cenv no-bytecode"]
            return "; ranges " + ", ".join(
                f"{k.split(' ', 1)[1]} {fmt_range(created.samples[k])}" for k in keys
            )

        ip_nobc = created.samples["warm cenv no-bytecode in-process"].seconds
        checks["cenv/raw warm create (process) <= 1.15x"] = (
            warm_c / warm_r <= TARGETS["overhead"],
            f"{warm_c / warm_r:.2f}x ({warm_c:.3f} s vs {warm_r:.3f} s); without the bytecode step "
            f"{nobc['warm'] / warm_r:.2f}x ({nobc['warm']:.3f} s)" + ranges("warm"),
        )
        checks["cenv/raw cold create (process) <= 1.5x"] = (
            cold_c / cold_r <= TARGETS["create_cold_overhead"],
            f"{cold_c / cold_r:.2f}x ({cold_c:.3f} s vs {cold_r:.3f} s); without the bytecode step "
            f"{nobc['cold'] / cold_r:.2f}x ({nobc['cold']:.3f} s)" + ranges("cold"),
        )
        checks["cenv/raw warm create (in-process) <= 1.15x"] = (
            ip_c / ip_r <= TARGETS["overhead"],
            f"{ip_c / ip_r:.2f}x ({ip_c:.3f} s vs {ip_r:.3f} s); without the bytecode step "
            f"{ip_nobc / ip_r:.2f}x ({ip_nobc:.3f} s)",
        )
        (cl, ct), (rl, rt) = created.links["cenv"], created.links["raw"]
        m = created.mirror
        checks["warm env hard-linked from the cache (no copies beyond raw rattler's)"] = (
            ct - cl <= rt - rl,
            f"cenv {cl}/{ct} = {cl / ct:.1%} of regular files (conda-meta/ and __pycache__/ aside) have "
            f"st_nlink > 1 (raw "
            f"rattler {rl}/{rt} = {rl / rt:.1%}); the {ct - cl} others: the {m.prefix_files} files with "
            "the prefix placeholder (rewritten copies by design) and files rattler writes itself "
            "(CACHEDIR.TAG)",
        )
        notes.append(
            f"create: the cu12 linux-64 lock ({created.packages - len(m.fillers)} records) as real archives "
            f"(benchmarks/create_mirror.py) plus {len(m.fillers)} filler packages (`bench-fill-NNN`, half "
            f"noarch python, half linux-64 libraries, added to the spec) = {m.packages} archives, "
            f"{m.bytes / 1e6:.1f} MB, {m.files} files ({m.prefix_files} with the prefix placeholder), "
            f"{m.packages - m.tar_bz2} .conda / {m.tar_bz2} .tar.bz2, `python` wrapping the host "
            "interpreter; served on 127.0.0.1 (ChannelServer) and re-locked with `cenv lock` against the "
            "mirror, so the lock carries the archives' own hashes. cenv = `cenv create LOCK -p PREFIX -q` "
            "(CONDA_PKGS_DIRS and CENV_CACHE_DIR fresh for cold, the same for warm, "
            "CONDA_OVERRIDE_CUDA=12.4); raw = benchmarks/raw_rattler_install.py (`rattler.LockFile` records "
            "-> `rattler.install`, its own cache) as a process; in-process = `cenv.create.create` vs "
            "`rattler.install` in one process (cold x1, warm = median). Requests column: archive "
            "downloads cenv/raw. The create cost does not depend on the channel's size."
        )
    if args.records < 300_000:
        notes.append(
            f"scale: {args.records} linux-64 records, below the 300k full scale; targets are indicative."
        )

    lines = [
        "# cenv benchmark results (issue #6: conda-forge scale)",
        "",
        f"- date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {machine()}",
        f"- load average (1 min, the whole machine, this run included): {load_start:.2f} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end",
        "- command: `.venv/bin/python benchmarks/run.py " + " ".join(sys.argv[1:]) + "`",
        "- channel: "
        + ", ".join(
            f"{sub} {s['records']:,} records / {s['names']:,} names / {s['json_bytes'] / 1e6:.0f} MB json"
            for sub, s in stats.items()
        )
        + f" (seed {args.seed}; generated or reused in {gen_s:.0f} s)",
        f"- spec: {len(ML_SPEC)} top-level conda names ({', '.join(ML_SPEC[:6])}, ...) and a pip part of "
        f"{len(ML_PIP)} PyPI-only requirements ({', '.join(ML_PIP[:5])}, ...; benchmarks/pip_index.py: "
        f"{len(index.wheels)} generated wheels, {len(index.wheels) - wheel_count()} of them the PyPI "
        "counterparts of conda-provided packages, on a local PEP 503 index served on 127.0.0.1 with PyPI's "
        f"`max-age=600`; built in {pip_s:.1f} s); locked packages per platform (cu12): "
        + ", ".join(f"{p} {n} conda + {pip_counts.get(p, 0)} pip" for p, n in packages.items()),
        f"- runs: cold x{args.cold_runs} (fresh cache each), warm x{args.warm_runs}, "
        f"start-up x{args.help_runs}; median seconds; RSS = peak resident set of the process (max over runs)"
        + ("" if args.no_precompile else "; cenv's bytecode compiled beforehand, as in an installed cenv"),
        "- raw rattler + uv = benchmarks/raw_rattler_lock.py: one `Gateway`, `rattler.solve` per platform "
        "with "
        "`asyncio.gather`, same virtual packages, each platform's solve followed by one `uv pip compile "
        "--format pylock.toml --generate-hashes` (its python version, `--python-platform`, conda's python "
        "distributions as `-c` pins and `--no-emit-package`), the conda part written with rattler's own "
        "`LockFile.to_path` (pixi's format; uv's pylock.toml is the pip part): the engine limit; cenv's "
        "pip stage runs uv twice per platform on a cold cache (pylock + `# via` graph, concurrently when "
        "uv's cache allows) and once when its cache holds the graph of the same request and the same pins",
        "- caches: cold = empty repodata, uv and cenv caches (UV_CACHE_DIR, CENV_CACHE_DIR per run), "
        "warm = the cold run's",
        "- requests (cold, cenv) = shard index / shards / full repodata.json downloads / 304 answers",
        "",
        "| what | cenv s | raw rattler+uv s | ratio | cenv RSS MB | raw RSS MB | requests |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", GENERATED[0], "", "| target | met | measured |", "| --- | --- | --- |"]
    for name, (met, detail) in checks.items():
        lines.append(f"| {name} | {'n/a' if met is None else ('yes' if met else '**no**')} | {detail} |")
    if notes:
        lines += ["", *[f"- {n}" for n in notes]]
    in_process = phases["raw rattler + uv (gateway + solve + pip compile + rattler's lockfile)"].seconds
    lines += [
        "",
        GENERATED[1],
        "",
        f"Median of {len(phases['load_spec'].runs)} runs in one process, same cache; cenv's phases are the "
        "steps of `cenv.pipeline.lock` (write_lockfile repeats the dump).",
        "",
        "| phase | ms | vs raw rattler + uv |",
        "| --- | ---: | ---: |",
    ]
    lines += [
        f"| {name} | {sample.seconds * 1000:.1f} | {sample.seconds / in_process * 100:.0f}% |"
        for name, sample in phases.items()
    ]
    lines += ["", GENERATED[2], "", "| module | cumulative ms |", "| --- | ---: |"]
    lines += [f"| `{name}` | {ms:.1f} |" for name, ms in imports]
    if profile_text:
        lines += [
            "",
            GENERATED[3],
            "",
            "```",
            profile_text.strip(),
            "```",
        ]
    # keep what run.py does not write: hand-written analysis, bench_lock.py's section
    old = args.results.read_text() if args.results.exists() else ""
    kept = [section for heading, section in sections(old) if heading not in GENERATED]
    text = "\n".join(lines) + "\n" + "".join("\n" + section for section in kept)
    args.results.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
