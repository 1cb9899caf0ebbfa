"""Read environment specs: conda's `environment.yml`, conda-lock's extensions and cenv's own keys.

Every error is a `SpecError` whose message is one line, `<file>:<line>: <key path>: <what was expected>`.
YAML is read with ruamel.yaml's round-trip loader, which keeps line numbers and the trailing comments that
carry conda-lock selectors (`- cudatoolkit  # [linux64]`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from cenv.errors import SpecError
from cenv.spec.cache import MAX_SPEC_BYTES, read_spec_file
from cenv.spec.models import (
    CHANNEL_PRIORITIES,
    KNOWN_PLATFORMS,
    ChannelPriority,
    CondaDependency,
    Location,
    PipRequirement,
    Spec,
    known_selector_names,
    normalize_cuda,
    parse_selector,
)
from cenv.yaml_guard import ExpansionMeter, RecursiveAlias, TooLarge

__all__ = ["MAX_SPEC_BYTES", "SPEC_KEYS", "load_spec", "load_spec_text", "spec_from_texts"]

# Keys cenv reads. `platforms` is shared with conda-lock.
SPEC_KEYS = (
    "name",
    "channels",
    "dependencies",
    "variables",
    "prefix",
    "platforms",
    "cuda",
    "channel-priority",
    "exclude-newer",
    "pip-options",
    "pip-fallback",
    "variants",
)
# Keys other tools write into real environment files, accepted and ignored with a warning.
_IGNORED_KEYS = {
    "category": "conda-lock's `category` is ignored; cenv has no dependency categories",
}
_PIP_OPTION_KEYS = ("index-url", "extra-index-urls", "find-links", "pytorch-index")
_SELECTOR_RE = re.compile(r"\[([^\[\]]+)\]\s*$")
_MAX_SHOWN = 60
_MAX_MESSAGE = 300
# YAML aliases share one object, but the readers below visit every occurrence: `[*big, *big, ...]` or nested
# anchors ("billion laughs") would turn a small file into minutes of work and gigabytes of memory. Aliases may
# add at most this many units (characters of strings plus one per node) to what the file itself holds.
MAX_ALIAS_EXPANSION = 1_000_000

_UNSET: Any = object()


# --------------------------------------------------------------------------------------------- helpers


def _line(container: Any, key: Any, *, item: bool = False) -> int | None:
    """1-based line of a mapping key or a sequence item, from ruamel's line/column records."""
    lc = getattr(container, "lc", None)
    if lc is None:
        return None
    try:
        pos = lc.item(key) if item else lc.key(key)
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    if pos is None or pos[0] is None:
        return None
    return int(pos[0]) + 1


def _own_line(container: Any) -> int | None:
    lc = getattr(container, "lc", None)
    line = getattr(lc, "line", None)
    return None if line is None else int(line) + 1


