"""Reading pip requirement lines: names, and which lines name a project plainly."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable


def canonical(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def requirement_name(line: str) -> str | None:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        return canonical(Requirement(line).name)
    except InvalidRequirement:
        return None


def is_plain_requirement(line: str) -> bool:
    """A PEP 508 requirement by name and version (no URL): one a `tool.uv.sources` entry can redirect."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        return Requirement(line).url is None
    except InvalidRequirement:
        return False


def requested_names(requirements: Iterable[str]) -> set[str]:
    """The projects the spec's pip lines name (what uv's `# via -r` marks); options and URLs without a name
    are skipped."""
    from packaging.requirements import InvalidRequirement, Requirement

    names = set()
    for line in requirements:
        with contextlib.suppress(InvalidRequirement):
            names.add(canonical(Requirement(line.strip()).name))
    return names
