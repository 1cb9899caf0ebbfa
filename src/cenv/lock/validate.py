"""Every field of a lock read from a file checked before anything uses it (issue #20: a lockfile, an
`@EXPLICIT` file, a pack's lockfile or a pixi.lock may come from a stranger's pull request).

One place, used by every reader in `cenv.lock`: platforms are known conda subdirs; conda file names are
archive names (`name-version-build.conda|.tar.bz2`); pip names are PEP 508 names; URLs use an allowed scheme
(or are plain paths); no field begins with `-` (it would read as an option to the next tool); hashes are hex
of the right length. The rules are data (`RULES`), tested as a matrix. A refused field is a `LockfileError`
that names the file, the line where the reader knows it, the package and the reason.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from cenv.errors import LockfileError
from cenv.lock.models import LockedPackage, Lockfile
from cenv.platforms import KNOWN_PLATFORMS

__all__ = [
    "ALLOWED_SCHEMES",
    "check_explicit_platform",
    "check_lockfile",
    "check_platform",
    "package_problem",
    "url_problem",
]

ALLOWED_SCHEMES = frozenset(
    {"https", "http", "file", "s3", "oci", "git+https", "git+http", "git+ssh", "git+file"}
)
_PLATFORMS = frozenset(KNOWN_PLATFORMS)
# conda names (rattler's PackageName: letters, digits, `_-.`; `+` occurs in old channels)
_CONDA_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")
# PEP 508 names (packaging.utils: `^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$`, case-insensitive)
_PIP_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
# versions and build strings: no path separator, no space or control character, not an option
_WORD = re.compile(r"[A-Za-z0-9_.+!*]+(?:-[A-Za-z0-9_.+!*]+)*")
_ARCHIVE = re.compile(
    r"[A-Za-z0-9_][^/\\\x00-\x20]*-[^/\\\x00-\x20-]+-[^/\\\x00-\x20-]+(?:\.conda|\.tar\.bz2)"
)
_HEX = {"md5": re.compile(r"[0-9a-fA-F]{32}"), "sha256": re.compile(r"[0-9a-fA-F]{64}")}
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_VCS_PREFIX = re.compile(r"[A-Za-z]+\+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX = 4096


def check_platform(value: str) -> str | None:
    """Why `value` is not a platform a lock may name (None when it is one)."""
    if value not in _PLATFORMS:
        return "not a known conda platform (e.g. `linux-64`, `osx-arm64`, `win-64`)"
    return None


def url_problem(url: str) -> str | None:
    """Why `url` may not be fetched or handed to a tool (None when it may)."""
    if not url:
        return "empty"
    if len(url) > _MAX:
        return f"longer than {_MAX} characters"
    if url.startswith("-"):
        return "begins with `-` (a tool would read it as an option)"
    if _CONTROL.search(url):
        return "holds a control character"
    try:
        urllib.parse.urlsplit(url)
    except ValueError as exc:  # `https://]host/...`: "Invalid IPv6 URL"
        return f"not a valid URL ({exc})"
    scheme = _SCHEME.match(url)
    if scheme is not None and len(scheme.group(1)) > 1:  # `C:\...` is a Windows path, not a scheme
        name = scheme.group(1).lower()
        if name not in ALLOWED_SCHEMES:
            allowed = ", ".join(sorted(ALLOWED_SCHEMES))
            return f"scheme `{name}` is not allowed (allowed: {allowed}, or a plain path)"
        rest = url[scheme.end() :]
        if not rest.startswith("//") or rest[2:].startswith("-"):
            return f"`{name}:` is not followed by `//` and a host or path"
        return None
    if _VCS_PREFIX.match(url):
        return "a VCS prefix without `://` (e.g. `git+https://host/repo@COMMIT`)"
    return None


def _archive_problem(url: str) -> str | None:
    path = urllib.parse.urlsplit(url).path if "://" in url else url
    name = urllib.parse.unquote(path.rstrip("/").rsplit("/", 1)[-1])
    if len(name) > 512 or not _ARCHIVE.fullmatch(name):
        return "does not end in a conda package file name (`name-version-build.conda` or `.tar.bz2`)"
    return None


def _word_problem(value: str) -> str | None:
    if len(value) > 256:
        return "longer than 256 characters"
    if value.startswith("-"):
        return "begins with `-`"
    return None if _WORD.fullmatch(value) else "holds a space, a path separator or another odd character"


# field -> check; each returns the reason a value is refused, or None
RULES: dict[str, Callable[[LockedPackage], str | None]] = {
    "platform": lambda p: check_platform(p.platform),
    "name": lambda p: (
        None
        if (_PIP_NAME if p.manager == "pip" else _CONDA_NAME).fullmatch(p.name) and len(p.name) <= 256
        else "not a valid PEP 508 name"
        if p.manager == "pip"
        else "not a valid conda package name"
    ),
    "version": lambda p: _word_problem(p.version),
    "build": lambda p: None if p.build is None or p.build == "" else _word_problem(p.build),
    "url": lambda p: url_problem(p.url) or (_archive_problem(p.url) if p.manager == "conda" else None),
    "source.url": lambda p: None if p.source is None else url_problem(p.source.url),
    "hash.md5": lambda p: (
        None if p.hash.md5 is None or _HEX["md5"].fullmatch(p.hash.md5) else "not 32 hexadecimal digits"
    ),
    "hash.sha256": lambda p: (
        None
        if p.hash.sha256 is None or _HEX["sha256"].fullmatch(p.hash.sha256)
        else "not 64 hexadecimal digits"
    ),
    "category": lambda p: "begins with `-`" if p.category.startswith("-") else None,
    "dependencies": lambda p: next(
        (f"`{k[:60]}` begins with `-`" for k in p.dependencies if k.startswith("-")), None
    ),
}


def package_problem(package: LockedPackage) -> tuple[str, str] | None:
    """(field, reason) of the first field of `package` that is refused, or None."""
    for name, rule in RULES.items():
        reason = rule(package)
        if reason is not None:
            return name, reason
    return None


def _value(package: LockedPackage, field: str) -> str:
    value: object = package
    for part in field.split("."):
        value = getattr(value, part, "")
    return value if isinstance(value, str) else ""


def _line_of(text: str | None, field: str, value: str) -> int | None:
    """The first line of `text` that holds `field:` and `value` (a YAML reader keeps no line numbers)."""
    if not text or not value:
        return None
    key = field.rsplit(".", 1)[-1] + ":"
    for number, line in enumerate(text.splitlines(), start=1):
        if value in line and key in line:
            return number
    for number, line in enumerate(text.splitlines(), start=1):
        if value in line:
            return number
    return None


def _brief(value: str, limit: int = 80) -> str:
    value = _CONTROL.sub("?", value)
    return value if len(value) <= limit else value[: limit - 3] + "..."


def check_lockfile(lock: Lockfile, path: Path, text: str | None = None, kind: str = "lockfile") -> None:
    """Raise a `LockfileError` (file:line, package, field, reason) for the first refused field of `lock`."""
    for platform in lock.metadata.platforms:
        reason = check_platform(platform)
        if reason is not None:
            where = _where(path, _line_of(text, "platforms", platform))
            raise _refused(where, "metadata.platforms", platform, reason, kind)
    for channel in lock.metadata.channels:
        if channel.url.startswith("-") or _CONTROL.search(channel.url):
            where = _where(path, _line_of(text, "url", channel.url))
            raise _refused(
                where, "metadata.channels", channel.url, "begins with `-` or holds a control character", kind
            )
    for package in lock.package:
        problem = package_problem(package)
        if problem is None:
            continue
        field, reason = problem
        value = _value(package, field)
        where = _where(path, _line_of(text, field, value))
        label = f"package `{_brief(package.name, 60)}` ({_brief(package.platform, 30)})"
        raise _refused(where, f"{label} `{field}`", value, reason, kind)


def check_explicit_platform(value: str, path: Path, line: int) -> None:
    reason = check_platform(value)
    if reason is not None:
        raise _refused(f"{path}:{line}", "`# platform:`", value, reason, "explicit file")


def _where(path: Path, line: int | None) -> str:
    return f"{path}:{line}" if line is not None else str(path)


def _refused(where: str, field: str, value: str, reason: str, kind: str) -> LockfileError:
    return LockfileError(
        f"{kind} {where}: {field} `{_brief(value)}` is refused: {reason}",
        hints=[
            "a lockfile from someone else is untrusted input: cenv uses no field it cannot check; "
            "if the file is yours, lock again with `cenv lock`"
        ],
    )
