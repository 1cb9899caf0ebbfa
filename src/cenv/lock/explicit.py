"""`@EXPLICIT` files: render one platform of a lock for conda/mamba/micromamba, and read them back.

Each package line is a URL with a checksum fragment. conda accepts `#<md5>` everywhere; conda >= 24.x,
micromamba and rattler also accept `#sha256:<hex>`, which is written only when a package has no md5.
Lines are in dependency order (dependencies first, ties broken by name) so that tools installing them
one by one never link a package before what it needs.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Sequence
from pathlib import Path

from cenv.errors import LockfileError
from cenv.lock.models import LockChannel, LockedPackage, Lockfile, LockMetadata, PackageHash
from cenv.lock.validate import check_explicit_platform, check_lockfile, url_problem
from cenv.redact import strip_credentials

__all__ = ["EXPLICIT_MARKER", "dependency_order", "explicit_from_text", "read_explicit", "render_explicit"]

EXPLICIT_MARKER = "@EXPLICIT"

_ARCHIVE_EXTENSIONS = (".conda", ".tar.bz2")
# conda's own pattern (conda/misc.py): URL, file name, optional `#md5`, `#sha256:hex` or `#<64 hex>`.
_URL_LINE = re.compile(
    r"^(?:(?P<base>.+)[/\\])?(?P<fn>[^/\\#]+(?:\.tar\.bz2|\.conda))"
    r"(?:#(?:(?P<md5>[0-9a-fA-F]{32})|(?:sha256:)?(?P<sha256>[0-9a-fA-F]{64})))?$"
)
_PLATFORM_HEADER = re.compile(r"^#\s*platform\s*:\s*(?P<platform>\S+)\s*$")
_PIP_HINT = (
    "# {count} pip package(s) of this lock are not included: install them afterwards with the output of "
    "`cenv export --format requirements`"
)


def _brief(text: str, limit: int = 120) -> str:
    """User text quoted in a message, on one line and cut short."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------- ordering

# conda's toposort drops python -> pip (conda-forge's python depends on pip, which depends on python).
_IGNORED_EDGES = frozenset({("python", "pip")})


def dependency_order(packages: Sequence[LockedPackage]) -> list[LockedPackage]:
    """`packages` with dependencies before dependents; ties broken by name.

    Dependencies outside `packages` (virtual packages, pip names) are ignored. Like conda, python's
    dependency on pip is ignored; other cycles are broken by emitting the waiting package with the
    fewest unmet dependencies first (then by name).
    If no package records any dependency (a lock read from an explicit file), the given order is kept.
    """
    if not any(p.dependencies for p in packages):
        return list(packages)
    by_name: dict[str, int] = {}
    for index, package in enumerate(packages):
        by_name.setdefault(package.name, index)
    unmet: list[int] = [0] * len(packages)
    dependents: list[list[int]] = [[] for _ in packages]
    for index, package in enumerate(packages):
        for dep in set(package.dependencies):
            if (package.name, dep) in _IGNORED_EDGES:
                continue
            target = by_name.get(dep)
            if target is not None and target != index:
                unmet[index] += 1
                dependents[target].append(index)

    ready = [(packages[i].name, i) for i in range(len(packages)) if unmet[i] == 0]
    heapq.heapify(ready)
    done = [False] * len(packages)
    result: list[LockedPackage] = []
    while len(result) < len(packages):
        if not ready:
            # a cycle: take the least-blocked package, then by name
            _, _, index = min((unmet[i], packages[i].name, i) for i in range(len(packages)) if not done[i])
            unmet[index] = 0
            ready.append((packages[index].name, index))
        _, index = heapq.heappop(ready)
        if done[index]:
            continue
        done[index] = True
        result.append(packages[index])
        for dependent in dependents[index]:
            if done[dependent]:
                continue
            unmet[dependent] -= 1
            if unmet[dependent] == 0:
                heapq.heappush(ready, (packages[dependent].name, dependent))
    return result


# ---------------------------------------------------------------- rendering


def _fragment(package: LockedPackage) -> str:
    if package.hash.md5:
        return f"#{package.hash.md5}"
    if package.hash.sha256:
        return f"#sha256:{package.hash.sha256}"
    return ""


