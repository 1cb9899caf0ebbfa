"""What a warm ML-shaped `cenv create` cannot go below: each irreducible piece measured alone.

    .venv/bin/python benchmarks/warm_floor.py PKGS_DIR LOCK [--work DIR] [--repeat 3]

PKGS_DIR is a package cache a `cenv create` of LOCK has filled (its entries extracted and stamped, the
noarch bytecode compiled into `<entry>/.cenv-pyc/`), e.g. the `pkgs-0` of benchmarks/bench_ml_create.py or
the CONDA_PKGS_DIRS of a cold create. Each piece runs in its own process (wall, user+sys CPU), in a fresh
folder under --work (tmpfs by default: see bench_ml_create.py), nothing deleted until the end:

- interpreter: `python -c pass`;
- engine imports: `import asyncio, rattler` (what benchmarks/raw_rattler_install.py imports);
- cenv imports: the modules a `cenv create LOCK` imports;
- rattler link: `rattler.install` of the lock's records from PKGS_DIR (what cenv's link step calls);
- .pyc links: the cached `.pyc` files hard-linked into a fresh tree, one `os.link` and one `os.lstat` each
  (what checking each linked file against its manifest needs), a plain Python loop over strings;
- stamp stats: one `os.lstat` per file every cached entry's paths.json lists (the stamp check's system
  calls) plus reading paths.json;
- conda-meta JSON: the records of a cenv environment made from the cache read (`json.loads`) and written
  back compact with the C encoder (what any rewrite of its 11 MB of records costs in Python).

Prints a Markdown table (median and range of --repeat runs) and the load before each piece.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_ml_create import default_work  # noqa: E402

PY = sys.executable

_PYC_LINKS = """
import os, sys
pkgs, dst = sys.argv[1:3]
items = []
for entry in sorted(os.listdir(pkgs)):
    base = os.path.join(pkgs, entry, ".cenv-pyc")
    if not os.path.isdir(base):
        continue
    for key in os.listdir(base):
        root = os.path.join(base, key)
        if key.startswith(".") or not os.path.isdir(root):
            continue
        for folder, _, names in os.walk(root):
            rel = os.path.relpath(folder, root)
            items += [(root + "/", rel + "/" + n) for n in names if n.endswith(".pyc")]
folders = sorted({rel.rpartition("/")[0] for _, rel in items})
import time
started = time.perf_counter()
for folder in folders:
    os.makedirs(os.path.join(dst, folder), exist_ok=True)
base = dst + "/"
for root, rel in items:
    os.link(root + rel, base + rel)
    os.lstat(base + rel)
print(len(items), time.perf_counter() - started)
"""

_STAMP_STATS = """
import json, os, sys, time
pkgs = sys.argv[1]
started = time.perf_counter()
count = 0
for entry in sorted(os.listdir(pkgs)):
    paths = os.path.join(pkgs, entry, "info", "paths.json")
    if entry.startswith(".") or not os.path.isfile(paths):
        continue
    base = os.path.join(pkgs, entry, "")
    for item in json.loads(open(paths, "rb").read())["paths"]:
        try:
            os.lstat(base + item["_path"])
        except OSError:
            pass
        count += 1
print(count, time.perf_counter() - started)
"""

_META_JSON = """
import glob, json, os, sys, time
started = time.perf_counter()
files = sorted(glob.glob(os.path.join(sys.argv[1], "conda-meta", "*.json")))
records = [json.loads(open(f, "rb").read()) for f in files]
out = sys.argv[2]
os.makedirs(out)
for f, r in zip(files, records):
    with open(os.path.join(out, os.path.basename(f)), "w") as handle:
        handle.write(json.dumps(r))
print(len(records), time.perf_counter() - started)
"""

_RATTLER_LINK = """
import asyncio, sys
sys.path.insert(0, sys.argv[4])
import rattler
from raw_rattler_install import records
import time
recs = records(sys.argv[1], "linux-64")
started = time.perf_counter()
asyncio.run(rattler.install(recs, target_prefix=sys.argv[2], cache_dir=sys.argv[3], installed_packages=[],
    execute_link_scripts=False, show_progress=False))
print(len(recs), time.perf_counter() - started)
"""

_CENV_IMPORTS = "import cenv.cli, cenv.create, cenv.install.conda, cenv.progress, rattler, filelock"


def _run(cmd: list[str]) -> tuple[float, float, float, float | None]:
    """(wall, cpu, load before, the seconds the piece printed as its last word, if it did) of one process."""
    load = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read().decode() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{cmd[:4]} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    words = out.split()
    inner = float(words[-1]) if len(words) > 1 and "." in words[-1] else None
    return wall, usage.ru_utime + usage.ru_stime, load, inner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pkgs", type=Path)
    parser.add_argument("lock", type=Path)
    parser.add_argument("--work", type=Path, default=default_work("cenv-warm-floor"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = args.work.resolve() / f"run-{os.getpid()}"
    work.mkdir(parents=True)
    pkgs = str(args.pkgs.resolve())
    reference = work / "reference"  # a cenv environment from the cache: its conda-meta is read and written
    env = dict(os.environ, CONDA_PKGS_DIRS=pkgs, CONDA_REGISTER_ENVS="false", NO_COLOR="1")
    create = [PY, "-m", "cenv", "create", str(args.lock), "-p", str(reference), "-q"]
    subprocess.run(create, env=env, check=True)
    pieces: dict[str, list[tuple[float, float, float, float | None]]] = {}
    for i in range(args.repeat):
        steps = {
            "interpreter (`python -c pass`)": [PY, "-c", "pass"],
            "engine imports (asyncio, rattler)": [PY, "-c", "import asyncio, rattler"],
            "cenv imports (create path)": [PY, "-c", _CENV_IMPORTS],
            "rattler link alone (from the warm cache)": [
                PY, "-c", _RATTLER_LINK, str(args.lock), str(work / f"link{i}"), pkgs, str(HERE),
            ],
            "15k .pyc: os.link + os.lstat each": [PY, "-c", _PYC_LINKS, pkgs, str(work / f"pyc{i}")],
            "stamp: paths.json + os.lstat per file": [PY, "-c", _STAMP_STATS, pkgs],
            "conda-meta: json.loads + C json.dumps": [
                PY, "-c", _META_JSON, str(reference), str(work / f"m{i}"),
            ],
        }  # fmt: skip
        for name, cmd in steps.items():
            pieces.setdefault(name, []).append(_run(cmd))
    print("| piece (its own process) | wall s, median (range) | CPU s, median | the loop alone s | load |")
    print("| --- | ---: | ---: | ---: | --- |")
    for name, runs in pieces.items():
        walls = [r[0] for r in runs]
        cpus = [r[1] for r in runs]
        loads = [r[2] for r in runs]
        inner = [r[3] for r in runs if r[3] is not None]
        loop = f"{statistics.median(inner):.3f}" if inner else ""
        print(
            f"| {name} | {statistics.median(walls):.3f} ({min(walls):.3f}-{max(walls):.3f}) "
            f"| {statistics.median(cpus):.3f} | {loop} | {min(loads):.1f}-{max(loads):.1f} |"
        )
    print(f"\n(the interpreter's start is in every row's wall and CPU; cache {json.dumps(str(args.pkgs))})")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
