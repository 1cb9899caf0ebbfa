"""Packages' link scripts, run as conda runs them (`run_script` in conda/core/link.py).

A package may ship `bin/.<name>-post-link.sh` (run after it is linked) and `bin/.<name>-pre-unlink.sh` (run
before it is removed). conda 26 runs them two ways, and cenv follows each:

- post-link: `run_script(prefix, prec, "post-link", activate=True)`. `wrap_subprocess_call` (conda/utils.py)
  writes a wrapper that activates the target environment (`conda activate PREFIX`: PATH, `CONDA_PREFIX`,
  the packages' `env_vars.d`, `conda-meta/state`'s `env_vars`, the `activate.d` scripts sourced) and then
  *sources* the script (`. SCRIPT`), run by `bash WRAPPER`: a top-level `return` is valid and the
  environment's activation variables are set. cenv writes the same wrapper (the activation done by
  `cenv.install.activate`, the `activate.d` scripts sourced in it) outside the prefix.
- pre-unlink (and conda's deprecated pre-link): `bash -x SCRIPT`, no activation.

Both get the environment plus `ROOT_PREFIX`, `PREFIX`, `PKG_NAME`, `PKG_VERSION`, `PKG_BUILDNUM` and the
script's directory first on `PATH`, in the script's directory; what a script appends to
`PREFIX/.messages.txt` is shown to the user and the file removed. A failing post-link script fails the
transaction; a failing pre-unlink script is only reported. Windows `.bat` scripts run with `cmd /d /c`
without activation (untested here: no Windows machine).

cenv runs post-link scripts in the staged prefix (so `PREFIX` is the staging directory: the environment
does not exist at its final path until the create succeeds), dependencies first, after every package is
linked (conda links all, makes entry points, then runs the scripts in link order). Files the scripts
create or change that contain the staging path get the final path instead (written as new files: a linked
file may be a hard link into the package cache).
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cenv.errors import InstallError
from cenv.install.prefix import relocate_file
from cenv.lock.models import dependencies_from_depends
from cenv.redact import redact

__all__ = [
    "ScriptRun",
    "dependency_order",
    "link_script",
    "run_post_link",
    "run_pre_unlink",
    "scripts_of",
    "take_messages",
]

_TIMEOUT_S = 900
_TAIL_LINES = 15
MESSAGES_FILE = ".messages.txt"


@dataclass(frozen=True)
class ScriptRun:
    package: str
    action: str  # post-link or pre-unlink
    ok: bool
    output: str = ""


def _windows() -> bool:
    return sys.platform == "win32"


def link_script(prefix: Path, name: str, action: str) -> Path:
    if _windows():
        return prefix / "Scripts" / f".{name}-{action}.bat"
    return prefix / "bin" / f".{name}-{action}.sh"


def dependency_order(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Records in conda's link order: `PrefixGraph._toposort` (conda/models/prefix_graph.py) with conda's
    default `allow_cycles`, i.e. `_topo_sort_handle_cycles`: packages nothing depends on and that depend on
    nothing first, by name; then level by level, each level's packages without unlinked dependencies by
    name; in a cycle, the package with the fewest unlinked dependencies (then the first name) goes next.
    python's dependency on pip is dropped first (`_toposort_prepare_graph`)."""
    by_name = {str(r["name"]): r for r in records}
    parents = {
        name: {d for d in dependencies_from_depends(list(r.get("depends") or [])) if d in by_name} - {name}
        for name, r in by_name.items()
    }
    parents.get("python", set()).discard("pip")
    is_parent = {p for found in parents.values() for p in found}
    ordered = sorted(n for n, found in parents.items() if not found and n not in is_parent)
    for name in ordered:
        del parents[name]
    while parents:
        level = sorted(n for n, found in parents.items() if not found)
        if not level:  # a cycle: conda's `_toposort_pop_key`
            level = [min(parents, key=lambda n: (len(parents[n]), n))]
        for name in level:
            del parents[name]
            ordered.append(name)
        for found in parents.values():
            found.difference_update(level)
    return [by_name[name] for name in ordered]


def scripts_of(prefix: Path, records: Iterable[Mapping[str, Any]], action: str) -> list[Mapping[str, Any]]:
    """The records (in the order given) whose package ships an `action` script in `prefix`."""
    return [r for r in records if link_script(prefix, str(r["name"]), action).is_file()]


def _root_prefix(prefix: Path) -> str:
    """conda's `context.root_prefix` (its own installation); cenv has none, so the root a conda or mamba
    user set, else the environment itself."""
    return os.environ.get("CONDA_ROOT") or os.environ.get("MAMBA_ROOT_PREFIX") or str(prefix)


def _environment(
    prefix: Path, record: Mapping[str, Any], script: Path, *, activate: bool = False
) -> dict[str, str]:
    from cenv.net import public_environment

    env = public_environment(dict(os.environ))  # a package's script never sees the merged auth file
    if activate:
        from cenv.install.activate import activation_env

        env = activation_env(prefix, env)
    env["ROOT_PREFIX"] = _root_prefix(prefix)
    env["PREFIX"] = str(prefix)
    env["PKG_NAME"] = str(record["name"])
    env["PKG_VERSION"] = str(record["version"])
    env["PKG_BUILDNUM"] = str(record.get("build_number", 0))
    env["PATH"] = os.pathsep.join([str(script.parent), env.get("PATH", "")])
    return env


