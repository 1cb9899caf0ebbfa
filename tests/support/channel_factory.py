"""Build conda channels of real, installable package archives for tests and the demo.

No conda channel is reachable from the test machines, so the project writes its own: real ``.tar.bz2``
and ``.conda`` archives with correct ``info/`` metadata, and ``repodata.json`` with real hashes and
timestamps (and no ``indexed_timestamp``, so ``exclude_newer`` cut-offs behave as on a real channel).

This module deliberately imports nothing from ``cenv``: fixtures must not depend on the code they test.

Output is deterministic: fixed mtimes/owners, sorted members, single-threaded compression, so building the
same channel twice gives byte-identical archives (and identical sha256 in repodata).
"""

from __future__ import annotations

import bz2
import hashlib
import io
import json
import os
import sys
import tarfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard

__all__ = [
    "DEFAULT_TIMESTAMP",
    "PREFIX_PLACEHOLDER",
    "BuiltPackage",
    "ChannelFactory",
    "build_demo_channel",
    "host_python_version",
]

#: The classic conda build prefix placeholder; rattler replaces it with the target prefix at link time.
PREFIX_PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"
#: 2023-11-14T22:13:20Z in milliseconds, the unit conda uses in index.json/repodata.json.
DEFAULT_TIMESTAMP = 1_700_000_000_000
#: mtime written into every archive member (seconds); fixed so archives are byte-identical across rebuilds.
_ARCHIVE_MTIME = 1_700_000_000
_ZIP_DATE = (2023, 11, 14, 22, 13, 20)
_SUBDIR_PLATFORM_ARCH = {
    "linux-64": ("linux", "x86_64"),
    "linux-aarch64": ("linux", "aarch64"),
    "osx-64": ("osx", "x86_64"),
    "osx-arm64": ("osx", "arm64"),
    "win-64": ("win", "x86_64"),
}

FileContent = str | bytes


def host_python_version() -> str:
    """The running interpreter's version as ``X.Y.Z``."""
    return "{}.{}.{}".format(*sys.version_info[:3])


@dataclass(frozen=True)
class BuiltPackage:
    """One archive written by :class:`ChannelFactory`."""

    name: str
    version: str
    build: str
    build_number: int
    subdir: str
    filename: str
    path: Path
    #: The repodata record (index.json plus md5, sha256, size).
    record: dict[str, object]

    @property
    def sha256(self) -> str:
        return str(self.record["sha256"])

    @property
    def md5(self) -> str:
        return str(self.record["md5"])

    @property
    def dist_name(self) -> str:
        return f"{self.name}-{self.version}-{self.build}"


@dataclass
class _Member:
    path: str
    data: bytes = b""
    mode: int = 0o644
    symlink_target: str | None = None


@dataclass
class _PathEntry:
    path: str
    path_type: str
    sha256: str | None = None
    size: int | None = None
    placeholder: str | None = None
    file_mode: str | None = None


def _to_bytes(content: FileContent) -> bytes:
    return content.encode() if isinstance(content, str) else content


