"""YAML with line numbers for spec files: parsing (alias limits, located errors), where a key was
written, and the one-line messages every spec error uses."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from datetime import date
from typing import Any

from cenv.errors import SpecError
from cenv.yaml_guard import ExpansionMeter, RecursiveAlias, TooLarge

_MAX_SHOWN = 60
_MAX_MESSAGE = 300
# YAML aliases share one object, but the readers below visit every occurrence: `[*big, *big, ...]` or nested
# anchors ("billion laughs") would turn a small file into minutes of work and gigabytes of memory. Aliases may
# add at most this many units (characters of strings plus one per node) to what the file itself holds.
MAX_ALIAS_EXPANSION = 1_000_000

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


def _located_constructor() -> Any:
    """ruamel's round-trip constructor, but a value it cannot build (`2024-02-30`, `!!int 0xZZ`, an alias
    to a list used as a mapping key) raises a `ConstructorError` with the node's line, not a ValueError."""
    from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor

    class LocatedConstructor(RoundTripConstructor):
        def construct_object(self, node: Any, deep: bool = False) -> Any:
            try:
                return super().construct_object(node, deep=deep)
            except (ValueError, TypeError, OverflowError, IndexError) as exc:  # IndexError: `-_` as an int
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
