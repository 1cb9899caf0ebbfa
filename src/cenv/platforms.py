"""Conda platforms (subdirs) cenv can lock for."""

from __future__ import annotations

import platform as _platform
import sys

KNOWN_PLATFORMS: tuple[str, ...] = (
    "linux-64",
    "linux-aarch64",
    "linux-ppc64le",
    "linux-s390x",
    "linux-armv7l",
    "osx-64",
    "osx-arm64",
    "win-64",
    "win-arm64",
    "noarch",
)


def host_platform() -> str:
    """The conda subdir of this machine, without importing rattler."""
    machine = _platform.machine().lower()
    arch = {"x86_64": "64", "amd64": "64", "aarch64": "aarch64", "arm64": "arm64"}.get(machine, machine)
    if sys.platform.startswith("linux"):
        return f"linux-{arch}"
    if sys.platform == "darwin":
        return "osx-arm64" if arch in ("arm64", "aarch64") else "osx-64"
    return "win-arm64" if arch in ("arm64", "aarch64") else "win-64"


def archspec_of(platform: str) -> str:
    arch = platform.split("-", 1)[1]
    return {"64": "x86_64", "32": "x86"}.get(arch, arch)
