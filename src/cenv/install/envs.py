"""Where environments and packages live: `-n NAME` directories and the package cache shared with conda."""

from __future__ import annotations

import os
from pathlib import Path

from cenv.env_vars import CONDA_ENVS_PATH, cache_root
from cenv.errors import InstallError, UserError

__all__ = ["envs_dirs", "find_named_env", "named_env_prefix", "pkgs_dir", "resolve_prefix"]


def envs_dirs() -> list[Path]:
    """Candidate directories for named environments, in conda's order of preference: CONDA_ENVS_PATH /
    CONDA_ENVS_DIRS, then `envs_dirs` of the .condarc files, then ~/.conda/envs."""
    from cenv.config import current_config

    dirs = [Path(os.path.expandvars(str(d))).expanduser() for d in current_config().envs_dirs]
    dirs.append(Path.home() / ".conda" / "envs")
    return list(dict.fromkeys(dirs))


def writable(directory: Path) -> bool:
    """True if `directory` exists and is writable, or could be created."""
    probe = directory
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)


def named_env_prefix(name: str) -> Path:
    """`-n NAME`: an existing env of that name, else NAME in the first writable envs dir."""
    _check_name(name)
    existing = find_named_env(name)
    if existing is not None:
        return existing
    for directory in envs_dirs():
        if writable(directory):
            return directory / name
    raise InstallError(
        f"no writable directory for environment `{name}`",
        hints=[f"set {CONDA_ENVS_PATH} or `envs_dirs` in ~/.condarc, or use `-p PREFIX`"],
    )


def find_named_env(name: str) -> Path | None:
    _check_name(name)
    for directory in envs_dirs():
        candidate = directory / name
        if (candidate / "conda-meta").is_dir():
            return candidate
    return None


def _check_name(name: str) -> None:
    if not name or name in (".", "..") or any(c in name for c in "/\\:#") or name.strip() != name:
        raise UserError(
            f"`{name}` is not a valid environment name",
            hints=["a name has no slashes, colons or `#`; use `-p PATH` for a path"],
        )


def resolve_prefix(prefix: Path | None, name: str | None, default_name: str | None = None) -> Path:
    """The absolute target prefix from `-p`, `-n`, or the spec's name."""
    if prefix is not None and name is not None:
        raise UserError("give either `-p PREFIX` or `-n NAME`, not both")
    if prefix is not None:
        return Path(os.path.abspath(prefix.expanduser()))
    chosen = name or default_name
    if chosen is None:
        raise UserError(
            "no target environment: give `-p PREFIX` or `-n NAME`",
            hints=["or add `name: myenv` to the spec"],
        )
    return Path(os.path.abspath(named_env_prefix(chosen)))


def pkgs_dirs() -> tuple[Path, ...]:
    """Every package cache shared with conda: CONDA_PKGS_DIRS, then `pkgs_dirs`, else <cache>/pkgs."""
    from cenv.config import current_config

    dirs = current_config().pkgs_dirs  # CONDA_PKGS_DIRS, then .condarc `pkgs_dirs`
    if dirs:
        return tuple(Path(os.path.abspath(d)) for d in dirs)
    return (Path(os.path.abspath(cache_root() / "pkgs")),)


def pkgs_dir() -> Path:
    """The package cache cenv writes to: the first writable of `pkgs_dirs()`, as conda's `first_writable`
    (the first one when none is, so that its error names it); the others are read (`shared_cache.py`)."""
    dirs = pkgs_dirs()
    return next((d for d in dirs if writable(d)), dirs[0])
