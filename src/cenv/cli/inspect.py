"""Commands on an existing lockfile (export, diff, why, pack) and `cenv info`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from cenv.cli.lock import cuda_option
from cenv.cli.params import PLATFORM
from cenv.settings import EXPORT_FORMATS, ExportFormat

if TYPE_CHECKING:
    from cenv.lock.models import Lockfile
    from cenv.spec import Spec


@click.command("export")
@click.argument("lockfile", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(EXPORT_FORMATS),
    default=ExportFormat.EXPLICIT.value,
    show_default=True,
    help="explicit: @EXPLICIT (conda part); requirements: hashed pip file; share: both, into -o DIR.",
)
@click.option(
    "-p",
    "--platform",
    type=PLATFORM,
    help="Platform to export (default: the host's, or the lock's only one).",
)
@click.option(
    "-n", "--name", help="Environment name used in the rebuild commands (default: the lock's stem)."
)
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="File (a folder for `share`); default stdout."
)
def export_command(
    lockfile: Path, fmt: str, platform: str | None, name: str | None, output: Path | None
) -> None:
    """Export a lockfile for collaborators without cenv (conda, mamba, micromamba, pip)."""
    from cenv.console import Console
    from cenv.export import export
    from cenv.lock.io import write_text_atomic

    console = Console()
    result = export(lockfile, ExportFormat(fmt), platform, name)
    if fmt == ExportFormat.SHARE:
        folder = output or Path.cwd()
        folder.mkdir(parents=True, exist_ok=True)
        for file_name, text in result.files:
            write_text_atomic(folder / file_name, text)
            console.info(f"wrote {folder / file_name}")
        console.info("rebuild without cenv (from that folder) with one of:")
        for command in result.commands:
            console.data(command)
        return
    text = result.files[0][1]
    if output is None:
        console.data(text)
        return
    write_text_atomic(output, text)
    console.info(f"wrote {output}")


@click.command("diff")
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "json_output", is_flag=True, help="Print the differences as JSON.")
@click.option(
    "--exit-code", is_flag=True, help="Exit 1 when the lockfiles differ, 2 on an error (like `git diff`)."
)
@click.option("--cuda", help="With a spec as NEW: assume this CUDA version (`none`: no __cuda).")
@click.option("--channel-alias", help="With a spec as NEW: base URL for channel names.")
def diff_command(
    old: Path,
    new: tuple[Path, ...],
    json_output: bool,
    exit_code: bool,
    cuda: str | None,
    channel_alias: str | None,
) -> None:
    """Show what changed from lockfile OLD to NEW, per platform (conda-lock, pixi.lock or @EXPLICIT).

    NEW may also be the spec file(s): OLD is then compared with a fresh solve (nothing is written)."""
    from cenv.errors import CenvError

    cuda_option(cuda)  # a bad `--cuda` is a usage error (exit 2) before any file is read
    try:
        changed = _diff(old, new, json_output, cuda, channel_alias)
    except CenvError as exc:
        if exit_code:
            exc.exit_code = 2  # `--exit-code`: 1 means "differs", so an error is 2 (as git does)
        raise
    if exit_code and changed:
        raise click.exceptions.Exit(1)


def _diff(
    old: Path, new: tuple[Path, ...], json_output: bool, cuda: str | None, channel_alias: str | None
) -> bool:
    from cenv.console import Console
    from cenv.lock.diff import diff_locks, render_diff
    from cenv.lock.importers import is_lockfile, read_lock

    before = read_lock(old)
    if len(new) == 1 and is_lockfile(new[0]):
        after = read_lock(new[0])
    else:
        from cenv.pipeline import lock_spec
        from cenv.settings import LockSettings
        from cenv.spec import load_spec

        version, no_cuda = cuda_option(cuda)
        spec = load_spec(list(new))
        variant = _variant_of(before, old, spec)
        if variant is not None:
            from cenv.variants import check_cuda_flag

            check_cuda_flag(spec, variant, version)
            spec = spec.with_variant(variant)
        settings = LockSettings(
            spec_paths=new,
            platforms=before.platforms,
            cuda=version,
            no_cuda=no_cuda,
            channel_alias=channel_alias,
            variant=variant,
        )
        after, _ = lock_spec(spec, settings, before)  # gaps from OLD's recorded inputs
    result = diff_locks(before, after)
    if json_output:
        Console().json(result.to_json())
    else:
        Console().data(render_diff(result))
    return result.has_changes


def _variant_of(before: Lockfile, path: Path, spec: Spec) -> str | None:
    """The variant of a spec with `variants` that OLD was locked as (its `cenv.variant`)."""
    if not spec.variants:
        return None
    from cenv.errors import UserError
    from cenv.lock.keys import CUSTOM_VARIANT

    variant = before.metadata.custom(CUSTOM_VARIANT)
    if variant not in spec.variants:
        raise UserError(
            f"{path} is not a lockfile of one of the spec's variants ({', '.join(spec.variants)})",
            hints=["give a variant's lockfile as OLD, e.g. `cenv diff ml.cpu-lock.yml ml.yml`"],
        )
    return variant


@click.command("why")
@click.argument("package")
@click.option(
    "-l", "--lockfile", type=click.Path(path_type=Path), help="Lockfile (default: the only *-lock.yml here)."
)
@click.option(
    "-p", "--platform", type=PLATFORM, help="Platform (default: the host's, or the lock's only one)."
)
@click.option("--json", "json_output", is_flag=True, help="Print the answer as JSON.")
def why_command(package: str, lockfile: Path | None, platform: str | None, json_output: bool) -> None:
    """Show why PACKAGE is in the lock: dependency paths from what the spec requested (exit 1: not locked)."""
    from cenv.console import Console
    from cenv.lock.importers import read_lock
    from cenv.why import default_lockfile, explain, pick_platform, render_why

    lock = read_lock(lockfile or default_lockfile(Path.cwd()))
    result = explain(lock, package, pick_platform(lock, platform))
    if json_output:
        Console().json(result.to_json())
    else:
        Console().data(render_why(result))
    if not result.present:
        raise click.exceptions.Exit(1)


@click.command("info")
@click.option("--json", "json_output", is_flag=True, help="Print the same as JSON.")
def info_command(json_output: bool) -> None:
    """Show what cenv resolved here: versions, config files, channels and mirrors, cache and env dirs,
    where credentials come from (per host, never the secret), this machine's virtual packages."""
    from cenv.console import Console
    from cenv.info import gather_info, render_info

    info = gather_info()
    if json_output:
        Console(json_output=True).json(info)
    else:
        Console().data(render_info(info))


