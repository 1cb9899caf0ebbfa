"""Check a lock's virtual-package requirements (`__cuda`, `__glibc`, ...) against this machine."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cenv.errors import InstallError
from cenv.virtual_packages import VirtualPackageSpec

__all__ = ["HostPackage", "check_requirements", "detect_host", "lock_assumption_warnings", "needs_cuda"]

_OVERRIDES = {
    "__cuda": "CONDA_OVERRIDE_CUDA",
    "__glibc": "CONDA_OVERRIDE_GLIBC",
    "__osx": "CONDA_OVERRIDE_OSX",
}


@dataclass(frozen=True)
class HostPackage:
    name: str
    version: str
    build: str


def detect_host(cuda: bool = True) -> dict[str, HostPackage]:
    """This machine's virtual packages, honouring CONDA_OVERRIDE_* like conda does.

    `cuda=False` skips probing for a CUDA driver (~0.1 s) when nothing needs `__cuda`.
    """
    from rattler import Override, VirtualPackage, VirtualPackageOverrides

    overrides = VirtualPackageOverrides.from_env()
    if not cuda:
        overrides.cuda = Override.string("")
    found: dict[str, HostPackage] = {}
    for vp in VirtualPackage.detect(overrides):
        generic = vp.into_generic()
        name = generic.name.normalized
        found[name] = HostPackage(name=name, version=str(generic.version), build=str(generic.build_string))
    return found


def _satisfied(spec: str, host: HostPackage) -> bool | None:
    """Whether the host's version meets `spec`; None when either cannot be read (never a silent pass)."""
    spec = spec.strip()
    if spec in ("", "*"):
        return True
    from rattler import Version, VersionSpec
    from rattler.exceptions import InvalidVersionError, InvalidVersionSpecError

    try:
        return bool(VersionSpec(spec).matches(Version(host.version)))
    except (InvalidVersionError, InvalidVersionSpecError):
        return None


def needs_cuda(requirements: Iterable[tuple[str, str, str]]) -> bool:
    return any(name == "__cuda" for _, name, _ in requirements)


def check_requirements(requirements: Iterable[tuple[str, str, str]], host: Mapping[str, HostPackage]) -> None:
    """`requirements` are (package, virtual package, version spec); raise InstallError on the first unmet."""
    for package, name, spec in requirements:
        if not name.startswith("__"):
            continue
        have = host.get(name)
        verdict = None if have is None else _satisfied(spec, have)
        if verdict:
            continue
        if have is not None and verdict is None:
            raise InstallError(
                f"package `{package}` needs `{name} {spec}`, which cenv cannot compare with this host's "
                f"{name} {have.version}",
                hints=["the lock's record of it may be damaged: re-lock with `cenv lock SPEC`"],
            )
        wanted = f"{name} {spec}".strip()
        found = f"this host has {name} {have.version}" if have else f"this host has no {name}"
        hints = []
        if name == "__cuda" and have is None:
            found = "this host has no CUDA driver (no __cuda)"
            hints.append(
                "for a machine without a GPU, lock without CUDA: `cenv lock SPEC --cuda none`, "
                "or create the spec's CPU variant (`cenv create SPEC --variant cpu`)"
            )
        override = _OVERRIDES.get(name)
        if override is not None:
            example = _example_version(spec) or ("12.1" if name == "__cuda" else "VERSION")
            hints.append(f"to install anyway, set `{override}={example}` (the environment may not work here)")
        if name != "__cuda" or have is not None:
            hints.append("or lock for this machine: `cenv lock SPEC` with matching `--cuda`/`--glibc`")
        raise InstallError(f"package `{package}` needs `{wanted}`, but {found}", hints=hints)


def _example_version(spec: str) -> str | None:
    for part in spec.replace(",", " ").split():
        stripped = part.lstrip(">=~!<")
        if part.startswith((">", "=", "~")) and stripped and stripped[0].isdigit():
            return stripped.rstrip(".*")
    return None


def lock_assumption_warnings(
    assumed: Iterable[VirtualPackageSpec], host: Mapping[str, HostPackage]
) -> list[str]:
    """Where cenv's lock assumed a virtual package this host lacks (only a warning: packages decide)."""
    warnings = []
    for vp in assumed:
        if vp.name in ("__archspec", "__unix", "__win", "__linux"):
            continue
        if vp.name not in host:
            warnings.append(
                f"the lock was solved assuming {vp.name}={vp.version}; this host has no {vp.name}"
            )
    return warnings
