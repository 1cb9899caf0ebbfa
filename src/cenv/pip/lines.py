"""The forms a `pip:` line takes, as conda's pip section passes them to pip, turned into lines uv reads the
same way from any working directory.

Relative paths (`.`, `./sub/pkg`, `-r requirements.txt`, `-c constraints.txt`, `file:../x`) are read against
the folder of the spec file the line came from, as conda does (it runs pip there). `-e git+URL#egg=NAME` is
resolved as the git requirement `NAME @ git+URL` (uv resolves git sources only as non-editable ones) and
installed editable at create from a checkout in `<prefix>/src/<name>`, as pip does.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cenv.errors import PipStageError
from cenv.pip.requirements import canonical

if TYPE_CHECKING:
    from packaging.requirements import Requirement

Kind = Literal["name", "url", "git", "path", "option", "include"]

_VCS = ("git+", "hg+", "svn+", "bzr+")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_INCLUDES = ("-r", "--requirement", "-c", "--constraint")
_EXTRAS = re.compile(r"^(?P<path>.*?)(?P<extras>\[[^\]]*\])?$")


@dataclass(frozen=True)
class PipLine:
    """A pip line as written, and where: `file:line` and the folder its relative paths are read against."""

    text: str
    where: str = ""
    base: str | None = None  # the spec file's folder; None: the current directory

    @property
    def base_dir(self) -> Path:
        return Path(self.base) if self.base else Path.cwd()


@dataclass(frozen=True)
class UvLine:
    """One pip line as uv reads it."""

    line: PipLine
    uv: str  # the line written into uv's requirements.in
    kind: Kind
    name: str | None = None  # canonical project name, when the line names one
    editable: bool = False
    path: str | None = None  # the absolute local path (`kind == "path"`)


def anchor(line: PipLine) -> UvLine:
    """`line` with its relative paths made absolute against `line.base`."""
    text = line.text.strip()
    editable = False
    for flag in ("-e", "--editable"):
        if text == flag or text.startswith((flag + " ", flag + "\t", flag + "=")):
            editable, text = True, text[len(flag) :].lstrip(" \t=").strip()
            break
    if not editable and text.startswith("-"):
        option, _, value = re.split(r"[\s=]", text, maxsplit=1)[0], "", ""
        value = text[len(option) :].lstrip(" \t=").strip()
        if option in _INCLUDES:
            if not value:
                raise PipStageError(f"{line.where}: `{option}` needs a file name".lstrip(": "))
            if _URL.match(value):
                return UvLine(line, f"{option} {value}", "include", path=value)
            target = _absolute(line, value)
            if not target.is_file():  # uv would say only "Error parsing included file ... at position 0"
                what = "is a folder, not a file" if target.is_dir() else "does not exist"
                raise PipStageError(
                    f"{_where(line)}`{line.text.strip()}`: {_shown(target)} {what}",
                    hints=[f"relative paths are read from the spec file's folder ({_shown(line.base_dir)})"],
                )
            return UvLine(line, f"{option} {target}", "include", path=str(target))
        return UvLine(line, text, "option")
    if not text:
        raise PipStageError(f"{_where(line)}`-e` needs a path or a VCS URL")
    if text.startswith(_VCS):
        name = _egg(text)
        egg = _egg_value(text)
        if egg is not None and not _PROJECT.fullmatch(egg):
            raise PipStageError(
                f"{_where(line)}`#egg={egg[:80]}` is not a project name",
                hints=["`#egg=` names the project (letters, digits, `.`, `_`, `-`), e.g. `#egg=mypkg`"],
            )
        if editable and name is None:
            raise PipStageError(
                f"{_where(line)}`-e {text}` names no project",
                hints=["add `#egg=NAME` to the URL, as pip requires for editable VCS requirements"],
            )
        uv = f"{name} @ {text}" if editable else text  # uv resolves git sources as non-editable only
        return UvLine(line, uv, "git" if text.startswith("git+") else "url", name, editable)
    requirement = _pep508(text)
    if requirement is not None:
        project = canonical(requirement.name)
        link = requirement.url
        if link is None:
            return UvLine(line, text, "name", project)
        if link.startswith(_VCS):
            return UvLine(line, text, "git" if link.startswith("git+") else "url", project, editable)
        if link.startswith("file:") and not link.startswith("file://"):
            local = _absolute(line, link[len("file:") :])
            _check_project(line, text, local)
            extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
            uv = f"{project}{extras} @ {local.as_uri()}"
            return UvLine(line, ("-e " if editable else "") + uv, "path", project, editable, str(local))
        if link.startswith("file://"):
            local = Path(url_path(link))
            return UvLine(line, ("-e " if editable else "") + text, "path", project, editable, str(local))
        return UvLine(line, text, "url", project, editable)
    if _URL.match(text):
        return UvLine(line, text, "url", _egg(text), editable)
    match = _EXTRAS.match(text)
    assert match is not None  # the pattern matches any text
    local = _absolute(line, match.group("path"))
    if not local.exists():
        raise PipStageError(
            f"{_where(line)}`{text}` is neither a requirement nor an existing path",
            hints=[f"relative paths are read from the spec file's folder ({_shown(line.base_dir)})"],
        )
    _check_project(line, text, local)
    uv = str(local) + (match.group("extras") or "")
    return UvLine(line, ("-e " if editable else "") + uv, "path", _project_name(local), editable, str(local))


def _check_project(line: PipLine, text: str, local: Path) -> None:
    if local.is_dir() and not any((local / f).is_file() for f in ("pyproject.toml", "setup.py", "setup.cfg")):
        raise PipStageError(
            f"{_where(line)}`{line.text.strip()}`: {_shown(local)} is not a Python project",
            hints=[
                "a local requirement is a folder with a pyproject.toml or setup.py, or a wheel or sdist",
                f"relative paths are read from the spec file's folder ({_shown(line.base_dir)})",
            ],
        )


def _project_name(folder: Path) -> str | None:
    """A local project's name as its pyproject.toml states it (for errors that name the line)."""
    from cenv.toml_compat import toml as tomllib

    try:
        data = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))
        return canonical(str(data["project"]["name"]))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError):
        return None


