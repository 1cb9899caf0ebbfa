"""The target for uv: `--python-platform` and `--python-version` from a conda subdir and its
virtual packages."""

from __future__ import annotations

import re

from cenv.errors import PipStageError
from cenv.virtual_packages import VirtualPackages

#: manylinux minors uv 0.13 accepts as `--python-platform <arch>-manylinux_2_<minor>`.
_MANYLINUX_MINORS = (17, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40)


def python_platform(
    platform: str, virtual_packages: VirtualPackages | None = None
) -> tuple[str, dict[str, str]]:
    """uv's `--python-platform` for a conda subdir, and the environment uv needs with it.

    `__glibc 2.28` -> `x86_64-manylinux_2_28` (the highest manylinux uv knows that is not above it);
    `__osx 14.0` -> `MACOSX_DEPLOYMENT_TARGET=14.0` (uv rejects newer macOS wheels without it).
    """
    family, _, arch = platform.partition("-")
    arch_name = {"64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}.get(arch)
    if arch_name is None or family not in ("linux", "osx", "win") or (family == "linux" and arch == "arm64"):
        raise PipStageError(
            f"uv cannot resolve PyPI packages for `{platform}`",
            hints=[
                "PyPI resolution supports linux-64, linux-aarch64, osx-64, osx-arm64, win-64 and win-arm64"
            ],
        )
    vp = virtual_packages.get(f"__{'glibc' if family == 'linux' else 'osx'}") if virtual_packages else None
    if family == "win":
        return f"{arch_name}-pc-windows-msvc", {}
    if family == "osx":
        target = vp.version if vp is not None else ("11.0" if arch == "arm64" else "10.13")
        return f"{arch_name}-apple-darwin", {"MACOSX_DEPLOYMENT_TARGET": _major_minor(target)}
    glibc = vp.version if vp is not None else "2.28"
    minor = _glibc_minor(glibc)
    if minor < 17:
        raise PipStageError(
            f"`__glibc {glibc}` is older than any manylinux tag uv supports for {platform}",
            hints=["uv resolves for manylinux_2_17 (manylinux2014) and newer; raise `--glibc`"],
        )
    chosen = max(m for m in _MANYLINUX_MINORS if m <= minor)
    return f"{arch_name}-manylinux_2_{chosen}", {}


def _glibc_minor(version: str) -> int:
    parts = version.split(".")
    try:
        return int(parts[1]) if parts[0] == "2" and len(parts) > 1 else (0 if int(parts[0]) < 2 else 99)
    except ValueError as exc:
        raise PipStageError(f"`__glibc {version}` is not a glibc version") from exc


def _major_minor(version: str) -> str:
    parts = ([*version.split("."), "0"])[:2]
    return ".".join(parts)


def uv_python_version(version: str) -> str:
    match = re.match(r"^(\d+)\.(\d+)(?:\.(\d+))?", version.strip())
    if match is None:
        raise PipStageError(f"`{version}` is not a Python version")
    return ".".join(g for g in match.groups() if g is not None)
