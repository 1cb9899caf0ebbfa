"""Settings resolved once, with documented precedence: CLI flag > environment variable > spec > default."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path


class ChannelPriority(str, Enum):
    """conda's channel priority: `strict` takes a package name from the first channel that has it."""

    STRICT = "strict"
    FLEXIBLE = "flexible"
    DISABLED = "disabled"

    def __str__(self) -> str:
        return self.value


class ExportFormat(str, Enum):
    """`cenv export --format`: @EXPLICIT, hashed pip requirements, or both with rebuild commands."""

    EXPLICIT = "explicit"
    REQUIREMENTS = "requirements"
    SHARE = "share"

    def __str__(self) -> str:
        return self.value


CHANNEL_PRIORITIES: tuple[str, ...] = tuple(p.value for p in ChannelPriority)
EXPORT_FORMATS: tuple[str, ...] = tuple(f.value for f in ExportFormat)


@dataclass(frozen=True)
class LockSettings:
    spec_paths: tuple[Path, ...]
    lockfile: Path | None = None  # default: <first spec stem>-lock.yml beside it
    platforms: tuple[str, ...] = ()  # default: the spec's platforms, else the host's
    cuda: str | None = None  # --cuda VERSION
    no_cuda: bool = False  # --cuda none
    glibc: str | None = None
    osx: str | None = None
    virtual_packages_file: Path | None = None
    channels: tuple[str, ...] = ()  # -c: replaces the spec's channels
    channel_alias: str | None = None  # --channel-alias > CONDA_CHANNEL_ALIAS > https://conda.anaconda.org
    channel_priority: ChannelPriority | None = None  # overrides the spec's
    exclude_newer: datetime | None = None  # overrides the spec's
    offline: bool = False
    cache_dir: Path | None = None  # repodata cache; default under cenv's cache root
    # --update: None = plain lock; () = re-solve everything; names = keep every other locked package
    update: tuple[str, ...] | None = None
    variant: str | None = None  # one of the spec's `variants`; its lockfile is <stem>.<variant>-lock.yml
    pip_fallback: bool = False  # --pip-fallback (or the spec's `pip-fallback: true`)
    # `--variant X -o PATH`: one variant was named, so `-o` is its lockfile as given (no `.X` inserted)
    named_variant: bool = False
    ignore_recorded: bool = False  # --ignore-recorded: plan from the flags given now and the spec alone

    def lockfile_path(self) -> Path:
        if self.lockfile is not None:
            return self.lockfile if self.named_variant else variant_path(self.lockfile, self.variant)
        first = self.spec_paths[0]
        return variant_path(first.with_name(f"{first.stem}-lock.yml"), self.variant)


def variant_path(path: Path, variant: str | None) -> Path:
    """`ml-lock.yml` -> `ml.cu121-lock.yml` (the `-lock.yml` suffix is what micromamba recognises)."""
    if variant is None:
        return path
    for suffix in ("-lock.yml", "-lock.yaml", ".yml", ".yaml"):
        if path.name.endswith(suffix):
            return path.with_name(f"{path.name.removesuffix(suffix)}.{variant}{suffix}")
    return path.with_name(f"{path.name}.{variant}")


@dataclass(frozen=True)
class LockFlags:
    """The lock inputs `cenv create SPEC` takes (as `cenv lock` does): applied on top of the lock's recorded
    inputs, so a lock made otherwise is stale (and `--relock` re-locks with them)."""

    cuda: str | None = None  # --cuda VERSION
    no_cuda: bool = False  # --cuda none
    glibc: str | None = None
    osx: str | None = None
    pip_fallback: bool = False

    @property
    def given(self) -> tuple[str, ...]:
        """The flags given, as typed (`--cuda`, ...)."""
        flags = {
            "--cuda": self.cuda is not None or self.no_cuda,
            "--glibc": self.glibc is not None,
            "--osx": self.osx is not None,
            "--pip-fallback": self.pip_fallback,
        }
        return tuple(name for name, on in flags.items() if on)


@dataclass(frozen=True)
class CreateSettings:
    """`cenv create SOURCE`: SOURCE is an environment spec or a lockfile (detected by content)."""

    source: Path
    prefix: Path | None = None  # -p
    name: str | None = None  # -n; default: the spec's name
    platform: str | None = None  # default: the host's
    dry_run: bool = False
    force: bool = False  # replace an existing environment
    offline: bool = False  # no network: cached repodata and packages only
    pkgs_dir: Path | None = None  # default: first of CONDA_PKGS_DIRS, else <cenv cache>/pkgs
    variant: str | None = None  # a variant of the spec, or "auto" for the best one for this host's driver
    relock: bool = False  # a stale lockfile is re-locked (with its recorded inputs) instead of an error
    link_scripts: bool = True  # run packages' post-link / pre-unlink scripts (--no-link-scripts: False)
    lock_flags: LockFlags = LockFlags()  # with a spec: lock inputs given now (`--cuda`, ...)
