"""The click CLI: parse options -> Settings -> pipeline -> console. Nothing imports this module.

Heavy modules (rattler, pydantic, the pipeline) are imported inside commands so `cenv --help` stays fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

import cenv
from cenv.settings import CHANNEL_PRIORITIES, EXPORT_FORMATS, ChannelPriority, ExportFormat, LockFlags

F = TypeVar("F", bound=Callable[..., Any])

if TYPE_CHECKING:
    from cenv.console import Console
    from cenv.pipeline import LockResult
    from cenv.settings import LockSettings


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
@click.argument("specs", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "-o", "--lockfile", type=click.Path(path_type=Path), help="Where to write (default: <spec>-lock.yml)."
)
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
@click.option("--channel-priority", type=click.Choice(CHANNEL_PRIORITIES))
@click.option("--exclude-newer", help="Ignore packages published after this date/timestamp.")
@click.option("--offline", is_flag=True, help="Use only cached repodata.")
@click.option(
    "--check", is_flag=True, help="No solve: exit 0 if the lockfile satisfies the spec, else 1 with reasons."
)
@click.option(
    "--update",
    "update",
    multiple=True,
    is_flag=False,
    flag_value="*",
    metavar="PKG",
    help="Re-solve PKG (repeatable) keeping every other locked package; alone: re-solve all.",
)
@click.option("--variant", help="Lock only this one of the spec's `variants` (default: all of them).")
@click.option(
    "--pip-fallback",
    is_flag=True,
    help="Conda dependencies no channel has go to the pip stage when the index has that exact name.",
)
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
    check: bool,
    update: tuple[str, ...],
    variant: str | None,
    pip_fallback: bool,
    json_output: bool,
    quiet: bool,
) -> None:
    """Solve SPEC (several files are merged in order) and write a conda-lock v1 lockfile
    (one per variant, `<stem>.<variant>-lock.yml`, when the spec declares `variants`)."""
    from cenv.console import Console
    from cenv.pipeline import lock_all
    from cenv.settings import LockSettings

    console = Console(quiet=quiet, json_output=json_output)
    specs, update_names = _split_update_args(specs, update)
    from cenv.virtual_packages import check_version_flag

    cuda, no_cuda = _cuda_option(cuda)
    glibc = check_version_flag("--glibc", glibc)
    osx = check_version_flag("--osx", osx)
    settings = LockSettings(
        spec_paths=specs,
        lockfile=lockfile,
        platforms=platforms,
        cuda=cuda,
        no_cuda=no_cuda,
        glibc=glibc,
        osx=osx,
        virtual_packages_file=virtual_packages_file,
        channels=channels,
        channel_alias=channel_alias,
        channel_priority=ChannelPriority(channel_priority) if channel_priority else None,
        exclude_newer=_parse_datetime(exclude_newer),
        offline=offline,
        update=update_names,
        variant=variant,
        pip_fallback=pip_fallback,
    )
    if check:
        _check(settings, console)
        return
    results = lock_all(settings)
    for warning in dict.fromkeys(w for result in results for w in result.warnings):
        console.warn(warning)
    if json_output:
        payloads = [_lock_summary(result) for result in results]
        console.json(payloads[0] if len(payloads) == 1 and variant is None else {"variants": payloads})
        return
    for result in results:
        _report_lock(result, console)


def _lock_summary(result: LockResult) -> dict[str, object]:
    from cenv.lock.keys import CUSTOM_VARIANT

    return {
        "lockfile": str(result.path),
        "variant": result.lockfile.metadata.custom(CUSTOM_VARIANT),
        "seconds": round(result.seconds, 3),
        "platforms": {
            vp.platform: {
                "packages": result.count(vp.platform),
                "virtual_packages": [str(p) for p in vp.packages],
            }
            for vp in result.virtual_packages
        },
    }


def _report_lock(result: LockResult, console: Console) -> None:
    from cenv.lock.keys import CUSTOM_VARIANT

    variant = result.lockfile.metadata.custom(CUSTOM_VARIANT)
    label = f"[{variant}] " if variant else ""
    for vp in result.virtual_packages:
        assumed = " ".join(str(p) for p in vp.packages)
        console.info(f"{label}{vp.platform}: {result.count(vp.platform)} packages (assuming {assumed})")
    if result.previous is not None:
        from cenv.lock.diff import diff_locks, render_diff

        changes = diff_locks(result.previous, result.lockfile)
        console.info(render_diff(changes) if changes.has_changes else "no package changed")
        if result.moved:
            console.info("other packages that had to change:")
            for moved in result.moved:
                console.info(f"  {moved}")
    console.info(f"wrote {result.path} in {result.seconds:.2f}s")


def _cuda_option(value: str | None) -> tuple[str | None, bool]:
    """`--cuda VERSION` -> (VERSION, False); `--cuda none` -> (None, True): no `__cuda` at all.
    Anything else is exit 1 with a hint."""
    from cenv.virtual_packages import check_version_flag

    if value is not None and value.strip().lower() in ("no", "false"):
        value = "none"
    checked = check_version_flag("--cuda", value, allow_none=True)
    if checked == "none":
        return None, True
    return checked, False


def _lock_flags(cuda: str | None, glibc: str | None, osx: str | None, pip_fallback: bool) -> LockFlags:
    """`create`'s lock inputs, checked as `cenv lock` checks them."""
    from cenv.virtual_packages import check_version_flag

    version, no_cuda = _cuda_option(cuda)
    return LockFlags(
        cuda=version,
        no_cuda=no_cuda,
        glibc=check_version_flag("--glibc", glibc),
        osx=check_version_flag("--osx", osx),
        pip_fallback=pip_fallback,
    )


