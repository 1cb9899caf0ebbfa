"""The one HTTP client configuration: repodata (rattler's Gateway), package archives and the pip stage's
index probes all go through what this module sets up.

rattler's networking `Client` is the transport (the Gateway and `install()` take it; archives stream through
`download_to_writer`): connection reuse, retries with back-off (`RetryMiddleware`), mirrors with fail-over
(`MirrorMiddleware`) and credentials (`AuthenticationMiddleware`: `RATTLER_AUTH_FILE`, the keyring,
`~/.netrc`). httpx would have been a fourth stack beside rattler's own and uv's.

Credentials never reach rattler inside a URL: `user:pass@` and `/t/<token>/` are taken out of channel and
package URLs (so rattler's repodata cache, which records URLs, never holds them) and handed to rattler's
authentication middleware by host through a private (0600, in a 0700 directory) auth file that merges the
user's own `RATTLER_AUTH_FILE`; it is removed when the process ends. Proxies (`proxy_servers`, unless
`HTTPS_PROXY`/`HTTP_PROXY` are set) and a CA bundle (`ssl_verify: PATH`, `REQUESTS_CA_BUNDLE`) are exported
to this process's environment once, where rattler, uv and urllib all read them.

uv (the pip stage's lock and create) gets the same credentials by host through a private netrc (see
:meth:`Network.uv_environment`).
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import threading
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from cenv.config import Config, current_config
from cenv.credentials import (  # re-exported: cenv.net is where callers look for them
    RATTLER_AUTH_FILE,
    Credential,
    _netrc_token,
    _read_auth_file,
    _split,
    _user_netrc,
    _write_private,
    host_of,
    split_credentials,
)

if TYPE_CHECKING:
    import rattler.networking

__all__ = [
    "ATTEMPTS",
    "Credential",
    "HttpError",
    "Network",
    "exists",
    "host_of",
    "network",
    "public_environment",
    "split_credentials",
    "stream",
]

_RETRIES = 2  # 3 attempts in all for a 5xx, 408, 429 or a failed connection, with back-off (see `stream`)
ATTEMPTS = _RETRIES + 1  # how many times the client tries one request


class Network:
    """What every request of this process uses: one rattler Client (built on first use), the request
    concurrency, and the credentials found so far per host."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._credentials: dict[str, Credential] = {}
        self._token_mirrors: dict[str, str] = {}  # `scheme://host/prefix/` -> the same with `t/<token>/`
        self._client: rattler.networking.Client | None = None
        self._lock = threading.Lock()
        self._auth_dir: Path | None = None
        from cenv.private_tmp import remove_stale_dirs

        remove_stale_dirs("cenv-auth-")  # a killed run's merged auth file (its secret) goes now
        # the user's own auth file, read before RATTLER_AUTH_FILE is pointed at a private merged one
        value = os.environ.get(RATTLER_AUTH_FILE)
        ours = value is not None and Path(value).parent in _LIVE_DIRS
        self._user_file: Path | None = Path(value) if value and not ours else None
        self._export_environment()
        # credentials written into .condarc URLs: found again by host when a lockfile (which never
        # holds them) is installed
        for url in (*config.channels, *config.default_channels, *config.custom_channels.values()):
            self.clean(url)
        if config.channel_alias:
            self.clean(config.channel_alias)

    # ------------------------------------------------------------------ credentials
    def clean(self, url: str) -> str:
        """`url` without credentials; those it carried are remembered for its host."""
        stripped, credential, basic = _split(url)
        if credential is None:
            return stripped
        with self._lock:
            changed = False
            for found in (credential, basic):
                if found is None:
                    continue
                if found.kind == "conda-token" and (found.token_prefix or basic is not None):
                    # rattler's CondaToken would put the token first in the path (and the host's one entry
                    # is the password here): a mirror rule puts it back where the URL had it
                    parts = urllib.parse.urlsplit(stripped)
                    base = f"{parts.scheme}://{parts.netloc}{found.token_prefix}/"
                    rule = f"{base}t/{urllib.parse.quote(found.secret, safe='')}/"
                    if base not in self._token_mirrors:
                        self._token_mirrors[base] = rule
                        changed = True
                elif found.host not in self._credentials:
                    self._credentials[found.host] = found
                    changed = True
            if changed:
                self._client = None  # rebuilt with the new host's credential on next use
        return stripped

    def credential_sources(self) -> dict[str, str]:
        """host -> where its credential comes from (never the credential itself)."""
        sources: dict[str, str] = {}
        sources.update(dict.fromkeys((host.lower() for host in _user_netrc()), "~/.netrc"))
        files = [(self.config.auth_file, "authentication-override-file")]
        files.append((self._user_auth(), RATTLER_AUTH_FILE))
        for path, label in files:
            if path is not None:
                for host in _read_auth_file(path):
                    sources[host] = f"{label} ({path})"
        for host in [*self._credentials, *(host_of(base) for base in self._token_mirrors)]:
            sources[host] = "channel url"
        return dict(sorted(sources.items()))

    def _user_auth(self) -> Path | None:
        return self._user_file

    def _write_auth_file(self) -> None:
        """A private auth file: the user's (RATTLER_AUTH_FILE or authentication-override-file) plus the
        credentials taken out of URLs; RATTLER_AUTH_FILE points at it for rattler's middleware."""
        user = self._user_auth() or self.config.auth_file
        if not self._credentials and self.config.auth_file is None:
            return
        merged = _read_auth_file(user) if user is not None else {}
        for host, credential in self._credentials.items():
            merged[host] = credential.rattler_entry()
        path = self._private_dir() / "credentials.json"
        _write_private(path, json.dumps(merged))
        os.environ[RATTLER_AUTH_FILE] = str(path)

    def _private_dir(self) -> Path:
        if self._auth_dir is None:
            from cenv.private_tmp import make_private_dir

            self._auth_dir = make_private_dir("cenv-auth-")  # 0700; a killed run's is removed here
            atexit.register(shutil.rmtree, self._auth_dir, True)
            _LIVE_DIRS.append(self._auth_dir)
        return self._auth_dir

    def uv_environment(self) -> dict[str, str]:
        """What uv's environment needs for the credentials cenv found: `NETRC` naming a private netrc that
        holds the user's own entries plus, by host, the Basic credentials of the auth file and of URLs.

        A netrc rather than uv's named indexes (`UV_INDEX_<NAME>_USERNAME`/`_PASSWORD`): credentials here
        are keyed by host, as in rattler's auth file; uv applies a netrc entry to every URL of that host (the
        index pages, and the archive URLs that create installs from a lockfile without any index), so lock
        and create read the same file and nothing is named or put on uv's command line. Bearer and conda
        tokens, and `*.host` wildcards, have no netrc form: those hosts are left to uv's own lookup.
        Empty when there is nothing to add (uv then reads `NETRC` or `~/.netrc` itself)."""
        with self._lock:
            entries: dict[str, tuple[str, str]] = {}
            value = os.environ.get(RATTLER_AUTH_FILE)  # the user's, or the private one that merges it
            path = Path(value) if value else self.config.auth_file
            for host, entry in (_read_auth_file(path) if path is not None else {}).items():
                basic = entry.get("BasicHTTP") if isinstance(entry, dict) else None
                if isinstance(basic, dict) and "*" not in host:
                    entries[host.lower()] = (str(basic.get("username", "")), str(basic.get("password", "")))
            for host, credential in self._credentials.items():
                if credential.kind == "basic":
                    entries[host] = (credential.username, credential.secret)
            entries = {h: e for h, e in entries.items() if all(_netrc_token(t) for t in (h, *e))}
            if not entries:
                return {}
            lines = [
                f"machine {host} login {login} password {password}"
                for host, (login, password) in entries.items()
            ]
            for host, (login, _account, password) in _user_netrc().items():
                if host not in entries and all(_netrc_token(t) for t in (host, login, password or "")):
                    head = "default" if host == "default" else f"machine {host}"
                    lines.append(f"{head} login {login} password {password}")
            netrc = self._private_dir() / "netrc"
            text = "\n".join(lines) + "\n"
            if not netrc.is_file() or netrc.read_text(encoding="utf-8") != text:
                _write_private(netrc, text)
            return {"NETRC": str(netrc)}

    # ------------------------------------------------------------------ transport
    def _export_environment(self) -> None:
        """Proxies and the CA bundle, once, where rattler, uv and urllib read them."""
        config = self.config
        for scheme in ("http", "https"):
            proxy = config.proxy_servers.get(scheme)
            if proxy and not (os.environ.get(f"{scheme.upper()}_PROXY") or os.environ.get(f"{scheme}_proxy")):
                os.environ[f"{scheme.upper()}_PROXY"] = proxy
        if isinstance(config.ssl_verify, str) and os.environ.get("SSL_CERT_FILE") != config.ssl_verify:
            os.environ["SSL_CERT_FILE"] = config.ssl_verify

    @property
    def concurrency(self) -> int:
        return self.config.concurrency

    def client(self) -> rattler.networking.Client:
        """The rattler Client: retries, mirrors with fail-over, credentials; TLS as configured."""
        with self._lock:
            if self._client is None:
                self._write_auth_file()
                self._client = self._build()
            return self._client

    def _build(self) -> rattler.networking.Client:
        from rattler.networking import AuthenticationMiddleware, Client, MirrorMiddleware, RetryMiddleware

        import cenv

        agent = f"cenv/{cenv.__version__}"
        mirrors = {_slash(k): [_slash(m) for m in v] for k, v in self.config.mirrors.items()}
        for base, rule in self._token_mirrors.items():
            mirrors.setdefault(base, [rule])
        if self.config.ssl_verify is False:
            from rattler import Config as RattlerConfig

            lines = ["tls-no-verify = true"]
            if os.environ.get(RATTLER_AUTH_FILE):
                lines.append(f"authentication-override-file = {json.dumps(os.environ[RATTLER_AUTH_FILE])}")
            if mirrors:
                lines.append("[mirrors]")
                lines += [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in mirrors.items()]
            config = RattlerConfig.from_toml("\n".join(lines))
            return Client.from_config(config, max_retries=_RETRIES, user_agent=agent)
        middlewares: list[object] = [RetryMiddleware(_RETRIES)]
        if mirrors:
            middlewares.append(MirrorMiddleware(mirrors))
        middlewares.append(AuthenticationMiddleware())
        return Client(middlewares, user_agent=agent)  # type: ignore[arg-type]


