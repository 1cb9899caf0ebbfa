"""The only module that talks to conda channels: name resolution, the repodata gateway, cache, redaction."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cenv.config import Config, current_config
from cenv.env_vars import CENV_CACHE_DIR, DEFAULT_CHANNEL_ALIAS, cache_root
from cenv.errors import ChannelError
from cenv.redact import redact, strip_credentials

if TYPE_CHECKING:
    import rattler

# conda's `defaults` is a fixed set of channels, independent of channel_alias.
_DEFAULTS = ("https://repo.anaconda.com/pkgs/main", "https://repo.anaconda.com/pkgs/r")


@dataclass(frozen=True)
class ResolvedChannel:
    """A channel as written in the spec (`name`) and where it lives (`url`, may carry credentials)."""

    name: str
    url: str

    def __repr__(self) -> str:  # the URL may carry a secret: repr and str show it masked
        return f"ResolvedChannel(name={redact(self.name)!r}, url={self.display!r})"

    __str__ = __repr__

    @property
    def display(self) -> str:
        return redact(self.url)

    @property
    def lock_name(self) -> str:
        """What goes into the lockfile's channel list: the name as written, credentials removed."""
        return strip_credentials(self.name)


def _is_url(text: str) -> bool:
    return "://" in text


def _is_path(text: str) -> bool:
    return (
        text.startswith(("/", "./", "../", "~")) or text in (".", "..") or (len(text) > 2 and text[1] == ":")
    )


def resolve_channels(
    names: tuple[str, ...] | list[str], alias: str | None = None, config: Config | None = None
) -> list[ResolvedChannel]:
    """Turn spec channel names into URLs. `alias` replaces https://conda.anaconda.org for bare names;
    `config` (.condarc) supplies `default_channels` for `defaults`, `custom_channels` and its own alias."""
    config = config or current_config()
    base = (alias or config.channel_alias or DEFAULT_CHANNEL_ALIAS).rstrip("/")
    if _is_path(base):
        base = Path(base).expanduser().resolve().as_uri()
    resolved: list[ResolvedChannel] = []
    for name in names:
        name = name.strip().rstrip("/")
        if not name:
            raise ChannelError("channels: empty channel name")
        if name == "defaults":
            defaults = config.default_channels or _DEFAULTS
            resolved.extend(resolve_channels([d for d in defaults if d != "defaults"], alias, config))
        elif name in config.custom_channels:
            base_url = config.custom_channels[name].rstrip("/")
            resolved.append(ResolvedChannel(name=name, url=f"{base_url}/{name}"))
        elif _is_url(name):
            resolved.append(ResolvedChannel(name=name, url=name))
        elif _is_path(name):
            path = Path(name).expanduser().resolve()
            if not path.is_dir():
                error = ChannelError(
                    f"channel `{name}`: no such directory {path}",
                    hints=[
                        *_close_folders(path),
                        "a local channel is a directory with <subdir>/repodata.json inside",
                    ],
                )
                error.channel = name
                raise error
            resolved.append(ResolvedChannel(name=name, url=path.as_uri()))
        else:
            resolved.append(ResolvedChannel(name=name, url=f"{base}/{name}"))
    seen: set[str] = set()
    unique = []
    for channel in resolved:
        if channel.url not in seen:
            seen.add(channel.url)
            unique.append(channel)
    return unique


def _close_folders(path: Path) -> list[str]:
    """`did you mean ...?` for a local channel folder typed wrong: its siblings with a close name."""
    import difflib

    try:
        siblings = [p.name for p in path.parent.iterdir() if p.is_dir()]
    except OSError:
        return []
    close = difflib.get_close_matches(path.name, siblings, n=1, cutoff=0.6)
    return [f"did you mean `{path.parent / close[0]}`?"] if close else []


def to_rattler(channel: ResolvedChannel) -> rattler.Channel:
    """The channel for rattler, without credentials: they go to the network layer by host, so rattler's
    repodata cache (which records URLs) never holds them."""
    from rattler import Channel

    from cenv.net import network

    return Channel(network().clean(channel.url).rstrip("/") + "/")


def repodata_cache_dir() -> Path:
    return cache_root() / "repodata"


