"""The resolution pass: `uv pip compile --format pylock.toml`, read with tomllib (stdout is never read)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomllib

from cenv.errors import InternalError, PipStageError
from cenv.pip.diagnose import resolve_error
from cenv.pip.inputs import UvInputs
from cenv.pip.models import PipRequest
from cenv.pip.requirements import canonical
from cenv.pip.uv import run_uv
from cenv.redact import redact, strip_credentials


@dataclass(frozen=True)
class Locked:
    name: str
    version: str
    url: str
    sha256: str


def compile_pylock(work: Path, inputs: UvInputs, request: PipRequest) -> list[Locked]:
    out = work / "pylock.toml"
    out.unlink(missing_ok=True)
    args = [*inputs.args, "--generate-hashes", "--format", "pylock.toml", "-o", str(out)]
    for name in sorted(request.conda_provided):
        args += ["--no-emit-package", name]
    result = run_uv(args, inputs.env, "pip compile")
    if result.returncode != 0:
        raise resolve_error(result.stderr, request)
    try:
        data = tomllib.loads(out.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InternalError(f"uv wrote no readable pylock.toml: {exc}") from exc
    return [_locked_from_pylock(entry) for entry in data.get("packages", [])]


def _wheel_rank(url: str) -> tuple[int, int]:
    """Prefer platform-specific wheels, then CPython-specific ABIs (uv lists every compatible wheel)."""
    stem = url.rsplit("/", 1)[-1].removesuffix(".whl")
    parts = stem.split("-")
    python_tag, abi, plat = (parts[-3], parts[-2], parts[-1]) if len(parts) >= 5 else ("", "", "any")
    abi_rank = 2 if abi.startswith("cp") else 1 if abi == "abi3" else 0
    return (0 if plat == "any" else 1, abi_rank if python_tag else 0)


def _locked_from_pylock(entry: Mapping[str, Any]) -> Locked:
    name, version = str(entry["name"]), str(entry.get("version", ""))
    wheels = [w for w in entry.get("wheels", []) if isinstance(w, dict)]
    artifact: Mapping[str, Any] | None
    if wheels:
        artifact = max(
            wheels, key=lambda w: _wheel_rank(str(w.get("url", "")))
        )  # max keeps the first of ties
    else:
        artifact = entry.get("sdist") or entry.get("archive")
    if not artifact or "url" not in artifact:
        raise PipStageError(
            f"pip package `{name}` resolved to a source uv cannot lock by URL",
            hints=[
                "cenv locks wheels, sdists and archive URLs; VCS and directory requirements are not supported"
            ],
        )
    sha256 = str((artifact.get("hashes") or {}).get("sha256", ""))
    if not sha256:
        raise PipStageError(f"pip package `{name}`: uv reported no sha256 for {redact(str(artifact['url']))}")
    return Locked(
        name=canonical(name), version=version, url=strip_credentials(str(artifact["url"])), sha256=sha256
    )