def url_path(url: str) -> str:
    from urllib.parse import urlsplit
    from urllib.request import url2pathname

    return url2pathname(urlsplit(url).path)


def lock_path(path: str, lock_dir: Path | None) -> str:
    """A local path as the lock records it: relative to the lockfile's folder (`./sub/pkg`, `../x`, `.`)."""
    if lock_dir is None:
        return Path(path).as_posix()
    try:
        relative = os.path.relpath(path, lock_dir)
    except ValueError:  # another drive (Windows)
        return Path(path).as_posix()
    relative = Path(relative).as_posix()
    return relative if relative == "." or relative.startswith("../") else f"./{relative}"


def _absolute(line: PipLine, path: str) -> Path:
    expanded = Path(os.path.expanduser(path))
    return Path(os.path.normpath(line.base_dir / expanded)) if not expanded.is_absolute() else expanded


def _egg_value(url: str) -> str | None:
    fragment = url.partition("#")[2]
    for part in fragment.split("&"):
        key, _, value = part.partition("=")
        if key == "egg" and value:
            return value.split("[")[0]
    return None


def _egg(url: str) -> str | None:
    value = _egg_value(url)
    return canonical(value) if value else None


# PEP 508 project names (packaging.utils): an `#egg=` value becomes a folder name (`<prefix>/src/<name>`)
_PROJECT = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")


def _pep508(text: str) -> Requirement | None:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        return Requirement(text)
    except InvalidRequirement:
        return None


def _where(line: PipLine) -> str:
    return f"{line.where}: " if line.where else ""


def _shown(path: Path) -> str:
    return str(path)
