"""Build real wheels and a PEP 503 ``simple/`` index for pip-stage tests.

Wheels are real zip files with ``METADATA``, ``WHEEL`` and a ``RECORD`` that lists every member with its
sha256, so ``uv pip install`` installs them. Output is deterministic (fixed zip dates, sorted members), so
building the same wheel twice gives the same sha256.

The index is a directory tree: ``<root>/simple/index.html``, ``<root>/simple/<name>/index.html`` whose links
point at ``<root>/files/<wheel>#sha256=...``. It works as a ``file://`` index and over HTTP (the server must
serve a directory's ``index.html`` as ``text/html``: see :class:`WheelIndexServer`). The wheels directory
also works with ``--find-links``.

This module imports nothing from ``cenv``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.http_server import ChannelServer, _Handler

__all__ = ["BuiltWheel", "WheelIndex", "WheelIndexServer", "build_wheel", "normalize"]

_ZIP_DATE = (2023, 11, 14, 22, 13, 20)


def normalize(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _wheel_name(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name)


@dataclass(frozen=True)
class BuiltWheel:
    name: str  # as given, e.g. "needs-numpy"
    version: str  # e.g. "2.3.0+cu121"
    tag: str  # e.g. "py3-none-any"
    path: Path
    sha256: str
    requires: tuple[str, ...] = ()

    @property
    def filename(self) -> str:
        return self.path.name

    @property
    def project(self) -> str:
        return normalize(self.name)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def build_wheel(
    out_dir: Path,
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    tag: str = "py3-none-any",
    requires_python: str | None = None,
    files: dict[str, str] | None = None,
) -> BuiltWheel:
    """Write a real, installable wheel ``<name>-<version>-<tag>.whl`` into ``out_dir``.

    By default it holds one module, ``<name>/__init__.py``, that records the version and the tag, so a test
    can import it and see which flavour got installed.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    dist = _wheel_name(name)
    module = dist.lower()
    dist_info = f"{dist}-{version}.dist-info"
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if requires_python:
        metadata.append(f"Requires-Python: {requires_python}")
    metadata.extend(f"Requires-Dist: {req}" for req in requires)
    root_is_purelib = "true" if tag.endswith("-none-any") else "false"
    members: dict[str, bytes] = {}
    default = {f"{module}/__init__.py": f"VERSION = {version!r}\nTAG = {tag!r}\n"}
    for member_path, text in (files or default).items():
        members[member_path] = text.encode()
    members[f"{dist_info}/METADATA"] = ("\n".join(metadata) + "\n\n").encode()
    members[f"{dist_info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: cenv-tests\nRoot-Is-Purelib: {root_is_purelib}\nTag: {tag}\n\n"
    ).encode()
    record_path = f"{dist_info}/RECORD"
    record = "".join(f"{p},{_record_hash(d)},{len(d)}\n" for p, d in sorted(members.items()))
    members[record_path] = (record + f"{record_path},,\n").encode()
    path = out_dir / f"{dist}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member in sorted(members, key=lambda m: (m.startswith(dist_info), m)):
            info = zipfile.ZipInfo(member, date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, members[member])
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    return BuiltWheel(name=name, version=version, tag=tag, path=path, sha256=sha256, requires=tuple(requires))


@dataclass
class WheelIndex:
    """Wheels under ``<root>/files`` and a PEP 503 index under ``<root>/simple``.

    >>> index = WheelIndex(tmp_path / "pypi")                 # doctest: +SKIP
    >>> index.add("needs-numpy", "1.0", requires=["numpy>=1.20"])
    >>> index.write()
    >>> index.simple_url                                       # file:///.../pypi/simple
    """

    root: Path
    simple_subdir: str = "simple"  # e.g. "cu121" for a PyTorch-style `<root>/<label>/` index
    wheels: list[BuiltWheel] = field(default_factory=list)

    @property
    def files_dir(self) -> Path:
        return self.root / "files"

    @property
    def simple_dir(self) -> Path:
        return self.root / self.simple_subdir

    @property
    def simple_url(self) -> str:
        """``file://`` URL of the PEP 503 index (``--index-url``)."""
        return self.simple_dir.as_uri()

    def add(self, name: str, version: str, **kwargs: object) -> BuiltWheel:
        wheel = build_wheel(self.files_dir, name, version, **kwargs)  # type: ignore[arg-type]
        self.wheels = [w for w in self.wheels if w.path != wheel.path] + [wheel]
        return wheel

    def extend(self, wheels: Iterable[BuiltWheel]) -> None:
        for wheel in wheels:
            self.wheels.append(wheel)

    def write(self) -> WheelIndex:
        """(Re)write ``simple/``: one page per project with ``#sha256=`` fragments."""
        by_project: dict[str, list[BuiltWheel]] = {}
        for wheel in self.wheels:
            by_project.setdefault(wheel.project, []).append(wheel)
        self.simple_dir.mkdir(parents=True, exist_ok=True)
        links = "".join(f'    <a href="{p}/">{p}</a>\n' for p in sorted(by_project))
        (self.simple_dir / "index.html").write_text(_page("Simple index", links), encoding="utf-8")
        for project, wheels in by_project.items():
            rows = []
            for wheel in sorted(wheels, key=lambda w: w.filename):
                rel = f"../../files/{wheel.filename}"
                href = html.escape(f"{rel}#sha256={wheel.sha256}")
                rows.append(f'    <a href="{href}">{html.escape(wheel.filename)}</a><br/>\n')
            page = self.simple_dir / project / "index.html"
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text(_page(f"Links for {project}", "".join(rows)), encoding="utf-8")
        return self


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html>\n  <head><meta name="pypi:repository-version" content="1.0">'
        f"<title>{html.escape(title)}</title></head>\n  <body>\n{body}  </body>\n</html>\n"
    )


class _IndexHandler(_Handler):
    def send_header(self, keyword: str, value: str) -> None:
        path = self.path.split("?", 1)[0]
        if keyword.lower() == "content-type" and (path.endswith("/") or path.endswith(".html")):
            value = "text/html; charset=utf-8"  # uv refuses an index page served as octet-stream
        super().send_header(keyword, value)


class WheelIndexServer(ChannelServer):
    """:class:`ChannelServer` that serves a PEP 503 index: a directory URL (``/simple/numpy/``) gets its
    ``index.html`` as ``text/html``. Counters and failure switches work as in the channel server.
    """

    def start(self) -> WheelIndexServer:
        super().start()
        assert self._server is not None
        self._server.RequestHandlerClass = _IndexHandler  # no request can arrive before start() returns
        return self

    def _resolve(self, path: str) -> Path | None:
        if path.endswith("/"):
            return super()._resolve(path + "index.html")
        return super()._resolve(path)
