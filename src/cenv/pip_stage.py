"""The PyPI stage: resolve a spec's `pip:` lines with uv for a target platform, and install locked wheels.

The only module that runs uv. Resolution never needs the target's interpreter:
`uv pip compile --python-version X.Y.Z --python-platform TAG --format pylock.toml`, and the pylock file is
parsed with tomllib (stdout is never read). What conda provides stays conda's: exact pins through `-c` plus
`--no-emit-package` for each. PyTorch packages come from `<pytorch index>/<label>` (an explicit index
bound to them through a generated pyproject.toml's `tool.uv.sources`), with the local label pinned.

pylock.toml carries no dependency graph, so a second `uv pip compile` writes a requirements.txt with
`# via` annotations; its graph fills in `PipPackage.dependencies` and `requested`. That pass runs offline
at the same time as the pylock pass (same inputs, so the same resolution); only when it cannot (a cold uv
cache) or it resolved differently (the index changed in between, a pinned PyTorch label) is it repeated
afterwards, pinned to the pylock result. The graph is then kept in cenv's cache per request (`KnownGraph`):
a re-lock that pins the same artifacts runs uv once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomllib

from cenv.errors import InternalError, PipStageError
from cenv.redact import redact, strip_credentials
from cenv.virtual_packages import VirtualPackages

if TYPE_CHECKING:
    from cenv.lock.models import LockedPackage, Lockfile

__all__ = [
    "CUDA_LABELS",
    "DEFAULT_PYTORCH_INDEX",
    "PipPackage",
    "PipRequest",
    "install_pip",
    "python_platform",
    "render_requirements",
    "resolve_pip",
    "to_locked",
    "torch_label",
]

DEFAULT_PYTORCH_INDEX = "https://download.pytorch.org/whl"
#: CUDA labels of the PyTorch index, highest first; probed in this order.
CUDA_LABELS: tuple[str, ...] = ("cu130", "cu129", "cu128", "cu126", "cu124", "cu121", "cu118")
#: manylinux minors uv 0.13 accepts as `--python-platform <arch>-manylinux_2_<minor>`.
_MANYLINUX_MINORS = (17, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40)
_UV_ENV_KEPT = (
    "UV_CACHE_DIR",
    "UV_NATIVE_TLS",
    "UV_SYSTEM_CERTS",
    "UV_HTTP_TIMEOUT",
    "UV_CONCURRENT_DOWNLOADS",
)
_PROJECT = "cenv-pip-stage"
_LABEL = re.compile(r"^(?:cpu|cu\d+|rocm[\d.]+|xpu)$")


@dataclass(frozen=True)
class PipRequest:
    """Everything the PyPI stage needs for one platform; no I/O happens until :func:`resolve_pip`."""

    platform: str  # conda subdir: linux-64, linux-aarch64, osx-64, osx-arm64, win-64, win-arm64
    python_version: str  # the python the conda solve chose, e.g. "3.11.7"
    requirements: tuple[str, ...]  # the spec's pip lines for this platform, as written
    conda_provided: Mapping[str, str]  # PyPI name -> version of every python distribution conda provides
    virtual_packages: VirtualPackages
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    pytorch_index: str | None = None  # None: DEFAULT_PYTORCH_INDEX; `<root>/<label>` is a PEP 503 index
    torch_packages: tuple[str, ...] = ("torch", "torchvision", "torchaudio")  # () turns flavours off
    exclude_newer: datetime | None = None
    offline: bool = False
    known_graph: KnownGraph | None = None  # None: the one cenv's cache holds for this request, if any


@dataclass(frozen=True)
class KnownGraph:
    """The dependency graph an earlier resolution of the same request found, and the artifacts it is for.

    When uv pins exactly these artifacts again (same names, versions and files) for the same request (pip
    lines, python, platform, conda pins, indexes), their metadata and so the graph are the same: it is
    reused instead of uv's second (`# via`) pass, which was most of the pip stage's cost in a warm re-lock.
    Any difference and the second pass runs as usual. cenv keeps the last one per request in its cache.
    """

    artifacts: frozenset[tuple[str, str, str]]  # (normalised name, version, URL without credentials)
    dependencies: Mapping[str, tuple[str, ...]]  # name -> the names it requires (conda-provided included)


@dataclass(frozen=True)
class PipPackage:
    """One resolved distribution: the exact artifact (credentials stripped from its URL)."""

    name: str  # normalised
    version: str
    url: str
    sha256: str
    dependencies: tuple[str, ...] = ()  # normalised names, conda-provided ones included
    requested: bool = False  # named by the spec's pip lines (or added as torch for torchvision/torchaudio)


# ---------------------------------------------------------------------------------------------- platform


def python_platform(
    platform: str, virtual_packages: VirtualPackages | None = None
) -> tuple[str, dict[str, str]]:
    """uv's `--python-platform` for a conda subdir, and the environment uv needs with it.

    `__glibc 2.28` -> `x86_64-manylinux_2_28` (the highest manylinux uv knows that is not above it);
    `__osx 14.0` -> `MACOSX_DEPLOYMENT_TARGET=14.0` (uv rejects newer macOS wheels without it).
    """
    family, _, arch = platform.partition("-")
    arch_name = {"64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}.get(arch)
    if arch_name is None or family not in ("linux", "osx", "win") or (family == "linux" and arch == "arm64"):
        raise PipStageError(
            f"uv cannot resolve PyPI packages for `{platform}`",
            hints=[
                "PyPI resolution supports linux-64, linux-aarch64, osx-64, osx-arm64, win-64 and win-arm64"
            ],
        )
    vp = virtual_packages.get(f"__{'glibc' if family == 'linux' else 'osx'}") if virtual_packages else None
    if family == "win":
        return f"{arch_name}-pc-windows-msvc", {}
    if family == "osx":
        target = vp.version if vp is not None else ("11.0" if arch == "arm64" else "10.13")
        return f"{arch_name}-apple-darwin", {"MACOSX_DEPLOYMENT_TARGET": _major_minor(target)}
    glibc = vp.version if vp is not None else "2.28"
    minor = _glibc_minor(glibc)
    if minor < 17:
        raise PipStageError(
            f"`__glibc {glibc}` is older than any manylinux tag uv supports for {platform}",
            hints=["uv resolves for manylinux_2_17 (manylinux2014) and newer; raise `--glibc`"],
        )
    chosen = max(m for m in _MANYLINUX_MINORS if m <= minor)
    return f"{arch_name}-manylinux_2_{chosen}", {}


def _glibc_minor(version: str) -> int:
    parts = version.split(".")
    try:
        return int(parts[1]) if parts[0] == "2" and len(parts) > 1 else (0 if int(parts[0]) < 2 else 99)
    except ValueError as exc:
        raise PipStageError(f"`__glibc {version}` is not a glibc version") from exc


def _major_minor(version: str) -> str:
    parts = ([*version.split("."), "0"])[:2]
    return ".".join(parts)


def _uv_python_version(version: str) -> str:
    match = re.match(r"^(\d+)\.(\d+)(?:\.(\d+))?", version.strip())
    if match is None:
        raise PipStageError(f"`{version}` is not a Python version")
    return ".".join(g for g in match.groups() if g is not None)


# ---------------------------------------------------------------------------------------------- torch


def _requirement_name(line: str) -> str | None:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    try:
        return str(canonicalize_name(Requirement(line).name))
    except InvalidRequirement:
        return None


def _is_plain_requirement(line: str) -> bool:
    """A PEP 508 requirement by name and version (no URL): one a `tool.uv.sources` entry can redirect."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        return Requirement(line).url is None
    except InvalidRequirement:
        return False


