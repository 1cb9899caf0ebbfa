"""`cenv export`: the lock's platform as an @EXPLICIT file, a hashed pip requirements file, or both with the
commands a collaborator without cenv runs (`share`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cenv.lock.importers import read_lock
from cenv.platforms import host_platform
from cenv.settings import ExportFormat

if TYPE_CHECKING:
    from cenv.lock.models import Lockfile


def _export_platform(lockfile: Lockfile, platform: str | None) -> str:
    chosen = platform or host_platform()
    if platform is None and chosen not in lockfile.platforms and len(lockfile.platforms) == 1:
        chosen = lockfile.platforms[0]
    return chosen


@dataclass(frozen=True)
class Export:
    platform: str
    files: list[tuple[str, str]]  # (file name, text)
    commands: list[str]  # how a collaborator without cenv rebuilds the environment


def export(lockfile_path: Path, fmt: ExportFormat, platform: str | None, name: str | None = None) -> Export:
    """`explicit`: the @EXPLICIT file; `requirements`: the hashed pip file; `share`: both plus commands."""
    from cenv.lock.explicit import render_explicit
    from cenv.lock.requirements import render_requirements

    lockfile = read_lock(lockfile_path)
    chosen = _export_platform(lockfile, platform)
    stem = lockfile_path.name.removesuffix(".yml").removesuffix(".yaml").removesuffix("-lock")
    env = name or stem
    explicit_name = f"{stem}.{chosen}.explicit.txt"
    has_pip = bool(lockfile.packages_for(chosen, "pip"))
    requirements_name = f"{stem}.{chosen}.requirements.txt" if has_pip else None
    from cenv.lock.keys import CUSTOM_VARIABLES, parse_variables

    try:
        variables = parse_variables(lockfile.metadata.custom(CUSTOM_VARIABLES))
    except ValueError as exc:
        from cenv.errors import LockfileError

        raise LockfileError(
            f"{lockfile_path}: {exc}", hints=["lock it again with `cenv lock SPEC`"]
        ) from None
    commands = sharing_commands(env, explicit_name, requirements_name, variables)
    if fmt == ExportFormat.REQUIREMENTS:
        if chosen not in lockfile.platforms:
            render_explicit(lockfile, chosen)  # raises the error that lists the lock's platforms
        return Export(
            chosen, [(f"{stem}.{chosen}.requirements.txt", render_requirements(lockfile, chosen))], []
        )
    header = ["Rebuild this environment without cenv:", *(f"  {c}" for c in commands)]
    files = [(explicit_name, render_explicit(lockfile, chosen, header_lines=header))]
    if fmt == ExportFormat.SHARE and requirements_name:
        files.append((requirements_name, render_requirements(lockfile, chosen)))
    return Export(chosen, files, commands)


def sharing_commands(
    env: str, explicit_name: str, requirements_name: str | None, variables: dict[str, str] | None = None
) -> list[str]:
    """The commands that rebuild the environment with conda or micromamba, then set the spec's variables
    (`conda env config vars set`: conda keeps them in the environment's conda-meta/state)."""
    import shlex

    settings = " ".join(shlex.quote(f"{k}={v}") for k, v in sorted((variables or {}).items()))
    variables_line = [f"conda env config vars set -n {env} {settings}"] if settings else []
    pip = (
        f" && {{tool}} run -n {env} python -m pip install --no-deps --require-hashes -r {requirements_name}"
        if requirements_name
        else ""
    )
    return [
        f"conda create -n {env} --file {explicit_name}" + pip.format(tool="conda"),
        f"micromamba create -n {env} -f {explicit_name}" + pip.format(tool="micromamba"),
        *variables_line,
    ]
