"""A channel of real archives shaped like a CUDA ML environment, for `cenv create` at the size users have.

    .venv/bin/python benchmarks/generate_ml_env.py /tmp/cenv-ml-bench [--scale 1.0]

Deterministic (same arguments -> byte-identical archives, same sha256) and reused: the output directory
keeps a `GENERATED.json` with the arguments and the archives' digest; a second call with the same arguments
returns at once. Generate it under /tmp, never inside the repository. The shape (issue #21), at scale 1.0:

- `python` (1): the tests' host-interpreter wrapper (pyvenv.cfg + symlinks); noarch bytecode needs one;
- `mlb-cuda-*` (4): 3 shared libraries of 24 MB each (7/8 incompressible) with a symlink chain: the bytes
  (archive copy, hashing, extraction);
- `mlb-torch` (1): 4,000 `.py` modules (not noarch, so not compiled) and 40 extension `.so` of 1 MB;
- `mlb-py-*` (60): noarch python, 250 modules each (~2.5 KB of real code), a dist-info and an entry point:
  the 15,000 modules conda compiles at link time;
- `mlb-lib-*` (80): a 96 KB library with a `libX.so -> libX.so.1 -> libX.so.1.2.3` chain, a header, a
  licence and a `.pc` file with the prefix placeholder (a rewritten copy); every 7th a `.tar.bz2`.

146 archives, 307 MB compressed, 19,680 files and 0.4 GB installed at scale 1.0; `--scale` multiplies
the byte sizes (not the file counts). Every package is in `linux-64` except the noarch ones; all are top-level
requirements of `spec.yml`, written next to the channel (channel as a `file://` URL, platform linux-64).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.channel_factory import PREFIX_PLACEHOLDER, ChannelFactory  # noqa: E402

VERSION = 3  # bump when the shape changes: a reused directory must match
CHANNEL = "mlbench"
PY_XY = "{}.{}".format(*sys.version_info[:2])
SITE = f"lib/python{PY_XY}/site-packages"

CUDA_PACKAGES = 4
CUDA_LIBS = 3
CUDA_LIB_MB = 24
TORCH_MODULES = 4000
TORCH_EXTENSIONS = 40
TORCH_EXTENSION_KB = 1024
NOARCH_PACKAGES = 60
NOARCH_MODULES = 250
NATIVE_PACKAGES = 80
NATIVE_LIB_KB = 96


@dataclass(frozen=True)
class Generated:
    root: Path  # the directory: channel under CHANNEL/, spec.yml beside it
    channel: Path
    spec: Path
    packages: int
    archive_bytes: int
    files: int
    installed_bytes: int
    noarch_modules: int
    seconds: float  # generation time (0 when reused)

    def describe(self) -> str:
        return (
            f"{self.packages} archives, {self.archive_bytes / 1e6:.0f} MB compressed, {self.files} files, "
            f"{self.installed_bytes / 1e6:.0f} MB installed, {self.noarch_modules} noarch python modules"
        )


def _blob(seed: str, size: int, incompressible: float = 0.875) -> bytes:
    """Deterministic bytes shaped like a shared library: mostly random (code, compressed sections), the rest
    a repeated pattern (tables, padding)."""
    rng = random.Random(seed)
    noise = int(size * incompressible)
    head = b"\x7fELF\x02\x01\x01" + bytes(9)
    pattern = hashlib.sha256(seed.encode()).digest() * ((size - noise) // 32 + 1)
    return (head + rng.randbytes(noise) + pattern)[:size]


def _module(package: str, index: int) -> str:
    """About 2.5 KB of real Python: imports, constants, functions with branches and a class."""
    lines = [
        f'"""{package}: generated module {index} (cenv benchmark)."""',
        "",
        "from __future__ import annotations",
        "",
        "import functools",
        "import math",
        "",
        f"SCALE_{index} = {index % 97 + 1}",
        f"NAMES = ({', '.join(repr(f'{package}.{index}.{k}') for k in range(6))})",
        "",
    ]
    for k in range(5):
        lines += [
            f"def transform_{k}(values: list[float], factor: float = {k + 1}.5) -> list[float]:",
            f'    """Scale and clip the values (step {k})."""',
            "    result = []",
            "    for value in values:",
            f"        if value > {k * 10}:",
            f"            result.append(math.sqrt(value) * factor + SCALE_{index})",
            "        else:",
            "            result.append(value * factor - len(NAMES))",
            "    return result",
            "",
        ]
    lines += [
        f"class Layer{index}:",
        '    """A layer with a cached size."""',
        "",
        "    def __init__(self, width: int, depth: int = 2) -> None:",
        "        self.width = width",
        "        self.depth = depth",
        "",
        "    @functools.cached_property",
        "    def size(self) -> int:",
        "        return sum(self.width * d for d in range(self.depth))",
        "",
        "    def forward(self, values: list[float]) -> list[float]:",
        "        return transform_0(transform_1(values), factor=self.size)",
        "",
    ]
    return "\n".join(lines) + "\n"


def build(root: Path, scale: float = 1.0) -> Generated:
    """Write the channel under `root/CHANNEL` and `root/spec.yml`; see the module doc for the shape."""
    started = time.perf_counter()
    ch = ChannelFactory(root, CHANNEL)
    ch.python_wrapper()
    names: list[str] = []
    files = 0
    installed = 0

    def add(name: str, **options: object) -> None:
        nonlocal files, installed
        built = ch.add_package(name, "1.0", **options)  # type: ignore[arg-type]
        names.append(name)
        contents = {**dict(options.get("files") or {}), **dict(options.get("prefix_files") or {})}  # type: ignore[call-overload]
        files += len(contents) + len(dict(options.get("symlinks") or {}))  # type: ignore[call-overload]
        installed += sum(len(c) for c in contents.values())
        del built

    for p in range(CUDA_PACKAGES):
        libs: dict[str, str | bytes] = {}
        links: dict[str, str] = {}
        for j in range(CUDA_LIBS):
            stem = f"libmlbcuda{p}_{j}"
            real = f"lib/{stem}.so.12.4.{j}"
            libs[real] = _blob(f"cuda-{p}-{j}", int(CUDA_LIB_MB * scale * 1024 * 1024))
            links[f"lib/{stem}.so.12"] = f"{stem}.so.12.4.{j}"
            links[f"lib/{stem}.so"] = f"{stem}.so.12"
        libs[f"include/mlbcuda{p}.h"] = f"/* mlb-cuda-{p} */\nint mlbcuda{p}_version(void);\n" * 40
        add(f"mlb-cuda-{p}", subdir="linux-64", files=libs, symlinks=links)

    torch: dict[str, str | bytes] = {}
    for i in range(TORCH_MODULES):
        torch[f"{SITE}/mlbtorch/sub{i % 40:02d}/mod{i:04d}.py"] = _module("mlbtorch", i)
    for i in range(TORCH_EXTENSIONS):
        torch[f"{SITE}/mlbtorch/_C{i:02d}.cpython-{PY_XY.replace('.', '')}-x86_64-linux-gnu.so"] = _blob(
            f"torch-{i}", int(TORCH_EXTENSION_KB * scale * 1024)
        )
    add(
        "mlb-torch",
        subdir="linux-64",
        depends=["python", *(f"mlb-cuda-{p}" for p in range(CUDA_PACKAGES))],
        files=torch,
    )

    for p in range(NOARCH_PACKAGES):
        name = f"mlb-py-{p:02d}"
        module = f"mlbpy{p:02d}"
        content: dict[str, str | bytes] = {
            f"site-packages/{module}/m{i:03d}.py": _module(module, i) for i in range(NOARCH_MODULES - 1)
        }
        content[f"site-packages/{module}/__init__.py"] = f'"""{name}"""\n\ndef main() -> int:\n    return 0\n'
        dist_info = f"site-packages/{module}-1.0.dist-info"
        content[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"
        content[f"{dist_info}/INSTALLER"] = "conda\n"
        add(
            name,
            noarch="python",
            depends=["python"],
            files=content,
            entry_points=[f"{name} = {module}:main"],
        )

    for p in range(NATIVE_PACKAGES):
        stem = f"libmlb{p:02d}"
        add(
            f"mlb-lib-{p:02d}",
            subdir="linux-64",
            fmt=".tar.bz2" if p % 7 == 6 else ".conda",
            files={
                f"lib/{stem}.so.1.2.3": _blob(f"lib-{p}", int(NATIVE_LIB_KB * scale * 1024), 0.5),
                f"include/mlb{p:02d}.h": f"/* mlb-lib-{p:02d} */\nint mlb{p:02d}(void);\n" * 20,
                f"share/licenses/mlb-lib-{p:02d}/LICENSE": "BSD-3-Clause\n" * 30,
            },
            prefix_files={
                f"lib/pkgconfig/mlb{p:02d}.pc": (
                    f"prefix={PREFIX_PLACEHOLDER}\nlibdir=${{prefix}}/lib\n"
                    f"Name: mlb{p:02d}\nVersion: 1.2.3\nLibs: -L${{libdir}} -lmlb{p:02d}\n"
                )
            },
            symlinks={f"lib/{stem}.so.1": f"{stem}.so.1.2.3", f"lib/{stem}.so": f"{stem}.so.1"},
        )
    ch.write_repodata()
    spec = root / "spec.yml"
    spec.write_text(
        f"name: mlbench\nchannels: [{ch.url}]\nplatforms: [linux-64]\ndependencies:\n  - python\n"
        + "".join(f"  - {n}\n" for n in names),
        encoding="utf-8",
    )
    return Generated(
        root=root,
        channel=ch.path,
        spec=spec,
        packages=len(ch.packages),
        archive_bytes=sum(p.path.stat().st_size for p in ch.packages),
        files=files,
        installed_bytes=installed,
        noarch_modules=NOARCH_PACKAGES * NOARCH_MODULES,
        seconds=time.perf_counter() - started,
    )


def generate(root: Path, scale: float = 1.0) -> Generated:
    """`build` unless `root` already holds the same generation (its GENERATED.json matches)."""
    marker = root / "GENERATED.json"
    wanted = {"version": VERSION, "scale": scale, "python": PY_XY, "executable": sys.base_prefix}
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recorded = None
    if isinstance(recorded, dict) and recorded.get("arguments") == wanted:
        facts = recorded["facts"]
        return Generated(
            root=root,
            channel=root / CHANNEL,
            spec=root / "spec.yml",
            seconds=0.0,
            **facts,
        )
    if root.exists():
        import shutil

        shutil.rmtree(root)
    root.mkdir(parents=True)
    generated = build(root, scale)
    facts = {
        "packages": generated.packages,
        "archive_bytes": generated.archive_bytes,
        "files": generated.files,
        "installed_bytes": generated.installed_bytes,
        "noarch_modules": generated.noarch_modules,
    }
    marker.write_text(json.dumps({"arguments": wanted, "facts": facts}, indent=2) + "\n", encoding="utf-8")
    return generated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="output directory (under /tmp; never the repository)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the byte sizes")
    args = parser.parse_args()
    generated = generate(args.root.resolve(), args.scale)
    print(f"{generated.root}: {generated.describe()} ({generated.seconds:.1f} s)")


if __name__ == "__main__":
    main()