def render_explicit(lock: Lockfile, platform: str, header_lines: Sequence[str] = ()) -> str:
    """The conda packages of `platform` as an `@EXPLICIT` file (text ending in a newline).

    `header_lines` become comment lines after `# platform:`. pip packages cannot be part of an explicit
    file; if there are any, a comment says so and how to get them.
    """
    if platform not in lock.platforms:
        known = ", ".join(f"`{_brief(p)}`" for p in lock.platforms[:20]) or "none"
        raise LockfileError(
            f"the lock has no packages for platform `{_brief(platform)}`",
            hints=[f"platforms in this lock: {known}"],
        )
    conda = lock.packages_for(platform, "conda")
    pip_count = len(lock.packages_for(platform, "pip"))
    lines = [f"# platform: {platform}"]
    for text in header_lines:
        for line in text.splitlines() or [""]:
            lines.append(line if line.startswith("#") else f"# {line}".rstrip())
    if pip_count:
        lines.append(_PIP_HINT.format(count=pip_count))
    lines.append(EXPLICIT_MARKER)
    lines.extend(strip_credentials(p.url) + _fragment(p) for p in dependency_order(conda))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- reading


def read_explicit(path: Path, *, platform: str | None = None) -> Lockfile:
    """An `@EXPLICIT` file as a one-platform `Lockfile` (file order kept, no dependency information).

    The platform comes from the `# platform:` header, else from the URLs' subdirs, else from `platform`.
    """
    from cenv.lock.io import read_lock_text

    path = Path(path)
    text = read_lock_text(path)
    return explicit_from_text(text, path, platform=platform)


def _split_filename(filename: str) -> tuple[str, str, str] | None:
    for ext in _ARCHIVE_EXTENSIONS:
        if filename.endswith(ext):
            stem = filename[: -len(ext)]
            break
    else:
        return None
    parts = stem.rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0], parts[1], parts[2]


def explicit_from_text(text: str, path: Path, *, platform: str | None = None) -> Lockfile:
    header_platform: str | None = None
    seen_marker = False
    entries: list[tuple[int, str, str, str, str | None, str | None]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            match = _PLATFORM_HEADER.match(line)
            if match and header_platform is None:
                header_platform = match.group("platform")
                check_explicit_platform(header_platform, path, number)
            continue
        if line == EXPLICIT_MARKER:
            seen_marker = True
            continue
        if not seen_marker:
            raise LockfileError(
                f"explicit file `{path}`, line {number}: `{_brief(line)}` comes before `{EXPLICIT_MARKER}`"
            )
        match = _URL_LINE.match(line)
        parsed = _split_filename(match.group("fn")) if match else None
        if match is None or parsed is None:
            raise LockfileError(
                f"explicit file `{path}`, line {number}: `{_brief(line)}` is not a conda package URL",
                hints=["each line after `@EXPLICIT` must be `<url>/<name>-<version>-<build>.conda|.tar.bz2`"],
            )
        url = line.split("#", 1)[0]
        problem = url_problem(url)
        if problem is not None:
            raise LockfileError(
                f"explicit file {path}:{number}: `{_brief(url)}` is refused: {problem}",
                hints=[
                    "an explicit file from someone else is untrusted input: cenv uses no URL it cannot check"
                ],
            )
        md5 = match.group("md5")
        sha256 = match.group("sha256")
        entries.append(
            (number, url, *parsed[:2], md5.lower() if md5 else None, sha256.lower() if sha256 else None)
        )
    if not seen_marker:
        raise LockfileError(f"file `{path}` is not an explicit lockfile: it has no `{EXPLICIT_MARKER}` line")

    subdirs = {url.rsplit("/", 2)[-2] for _, url, *_ in entries if url.count("/") >= 2}
    subdirs.discard("noarch")
    resolved = header_platform
    if resolved is None and len(subdirs) == 1:
        resolved = next(iter(subdirs))
    if resolved is None:
        resolved = platform
    if resolved is None:
        found = ", ".join(f"`{_brief(s)}`" for s in sorted(subdirs)[:10])
        raise LockfileError(
            f"explicit file `{path}` does not say which platform it is for"
            + (f" (its URLs mix {found})" if len(subdirs) > 1 else ""),
            hints=["add a `# platform: <subdir>` line, or pass the platform explicitly"],
        )
    if platform is not None and platform != resolved:
        raise LockfileError(
            f"explicit file `{path}` is for platform `{_brief(resolved)}`, not `{_brief(platform)}`",
            hints=[f"platforms in this lock: `{_brief(resolved)}`"],
        )

    channels: list[str] = []
    packages: list[LockedPackage] = []
    for _number, url, name, version, md5, sha256 in entries:
        base = url.rsplit("/", 2)[0] if url.count("/") >= 2 else ""
        if base and base not in channels:
            channels.append(base)
        packages.append(
            LockedPackage(
                name=name,
                version=version,
                manager="conda",
                platform=resolved,
                url=url,
                hash=PackageHash(md5=md5, sha256=sha256),
            )
        )
    metadata = LockMetadata(
        channels=tuple(LockChannel(url=c) for c in channels),
        platforms=(resolved,),
    )
    lock = Lockfile(metadata=metadata, package=tuple(packages))
    check_lockfile(lock, path, text, kind="explicit file")  # the platform from the URLs or the caller
    return lock
