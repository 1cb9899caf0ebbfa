"""Conda platforms (subdirs) cenv can lock for."""

from __future__ import annotations

import platform as _platform
import sys

# The conda subdirs rattler 0.28 knows (`rattler.platform.Platform.all()`); a test keeps the two in step.
# Kept as a literal so that importing cenv (and validating a spec) does not import rattler.
KNOWN_PLATFORMS: tuple[str, ...] = (
    "noarch",
    "linux-32",
    "linux-64",
    "linux-aarch64",
    "linux-armv6l",
    "linux-armv7l",
    "linux-loongarch64",
    "linux-ppc64le",
    "linux-ppc64",
    "linux-ppc",
    "linux-s390x",
    "linux-riscv32",
    "linux-riscv64",
    "freebsd-32",
    "freebsd-64",
    "freebsd-arm64",
    "freebsd-ppc64le",
    "freebsd-ppc64",
    "osx-64",
    "osx-arm64",
    "ios-arm64",
    "iossimulator-arm64",
    "iossimulator-64",
    "android-aarch64",
    "android-armv7a",
    "android-64",
    "android-32",
    "win-32",
    "win-64",
    "win-arm64",
    "emscripten-wasm32",
    "emscripten-wasm64",
    "wasi-wasm32",
    "zos-z",
)

# The platforms people lock for; the "exists only for other platforms" hint looks at these, not all of the
# above, since each one costs a repodata request.
COMMON_PLATFORMS: tuple[str, ...] = (
    "linux-64",
    "linux-aarch64",
    "linux-ppc64le",
    "osx-64",
    "osx-arm64",
    "win-64",
    "win-arm64",
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
