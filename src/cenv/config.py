"""conda's `.condarc` (its search path, `CONDARC`, the `CONDA_*` variables) and rattler's `config.toml`, read
once into a frozen `Config`. Precedence: flag > environment > `.condarc` > default (flags are applied by the
callers, which hold the settings; everything else is resolved here).

The `.condarc` keys cenv honours: channels, default_channels, channel_alias, custom_channels,
channel_priority, pkgs_dirs, envs_dirs, proxy_servers, ssl_verify, remote_read_timeout_secs, offline,
register_envs, path_conflict. From
`config.toml` (the file pixi and rattler read): `[mirrors]`, `[concurrency] downloads` (`fetch_threads` in a
.condarc, `CENV_CONCURRENCY` in the environment), `tls-no-verify`,
`authentication-override-file`. Other keys are ignored, as conda ignores keys it does not know.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cenv.errors import UserError

__all__ = ["Config", "condarc_search_path", "current_config", "load_config"]

DEFAULT_CONCURRENCY = 16  # concurrent requests: 100 overran a plain threaded server at 453k records
# (ENGINE-NOTES: 11.5 s at 100, 4.9 s at 16); 8 was 1.5x slower than 16 at 20k records (bench_http_lock.py)


@dataclass(frozen=True)
class Config:
    """Every network and location setting cenv takes from conda's and rattler's configuration."""

    condarc_files: tuple[Path, ...] = ()  # read, lowest precedence first
    rattler_files: tuple[Path, ...] = ()
    channels: tuple[str, ...] = ()
    default_channels: tuple[str, ...] = ()
    channel_alias: str | None = None
    custom_channels: Mapping[str, str] = field(default_factory=dict)
    channel_priority: str | None = None
    pkgs_dirs: tuple[Path, ...] = ()
    envs_dirs: tuple[Path, ...] = ()
    proxy_servers: Mapping[str, str] = field(default_factory=dict)  # scheme -> proxy url
    ssl_verify: bool | str = True  # False, True, or a CA bundle path
    remote_read_timeout_secs: float | None = None
    offline: bool = False
    mirrors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    concurrency: int = DEFAULT_CONCURRENCY
    auth_file: Path | None = None  # rattler's authentication-override-file
    register_envs: bool = True  # conda's: record created environments in ~/.conda/environments.txt
    path_conflict: str = "clobber"  # conda's: two packages with one path: clobber (and warn), warn, prevent
    sources: Mapping[str, str] = field(default_factory=dict)  # key -> file or variable it came from


def condarc_search_path(environ: Mapping[str, str] | None = None) -> list[Path]:
    """conda's search path, lowest precedence first (conda/base/constants.py SEARCH_PATH)."""
    env = os.environ if environ is None else environ
    home = Path(env.get("HOME") or Path.home())
    xdg = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
    paths = [Path("/etc/conda/.condarc"), Path("/etc/conda/condarc"), Path("/var/lib/conda/.condarc")]
    if env.get("CONDA_ROOT"):
        paths.append(Path(env["CONDA_ROOT"]) / ".condarc")
    paths += [xdg / "conda" / ".condarc", xdg / "conda" / "condarc"]
    paths += [home / ".config" / "conda" / ".condarc", home / ".conda" / ".condarc", home / ".condarc"]
    if env.get("CONDA_PREFIX"):
        paths.append(Path(env["CONDA_PREFIX"]) / ".condarc")
    if env.get("CONDARC"):
        paths.append(Path(env["CONDARC"]).expanduser())
    return list(dict.fromkeys(paths))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _read_condarc(path: Path) -> dict[str, Any]:
    from cenv.config_files import load_yaml_config, read_config_text

    data = load_yaml_config(read_config_text(path, ".condarc"), path, ".condarc")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: a .condarc is a mapping of settings", hints=["fix or move the file"])
    return data


def _expand(value: object) -> str:
    return os.path.expandvars(str(value)).strip()


