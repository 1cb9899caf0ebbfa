"""Load any lockfile cenv understands: conda-lock v1, `@EXPLICIT` files and pixi.lock (v4-v7).

pixi.lock goes through `rattler.LockFile` (imported lazily: it costs ~0.1 s). Only the lock's own
platform objects are used to look packages up; rattler panics (a `BaseException`) on misuse, and every
rattler failure is re-raised as a `LockfileError` naming the file.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cenv.errors import LockfileError, UsageError
from cenv.lock.io import brief, load_yaml, lockfile_from_data, package_sort_key, read_lock_text
from cenv.lock.models import (
    LockChannel,
    LockedPackage,
    Lockfile,
    LockMetadata,
    PackageHash,
    dependencies_from_depends,
)
from cenv.lock.validate import check_lockfile

if TYPE_CHECKING:
    from rattler.lock import LockPlatform

__all__ = [
    "detect_lock_format",
    "is_lockfile",
    "load_any_lock",
    "read_lock",
    "read_pixi_lock",
    "select_platform",
]

_EXPLICIT_LINE = re.compile(r"^\s*@EXPLICIT\s*$", re.MULTILINE)
# `\d{1,4}`: a version with thousands of digits is not a pixi.lock (and `int()` would refuse it).
_TOP_VERSION = re.compile(r"^version:\s*['\"]?(\d{1,4})['\"]?\s*$", re.MULTILINE)
_TOP_ENVIRONMENTS = re.compile(r"^environments:", re.MULTILINE)
_PIXI_VERSIONS = range(2, 8)  # pixi.lock versions rattler 0.28 reads (v4+ seen in the wild)


def detect_lock_format(text: str) -> str:
    """`"explicit"`, `"pixi"` or `"conda-lock"` (the default guess, validated by the reader)."""
    if _EXPLICIT_LINE.search(text):
        return "explicit"
    version = _TOP_VERSION.search(text)
    if version is not None and int(version.group(1)) in _PIXI_VERSIONS and _TOP_ENVIRONMENTS.search(text):
        return "pixi"
    return "conda-lock"


def load_any_lock(path: Path, platform: str | None = None) -> Lockfile:
    """Read a lockfile of any supported kind into cenv's model, dispatching on its content.

    With `platform`, the result holds only that platform (a `LockfileError` lists the lock's platforms if
    it has no such platform); for explicit files without a `# platform:` header it names the platform, for
    a pixi.lock v7 it may also be one of the lock's named platforms.
    """
    path = Path(path)
    text = read_lock_text(path)

    kind = detect_lock_format(text)
    if kind == "explicit":
        from cenv.lock.explicit import explicit_from_text

        return explicit_from_text(text, path, platform=platform)
    if kind == "pixi":
        return read_pixi_lock(path, platform=platform)  # already narrowed; `platform` may be a v7 name
    data = load_yaml(text, path)
    if isinstance(data, dict) and "environments" in data:
        raise LockfileError(
            f"lockfile `{path}` looks like a pixi.lock of unsupported version `{brief(data.get('version'))}`",
            hints=["cenv reads pixi.lock versions 4 to 7; update it with a recent pixi"],
        )
    if isinstance(data, dict) and "version" not in data and "package" not in data:
        raise LockfileError(
            f"file `{path}` is not a lockfile cenv can read",
            hints=["cenv reads conda-lock v1 YAML, `@EXPLICIT` files and pixi.lock (v4 to v7)"],
        )
    return select_platform(lockfile_from_data(data, path, text), platform, path)


def select_platform(lock: Lockfile, platform: str | None, path: Path) -> Lockfile:
    """`lock` with only `platform` (all of it for None); `path` names the file in the error."""
    if platform is None:
        return lock
    if platform not in lock.platforms:
        known = ", ".join(f"`{brief(p)}`" for p in lock.platforms[:20]) or "none"
        raise LockfileError(
            f"lockfile `{path}` has no packages for platform `{brief(platform)}`",
            hints=[f"platforms in this lock: {known}"],
        )
    if lock.platforms == (platform,):
        return lock
    metadata = replace(
        lock.metadata,
        platforms=(platform,),
        content_hash={k: v for k, v in lock.metadata.content_hash.items() if k == platform},
    )
    return replace(lock, metadata=metadata, package=tuple(lock.packages_for(platform)))


# ---------------------------------------------------------------- pixi.lock


def _rattler_failure(path: Path, exc: BaseException) -> LockfileError:
    text = str(exc).strip().splitlines()
    detail = brief(text[0], 300) if text else type(exc).__name__
    return LockfileError(f"cannot read pixi lockfile `{path}`: {detail}")


def _reraise_if_control(exc: BaseException) -> None:
    if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
        raise exc


def read_pixi_lock(path: Path, platform: str | None = None, environment: str | None = None) -> Lockfile:
    """An environment of a pixi.lock (`default` unless named) as a `Lockfile` (conda packages and pypi
    packages as pip). An unknown name is a usage error listing the lock's environments."""
    path = Path(path)
    try:
        import rattler
        from rattler.lock import CondaLockedBinaryPackage, PypiLockedPackage

        lock_file = rattler.LockFile.from_path(path)
        named, chosen_env = environment, lock_file.default_environment()
        if named is not None:
            found = dict(lock_file.environments())
            if named not in found:
                names = sorted(found)
                raise UsageError(
                    f"`--variant {brief(named)}`: pixi lockfile `{path}` has no such environment",
                    hints=[f"environments in this lock: {', '.join(f'`{brief(n)}`' for n in names[:20])}"],
                )
            chosen_env = found[named]
        if chosen_env is None:
            names = sorted(name for name, _ in lock_file.environments())
            raise LockfileError(
                f"pixi lockfile `{path}` has no `default` environment",
                hints=[
                    f"environments in this lock: {', '.join(f'`{brief(n)}`' for n in names[:20]) or 'none'}"
                ],
            )
        channels = tuple(LockChannel(url=str(c)) for c in chosen_env.channels())
        chosen = _choose_platforms(chosen_env.platforms(), platform, path)
        packages: list[LockedPackage] = []
        for lock_platform, subdir in chosen:
            for locked in chosen_env.packages(lock_platform) or []:
                if isinstance(locked, CondaLockedBinaryPackage):
                    packages.append(_conda_package(locked, subdir))
                elif isinstance(locked, PypiLockedPackage):
                    packages.append(_pypi_package(locked, subdir))
                else:
                    raise LockfileError(
                        f"pixi lockfile `{path}` has a source package `{brief(locked.name)}` "
                        f"for `{brief(subdir)}`",
                        hints=["cenv installs only built packages; build it with pixi and lock again"],
                    )
    except (LockfileError, UsageError):
        raise
    except BaseException as exc:  # rattler raises its own errors and panics (PanicException)
        _reraise_if_control(exc)
        raise _rattler_failure(path, exc) from exc

    platforms = tuple(sorted({subdir for _, subdir in chosen}))
    packages.sort(key=package_sort_key)
    _dedupe_check(packages, path)
    lock = Lockfile(metadata=LockMetadata(channels=channels, platforms=platforms), package=tuple(packages))
    check_lockfile(lock, path, kind="pixi lockfile")
    return lock