def _json_bytes(obj: object) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def _tar_bytes(members: Iterable[_Member]) -> bytes:
    """An uncompressed tar of ``members`` in the order given, with fixed owners and mtimes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for m in members:
            info = tarfile.TarInfo(m.path)
            info.mtime = _ARCHIVE_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if m.symlink_target is not None:
                info.type = tarfile.SYMTYPE
                info.linkname = m.symlink_target
                info.mode = 0o777
                tar.addfile(info)
            else:
                info.mode = m.mode
                info.size = len(m.data)
                tar.addfile(info, io.BytesIO(m.data))
    return buf.getvalue()


class ChannelFactory:
    """Fluent builder for a conda channel directory at ``root / name``.

    >>> ch = ChannelFactory(tmp_path, "demo")
    >>> ch.package("foo", "1.0", files={"share/foo.txt": "hi"}).write_repodata()  # doctest: +SKIP
    """

    def __init__(self, root: Path, name: str = "demo") -> None:
        self.name = name
        self.path = Path(root).resolve() / name
        self.path.mkdir(parents=True, exist_ok=True)
        self.packages: list[BuiltPackage] = []

    @property
    def url(self) -> str:
        """``file://`` URL of the channel (no trailing slash)."""
        return self.path.as_uri()

    def __repr__(self) -> str:
        return f"ChannelFactory({str(self.path)!r}, packages={len(self.packages)})"

    # ------------------------------------------------------------------ packages
    def package(self, name: str, version: str, **options: Any) -> ChannelFactory:
        """Write one package archive into ``<channel>/<subdir>/`` and remember its record; the options are
        :meth:`add_package`'s. Returns ``self`` for chaining; the :class:`BuiltPackage` is
        ``self.packages[-1]``."""
        self.add_package(name, version, **options)
        return self

    def add_package(
        self,
        name: str,
        version: str,
        build: str | None = None,
        build_number: int = 0,
        subdir: str = "noarch",
        depends: Sequence[str] = (),
        constrains: Sequence[str] = (),
        noarch: str | None = None,
        files: Mapping[str, FileContent] | None = None,
        entry_points: Sequence[str] = (),
        timestamp: int | None = DEFAULT_TIMESTAMP,
        fmt: str = ".conda",
        track_features: str | Sequence[str] | None = None,
        prefix_files: Mapping[str, FileContent] | None = None,
        prefix_file_mode: str = "text",
        symlinks: Mapping[str, str] | None = None,
        license: str = "BSD-3-Clause",
        summary: str | None = None,
        features: str | None = None,
        extra_index: Mapping[str, object] | None = None,
        post_link: str | None = None,
        pre_unlink: str | None = None,
        menu: Mapping[str, object] | None = None,
        env_vars: Mapping[str, str] | None = None,
    ) -> BuiltPackage:
        """Write one package archive into ``<channel>/<subdir>/``, remember its record and return it.

        ``files`` are regular files (a ``#!`` first line or an ELF header makes them executable). For
        ``noarch="python"`` put modules under ``site-packages/`` and scripts under ``python-scripts/``;
        ``entry_points`` are ``"name = module:func"`` strings written to ``info/link.json``.
        ``prefix_files`` contain :data:`PREFIX_PLACEHOLDER` and are recorded in ``info/has_prefix`` and
        ``info/paths.json``.
        ``symlinks`` maps a path in the package to a link target (relative or absolute).
        ``post_link`` / ``pre_unlink`` are shell script bodies written where conda-build puts them
        (``bin/.<name>-post-link.sh``, ``bin/.<name>-pre-unlink.sh``); ``menu`` is a menuinst document
        (``Menu/<name>.json``); ``env_vars`` is written to ``etc/conda/env_vars.d/<name>.json``.
        """
        if fmt not in (".conda", ".tar.bz2"):
            raise ValueError(f"fmt must be '.conda' or '.tar.bz2', not {fmt!r}")
        if noarch is not None and subdir != "noarch":
            raise ValueError(f"noarch package {name} must live in subdir 'noarch', not {subdir!r}")
        if entry_points and noarch != "python":
            raise ValueError("entry_points need noarch='python'")
        if prefix_file_mode not in ("text", "binary"):
            raise ValueError("prefix_file_mode must be 'text' or 'binary'")
        if build is None:
            if noarch == "python":
                build = f"pyhd8ed1ab_{build_number}"
            else:
                digest = hashlib.sha1(f"{name}-{version}-{sorted(depends)}".encode()).hexdigest()[:7]
                build = f"h{digest}_{build_number}"

        members: dict[str, _Member] = {}
        entries: list[_PathEntry] = []
        has_prefix_lines: list[str] = []
        files = dict(files or {})
        for action, body in (("post-link", post_link), ("pre-unlink", pre_unlink)):
            if body is not None:
                files[f"bin/.{name}-{action}.sh"] = body
        if menu is not None:
            files[f"Menu/{name}.json"] = json.dumps(menu, indent=2, sort_keys=True) + "\n"
        if env_vars is not None:
            files[f"etc/conda/env_vars.d/{name}.json"] = json.dumps(dict(env_vars), indent=2) + "\n"

        for rel, content in sorted(files.items()):
            data = _to_bytes(content)
            mode = 0o755 if data.startswith((b"#!", b"\x7fELF")) else 0o644  # scripts and executables
            members[rel] = _Member(rel, data, mode)
            entries.append(_PathEntry(rel, "hardlink", hashlib.sha256(data).hexdigest(), len(data)))
        for rel, content in sorted((prefix_files or {}).items()):
            if rel in members:
                raise ValueError(f"{rel} given twice")
            data = _to_bytes(content)
            if PREFIX_PLACEHOLDER.encode() not in data:
                raise ValueError(f"prefix file {rel} does not contain {PREFIX_PLACEHOLDER}")
            mode = 0o755 if data.startswith(b"#!") or rel.startswith("bin/") else 0o644
            members[rel] = _Member(rel, data, mode)
            entries.append(
                _PathEntry(
                    rel,
                    "hardlink",
                    hashlib.sha256(data).hexdigest(),
                    len(data),
                    placeholder=PREFIX_PLACEHOLDER,
                    file_mode=prefix_file_mode,
                )
            )
            has_prefix_lines.append(f"{PREFIX_PLACEHOLDER} {prefix_file_mode} {rel}")
        for rel, target in sorted((symlinks or {}).items()):
            if rel in members:
                raise ValueError(f"{rel} given twice")
            members[rel] = _Member(rel, symlink_target=target)
            entries.append(_PathEntry(rel, "softlink"))
        entries.sort(key=lambda e: e.path)
        for rel in members:
            if rel.startswith(("info/", "/")) or ".." in rel.split("/"):
                raise ValueError(f"invalid package path {rel!r}")

        index: dict[str, object] = {
            "name": name,
            "version": version,
            "build": build,
            "build_number": build_number,
            "depends": list(depends),
            "license": license,
            "subdir": subdir,
        }
        if constrains:
            index["constrains"] = list(constrains)
        if timestamp is not None:
            index["timestamp"] = timestamp
        if noarch is not None:
            index["noarch"] = noarch
        elif subdir in _SUBDIR_PLATFORM_ARCH:
            index["platform"], index["arch"] = _SUBDIR_PLATFORM_ARCH[subdir]
        if track_features:
            tf = track_features if isinstance(track_features, str) else " ".join(track_features)
            index["track_features"] = tf
        if features:
            index["features"] = features
        if extra_index:
            index.update(extra_index)

        paths_json = {
            "paths": [self._paths_entry(e) for e in entries],
            "paths_version": 1,
        }
        info: dict[str, bytes] = {
            "info/index.json": _json_bytes(index),
            "info/paths.json": _json_bytes(paths_json),
            "info/files": "".join(f"{e.path}\n" for e in entries).encode(),
            "info/about.json": _json_bytes(
                {
                    "summary": summary or f"{name} test package built by cenv's channel factory",
                    "license": license,
                }
            ),
        }
        if has_prefix_lines:
            info["info/has_prefix"] = ("\n".join(has_prefix_lines) + "\n").encode()
        if noarch == "python":
            info["info/link.json"] = _json_bytes(
                {
                    "noarch": {"type": "python", "entry_points": list(entry_points)},
                    "package_metadata_version": 1,
                }
            )
        info_members = [_Member(p, d) for p, d in sorted(info.items())]
        pkg_members = [members[p] for p in sorted(members)]

        dist = f"{name}-{version}-{build}"
        filename = dist + fmt
        out_dir = self.path / subdir
        out_dir.mkdir(parents=True, exist_ok=True)
        if fmt == ".tar.bz2":
            payload = bz2.compress(_tar_bytes(info_members + pkg_members), compresslevel=9)
        else:
            payload = self._conda_bytes(dist, info_members, pkg_members)
        out = out_dir / filename
        out.write_bytes(payload)

        record = dict(index)
        record["md5"] = hashlib.md5(payload).hexdigest()
        record["sha256"] = hashlib.sha256(payload).hexdigest()
        record["size"] = len(payload)
        built = BuiltPackage(name, version, build, build_number, subdir, filename, out, record)
        self.packages = [p for p in self.packages if not (p.subdir == subdir and p.filename == filename)]
        self.packages.append(built)
        return built

    @staticmethod
    def _paths_entry(e: _PathEntry) -> dict[str, object]:
        d: dict[str, object] = {"_path": e.path, "path_type": e.path_type}
        if e.sha256 is not None:
            d["sha256"] = e.sha256
        if e.size is not None:
            d["size_in_bytes"] = e.size
        if e.placeholder is not None:
            d["prefix_placeholder"] = e.placeholder
            d["file_mode"] = e.file_mode
        return d

    @staticmethod
    def _conda_bytes(dist: str, info_members: list[_Member], pkg_members: list[_Member]) -> bytes:
        cctx = zstandard.ZstdCompressor(level=10, threads=0)
        parts = [
            ("metadata.json", json.dumps({"conda_pkg_format_version": 2}).encode()),
            (f"info-{dist}.tar.zst", cctx.compress(_tar_bytes(info_members))),
            (f"pkg-{dist}.tar.zst", cctx.compress(_tar_bytes(pkg_members))),
        ]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
            for arcname, data in parts:
                zi = zipfile.ZipInfo(arcname, date_time=_ZIP_DATE)
                zi.compress_type = zipfile.ZIP_STORED
                zi.external_attr = 0o644 << 16
                zi.create_system = 3
                zf.writestr(zi, data)
        return buf.getvalue()

    # ------------------------------------------------------------------ python
    def python_wrapper(
        self,
        version: str | None = None,
        subdir: str = "linux-64",
        build: str | None = None,
        build_number: int = 0,
        depends: Sequence[str] | None = None,
        fmt: str = ".conda",
        timestamp: int | None = DEFAULT_TIMESTAMP,
    ) -> ChannelFactory:
        """Add a ``python`` package that wraps the host interpreter the way a venv does.

        The archive holds ``pyvenv.cfg`` (``home`` = the host's ``sys.base_prefix/bin``), ``bin/pythonX.Y``
        as an absolute symlink to the host interpreter, ``bin/python`` and ``bin/python3`` as relative
        symlinks to it, and an (almost) empty ``lib/pythonX.Y/site-packages``. ``PREFIX/bin/python`` is then
        a working interpreter whose ``sys.prefix`` is the environment, and noarch python packages linked into
        it are importable.
        Only valid on the host that built it; ``version`` must match the host's ``X.Y``.
        """
        host_xy = "{}.{}".format(*sys.version_info[:2])
        version = version or host_python_version()
        if ".".join(version.split(".")[:2]) != host_xy:
            raise ValueError(f"python wrapper version {version} must match the host interpreter {host_xy}")
        if os.name != "posix":
            raise RuntimeError("python_wrapper supports POSIX hosts only")
        home = Path(sys.base_prefix) / "bin"
        host_exe = home / f"python{host_xy}"
        if not host_exe.exists():
            raise RuntimeError(f"host interpreter not found at {host_exe}")
        py_tag = "cp" + host_xy.replace(".", "")
        if build is None:
            build = f"h0cenv0_{build_number}_{py_tag}"
        if depends is None:
            depends = ["__glibc >=2.17,<3.0.a0"] if subdir.startswith("linux") else []
        pyvenv_cfg = (
            f"home = {home}\n"
            "include-system-site-packages = false\n"
            f"version = {'.'.join(str(v) for v in sys.version_info[:3])}\n"
        )
        self.add_package(
            "python",
            version,
            build=build,
            build_number=build_number,
            subdir=subdir,
            depends=depends,
            constrains=[f"python_abi {host_xy}.* *_{py_tag}"],
            files={
                "pyvenv.cfg": pyvenv_cfg,
                f"lib/python{host_xy}/site-packages/README.cenv": (
                    "site-packages of a cenv test environment wrapping the host interpreter\n"
                ),
            },
            symlinks={
                f"bin/python{host_xy}": str(host_exe),
                "bin/python3": f"python{host_xy}",
                "bin/python": f"python{host_xy}",
            },
            fmt=fmt,
            timestamp=timestamp,
            license="Python-2.0",
            summary="Host interpreter wrapped like a venv (test fixture)",
        )
        return self

    # ------------------------------------------------------------------ repodata
    def write_repodata(self, zst: bool = False) -> ChannelFactory:
        """Write ``<subdir>/repodata.json`` for every subdir with packages, plus empty ``noarch`` and
        ``linux-64`` indexes when absent. With ``zst=True`` also write ``repodata.json.zst``."""
        by_subdir: dict[str, list[BuiltPackage]] = {}
        for pkg in self.packages:
            by_subdir.setdefault(pkg.subdir, []).append(pkg)
        for sd in ("noarch", "linux-64"):
            by_subdir.setdefault(sd, [])
        for existing in sorted(p.name for p in self.path.iterdir() if p.is_dir()):
            by_subdir.setdefault(existing, [])
        for sd, pkgs in sorted(by_subdir.items()):
            repodata: dict[str, object] = {
                "info": {"subdir": sd},
                "packages": {
                    p.filename: p.record
                    for p in sorted(pkgs, key=lambda p: p.filename)
                    if p.filename.endswith(".tar.bz2")
                },
                "packages.conda": {
                    p.filename: p.record
                    for p in sorted(pkgs, key=lambda p: p.filename)
                    if p.filename.endswith(".conda")
                },
                "removed": [],
                "repodata_version": 1,
            }
            out_dir = self.path / sd
            out_dir.mkdir(parents=True, exist_ok=True)
            data = _json_bytes(repodata)
            (out_dir / "repodata.json").write_bytes(data)
            zst_path = out_dir / "repodata.json.zst"
            if zst:
                zst_path.write_bytes(zstandard.ZstdCompressor(level=10, threads=0).compress(data))
            elif zst_path.exists():
                zst_path.unlink()  # never leave a stale compressed copy beside fresh repodata
        return self

    def record(self, name: str, version: str | None = None, build: str | None = None) -> BuiltPackage:
        """The last package written with this name (and version/build when given)."""
        for p in reversed(self.packages):
            if p.name == name and version in (None, p.version) and build in (None, p.build):
                return p
        raise KeyError(f"no package {name} {version or ''} {build or ''}".strip())


