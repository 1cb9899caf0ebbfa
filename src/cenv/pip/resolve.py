"""`resolve_pip`: one platform's pip lines resolved with uv, conda's distributions pinned and left out."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from cenv.pip import graph
from cenv.pip.inputs import write_inputs
from cenv.pip.models import KnownGraph, PipPackage, PipRequest
from cenv.pip.pylock import compile_pylock
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
    label = torch_label(request)
    with tempfile.TemporaryDirectory(prefix="cenv-pip-") as tmp:
        work = Path(tmp)
        inputs = write_inputs(work, request, label, {}, cache_dir)
        key = graph.graph_key(request, label)
        known = request.known_graph or graph.cached_graph(key)
        # With a known graph the second pass is probably not needed: do not start it speculatively.
        early: subprocess.Popen[str] | None = graph.start_graph(work, inputs) if known is None else None
        try:
            locked = compile_pylock(work, inputs, request)
            if label:
                family = {canonical(n) for n in request.torch_packages}
                wrong = {
                    p.name: p.version.split("+", 1)[0] + "+" + label
                    for p in locked
                    if p.name in family and p.version.partition("+")[2] != label
                }
                if wrong:  # uv prefers +cu121 over +cpu by string order: pin the label we chose
                    if early is not None:  # it resolves without the pin, and its inputs change now
                        finish_uv(early, kill=True)
                        early = None
                    inputs = write_inputs(work, request, label, wrong, cache_dir)
                    locked = compile_pylock(work, inputs, request)
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
            requested = {name for name, parents in found.via.items() if "" in parents}
            dependencies = {p.name: tuple(sorted(set(children.get(p.name, ())))) for p in locked}
            graph.store_graph(key, KnownGraph(artifacts=artifacts, dependencies=dependencies))
    return [
        PipPackage(
            name=p.name,
            version=p.version,
            url=p.url,
            sha256=p.sha256,
            dependencies=tuple(sorted(set(children.get(p.name, ())))),
            requested=p.name in requested,
        )
        for p in sorted(locked, key=lambda p: p.name)
    ]


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
            hash=PackageHash(sha256=p.sha256),
            category="main",
        )
        for p in packages
    ]