def _torch_requirements(request: PipRequest) -> list[str]:
    family = {_canonical(n) for n in request.torch_packages}
    return [
        line
        for line in request.requirements
        if _is_plain_requirement(line) and _requirement_name(line) in family
    ]


def _canonical(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def _cuda_key(label: str) -> tuple[int, int]:
    digits = label[2:]
    return int(digits[:-1] or "0"), int(digits[-1])


def _version_key(version: str) -> tuple[int, int]:
    parts = ([*version.split("."), "0"])[:2]
    try:
        return int(parts[0]), int(parts[1])
    except ValueError as exc:
        raise PipStageError(f"`__cuda {version}` is not a CUDA version") from exc


def _probe(url: str, offline: bool) -> bool:
    """Does `url` (a PEP 503 project page) exist? file:// is checked on disk; HTTP with a GET."""
    import urllib.error
    import urllib.parse
    import urllib.request

    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path)).is_dir()
    if offline:
        return False
    request = urllib.request.Request(strip_credentials(url), method="GET")
    if parsed.username:
        import base64

        token = f"{urllib.parse.unquote(parsed.username)}:{urllib.parse.unquote(parsed.password or '')}"
        request.add_header("Authorization", "Basic " + base64.b64encode(token.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return int(response.status) == 200
    except urllib.error.HTTPError:
        return False
    except (urllib.error.URLError, OSError) as exc:
        raise PipStageError(
            f"cannot reach the PyTorch index {redact(url)}: {redact(str(getattr(exc, 'reason', exc)))}",
            hints=["set `pip-options: pytorch-index:` to a reachable mirror"],
        ) from exc


def torch_label(request: PipRequest) -> str | None:
    """The PyTorch index label for the target: None (plain PyPI) on macOS or without torch packages.

    With `__cuda X.Y`: the highest CUDA label not above X.Y whose `<root>/<label>/<package>/` exists, probed
    from the highest candidate down. Without `__cuda`: `cpu`. A label the user put in an index URL
    (`.../whl/cu121`) wins.
    """
    wanted = _torch_requirements(request)
    if not wanted or request.platform.startswith("osx-"):
        return None
    root = (request.pytorch_index or DEFAULT_PYTORCH_INDEX).rstrip("/")
    for url in (request.index_url, *request.extra_index_urls):
        if url and url.rstrip("/").startswith(root + "/"):
            label = url.rstrip("/")[len(root) + 1 :].split("/")[0]
            if _LABEL.match(label):
                return label
    cuda = request.virtual_packages.get("__cuda")
    if cuda is None:
        return "cpu"
    limit = _version_key(cuda.version)
    candidates = [label for label in CUDA_LABELS if _cuda_key(label) <= limit]
    package = _requirement_name(wanted[0]) or "torch"
    for label in candidates:
        if _probe(f"{root}/{label}/{package}/", request.offline):
            return label
    raise PipStageError(
        f"no CUDA build of {package} for `__cuda {cuda.version}` on {redact(root)}",
        hints=[
            "labels tried: " + (", ".join(candidates) or "none (the CUDA version is below cu118)"),
            "lock with `--cuda none` for CPU builds, or a newer `--cuda`"
            + (" (offline: only file:// PyTorch indexes can be probed)" if request.offline else ""),
        ],
    )


# ---------------------------------------------------------------------------------------------- uv


_UV_LOCK = threading.Lock()
_uv_path: str | None = None


def _uv() -> str:
    """uv's binary, looked up once. Platforms run their pip stage in threads, and `find_uv_bin` reads
    `sysconfig`, whose first initialisation is not thread-safe (two threads at once: `EXE` came back None)."""
    global _uv_path
    with _UV_LOCK:
        if _uv_path is None:
            try:
                from uv import find_uv_bin

                _uv_path = str(find_uv_bin())
            except (ImportError, FileNotFoundError) as exc:
                raise InternalError(
                    "uv is not installed next to cenv", hints=["reinstall cenv: it depends on `uv`"]
                ) from exc
        return _uv_path


def _uv_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_") or k in _UV_ENV_KEPT}
    env.pop("MACOSX_DEPLOYMENT_TARGET", None)
    env.pop("VIRTUAL_ENV", None)
    env.pop("CONDA_PREFIX", None)
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


def _run(args: Sequence[str], env: Mapping[str, str], what: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [_uv(), *args], env=dict(env), capture_output=True, text=True, encoding="utf-8", errors="replace"
        )
    except OSError as exc:
        raise InternalError(f"cannot run uv for {what}: {exc}") from exc


def _start(args: Sequence[str], env: Mapping[str, str], what: str) -> subprocess.Popen[str]:
    """uv in the background; :func:`_finish` collects it."""
    try:
        return subprocess.Popen(
            [_uv(), *args],
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
    except OSError as exc:
        raise InternalError(f"cannot run uv for {what}: {exc}") from exc


def _finish(proc: subprocess.Popen[str], *, kill: bool = False) -> subprocess.CompletedProcess[str]:
    if kill:
        proc.kill()
    stdout, stderr = proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def _as_url(location: str) -> str:
    """find-links entries: URLs as given, local paths as file:// URLs (comma-joined into UV_FIND_LINKS)."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", location):
        return location
    return Path(location).expanduser().resolve().as_uri()


@dataclass(frozen=True)
class _Inputs:
    """Files and arguments for one `uv pip compile`."""

    args: tuple[str, ...]
    env: Mapping[str, str]


def _write_inputs(
    work: Path,
    request: PipRequest,
    label: str | None,
    pins: Mapping[str, str],
    cache_dir: Path | None,
) -> _Inputs:
    torch_lines = set(_torch_requirements(request)) if label else set()
    (work / "requirements.in").write_text(
        "".join(line + "\n" for line in request.requirements if line not in torch_lines), encoding="utf-8"
    )
    sources: list[str] = []
    if label:
        root = (request.pytorch_index or DEFAULT_PYTORCH_INDEX).rstrip("/")
        family = [_canonical(n) for n in request.torch_packages]
        deps = sorted(torch_lines)
        if not any(_requirement_name(line) == family[0] for line in deps):
            deps.append(family[0])  # torchvision/torchaudio depend on torch: bind it to the same index
        names = sorted({n for n in (_requirement_name(line) for line in deps) if n})
        pyproject = (
            f'[project]\nname = "{_PROJECT}"\nversion = "0"\n'
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
        "--python", sys.executable, "--python-version", _uv_python_version(request.python_version),
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
    find_links = [*([stubs.as_uri()] if stubs else []), *(_as_url(f) for f in request.find_links)]
    if find_links:
        env["UV_FIND_LINKS"] = ",".join(find_links)  # comma-separated, per uv
    return _Inputs(args=tuple(args), env=_uv_env(env))


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


@dataclass(frozen=True)
class _Locked:
    name: str
    version: str
    url: str
    sha256: str


def _compile_pylock(work: Path, inputs: _Inputs, request: PipRequest) -> list[_Locked]:
    out = work / "pylock.toml"
    out.unlink(missing_ok=True)
    args = [*inputs.args, "--generate-hashes", "--format", "pylock.toml", "-o", str(out)]
    for name in sorted(request.conda_provided):
        args += ["--no-emit-package", name]
    result = _run(args, inputs.env, "pip compile")
    if result.returncode != 0:
        raise _resolve_error(result.stderr, request)
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


def _locked_from_pylock(entry: Mapping[str, Any]) -> _Locked:
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
    return _Locked(
        name=_canonical(name), version=version, url=strip_credentials(str(artifact["url"])), sha256=sha256
    )


_REQ_LINE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*(?P<op>==|@)\s*(?P<rest>\S*)")


@dataclass(frozen=True)
class _Graph:
    """A requirements.txt with `# via` annotations, read: what was pinned, and who required what."""

    versions: Mapping[str, str | None]  # name -> pinned version (None for a direct URL)
    via: Mapping[str, tuple[str, ...]]  # name -> the packages it was required by (inputs appear as `""`)


def _graph_args(inputs: _Inputs, out: Path, pins: Path | None = None) -> list[str]:
    args = [*inputs.args, "--annotation-style", "split", "-o", str(out)]
    if pins is not None:
        args += ["-c", str(pins)]
    return args if "--offline" in args else [*args, "--offline"]


def _start_graph(work: Path, inputs: _Inputs) -> subprocess.Popen[str]:
    """The graph pass, unpinned and offline, started next to the pylock pass (same inputs)."""
    out = work / "graph-early.txt"
    out.unlink(missing_ok=True)
    return _start(_graph_args(inputs, out), inputs.env, "pip compile (dependency graph)")


def _early_graph(
    work: Path, result: subprocess.CompletedProcess[str], locked: Sequence[_Locked], request: PipRequest
) -> _Graph | None:
    """The concurrent pass's graph when it ran and resolved exactly what the pylock pass locked."""
    if result.returncode != 0:
        return None  # typically a cold uv cache: offline, it could not see the index
    try:
        graph = _read_graph((work / "graph-early.txt").read_text(encoding="utf-8"))
    except OSError:
        return None
    conda = {_canonical(name) for name in request.conda_provided}
    resolved = {name: version for name, version in graph.versions.items() if name not in conda}
    wanted = {p.name: p.version for p in locked}
    if resolved.keys() != wanted.keys():
        return None
    if any(version is not None and version != wanted[name] for name, version in resolved.items()):
        return None
    return graph


def _compile_graph(work: Path, inputs: _Inputs, locked: Sequence[_Locked]) -> _Graph:
    """The graph pass after the fact, pinned to the pylock result."""
    out = work / "graph.txt"
    pins = work / "pins.txt"
    pins.write_text("".join(f"{p.name}=={p.version}\n" for p in locked), encoding="utf-8")
    args = _graph_args(inputs, out, pins)
    # Every page and metadata file this pass needs is in uv's cache from the first pass: try offline first.
    offline = "--offline" in inputs.args
    result = _run(args, inputs.env, "pip compile (dependency graph)")
    if result.returncode != 0 and not offline:
        result = _run([a for a in args if a != "--offline"], inputs.env, "pip compile (dependency graph)")
    if result.returncode != 0:
        raise InternalError(
            "uv could not repeat its own resolution to read the dependency graph",
            hints=[redact(line.strip()) for line in result.stderr.splitlines() if line.strip()][:6],
        )
    return _read_graph(out.read_text(encoding="utf-8"))


def _read_graph(text: str) -> _Graph:
    versions: dict[str, str | None] = {}
    via: dict[str, list[str]] = {}
    current: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        match = _REQ_LINE.match(line)
        if match and not raw.startswith((" ", "#")):
            current = _canonical(match.group("name"))
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
            if part.startswith("-r ") or part.startswith(_PROJECT):
                via[current].append("")
            elif part:
                via[current].append(_canonical(part.split()[0]))
    return _Graph(versions, {name: tuple(dict.fromkeys(parents)) for name, parents in via.items()})


# ---------------------------------------------------------------------------------------------- errors


_PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s,]+)")


def _resolve_error(stderr: str, request: PipRequest) -> PipStageError:
    lines = [redact(line.rstrip()) for line in stderr.splitlines() if line.strip()]
    text = " ".join(line.strip() for line in lines)
    reasons = [
        line.strip().removeprefix("error:").removeprefix("cause:").strip()
        for line in lines
        if not line.strip().startswith("hint:")
    ]
    uv_hints = [
        line.strip().removeprefix("hint:").strip() for line in lines if line.strip().startswith("hint:")
    ]
    reason = " ".join(r for r in reasons[1:] if r) or (
        reasons[0] if reasons else "uv failed without a message"
    )
    hints = [f"uv: {reason}", *(f"uv: {h}" for h in uv_hints)]
    where = f"for {request.platform}"
    conda = {_canonical(k): v for k, v in request.conda_provided.items()}
    for name, version in _PIN.findall(text):
        name = _canonical(name)
        if conda.get(name) != version:
            continue
        mine = [line for line in request.requirements if _requirement_name(line) == name]
        if mine:
            message = f"pip requirement `{mine[0]}` conflicts with {name} {version} from conda"
        else:
            dependent = re.search(
                rf"([A-Za-z0-9][A-Za-z0-9._-]*)(?:[=<>!~][^\s]*)? depends? on ({re.escape(name)}[^\s,]*)",
                text,
                re.IGNORECASE,
            )
            if dependent:
                message = (
                    f"pip package `{dependent.group(1)}` requires `{dependent.group(2)}`, "
                    f"which conflicts with {name} {version} from conda"
                )
            else:
                message = f"the pip requirements conflict with {name} {version} from conda"
        hints.append(f"change the conda version of {name}, or relax the pip requirement")
        return PipStageError(f"{message} ({request.platform})", hints=hints)
    if (
        "not found in the package registry" in text
        or "was not found in the provided package locations" in text
    ):
        return PipStageError(f"a pip requirement was not found on the package index {where}", hints=hints)
    if request.offline and ("offline" in text.lower() or "network" in text.lower()):
        hints.append("resolve once online to fill uv's cache, or drop `--offline`")
    return PipStageError(f"the pip requirements cannot be resolved {where}", hints=hints)


# ---------------------------------------------------------------------------------------------- public


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
        inputs = _write_inputs(work, request, label, {}, cache_dir)
        key = _graph_key(request, label)
        known = request.known_graph or _cached_graph(key)
        # With a known graph the second pass is probably not needed: do not start it speculatively.
        early: subprocess.Popen[str] | None = _start_graph(work, inputs) if known is None else None
        try:
            locked = _compile_pylock(work, inputs, request)
            if label:
                family = {_canonical(n) for n in request.torch_packages}
                wrong = {
                    p.name: p.version.split("+", 1)[0] + "+" + label
                    for p in locked
                    if p.name in family and p.version.partition("+")[2] != label
                }
                if wrong:  # uv prefers +cu121 over +cpu by string order: pin the label we chose
                    if early is not None:  # it resolves without the pin, and its inputs change now
                        _finish(early, kill=True)
                        early = None
                    inputs = _write_inputs(work, request, label, wrong, cache_dir)
                    locked = _compile_pylock(work, inputs, request)
        except BaseException:
            if early is not None:
                _finish(early, kill=True)
            raise
        artifacts = frozenset((p.name, p.version, strip_credentials(p.url)) for p in locked)
        if known is not None and artifacts == known.artifacts:
            children = {name: list(deps) for name, deps in known.dependencies.items()}
            requested = _requested_names(request.requirements)
        else:
            graph = _early_graph(work, _finish(early), locked, request) if early is not None else None
            if graph is None:
                graph = _compile_graph(work, inputs, locked)
            children = {}
            for child, parents in graph.via.items():
                for parent in parents:
                    if parent:
                        children.setdefault(parent, []).append(child)
            requested = {name for name, parents in graph.via.items() if "" in parents}
            dependencies = {p.name: tuple(sorted(set(children.get(p.name, ())))) for p in locked}
            _store_graph(key, KnownGraph(artifacts=artifacts, dependencies=dependencies))
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


def _graph_key(request: PipRequest, label: str | None) -> str:
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


_MAX_GRAPHS = 512


def _graph_file(key: str) -> Path:
    from cenv.env_vars import cache_root

    return cache_root() / "pip" / "graphs" / f"{key}.json"


def _cached_graph(key: str) -> KnownGraph | None:
    try:
        data = json.loads(_graph_file(key).read_bytes())
        return KnownGraph(
            artifacts=frozenset((str(n), str(v), str(u)) for n, v, u in data["artifacts"]),
            dependencies={str(k): tuple(map(str, v)) for k, v in data["dependencies"].items()},
        )
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _store_graph(key: str, graph: KnownGraph) -> None:
    """Keep the last graph of this request (atomically; an unwritable cache is skipped)."""
    path = _graph_file(key)
    data = {"artifacts": sorted(graph.artifacts), "dependencies": dict(graph.dependencies)}
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
        entries = list(os.scandir(path.parent))
        if len(entries) > _MAX_GRAPHS:  # the oldest go
            entries.sort(key=lambda e: e.stat().st_mtime)
            for entry in entries[: len(entries) - _MAX_GRAPHS]:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _requested_names(requirements: Iterable[str]) -> set[str]:
    """The projects the spec's pip lines name (what uv's `# via -r` marks); options and URLs without a name
    are skipped."""
    from packaging.requirements import InvalidRequirement, Requirement

    names = set()
    for line in requirements:
        with contextlib.suppress(InvalidRequirement):
            names.add(_canonical(Requirement(line.strip()).name))
    return names


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


def render_requirements(lock: Lockfile, platform: str) -> str:
    """A `--require-hashes` requirements file of the lock's pip packages for `platform`.

    Each line is `name @ URL --hash=sha256:...`: the exact locked artifact, installable without any index
    configuration (a PyTorch label index, find-links or a private index need not be known at install time).
    """
    lines = [
        f"# pip packages for {platform}; install with: uv pip install --no-deps --require-hashes -r FILE"
    ]
    for package in sorted(lock.packages_for(platform, "pip"), key=lambda p: p.name):
        lines.append(_requirement_line(package))
    return "\n".join(lines) + "\n"


def _requirement_line(package: LockedPackage) -> str:
    from cenv.errors import LockfileError

    sha256 = package.hash.sha256
    if not sha256:
        raise LockfileError(
            f"pip package `{package.name}` {package.version} has no sha256 in the lockfile",
            hints=["re-lock with `cenv lock` to record hashes"],
        )
    url = package.source.url if package.source is not None else package.url
    return f"{package.name} @ {url} --hash=sha256:{sha256}"


def install_pip(python: Path, packages: Sequence[LockedPackage], offline: bool = False) -> None:
    """Install locked pip packages into the environment of `python` (no dependency resolution)."""
    from cenv.errors import InstallError

    chosen = [p for p in packages if p.manager == "pip"]
    if not chosen:
        return
    with tempfile.TemporaryDirectory(prefix="cenv-pip-install-") as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text("".join(_requirement_line(p) + "\n" for p in sorted(chosen, key=lambda p: p.name)))
        args = [
            "pip", "install", "--python", str(python), "--no-deps", "--require-hashes", "-r", str(req),
            "--no-config", "--quiet", "--color", "never",
        ]  # fmt: skip
        if offline:
            args.append("--offline")
        result = _run(args, _uv_env({}), "pip install")
    if result.returncode != 0:
        lines = [redact(line.strip()) for line in result.stderr.splitlines() if line.strip()]
        first = lines[0].removeprefix("error:").strip() if lines else "uv failed without a message"
        raise InstallError(
            f"installing {len(chosen)} pip package(s) failed: {first}",
            hints=[f"uv: {line}" for line in lines[1:6]],
        )