def _where(file: str, line: int | None) -> str:
    return file if line is None else f"{file}:{line}"


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, date):
        return "a date"
    return type(value).__name__


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _scalar_text(value: object) -> str:
    """A YAML scalar as text; round-trip floats keep the digits as written (`12.10`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        width = getattr(value, "_width", None)
        prec = getattr(value, "_prec", None)
        if getattr(value, "_exp", None) is None and isinstance(width, int) and isinstance(prec, int):
            decimals = width - prec - 1
            if 0 <= decimals <= 20:
                return f"{float(value):.{decimals}f}"
        return repr(float(value))
    return str(value)


def _did_you_mean(word: str, choices: Sequence[str]) -> list[str]:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return [f"did you mean `{close[0]}`?"] if close else []


class _Ctx:
    """Where we are in one file, for messages."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.warnings: list[str] = []

    def error(self, line: int | None, path: str, what: str, hints: Sequence[str] = ()) -> SpecError:
        prefix = _where(self.file, line)
        # Messages quote what was written (and what rattler says about it, which may repeat it whole):
        # keep them one readable line however long the input.
        what = _clip(what, _MAX_MESSAGE)
        path = _clip(path, _MAX_MESSAGE // 2)
        return SpecError(f"{prefix}: {path}: {what}" if path else f"{prefix}: {what}", hints)

    def warn(self, line: int | None, text: str) -> None:
        self.warnings.append(f"{_where(self.file, line)}: {text}")


# --------------------------------------------------------------------------------------------- one file


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
    key_lines: dict[str, int | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _located_constructor() -> Any:
    """ruamel's round-trip constructor, but a value it cannot build (`2024-02-30`, `!!int 0xZZ`, an alias
    to a list used as a mapping key) raises a `ConstructorError` with the node's line, not a ValueError."""
    from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor

    class LocatedConstructor(RoundTripConstructor):
        def construct_object(self, node: Any, deep: bool = False) -> Any:
            try:
                return super().construct_object(node, deep=deep)
            except (ValueError, TypeError, OverflowError) as exc:
                problem = (
                    f"cannot read `{_short(str(node.value))}`: {exc}" if node.id == "scalar" else str(exc)
                )
                raise ConstructorError(None, None, problem, node.start_mark) from None

    return LocatedConstructor


def _parse_yaml(text: str, file: str) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt")
    yaml.Constructor = _located_constructor()
    yaml.allow_duplicate_keys = False
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = None if mark is None else mark.line + 1
        problem = exc.problem or exc.context or "invalid YAML"
        problem = " ".join(str(problem).split())
        kind = "duplicate key" if type(exc).__name__ == "DuplicateKeyError" else "invalid YAML"
        hints = ["each key may appear once in a mapping"] if kind == "duplicate key" else []
        raise SpecError(f"{_where(file, line)}: {kind}: {problem}", hints) from None
    except (YAMLError, RecursionError, ValueError, TypeError) as exc:
        raise SpecError(f"{file}: invalid YAML: {_short(str(exc))}") from None


def _check_aliases(data: Any, text: str, file: str) -> None:
    """Refuse recursive aliases and alias expansion beyond `MAX_ALIAS_EXPANSION` (see there)."""
    limit = 2 * len(text) + MAX_ALIAS_EXPANSION
    meter = ExpansionMeter(limit)

    def where(key: Any) -> str:
        line = _line(data, key) if isinstance(data, dict) else None
        return f"{_where(file, line)}: {_short(str(key))}: " if isinstance(key, str) else f"{file}: "

    items = list(data.items()) if isinstance(data, dict) else [(None, data)]
    total = len(items)
    try:
        for key, value in items:
            try:
                total += meter.size(key) + meter.size(value)
                if total > limit:
                    raise TooLarge
            except TooLarge:
                raise SpecError(
                    f"{where(key)}YAML aliases expand to more than {MAX_ALIAS_EXPANSION:,} extra characters",
                    ["an environment spec should not need anchors and aliases (`&name` / `*name`)"],
                ) from None
            except RecursiveAlias:
                raise SpecError(f"{where(key)}recursive YAML alias (a node that contains itself)") from None
    except RecursionError:
        raise SpecError(f"{file}: invalid YAML: nested too deeply") from None


def _selector(ctx: _Ctx, seq: Any, index: int, line: int | None, path: str) -> str | None:
    """The conda-lock selector in the trailing comment of `seq[index]`, if any."""
    ca = getattr(seq, "ca", None)
    items = getattr(ca, "items", None) or {}
    entry = items.get(index)
    if not entry:
        return None
    token = entry[0]
    value = getattr(token, "value", None)
    if not isinstance(value, str):
        return None
    first = value.split("\n", 1)[0].strip()
    if not first.startswith("#"):
        return None
    return _check_selector(ctx, first, line, path)


def _check_selector(ctx: _Ctx, comment: str, line: int | None, path: str) -> str | None:
    match = _SELECTOR_RE.search(comment)
    if match is None:
        return None
    selector = " ".join(match.group(1).split())
    try:
        parse_selector(selector)
    except ValueError as exc:
        words = [w for w in re.findall(r"[A-Za-z0-9_.-]+", selector) if w not in {"and", "or", "not"}]
        hints: list[str] = []
        for word in words:
            hints = _did_you_mean(word, sorted(known_selector_names()))
            if hints:
                break
        hints.append("selectors: linux64, linux, osx, win, unix, aarch64, arm64, or a subdir like osx-arm64")
        raise ctx.error(line, path, f"invalid selector [{_short(selector)}]: {exc}", hints) from None
    return selector


def _split_inline_comment(text: str) -> tuple[str, str | None]:
    """`"numpy  # [linux]"` written inside quotes: conda strips `#` comments from match specs."""
    match = re.search(r"\s#", text)
    if match is None:
        return text, None
    return text[: match.start()], text[match.start() :].strip()


def _match_spec(ctx: _Ctx, text: str, line: int | None, path: str) -> tuple[str, str, str | None]:
    """Parse leniently with rattler; returns (spec text, normalized name, channel)."""
    from rattler import MatchSpec

    def parse(candidate: str) -> tuple[str, str, str | None]:
        ms = MatchSpec(candidate)
        if ms.name is None:
            raise ValueError("missing package name")
        channel = ms.channel.name if ms.channel is not None else None
        return candidate, ms.name.normalized, channel

    try:
        return parse(text)
    except Exception as exc:
        # conda accepts quoted versions such as `python='3.10'` (DEEPLABCUT.yaml); rattler does not.
        unquoted = re.sub(r"""(['"])([^'"]*)\1""", r"\2", text)
        if unquoted != text:
            try:
                result = parse(unquoted)
            except Exception:
                pass
            else:
                ctx.warn(line, f"{path}: quotes removed from match spec '{_short(text)}' -> '{unquoted}'")
                return result
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise ctx.error(line, path, f"invalid match spec '{_short(text)}': {message}") from None


def _str_list(ctx: _Ctx, value: Any, line: int | None, path: str, *, allow_single: bool = False) -> list[str]:
    if value is None:
        return []
    if allow_single and isinstance(value, str):
        return [value.strip()]
    if not isinstance(value, list):
        raise ctx.error(line, path, f"expected a list of strings, got {_kind(value)}")
    out: list[str] = []
    for i, item in enumerate(value):
        item_line = _line(value, i, item=True) or line
        if not isinstance(item, str) or not item.strip():
            raise ctx.error(item_line, f"{path}[{i}]", f"expected a non-empty string, got {_kind(item)}")
        out.append(item.strip())
    return out


def _opt_str(ctx: _Ctx, value: Any, line: int | None, path: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ctx.error(line, path, f"expected a string, got {_kind(value)}")
    text = _scalar_text(value).strip()
    return text or None


def _read_name(ctx: _Ctx, part: _FilePart, value: Any, line: int | None) -> None:
    part.name = _opt_str(ctx, value, line, "name")


def _read_channels(ctx: _Ctx, part: _FilePart, value: Any, line: int | None) -> None:
    for channel in _str_list(ctx, value, line, "channels"):
        if channel == "nodefaults":
            part.nodefaults = True
        elif channel not in part.channels:
            part.channels.append(channel)


def _read_dependencies(ctx: _Ctx, part: _FilePart, value: Any, line: int | None) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        raise ctx.error(line, "dependencies", f"expected a list of match specs, got {_kind(value)}")
    for i, item in enumerate(value):
        path = f"dependencies[{i}]"
        item_line = _line(value, i, item=True) or line
        if isinstance(item, str):
            _read_conda_dependency(ctx, part, value, i, item, item_line, path)
        elif isinstance(item, dict):
            keys = list(item.keys())
            if keys != ["pip"]:
                bad = next((k for k in keys if k != "pip"), None)
                key_line = _line(item, bad) or item_line
                hints = _did_you_mean(str(bad), ["pip"]) or ["the only mapping allowed here is `pip: [...]`"]
                raise ctx.error(
                    key_line, f"{path}.{bad}", "unknown key; expected a match spec or `pip:`", hints
                )
            _read_pip(ctx, part, item["pip"], _line(item, "pip") or item_line, f"{path}.pip")
        else:
            what = "empty item" if item is None else f"got {_kind(item)}"
            raise ctx.error(item_line, path, f"expected a match spec string or `pip:` list, {what}")


def _read_conda_dependency(
    ctx: _Ctx, part: _FilePart, seq: Any, index: int, text: str, line: int | None, path: str
) -> None:
    selector = _selector(ctx, seq, index, line, path)
    spec_text, inline = _split_inline_comment(text)
    if inline is not None and selector is None:
        selector = _check_selector(ctx, inline, line, path)
    spec_text = spec_text.strip()
    if not spec_text:
        raise ctx.error(line, path, "empty match spec")
    spec_text, name, channel = _match_spec(ctx, spec_text, line, path)
    part.dependencies.append(
        CondaDependency(
            spec=spec_text,
            name=name,
            channel=channel,
            selector=selector,
            location=Location(file=ctx.file, line=line),
        )
    )


_PIP_OPTIONS_WITH_VALUE = {
    "--index-url": "index_url",
    "-i": "index_url",
    "--extra-index-url": "extra_index_urls",
    "--find-links": "find_links",
    "-f": "find_links",
}


def _read_pip(ctx: _Ctx, part: _FilePart, value: Any, line: int | None, path: str) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        raise ctx.error(line, path, f"expected a list of requirements, got {_kind(value)}")
    for i, item in enumerate(value):
        item_line = _line(value, i, item=True) or line
        item_path = f"{path}[{i}]"
        if not isinstance(item, str) or not item.strip():
            what = "empty item" if item is None else f"got {_kind(item)}"
            raise ctx.error(item_line, item_path, f"expected a requirement string, {what}")
        text = item.strip()
        if text.startswith("-") and not _passed_to_uv(text):
            _read_pip_option(ctx, part, text, item_line, item_path)
            continue
        selector = _selector(ctx, value, i, item_line, item_path)
        part.pip.append(
            PipRequirement(
                requirement=text, selector=selector, location=Location(file=ctx.file, line=item_line)
            )
        )


# pip lines that start with `-` but stay in the requirement list (uv reads them there; cenv.pip anchors paths)
_PIP_LINE_OPTIONS = (
    "-e", "--editable", "-r", "--requirement", "-c", "--constraint",
    "--pre", "--only-binary", "--no-binary", "--prefer-binary",
)  # fmt: skip


def _passed_to_uv(text: str) -> bool:
    option = re.split(r"[\s=]", text, maxsplit=1)[0]
    return option in _PIP_LINE_OPTIONS


def _read_pip_option(ctx: _Ctx, part: _FilePart, text: str, line: int | None, path: str) -> None:
    option, sep, arg = (
        text.partition("=") if text.startswith("--") and "=" in text.split()[0] else ("", "", "")
    )
    if not sep:
        option, _, arg = text.partition(" ")
    option, arg = option.strip(), arg.strip()
    target = _PIP_OPTIONS_WITH_VALUE.get(option)
    if target is None:
        hints = _did_you_mean(option, list(_PIP_OPTIONS_WITH_VALUE))
        hints.append(
            "supported: --index-url, --extra-index-url, --find-links (or the `pip-options:` key), "
            "-e, -r, -c, --pre, --only-binary, --no-binary"
        )
        raise ctx.error(line, path, f"unsupported pip option `{_short(option)}`", hints)
    if not arg:
        raise ctx.error(line, path, f"`{option}` needs a value")
    if target == "index_url":
        part.index_url = arg
    elif target == "extra_index_urls":
        if arg not in part.extra_index_urls:
            part.extra_index_urls.append(arg)
    elif arg not in part.find_links:
        part.find_links.append(arg)


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


def _read_document(text: str, file: str) -> _FilePart:
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(
            f"{file}: spec file too large ({len(text):,} characters; the limit is {MAX_SPEC_BYTES:,})",
            ["an environment spec lists channels and packages; it is normally a few kilobytes"],
        )
    data = _parse_yaml(text, file)
    _check_aliases(data, text, file)
    ctx = _Ctx(file)
    if data is None:
        raise SpecError(
            f"{file}:1: empty spec: expected a mapping with `channels` and `dependencies`",
            ["an environment file looks like: `channels: [conda-forge]` and `dependencies: [python=3.12]`"],
        )
    if not isinstance(data, dict):
        raise SpecError(
            f"{_where(file, _own_line(data) or 1)}: expected a mapping at the top level, got {_kind(data)}",
            ["an environment file has keys such as `name`, `channels` and `dependencies`"],
        )
    part = _FilePart(file=file)
    for key, value in data.items():
        line = _line(data, key)
        if not isinstance(key, str):
            raise ctx.error(line, _short(str(key)), f"unknown key ({_kind(key)})")
        part.key_lines[key] = line
        if key == "prefix":
            ctx.warn(line, "`prefix` is ignored; use `cenv create -p`")
        elif key in _IGNORED_KEYS:
            ctx.warn(line, _IGNORED_KEYS[key])
        elif key in _READERS:
            _READERS[key](ctx, part, value, line)
        else:
            hints = _did_you_mean(key, SPEC_KEYS)
            if key == "pip":
                hints.append("list PyPI requirements under `dependencies:` as `- pip: [...]`")
            if key == "subdirs":
                hints.append("this looks like a conda-lock virtual-packages file, not an environment spec")
            hints.append("keys: " + ", ".join(SPEC_KEYS))
            raise ctx.error(line, _short(key), "unknown key", hints)
    part.warnings = ctx.warnings
    return part


def _read_file(path: Path, label: str) -> _FilePart:
    return _read_document(read_spec_file(path, label), label)


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


_FIELD_KEYS = {
    "channel_priority": "channel-priority",
    "exclude_newer": "exclude-newer",
    "pip_options": "pip-options",
}


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
    for part in parts:
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
    key = _FIELD_KEYS.get(field_name, field_name)
    file, line = (parts[-1].file if parts else "<spec>"), None
    for part in reversed(parts):
        if key in part.key_lines:
            file, line = part.file, part.key_lines[key]
            break
    path = key + "".join(f"[{x}]" if x.isdigit() else f".{x}" for x in loc[1:])
    message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    return SpecError(f"{_where(file, line)}: {path}: {message}")


# --------------------------------------------------------------------------------------------- public


def load_spec(paths: Sequence[str | Path]) -> Spec:
    """Read and compose spec files in order (later files refine earlier ones). Raises SpecError."""
    if isinstance(paths, str | Path):
        paths = [paths]
    if not paths:
        raise SpecError("no spec files given", ["pass an environment.yml"])
    parts = [_read_file(Path(p), str(p)) for p in paths]
    return _compose(parts)


def spec_from_texts(files: Sequence[tuple[str, str]]) -> Spec:
    """Compose specs already read as (label, text) pairs (`cenv.spec.load_spec` reads them first)."""
    return _compose([_read_document(text, label) for label, text in files])


def load_spec_text(text: str, filename: str = "<string>") -> Spec:
    """Read one spec from a string (for tests and tools); `filename` is used in messages."""
    return _compose([_read_document(text, filename)])
