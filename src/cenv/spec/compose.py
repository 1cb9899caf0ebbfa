"""Composing spec files in order (later files refine earlier ones) into one validated `Spec`."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from cenv.errors import SpecError
from cenv.spec.models import (
    ChannelPriority,
    CondaDependency,
    PipRequirement,
    Spec,
)
from cenv.spec.part import _UNSET, _FilePart
from cenv.spec.yamlsource import _where

# --------------------------------------------------------------------------------------------- composing

T = TypeVar("T")


def _merge_items(acc: list[T], new: list[T], key: Callable[[T], Hashable]) -> list[T]:
    """Later items replace earlier ones with the same key in place; the rest are appended."""
    out = list(acc)
    positions: dict[Hashable, list[int]] = {}
    for i, item in enumerate(out):
        positions.setdefault(key(item), []).append(i)
    removed: set[int] = set()
    replaced: set[Hashable] = set()
    appended: list[T] = []
    for item in new:
        k = key(item)
        if k in positions and k not in replaced:
            first, *rest = positions[k]
            out[first] = item
            removed.update(rest)
            replaced.add(k)
        else:
            appended.append(item)
    return [item for i, item in enumerate(out) if i not in removed] + appended


def _pip_key(req: PipRequirement) -> Hashable:
    name = req.name
    return ("name", name, req.selector) if name is not None else ("line", req.requirement, req.selector)


def _compose(parts: Sequence[_FilePart]) -> Spec:
    name: str | None = None
    channels: list[str] = []
    nodefaults = False
    deps: list[CondaDependency] = []
    pip: list[PipRequirement] = []
    variables: dict[str, str] = {}
    platforms: list[str] = []
    cuda: Any = None
    channel_priority: ChannelPriority = ChannelPriority.STRICT
    exclude_newer: datetime | None = None
    index_url: str | None = None
    pytorch_index: str | None = None
    pip_fallback = False
    extra_index_urls: list[str] = []
    find_links: list[str] = []
    variants: dict[str, Any] = {}
    warnings: list[str] = []
    values: dict[str, Any] = {}
    for part in parts:
        values.update(part.values)
        if part.name is not _UNSET and part.name is not None:
            name = part.name
        channels.extend(c for c in part.channels if c not in channels)
        nodefaults = nodefaults or part.nodefaults
        deps = _merge_items(deps, part.dependencies, lambda d: (d.name, d.selector))
        pip = _merge_items(pip, part.pip, _pip_key)
        variables.update(part.variables)
        if part.platforms:
            platforms = list(part.platforms)
        if part.cuda is not _UNSET:
            cuda = part.cuda
        if part.channel_priority is not _UNSET:
            channel_priority = part.channel_priority
        if part.exclude_newer is not _UNSET and part.exclude_newer is not None:
            exclude_newer = part.exclude_newer
        if part.index_url is not _UNSET and part.index_url is not None:
            index_url = part.index_url
        if part.pytorch_index is not _UNSET and part.pytorch_index is not None:
            pytorch_index = part.pytorch_index
        if part.pip_fallback is not _UNSET:
            pip_fallback = part.pip_fallback
        extra_index_urls.extend(u for u in part.extra_index_urls if u not in extra_index_urls)
        find_links.extend(u for u in part.find_links if u not in find_links)
        variants.update(part.variants)
        warnings.extend(part.warnings)
    fields: dict[str, Any] = {
        "name": name,
        "channels": tuple(channels),
        "nodefaults": nodefaults,
        "dependencies": tuple(asdict(d) for d in deps),
        "pip": tuple(asdict(r) for r in pip),
        "variables": variables,
        "platforms": tuple(platforms),
        "cuda": cuda,
        "channel_priority": channel_priority,
        "exclude_newer": exclude_newer,
        "pip_options": {
            "index_url": index_url,
            "extra_index_urls": tuple(extra_index_urls),
            "find_links": tuple(find_links),
            "pytorch_index": pytorch_index,
            "fallback": pip_fallback,
        },
        "variants": variants,
        "sources": tuple(part.file for part in parts),
        "warnings": tuple(warnings),
        **values,
    }
    try:
        spec = _spec_adapter().validate_python(fields)
    except ValidationError as exc:
        raise _from_validation(exc, parts) from None
    assert isinstance(spec, Spec)
    return spec


@lru_cache(maxsize=1)
def _spec_adapter() -> TypeAdapter[Spec]:
    return TypeAdapter(Spec)


def _from_validation(exc: ValidationError, parts: Sequence[_FilePart]) -> SpecError:
    """Point a pydantic error at the YAML key it came from (the last file that set that key)."""
    err = exc.errors()[0]
    loc = [str(x) for x in err.get("loc", ())]
    field_name = loc[0] if loc else ""
    key = field_name.replace("_", "-")  # Spec fields are the YAML keys in snake case
    file, line = (parts[-1].file if parts else "<spec>"), None
    for part in reversed(parts):
        if key in part.key_lines:
            file, line = part.file, part.key_lines[key]
            break
    path = key + "".join(f"[{x}]" if x.isdigit() else f".{x}" for x in loc[1:])
    message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    return SpecError(f"{_where(file, line)}: {path}: {message}")
