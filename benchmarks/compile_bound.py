"""The bytecode part of a cold create, alone: what no create that compiles every noarch module can go below.

    .venv/bin/python benchmarks/compile_bound.py PREFIX [--workers N] [--runs 3]

PREFIX is an environment cenv created (from benchmarks/generate_ml_env.py's lock, say): its conda-meta
records name the noarch python packages and their modules. Each run compiles every one of those modules
with that environment's python, the way a cold create does (cenv.install.pyc_compile's worker loop, the
modules split over N processes, one per core by default, all started at once) into a fresh temporary
folder beside PREFIX, and prints the wall time, the CPU seconds of the processes (user + sys, from wait4)
and the 1-minute load average before the run. Nothing in PREFIX or the package cache is touched.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "src") not in sys.path:
    sys.path.insert(0, str(REPO / "src"))

from cenv.install.pyc_compile import _WORKER  # noqa: E402


def noarch_modules(prefix: Path) -> list[str]:
    """The prefix-relative `.py` files of the noarch python packages, as conda-meta lists them."""
    found = []
    for record in sorted((prefix / "conda-meta").glob("*.json")):
        data = json.loads(record.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("noarch") == "python":
            found += [f for f in data.get("files") or () if f.endswith(".py") and "site-packages/" in f]
    return found


def compile_once(prefix: Path, modules: list[str], workers: int) -> tuple[float, float, float]:
    """(wall s, user s, sys s) of compiling `modules` in `workers` processes started together."""
    python = prefix / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out = Path(tempfile.mkdtemp(prefix=".compile-bound-", dir=prefix.parent))
    try:
        listings = []
        for n in range(workers):
            triples = []
            for rel in modules[n::workers]:
                folder, name = os.path.split(rel)
                triples += [str(prefix / rel), str(out / folder / "__pycache__" / f"{name[:-3]}.pyc"), rel]
            listing = out / f"listing-{n}"
            listing.write_bytes("\0".join(triples).encode("utf-8", "surrogateescape"))
            listings.append(listing)
        start = time.perf_counter()
        processes = [
            subprocess.Popen([str(python), "-Wi", "-c", _WORKER, str(listing)], env=env)
            for listing in listings
        ]
        user = system = 0.0
        for process in processes:
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            user += usage.ru_utime
            system += usage.ru_stime
        wall = time.perf_counter() - start
        made = sum(1 for _ in out.rglob("*.pyc"))
        if made != len(modules):
            raise SystemExit(f"compiled {made} of {len(modules)} modules")
        return wall, user, system
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefix", type=Path)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    modules = noarch_modules(args.prefix)
    if not modules:
        raise SystemExit(f"{args.prefix}: no noarch python modules in conda-meta")
    print(f"{len(modules)} noarch modules, {args.workers} processes")
    for _ in range(args.runs):
        load = os.getloadavg()[0]
        wall, user, system = compile_once(args.prefix, modules, args.workers)
        cpu = f"cpu {user + system:.2f} s (user {user:.2f}, sys {system:.2f})"
        print(f"wall {wall:.2f} s  {cpu}  load {load:.2f}")


if __name__ == "__main__":
    main()
