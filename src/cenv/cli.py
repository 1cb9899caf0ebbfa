"""The click CLI: parse options -> Settings -> pipeline -> console. Nothing imports this module.

Heavy modules (rattler, pydantic, the pipeline) are imported inside commands so `cenv --help` stays fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import click

import cenv

F = TypeVar("F", bound=Callable[..., Any])


def _parse_datetime(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"`{value}` is not a date or timestamp (use 2024-05-01 or 2024-05-01T12:00:00Z)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(cenv.__version__, prog_name="cenv")
def cli() -> None:
    """cenv: one declarative YAML spec -> a lockfile -> the same conda environment everywhere."""


@cli.command("lock")
@click.argument("specs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--lockfile", type=click.Path(path_type=Path), help="Where to write (default: <spec>-lock.yml).")
@click.option("-p", "--platform", "platforms", multiple=True, help="Target platform (repeatable).")
@click.option("--cuda", help="Assume this CUDA driver version on the target (`none`: no __cuda).")
@click.option("--glibc", help="Assume this glibc version on linux targets (default 2.28).")
@click.option("--osx", "osx", help="Assume this macOS version on osx targets (default 11.0).")
@click.option(
    "--virtual-packages",
    "virtual_packages_file",
    type=click.Path(path_type=Path),
    help="conda-lock virtual-packages.yml with per-platform values.",
)
@click.option("-c", "--channel", "channels", multiple=True, help="Channel (repeatable); replaces the spec's.")
@click.option("--channel-alias", help="Base URL for channel names (default https://conda.anaconda.org).")
@click.option("--channel-priority", type=click.Choice(["strict", "flexible", "disabled"]))
@click.option("--exclude-newer", help="Ignore packages published after this date/timestamp.")
@click.option("--offline", is_flag=True, help="Use only cached repodata.")
@click.option("--json", "json_output", is_flag=True, help="Print a machine-readable summary.")
@click.option("-q", "--quiet", is_flag=True)
def lock_command(
    specs: tuple[Path, ...],
    lockfile: Path | None,
    platforms: tuple[str, ...],
    cuda: str | None,
    glibc: str | None,
    osx: str | None,
    virtual_packages_file: Path | None,
    channels: tuple[str, ...],
    channel_alias: str | None,
    channel_priority: str | None,
    exclude_newer: str | None,
    offline: bool,
    json_output: bool,
    quiet: bool,
) -> None:
    """Solve SPEC (several files are merged in order) and write a conda-lock v1 lockfile."""
    from cenv.console import Console
    from cenv.pipeline import lock
    from cenv.settings import LockSettings

    console = Console(quiet=quiet, json_output=json_output)
    no_cuda = cuda is not None and cuda.lower() in ("none", "no", "false", "0")
    settings = LockSettings(
        spec_paths=specs,
        lockfile=lockfile,
        platforms=platforms,
        cuda=None if no_cuda else cuda,
        no_cuda=no_cuda,
        glibc=glibc,
        osx=osx,
        virtual_packages_file=virtual_packages_file,
        channels=channels,
        channel_alias=channel_alias,
        channel_priority=channel_priority,  # type: ignore[arg-type]
        exclude_newer=_parse_datetime(exclude_newer),
        offline=offline,
    )
    result = lock(settings)
    for warning in result.warnings:
        console.warn(warning)
    if json_output:
        console.json(
            {
                "lockfile": str(result.path),
                "seconds": round(result.seconds, 3),
                "platforms": {
                    vp.platform: {
                        "packages": result.count(vp.platform),
                        "virtual_packages": [str(p) for p in vp.packages],
                    }
                    for vp in result.virtual_packages
                },
            }
        )
        return
    for vp in result.virtual_packages:
        assumed = " ".join(str(p) for p in vp.packages)
        console.info(f"{vp.platform}: {result.count(vp.platform)} packages (assuming {assumed})")
    console.info(f"wrote {result.path} in {result.seconds:.2f}s")


@cli.command("export")
@click.argument("lockfile", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["explicit"]), default="explicit", show_default=True)
@click.option("-p", "--platform", help="Platform to export (default: the host's, or the lock's only one).")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write here instead of stdout.")
def export_command(lockfile: Path, fmt: str, platform: str | None, output: Path | None) -> None:
    """Export a lockfile for tools without cenv (`@EXPLICIT` for conda, mamba, micromamba)."""
    from cenv.console import Console
    from cenv.pipeline import export_explicit

    text = export_explicit(lockfile, platform)
    if output is None:
        Console().data(text)
        return
    from cenv.lock.io import write_text_atomic

    write_text_atomic(output, text)
    Console().info(f"wrote {output}")


def _exit(code: int) -> None:
    # rattler sometimes segfaults during interpreter shutdown after a failed fetch (ENGINE-NOTES):
    # flush and leave without running finalizers so the exit code is ours.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: maps cenv errors to exit 1/2 with `error:` and `hint:` lines, never a traceback."""
    from cenv.errors import CenvError

    try:
        cli.main(args=argv, prog_name="cenv", standalone_mode=False)
    except CenvError as exc:
        from cenv.console import print_error

        print_error(exc.message, exc.hints)
        _exit(exc.exit_code)
    except click.exceptions.Abort:
        print("error: aborted", file=sys.stderr)
        _exit(130)
    except click.exceptions.ClickException as exc:
        from cenv.console import print_error

        hint = []
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = [f"see `{exc.ctx.command_path} --help`"]
        print_error(exc.format_message(), hint)
        _exit(1 if exc.exit_code == 2 else exc.exit_code)
    except click.exceptions.Exit as exc:
        _exit(exc.exit_code)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        _exit(130)
    except Exception as exc:
        from cenv.console import print_error

        print_error(
            f"internal error: {type(exc).__name__}: {exc}",
            ["this is a bug in cenv; please report it with the command you ran"],
        )
        _exit(2)
    _exit(0)
