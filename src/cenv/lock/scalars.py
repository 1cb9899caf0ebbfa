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
# Compiled when first needed (its character ranges take ~0.7 ms, issue #21): ASCII text without `"` or `\`
# that prints has nothing to escape.
_NEEDS_ESCAPE_PATTERN = '["\\\\\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]'
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b", "\f": "\\f"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char) or f"\\u{ord(char):04x}"


# The same rules without a regex for the common shapes (issue #21: a lock writes ~5,000 distinct scalars:
# names, versions, hashes, URLs). A value of `_PLAIN`'s characters, without a space (so none of its space
# rules apply), not ending in `:`, matches `_PLAIN`. Unless it is a reserved word, it is then a string when
# its first character starts no `_NOT_A_STRING` form (nor `...`); when it starts with a letter of inf/nan
# and is neither; or when it starts with a digit (so it could only be a number, a 0x/0o/0b integer, a
# sexagesimal or a timestamp) and has no `:`, no `-`, no radix letter second, and two dots (a number has
# one at most) or a character no number has. Any other value takes the regexes; test_lockfile_yaml.py
# checks that this never calls plain what they would quote.
_PLAIN_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./()^$+=<~")
_PLAIN_REST = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./()^$+=<>~!,*|@%;&?:#-"
_DIGITS = frozenset("0123456789")
_MAY_NOT_BE_A_STRING = frozenset("0123456789+-.iInN")  # first characters of the `_NOT_A_STRING` forms
_RADIX = frozenset("xXoObB")
_NUMBER_CHARS = "0123456789_.eE+"  # what a number without `-` or `:` is made of
_LONGEST_RESERVED = max(map(len, _RESERVED_WORDS))


def _surely_plain(value: str) -> bool:
    if not value or value[-1] == ":" or value[0] not in _PLAIN_FIRST:
        return False
    if value.strip(_PLAIN_REST):  # a character outside `_PLAIN`'s set, or a space
        return False
    if len(value) <= _LONGEST_RESERVED and value.lower() in _RESERVED_WORDS:
        return False
    first = value[0]
    if first not in _MAY_NOT_BE_A_STRING:
        return True
    if first in "iInN":  # without a sign or a dot, only these three
        return value.lower() not in ("inf", "infinity", "nan")
    return (
        first in _DIGITS
        and ":" not in value
        and "-" not in value
        and value[1:2] not in _RADIX
        and (value.count(".") > 1 or bool(value.strip(_NUMBER_CHARS)))
    )


def yaml_scalar(value: str) -> str:
    """`value` as a YAML scalar that every YAML 1.1/1.2 loader reads back as exactly this string."""
    if _surely_plain(value) or _plain_by_regex(value):
        return value
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return '"' + re.sub(_NEEDS_ESCAPE_PATTERN, _escape, value) + '"'


def _plain_by_regex(value: str) -> bool:
    return bool(
        _PLAIN.fullmatch(value)
        and value.lower() not in _RESERVED_WORDS
        and not _NOT_A_STRING.fullmatch(value)
        and not value.startswith("...")  # a document end marker at the start of a line
    )
