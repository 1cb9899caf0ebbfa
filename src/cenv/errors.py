"""One error type with hints. User errors exit 1; usage errors and internal errors exit 2.

Library code raises these; only the CLI turns them into `error:` / `hint:` lines and exit codes.
"""

from __future__ import annotations

from collections.abc import Sequence


class CenvError(Exception):
    """Base of every error cenv reports to a user: a one-line message plus optional hints."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        hints: Sequence[str] = (),
        *,
        more: Sequence[str] = (),
        details: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hints = tuple(hints)
        # further problems found in the same run (each one line, like `message`), e.g. every bad key of a spec
        self.more = tuple(more)
        # lines that explain the message, shown indented below it as given (the solver's tree)
        self.details = tuple(details)

    def __str__(self) -> str:
        return self.message


class UserError(CenvError):
    """Bad input or an impossible request: exit code 1."""

    exit_code = 1


class UsageError(CenvError):
    """A command line that cannot mean anything (a bad flag value, flags that exclude each other): exit 2,
    as click, conda, uv and pixi use for usage errors, so CI can tell a typo from a stale lock."""

    exit_code = 2


class InternalError(CenvError):
    """A bug or an engine failure cenv did not expect: exit code 2."""

    exit_code = 2


class SpecError(UserError):
    """An environment spec that cannot be read or validated."""


class ChannelError(UserError):
    """A channel that cannot be reached, parsed or trusted."""


class SolveError(UserError):
    """No set of packages satisfies the spec."""


class PipStageError(UserError):
    """The PyPI part of a spec cannot be resolved or installed."""


class LockfileError(UserError):
    """A lockfile that cannot be read, written or used."""


class InstallError(UserError):
    """An environment that cannot be created."""


class CommandNotFound(UserError):
    """`cenv run`: the command is not in the environment nor on PATH: exit 127, as a shell does."""

    exit_code = 127
