"""Compile `.py` files to bytecode with the environment's own python, as conda does at link time.

conda compiles the `site-packages/*.py` files of noarch python packages (CompileMultiPycAction in
conda/core/path_actions.py, `compile_multiple_pyc` in conda/gateways/disk/create.py): one
`python -Wi -m compileall -q -l -i LIST -j 0` run in the prefix with prefix-relative paths, and records the
`.pyc` files that appeared. cenv does the same, and compiles the pip part's modules in the same run (one
interpreter start for both), so no `.pyc` carries the staging directory's path.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = ["Compilation", "compile_bytecode", "noarch_sources", "pip_sources", "pyc_path", "python_version"]

_TIMEOUT_S = 600


def pyc_path(py: str, python_version: str) -> str:
    """conda's `pyc_path`: `a/b.py` -> `a/__pycache__/b.cpython-311.pyc`."""
    major, minor = python_version.split(".")[:2]
    path = PurePosixPath(py)
    return str(path.parent / "__pycache__" / f"{path.stem}.cpython-{major}{minor}.pyc")


def python_version(records: Iterable[Mapping[str, Any]]) -> str | None:
    """`X.Y` of the environment's python package, or None when there is none."""
    for record in records:
        if record.get("name") == "python":
            parts = str(record.get("version", "")).split(".")
            if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
                return f"{parts[0]}.{parts[1]}"
    return None


def noarch_sources(record: Mapping[str, Any], site_packages: str) -> list[str]:
    """The `.py` files conda compiles for one record: a noarch python package's files in site-packages."""
    if record.get("noarch") != "python":
        return []
    head = site_packages.rstrip("/") + "/"
    return [f for f in record.get("files") or () if f.startswith(head) and f.endswith(".py")]


def pip_sources(prefix: Path, site_packages: str) -> list[str]:
    """Prefix-relative `.py` files of the packages installed by a Python installer (uv, pip): the
    `RECORD` of every dist-info whose `INSTALLER` is not conda."""
    root = prefix / site_packages
    found: list[str] = []
    try:
        infos = sorted(p for p in root.iterdir() if p.name.endswith(".dist-info"))
    except OSError:
        return found
    for info in infos:
        try:
            installer = (info / "INSTALLER").read_text(encoding="utf-8").strip()
            record = (info / "RECORD").read_text(encoding="utf-8")
        except OSError:
            continue
        if installer == "conda":
            continue
        for line in record.splitlines():
            name = line.split(",", 1)[0]
            if not name.endswith(".py") or name.startswith(("/", "..")) or "/../" in name:
                continue
            found.append(f"{site_packages.rstrip('/')}/{name}")
    return found


class Compilation:
    """One `compileall` run of prefix-relative sources with the environment's python, started at once;
    `wait()` returns the `.pyc` paths that exist afterwards. A file that does not compile (a Python 2
    leftover) is skipped, as conda skips it; a python that cannot run leaves the environment without
    bytecode, as it would be with conda."""

    def __init__(self, python: Path, prefix: Path, sources: Sequence[str], version: str) -> None:
        self.prefix = prefix
        self.expected = [pyc_path(s, version) for s in sources]
        self._process: subprocess.Popen[bytes] | None = None
        self._listing: str | None = None
        if not sources:
            return
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as listing:
            listing.write("".join(f"{s}\n" for s in sources))
        self._listing = listing.name
        command = [str(python), "-Wi", "-m", "compileall", "-q", "-l", "-i", listing.name, "-j", "0"]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        try:
            self._process = subprocess.Popen(
                command,
                cwd=prefix,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except OSError:
            self._cleanup()

    def _cleanup(self) -> None:
        if self._listing is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._listing)
            self._listing = None

    def wait(self) -> set[str]:
        try:
            if self._process is not None:
                try:
                    self._process.wait(timeout=_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
        finally:
            self._cleanup()
        return {pyc for pyc in self.expected if (self.prefix / pyc).is_file()}

    def cancel(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._cleanup()


def compile_bytecode(python: Path, prefix: Path, sources: Sequence[str], version: str) -> set[str]:
    """Compile prefix-relative `sources` with `python` (run inside `prefix`); the `.pyc` paths that exist."""
    return Compilation(python, prefix, sources, version).wait()
