"""An "archive mirror" of a lock: real, installable archives for exactly the records a lock holds.

    .venv/bin/python benchmarks/create_mirror.py LOCK OUT_DIR [--platform linux-64] [--packages 300]

The generated channel (generate_channel.py) has repodata only. For `cenv create` figures, this takes the
records of one platform of a cenv lock (name, version, build, subdir, depends) and writes an archive for each
with the tests' channel factory (tests/support/channel_factory.py) into ``OUT_DIR/conda-forge/``, then writes
the mirror's repodata from the built archives, so the mirror can be re-locked with `cenv lock` (a genuine
lock with the archives' own hashes). Package contents are small and shaped like conda-forge's:

- ``python``: the factory's host-interpreter wrapper (pyvenv.cfg + symlinks), with the lock's version/build;
- noarch python packages: a module directory under ``site-packages/`` (3 modules) and a ``.dist-info``;
- linux-64 packages: a shared library, a header and a licence; python extensions (those that depend on
  ``python``) also a module + extension under ``lib/pythonX.Y/site-packages/``; every 4th library a
  pkg-config ``.pc`` file holding the prefix placeholder (rattler rewrites such files, so they are copies);
- every 7th non-python archive is a ``.tar.bz2``, the rest ``.conda`` (conda-forge's mix today);
- ``--packages N``: when the lock has fewer records, filler packages ``bench-fill-NNN`` (alternately noarch
  python and linux-64 libraries) are added so that the environment has N packages; their names are returned
  for the spec.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.channel_factory import PREFIX_PLACEHOLDER, ChannelFactory  # noqa: E402

PY_XY = "{}.{}".format(*sys.version_info[:2])


@dataclass(frozen=True)
class LockedRecord:
    name: str
    version: str
    build: str
    subdir: str
    depends: tuple[str, ...]


@dataclass
class Mirror:
    root: Path  # serve this directory; the channel is root / channel
    channel: str
    packages: int  # archives in the mirror
    fillers: list[str]  # extra top-level names to add to the spec
    bytes: int  # archive bytes
    files: int  # package files (excluding info/)
    prefix_files: int  # files with a prefix placeholder (installed as copies)
    tar_bz2: int


def lock_records(lock: Path, platform: str) -> list[LockedRecord]:
    """The conda records of one platform of a conda-lock v1 / cenv lockfile."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(lock.read_text(), Loader=loader)
    out = []
    for p in data["package"]:
        if p["platform"] != platform or p.get("manager", "conda") != "conda":
            continue
        url = p["url"]
        subdir, filename = url.split("/")[-2:]
        stem = re.sub(r"\.(conda|tar\.bz2)$", "", filename)
        prefix = f"{p['name']}-{p['version']}-"
        if not stem.startswith(prefix):
            raise ValueError(f"cannot read the build of {filename}")
        deps = tuple(f"{k} {v}".strip() for k, v in sorted((p.get("dependencies") or {}).items()))
        out.append(LockedRecord(p["name"], str(p["version"]), stem[len(prefix) :], subdir, deps))
    return out


def _build_number(build: str) -> int:
    m = re.search(r"_(\d+)(?:_[a-z]+)?$", build)
    return int(m.group(1)) if m else 0


def _blob(seed: str, size: int) -> bytes:
    """Deterministic, poorly compressible bytes (like a shared library's)."""
    out = bytearray()
    block = hashlib.sha256(seed.encode()).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


def _module(name: str) -> str:
    return re.sub(r"\W", "_", name.lower()).strip("_") or "pkg"


def build_mirror(
    lock: Path, out: Path, platform: str = "linux-64", packages: int = 0, channel: str = "conda-forge"
) -> Mirror:
    records = lock_records(lock, platform)
    fillers = [f"bench-fill-{i:03d}" for i in range(max(0, packages - len(records)))]
    for i, name in enumerate(fillers):
        if i % 2:
            records.append(LockedRecord(name, "1.0", "pyhd8ed1ab_0", "noarch", ("python >=3.8",)))
        else:
            records.append(LockedRecord(name, "1.0", "h0f1e2d3_0", platform, ("__glibc >=2.17,<3.0.a0",)))
    ch = ChannelFactory(out, channel)
    n_files = n_prefix = n_bz2 = 0
    for i, r in enumerate(records):
        if r.name == "python":
            ch.python_wrapper(
                version=r.version,
                subdir=r.subdir,
                build=r.build,
                build_number=_build_number(r.build),
                depends=list(r.depends),
            )
            n_files += 2
            continue
        mod = _module(r.name)
        fmt = ".tar.bz2" if i % 7 == 3 else ".conda"
        n_bz2 += fmt == ".tar.bz2"
        files: dict[str, str | bytes] = {}
        prefix_files: dict[str, str] = {}
        noarch = "python" if r.subdir == "noarch" else None
        if noarch:
            for part in ("__init__", "core", "utils"):
                files[f"site-packages/{mod}/{part}.py"] = (
                    f'"""{r.name} {r.version}: {part}."""\n\n'
                    + f"VALUE_{part.upper()} = {i}\n" * (20 + i % 40)
                )
            dist = f"site-packages/{mod}-{r.version}.dist-info"
            files[f"{dist}/METADATA"] = f"Metadata-Version: 2.1\nName: {r.name}\nVersion: {r.version}\n"
            files[f"{dist}/INSTALLER"] = "conda\n"
        else:
            files[f"lib/lib{mod}.so.{r.version}"] = _blob(r.name, 2048 + (i * 997) % 14000)
            files[f"include/{mod}.h"] = f'#pragma once\n#define {mod.upper()}_VERSION "{r.version}"\n'
            files[f"share/licenses/{r.name}/LICENSE"] = f"{r.name}: BSD-3-Clause\n" * 10
            if any(d.split()[0] == "python" for d in r.depends):
                site = f"lib/python{PY_XY}/site-packages/{mod}"
                files[f"{site}/__init__.py"] = f'"""{r.name}."""\nfrom ._ext import *  # noqa\n'
                files[f"{site}/_ext.cpython-{PY_XY.replace('.', '')}-x86_64-linux-gnu.so"] = _blob(
                    r.name + "ext", 4096 + (i * 389) % 8000
                )
            elif i % 4 == 0:
                prefix_files[f"lib/pkgconfig/{mod}.pc"] = (
                    f"prefix={PREFIX_PLACEHOLDER}\nlibdir=${{prefix}}/lib\nName: {r.name}\n"
                    f"Version: {r.version}\nLibs: -L${{libdir}} -l{mod}\n"
                )
        n_files += len(files) + len(prefix_files)
        n_prefix += len(prefix_files)
        ch.package(
            r.name,
            r.version,
            build=r.build,
            build_number=_build_number(r.build),
            subdir=r.subdir,
            depends=list(r.depends),
            noarch=noarch,
            files=files,
            prefix_files=prefix_files or None,
            fmt=fmt,
        )
    ch.write_repodata()
    return Mirror(
        root=out,
        channel=channel,
        packages=len(ch.packages),
        fillers=fillers,
        bytes=sum(p.path.stat().st_size for p in ch.packages),
        files=n_files,
        prefix_files=n_prefix,
        tar_bz2=n_bz2,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lock", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--platform", default="linux-64")
    parser.add_argument("--packages", type=int, default=0)
    args = parser.parse_args()
    print(build_mirror(args.lock, args.out, args.platform, args.packages))


if __name__ == "__main__":
    main()
