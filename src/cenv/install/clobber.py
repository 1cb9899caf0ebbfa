"""Two packages that ship the same path, resolved as conda resolves them.

conda links packages in its link order (`PrefixGraph`, conda/models/prefix_graph.py) and each
`LinkPathAction` writes its file, so the package linked *later* keeps the path; `_verify_prefix_level`
(conda/core/link.py) reports the shared path as a `SharedLinkPathClobberError`, which `maybe_raise`
(conda/exceptions.py) turns into a warning under `path_conflict: clobber` or `warn` and into an error under
`prevent`. Every package's record lists all of its own paths, the shared one included.

`rattler.install` resolves it its own way: the first package in its order keeps the path and the others'
copies go to `__clobbers__/<name>/<path>` in the prefix, their records pointing there. This module, run
right after rattler links, puts the later-linked package's copy in place, points every record back at the
path itself and removes `__clobbers__/`, a folder no conda tool knows.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cenv.errors import InstallError

CLOBBERS = "__clobbers__"


@dataclass(frozen=True)
class Clobber:
    path: str  # relative to the prefix, `/`-separated
    winner: str  # the package whose file is in place (linked last)
    others: tuple[str, ...]  # the packages whose copies were replaced, in link order

    def warning(self) -> str:
        others = ", ".join(f"`{o}`" for o in self.others)
        return f"`{self.path}` is shipped by {others} and `{self.winner}`: `{self.winner}`'s copy is kept"


def _records(prefix: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    found = {}
    for path in sorted((prefix / "conda-meta").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        found[str(data["name"])] = (path, data)
    return found


def _copies(root: Path) -> dict[str, list[str]]:
    """path -> the packages with a copy of it under `__clobbers__/<name>/`."""
    copies: dict[str, list[str]] = {}
    for package in sorted(p.name for p in root.iterdir() if p.is_dir()):
        base = root / package
        for folder, _dirs, files in os.walk(base):
            for name in files:
                relative = (Path(folder) / name).relative_to(base).as_posix()
                copies.setdefault(relative, []).append(package)
    return copies


def _holder(records: Mapping[str, tuple[Path, dict[str, Any]]], path: str) -> str | None:
    return next((name for name, (_, data) in records.items() if path in (data.get("files") or ())), None)


def _repoint(data: dict[str, Any], name: str, path: str) -> None:
    """The record lists `path` itself again, not its `__clobbers__` copy."""
    moved = f"{CLOBBERS}/{name}/{path}"
    data["files"] = [path if f == moved else f for f in data.get("files") or ()]
    for entry in (data.get("paths_data") or {}).get("paths") or ():
        if entry.get("_path") == moved:
            entry["_path"] = path
            entry.pop("original_path", None)


def resolve_clobbers(prefix: Path, link_order: Sequence[str], policy: str) -> list[Clobber]:
    """Make the shared paths in `prefix` as conda leaves them; `link_order` is conda's link order of
    the package names. `policy` is conda's `path_conflict`; `prevent` refuses with InstallError."""
    root = prefix / CLOBBERS
    if not root.is_dir():
        return []
    rank = {name: i for i, name in enumerate(link_order)}
    records = _records(prefix)
    changed: set[str] = set()
    found: list[Clobber] = []
    for path, copies in sorted(_copies(root).items()):
        holder = _holder(records, path)
        sharing = sorted({*copies, *([holder] if holder else [])}, key=lambda n: (rank.get(n, len(rank)), n))
        winner = sharing[-1]
        clobber = Clobber(path, winner, tuple(sharing[:-1]))
        if policy == "prevent":
            raise InstallError(
                f"packages {', '.join(f'`{n}`' for n in sharing)} all ship `{path}`",
                hints=[
                    "`path_conflict: prevent` is set (.condarc, CONDA_PATH_CONFLICT): nothing was installed",
                    "set `path_conflict: clobber` to keep the copy of the package linked last, as conda does",
                ],
            )
        if winner != holder:
            os.replace(root / winner / path, prefix / path)
        for name in copies:
            if name in records:
                _repoint(records[name][1], name, path)
                changed.add(name)
        found.append(clobber)
    for name in sorted(changed):
        record_path, data = records[name]
        record_path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    shutil.rmtree(root)
    return found
