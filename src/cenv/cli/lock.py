"""`cenv lock` (incl. `--check` and `--update`) and the lock-input flags `create` and `diff` share."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cenv.cli.params import PLATFORM
from cenv.settings import CHANNEL_PRIORITIES, ChannelPriority

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


@click.command("lock")
@click.argument("specs", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "-o", "--lockfile", type=click.Path(path_type=Path), help="Where to write (default: <spec>-lock.yml)."
)
@click.option(
    "-p", "--platform", "platforms", type=PLATFORM, multiple=True, help="Target platform (repeatable)."
)
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
@click.option(
    "--variant",
    help="Lock only this one of the spec's `variants` (default: all of them); `-o` is then its path.",
)
@click.option(
    "--ignore-recorded",
    is_flag=True,
    help="Do not replay the flags the existing lockfile recorded: only the flags given now and the spec.",
)
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
    ignore_recorded: bool,
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

    cuda, no_cuda = cuda_option(cuda)
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
        named_variant=variant is not None,
        ignore_recorded=ignore_recorded,
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
        _report_lock(result, console, cuda_given=settings.cuda is not None)


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


def _report_lock(result: LockResult, console: Console, *, cuda_given: bool = False) -> None:
    from cenv.lock.keys import CUSTOM_VARIANT

    variant = result.lockfile.metadata.custom(CUSTOM_VARIANT)
    label = f"[{variant}] " if variant else ""
    cpu_only = not any(vp.get("__cuda") for vp in result.virtual_packages)
    if (
        cuda_given
        and cpu_only
        and any(vp.sources.get("__cuda") == "variant" for vp in result.virtual_packages)
    ):
        console.info(f"{label}--cuda does not apply: the variant declares `cuda: null` (CPU only)")
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


def cuda_option(value: str | None) -> tuple[str | None, bool]:
    """`--cuda VERSION` -> (VERSION, False); `--cuda none` -> (None, True): no `__cuda` at all.
    Anything else is exit 1 with a hint."""
    from cenv.virtual_packages import check_version_flag

    if value is not None and value.strip().lower() in ("no", "false"):
        value = "none"
    checked = check_version_flag("--cuda", value, allow_none=True)
    if checked == "none":
        return None, True
    return checked, False


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
    """`lock --check`: every variant's lockfile (or the one named), each reported; exit 1 naming the stale
    ones."""
    from cenv.errors import UserError
    from cenv.pipeline import check_all

    results = check_all(settings)
    several = len(results) > 1 or settings.variant is not None
    if console.json_output:
        payloads = [
            {
                "lockfile": str(r.plan.output),
                "variant": r.plan.variant,
                "fresh": not r.reasons and not r.missing,
                "missing": r.missing,
                "reasons": [{"kind": x.kind, "detail": x.detail, "platform": x.platform} for x in r.reasons],
                "overrides": list(r.overrides),
            }
            for r in results
        ]
        console.json(payloads[0] if len(payloads) == 1 and not several else {"variants": payloads})
    stale = []
    for result in results:
        plan = result.plan
        label = f"[{plan.variant}] " if plan.variant else ""
        for line in result.overrides:
            console.info(f"{label}note: {line}; `--ignore-recorded` re-locks without the recorded flags")
        if result.missing:
            stale.append(result)
            console.info(f"{label}{plan.output}: no such lockfile")
        elif not result.reasons:
            console.info(f"{label}{plan.output} is up to date")
        else:
            stale.append(result)
            if not console.json_output:
                for reason in result.reasons:
                    where = f" ({reason.platform})" if reason.platform else ""
                    console.data(f"{label}{reason.kind}{where}: {reason.detail}")
    if not stale:
        return
    if len(results) == 1:
        [only] = stale
        raise UserError(
            f"{only.plan.output} is stale: {len(only.reasons)} reason{'s' if len(only.reasons) > 1 else ''}",
            hints=[f"run `{only.plan.lock_command()}` to re-lock"],
        )
    names = ", ".join(f"{r.plan.variant} ({'missing' if r.missing else 'stale'})" for r in stale)
    # the longest: a CUDA variant's command carries `--cuda`, which the CPU-only variants ignore
    command = max((r.plan.lock_command(all_variants=True) for r in results), key=len)
    raise UserError(f"variant lockfiles out of date: {names}", hints=[f"run `{command}` to re-lock"])
