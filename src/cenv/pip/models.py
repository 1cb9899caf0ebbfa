"""What the pip stage takes and gives: the request for one platform, the resolved packages, a known graph."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from cenv.pip.lines import PipLine
from cenv.virtual_packages import VirtualPackages

Source = Literal["index", "url", "git", "path"]


@dataclass(frozen=True)
class PipRequest:
    """Everything the PyPI stage needs for one platform; no I/O happens until :func:`resolve_pip`."""

    platform: str  # conda subdir: linux-64, linux-aarch64, osx-64, osx-arm64, win-64, win-arm64
    python_version: str  # the python the conda solve chose, e.g. "3.11.7"
    requirements: tuple[str, ...]  # the spec's pip lines for this platform, as written
    conda_provided: Mapping[str, str]  # PyPI name -> version of every python distribution conda provides
    virtual_packages: VirtualPackages
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    pytorch_index: str | None = None  # None: DEFAULT_PYTORCH_INDEX; `<root>/<label>` is a PEP 503 index
    torch_packages: tuple[str, ...] = ("torch", "torchvision", "torchaudio")  # () turns flavours off
    exclude_newer: datetime | None = None
    offline: bool = False
    known_graph: KnownGraph | None = None  # None: the one cenv's cache holds for this request, if any
    lines: tuple[PipLine, ...] = ()  # `requirements` with their file:line and folder; () when not known
    lock_dir: Path | None = None  # local paths are locked relative to it (None: absolute)
    index_where: Mapping[str, str] = field(default_factory=dict)  # index URL -> the spec's file:line

    def pip_lines(self) -> tuple[PipLine, ...]:
        return self.lines or tuple(PipLine(text) for text in self.requirements)


@dataclass(frozen=True)
class KnownGraph:
    """The dependency graph an earlier resolution of the same request found, and the artifacts it is for.

    When uv pins exactly these artifacts again (same names, versions and files) for the same request (pip
    lines, python, platform, conda pins, indexes), their metadata and so the graph are the same: it is
    reused instead of uv's second (`# via`) pass, which was most of the pip stage's cost in a warm re-lock.
    Any difference and the second pass runs as usual. cenv keeps the last one per request in its cache.
    """

    artifacts: frozenset[tuple[str, str, str]]  # (normalised name, version, URL without credentials)
    dependencies: Mapping[str, tuple[str, ...]]  # name -> the names it requires (conda-provided included)


@dataclass(frozen=True)
class PipPackage:
    """One resolved distribution: the exact artifact (credentials stripped from its URL)."""

    name: str  # normalised
    version: str
    url: str  # a git source is `git+URL@COMMIT`; a local path is relative to the lockfile (`./sub/pkg`)
    sha256: str  # "" for git sources and local directories (the commit, or nothing, pins them)
    dependencies: tuple[str, ...] = ()  # normalised names, conda-provided ones included
    requested: bool = False  # named by the spec's pip lines (or added as torch for torchvision/torchaudio)
    source: Source = "index"
    editable: bool = False
