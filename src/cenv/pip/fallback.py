"""The PyPI fallback: conda dependency names that no channel has, taken by the pip stage when the package
index has that exact name (`pip-fallback: true` or `cenv lock --pip-fallback`); without it, the solve error
says which names are on the index and what to do."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cenv.cache_files import store_text
from cenv.pip.requirements import canonical
from cenv.redact import strip_credentials

if TYPE_CHECKING:
    import rattler

    from cenv.channels import ResolvedChannel
    from cenv.spec.models import CondaDependency

PYPI_SIMPLE = "https://pypi.org/simple"


async def missing_from_channels(
    gateway: rattler.Gateway,
    channels: Sequence[ResolvedChannel],
    platform: str,
    dependencies: Sequence[CondaDependency],
) -> list[CondaDependency]:
    """The dependencies (without a `channel::`) whose name no channel has for `platform` or noarch."""
    import rattler

    from cenv.channels import to_rattler

    candidates = [d for d in dependencies if d.channel is None and not d.name.startswith("__")]
    if not candidates:
        return []
    subdirs = [rattler.Platform(platform), rattler.Platform("noarch")]
    specs = [rattler.MatchSpec(d.name) for d in candidates]
    result = await gateway.query([to_rattler(c) for c in channels], subdirs, specs, recursive=False)
    found = {r.name.normalized for records in result for r in records}
    return [d for d in candidates if d.name.lower() not in found]


# how long one look-up's answer is reused: conda's `local_repodata_ttl` default (one hour), or its variable
_TTL_SECONDS = 3600
# all look-ups together: a slow index must not hold a failing lock for minutes (they run concurrently)
LOOKUP_DEADLINE = 10.0
_POLL = 0.05  # how often the waiting coroutine wakes: Ctrl-C acts within this, not after the look-ups


def _ttl() -> int:
    try:
        return max(0, int(os.environ.get("CONDA_LOCAL_REPODATA_TTL", _TTL_SECONDS)))
    except ValueError:
        return _TTL_SECONDS


def _cache_file(root: str) -> Path:
    from cenv.env_vars import cache_root

    digest = hashlib.sha256(strip_credentials(root).encode()).hexdigest()[:16]
    return cache_root() / "pypi-names" / f"{digest}.json"


def _cached(root: str) -> dict[str, list[float | bool]]:
    """name -> [checked at, on the index] for one index, read whole or not at all."""
    try:
        data = json.loads(_cache_file(root).read_text(encoding="utf-8")[:1_000_000])
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


async def on_index(
    names: Sequence[str], index_url: str | None, offline: bool, deadline: float = LOOKUP_DEADLINE
) -> list[str] | None:
    """The names the PEP 503 index has a project page for (exact name); None when it cannot be asked.

    Answers are cached per index for conda's repodata TTL; the rest are asked concurrently on daemon threads
    and waited for by polling, so an interrupt is not held up by a look-up (asyncio's default executor joins
    its threads on shutdown) and the whole costs at most `deadline` seconds."""
    root = (index_url or PYPI_SIMPLE).rstrip("/")
    cache = _cached(root)
    now = time.time()
    answers: dict[str, bool | None] = {}
    for name in names:
        entry = cache.get(canonical(name))
        if isinstance(entry, list) and len(entry) == 2 and now - float(entry[0]) < _ttl():
            answers[name] = bool(entry[1])
    asked = [name for name in dict.fromkeys(names) if name not in answers]
    results: dict[str, bool | None] = {}

    def ask(name: str) -> None:
        results[name] = _exists(f"{root}/{canonical(name)}/", offline)

    for name in asked:
        threading.Thread(target=ask, args=(name,), daemon=True, name=f"cenv-pypi-{name}").start()
    end = time.monotonic() + deadline
    while len(results) < len(asked) and time.monotonic() < end:
        await asyncio.sleep(_POLL)
    answers.update({name: results.get(name) for name in asked})
    if any(answers[name] is None for name in names):
        return None
    fresh = {canonical(n): [now, bool(answers[n])] for n in asked}
    if fresh and not root.startswith("file:"):
        store_text(_cache_file(root).parent, _cache_file(root).name, json.dumps({**cache, **fresh}), keep=64)
    return [name for name in names if answers[name]]


def _exists(url: str, offline: bool) -> bool | None:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path)).is_dir()
    if offline:
        return None
    request = urllib.request.Request(strip_credentials(url), method="GET")
    try:
        with urllib.request.urlopen(request, timeout=LOOKUP_DEADLINE) as response:
            return int(response.status) == 200
    except urllib.error.HTTPError as exc:
        return False if exc.code == 404 else None
    except (urllib.error.URLError, OSError):
        return None
