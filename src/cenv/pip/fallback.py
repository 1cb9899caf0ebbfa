"""The PyPI fallback: conda dependency names that no channel has, taken by the pip stage when the package
index has that exact name (`pip-fallback: true` or `cenv lock --pip-fallback`); without it, the solve error
says which names are on the index and what to do."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

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


def on_index(names: Sequence[str], index_url: str | None, offline: bool) -> list[str] | None:
    """The names the PEP 503 index has a project page for (exact name); None when it cannot be asked."""
    root = (index_url or PYPI_SIMPLE).rstrip("/")
    found = []
    for name in names:
        page = f"{root}/{canonical(name)}/"
        answer = _exists(page, offline)
        if answer is None:
            return None
        if answer:
            found.append(name)
    return found


def _exists(url: str, offline: bool) -> bool | None:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path)).is_dir()
    if offline:
        return None
    request = urllib.request.Request(strip_credentials(url), method="GET")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return int(response.status) == 200
    except urllib.error.HTTPError as exc:
        return False if exc.code == 404 else None
    except (urllib.error.URLError, OSError):
        return None