def _split_update_args(
    specs: tuple[Path, ...], update: tuple[str, ...]
) -> tuple[tuple[Path, ...], tuple[str, ...] | None]:
    """`cenv lock ml.yml --update numpy scipy`: click reads `scipy` as a spec; take it back as a name."""
    if not update:
        if not specs:
            raise click.UsageError("missing SPEC: `cenv lock SPEC...`")
        return specs, None
    names: list[str] = []
    files: list[Path] = []
    for value in update:
        if value != "*" and value.endswith((".yml", ".yaml")):  # `--update ml.yml`: the flag had no name
            files.append(Path(value))
        elif value != "*":
            names.extend(n for n in value.split(",") if n)
    for spec in specs:
        if spec.exists() or spec.suffix in (".yml", ".yaml") or len(spec.parts) > 1:
            files.append(spec)
        else:
            names.append(str(spec))
    if not files:
        raise click.UsageError("missing SPEC: `cenv lock SPEC --update [PKG...]`")
    return tuple(files), tuple(dict.fromkeys(n.lower() for n in names))


def _check(settings: LockSettings, console: Console) -> None:
    from cenv.errors import UserError
    from cenv.pipeline import check

    plan, reasons = check(settings)
    path = plan.output
    if console.json_output:
        console.json(
            {
                "lockfile": str(path),
                "fresh": not reasons,
                "reasons": [{"kind": r.kind, "detail": r.detail, "platform": r.platform} for r in reasons],
            }
        )
    if not reasons:
        console.info(f"{path} is up to date")
        return
    if not console.json_output:
        for reason in reasons:
            where = f" ({reason.platform})" if reason.platform else ""
            console.data(f"{reason.kind}{where}: {reason.detail}")
    raise UserError(
        f"{path} is stale: {len(reasons)} reason{'s' if len(reasons) > 1 else ''}",
        hints=[f"run `{plan.lock_command()}` to re-lock"],
    )


@cli.command("export")
@click.argument("lockfile", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(EXPORT_FORMATS),
    default=ExportFormat.EXPLICIT.value,
    show_default=True,
    help="explicit: @EXPLICIT (conda part); requirements: hashed pip file; share: both, into -o DIR.",
)
@click.option("-p", "--platform", help="Platform to export (default: the host's, or the lock's only one).")
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


@cli.command("diff")
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "json_output", is_flag=True, help="Print the differences as JSON.")
@click.option("--exit-code", is_flag=True, help="Exit with 1 when the lockfiles differ (like `git diff`).")
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

        version, no_cuda = _cuda_option(cuda)
        settings = LockSettings(
            spec_paths=new,
            platforms=before.platforms,
            cuda=version,
            no_cuda=no_cuda,
            channel_alias=channel_alias,
        )
        after, _ = lock_spec(load_spec(list(new)), settings, before)  # gaps from OLD's recorded inputs
    result = diff_locks(before, after)
    if json_output:
        Console().json(result.to_json())
    else:
        Console().data(render_diff(result))
    if exit_code and result.has_changes:
        raise click.exceptions.Exit(1)


@cli.command("why")
@click.argument("package")
@click.option(
    "-l", "--lockfile", type=click.Path(path_type=Path), help="Lockfile (default: the only *-lock.yml here)."
)
@click.option("-p", "--platform", help="Platform (default: the host's, or the lock's only one).")
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


