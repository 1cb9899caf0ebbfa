"""Files that are not environment specs, recognised by name and content, each answered with what it is and
what to do with it: a pixi or Python project manifest, a pip requirements file, a lockfile or `@EXPLICIT` file
handed to `cenv lock`. Without this they reach the YAML reader and fail as "invalid YAML" or "unknown key".

The patterns are anchored, per line and without nested quantifiers, so a hostile file cannot make them slow.
"""

from __future__ import annotations

import re
from pathlib import PurePath

from cenv.errors import SpecError

_REQUIREMENTS_NAME = re.compile(
    r"(?i)^(?:[\w.-]*[-_.])?(?:requirements|constraints|reqs)(?:[-_.][\w.-]*)?\.(?:txt|in)$"
)
# one requirement line: `name`, `name[extra]`, `name==1.0`, `name @ url`, `name; marker`, or an option `-r x`
# (a pip option is `-r FILE`-like or `--long-name`: YAML's `---` document marker is not one)
_REQUIREMENT_LINE = re.compile(
    r"^(?:-[a-zA-Z](?:\s|=|$)|--[a-z][\w-]*|[A-Za-z0-9][A-Za-z0-9._-]*\s*(?:\[[^\]]*\])?\s*(?:[<>=!~@;(]|$))"
)
_YAML_KEY = re.compile(r"^[A-Za-z_][\w.-]*\s*:(?:\s|$)")
_TOML_TABLE = re.compile(r"^\[{1,2}\s*([\w.\-\"]+)\s*\]{1,2}\s*(?:#.*)?$")


def _lines(text: str) -> list[str]:
    out = []
    for raw in text.splitlines()[:400]:
        line = raw.strip()
        if line and not line.startswith("#"):
            out.append(line[:400])
    return out


def _toml_tables(text: str) -> set[str]:
    return {m.group(1).strip('"') for line in _lines(text) if (m := _TOML_TABLE.match(line))}


def _top_keys(text: str) -> set[str]:
    keys = set()
    for raw in text.splitlines()[:5000]:
        match = _YAML_KEY.match(raw[:200])
        if match:
            keys.add(match.group(0).split(":", 1)[0].strip())
    return keys


def _toml_answer(label: str, name: str, text: str) -> SpecError:
    tables = _toml_tables(text)
    if name == "pixi.toml" or "workspace" in tables or any(t.startswith("tool.pixi") for t in tables):
        what = "a pixi manifest (pixi.toml)" if name == "pixi.toml" else "a pixi manifest"
        return SpecError(
            f"{label}: this is {what}, not an environment file; cenv reads conda's environment.yml",
            [
                "copy its channels and [dependencies] into an environment.yml (`channels:`, `dependencies:`)",
                "or install from its lock: `cenv create pixi.lock`",
            ],
        )
    if name == "pyproject.toml" or "project" in tables or "build-system" in tables:
        return SpecError(
            f"{label}: this is a Python project file (pyproject.toml), not an environment file",
            [
                "list the project in an environment.yml under `pip:`, e.g. `- pip: [-e .]`, "
                "and its conda dependencies under `dependencies:`",
            ],
        )
    return SpecError(
        f"{label}: this is a TOML file, not an environment file; cenv reads conda's environment.yml (YAML)",
        ["an environment file looks like: `channels: [conda-forge]` and `dependencies: [python=3.12]`"],
    )


def _requirements_answer(label: str, name: str) -> SpecError:
    return SpecError(
        f"{label}: this is a pip requirements file, not an environment file; cenv reads environment.yml",
        [f"put it under `pip:` in an environment.yml: `dependencies: [python, pip, {{pip: [-r {name}]}}]`"],
    )


def _lockfile_answer(label: str, kind: str) -> SpecError:
    return SpecError(
        f"{label}: this is {kind}, not an environment spec; `cenv lock` reads the spec a lock is made from",
        [f"install it with `cenv create {label}`, or lock its spec: `cenv lock environment.yml`"],
    )


def foreign_input(label: str, text: str) -> SpecError | None:
    """The error for a file that is not an environment spec, or None when it may be one."""
    name = PurePath(label).name.lower()
    if name.endswith(".toml"):
        return _toml_answer(label, name, text)
    if _REQUIREMENTS_NAME.match(name):
        return _requirements_answer(label, PurePath(label).name)
    if re.search(r"^\s*@EXPLICIT\s*$", text[:1_000_000], re.MULTILINE):
        return _lockfile_answer(label, "an `@EXPLICIT` package list")
    keys = _top_keys(text)
    if "version" in keys and "metadata" in keys and "package" in keys:
        return _lockfile_answer(label, "a conda-lock lockfile")
    if "version" in keys and "environments" in keys and "packages" in keys:
        return _lockfile_answer(label, "a pixi lockfile (pixi.lock)")
    lines = _lines(text)
    if not keys and _toml_tables(text):
        return _toml_answer(label, name, text)
    # a one-word file is YAML's plain scalar as much as a requirement: only a name that says so, or a
    # requirement's operators, make it a requirements file
    if (
        not keys
        and lines
        and all(_REQUIREMENT_LINE.match(line) for line in lines)
        and (any(re.search(r"[<>=!~@;\[]|^-", line) for line in lines) or name.endswith((".txt", ".in")))
    ):
        return _requirements_answer(label, PurePath(label).name)
    return None