def make_gateway(
    offline: bool = False, cache_dir: Path | None = None, channels: list[ResolvedChannel] | None = None
) -> rattler.Gateway:
    """A repodata gateway with cenv's cache and the one network client; offline uses only what a previous
    fetch cached. `channels`: their credentials are registered before the client is built."""
    from rattler import Gateway, SourceConfig

    from cenv.fsfaults import ensure_dir
    from cenv.net import network

    net = network()
    for channel in channels or ():
        net.clean(channel.url)
    cache = cache_dir or repodata_cache_dir()
    ensure_dir(cache, "the repodata cache", CENV_CACHE_DIR)
    source = SourceConfig(cache_action="force-cache-only" if offline else "cache-or-fetch")
    return Gateway(
        cache_dir=cache,
        default_config=source,
        client=net.client(),
        max_concurrent_requests=net.concurrency,
    )


def tolerant_local_channel(channel: ResolvedChannel) -> ResolvedChannel | None:
    """A copy of a local channel's repodata with `"depends": null` / `"constrains": null` read as empty
    lists (a real-world quirk that rattler refuses), or None when there is nothing to repair.

    The copy sets `info.base_url` (CEP-15) to the original subdirs, so package URLs still point there.
    """
    if not channel.url.startswith("file://"):
        return None
    import hashlib
    import json
    from urllib.parse import unquote, urlparse

    root = Path(unquote(urlparse(channel.url).path))
    copy = cache_root() / "repaired-channels" / hashlib.sha256(channel.url.encode()).hexdigest()[:16]
    repaired = False
    for source in sorted(root.glob("*/repodata.json")):
        data = json.loads(source.read_text(encoding="utf-8"))
        for key in ("packages", "packages.conda"):
            for record in (data.get(key) or {}).values():
                for field in ("depends", "constrains"):
                    if field in record and record[field] is None:
                        record[field] = []
                        repaired = True
        data.setdefault("info", {})["base_url"] = source.parent.as_uri() + "/"
        data["repodata_version"] = 2
        target = copy / source.parent.name / "repodata.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(data), encoding="utf-8")
    return ResolvedChannel(name=channel.name, url=copy.as_uri()) if repaired else None


def channel_error(exc: BaseException, channels: list[ResolvedChannel], offline: bool) -> ChannelError:
    """A gateway failure as a one-line ChannelError, credentials redacted."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # rattler appends "Caused by: ..." lines; keep the chain on one line.
    text = redact("; ".join(line.removeprefix("Caused by: ") for line in lines) or type(exc).__name__)
    hints = []
    if "certificate" in text.lower() or "UnknownIssuer" in text:
        return _tls_error(text, channels)
    if offline:
        hints.append("--offline uses only repodata cached by an earlier online lock; run once without it")
    if "expected a sequence" in text or "invalid type" in text:
        hints.append('the channel\'s repodata.json has a malformed record (e.g. `"depends": null`)')
    if "error sending request" in text or "dns error" in text or "Connect" in text:
        hints.append(
            "the channel cannot be reached: check the network, point names at a mirror with "
            "`--channel-alias URL`, or use `--offline` after a first fetch"
        )
    if "could not find subdir 'noarch'" in text:
        hints.append("every channel needs a noarch/repodata.json, even an empty one")
    hints.append("channels: " + ", ".join(c.display for c in channels))
    return ChannelError(f"could not load repodata: {text}", hints=hints)


def _tls_error(text: str, channels: list[ResolvedChannel]) -> ChannelError:
    import re
    import urllib.parse

    from cenv.net import host_of

    url = re.search(r"https://[^\s)]+", text)
    host = host_of(url.group(0)) if url else ", ".join(dict.fromkeys(host_of(c.url) for c in channels))
    port = urllib.parse.urlsplit(url.group(0)).port if url else None
    where = f"{host}:{port}" if port else host
    reason = text.rsplit("; ", 1)[-1]
    return ChannelError(
        f"the TLS certificate of {where} does not verify: {reason}",
        hints=[
            "for a private certificate authority, set `ssl_verify: /path/to/ca.pem` in .condarc, "
            "or SSL_CERT_FILE / REQUESTS_CA_BUNDLE",
            "channels: " + ", ".join(c.display for c in channels),
        ],
    )
