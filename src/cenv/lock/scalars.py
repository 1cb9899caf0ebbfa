"""YAML scalars as the lockfile writer emits them (shared by the writer, `io.py`, and the fast reader,
`fastread.py`, which must agree on which strings are written plain)."""

from __future__ import annotations

import re

__all__ = ["yaml_scalar"]

# Plain scalars: a conservative character set, no indicator first, no `: ` / ` #`, no trailing space or `:`.
_PLAIN = re.compile(
    r"[A-Za-z0-9_./()^$+=<~](?:[A-Za-z0-9_./()^$+=<>~!,*|@%;&?:#-]|(?<!:) (?![ #]))*(?<![ :])"
)
# Plain text that a YAML 1.1 or 1.2 loader would read as something other than a string: numbers (ints,
# floats with or without a dot or exponent, hex/octal/binary, sexagesimal), timestamps, inf/nan.
_NOT_A_STRING = re.compile(
    r"""[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?
    |[-+]?0[xXoObB][0-9a-fA-F_]+
    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?
    |[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt\ ].*)?
    |(?i:[-+]?\.?(?:inf|infinity|nan))""",
    re.VERBOSE,
)
# YAML 1.1 booleans and nulls (any capitalisation), the merge key and PyYAML's `=` value tag.
_RESERVED_WORDS = frozenset(("", "y", "n", "yes", "no", "true", "false", "on", "off", "null", "~", "<<", "="))
_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]')
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b", "\f": "\\f"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char) or f"\\u{ord(char):04x}"


def yaml_scalar(value: str) -> str:
    """`value` as a YAML scalar that every YAML 1.1/1.2 loader reads back as exactly this string."""
    if (
        _PLAIN.fullmatch(value)
        and value.lower() not in _RESERVED_WORDS
        and not _NOT_A_STRING.fullmatch(value)
        and not value.startswith("...")  # a document end marker at the start of a line
    ):
        return value
    return '"' + _NEEDS_ESCAPE.sub(_escape, value) + '"'
