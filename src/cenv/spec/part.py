"""What one spec file says, key by key, before files are composed (`_UNSET`: the key is absent)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cenv.spec.models import (
    CondaDependency,
    PipRequirement,
)

_UNSET: Any = object()


@dataclass
class _FilePart:
    file: str
    name: Any = _UNSET
    channels: list[str] = field(default_factory=list)
    nodefaults: bool = False
    dependencies: list[CondaDependency] = field(default_factory=list)
    pip: list[PipRequirement] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    platforms: list[str] = field(default_factory=list)
    cuda: Any = _UNSET
    channel_priority: Any = _UNSET
    exclude_newer: Any = _UNSET
    index_url: Any = _UNSET
    pytorch_index: Any = _UNSET
    pip_fallback: Any = _UNSET
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    variants: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)  # plain keys: Spec field -> value (last file wins)
    key_lines: dict[str, int | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
