"""Cold lock over HTTP (issue #14): `cenv lock` through its one network client (net.py) next to rattler's
own `Gateway` with its defaults (100 concurrent requests), on the same plain threaded Python server.

    .venv/bin/python benchmarks/bench_http_lock.py                   # smoke: 20,000 linux-64 records
    .venv/bin/python benchmarks/bench_http_lock.py --records 300000  # conda-forge scale

The channel is benchmarks/generate_channel.py's (CEP-16 shards offered), served by
tests/support/http_server.py on 127.0.0.1; the spec is the ML spec's conda part for linux-64, osx-arm64 and
win-64 (`--cuda 12.4`). Every run starts with empty caches. cenv runs with the default concurrency and with
`CENV_CONCURRENCY` set to each value of `--concurrency`; the engine side is benchmarks/raw_rattler_lock.py
(one `Gateway()`, the same solves, rattler's own lockfile written: the same work as cenv's conda part), with
its defaults (100 concurrent requests) and with each `--concurrency`. Every run writes a new lockfile path,
so no side reads a previous lock. Prints a Markdown table: median seconds, failures, requests served.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HERE = REPO / "benchmarks"
for _p in (str(REPO), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from generate_channel import CHANNEL, ML_SPEC, PLATFORMS, generate  # noqa: E402
from tests.support.http_server import ChannelServer  # noqa: E402


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, bool]:
    import os

    started = time.perf_counter()
    proc = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        print(f"  failed ({proc.returncode}): {proc.stderr.strip()[:300]}", file=sys.stderr)
    return seconds, proc.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="*", default=[8, 100])
    parser.add_argument("--workdir", type=Path, default=None, help="reuse a generated channel here")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="cenv-bench-http-"))
    work.mkdir(parents=True, exist_ok=True)
    generate(work / "channel", args.records)
    spec = work / "ml.yml"
    spec.write_text("dependencies:\n" + "".join(f"  - '{s}'\n" for s in ML_SPEC))
    spec_lines = work / "ml.txt"
    spec_lines.write_text("\n".join(ML_SPEC) + "\n")
    platforms = [a for p in PLATFORMS for a in ("-p", p)]
    rows: list[tuple[str, list[float], int, int]] = []
    with ChannelServer(work / "channel") as server:
        channel = server.channel_url(CHANNEL)
        sides: list[tuple[str, list[str], dict[str, str]]] = []
        for concurrency in [None, *args.concurrency]:
            label = "cenv lock" + (f" (CENV_CONCURRENCY={concurrency})" if concurrency else " (default)")
            env = {"CENV_CONCURRENCY": str(concurrency)} if concurrency else {}
            cmd = [sys.executable, "-m", "cenv", "lock", str(spec), "-c", channel, *platforms]
            sides.append((label, [*cmd, "--cuda", "12.4", "-q", "-o"], env))
        raw = [sys.executable, str(HERE / "raw_rattler_lock.py"), "--channel", channel]
        raw += ["--specs", str(spec_lines), *platforms, "--cuda", "12.4"]
        sides.append(("rattler Gateway() defaults", [*raw, "-o"], {}))
        for concurrency in args.concurrency:
            sides.append(
                (f"rattler Gateway({concurrency})", [*raw, "--concurrency", str(concurrency), "-o"], {})
            )
        for label, cmd, env in sides:
            times, failures, requests = [], 0, 0
            for run in range(args.runs):
                cache = work / "caches" / f"{len(rows)}-{run}"
                shutil.rmtree(cache, ignore_errors=True)
                cache.mkdir(parents=True)
                full = [*cmd, str(cache / "lock.yml")]  # a new lockfile: nothing previous to read
                if "raw_rattler" in cmd[1]:
                    full += ["--cache", str(cache / "repodata")]
                server.reset_counters()
                seconds, ok = _run(full, {**env, "CENV_CACHE_DIR": str(cache)})
                requests += len(server.log)
                if ok:
                    times.append(seconds)
                failures += not ok
            rows.append((label, times, failures, requests // max(1, args.runs)))
    print(f"Cold lock over HTTP, {args.records:,} linux-64 records, 3 platforms, {args.runs} runs each\n")
    print("| side | median s | min-max s | failed | requests/run |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, times, failures, requests in rows:
        median = f"{statistics.median(times):.2f}" if times else "-"
        spread = f"{min(times):.2f}-{max(times):.2f}" if times else "-"
        print(f"| {label} | {median} | {spread} | {failures} | {requests} |")


if __name__ == "__main__":
    main()
