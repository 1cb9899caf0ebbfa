"""The click CLI: parse options -> Settings -> pipeline -> console. Nothing imports this package.

Heavy modules (rattler, pydantic, the pipeline) are imported inside commands so `cenv --help` stays fast.
The commands live in lock.py (lock, incl. --check/--update), create.py (create, run), inspect.py
(export, diff, why, info, pack) and image.py (image); this module is the group, the entry point and the exit.
The group loads a command's module only when that command runs (click's documented lazy-loading
pattern): `cenv lock` imports neither create.py, inspect.py nor image.py (issue #21: lock start-up);
`cenv --help`, which shows every command's short help, loads them all.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import MutableMapping
from typing import Any

import click

import cenv

# Command name -> (module, attribute) of its click command.
_COMMANDS: dict[str, tuple[str, str]] = {
    "lock": ("cenv.cli.lock", "lock_command"),
    "export": ("cenv.cli.inspect", "export_command"),
    "diff": ("cenv.cli.inspect", "diff_command"),
    "why": ("cenv.cli.inspect", "why_command"),
    "info": ("cenv.cli.inspect", "info_command"),
    "pack": ("cenv.cli.inspect", "pack_command"),
    "image": ("cenv.cli.image", "image_command"),
    "create": ("cenv.cli.create", "create_command"),
    "run": ("cenv.cli.create", "run_command"),
}


class _LazyGroup(click.Group):
    """A group whose commands are imported when they are looked up by name (`get_command`). Everything
    else that reads `commands` (help listing all of them, a mistyped command's "did you mean", tests
    going through every command) gets them all, loaded on first access, so it sees what an eager group
    would."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._lazy = dict(_COMMANDS)
        super().__init__(*args, **kwargs)

    @property
    def commands(self) -> MutableMapping[str, click.Command]:
        for name in list(self._lazy):
            self._load(name)
        return self._commands

    @commands.setter
    def commands(self, value: MutableMapping[str, click.Command]) -> None:
        self._commands = value

    def _load(self, name: str) -> None:
        module, attribute = self._lazy.pop(name)
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command) and command.name == name, (module, attribute)
        self._commands[name] = command

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._lazy:
            self._load(cmd_name)
        return self._commands.get(cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self._commands, *self._lazy})


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(cenv.__version__, prog_name="cenv")
def cli() -> None:
    """cenv: one declarative YAML spec -> a lockfile -> the same conda environment everywhere."""


def _exit(code: int) -> None:
    # rattler sometimes segfaults during interpreter shutdown after a failed fetch (ENGINE-NOTES):
    # flush and leave without running finalizers so the exit code is ours.
    if "cenv.net" in sys.modules:
        sys.modules["cenv.net"].cleanup()  # the private auth file (os._exit skips atexit)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _terminate_like_interrupt() -> None:
    """SIGTERM unwinds like Ctrl-C: temporary folders (a pack's staging, the private auth file holding a
    secret) are removed on the way out instead of staying in $TMPDIR forever."""
    import signal
    import threading

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


def main(argv: list[str] | None = None) -> None:
    """Entry point: maps every failure to `error:`/`hint:` lines and an exit code (cli/failure.py), never a
    traceback: 0 done; 1 an error of the environment or the spec, or a stale `--check`; 2 a usage error
    (unknown option, bad flag value, missing argument, as click does) or an internal error, whose traceback
    goes to a log file that the message names."""
    args = sys.argv[1:] if argv is None else argv
    _terminate_like_interrupt()
    try:
        # In non-standalone mode click returns the code of a raised `Exit` instead of raising it.
        code = cli.main(args=args or ["--help"], prog_name="cenv", standalone_mode=False)
    except click.exceptions.Exit as exc:
        _exit(exc.exit_code)
    except (SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # a Rust panic arrives as pyo3's PanicException, a BaseException
        from cenv.cli.failure import failure_of, report, wants_json

        failure = failure_of(exc, args)
        report(failure, json_output=wants_json(args))
        _exit(failure.exit_code)
    _exit(code if isinstance(code, int) else 0)
