"""A fast reader for the YAML that cenv's own lockfile writer emits; anything else is left to PyYAML.

Reading a lockfile is on the path of `cenv create`, `cenv lock --check`, `diff` and `why`; PyYAML (even its
C loader, plus its import) costs more there than the rest of the work for a few hundred packages (issue #6).
`fast_load` accepts only the block layout of `cenv.lock.io.dump_lockfile`: two-space indents, sequences at
their key's indent, `{}` / `[]` for empty containers, and scalars exactly as the writer renders them. Every
string must come back through `yaml_scalar` as the very text in the file: that function's contract is that
YAML 1.1 and 1.2 loaders read its output as that string, so whatever `fast_load` accepts, PyYAML reads the
same (tests compare both on real and generated lockfiles). On anything else it returns None.
"""

from __future__ import annotations

import json
import re
from typing import Any

from cenv.lock.scalars import yaml_scalar

__all__ = ["fast_load"]

_INT = re.compile(r"0|[1-9][0-9]{0,17}")  # YAML 1.1 and 1.2 agree on plain decimal integers
_BOOLS = {"true": True, "false": False}
_decode_string = json.JSONDecoder().raw_decode


class _NotTheSubset(Exception):
    pass


class _Reader:
    def __init__(self, lines: list[str], start: int, end: int) -> None:
        self.lines = lines
        self.pos = start
        self.end = end
        self.canonical: dict[str, bool] = {}  # text -> whether yaml_scalar renders it as itself

    def _is_canonical(self, value: str, raw: str) -> bool:
        key = raw if value == raw else "\0" + raw
        known = self.canonical.get(key)
        if known is None:
            known = self.canonical[key] = yaml_scalar(value) == raw
        return known

    def scalar(self, raw: str) -> Any:
        """A whole value: a string (plain or double-quoted), a decimal int, true/false, `{}` or `[]`."""
        if raw.startswith('"'):
            value, end = self._quoted(raw, 0)
            if end != len(raw):
                raise _NotTheSubset
            return value
        if self._is_canonical(raw, raw):
            return raw
        if raw in _BOOLS:
            return _BOOLS[raw]
        if raw == "{}":
            return {}
        if raw == "[]":
            return []
        if _INT.fullmatch(raw):
            return int(raw)
        raise _NotTheSubset

    def _quoted(self, text: str, start: int) -> tuple[str, int]:
        try:
            value, end = _decode_string(text, start)
        except ValueError:
            raise _NotTheSubset from None
        if not isinstance(value, str) or not self._is_canonical(value, text[start:end]):
            raise _NotTheSubset
        return value, end

    def split_key(self, text: str) -> tuple[str, str | None]:
        """`key: value` -> (key, "value"); `key:` -> (key, None)."""
        if text.startswith('"'):
            key, end = self._quoted(text, 0)
            rest = text[end:]
        else:
            colon = text.find(":")
            while colon != -1 and not (colon + 1 == len(text) or text[colon + 1] == " "):
                colon = text.find(":", colon + 1)
            if colon <= 0:
                raise _NotTheSubset
            key, rest = text[:colon], text[colon:]
            if not self._is_canonical(key, key):
                raise _NotTheSubset
        if rest == ":":
            return key, None
        if not rest.startswith(": ") or len(rest) == 2:
            raise _NotTheSubset
        return key, rest[2:]

    def mapping(self, indent: int) -> dict[str, Any]:
        prefix = " " * indent
        out: dict[str, Any] = {}
        while self.pos < self.end:
            line = self.lines[self.pos]
            if not line.startswith(prefix) or line[indent : indent + 1] in (" ", "-"):
                break
            if line[indent : indent + 1] in ("", "#", "?", "\t"):
                raise _NotTheSubset
            key, raw = self.split_key(line[indent:])
            if key in out:
                raise _NotTheSubset  # PyYAML keeps the last one; not worth imitating
            self.pos += 1
            out[key] = self.scalar(raw) if raw is not None else self.nested(indent)
        if not out:
            raise _NotTheSubset
        return out

    def nested(self, indent: int) -> Any:
        """The value of a `key:` line at `indent`: a sequence at the same indent or a deeper mapping."""
        if self.pos >= self.end:
            raise _NotTheSubset
        line = self.lines[self.pos]
        if line.startswith(" " * indent + "- "):
            return self.sequence(indent)
        if line.startswith(" " * (indent + 2)) and line[indent + 2 : indent + 3] not in (" ", "-"):
            return self.mapping(indent + 2)
        raise _NotTheSubset

    def sequence(self, indent: int) -> list[Any]:
        marker = " " * indent + "- "
        out: list[Any] = []
        while self.pos < self.end and self.lines[self.pos].startswith(marker):
            item = self.lines[self.pos][indent + 2 :]
            if self._is_mapping_item(item):
                # `- key: value` opens a mapping whose other keys sit two columns further in
                self.lines[self.pos] = " " * (indent + 2) + item
                out.append(self.mapping(indent + 2))
            else:
                out.append(self.scalar(item))
                self.pos += 1
        return out

    def _is_mapping_item(self, item: str) -> bool:
        if item.startswith('"'):
            _, end = self._quoted(item, 0)
            return item[end : end + 1] == ":"
        return ": " in item or item.endswith(":")


def fast_load(text: str) -> Any | None:
    """The data of `text` when it is in the writer's subset (then equal to what PyYAML loads), else None."""
    if "\r" in text or "\t" in text or "\ufeff" in text:
        return None
    lines = text.split("\n")
    start = 0
    while start < len(lines) and lines[start].startswith("#"):
        start += 1
    end = len(lines)
    while end > start and lines[end - 1] == "":
        end -= 1
    if start == end:
        return None
    reader = _Reader(lines, start, end)
    try:
        data = reader.mapping(0)
    except (_NotTheSubset, RecursionError):
        return None
    return data if reader.pos == end else None
