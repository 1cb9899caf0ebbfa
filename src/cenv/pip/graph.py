"""The dependency graph: pylock.toml carries none, so a second `uv pip compile` writes a requirements.txt
with `# via` annotations. That pass runs offline beside the pylock pass; only when it cannot (a cold uv
cache) or it resolved differently is it repeated afterwards, pinned to the pylock result. The last graph
per request is kept in cenv's cache (`KnownGraph`): a re-lock that pins the same artifacts runs uv once."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cenv.cache_files import store_text
from cenv.errors import InternalError
from cenv.pip.inputs import PROJECT, UvInputs
from cenv.pip.models import KnownGraph, PipRequest
from cenv.pip.pylock import Locked
from cenv.pip.requirements import canonical
from cenv.pip.uv import run_uv, start_uv
from cenv.redact import redact

_REQ_LINE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*(?P<op>==|@)\s*(?P<rest>\S*)")
_MAX_GRAPHS = 512


@dataclass(frozen=True)
class Graph:
    """A requirements.txt with `# via` annotations, read: what was pinned, and who required what."""

    versions: Mapping[str, str | None]  # name -> pinned version (None for a direct URL)
    via: Mapping[str, tuple[str, ...]]  # name -> the packages it was required by (inputs appear as `""`)


def _graph_args(inputs: UvInputs, out: Path, pins: Path | None = None) -> list[str]:
    args = [*inputs.args, "--annotation-style", "split", "-o", str(out)]
    if pins is not None:
        args += ["-c", str(pins)]
    return args if "--offline" in args else [*args, "--offline"]


def start_graph(work: Path, inputs: UvInputs) -> subprocess.Popen[str]:
    """The graph pass, unpinned and offline, started next to the pylock pass (same inputs)."""
    out = work / "graph-early.txt"
    out.unlink(missing_ok=True)
    return start_uv(_graph_args(inputs, out), inputs.env, "pip compile (dependency graph)", inputs.cwd)


def early_graph(
    work: Path, result: subprocess.CompletedProcess[str], locked: Sequence[Locked], request: PipRequest
) -> Graph | None:
    """The concurrent pass's graph when it ran and resolved exactly what the pylock pass locked."""
    if result.returncode != 0:
        return None  # typically a cold uv cache: offline, it could not see the index
    try:
        graph = read_graph((work / "graph-early.txt").read_text(encoding="utf-8"), _paths(locked))
    except OSError:
        return None
    conda = {canonical(name) for name in request.conda_provided}
    resolved = {name: version for name, version in graph.versions.items() if name not in conda}
    wanted = {p.name: p.version for p in locked}
    if resolved.keys() != wanted.keys():
        return None
    if any(version is not None and version != wanted[name] for name, version in resolved.items()):
        return None
    return graph


def compile_graph(work: Path, inputs: UvInputs, locked: Sequence[Locked]) -> Graph:
    """The graph pass after the fact, pinned to the pylock result."""
    out = work / "graph.txt"
    pins = work / "pins.txt"
    pinned = [p for p in locked if p.source in ("index", "url")]  # git and paths are pinned by their line
    pins.write_text("".join(f"{p.name}=={p.version}\n" for p in pinned), encoding="utf-8")
    args = _graph_args(inputs, out, pins)
    # Every page and metadata file this pass needs is in uv's cache from the first pass: try offline first.
    offline = "--offline" in inputs.args
    what = "pip compile (dependency graph)"
    result = run_uv(args, inputs.env, what, inputs.cwd)
    if result.returncode != 0 and not offline:
        result = run_uv([a for a in args if a != "--offline"], inputs.env, what, inputs.cwd)
    if result.returncode != 0:
        raise InternalError(
            "uv could not repeat its own resolution to read the dependency graph",
            hints=[redact(line.strip()) for line in result.stderr.splitlines() if line.strip()][:6],
        )
    return read_graph(out.read_text(encoding="utf-8"), _paths(locked))


def _paths(locked: Sequence[Locked]) -> dict[str, str]:
    """Local directories and files by absolute path: uv's requirements output names them by path only."""
    return {os.path.normpath(p.path): p.name for p in locked if p.path}


def read_graph(text: str, paths: Mapping[str, str] | None = None) -> Graph:
    versions: dict[str, str | None] = {}
    via: dict[str, list[str]] = {}
    current: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or raw.startswith((" ", "#")):
            pass
        elif line.startswith("-e ") or not _REQ_LINE.match(line):  # `-e PATH`, a bare PATH or URL
            target = line.removeprefix("-e ").strip()
            if target.startswith("file://"):
                from cenv.pip.lines import url_path

                target = url_path(target)
            current = (paths or {}).get(os.path.normpath(target)) if not target.startswith("-") else None
            if current is not None:
                versions[current] = None
                via.setdefault(current, [])
            continue
        match = _REQ_LINE.match(line)
        if match and not raw.startswith((" ", "#")):
            current = canonical(match.group("name"))
            versions[current] = match.group("rest") if match.group("op") == "==" else None
            via.setdefault(current, [])
            continue
        if current is None or not line.startswith("#"):
            continue
        text = line.lstrip("#").strip()
        if text.startswith("via"):
            text = text[3:].strip()
        if not text:
            continue
        for part in text.split(","):
            part = part.strip()
            if part.startswith("-c "):
                continue
            if part.startswith("-r ") or part.startswith(PROJECT):
                via[current].append("")
            elif part:
                via[current].append(canonical(part.split()[0]))
    return Graph(versions, {name: tuple(dict.fromkeys(parents)) for name, parents in via.items()})


def graph_key(request: PipRequest, label: str | None) -> str:
    """What the dependency graph of a resolution may depend on, besides the artifacts uv picks."""
    data = {
        "format": 1,
        "platform": request.platform,
        "python": request.python_version,
        "requirements": list(request.requirements),
        "conda": sorted(request.conda_provided.items()),
        "virtual": sorted(str(p) for p in request.virtual_packages.packages),
        "indexes": [request.index_url, list(request.extra_index_urls), list(request.find_links)],
        "torch": [request.pytorch_index, list(request.torch_packages), label],
        "exclude_newer": request.exclude_newer.isoformat() if request.exclude_newer else None,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()  # credentials: hashed only


def _graph_folder() -> Path:
    from cenv.env_vars import cache_root

    return cache_root() / "pip" / "graphs"


def cached_graph(key: str) -> KnownGraph | None:
    try:
        data = json.loads((_graph_folder() / f"{key}.json").read_bytes())
        return KnownGraph(
            artifacts=frozenset((str(n), str(v), str(u)) for n, v, u in data["artifacts"]),
            dependencies={str(k): tuple(map(str, v)) for k, v in data["dependencies"].items()},
        )
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def store_graph(key: str, graph: KnownGraph) -> None:
    """Keep the last graph of this request (atomically; an unwritable cache is skipped)."""
    data = {"artifacts": sorted(graph.artifacts), "dependencies": dict(graph.dependencies)}
    store_text(_graph_folder(), f"{key}.json", json.dumps(data, sort_keys=True), _MAX_GRAPHS)
