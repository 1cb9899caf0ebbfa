"""`cenv info`: what cenv resolved on this machine, like `conda info` and `pixi info`. No secret is shown:
URLs are redacted and credentials appear only as where they were found."""

from __future__ import annotations

import importlib.metadata
import os
from typing import Any

import cenv
from cenv.redact import redact

__all__ = ["gather_info", "render_info"]


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def gather_info() -> dict[str, Any]:
    """Everything `cenv info` shows, as plain data (the `--json` form)."""
    from cenv.channels import resolve_channels
    from cenv.config import current_config
    from cenv.env_vars import DEFAULT_CHANNEL_ALIAS, cache_root
    from cenv.errors import ChannelError
    from cenv.install.envs import envs_dirs, pkgs_dir
    from cenv.install.host import detect_host
    from cenv.net import network
    from cenv.platforms import host_platform

    config = current_config()
    try:
        channels = [
            {"name": redact(c.name), "url": c.display}
            for c in resolve_channels(list(config.channels or ("defaults",)), None, config)
        ]
    except ChannelError as exc:
        channels = [{"name": "", "url": f"error: {exc.message}"}]
    tls: str | bool = config.ssl_verify
    if tls is True and os.environ.get("SSL_CERT_FILE"):
        tls = os.environ["SSL_CERT_FILE"]
    return {
        "cenv_version": cenv.__version__,
        "engines": {"py-rattler": _version("py-rattler"), "uv": _version("uv")},
        "platform": host_platform(),
        "config_files": [str(p) for p in (*config.condarc_files, *config.rattler_files)],
        "channels": channels,
        "channel_alias": redact(config.channel_alias or DEFAULT_CHANNEL_ALIAS),
        "default_channels": [redact(c) for c in config.default_channels],
        "custom_channels": {k: redact(v) for k, v in config.custom_channels.items()},
        "channel_priority": config.channel_priority,
        "mirrors": {redact(k): [redact(m) for m in v] for k, v in config.mirrors.items()},
        "package_cache": str(pkgs_dir()),
        "envs_dirs": [str(p) for p in envs_dirs()],
        "cache_dir": str(cache_root()),
        "offline": config.offline,
        "ssl_verify": tls,
        "proxies": {
            scheme: redact(os.environ.get(f"{scheme.upper()}_PROXY") or config.proxy_servers.get(scheme, ""))
            for scheme in ("http", "https")
            if os.environ.get(f"{scheme.upper()}_PROXY") or config.proxy_servers.get(scheme)
        },
        "concurrency": config.concurrency,
        "remote_read_timeout_secs": config.remote_read_timeout_secs,
        "credentials": network(config).credential_sources(),
        "virtual_packages": [f"{p.name}={p.version}={p.build}" for p in detect_host(cuda=True).values()],
        "sources": dict(config.sources),
    }


def render_info(info: dict[str, Any]) -> str:
    """The text form: one `key : value` line per setting, lists indented below their key."""

    def block(label: str, values: list[str]) -> list[str]:
        if not values:
            return [f"{label:>22} : (none)"]
        return [f"{label:>22} : {values[0]}", *(f"{'':>22}   {v}" for v in values[1:])]

    engines = ", ".join(f"{k} {v}" for k, v in info["engines"].items() if v)
    lines = [
        f"{'cenv version':>22} : {info['cenv_version']}",
        f"{'engines':>22} : {engines}",
        f"{'platform':>22} : {info['platform']}",
        *block("config files", info["config_files"]),
        *block(
            "channels",
            [f"{c['name']}  ->  {c['url']}" if c["name"] != c["url"] else c["url"] for c in info["channels"]],
        ),
        f"{'channel alias':>22} : {info['channel_alias']}",
        f"{'channel priority':>22} : {info['channel_priority'] or '(the spec decides; strict by default)'}",
        *block("custom channels", [f"{k}: {v}" for k, v in info["custom_channels"].items()]),
        *block("mirrors", [f"{k} -> {', '.join(v)}" for k, v in info["mirrors"].items()]),
        f"{'package cache':>22} : {info['package_cache']}",
        *block("envs directories", info["envs_dirs"]),
        f"{'cache directory':>22} : {info['cache_dir']}",
        f"{'offline':>22} : {info['offline']}",
        f"{'ssl verify':>22} : {info['ssl_verify']}",
        *block("proxies", [f"{k}: {v}" for k, v in info["proxies"].items()]),
        f"{'concurrent requests':>22} : {info['concurrency']}",
        *block("credentials", [f"{host}: {source}" for host, source in info["credentials"].items()]),
        *block("virtual packages", info["virtual_packages"]),
    ]
    return "\n".join(lines)
