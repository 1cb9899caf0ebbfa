"""`cenv create` (from a spec, a lockfile or a pack) and `cenv run`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cenv.cli.lock import cuda_option
from cenv.cli.params import PLATFORM, check_prefix, default_spec
from cenv.settings import LockFlags

if TYPE_CHECKING:
    from cenv.console import Console
    from cenv.install.plan import InstallPlan


def _lock_flags(cuda: str | None, glibc: str | None, osx: str | None, pip_fallback: bool) -> LockFlags:
    """`create`'s lock inputs, checked as `cenv lock` checks them."""
    from cenv.virtual_packages import check_version_flag

    version, no_cuda = cuda_option(cuda)
    return LockFlags(
        cuda=version,
        no_cuda=no_cuda,
        glibc=check_version_flag("--glibc", glibc),
        osx=check_version_flag("--osx", osx),
        pip_fallback=pip_fallback,
    )


@click.command("create")
@click.argument("source", type=click.Path(path_type=Path), required=False)
@click.option(
    "-p",
    "--prefix",
    type=click.Path(path_type=Path),
    callback=check_prefix,
    help="Create the environment at this path.",
)
@click.option("-n", "--name", help="Create a named environment (CONDA_ENVS_PATH, envs_dirs, ~/.conda/envs).")
@click.option("--platform", type=PLATFORM, help="Platform of the lock to install (default: this machine's).")
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
    help="Do not run packages' post-link / pre-unlink scripts (say which were skipped). The environment's "
    "own python still runs, once, to compile the packages' bytecode (as conda does).",
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
    source: Path | None,
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
    """Create an environment from SOURCE (default: environment.yml here): an environment spec (its
    `<stem>-lock.yml` is installed when fresh, made when missing; a stale one stops with exit 1 unless
    `--relock`), a lockfile (cenv, conda-lock v1, `@EXPLICIT`, pixi.lock), which is installed as it is and
    never solved, or a `cenv pack` tar or folder (installed with no network)."""
    import signal

    from cenv.console import Console
    from cenv.create import create
    from cenv.progress import make_reporter
    from cenv.settings import CreateSettings

    if source is None:
        source = default_spec("create")
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
            from cenv.errors import UsageError
            from cenv.pack.unpack import create_from_pack

            if settings.lock_flags.given:
                flags = " ".join(settings.lock_flags.given)
                raise UsageError(
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
            "variant": result.variant,
            "pip": [{"name": p.name, "version": p.version} for p in result.plan.pip],
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


def _print_plan(console: Console, plan: InstallPlan) -> None:
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
    if plan.fetch_size is None and plan.to_fetch:
        total = " (size unknown: the lock records none, and cenv does not ask the server)"
    console.info(
        f"{len(plan.to_fetch)} to download{total}, {len(plan.from_cache)} to link from the package cache"
    )


def _print_usage(console: Console, prefix: Path, name: str | None) -> None:
    import shutil

    console.info("to use it:")
    if shutil.which("conda"):
        console.info(f"  conda activate {name or prefix}")
    target = f"-n {name}" if name else f"-p {prefix}"
    console.info(f"  cenv run {target} -- COMMAND")


@click.command(
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
    from cenv.cli import _exit  # here, not at the top: cenv.cli imports this module
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
        target = Path(os.path.abspath(prefix))
    import signal

    # not the CLI's SIGTERM-as-Ctrl-C: run_in_env waits out a KeyboardInterrupt for its child
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    code = run_in_env(target, list(command), name)
    # pass the command's exit code through (click's non-standalone mode would swallow an Exit)
    _exit(code)
