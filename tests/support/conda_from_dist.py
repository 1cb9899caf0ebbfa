"""Conda packages made from the Python distributions installed in the running interpreter (their wheels'
contents, as RECORD lists them), for tests that need real PyPI software as conda packages offline.

A pure-Python wheel becomes a ``noarch: python`` package (files under ``site-packages/``); a platform wheel a
package for the host's subdir whose files sit under ``lib/pythonX.Y/site-packages`` and whose binary data
scripts (``uv``) go to ``bin/``. Dependencies come from ``Requires-Dist`` with markers evaluated for this
interpreter, limited to what is installed here, under their conda-forge names.

This module imports nothing from ``cenv``.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
import sys
from collections.abc import Iterable

from packaging.markers import default_environment
from packaging.requirements import Requirement
from tests.support.channel_factory import BuiltPackage, ChannelFactory

__all__ = ["add_installed", "closure", "conda_name"]

# PyPI name (normalised) -> conda-forge name, where they differ.
_CONDA_NAMES = {"ruamel-yaml": "ruamel.yaml", "ruamel-yaml-clib": "ruamel.yaml.clib"}


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def conda_name(pypi_name: str) -> str:
    normal = _normalize(pypi_name)
    return _CONDA_NAMES.get(normal, normal)


def _installed() -> dict[str, metadata.Distribution]:
    found: dict[str, metadata.Distribution] = {}
    for dist in metadata.distributions():
        found.setdefault(_normalize(dist.metadata["Name"]), dist)
    return found


def _requirements(dist: metadata.Distribution, installed: dict[str, metadata.Distribution]) -> list[str]:
    environment = {**default_environment(), "extra": ""}
    names = []
    for line in dist.requires or []:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        if _normalize(requirement.name) in installed:
            names.append(_normalize(requirement.name))
    return sorted(set(names))


def closure(roots: Iterable[str]) -> list[str]:
    """The installed distributions `roots` need (themselves included), as normalised PyPI names."""
    installed = _installed()
    seen: set[str] = set()
    todo = [_normalize(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name not in installed:
            raise KeyError(f"{name} is not installed in {sys.prefix}")
        seen.add(name)
        todo.extend(_requirements(installed[name], installed))
    return sorted(seen)


def _is_pure(dist: metadata.Distribution) -> bool:
    wheel = dist.read_text("WHEEL") or ""
    return "Root-Is-Purelib: true" in wheel


def add_installed(channel: ChannelFactory, pypi_name: str, subdir: str = "linux-64") -> BuiltPackage:
    """Write the installed distribution `pypi_name` into `channel` as a conda package and return it."""
    installed = _installed()
    dist = installed[_normalize(pypi_name)]
    xy = "{}.{}".format(*sys.version_info[:2])
    pure = _is_pure(dist)
    site = "site-packages" if pure else f"lib/python{xy}/site-packages"
    files: dict[str, bytes] = {}
    for entry in dist.files or []:
        rel = str(entry).replace("\\", "/")
        if "__pycache__" in rel or rel.endswith((".pyc", "direct_url.json", "RECORD")):
            continue
        data = entry.locate().read_bytes() if entry.locate().is_file() else None
        if data is None:
            continue
        if rel.startswith("../"):
            if pure or data.startswith(b"#!") or not rel.startswith("../../../bin/"):
                continue  # console scripts name this interpreter; only binaries (uv) travel
            files["bin/" + rel.rsplit("/", 1)[-1]] = data
            continue
        files[f"{site}/{rel}"] = data
    depends = [conda_name(n) for n in _requirements(dist, installed)]
    depends.append("python >=3.8" if pure else f"python {xy}.*")
    return channel.add_package(
        conda_name(dist.metadata["Name"]),
        dist.version,
        subdir="noarch" if pure else subdir,
        noarch="python" if pure else None,
        depends=depends,
        files=files,
        license=dist.metadata.get("License-Expression") or "unknown",
        summary=f"{dist.metadata['Name']} {dist.version} from its installed wheel (test package)",
    )
