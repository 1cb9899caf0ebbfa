"""pip stage time next to a raw `uv pip compile` of the same requirements, in the same run.

    .venv/bin/python benchmarks/bench_pip_stage.py [--runs 5] [--pypi]

Default: a local PEP 503 index of 200 generated wheels (a 4-level dependency tree, conda providing 20 of
them). `--pypi`: real PyPI (`requests jupyterlab pandas-stubs`, linux-64). Both sides share one warm uv
cache; "raw uv" is one `uv pip compile --format pylock.toml` with the same constraints and no-emit list;
"cenv" is `resolve_pip` (pylock pass + pinned graph pass + parsing).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cenv.pip import PipRequest, python_platform, resolve_pip  # noqa: E402
from cenv.virtual_packages import VirtualPackageOptions, build_virtual_packages  # noqa: E402


def local_index(root: Path) -> tuple[str, tuple[str, ...], dict[str, str]]:
    from tests.support.wheel_factory import WheelIndex

    index = WheelIndex(root)
    for i in range(200):
        deps = [f"pkg{j}>=1" for j in (2 * i + 1, 2 * i + 2) if j < 200]
        for version in ("1.0", "1.1"):
            index.add(f"pkg{i}", version, requires=deps)
    index.write()
    conda = {f"pkg{i}": "1.0" for i in range(180, 200)}
    return index.simple_url, ("pkg0",), conda


def raw_uv(request: PipRequest, cache: Path) -> float:
    from uv import find_uv_bin

    tag, env = python_platform(request.platform, request.virtual_packages)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "req.in").write_text("\n".join(request.requirements) + "\n")
        (work / "c.txt").write_text("".join(f"{k}=={v}\n" for k, v in request.conda_provided.items()))
        args = [
            find_uv_bin(), "pip", "compile", str(work / "req.in"), "--no-config", "-q",
            "--python-version", "3.11", "--python-platform", tag, "--generate-hashes",
            "--format", "pylock.toml", "-o", str(work / "pylock.toml"), "-c", str(work / "c.txt"),
            "--cache-dir", str(cache),
        ]  # fmt: skip
        if request.index_url:
            args += ["--default-index", request.index_url]
        for name in request.conda_provided:
            args += ["--no-emit-package", name]
        import os

        started = time.perf_counter()
        subprocess.run(args, check=True, env={**os.environ, **env})
        return time.perf_counter() - started


def cenv(request: PipRequest, cache: Path) -> tuple[float, int]:
    started = time.perf_counter()
    packages = resolve_pip(request, cache_dir=cache)
    return time.perf_counter() - started, len(packages)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pypi", action="store_true", help="resolve against real PyPI")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if options.pypi:
            index_url, requirements, conda = (
                None,
                ("requests", "jupyterlab", "pandas-stubs"),
                {"numpy": "1.26.4"},
            )
        else:
            index_url, requirements, conda = local_index(root / "index")
        request = PipRequest(
            platform="linux-64",
            python_version="3.11.7",
            requirements=requirements,
            conda_provided=conda,
            virtual_packages=build_virtual_packages("linux-64", VirtualPackageOptions()),
            index_url=index_url,
        )
        cache = root / "uv-cache"
        _, count = cenv(request, cache)  # warm the cache for both sides
        raw_uv(request, cache)
        raw, ours = [], []
        for _ in range(options.runs):
            raw.append(raw_uv(request, cache))
            ours.append(cenv(request, cache)[0])
    source = "PyPI" if options.pypi else "local index (200 wheels)"
    print(f"{source}: {count} pip packages, linux-64, warm uv cache, {options.runs} runs, median (min)")
    print(f"  raw uv pip compile : {statistics.median(raw):.3f} s ({min(raw):.3f})")
    print(f"  cenv resolve_pip   : {statistics.median(ours):.3f} s ({min(ours):.3f})")


if __name__ == "__main__":
    main()