def _choose_platforms(
    platforms: Iterable[LockPlatform], wanted: str | None, path: Path
) -> list[tuple[LockPlatform, str]]:
    """Pairs of (the lock's platform object, its conda subdir).

    pixi.lock v7 may name platforms freely (`p1` with subdir `win-64`). Without `wanted`, platforms named
    after their subdir win; a custom-named one is used only if no other platform covers its subdir.
    """
    pairs = [(p, str(p.name), str(p.subdir)) for p in platforms]
    if wanted is not None:
        for p, name, subdir in pairs:
            if name == wanted:
                return [(p, subdir)]
        matching = [(p, subdir) for p, name, subdir in pairs if subdir == wanted]
        if len(matching) == 1:
            return matching
        known = (
            ", ".join(f"`{brief(name)}`" for _, name, _ in sorted(pairs, key=lambda x: x[1])[:20]) or "none"
        )
        if matching:
            raise LockfileError(
                f"pixi lockfile `{path}` has several platforms for `{brief(wanted)}`",
                hints=[f"name one of them: {known}"],
            )
        raise LockfileError(
            f"lockfile `{path}` has no packages for platform `{brief(wanted)}`",
            hints=[f"platforms in this lock: {known}"],
        )
    chosen: dict[str, LockPlatform] = {}
    for p, name, subdir in sorted(pairs, key=lambda x: (x[1] != x[2], x[1])):
        if subdir not in chosen and (name == subdir or all(n != subdir for _, n, _ in pairs)):
            chosen[subdir] = p
    return [(p, subdir) for subdir, p in sorted(chosen.items())]