@click.command("pack")
@click.argument("lockfile", type=click.Path(path_type=Path))
@click.option(
    "-p",
    "--platform",
    "platforms",
    type=PLATFORM,
    multiple=True,
    help="Platform to pack (repeatable; default all).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="FILE.tar, or a new folder (default: <lock stem>.pack.tar beside the lockfile).",
)
@click.option("--json", "json_output", is_flag=True, help="Print a machine-readable summary on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress and no messages.")
def pack_command(
    lockfile: Path, platforms: tuple[str, ...], output: Path | None, json_output: bool, quiet: bool
) -> None:
    """Pack LOCKFILE's conda archives and pip artifacts, a channel index and the rewritten lockfile into one
    file that `cenv create FILE.tar -p PREFIX` installs on a machine without network."""
    from cenv.console import Console
    from cenv.install.envs import pkgs_dir
    from cenv.pack.build import pack
    from cenv.progress import human_size, make_reporter

    console = Console(quiet=quiet, json_output=json_output)
    if output is None:
        stem = lockfile.name.removesuffix(".yml").removesuffix(".yaml").removesuffix("-lock")
        output = lockfile.with_name(f"{stem}.pack.tar")
    reporter = make_reporter(console)
    try:
        result = pack(lockfile, output, platforms, reporter, pkgs_dir=pkgs_dir())  # cached archives: no fetch
    finally:
        reporter.close()
    if json_output:
        console.json(result.summary())
        return
    for platform in result.platforms:
        console.info(f"{platform}: {result.conda[platform]} conda, {result.pip[platform]} pip packages")
    console.info(
        f"wrote {result.output} ({result.files} files, {human_size(result.size)}; "
        f"{result.downloaded} downloaded) in {result.seconds:.2f}s"
    )
    console.info(f"on the target machine: cenv create {result.output.name} -p PREFIX")
