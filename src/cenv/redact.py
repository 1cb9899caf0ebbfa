"""Credentials in URLs: the one parser for every layout conda knows, and redaction for every string cenv
writes to a lockfile, a log or an error message.

Layouts (conda/common/url.py `split_anaconda_token`, `split_scheme_auth_token`):
`scheme://user:password@host/...`, `scheme://token@host/...` (anaconda.org and quetz read a bare user part as
a token), and `/t/<token>/` anywhere in the path (anaconda.org puts it first, Anaconda Server after `/api`
or another prefix: `https://host/api/t/<token>/channel`), plus `?token=` style query parameters.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field

# The authority's user part: everything up to the LAST `@` before the path (a raw `@` in a password is
# common: `alice:p@ss@host`). The look-behind starts a scheme only at a word's start: linear on any input.
_USERINFO = re.compile(r"(?<![a-zA-Z0-9+.-])(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/?#\s]*)@")
# `/t/<token>` anywhere in a path, followed by `/`, the end, or what ends a URL in text
_TOKEN_PATH = re.compile(r"/t/(?P<token>[^/\s?#]+)(?=[/\s?#]|$)")
_QUERY_SECRET = re.compile(r"(?i)([?&](?:token|access_token|password|api_key)=)[^&#\s]+")

REDACTED = "***"


@dataclass(frozen=True)
class UrlCredentials:
    """What `parse_credentials` found in one URL. `repr` never shows a secret."""

    url: str  # the URL with every credential taken out (what lockfiles and caches may hold)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)  # a `/t/<token>/` or a bare `token@`
    token_prefix: str = ""  # the path before `/t/<token>` ("" for anaconda.org, "/api" for Anaconda Server)
    token_in_userinfo: bool = False

    @property
    def found(self) -> bool:
        return self.password is not None or self.token is not None or self.username is not None


def parse_credentials(url: str) -> UrlCredentials:
    """Split `url` into its credential-free form and the credentials it carried (every layout at once:
    `https://u:p@host/t/TOK/chan` keeps both the password and the token)."""
    if "@" not in url and "/t/" not in url:
        return UrlCredentials(url)
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # not a URL (`https://]host`): nothing to take out
        return UrlCredentials(url)
    if not parts.scheme or not parts.netloc:
        return UrlCredentials(url)
    netloc = parts.netloc
    username = password = token = None
    in_userinfo = False
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        user, sep, secret = userinfo.partition(":")
        if sep:
            username, password = urllib.parse.unquote(user), urllib.parse.unquote(secret)
        elif user:
            token, in_userinfo = urllib.parse.unquote(user), True
    path = parts.path
    prefix = ""
    found = _TOKEN_PATH.search(path)
    if found is not None:
        prefix = path[: found.start()]
        path = prefix + path[found.end() :]
        if not in_userinfo or token is None:
            token, in_userinfo = urllib.parse.unquote(found.group("token")), False
    clean = urllib.parse.urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))
    return UrlCredentials(clean, username, password, token, prefix, in_userinfo)


def _userinfo(match: re.Match[str]) -> str:
    user, sep, _ = match.group("userinfo").partition(":")
    if sep:
        return f"{match.group('scheme')}{user}:{REDACTED}@"
    return f"{match.group('scheme')}{REDACTED}@"


def redact(text: str) -> str:
    """Mask credentials in URLs found anywhere in `text`."""
    text = _USERINFO.sub(_userinfo, text)
    text = _TOKEN_PATH.sub(f"/t/{REDACTED}", text)
    return _QUERY_SECRET.sub(lambda m: m.group(1) + REDACTED, text)


def strip_credentials(url: str) -> str:
    """A URL with its credentials removed entirely, as stored in lockfiles (conda-lock does the same)."""
    if "@" not in url and "/t/" not in url and "?" not in url:
        return url  # the common case (every package URL of a lock): nothing any pattern below could match
    url = _USERINFO.sub(lambda m: m.group("scheme"), url)
    url = _TOKEN_PATH.sub("", url)
    base, sep, query = url.partition("?")
    if not sep:
        return url
    kept = [p for p in query.split("&") if not _QUERY_SECRET.match("?" + p)]
    return base + ("?" + "&".join(kept) if kept else "")


def error_text(exc: BaseException, limit: int | None = None) -> str:
    """An exception's message on one line (rattler's `Caused by: ` chain joined by `; `), credentials
    masked, cut at `limit` characters."""
    lines = [line.strip().removeprefix("Caused by: ") for line in str(exc).splitlines() if line.strip()]
    return redact("; ".join(lines))[:limit] or type(exc).__name__
