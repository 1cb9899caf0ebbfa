"""`resolve_pip`: one platform's pip lines resolved with uv, conda's distributions pinned and left out."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from cenv.errors import PipStageError
from cenv.pip import graph
from cenv.pip.diagnose import blame_by_graph
from cenv.pip.inputs import UvInputs, write_inputs
from cenv.pip.lines import PipLine, UvLine, anchor, lock_path
from cenv.pip.models import KnownGraph, PipPackage, PipRequest
from cenv.pip.pylock import Locked, compile_pylock
from cenv.pip.requirements import canonical, requested_names
from cenv.pip.torch import torch_label
from cenv.pip.uv import finish_uv
from cenv.redact import strip_credentials

if TYPE_CHECKING:
    from cenv.lock.models import LockedPackage


def resolve_pip(request: PipRequest, cache_dir: Path | None = None) -> list[PipPackage]:
    """Resolve `request.requirements` for `request.platform` with uv; sorted by name.

    Conda-provided distributions are pinned and left out of the result. `cache_dir` is uv's cache (default:
    uv's own). Raises PipStageError for requirements that cannot be met.
    """
    if not request.requirements:
        return []
    lines = [anchor(line) for line in request.pip_lines()]
    label = torch_label(request)
    pulled: list[str] = []
    with tempfile.TemporaryDirectory(prefix="cenv-pip-") as tmp:
        work = Path(tmp)
        inputs = write_inputs(work, request, label, {}, cache_dir, lines)
        key = graph.graph_key(request, label)
        local = any(line.kind in ("path", "include") for line in lines)  # their content is not in the key
        known = None if local else request.known_graph or graph.cached_graph(key)
        # With a known graph the second pass is probably not needed: do not start it speculatively.
        early: subprocess.Popen[str] | None = graph.start_graph(work, inputs) if known is None else None
        first_pass: tuple[UvInputs, list[Locked]] = (inputs, [])
        try:
            locked = compile_pylock(work, inputs, request, lines)
            family = {canonical(n) for n in request.torch_packages}
            first_pass = (inputs, locked)
            if label is None and family & {p.name for p in locked}:
                # torch pulled in by another pip package: the same PyTorch index rules as a listed one
                pulled = sorted(family & {p.name for p in locked})
                label = torch_label(request, pulled_in=pulled)
                if label is not None:
                    key = graph.graph_key(request, label)
                    locked = []
            if label:
                wrong = {
                    p.name: p.version.split("+", 1)[0] + "+" + label
                    for p in locked
                    if p.name in family and p.version.partition("+")[2] != label
                }
                if wrong or not locked:  # uv prefers +cu121 over +cpu by string order: pin the label we chose
                    if early is not None:  # it resolves without the pin, and its inputs change now
                        finish_uv(early, kill=True)
                        early = None
                    inputs = write_inputs(work, request, label, wrong, cache_dir, lines, pulled)
                    locked = compile_pylock(work, inputs, request, lines)
                    wrong = {
                        p.name: p.version.split("+", 1)[0] + "+" + label
                        for p in locked
                        if p.name in family and p.version.partition("+")[2] != label
                    }
                    if wrong:
                        inputs = write_inputs(work, request, label, wrong, cache_dir, lines, pulled)
                        locked = compile_pylock(work, inputs, request, lines)
        except PipStageError as error:
            if early is not None:
                finish_uv(early, kill=True)
            if not pulled:
                raise
            raise _blamed(error, work, first_pass, pulled, lines) from None
        except BaseException:
            if early is not None:
                finish_uv(early, kill=True)
            raise
        artifacts = frozenset((p.name, p.version, strip_credentials(p.url)) for p in locked)
        if known is not None and artifacts == known.artifacts:
            children = {name: list(deps) for name, deps in known.dependencies.items()}
            requested = requested_names(request.requirements)
        else:
            found = graph.early_graph(work, finish_uv(early), locked, request) if early is not None else None
            if found is None:
                found = graph.compile_graph(work, inputs, locked)
            children = {}
            for child, parents in found.via.items():
                for parent in parents:
                    if parent:
                        children.setdefault(parent, []).append(child)
            requested = {name for name, parents in found.via.items() if "" in parents} - set(pulled)
            dependencies = {p.name: tuple(sorted(set(children.get(p.name, ())))) for p in locked}
            if not local:
                graph.store_graph(key, KnownGraph(artifacts=artifacts, dependencies=dependencies))
    return [
        PipPackage(
            name=p.name,
            version=p.version,
            url=p.url,
            sha256=p.sha256,
            dependencies=tuple(sorted(set(children.get(p.name, ())))),
            requested=p.name in requested,
            source=p.source,
            editable=p.editable,
        )
        for p in sorted(locked, key=lambda p: p.name)
    ]


def _blamed(
    error: PipStageError,
    work: Path,
    first_pass: tuple[UvInputs, list[Locked]],
    pulled: list[str],
    lines: list[UvLine],
) -> PipStageError:
    """The error of a pass on the PyTorch index for torch that another requirement pulled in, naming that
    requirement and its spec line (from the first pass's graph: it resolved from the index uv reached)."""
    from cenv.errors import InternalError

    inputs, locked = first_pass
    try:
        via = graph.compile_graph(work, inputs, locked).via
    except InternalError:
        return error
    where = blame_by_graph(pulled[0], via, lines)
    if not where:
        return error
    generic = "pulled in by the pip requirements"
    message = (
        error.message.replace(generic, where) if generic in error.message else f"{error.message} ({where})"
    )
    return PipStageError(message, hints=error.hints, details=error.details)


def to_locked(packages: Iterable[PipPackage], platform: str) -> list[LockedPackage]:
    """conda-lock v1 entries (`manager: pip`, sha256 hash, category main) for `platform`."""
    from cenv.lock.models import LockedPackage, PackageHash

    return [
        LockedPackage(
            name=p.name,
            version=p.version,
            manager="pip",
            platform=platform,
            dependencies=dict.fromkeys(p.dependencies, ""),
            url=strip_credentials(p.url),
            hash=PackageHash(sha256=p.sha256 or None),
            category="main",
        )
        for p in packages
    ]


def editable_names(lines: Iterable[PipLine], packages: Iterable[LockedPackage], lock_dir: Path) -> list[str]:
    """The locked pip packages that `-e` lines ask for (a `-e` path is locked by its path, a `-e git+` by
    the name in its `#egg=`): what the lock records under `cenv.pip-editable.<platform>`."""
    paths, names = set(), set()
    for line in lines:
        uv = anchor(line)
        if not uv.editable:
            continue
        if uv.path is not None:
            paths.add(lock_path(uv.path, lock_dir))
        elif uv.name is not None:
            names.add(uv.name)
    return sorted(p.name for p in packages if p.manager == "pip" and (p.name in names or p.url in paths))
