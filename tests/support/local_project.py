"""Local Python projects for the pip stage's path, editable, git and sdist forms.

Each project carries its own tiny PEP 517 backend in the tree (`backend-path = ["."]`, no build
requirements), so uv builds and installs it with no index at all: real builds, no network. The backend
writes real wheels (dist-info with METADATA, WHEEL and a hashed RECORD), PEP 660 editable wheels (a `.pth`
pointing at the source tree) and sdists.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path

_BACKEND = r'''
"""A minimal in-tree PEP 517/660 build backend for cenv's tests."""
import base64, hashlib, io, json, os, tarfile, zipfile

def _meta():
    with open("project.json") as handle:
        return json.load(handle)

def _dist(name):
    return name.replace("-", "_").replace(".", "_")

def _metadata(meta):
    lines = ["Metadata-Version: 2.1", f"Name: {meta['name']}", f"Version: {meta['version']}"]
    lines += [f"Requires-Dist: {req}" for req in meta.get("dependencies", [])]
    return "\n".join(lines) + "\n"

def _wheel(directory, files):
    meta = _meta()
    dist = _dist(meta["name"])
    info = f"{dist}-{meta['version']}.dist-info"
    files = dict(files)
    files[f"{info}/METADATA"] = _metadata(meta)
    files[f"{info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: cenv-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = []
    for path, text in files.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = "\n".join(record) + "\n"
    name = f"{dist}-{meta['version']}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(directory, name), "w") as wheel:
        for path, text in files.items():
            wheel.writestr(path, text)
    return name

def _sources():
    meta = _meta()
    package = meta.get("package", _dist(meta["name"]))
    files = {}
    for root, _, names in os.walk(package):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                with open(path) as handle:
                    files[path.replace(os.sep, "/")] = handle.read()
    return files

def get_requires_for_build_wheel(config_settings=None):
    return []

get_requires_for_build_editable = get_requires_for_build_sdist = get_requires_for_build_wheel

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    if _meta().get("fail"):
        raise SystemExit("cenv-test-backend: " + _meta()["fail"])
    return _wheel(wheel_directory, _sources())

def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    meta = _meta()
    return _wheel(wheel_directory, {f"_{_dist(meta['name'])}_editable.pth": os.getcwd() + "\n"})

def build_sdist(sdist_directory, config_settings=None):
    meta = _meta()
    base = f"{_dist(meta['name'])}-{meta['version']}"
    name = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as archive:
        for root, _, names in os.walk("."):
            for item in names:
                path = os.path.normpath(os.path.join(root, item))
                if not path.startswith((".git", "dist")):
                    archive.add(path, arcname=f"{base}/{path}")
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        data = _metadata(meta).encode()
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return name
'''


def make_project(
    root: Path,
    name: str,
    version: str = "0.1",
    dependencies: Sequence[str] = (),
    *,
    fail: str | None = None,
    body: str = "",
) -> Path:
    """A buildable project in `root`: package `<name with _>` whose `__init__` defines `VERSION`."""
    package = name.replace("-", "_")
    (root / package).mkdir(parents=True, exist_ok=True)
    (root / package / "__init__.py").write_text(f"VERSION = {version!r}\n{body}")
    # a failing project declares its dependencies dynamic: uv must build it to learn them (at lock time)
    requires = 'dynamic = ["dependencies"]' if fail else f"dependencies = {json.dumps(list(dependencies))}"
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "cenv_test_backend"\nbackend-path = ["."]\n\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\n{requires}\n'
    )
    meta: dict[str, object] = {"name": name, "version": version, "dependencies": list(dependencies)}
    if fail:
        meta["fail"] = fail
    (root / "project.json").write_text(json.dumps(meta))
    (root / "cenv_test_backend.py").write_text(_BACKEND)
    return root


def build_sdist(project: Path, out: Path) -> Path:
    """The project's sdist, built by uv into `out`."""
    from uv import find_uv_bin

    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [find_uv_bin(), "build", "--sdist", "--no-config", "--offline", "-o", str(out), str(project)],
        check=True,
        capture_output=True,
    )
    [sdist] = out.glob("*.tar.gz")
    return sdist


def git(repo: Path, *args: str) -> str:
    env_args = ["-c", "user.email=dev@example.com", "-c", "user.name=dev", "-c", "init.defaultBranch=main"]
    result = subprocess.run(["git", *env_args, *args], cwd=repo, check=True, capture_output=True, text=True)
    return result.stdout.strip()


def serve_dumb_http(repo: Path, served: Path) -> Path:
    """A bare clone of `repo` under `served`, ready for git's dumb HTTP protocol (any static file server)."""
    target = served / f"{repo.name}.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(target)], check=True, capture_output=True)
    git(target, "update-server-info")
    return target


def make_git_repo(root: Path, name: str) -> Path:
    """A git repository of project `name`: tag v0.1 (version 0.1) and branch `feature` (version 0.2), with
    `main` at 0.1."""
    make_project(root, name, "0.1")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "0.1")
    git(root, "tag", "v0.1")
    git(root, "checkout", "-qb", "feature")
    make_project(root, name, "0.2")
    git(root, "commit", "-qam", "0.2")
    git(root, "checkout", "-q", "main")
    return root