def _slash(url: str) -> str:
    return url.rstrip("/") + "/"


_LIVE_DIRS: list[Path] = []
_CURRENT: Network | None = None
_CURRENT_LOCK = threading.Lock()


def network(config: Config | None = None) -> Network:
    """This process's Network, for the current configuration (rebuilt when the configuration changed)."""
    global _CURRENT
    config = config or current_config()
    with _CURRENT_LOCK:
        if _CURRENT is None or _CURRENT.config != config:
            previous = _CURRENT
            _CURRENT = Network(config)
            if previous is not None:
                _CURRENT._credentials.update(previous._credentials)
                _CURRENT._token_mirrors.update(previous._token_mirrors)
                _CURRENT._user_file = previous._user_file
        return _CURRENT


def public_environment(env: dict[str, str]) -> dict[str, str]:
    """`env` for a child process that needs none of the credentials cenv took out of URLs (link scripts,
    uv and the build backends it runs): `RATTLER_AUTH_FILE` names the user's own file again, not the
    private merged one (uv gets what it needs through `NETRC`, see `uv_environment`)."""
    value = env.get(RATTLER_AUTH_FILE)
    if value and Path(value).parent in _LIVE_DIRS:
        user = _CURRENT._user_file if _CURRENT is not None else None
        if user is not None:
            env[RATTLER_AUTH_FILE] = str(user)
        else:
            env.pop(RATTLER_AUTH_FILE, None)
    return env