def _wrapper(prefix: Path, script: Path) -> str:
    """The text of conda's post-link wrapper (`wrap_subprocess_call`): activate, then source the script.

    The activation's variables come through the environment (`activation_env`); what is left for the shell
    is sourcing the `activate.d` scripts, as `conda activate` does, and then the script itself."""
    from cenv.install.activate import activate_scripts

    lines = [f". {shlex.quote(str(hook))}" for hook in activate_scripts(prefix)]
    lines.append(f". {shlex.quote(str(script))}")
    return "\n".join(lines) + "\n"


def _run(prefix: Path, record: Mapping[str, Any], action: str) -> ScriptRun:
    script = link_script(prefix, str(record["name"]), action)
    activate = action in ("post-link", "post-unlink") and not _windows()
    wrapper: Path | None = None
    if _windows():
        command = [os.environ.get("COMSPEC", "cmd.exe"), "/d", "/c", str(script)]
    elif activate:
        shell = shutil.which("bash") or shutil.which("sh") or "/bin/sh"
        fd, name = tempfile.mkstemp(prefix="cenv-post-link-", suffix=".sh")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(_wrapper(prefix, script))
        wrapper = Path(name)
        command = [shell, str(wrapper)]
    else:
        shell = shutil.which("sh" if "bsd" in sys.platform else "bash") or "/bin/sh"
        command = [shell, "-x", str(script)]
    try:
        return _execute(command, prefix, record, action, script, activate)
    finally:
        if wrapper is not None:
            wrapper.unlink(missing_ok=True)


def _execute(
    command: list[str], prefix: Path, record: Mapping[str, Any], action: str, script: Path, activate: bool
) -> ScriptRun:
    try:
        done = subprocess.run(
            command,
            cwd=script.parent,
            env=_environment(prefix, record, script, activate=activate),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.output.decode("utf-8", "replace") if isinstance(exc.output, bytes) else ""
        return ScriptRun(str(record["name"]), action, False, out + f"\n(timed out after {_TIMEOUT_S} s)")
    except OSError as exc:
        return ScriptRun(str(record["name"]), action, False, f"cannot run {script}: {exc}")
    output = done.stdout.decode("utf-8", "replace")
    if done.returncode != 0:
        output += f"\n(exit status {done.returncode})"
    return ScriptRun(str(record["name"]), action, done.returncode == 0, output)


def take_messages(prefix: Path) -> list[str]:
    """What scripts wrote to `PREFIX/.messages.txt` (conda shows it); the file is removed."""
    path = prefix / MESSAGES_FILE
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
        path.unlink()
    except OSError:
        return []
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def _log(run: ScriptRun) -> Path | None:
    """Keep a failed script's full output in cenv's log directory (the staged prefix goes away)."""
    from cenv.logs import write_log  # only when a script failed

    return write_log(run.output, f"{run.action}-{run.package}")


def _snapshot(prefix: Path) -> dict[str, tuple[int, int]]:
    """{path: (inode, mtime_ns)} of every regular file under `prefix`."""
    found: dict[str, tuple[int, int]] = {}
    for root, _dirs, names in os.walk(prefix):
        for name in names:
            path = os.path.join(root, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                found[path] = (info.st_ino, info.st_mtime_ns)
    return found


def _relocate_changed(before: Mapping[str, tuple[int, int]], staging: Path, final: Path) -> None:
    """Files the scripts created or changed: the staging path replaced with the final one."""
    old, new = os.fsencode(staging), os.fsencode(final)
    for path, key in _snapshot(staging).items():
        if before.get(path) == key:
            continue
        try:
            data = Path(path).read_bytes()
        except OSError:
            continue
        if old in data:
            relocate_file(Path(path), data, old, new)


def run_post_link(
    prefix: Path, records: Sequence[Mapping[str, Any]], final: Path | None = None
) -> list[ScriptRun]:
    """Run the post-link scripts of `records` (already in link order) in the staged `prefix`; raises
    `InstallError` on the first failure, naming the package and showing the end of its output. With `final`,
    what the scripts wrote is relocated from `prefix` to `final`."""
    runs: list[ScriptRun] = []
    with_scripts = scripts_of(prefix, records, "post-link")
    if not with_scripts:
        return runs
    before = _snapshot(prefix) if final is not None else {}
    for record in with_scripts:
        run = _run(prefix, record, "post-link")
        if not run.ok:
            log = _log(run)
            tail = [line for line in redact(run.output).splitlines() if line.strip()][-_TAIL_LINES:]
            hints = [f"output: {line}" for line in tail]
            if log is not None:
                hints.append(f"full output: {log}")
            hints += [
                "nothing was installed",
                "`--no-link-scripts` creates the environment without running them (the package may not work)",
            ]
            raise InstallError(f"the post-link script of `{run.package}` failed", hints=hints)
        runs.append(run)
    if final is not None and final != prefix:
        _relocate_changed(before, prefix, final)
    return runs


def run_pre_unlink(prefix: Path) -> list[ScriptRun]:
    """Run the pre-unlink scripts of the environment at `prefix` (about to be replaced), dependents first
    (conda unlinks in reverse link order). Failures are returned, not raised, as conda only reports them."""
    import json

    records = []
    for path in sorted((prefix / "conda-meta").glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and "name" in record and "version" in record:
            records.append(record)
    ordered = list(reversed(dependency_order(records)))
    return [_run(prefix, r, "pre-unlink") for r in scripts_of(prefix, ordered, "pre-unlink")]