@cli.command("info")
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


@cli.command("pack")
@click.argument("lockfile", type=click.Path(path_type=Path))
@click.option(
    "-p", "--platform", "platforms", multiple=True, help="Platform to pack (repeatable; default all)."
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


# ---------------------------------------------------------------- create / run


@cli.command("create")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-p", "--prefix", type=click.Path(path_type=Path), help="Create the environment at this path.")
@click.option("-n", "--name", help="Create a named environment (CONDA_ENVS_PATH, envs_dirs, ~/.conda/envs).")
@click.option("--platform", help="Platform of the lock to install (default: this machine's).")
@click.option("--dry-run", is_flag=True, help="Show what would be downloaded and linked; change nothing.")
@click.option("--force", is_flag=True, help="Replace an existing environment at the target.")
@click.option("--offline", is_flag=True, help="Use only cached repodata and packages.")
@click.option(
    "--variant",
    help="Which of the spec's variants to create (default `auto`: the best for this host's driver).",
)
@click.option(
    "--relock",
    is_flag=True,
    help="Re-lock a stale lockfile (with the inputs it recorded) instead of stopping with exit 1.",
)
@click.option(
    "--no-link-scripts",
    is_flag=True,
    help="Do not run packages' post-link / pre-unlink scripts (say which were skipped).",
)
@click.option(
    "--cuda", help="With a spec: lock for this CUDA driver version (`none`: no __cuda), as `cenv lock`."
)
@click.option("--glibc", help="With a spec: lock for this glibc version, as `cenv lock`.")
@click.option("--osx", "osx", help="With a spec: lock for this macOS version, as `cenv lock`.")
@click.option(
    "--pip-fallback", is_flag=True, help="With a spec: lock with the PyPI fallback, as `cenv lock`."
)
@click.option("--json", "json_output", is_flag=True, help="Print a machine-readable summary on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress and no messages.")
def create_command(
    source: Path,
    prefix: Path | None,
    name: str | None,
    platform: str | None,
    dry_run: bool,
    force: bool,
    offline: bool,
    variant: str | None,
    relock: bool,
    no_link_scripts: bool,
    cuda: str | None,
    glibc: str | None,
    osx: str | None,
    pip_fallback: bool,
    json_output: bool,
    quiet: bool,
) -> None:
    """Create an environment from SOURCE: an environment spec (its `<stem>-lock.yml` is installed when fresh,
    made when missing; a stale one stops with exit 1 unless `--relock`), a lockfile (cenv, conda-lock v1,
    `@EXPLICIT`, pixi.lock), which is installed as it is and never solved, or a `cenv pack` tar or folder
    (installed with no network)."""
    import signal

    from cenv.console import Console
    from cenv.create import create
    from cenv.progress import make_reporter
    from cenv.settings import CreateSettings

    if prefix is not None and name is not None:
        raise click.UsageError("give either `-p PREFIX` or `-n NAME`, not both")
    from cenv.install.prefix import interrupt

    console = Console(quiet=quiet, json_output=json_output)
    # SIGTERM unwinds like Ctrl-C, so the half-built environment is removed before exiting; once the
    # environment is renamed into place, neither aborts the create (it is complete).
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    settings = CreateSettings(
        source=source,
        prefix=prefix,
        name=name,
        platform=platform,
        dry_run=dry_run,
        force=force,
        offline=offline,
        variant=variant or "auto",  # `cenv create ml.yml` picks the variant for this host
        relock=relock,
        link_scripts=not no_link_scripts,
        lock_flags=_lock_flags(cuda, glibc, osx, pip_fallback),
    )
    reporter = make_reporter(console)
    try:
        from cenv.pack import is_pack

        if is_pack(source):  # a `cenv pack` tar or folder: checked, then installed with no network
            from cenv.errors import UserError
            from cenv.pack.unpack import create_from_pack

            if settings.lock_flags.given:
                flags = " ".join(settings.lock_flags.given)
                raise UserError(
                    f"`{flags}`: {source} is a pack, installed as it is", hints=["drop the flags"]
                )
            result = create_from_pack(settings, reporter)
        else:
            result = create(settings, reporter)
    finally:
        reporter.close()
    if json_output:
        payload: dict[str, Any] = {
            "prefix": str(result.prefix),
            "name": result.name,
            "lockfile": str(result.lockfile),
            "lock": result.lock_action,
            "dry_run": dry_run,
            "warnings": list(result.warnings),
        }
        payload.update(result.plan.summary() if result.install is None else result.install.summary())
        if result.install is not None:
            payload["warnings"] = list(result.warnings) + list(result.install.warnings)
        console.json(payload)
        return
    if result.install is None:
        _print_plan(console, result.plan)
        return
    done = result.install
    console.info(
        f"created {done.prefix} ({done.packages} packages: {done.fetched} downloaded, "
        f"{done.from_cache} from cache) in {done.seconds:.2f}s"
    )
    _print_usage(console, result.prefix, result.name)


def _print_plan(console: Any, plan: Any) -> None:
    from cenv.progress import human_size

    verb = "replace" if plan.replaces_existing else "create"
    console.info(
        f"dry run: would {verb} {plan.prefix} with {len(plan.packages)} packages for {plan.platform}"
    )
    for planned in plan.packages:
        where = "download" if planned.action == "fetch" else "from cache"
        known = planned.action == "fetch" and planned.size is not None
        size = f" ({human_size(planned.size)})" if known else ""
        console.info(f"  {where:<10} {planned.package.name} {planned.package.version}{size}")
    total = f" ({human_size(plan.fetch_size)})" if plan.fetch_size is not None else ""
    console.info(
        f"{len(plan.to_fetch)} to download{total}, {len(plan.from_cache)} to link from the package cache"
    )


def _print_usage(console: Any, prefix: Path, name: str | None) -> None:
    import shutil

    console.info("to use it:")
    if shutil.which("conda"):
        console.info(f"  conda activate {name or prefix}")
    target = f"-n {name}" if name else f"-p {prefix}"
    console.info(f"  cenv run {target} -- COMMAND")


@cli.command(
    "run",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option("-p", "--prefix", type=click.Path(path_type=Path), help="The environment's path.")
@click.option("-n", "--name", help="A named environment.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run_command(prefix: Path | None, name: str | None, command: tuple[str, ...]) -> None:
    """Run COMMAND inside an environment (PATH, CONDA_PREFIX, packages' env_vars.d, the spec's variables,
    activate.d scripts; exit 127 when COMMAND is not found).

    Example: cenv run -p ./env -- python -c 'import sys; print(sys.prefix)'
    """
    import os as _os

    from cenv.errors import UserError
    from cenv.install.activate import run_in_env
    from cenv.install.envs import find_named_env

    if (prefix is None) == (name is None):
        raise click.UsageError("give exactly one of `-p PREFIX` or `-n NAME`")
    if name is not None:
        found = find_named_env(name)
        if found is None:
            raise UserError(
                f"no environment named `{name}`",
                hints=["create it with `cenv create SPEC -n NAME`"],
            )
        target = found
    else:
        assert prefix is not None
        target = Path(_os.path.abspath(prefix))
    code = run_in_env(target, list(command), name)
    # pass the command's exit code through (click's non-standalone mode would swallow an Exit)
    _exit(code)


def _exit(code: int) -> None:
    # rattler sometimes segfaults during interpreter shutdown after a failed fetch (ENGINE-NOTES):
    # flush and leave without running finalizers so the exit code is ours.
    if "cenv.net" in sys.modules:
        sys.modules["cenv.net"].cleanup()  # the private auth file (os._exit skips atexit)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: maps cenv errors to exit 1/2 with `error:` and `hint:` lines, never a traceback."""
    from cenv.errors import CenvError

    try:
        # In non-standalone mode click returns the code of a raised `Exit` instead of raising it.
        args = sys.argv[1:] if argv is None else argv
        code = cli.main(args=args or ["--help"], prog_name="cenv", standalone_mode=False)
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
    except OSError as exc:
        from cenv.console import print_error
        from cenv.fsfaults import ENVIRONMENT_ERRNOS

        if exc.errno not in ENVIRONMENT_ERRNOS:
            print_error(
                f"internal error: {type(exc).__name__}: {exc}",
                ["this is a bug in cenv; please report it with the command you ran"],
            )
            _exit(2)
        # a full or read-only disk, a file in the way: the machine's state, not a bug in cenv
        where = f" `{exc.filename}`" if exc.filename else ""
        print_error(
            f"cannot use{where}: {exc.strerror or exc}", ["check the path, its permissions and free space"]
        )
        _exit(1)
    except Exception as exc:
        from cenv.console import print_error

        print_error(
            f"internal error: {type(exc).__name__}: {exc}",
            ["this is a bug in cenv; please report it with the command you ran"],
        )
        _exit(2)
    _exit(code if isinstance(code, int) else 0)