def _hex(value: bytes | None) -> str | None:
    return value.hex() if value else None


def _conda_package(locked: Any, subdir: str) -> LockedPackage:
    record = locked.package_record
    return LockedPackage(
        name=record.name.normalized,
        version=str(record.version),
        manager="conda",
        platform=subdir,
        dependencies=dependencies_from_depends(list(record.depends or [])),
        url=str(locked.location),
        hash=PackageHash(md5=_hex(record.md5), sha256=_hex(record.sha256)),
    )


def _pypi_dependencies(requires_dist: Iterable[str]) -> dict[str, str]:
    """`requires_dist` without extras-only entries, as conda-lock's pip `dependencies` (name -> specifier)."""
    from packaging.requirements import InvalidRequirement, Requirement  # pixi locks only

    result: dict[str, str] = {}
    for text in requires_dist:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if requirement.marker is not None and "extra" in str(requirement.marker):
            continue
        name = requirement.name.lower().replace("_", "-").replace(".", "-")
        spec = str(requirement.specifier)
        previous = result.get(name, "")
        result[name] = f"{previous},{spec}" if previous and spec else (spec or previous)
    return result


def _pypi_package(locked: Any, subdir: str) -> LockedPackage:
    hashes = locked.hashes
    sha256 = _hex(getattr(hashes, "sha256", None)) if hashes is not None else None
    md5 = _hex(getattr(hashes, "md5", None)) if hashes is not None else None
    return LockedPackage(
        name=str(locked.name),
        version=str(locked.version),
        manager="pip",
        platform=subdir,
        dependencies=_pypi_dependencies(locked.requires_dist or []),
        url=str(locked.location),
        hash=PackageHash(md5=md5, sha256=sha256),
    )


def _dedupe_check(packages: list[LockedPackage], path: Path) -> None:
    for before, after in itertools.pairwise(packages):
        if package_sort_key(before) == package_sort_key(after):
            raise LockfileError(
                f"pixi lockfile `{path}` lists {after.manager} package `{brief(after.name)}` twice "
                f"for `{brief(after.platform)}`"
            )


# ---------------------------------------------------------------- entry points

_LOCK_NAME_SUFFIXES = ("-lock.yml", "-lock.yaml", ".lock", "conda-lock.yml", "conda-lock.yaml")


def is_lockfile(path: Path) -> bool:
    """A lockfile (cenv/conda-lock v1, `@EXPLICIT`, pixi.lock) rather than an environment spec."""
    import re

    if path.name.endswith(_LOCK_NAME_SUFFIXES):
        return True
    import os
    import stat

    from cenv.lock.io import MAX_LOCK_BYTES

    try:  # bounded, and never a FIFO or a device (`cenv create /dev/zero` must not fill memory)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return False
            text = handle.read(MAX_LOCK_BYTES + 1).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if re.search(r"^\s*@EXPLICIT\s*$", text, re.MULTILINE):
        return True
    has_version = re.search(r"^version:", text, re.MULTILINE) is not None
    return has_version and re.search(r"^(package|environments):", text, re.MULTILINE) is not None


def read_lock(path: Path, platform: str | None = None, environment: str | None = None) -> Lockfile:
    """The lockfile at `path` (for `platform`); `environment`: a pixi.lock's environment to read instead
    of `default` (a usage error for other locks, which hold one environment)."""
    if not path.exists():
        raise LockfileError(f"{path}: no such lockfile", hints=["create one with `cenv lock SPEC`"])
    if environment is not None:
        if detect_lock_format(read_lock_text(path)) != "pixi":
            raise UsageError(
                f"`--variant {environment}`: {path} holds one environment (variants choose a pixi.lock "
                "environment or a spec's variant)",
                hints=["drop `--variant`, or give the spec, or that variant's lockfile"],
            )
        return read_pixi_lock(path, platform=platform, environment=environment)
    return load_any_lock(path, platform)
