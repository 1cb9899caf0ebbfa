"""The one reader of configuration files a shared home or a colleague may hand cenv (`.condarc`, `.netrc`,
`RATTLER_AUTH_FILE`, rattler's `config.toml`, `~/.conda/environments.txt`): regular files only (a FIFO would
hang the read, `/dev/zero` fill memory), bounded in size, UTF-8; every failure a one-line `UserError` (exit 1)
that names the file. YAML goes through `load_yaml_config`, which shares the lockfile reader's alias and
depth guard (`cenv.yaml_guard`)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from cenv.errors import UserError
from cenv.yaml_guard import ExpansionMeter, RecursiveAlias, TooLarge

__all__ = ["MAX_CONFIG_BYTES", "ConfigFileError", "check_config_file", "load_yaml_config", "read_config_text"]

MAX_CONFIG_BYTES = 4 * 1024 * 1024  # a .condarc or netrc is a few KB; environments.txt of 10,000 envs ~1 MB
MAX_ALIAS_EXPANSION = 1_000_000  # as for lockfiles: what aliases may add beyond the file's own size


class ConfigFileError(UserError):
    """A configuration file that cannot be read safely."""


def _open_regular(path: Path, what: str) -> int:
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; only a regular file is read
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise ConfigFileError(f"{what} `{path}`: cannot read it: {exc.strerror or exc}") from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ConfigFileError(
            f"{what} `{path}` is not a regular file",
            hints=["point the setting at a plain file, or remove it"],
        )
    if info.st_size > MAX_CONFIG_BYTES:
        os.close(fd)
        raise ConfigFileError(f"{what} `{path}` is too large (more than {MAX_CONFIG_BYTES:,} bytes)")
    return fd


def read_config_text(path: Path, what: str) -> str:
    """The text of the configuration file `path` (`what` names it in messages: "netrc", ".condarc")."""
    fd = _open_regular(Path(path), what)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigFileError(f"{what} `{path}` is too large (more than {MAX_CONFIG_BYTES:,} bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigFileError(
            f"{what} `{path}` is not UTF-8 text ({exc.reason} at byte {exc.start})",
            hints=["save it as UTF-8, or move it away"],
        ) from None


def check_config_file(path: Path, what: str) -> None:
    """Raise `ConfigFileError` unless `path` could be read by `read_config_text` (for files another
    library opens itself: rattler's config.toml, Python's netrc)."""
    read_config_text(path, what)


def load_yaml_config(text: str, path: Path, what: str) -> Any:
    """YAML config text parsed safely (ruamel), with the lockfile reader's alias and depth limits."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe").load(text)
        ExpansionMeter(2 * len(text) + MAX_ALIAS_EXPANSION).size(data)
    except RecursionError:
        raise ConfigFileError(f"{what} `{path}` is nested too deeply", hints=["fix or move it"]) from None
    except (TooLarge, RecursiveAlias):
        raise ConfigFileError(
            f"{what} `{path}`: its YAML aliases expand too far (or refer to themselves)",
            hints=["fix or move it"],
        ) from None
    except YAMLError as exc:
        first = str(exc).strip().splitlines()
        raise ConfigFileError(
            f"{what} `{path}`: cannot read it: {first[0] if first else type(exc).__name__}",
            hints=["fix or move it"],
        ) from None
    return data