def _str_list(value: object, where: str, key: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise UserError(f"{where}: `{key}` must be a list", hints=[f"write `{key}: [a, b]`"])
    return [_expand(v) for v in value if _expand(v)]


def _bool(value: object, where: str, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off", ""):
        return False
    raise UserError(f"{where}: `{key}` must be true or false, not `{value}`")


def _ssl_verify(value: object, where: str) -> bool | str:
    if isinstance(value, bool):
        return value
    text = _expand(value)
    if text.lower() in ("true", "yes", "1", "false", "no", "0", "truststore"):
        return text.lower() in ("true", "yes", "1", "truststore")
    path = Path(text).expanduser()
    if not path.exists():
        raise UserError(
            f"{where}: `ssl_verify` names {path}, which does not exist",
            hints=["give the CA bundle (PEM) of your private certificate authority, or true/false"],
        )
    return str(path)


def _timeout(value: object, where: str) -> float:
    try:
        seconds = float(str(value))
    except ValueError:
        seconds = -1
    if seconds <= 0:
        raise UserError(f"{where}: `remote_read_timeout_secs` must be a positive number, not `{value}`")
    return seconds


def _count(value: object, where: str, key: str) -> int:
    try:
        count = int(str(value).strip())
    except ValueError:
        count = 0
    if count < 1:
        raise UserError(f"{where}: `{key}` must be a whole number of at least 1, not `{value}`")
    return count


_PRIORITIES = ("strict", "flexible", "disabled")


def _priority(value: object, where: str) -> str:
    text = str(value).strip().lower()
    if text not in _PRIORITIES:
        raise UserError(f"{where}: `channel_priority` must be one of {', '.join(_PRIORITIES)}, not `{value}`")
    return text


def _path_conflict(value: object, where: str) -> str:
    text = str(value).strip().lower()
    if text not in ("clobber", "warn", "prevent"):
        raise UserError(
            f"{where}: `path_conflict` must be clobber, warn or prevent, not `{value}`",
            hints=["conda's default is `clobber`: the package linked later keeps the path"],
        )
    return text


def _paths(values: list[str]) -> tuple[Path, ...]:
    return tuple(dict.fromkeys(Path(v).expanduser() for v in values))


def _split_env(value: str) -> list[str]:
    return [p.strip() for chunk in value.split(os.pathsep) for p in chunk.split(",") if p.strip()]


class _Merge:
    """conda's merge: scalars from the highest-precedence source; lists put higher sources first."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.sources: dict[str, str] = {}

    def scalar(self, key: str, value: object, source: str) -> None:
        self.values[key] = value
        self.sources[key] = source

    def sequence(self, key: str, value: list[str], source: str) -> None:
        self.values[key] = list(dict.fromkeys([*value, *self.values.get(key, [])]))
        self.sources[key] = source

    def mapping(self, key: str, value: Mapping[str, Any], source: str) -> None:
        self.values[key] = {**self.values.get(key, {}), **value}
        self.sources[key] = source


def _apply_condarc(merge: _Merge, data: dict[str, Any], where: str) -> None:
    for key in ("channels", "default_channels"):
        if key in data:
            merge.sequence(key, _str_list(data[key], where, key), where)
    for key in ("pkgs_dirs", "envs_dirs"):
        if key in data:
            merge.sequence(key, _str_list(data[key], where, key), where)
    if data.get("channel_alias"):
        merge.scalar("channel_alias", _expand(data["channel_alias"]), where)
    for key in ("custom_channels", "proxy_servers"):
        if key in data:
            value = data[key]
            if not isinstance(value, dict):
                raise UserError(f"{where}: `{key}` must be a mapping", hints=[f"`{key}: {{name: url}}`"])
            merge.mapping(key, {str(k): _expand(v) for k, v in value.items() if v}, where)
    if "channel_priority" in data:
        merge.scalar("channel_priority", _priority(data["channel_priority"], where), where)
    if "ssl_verify" in data:
        merge.scalar("ssl_verify", _ssl_verify(data["ssl_verify"], where), where)
    if "remote_read_timeout_secs" in data:
        merge.scalar("remote_read_timeout_secs", _timeout(data["remote_read_timeout_secs"], where), where)
    if "offline" in data:
        merge.scalar("offline", _bool(data["offline"], where, "offline"), where)
    if "register_envs" in data:
        merge.scalar("register_envs", _bool(data["register_envs"], where, "register_envs"), where)
    if "path_conflict" in data:
        merge.scalar("path_conflict", _path_conflict(data["path_conflict"], where), where)
    if "fetch_threads" in data:  # conda's name for the number of concurrent downloads
        merge.scalar("concurrency", _count(data["fetch_threads"], where, "fetch_threads"), where)


def _apply_environment(merge: _Merge, env: Mapping[str, str]) -> None:
    for key in ("channels", "default_channels", "pkgs_dirs", "envs_dirs"):
        name = f"CONDA_{key.upper()}"
        if env.get(name):
            merge.sequence(key, _split_env(env[name]), name)
    if env.get("CONDA_ENVS_PATH"):
        merge.sequence("envs_dirs", _split_env(env["CONDA_ENVS_PATH"]), "CONDA_ENVS_PATH")
    if env.get("CONDA_CHANNEL_ALIAS"):
        merge.scalar("channel_alias", env["CONDA_CHANNEL_ALIAS"].strip(), "CONDA_CHANNEL_ALIAS")
    if env.get("CONDA_CHANNEL_PRIORITY"):
        value = _priority(env["CONDA_CHANNEL_PRIORITY"], "CONDA_CHANNEL_PRIORITY")
        merge.scalar("channel_priority", value, "CONDA_CHANNEL_PRIORITY")
    # SSL_CERT_FILE is the engines' own default trust store (rattler and uv read it): a .condarc
    # `ssl_verify` path replaces it; REQUESTS_CA_BUNDLE and CONDA_SSL_VERIFY replace both.
    for name in ("REQUESTS_CA_BUNDLE", "CONDA_SSL_VERIFY"):  # lowest first
        if env.get(name):
            merge.scalar("ssl_verify", _ssl_verify(env[name], name), name)
    if env.get("CONDA_REMOTE_READ_TIMEOUT_SECS"):
        seconds = _timeout(env["CONDA_REMOTE_READ_TIMEOUT_SECS"], "CONDA_REMOTE_READ_TIMEOUT_SECS")
        merge.scalar("remote_read_timeout_secs", seconds, "CONDA_REMOTE_READ_TIMEOUT_SECS")
    if env.get("CONDA_OFFLINE"):
        merge.scalar("offline", _bool(env["CONDA_OFFLINE"], "CONDA_OFFLINE", "offline"), "CONDA_OFFLINE")
    if env.get("CONDA_REGISTER_ENVS"):
        register = _bool(env["CONDA_REGISTER_ENVS"], "CONDA_REGISTER_ENVS", "register_envs")
        merge.scalar("register_envs", register, "CONDA_REGISTER_ENVS")
    if env.get("CONDA_PATH_CONFLICT"):
        conflict = _path_conflict(env["CONDA_PATH_CONFLICT"], "CONDA_PATH_CONFLICT")
        merge.scalar("path_conflict", conflict, "CONDA_PATH_CONFLICT")


def _rattler_config(merge: _Merge) -> list[Path]:
    """rattler's and pixi's config.toml (their own search path, lowest precedence first)."""
    from rattler import Config as RattlerConfig
    from rattler.exceptions import ConfigError, IoError

    from cenv.config_files import check_config_file

    locations = [(p, shared) for p, shared in RattlerConfig.config_search_paths("pixi") if p.exists()]
    for path, _shared in locations:
        check_config_file(Path(path), "rattler's config.toml")  # rattler reads it whole, unbounded
    try:
        if not locations:
            return []
        loaded = RattlerConfig.load_from_locations(list(locations))
    except (ConfigError, IoError, ValueError) as exc:  # a broken file the user must fix
        raise UserError(
            f"cannot read rattler's config.toml: {_first_line(exc)}",
            hints=["files read: " + ", ".join(str(p) for p, _ in locations)],
        ) from exc
    files = [Path(p) for p in loaded.loaded_from]
    where = str(files[-1]) if files else "config.toml"
    if loaded.mirrors:
        merge.mapping("mirrors", {k.rstrip("/"): list(v) for k, v in loaded.mirrors.items()}, where)
    if loaded.concurrency_downloads and "downloads" in loaded.to_toml():
        merge.scalar("concurrency", int(loaded.concurrency_downloads), where)
    if loaded.tls_no_verify:
        merge.scalar("ssl_verify", False, where)
    if loaded.authentication_override_file is not None:
        merge.scalar("auth_file", loaded.authentication_override_file, where)
    return files


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    """Read every configuration file and variable once: `.condarc` files in conda's order, then the
    `CONDA_*` variables; rattler's config.toml sits below them (a `.condarc` or variable wins)."""
    env = os.environ if environ is None else environ
    merge = _Merge()
    rattler_files = _rattler_config(merge)
    read: list[Path] = []
    for path in condarc_search_path(env):
        if path.exists() and not path.is_dir():  # a FIFO or a device is refused by the reader, by name
            _apply_condarc(merge, _read_condarc(path), str(path))
            read.append(path)
    _apply_environment(merge, env)
    for name in ("CONDA_FETCH_THREADS", "CENV_CONCURRENCY"):
        if env.get(name):
            merge.scalar("concurrency", _count(env[name], name, name), name)
    values = merge.values
    return Config(
        condarc_files=tuple(read),
        rattler_files=tuple(rattler_files),
        channels=tuple(values.get("channels", ())),
        default_channels=tuple(values.get("default_channels", ())),
        channel_alias=values.get("channel_alias"),
        custom_channels=dict(values.get("custom_channels", {})),
        channel_priority=values.get("channel_priority"),
        pkgs_dirs=_paths(values.get("pkgs_dirs", [])),
        envs_dirs=_paths(values.get("envs_dirs", [])),
        proxy_servers=dict(values.get("proxy_servers", {})),
        ssl_verify=values.get("ssl_verify", True),
        remote_read_timeout_secs=values.get("remote_read_timeout_secs"),
        offline=bool(values.get("offline", False)),
        mirrors={k: tuple(v) for k, v in values.get("mirrors", {}).items()},
        concurrency=int(values.get("concurrency", DEFAULT_CONCURRENCY)),
        auth_file=values.get("auth_file"),
        register_envs=bool(values.get("register_envs", True)),
        path_conflict=str(values.get("path_conflict", "clobber")),
        sources=dict(merge.sources),
    )


_CACHED: dict[object, Config] = {}


def current_config() -> Config:
    """`load_config()` for this process: read once, again only when a variable or a file changed."""
    stamps = []
    for path in condarc_search_path():
        try:
            stamps.append((str(path), os.stat(path).st_mtime_ns))
        except OSError:
            continue
    key = (tuple(sorted(os.environ.items())), tuple(stamps))
    if key not in _CACHED:
        _CACHED.clear()
        _CACHED[key] = load_config()
    return _CACHED[key]
