"""One reader per top-level spec key (`_READERS`); `dependencies` has its own module."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import Any

from cenv.spec.models import (
    CHANNEL_PRIORITIES,
    KNOWN_PLATFORMS,
    ChannelPriority,
    normalize_cuda,
)
from cenv.spec.part import _FilePart
from cenv.spec.read_dependencies import _read_dependencies
from cenv.spec.yamlsource import (
    _Ctx,
    _did_you_mean,
    _kind,
    _line,
    _opt_str,
    _scalar_text,
    _short,
    _str_list,
)

# Keys other tools write into real environment files, accepted and ignored with a warning.
_IGNORED_KEYS = {
    "category": "conda-lock's `category` is ignored; cenv has no dependency categories",
}
_PIP_OPTION_KEYS = ("index-url", "extra-index-urls", "find-links", "pytorch-index")


def _read_name(ctx: _Ctx, part: _FilePart, value: Any, line: int | None) -> None:
    part.name = _opt_str(ctx, value, line, "name")


def _read_channels(ctx: _Ctx, part: _FilePart, value: Any, line: int | None) -> None:
    for channel in _str_list(ctx, value, line, "channels"):
        if channel == "nodefaults":
            part.nodefaults = True
        elif channel not in part.channels:
            part.channels.append(channel)


def _read_variables(ctx: _Ctx, part: _FilePart, value: Any, line: int | None) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise ctx.error(line, "variables", f"expected a mapping of names to values, got {_kind(value)}")
    for key, val in value.items():
        key_line = _line(value, key) or line
        name = _scalar_text(key).strip() if key is not None else ""
        if not name or not isinstance(key, str | int | float | date):
            raise ctx.error(key_line, "variables", "expected a variable name")
        if val is None:
            part.variables[name] = ""
        elif isinstance(val, list | dict):
            raise ctx.error(key_line, f"variables.{name}", f"expected a string, got {_kind(val)}")
        elif isinstance(val, datetime | date):
            part.variables[name] = val.isoformat()
        else:
            part.variables[name] = _scalar_text(val)


def _platform_hints(word: str) -> list[str]:
    return [*_did_you_mean(word, KNOWN_PLATFORMS), "valid platforms: " + ", ".join(KNOWN_PLATFORMS)]


def _read_platforms(ctx: _Ctx, part: _FilePart, value: Any, line: int | None) -> None:
    items = _str_list(ctx, value, line, "platforms")
    for i, platform in enumerate(items):
        if platform not in KNOWN_PLATFORMS:
            item_line = _line(value, i, item=True) or line
            raise ctx.error(
                item_line,
                f"platforms[{i}]",
                f"unknown platform `{_short(platform)}`",
                _platform_hints(platform),
            )
        if platform not in part.platforms:
            part.platforms.append(platform)


def _read_cuda(ctx: _Ctx, part: _FilePart, value: Any, line: int | None) -> None:
    def one(val: Any, val_line: int | None, path: str) -> str | None:
        if isinstance(val, float):
            val = _scalar_text(val)
            ctx.warn(val_line, f'{path}: `{val}` read as a YAML number; quote CUDA versions ("{val}")')
        try:
            return normalize_cuda(val)
        except ValueError as exc:
            raise ctx.error(val_line, path, str(exc)) from None

    if isinstance(value, dict):
        out: dict[str, str | None] = {}
        for key, val in value.items():
            key_line = _line(value, key) or line
            platform = str(key)
            if platform not in KNOWN_PLATFORMS:
                raise ctx.error(
                    key_line, f"cuda.{_short(platform)}", "unknown platform", _platform_hints(platform)
                )
            out[platform] = one(val, key_line, f"cuda.{platform}")
        part.cuda = out
    elif isinstance(value, list):
        raise ctx.error(
            line, "cuda", "expected a CUDA version or a mapping of platform to version, got a list"
        )
    else:
        part.cuda = one(value, line, "cuda")


_VARIANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _read_variants(ctx: _Ctx, part: _FilePart, value: Any, line: int | None) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise ctx.error(
            line, "variants", "expected a mapping of variant name to settings, e.g. {cpu: {cuda: null}}"
        )
    for key, body in value.items():
        key_line = _line(value, key) or line
        name = str(key)
        if not _VARIANT_NAME.match(name):
            raise ctx.error(
                key_line, f"variants.{_short(name)}", "a variant name uses letters, digits, `_`, `.`, `-`"
            )
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise ctx.error(key_line, f"variants.{name}", 'expected a mapping such as {cuda: "12.1"}')
        settings: dict[str, Any] = {}
        for setting, val in body.items():
            setting_line = _line(body, setting) or key_line
            if setting != "cuda":
                raise ctx.error(
                    setting_line,
                    f"variants.{name}.{_short(str(setting))}",
                    "unknown key",
                    ["variants set `cuda`"],
                )
            probe = _FilePart(file=part.file)
            _read_cuda(ctx, probe, val, setting_line)
            settings["cuda"] = probe.cuda
        part.variants[name] = settings


def _read_channel_priority(ctx: _Ctx, part: _FilePart, value: Any, line: int | None) -> None:
    if value is None:
        return
    if not isinstance(value, str) or value.strip() not in CHANNEL_PRIORITIES:
        shown = _short(value) if isinstance(value, str) else _kind(value)
        raise ctx.error(
            line,
            "channel-priority",
            f"expected one of {', '.join(CHANNEL_PRIORITIES)}, got `{shown}`",
            _did_you_mean(shown, CHANNEL_PRIORITIES),
        )
    part.channel_priority = ChannelPriority(value.strip())


def _to_utc(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        # ruamel's TimeStamp keeps the offset in tzinfo; naive means UTC.
        dt = datetime(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            tzinfo=value.tzinfo,
        )
        return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            if len(text) == 10:
                return _to_utc(date.fromisoformat(text))
            return _to_utc(datetime.fromisoformat(text))
        except ValueError:
            return None
    return None


def _read_exclude_newer(ctx: _Ctx, part: _FilePart, value: Any, line: int | None) -> None:
    if value is None:
        part.exclude_newer = None
        return
    result = _to_utc(value)
    if result is None:
        shown = _short(value) if isinstance(value, str) else _kind(value)
        raise ctx.error(
            line,
            "exclude-newer",
            f"expected a date (2024-05-01) or an ISO 8601 timestamp (2024-05-01T12:00:00Z), got `{shown}`",
        )
    part.exclude_newer = result


def _read_pip_options(ctx: _Ctx, part: _FilePart, value: Any, line: int | None) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise ctx.error(line, "pip-options", f"expected a mapping, got {_kind(value)}")
    for key, val in value.items():
        key_line = _line(value, key) or line
        path = f"pip-options.{key}"
        if key not in _PIP_OPTION_KEYS:
            hints = _did_you_mean(str(key), _PIP_OPTION_KEYS)
            hints.append("keys: " + ", ".join(_PIP_OPTION_KEYS))
            raise ctx.error(key_line, f"pip-options.{_short(str(key))}", "unknown key", hints)
        if key == "index-url":
            part.index_url = _opt_str(ctx, val, key_line, path)
        elif key == "pytorch-index":
            part.pytorch_index = _opt_str(ctx, val, key_line, path)
        else:
            target = part.extra_index_urls if key == "extra-index-urls" else part.find_links
            for url in _str_list(ctx, val, key_line, path, allow_single=True):
                if url not in target:
                    target.append(url)


def _read_pip_fallback(ctx: _Ctx, part: _FilePart, value: Any, line: int | None) -> None:
    if not isinstance(value, bool):
        raise ctx.error(line, "pip-fallback", f"expected true or false, got {_kind(value)}")
    part.pip_fallback = value


_READERS: dict[str, Callable[[_Ctx, _FilePart, Any, int | None], None]] = {
    "name": _read_name,
    "channels": _read_channels,
    "dependencies": _read_dependencies,
    "variables": _read_variables,
    "platforms": _read_platforms,
    "cuda": _read_cuda,
    "channel-priority": _read_channel_priority,
    "exclude-newer": _read_exclude_newer,
    "pip-options": _read_pip_options,
    "pip-fallback": _read_pip_fallback,
    "variants": _read_variants,
}
# Keys cenv reads (`platforms` is shared with conda-lock). A new key is a reader above, listed in `_READERS`,
# and a field of `Spec`: a reader of a plain value sets `part.values[field]` (the last file that sets it wins,
# see compose.py), and the spec cache carries plain fields as they are.
SPEC_KEYS = (*_READERS, "prefix")