@dataclass(frozen=True)
class DemoContents:
    """What :func:`build_demo_channel` puts in the channel (for tests and docs)."""

    python_version: str = field(default_factory=host_python_version)
    hello_versions: tuple[str, ...] = ("0.1.0", "0.2.0")
    #: noarch python package with console script ``hello-cenv`` and module ``hello_cenv``.
    hello: str = "hello-cenv"
    #: compiled-style linux-64 package whose ``bin/cenv-demo-tool`` holds the prefix placeholder.
    tool: str = "cenv-demo-tool"
    #: dependency chain: cenv-demo-app -> cenv-demo-tool -> libcenv-mid -> libcenv-base
    chain: tuple[str, ...] = ("cenv-demo-app", "cenv-demo-tool", "libcenv-mid", "libcenv-base")
    #: package with a cpu build (build number 0) and a cuda build (build number 1, depends on __cuda).
    accel: str = "cenv-accel"


DEMO = DemoContents()


def build_demo_channel(root: Path, name: str = "demo", zst: bool = False) -> Path:
    """Create a small realistic channel at ``root / name`` and return its path.

    Contents (see :data:`DEMO`): ``python`` wrapping the host interpreter; ``hello-cenv`` 0.1.0 and 0.2.0
    (noarch python, console script ``hello-cenv``, module ``hello_cenv``); ``cenv-demo-app`` ->
    ``cenv-demo-tool`` -> ``libcenv-mid`` -> ``libcenv-base`` (``libcenv-base`` is the ``.tar.bz2``;
    ``cenv-demo-tool`` has ``bin/cenv-demo-tool`` with a prefix placeholder); ``cenv-accel`` 1.0 with a
    ``cpu_0`` and a ``cuda12_1`` build (the latter depends on ``__cuda >=12``).
    """
    ch = ChannelFactory(root, name)
    ch.python_wrapper()
    for i, ver in enumerate(DEMO.hello_versions):
        ch.package(
            "hello-cenv",
            ver,
            noarch="python",
            depends=["python >=3.8"],
            files={
                "site-packages/hello_cenv/__init__.py": (
                    f'"""Demo package installed by cenv."""\n\n__version__ = "{ver}"\n\n\n'
                    "def main() -> None:\n"
                    "    import sys\n\n"
                    f'    print(f"hello from cenv {ver} in {{sys.prefix}}")\n'
                ),
                f"site-packages/hello_cenv-{ver}.dist-info/METADATA": (
                    f"Metadata-Version: 2.1\nName: hello-cenv\nVersion: {ver}\n"
                ),
                f"site-packages/hello_cenv-{ver}.dist-info/INSTALLER": "conda\n",
            },
            entry_points=["hello-cenv = hello_cenv:main"],
            timestamp=DEFAULT_TIMESTAMP + i * 86_400_000,
        )
    ch.package(
        "libcenv-base",
        "1.0.0",
        subdir="linux-64",
        fmt=".tar.bz2",
        files={
            "lib/libcenv-base.txt": "libcenv-base 1.0.0\n",
            "include/cenv_base.h": "#define CENV_BASE 1\n",
        },
        depends=["__glibc >=2.17,<3.0.a0"],
    )
    ch.package(
        "libcenv-mid",
        "2.1.0",
        subdir="linux-64",
        depends=["libcenv-base >=1.0,<2.0a0"],
        files={"lib/libcenv-mid.txt": "libcenv-mid 2.1.0\n"},
        symlinks={"lib/libcenv-mid.so": "libcenv-mid.txt"},
    )
    ch.package(
        "cenv-demo-tool",
        "1.3.0",
        subdir="linux-64",
        depends=["libcenv-mid >=2.0"],
        prefix_files={
            "bin/cenv-demo-tool": (
                "#!/bin/sh\n"
                f'PREFIX="{PREFIX_PLACEHOLDER}"\n'
                'echo "cenv-demo-tool 1.3.0 installed in $PREFIX"\n'
            ),
            "etc/cenv-demo-tool.conf": f"data_dir = {PREFIX_PLACEHOLDER}/share/cenv-demo-tool\n",
        },
        files={"share/cenv-demo-tool/data.txt": "demo data\n"},
    )
    ch.package(
        "cenv-demo-app",
        "0.5.0",
        noarch="python",
        depends=["python >=3.8", "hello-cenv >=0.2", "cenv-demo-tool >=1.3"],
        files={"site-packages/cenv_demo_app.py": "import hello_cenv\n\nNAME = 'cenv-demo-app'\n"},
    )
    ch.package(
        "cenv-accel",
        "1.0.0",
        build="cpu_h1a2b3c4_0",
        build_number=0,
        subdir="linux-64",
        files={"share/cenv-accel/variant": "cpu\n"},
    )
    ch.package(
        "cenv-accel",
        "1.0.0",
        build="cuda12_h1a2b3c4_1",
        build_number=1,
        subdir="linux-64",
        depends=["__cuda >=12"],
        files={"share/cenv-accel/variant": "cuda\n"},
    )
    ch.write_repodata(zst=zst)
    return ch.path
