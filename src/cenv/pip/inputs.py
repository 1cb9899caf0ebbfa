"""The files and arguments of one `uv pip compile`: requirements, conda pins (and their stub wheels), the
PyTorch index binding, indexes and the target."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path

from cenv.pip.lines import UvLine, anchor
from cenv.pip.models import PipRequest
from cenv.pip.requirements import canonical, requirement_name
from cenv.pip.target import python_platform, uv_python_version
from cenv.pip.torch import DEFAULT_PYTORCH_INDEX, torch_requirements
from cenv.pip.uv import uv_env

PROJECT = "cenv-pip-stage"


def as_url(location: str) -> str:
    """find-links entries: URLs as given, local paths as file:// URLs (comma-joined into UV_FIND_LINKS)."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", location):
        return location
    return Path(location).expanduser().resolve().as_uri()


@dataclass(frozen=True)
class UvInputs:
    """Files and arguments for one `uv pip compile`."""

    args: tuple[str, ...]
    env: Mapping[str, str]
    cwd: str | None = None  # the spec's folder: what a `-r` file's own relative paths are read against


def write_inputs(
    work: Path,
    request: PipRequest,
    label: str | None,
    pins: Mapping[str, str],
    cache_dir: Path | None,
    lines: Sequence[UvLine] = (),
    pulled_in: Sequence[str] = (),
) -> UvInputs:
    """`pulled_in`: torch packages another requirement pulls in, bound to the PyTorch index like listed
    ones."""
    torch_lines = set(torch_requirements(request)) if label else set()
    lines = lines or [anchor(line) for line in request.pip_lines()]
    (work / "requirements.in").write_text(
        "".join(line.uv + "\n" for line in lines if line.line.text not in torch_lines), encoding="utf-8"
    )
    sources: list[str] = []
    if label:
        root = (request.pytorch_index or DEFAULT_PYTORCH_INDEX).rstrip("/")
        family = [canonical(n) for n in request.torch_packages]
        deps = sorted(torch_lines)
        deps += [name for name in pulled_in if name not in {requirement_name(line) for line in deps}]
        if not any(requirement_name(line) == family[0] for line in deps):
            deps.append(family[0])  # torchvision/torchaudio depend on torch: bind it to the same index
        names = sorted({n for n in (requirement_name(line) for line in deps) if n})
        pyproject = (
            f'[project]\nname = "{PROJECT}"\nversion = "0"\n'
            f"dependencies = [{', '.join(_toml(d) for d in deps)}]\n\n"
            "[tool.uv.sources]\n"
            + "".join(f'{name} = {{ index = "pytorch" }}\n' for name in names)
            + f'\n[[tool.uv.index]]\nname = "pytorch"\nurl = {_toml(f"{root}/{label}")}\nexplicit = true\n'
        )
        (work / "torch").mkdir(exist_ok=True)
        (work / "torch" / "pyproject.toml").write_text(pyproject, encoding="utf-8")
        sources.append(str(work / "torch" / "pyproject.toml"))
    constraints = dict(request.conda_provided)
    constraints.update(pins)
    stubs = _conda_stubs(work / "conda-provided", request.conda_provided) if request.conda_provided else None
    (work / "constraints.txt").write_text(
        "".join(f"{name}=={version}\n" for name, version in sorted(constraints.items())), encoding="utf-8"
    )
    target, platform_env = python_platform(request.platform, request.virtual_packages)
    args = [
        "pip", "compile", str(work / "requirements.in"), *sources,
        "--no-config", "--no-python-downloads", "--quiet", "--color", "never", "--no-header",
        "--python", sys.executable, "--python-version", uv_python_version(request.python_version),
        "--python-platform", target,
        "-c", str(work / "constraints.txt"),
    ]  # fmt: skip
    # uv needs no interpreter of the target version (--python-version and --python-platform set the marker
    # environment), but without one named it looks for an X.Y.Z match: --no-python-downloads, or it fetches
    # a managed interpreter (seconds, or a timeout offline); `--python` this one, or it queries every
    # interpreter it can find first (~0.35 s per pass here).
    if cache_dir is not None:
        args += ["--cache-dir", str(cache_dir)]
    if request.exclude_newer is not None:
        stamp = request.exclude_newer
        stamp = stamp.replace(tzinfo=timezone.utc) if stamp.tzinfo is None else stamp.astimezone(timezone.utc)
        args += ["--exclude-newer", stamp.strftime("%Y-%m-%dT%H:%M:%SZ")]
    if request.offline:
        args.append("--offline")
    env = dict(platform_env)
    # Index URLs travel in the environment, never on the command line (process lists, uv's own header).
    if request.index_url:
        env["UV_DEFAULT_INDEX"] = request.index_url
    if request.extra_index_urls:
        env["UV_INDEX"] = " ".join(request.extra_index_urls)
    find_links = [*([stubs.as_uri()] if stubs else []), *(as_url(f) for f in request.find_links)]
    if find_links:
        env["UV_FIND_LINKS"] = ",".join(find_links)  # comma-separated, per uv
    bases = [line.line.base for line in lines if line.line.base]
    return UvInputs(args=tuple(args), env=uv_env(env), cwd=bases[0] if bases else None)


def _conda_stubs(fallback: Path, provided: Mapping[str, str]) -> Path:
    """Metadata-only wheels for what conda provides, so uv can pin them even where no index has that
    exact version (conda-only packages, conda-forge rebuilds). `--no-emit-package` keeps them out of
    the result; they are never installed.

    They live in cenv's cache, one folder per set of pins (named by its hash), written once: uv caches
    what it read from a find-links wheel by path and modification time, so wheels written afresh for
    every resolution cost uv as much again as the resolution itself. `fallback` (a temporary folder) when
    the cache cannot be written.
    """
    from cenv.env_vars import cache_root

    key = hashlib.sha256(
        "".join(f"{name}=={version}\n" for name, version in sorted(provided.items())).encode()
    ).hexdigest()[:24]
    try:
        base = cache_root() / "pip" / "conda-stubs"
        folder = base / key
        if folder.is_dir():
            return folder
        base.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".new-", dir=base))
        try:
            _write_stubs(staging, provided)
            os.replace(staging, folder)  # atomic; fails when a concurrent lock got there first
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
        if folder.is_dir():
            return folder
    except OSError:
        pass
    return _write_stubs(fallback, provided)


def _write_stubs(folder: Path, provided: Mapping[str, str]) -> Path:
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    for name, version in provided.items():
        dist = re.sub(r"[-_.]+", "_", name)
        info = f"{dist}-{version}.dist-info"
        members = {
            f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n",
            f"{info}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n\n",
            f"{info}/RECORD": "",
        }
        with zipfile.ZipFile(folder / f"{dist}-{version}-py3-none-any.whl", "w") as wheel:
            for member, text in members.items():
                wheel.writestr(member, text)
    return folder


def _toml(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
