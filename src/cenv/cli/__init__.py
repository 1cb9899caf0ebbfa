"""The click CLI: parse options -> Settings -> pipeline -> console. Nothing imports this package.

Heavy modules (rattler, pydantic, the pipeline) are imported inside commands so `cenv --help` stays fast.
The commands live in lock.py (lock, incl. --check/--update), create.py (create, run) and inspect.py
(export, diff, why, info, pack); this module is the group, the entry point and the exit.
"""

from __future__ import annotations

import os
import sys

import click

import cenv
from cenv.cli.create import create_command, run_command
from cenv.cli.image import image_command
from cenv.cli.inspect import diff_command, export_command, info_command, pack_command, why_command
from cenv.cli.lock import lock_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(cenv.__version__, prog_name="cenv")
def cli() -> None:
    """cenv: one declarative YAML spec -> a lockfile -> the same conda environment everywhere."""


for _command in (
    lock_command,
    export_command,
    diff_command,
    why_command,
    info_command,
    pack_command,
    image_command,
    create_command,
    run_command,
):
    cli.add_command(_command)


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
