"""`cenv image` of the ML-shaped lock from a warm cache next to a warm `cenv create` of the same lock and the
time to compress the environment's bytes alone (issue #24's target).

    .venv/bin/python benchmarks/bench_image.py [--data /tmp/cenv-ml-bench] [--runs 3] [--zstd-level 3]

The lock and channel are benchmarks/bench_ml_create.py's (benchmarks/generate_ml_env.py under --data, locked
once). One unmeasured `cenv create` fills a package cache (and cenv's bytecode cache); then each run,
interleaved (the order reverses on odd runs, so a load change hits every kind):

- create: `cenv create LOCK -p NEW` from the warm cache;
- image gzip / image zstd: `cenv image LOCK -o NEW.tar --compression gzip|zstd` from the same cache (its
  default: layers compressed on 2 threads), and the same with `--jobs 1` (one layer at a time);
- compress gzip / compress zstd: a process that reads every regular file of the warm environment and
  compresses the bytes with the compressor and level `cenv image` uses (Python's gzip at 6, zstandard at
  --zstd-level) into a discarding sink: the compression alone, no tar, no hashing, no writing.

The target: image <= create + compress, per compressor, on medians. Every figure is a whole process (wall
seconds, peak RSS from wait4); the 1-minute load average (`uptime`'s) is recorded before each. Prints a
Markdown section.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HERE = REPO / "benchmarks"
for _p in (str(REPO), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from bench_ml_create import CENV, Series, prepare, run_measured  # noqa: E402


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        pass


def compress_only(prefix: Path, compression: str, level: int) -> None:
    """Every regular file of `prefix`, in a stable order, through the compressor, into nothing."""
    sink = _Discard()
    writer: object
    if compression == "gzip":
        writer = gzip.GzipFile(fileobj=sink, mode="wb", mtime=0, filename="", compresslevel=level)  # type: ignore[arg-type]
    else:
        import zstandard

        writer = zstandard.ZstdCompressor(level=level).stream_writer(sink, closefd=False)  # type: ignore[arg-type]
    with writer:  # type: ignore[attr-defined]
        for folder, dirs, files in os.walk(prefix):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(folder, name)
                if os.path.islink(path) or not os.path.isfile(path):
                    continue
                with open(path, "rb") as handle:
                    while chunk := handle.read(1 << 20):
                        writer.write(chunk)  # type: ignore[attr-defined]


def tree_bytes(prefix: Path) -> tuple[int, int]:
    """(bytes of regular files, regular files) of an environment."""
    total = count = 0
    for folder, _, files in os.walk(prefix):
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                total += os.path.getsize(path)
                count += 1
    return total, count


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--compress-only":
        compress_only(Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/cenv-ml-bench"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/cenv-image-bench-work"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--zstd-level", type=int, default=3)
    parser.add_argument("--gzip-level", type=int, default=6)
    args = parser.parse_args()

    data, work, base, lock = prepare(args.data, 1.0, args.work)
    env = dict(base, CONDA_PKGS_DIRS=str(work / "pkgs"), CENV_CACHE_DIR=str(work / "cenv-cache"))
    warmup = run_measured([*CENV, "create", str(lock), "-p", str(work / "warm"), "-q"], env)
    print(f"warm-up create (cold cache): {warmup}", file=sys.stderr, flush=True)
    env_bytes, env_files = tree_bytes(work / "warm")
    me = [sys.executable, str(Path(__file__).resolve()), "--compress-only", str(work / "warm")]
    levels = {"gzip": args.gzip_level, "zstd": args.zstd_level}

    def image_args(compression: str, i: int) -> list[str]:
        out = str(work / f"{compression}{i}.tar")
        return ["-o", out, "-q", "--compression", compression, "--level", str(levels[compression])]

    kinds = ["create", "image gzip", "image zstd", "image gzip --jobs 1", "image zstd --jobs 1"]
    kinds += ["compress gzip", "compress zstd"]
    series = {k: Series() for k in kinds}
    sizes: dict[str, int] = {}
    for i in range(args.runs):
        steps = [
            ("create", [*CENV, "create", str(lock), "-p", str(work / f"c{i}"), "-q"]),
            *((f"image {c}", [*CENV, "image", str(lock), *image_args(c, i)]) for c in ("gzip", "zstd")),
            *(
                (f"image {c} --jobs 1", [*CENV, "image", str(lock), *image_args(c, i), "--jobs", "1"])
                for c in ("gzip", "zstd")
            ),
            *((f"compress {c}", [*me, c, str(levels[c])]) for c in ("gzip", "zstd")),
        ]
        if i % 2:
            steps.reverse()
        for name, cmd in steps:
            series[name].runs.append(run_measured(cmd, env))
            print(f"run {i} {name}: {series[name].runs[-1]}", file=sys.stderr, flush=True)
        for c in ("gzip", "zstd"):
            sizes[c] = (work / f"{c}{i}.tar").stat().st_size
            (work / f"{c}{i}.tar").unlink()
        shutil.rmtree(work / f"c{i}", ignore_errors=True)

    print(f"- data: {data.describe()} (benchmarks/generate_ml_env.py)")
    print(
        f"- the environment: {env_bytes / 1e6:.0f} MB in {env_files} regular files; image archives "
        f"{sizes['gzip'] / 1e6:.0f} MB (gzip {levels['gzip']}), {sizes['zstd'] / 1e6:.0f} MB "
        f"(zstd {levels['zstd']})"
    )
    print(
        f"- {args.runs} interleaved runs from a warm cache; seconds as median and range; "
        "load = 1-minute load average before each\n"
    )
    print("| what | s median (range) | peak RSS MB | load |")
    print("| --- | ---: | ---: | --- |")
    for kind in kinds:
        s = series[kind]
        print(f"| {kind} | {s.median():.2f} ({s.span()}) | {s.rss():.0f} | {s.loads()} |")
    print("\n| target: image <= create + compress | image s | create + compress s | met |")
    print("| --- | ---: | ---: | --- |")
    create = series["create"].median()
    for c in ("gzip", "zstd"):
        image = series[f"image {c}"].median()
        bound = create + series[f"compress {c}"].median()
        print(f"| {c} {levels[c]} | {image:.2f} | {bound:.2f} | {'yes' if image <= bound else '**no**'} |")
    per_run = [
        f"{series[f'image {c}'].runs[i].seconds:.2f} vs "
        f"{series['create'].runs[i].seconds + series[f'compress {c}'].runs[i].seconds:.2f}"
        for i in range(args.runs)
        for c in ("gzip", "zstd")
    ]
    print(f"\n- per run (gzip, zstd alternating): {', '.join(per_run)}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