def cleanup() -> None:
    """Remove the private auth files (the CLI leaves through os._exit, which skips atexit)."""
    for directory in _LIVE_DIRS:
        shutil.rmtree(directory, ignore_errors=True)
    _LIVE_DIRS.clear()


class HttpError(Exception):
    """A request that failed after the client's retries; `status` when the server answered. `body_cut`:
    the response began (2xx and its head) and its body broke off, which the client never retries (see
    `stream`)."""

    def __init__(self, message: str, status: int | None, *, body_cut: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.body_cut = body_cut

    @property
    def reason(self) -> str:
        """`HTTP 401 Unauthorized` when the server answered, else the transport's own words."""

        found = re.search(r"\((\d{3}) ([^)]*)\) for url", str(self))
        return f"HTTP {found.group(1)} {found.group(2)}" if found else str(self)


def _status(message: str) -> int | None:

    found = re.search(r"\((\d{3}) [^)]*\) for url", message)
    return int(found.group(1)) if found else None


def _failure(exc: BaseException) -> HttpError:
    from cenv.redact import error_text

    text = error_text(exc)
    return HttpError(text, _status(text))


def stream(url: str, write: Callable[[bytes], object], timeout: float | None = None) -> None:
    """GET `url` through the one client, calling `write` with each chunk of the body (from this thread).
    Raises HttpError (message redacted) when it fails after the client's retries; `deadline.Stalled` when
    `timeout` seconds brought no progress (or less than the floor).

    What the client retries (`RetryMiddleware`, reqwest-retry's default strategy, measured against
    tests/support/http_server.py): the request up to the response's head: a 5xx, 408 or 429 answer, a
    refused or timed-out connection, a connection closed before the head; py-rattler then raises
    RuntimeError("Request failed after N retries") or the last status. A body that breaks off after the
    head (a short body, a dropped connection) is past the middleware, which has returned the response:
    never retried, raised as OSError("error decoding response body"), here `HttpError(body_cut=True)`; the
    caller decides whether to start the download again (fetch.py does)."""
    import asyncio

    from rattler.package_streaming import download_to_writer

    from cenv.deadline import Stalled, until_stalled

    net = network()
    clean = net.clean(url)
    received = 0
    failed: BaseException | None = None

    class _Writer:
        def write(self, data: bytes) -> int:
            nonlocal received, failed
            received += len(data)
            try:
                write(data)
            except BaseException as exc:  # the caller's own error (a full disk, a cancel): raised as is
                failed = exc
                raise
            return len(data)

    async def run() -> None:
        download = download_to_writer(net.client(), clean, _Writer())
        if timeout is None:
            await download
        else:
            await until_stalled(download, lambda: received, timeout, busy_counts=False, progress_blocks=False)

    try:
        asyncio.run(run())
    except Stalled:
        raise
    except Exception as exc:
        if failed is not None:
            raise failed from None
        failure = _failure(exc)
        failure.body_cut = isinstance(exc, OSError) and failure.status is None
        raise failure from exc


def exists(url: str) -> bool:
    """Whether GET `url` answers 2xx (a 4xx is False); HttpError when the server cannot be reached."""
    try:
        stream(url, lambda data: None)
    except HttpError as exc:
        if exc.status is not None and 400 <= exc.status < 500:
            return False
        raise
    return True
