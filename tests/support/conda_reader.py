"""Read an environment the way conda does, for tests (conda itself is not installable here).

Each function follows the behaviour of the conda source named in its docstring (read with the search tool):
what `conda env export --from-history` reads from `conda-meta/history`, and what `conda doctor`'s
altered-files and missing-files health checks compare. Written for cenv's tests; imports nothing from cenv.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from pathlib import Path
from typing import Any

__all__ = ["altered_files", "history_revisions", "missing_files", "records", "requested_names"]

_HEADER = re.compile(r"==>\s*(.+?)\s*<==")
_CMD = re.compile(r"#\s*cmd:\s*(.+)")
_SPECS = re.compile(r"#\s*(\w+)\s*specs:\s*(.+)?")


def records(prefix: Path) -> dict[str, dict[str, Any]]:
    """conda-meta/*.json by file stem."""
    return {p.stem: json.loads(p.read_text()) for p in sorted((prefix / "conda-meta").glob("*.json"))}


def history_revisions(prefix: Path) -> list[dict[str, Any]]:
    """conda/history.py `parse()` + `_parse_comment_line()`: one dict per `==> date <==` block with its
    `date`, `cmd` (argv list), `dists` (the `+`/`-` lines) and `update_specs` / `remove_specs`."""
    revisions: list[dict[str, Any]] = []
    for raw in (prefix / "conda-meta" / "history").read_text().splitlines():
        line = raw.strip()
        if not line:
            continue
        header = _HEADER.match(line)
        if header:
            revisions.append({"date": header.group(1), "dists": set()})
            continue
        if not revisions:
            continue
        current = revisions[-1]
        if not line.startswith("#"):
            current["dists"].add(line)
            continue
        cmd = _CMD.match(line)
        if cmd:
            current["cmd"] = cmd.group(1).split()
        specs = _SPECS.match(line)
        if specs:
            action, text = specs.group(1), specs.group(2) or ""
            # a list literal (conda >= 4.5) or the old comma-separated form
            values = ast.literal_eval(text) if text.startswith("[") else text.split(",")
            values = [v for v in values if v and not v.endswith("@")]
            if values and action in ("update", "install", "create"):
                current["update_specs"] = values
            elif values and action in ("remove", "uninstall"):
                current["remove_specs"] = values
    return revisions


def _name(spec: str) -> str:
    spec = spec.split("::")[-1].strip()
    return re.split(r"[\s=<>!~\[]", spec, maxsplit=1)[0]


def requested_names(prefix: Path) -> dict[str, str]:
    """conda/history.py `get_requested_specs_map()` (what `conda env export --from-history` prints):
    {name: spec} from the update/remove specs of every revision with a `# cmd:` line, kept only for
    packages installed in the prefix."""
    spec_map: dict[str, str] = {}
    for revision in history_revisions(prefix):
        if "cmd" not in revision:
            continue
        for spec in revision.get("remove_specs", ()):
            spec_map.pop(_name(spec), None)
        for spec in revision.get("update_specs", ()):
            spec_map[_name(spec)] = spec
    installed = {r["name"] for r in records(prefix).values()}
    return {name: spec for name, spec in spec_map.items() if name in installed}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def altered_files(prefix: Path) -> dict[str, list[str]]:
    """conda doctor's altered-files check: for paths_version 1 records, every path (not .pyc/.pyo) with a
    `sha256_in_prefix` that is a file (symlinks followed) must hash to it."""
    altered: dict[str, list[str]] = {}
    for record in records(prefix).values():
        paths_data = record.get("paths_data") or {}
        if paths_data.get("paths_version") != 1:
            continue
        for entry in paths_data.get("paths", []):
            path, expected = entry.get("_path"), entry.get("sha256_in_prefix")
            if path is None or expected is None or path.endswith((".pyc", ".pyo")):
                continue
            location = prefix / path
            if location.is_file() and _sha256(location) != expected:
                key = f"{record['name']}={record['version']}={record['build']}"
                altered.setdefault(key, []).append(path)
    return altered


def missing_files(prefix: Path) -> dict[str, list[str]]:
    """conda doctor's missing-files check: every name in a record's `files` (not .pyc/.pyo) exists."""
    missing: dict[str, list[str]] = {}
    for stem, record in records(prefix).items():
        for name in record.get("files", []):
            if not name.endswith((".pyc", ".pyo")) and not (prefix / name).exists():
                missing.setdefault(stem, []).append(name)
    return missing
