"""Credential redaction for every string cenv writes to a lockfile, a log or an error message."""

from __future__ import annotations

import re

# https://user:password@host/... -> https://user:***@host/...  and https://token@host -> https://***@host
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")
# anaconda.org style tokens: https://host/t/<token>/channel
_TOKEN_PATH = re.compile(r"/t/[^/\s]+(?=/)")
_QUERY_SECRET = re.compile(r"(?i)([?&](?:token|access_token|password|api_key)=)[^&#\s]+")

REDACTED = "***"


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
