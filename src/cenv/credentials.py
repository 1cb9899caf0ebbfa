"""Credentials: the one type that holds a secret (its `repr` masks it), how one is taken out of a URL
(`redact.parse_credentials` finds every layout), and the user's own credential files (`RATTLER_AUTH_FILE`,
netrc) read through the bounded config reader. `cenv.net` hands them to rattler and uv."""

from __future__ import annotations

import json
import os
import re
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cenv.redact import REDACTED, parse_credentials

__all__ = ["RATTLER_AUTH_FILE", "Credential", "host_of", "split_credentials"]

RATTLER_AUTH_FILE = "RATTLER_AUTH_FILE"


@dataclass(frozen=True)
class Credential:
    """A secret for one host. Its `repr`/`str` mask the secret (as uv's `DisplaySafeUrl` does), so a
    traceback, a log line or a debug print never shows it."""

    host: str
    kind: Literal["basic", "conda-token", "bearer"]
    secret: str = field(repr=False)
    username: str = ""
    source: str = "url"  # where it was found: "url", "RATTLER_AUTH_FILE", "~/.netrc", ...
    # a conda token found after a path prefix (`https://host/api/t/<token>/chan`: "/api"); rattler's
    # CondaToken puts a token at the start of the path, so these reach the server through a mirror rule
    token_prefix: str = ""

    def __repr__(self) -> str:
        user = f", username={self.username!r}" if self.username else ""
        return f"Credential(host={self.host!r}, kind={self.kind!r}, secret='{REDACTED}'{user})"

    __str__ = __repr__

    def rattler_entry(self) -> dict[str, object]:
        if self.kind == "basic":
            return {"BasicHTTP": {"username": self.username, "password": self.secret}}
        if self.kind == "conda-token":
            return {"CondaToken": self.secret}
        return {"BearerToken": self.secret}


def host_of(url: str) -> str:
    return (urllib.parse.urlsplit(url).hostname or "").lower()


def split_credentials(url: str) -> tuple[str, Credential | None]:
    """(`url` without its credentials, the credential it carried): `user:pass@`, `token@`, `/t/<token>/`
    anywhere in the path (`redact.parse_credentials`, the one parser of every layout). With both a password
    and a path token, the token is the credential returned and the password goes with it (see `tokens`)."""
    return _split(url)[:2]


def _split(url: str) -> tuple[str, Credential | None, Credential | None]:
    """(clean url, the main credential, a Basic credential found beside a path token)."""
    found = parse_credentials(url)
    if not found.found:
        return url, None, None
    parts = urllib.parse.urlsplit(found.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return url, None, None
    host = parts.hostname.lower()
    basic = (
        Credential(host, "basic", _expand(found.password), username=_expand(found.username or ""))
        if found.password is not None
        else None
    )
    if found.token is not None:
        token = Credential(host, "conda-token", _expand(found.token), token_prefix=found.token_prefix)
        return found.url, token, basic
    return found.url, basic, None


_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(secret: str) -> str:
    """`${NAME}` in a URL's credential part (conda-lock's placeholder: `https://${USER}:${TOKEN}@host`,
    `/t/${CONDA_TOKEN}/`) replaced by the variable's value, only there and only for that URL's host; the
    lockfile never holds either (the credential part is taken out). An unset variable stays as written."""
    if "${" not in secret:
        return secret
    return _ENV_REFERENCE.sub(lambda m: os.environ.get(m.group(1), m.group(0)), secret)


def _read_auth_file(path: Path) -> dict[str, object]:
    """The auth file's entries; a missing file is none, one that cannot be read safely (a FIFO,
    `/dev/zero`, not UTF-8) is a `ConfigFileError` naming it; broken JSON is none (rattler's view)."""
    from cenv.config_files import read_config_text

    if not os.path.lexists(path):
        return {}
    try:
        data = json.loads(read_config_text(path, RATTLER_AUTH_FILE))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _netrc_path() -> Path:
    return Path(os.environ.get("NETRC") or Path.home() / ".netrc")


def _user_netrc() -> dict[str, tuple[str, str, str]]:
    """The user's netrc entries: host (or `default`) -> (login, account, password)."""
    import netrc

    from cenv.config_files import check_config_file

    path = _netrc_path()
    if not os.path.lexists(path):
        return {}
    check_config_file(path, "netrc")  # a FIFO, `/dev/zero` or a file not in UTF-8: exit 1 naming it
    try:
        hosts = netrc.netrc(str(path)).hosts
    except (OSError, netrc.NetrcParseError):
        return {}
    # Python 3.10 gives None for a missing field, 3.11 an empty string
    return {
        host: (login or "", account or "", secret or "") for host, (login, account, secret) in hosts.items()
    }


def _netrc_token(text: str) -> bool:
    """Whether `text` can be written as one netrc token (no quoting: uv's parser has none)."""
    return bool(text) and not any(c.isspace() or c in "\"'\\#" for c in text)


def _write_private(path: Path, text: str) -> None:
    """`text` into `path`, readable by the owner only, replaced whole (a reader never sees half)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".new-")  # 0600
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
