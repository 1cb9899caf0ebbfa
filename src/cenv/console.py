"""Output: data on stdout, messages on stderr, `error:` / `hint:` lines, NO_COLOR, --quiet."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from cenv.redact import redact


def _color() -> bool:
    return "NO_COLOR" not in os.environ and sys.stderr.isatty()


def _styled(prefix: str, code: str) -> str:
    return f"\033[{code}m{prefix}\033[0m" if _color() else prefix


class Console:
    def __init__(self, quiet: bool = False, json_output: bool = False) -> None:
        self.quiet = quiet
        self.json_output = json_output

    def info(self, message: str) -> None:
        if not self.quiet and not self.json_output:
            # One write per line: download threads report concurrently.
            sys.stderr.write(redact(message) + "\n")

    def warn(self, message: str) -> None:
        sys.stderr.write(f"{_styled('warning:', '1;33')} {redact(message)}\n")

    def data(self, text: str) -> None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")

    def json(self, payload: dict[str, Any]) -> None:
        global _json_written
        _json_written = True
        sys.stdout.write(redact(json.dumps(payload, indent=2, sort_keys=True)) + "\n")


_json_written = False


def json_written() -> bool:
    """Whether this process already printed a JSON document (a failing `--check --json` prints its reasons;
    the failure must not add a second document to stdout)."""
    return _json_written


def print_error(message: str, hints: tuple[str, ...] | list[str] = ()) -> None:
    print_errors([message], hints)


def print_errors(
    messages: list[str] | tuple[str, ...],
    hints: tuple[str, ...] | list[str] = (),
    details: tuple[str, ...] | list[str] = (),
) -> None:
    """`error:` lines (several problems of one input are reported together), details indented, the hints."""
    for message in messages:
        print(f"{_styled('error:', '1;31')} {redact(message)}", file=sys.stderr)
    for line in details:
        print(f"  {redact(line)}", file=sys.stderr)
    for hint in hints:
        print(f"{_styled('hint:', '1;36')} {redact(hint)}", file=sys.stderr)
