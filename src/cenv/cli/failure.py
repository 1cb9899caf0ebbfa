"""How a failed command ends: the exception -> `error:`/`hint:` lines (and the same as JSON with `--json`),
an exit code, and for an internal error its traceback in a log file that the message names.

Exit codes (README, "Exit codes"): 1 for an error of the environment, the spec or a stale `--check`; 2 for
usage errors (as click, conda, uv and pixi) and internal errors; 130 for an interrupt.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import click

import cenv

_REPORT = "this is a bug in cenv: please report it with the command you ran and that log file"


@dataclass
class Failure:
    """What the user is told: the error lines (the first is the error), hints, the exit code."""

    errors: list[str]
    hints: list[str] = field(default_factory=list)
    exit_code: int = 1
    log: Path | None = None
    details: list[str] = field(default_factory=list)


def write_crash_log(exc: BaseException, argv: list[str]) -> Path | None:
    """The traceback of an unexpected exception, with the command line and versions, redacted; its path
    (in the log folder, else the temporary folder)."""
    from cenv.logs import log_dir, write_log

    text = "".join(
        [
            f"cenv {cenv.__version__} on Python {sys.version.split()[0]} ({sys.platform})\n",
            "command: cenv " + " ".join(argv) + "\n\n",
            *traceback.format_exception(type(exc), exc, exc.__traceback__),
        ]
    )
    return write_log(text, "internal-error", [log_dir(), Path(os.environ.get("TMPDIR") or "/tmp")])


def internal(exc: BaseException, argv: list[str]) -> Failure:
    log = write_crash_log(exc, argv)
    what = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    kind = type(exc).__name__
    hints = [f"the traceback is in {log}" if log else "no log could be written (cache and temp folders)"]
    hints.append(_REPORT if log else "this is a bug in cenv: please report it with the command you ran")
    return Failure([f"internal error: {kind}: {what}" if what else f"internal error: {kind}"], hints, 2, log)


def failure_of(exc: BaseException, argv: list[str]) -> Failure:
    """The failure to report for an exception raised by a command (KeyboardInterrupt included)."""
    from cenv.errors import CenvError

    if isinstance(exc, CenvError):
        return Failure([exc.message, *exc.more], list(exc.hints), exc.exit_code, details=list(exc.details))
    if isinstance(exc, click.exceptions.Abort | KeyboardInterrupt):
        return Failure(["interrupted"], [], 130)  # click turns Ctrl-C into Abort
    if isinstance(exc, click.exceptions.ClickException):
        hints: list[str] = []
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hints = [f"see `{exc.ctx.command_path} --help`"]
        return Failure([exc.format_message()], hints, exc.exit_code)
    if isinstance(exc, OSError):
        from cenv.fsfaults import ENVIRONMENT_ERRNOS

        if exc.errno in ENVIRONMENT_ERRNOS:
            # a full or read-only disk, a file in the way: the machine's state, not a bug in cenv
            where = f" `{exc.filename}`" if exc.filename else ""
            return Failure(
                [f"cannot use{where}: {exc.strerror or exc}"],
                ["check the path, its permissions and free space"],
            )
    return internal(exc, argv)


def wants_json(argv: list[str]) -> bool:
    """`--json` among the options (not in a command after `--`, as in `cenv run -- tool --json`)."""
    options = argv[: argv.index("--")] if "--" in argv else argv
    return "--json" in options


def report(failure: Failure, *, json_output: bool) -> None:
    from cenv.console import json_written, print_errors
    from cenv.redact import redact

    print_errors(failure.errors, failure.hints, failure.details)
    if json_output and not json_written():
        payload: dict[str, object] = {
            "error": failure.errors[0],
            "errors": failure.errors,
            "hints": failure.hints,
            "exit_code": failure.exit_code,
        }
        if failure.details:
            payload["details"] = failure.details
        if failure.log is not None:
            payload["log"] = str(failure.log)
        sys.stdout.write(redact(json.dumps(payload, indent=2, sort_keys=True)) + "\n")
