"""The resolution pass: `uv pip compile --format pylock.toml`, read with tomllib (stdout is never read)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cenv.errors import InternalError, PipStageError
from cenv.pip.diagnose import resolve_error
from cenv.pip.inputs import UvInputs
from cenv.pip.lines import UvLine, lock_path
from cenv.pip.models import PipRequest, Source
from cenv.pip.requirements import canonical
from cenv.pip.uv import run_uv
from cenv.redact import redact, strip_credentials
from cenv.toml_compat import toml as tomllib


@dataclass(frozen=True)
class Locked:
    name: str
    version: str
    url: str
    sha256: str
    source: Source = "index"
    editable: bool = False
    path: str | None = None  # the absolute path of a local directory or file


def compile_pylock(
    work: Path, inputs: UvInputs, request: PipRequest, lines: Sequence[UvLine] = ()
) -> list[Locked]:
    out = work / "pylock.toml"
    out.unlink(missing_ok=True)
    args = [*inputs.args, "--generate-hashes", "--format", "pylock.toml", "-o", str(out)]
    for name in sorted(request.conda_provided):
        args += ["--no-emit-package", name]
    result = run_uv(args, inputs.env, "pip compile", cwd=inputs.cwd)
    if result.returncode != 0:
        raise resolve_error(result.stderr, request, lines)
    try:
        data = tomllib.loads(out.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InternalError(f"uv wrote no readable pylock.toml: {exc}") from exc
    editable_git = {line.name for line in lines if line.editable and line.kind == "git"}
    return [
        _locked_from_pylock(entry, work, request.lock_dir, editable_git) for entry in data.get("packages", [])
    ]


def _wheel_rank(url: str) -> tuple[int, int]:
    """Prefer platform-specific wheels, then CPython-specific ABIs (uv lists every compatible wheel)."""
    stem = url.rsplit("/", 1)[-1].removesuffix(".whl")
    parts = stem.split("-")
    python_tag, abi, plat = (parts[-3], parts[-2], parts[-1]) if len(parts) >= 5 else ("", "", "any")
    abi_rank = 2 if abi.startswith("cp") else 1 if abi == "abi3" else 0
    return (0 if plat == "any" else 1, abi_rank if python_tag else 0)


def _locked_from_pylock(
    entry: Mapping[str, Any], work: Path, lock_dir: Path | None, editable_git: set[str | None]
) -> Locked:
    name, version = canonical(str(entry["name"])), str(entry.get("version", ""))
    vcs = entry.get("vcs")
    if isinstance(vcs, dict):
        if vcs.get("type") != "git" or not vcs.get("commit-id"):
            raise PipStageError(
                f"pip package `{name}` comes from a {vcs.get('type')} repository",
                hints=["cenv locks git repositories (`git+https://`, `git+ssh://`, `git+file://`)"],
            )
        where = str(vcs.get("url") or vcs.get("path") or "")
        url = f"git+{strip_credentials(where)}@{vcs['commit-id']}"
        subdirectory = vcs.get("subdirectory")
        if subdirectory:
            url += f"#subdirectory={subdirectory}"
        return Locked(name, version or "0", url, "", "git", name in editable_git)
    directory = entry.get("directory")
    if isinstance(directory, dict):
        path = os.path.normpath(work / str(directory["path"]))
        return Locked(
            name,
            version or _static_version(Path(path)),
            lock_path(path, lock_dir),
            "",
            "path",
            bool(directory.get("editable")),
            path,
        )
    wheels = [w for w in entry.get("wheels", []) if isinstance(w, dict)]
    artifact: Mapping[str, Any] | None
    if wheels:
        artifact = max(
            wheels, key=lambda w: _wheel_rank(str(w.get("url") or w.get("path") or ""))
        )  # max keeps the first of ties
    else:
        artifact = entry.get("sdist") or entry.get("archive")
    if not artifact or not ("url" in artifact or "path" in artifact):
        raise PipStageError(f"pip package `{name}` resolved to a source cenv cannot lock")
    sha256 = str((artifact.get("hashes") or {}).get("sha256", ""))
    shown = str(artifact.get("url") or artifact.get("path"))
    if not sha256:
        raise PipStageError(f"pip package `{name}`: uv reported no sha256 for {redact(shown)}")
    if "url" not in artifact:  # a local wheel or sdist file
        path = os.path.normpath(work / str(artifact["path"]))
        return Locked(name, version, lock_path(path, lock_dir), sha256, "path", False, path)
    url = strip_credentials(str(artifact["url"]))
    return Locked(name, version, url, sha256, "index" if version else "url")


def _static_version(project: Path) -> str:
    """A local project's version as its pyproject.toml states it ("0" when it is dynamic)."""
    try:
        data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
        return str(data["project"]["version"])
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError):
        return "0"
