"""Run a command inside an environment, as `conda run` would after `conda activate`.

Activation: PREFIX's bin directories first on PATH, CONDA_PREFIX / CONDA_DEFAULT_ENV / CONDA_SHLVL, then the
environment variables in conda's order (`_get_environment_env_vars` in conda/activate.py): the packages'
`etc/conda/env_vars.d/*.json` files in name order, then the spec's `variables` (stored at create time in
`conda-meta/state` like conda's `env_vars`), which win over the packages'; a value `***unset***` unsets the
variable. Last, the packages' `etc/conda/activate.d/*.sh` scripts, sourced by bash right before the command
replaces it. A command that is not found exits 127, as a shell does.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from cenv.errors import CommandNotFound, UserError

__all__ = [
    "activate_scripts",
    "activation_env",
    "environment_env_vars",
    "package_env_vars",
    "run_in_env",
    "stored_env_vars",
]

UNSET = "***unset***"  # conda's CONDA_ENV_VARS_UNSET_VAR


def _bin_dirs(prefix: Path) -> list[Path]:
    if sys.platform == "win32":
        return [
            prefix,
            prefix / "Library" / "mingw-w64" / "bin",
            prefix / "Library" / "usr" / "bin",
            prefix / "Library" / "bin",
            prefix / "Scripts",
            prefix / "bin",
        ]
    return [prefix / "bin"]


def stored_env_vars(prefix: Path) -> dict[str, str]:
    """`env_vars` from PREFIX/conda-meta/state (written by cenv create or `conda env config vars`)."""
    state = prefix / "conda-meta" / "state"
    try:
        data = json.loads(state.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read `{state}`: {exc}") from exc
    env_vars = data.get("env_vars") if isinstance(data, dict) else None
    return {str(k): str(v) for k, v in env_vars.items()} if isinstance(env_vars, dict) else {}


def package_env_vars(prefix: Path) -> dict[str, str]:
    """The packages' `etc/conda/env_vars.d/*.json` maps, merged in file name order (later files win)."""
    directory = prefix / "etc" / "conda" / "env_vars.d"
    merged: dict[str, str] = {}
    try:
        paths = sorted(p for p in directory.iterdir() if p.is_file())
    except OSError:
        return merged
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(
                f"cannot read `{path}`: {exc}", hints=["a package shipped a broken file"]
            ) from exc
        if isinstance(data, dict):
            merged.update({str(k): str(v) for k, v in data.items()})
    return merged


def environment_env_vars(prefix: Path) -> dict[str, str]:
    """conda's `_get_environment_env_vars`: env_vars.d first, then conda-meta/state over them."""
    merged = package_env_vars(prefix)
    merged.update(stored_env_vars(prefix))
    return merged


def activation_env(prefix: Path, base: Mapping[str, str], name: str | None = None) -> dict[str, str]:
    """The environment variables of an activated `prefix`, starting from `base`."""
    env = dict(base)
    old_path = env.get("PATH", "")
    env["PATH"] = os.pathsep.join([*(str(d) for d in _bin_dirs(prefix)), *([old_path] if old_path else [])])
    env["CONDA_PREFIX"] = str(prefix)
    env["CONDA_DEFAULT_ENV"] = name or str(prefix)
    env["CONDA_SHLVL"] = "1"
    env["CONDA_PROMPT_MODIFIER"] = f"({name or prefix.name}) "
    for key, value in environment_env_vars(prefix).items():
        if value == UNSET:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def activate_scripts(prefix: Path) -> list[Path]:
    directory = prefix / "etc" / "conda" / "activate.d"
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix == ".sh" and p.is_file())


def run_in_env(prefix: Path, command: Sequence[str], name: str | None = None) -> int:
    """Run `command` in the activated environment; returns its exit code (128+N when killed by signal N)."""
    if not command:
        raise UserError("no command to run", hints=["usage: `cenv run -p PREFIX -- COMMAND [ARGS...]`"])
    if not (prefix / "conda-meta").is_dir():
        raise UserError(
            f"`{prefix}` is not a conda environment",
            hints=["create it with `cenv create SPEC -p PREFIX`"],
        )
    env = activation_env(prefix, os.environ, name)
    executable = shutil.which(command[0], path=env["PATH"])
    if executable is None:
        raise CommandNotFound(
            f"command `{command[0]}` not found in the environment or on PATH",
            hints=[f"installed commands are in `{_bin_dirs(prefix)[-1]}`"],
        )
    argv = [executable, *command[1:]]
    scripts = activate_scripts(prefix)
    bash = shutil.which("bash") if scripts else None
    if bash is not None:
        sourced = "; ".join(f". {shlex.quote(str(s))}" for s in scripts)
        argv = [bash, "-c", f'{sourced}; exec "$@"', "cenv-run", *argv]
    process = subprocess.Popen(argv, env=env)
    while True:
        try:
            code = process.wait()
            break
        except KeyboardInterrupt:  # the child got the same Ctrl-C; wait for it to finish
            continue
    if code < 0:
        return 128 + (-code)
    return code
