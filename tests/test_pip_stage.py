"""The pip stage against real uv, real wheels and real indexes (file:// and HTTP); no mocks, no PyPI."""

from __future__ import annotations

import dataclasses
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.support.realdata import REALDATA, realdata_path
from tests.support.wheel_factory import WheelIndex, WheelIndexServer

from cenv.errors import InstallError, PipStageError
from cenv.install.pip import install_pip
from cenv.lock.models import Lockfile, LockMetadata
from cenv.lock.requirements import render_requirements
from cenv.pip import PipRequest, python_platform, resolve_pip, to_locked, torch_label
from cenv.pypi_names import BUILTIN_RENAMES, CENV_PYPI_MAPPING, CondaDist, conda_to_pypi
from cenv.virtual_packages import VirtualPackageOptions, build_virtual_packages

MAPPING_RELPATH = "mappings/parselmouth-conda-forge-compressed_mapping.json"
MAPPING = REALDATA / MAPPING_RELPATH
#: The entries of parselmouth's conda-forge mapping that the tests below use, as that file has them.
MINI_MAPPING = {
    "pytorch": "torch",
    "matplotlib-base": "matplotlib",
    "typing_extensions": "typing-extensions",
    "python": None,
    "libzlib": None,
    "openssl": None,
    "numpy": "numpy",
}
PLAT_TAGS = {
    "linux-64": "py3-none-manylinux_2_17_x86_64",
    "linux-aarch64": "py3-none-manylinux_2_17_aarch64",
    "osx-arm64": "py3-none-macosx_14_0_arm64",
    "win-64": "py3-none-win_amd64",
}
FLAVOURS = ("cpu", "cu118", "cu121")


class Indexes:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.pypi = WheelIndex(root / "pypi")
        self.pypi.add("needs-numpy", "1.0", requires=["numpy>=1.20"])
        for version in ("1.19.0", "1.26.4", "2.0.0"):
            self.pypi.add("numpy", version)
        for tag in PLAT_TAGS.values():
            self.pypi.add("plat", "1.0", tag=tag)
        self.pypi.add("app", "1.0", requires=["dep-a>=1", "needs-numpy"])
        self.pypi.add("dep-a", "1.0")
        self.pypi.add("dep-a", "1.1")
        self.pypi.add("torch", "2.3.0", requires=["numpy"])  # PyPI's plain build, as macOS gets it
        self.pypi.add("torchvision", "0.18.0", requires=["torch==2.3.0"])
        self.pypi.add("uses-torch", "1.0", requires=["torchvision"])  # torch only through a dependency
        self.pypi.write()
        # PyTorch-style index: <torch>/<label>/<project>/, wheels in <torch>/files
        self.torch_root = root / "torch"
        for label in FLAVOURS:
            index = WheelIndex(self.torch_root, simple_subdir=label)
            index.add("torch", f"2.3.0+{label}", requires=["numpy"])
            index.add("torch", f"2.2.0+{label}", requires=["numpy"])
            index.add("torchvision", f"0.18.0+{label}", requires=["torch==2.3.0"])
            index.write()
        # A label index that also lists other flavours: uv alone would take +cu121 (string order)
        self.mixed_root = root / "mixed"
        mixed = WheelIndex(self.mixed_root, simple_subdir="cpu")
        for label in FLAVOURS:
            mixed.add("torch", f"2.3.0+{label}")
        mixed.write()
        self.empty = WheelIndex(root / "empty").write()
        (self.empty.simple_dir / "index.html").write_text("<html><body></body></html>\n")

    @property
    def pypi_url(self) -> str:
        return self.pypi.simple_url


@pytest.fixture(scope="module")
def indexes(tmp_path_factory: pytest.TempPathFactory) -> Indexes:
    return Indexes(tmp_path_factory.mktemp("pip-indexes"))


@pytest.fixture
def make_request(indexes: Indexes) -> Callable[..., PipRequest]:
    def make(
        platform: str,
        *requirements: str,
        conda: dict[str, str] | None = None,
        cuda: str | None = None,
        osx: str | None = None,
        glibc: str | None = None,
        **changes: Any,
    ) -> PipRequest:
        vps = build_virtual_packages(platform, VirtualPackageOptions(cuda=cuda, osx=osx, glibc=glibc))
        request = PipRequest(
            platform=platform,
            python_version="3.11.7",
            requirements=requirements,
            conda_provided=conda or {},
            virtual_packages=vps,
            index_url=indexes.pypi_url,
            pytorch_index=indexes.torch_root.as_uri(),
        )
        return replace(request, **changes)

    return make


@pytest.fixture
def uv_cache(tmp_path: Path) -> Path:
    return tmp_path / "uv-cache"


def by_name(packages: list[Any]) -> dict[str, Any]:
    return {p.name: p for p in packages}


# ------------------------------------------------------------------------------------------ platforms


@pytest.mark.parametrize(
    ("platform", "options", "tag", "env"),
    [
        ("linux-64", {}, "x86_64-manylinux_2_28", {}),
        ("linux-64", {"glibc": "2.17"}, "x86_64-manylinux_2_17", {}),
        ("linux-64", {"glibc": "2.30"}, "x86_64-manylinux_2_28", {}),
        ("linux-64", {"glibc": "2.35"}, "x86_64-manylinux_2_35", {}),
        ("linux-64", {"glibc": "2.41"}, "x86_64-manylinux_2_40", {}),
        ("linux-aarch64", {}, "aarch64-manylinux_2_28", {}),
        ("osx-arm64", {"osx": "14.0"}, "aarch64-apple-darwin", {"MACOSX_DEPLOYMENT_TARGET": "14.0"}),
        ("osx-64", {"osx": "10.15"}, "x86_64-apple-darwin", {"MACOSX_DEPLOYMENT_TARGET": "10.15"}),
        ("win-64", {}, "x86_64-pc-windows-msvc", {}),
        ("win-arm64", {}, "aarch64-pc-windows-msvc", {}),
    ],
)
def test_python_platform(platform: str, options: dict[str, str], tag: str, env: dict[str, str]) -> None:
    vps = build_virtual_packages(platform, VirtualPackageOptions(**options))
    assert python_platform(platform, vps) == (tag, env)


def test_python_platform_refuses_what_uv_cannot_target() -> None:
    with pytest.raises(PipStageError, match="linux-ppc64le"):
        python_platform("linux-ppc64le")
    vps = build_virtual_packages("linux-64", VirtualPackageOptions(glibc="2.12"))
    with pytest.raises(PipStageError, match="manylinux"):
        python_platform("linux-64", vps)


def test_every_tag_is_accepted_by_uv(make_request: Callable[..., PipRequest], uv_cache: Path) -> None:
    """Each platform gets the wheel built for it, resolved from this Linux host."""
    for platform, tag in PLAT_TAGS.items():
        osx = "14.0" if platform.startswith("osx") else None
        [plat] = resolve_pip(make_request(platform, "plat", osx=osx), cache_dir=uv_cache)
        assert plat.url.endswith(f"plat-1.0-{tag}.whl"), platform
        assert plat.requested and plat.version == "1.0" and len(plat.sha256) == 64


def test_macos_deployment_target_gates_newer_wheels(
    make_request: Callable[..., PipRequest], uv_cache: Path
) -> None:
    with pytest.raises(PipStageError) as info:
        resolve_pip(make_request("osx-arm64", "plat", osx="11.0"), cache_dir=uv_cache)
    assert "osx-arm64" in info.value.message
    assert any("plat" in hint for hint in info.value.hints)


# ------------------------------------------------------------------------------------------ conda pins


def test_conda_provided_is_pinned_and_not_emitted(
    make_request: Callable[..., PipRequest], uv_cache: Path
) -> None:
    packages = by_name(
        resolve_pip(make_request("linux-64", "app", conda={"numpy": "1.26.4"}), cache_dir=uv_cache)
    )
    assert set(packages) == {"app", "dep-a", "needs-numpy"}
    assert packages["app"].requested and not packages["dep-a"].requested
    assert packages["app"].dependencies == ("dep-a", "needs-numpy")
    assert packages["needs-numpy"].dependencies == ("numpy",)  # conda's numpy is still a dependency
    assert packages["dep-a"].version == "1.1"


def test_without_conda_numpy_pip_brings_its_own(
    make_request: Callable[..., PipRequest], uv_cache: Path
) -> None:
    packages = by_name(resolve_pip(make_request("linux-64", "needs-numpy"), cache_dir=uv_cache))
    assert packages["numpy"].version == "2.0.0" and not packages["numpy"].requested


def test_direct_conflict_with_conda_names_both_sides(
    make_request: Callable[..., PipRequest], uv_cache: Path
) -> None:
    request = make_request("linux-64", "numpy<1.20", conda={"numpy": "1.26.4"})
    with pytest.raises(PipStageError) as info:
        resolve_pip(request, cache_dir=uv_cache)
    assert (
        info.value.message == "pip requirement `numpy<1.20` conflicts with numpy 1.26.4 from conda (linux-64)"
    )
    assert "\n" not in info.value.message
    assert info.value.hints and info.value.hints[0].startswith("uv: ")


def test_transitive_conflict_with_conda(make_request: Callable[..., PipRequest], uv_cache: Path) -> None:
    request = make_request("linux-64", "needs-numpy", conda={"numpy": "1.19.0"})
    with pytest.raises(PipStageError) as info:
        resolve_pip(request, cache_dir=uv_cache)
    assert info.value.message == (
        "pip package `needs-numpy` requires `numpy>=1.20`, "
        "which conflicts with numpy 1.19.0 from conda (linux-64)"
    )


def test_missing_package(make_request: Callable[..., PipRequest], uv_cache: Path) -> None:
    with pytest.raises(PipStageError, match="not found"):
        resolve_pip(make_request("linux-64", "no-such-thing"), cache_dir=uv_cache)


def test_nothing_to_resolve(make_request: Callable[..., PipRequest]) -> None:
    assert resolve_pip(make_request("linux-64")) == []


# ------------------------------------------------------------------------------------------ torch flavours


def test_cuda_picks_highest_label_not_above_the_driver(
    make_request: Callable[..., PipRequest], uv_cache: Path, indexes: Indexes
) -> None:
    request = make_request("linux-64", "torch", "needs-numpy", cuda="12.4", conda={"numpy": "1.26.4"})
    assert torch_label(request) == "cu121"  # cu130…cu124 are not on this index
    packages = by_name(resolve_pip(request, cache_dir=uv_cache))
    assert packages["torch"].version == "2.3.0+cu121"
    assert packages["torch"].url == indexes.torch_root.as_uri() + "/files/torch-2.3.0+cu121-py3-none-any.whl"
    assert "numpy" not in packages  # torch's numpy comes from conda, not from the PyTorch index
    assert torch_label(make_request("linux-64", "torch", cuda="12.0")) == "cu118"


def test_torchvision_alone_binds_torch_to_the_same_flavour(
    make_request: Callable[..., PipRequest], uv_cache: Path
) -> None:
    packages = by_name(
        resolve_pip(make_request("win-64", "torchvision", cuda="12.1", conda={"numpy": "1.26.4"}), uv_cache)
    )
    assert packages["torchvision"].version == "0.18.0+cu121"
    assert packages["torch"].version == "2.3.0+cu121"
    assert packages["torchvision"].dependencies == ("torch",)


def test_torch_pulled_in_by_another_package_follows_the_cuda_rules(
    make_request: Callable[..., PipRequest], uv_cache: Path, indexes: Indexes
) -> None:
    """torch and torchvision that only a dependency asks for come from the PyTorch index for the target's
    CUDA (or `cpu`), like listed ones; macOS keeps PyPI's plain build."""
    cuda = by_name(
        resolve_pip(make_request("linux-64", "uses-torch", cuda="12.1", conda={"numpy": "1.26.4"}), uv_cache)
    )
    assert cuda["torch"].version == "2.3.0+cu121" and cuda["torchvision"].version == "0.18.0+cu121"
    assert cuda["torch"].url.startswith(indexes.torch_root.as_uri())
    assert cuda["uses-torch"].requested and not cuda["torch"].requested
    assert cuda["uses-torch"].dependencies == ("torchvision",)
    cpu = by_name(resolve_pip(make_request("linux-64", "uses-torch", conda={"numpy": "1.26.4"}), uv_cache))
    assert cpu["torch"].version == "2.3.0+cpu" and cpu["torchvision"].version == "0.18.0+cpu"
    mac = by_name(resolve_pip(make_request("osx-arm64", "uses-torch", conda={"numpy": "1.26.4"}), uv_cache))
    assert mac["torch"].version == "2.3.0" and mac["torch"].url.startswith(indexes.pypi.files_dir.as_uri())


def test_no_cuda_gets_cpu(make_request: Callable[..., PipRequest], uv_cache: Path) -> None:
    [torch] = resolve_pip(make_request("linux-64", "torch==2.3.*", conda={"numpy": "1.26.4"}), uv_cache)
    assert torch.version == "2.3.0+cpu"


def test_macos_gets_the_plain_pypi_build(
    make_request: Callable[..., PipRequest], uv_cache: Path, indexes: Indexes
) -> None:
    request = make_request("osx-arm64", "torch", conda={"numpy": "1.26.4"})
    assert torch_label(request) is None
    [torch] = resolve_pip(request, uv_cache)
    assert torch.version == "2.3.0" and torch.url.startswith(indexes.pypi.files_dir.as_uri())


def test_label_is_pinned_even_when_the_index_offers_others(
    make_request: Callable[..., PipRequest], uv_cache: Path, indexes: Indexes
) -> None:
    request = make_request("linux-64", "torch", pytorch_index=indexes.mixed_root.as_uri())
    [torch] = resolve_pip(request, uv_cache)
    assert torch.version == "2.3.0+cpu"  # uv alone picks +cu121 (local labels compare as strings)


def test_cuda_below_every_label_is_an_error(make_request: Callable[..., PipRequest]) -> None:
    with pytest.raises(PipStageError, match=r"no CUDA build of torch for `__cuda 11\.0`") as info:
        torch_label(make_request("linux-64", "torch", cuda="11.0"))
    assert any("--cuda none" in hint for hint in info.value.hints)


def test_user_label_in_an_index_url_wins(make_request: Callable[..., PipRequest], indexes: Indexes) -> None:
    extra = (indexes.torch_root.as_uri() + "/cu118",)
    assert torch_label(make_request("linux-64", "torch", cuda="12.4", extra_index_urls=extra)) == "cu118"


def test_torch_flavours_can_be_turned_off(make_request: Callable[..., PipRequest], uv_cache: Path) -> None:
    request = make_request("linux-64", "torch", cuda="12.4", torch_packages=(), conda={"numpy": "1.26.4"})
    assert torch_label(request) is None
    [torch] = resolve_pip(request, uv_cache)
    assert torch.version == "2.3.0"


# ------------------------------------------------------------------------------------------ index options


def test_find_links_and_extra_index(
    make_request: Callable[..., PipRequest], uv_cache: Path, indexes: Indexes
) -> None:
    empty = indexes.empty.simple_url
    [dep] = resolve_pip(
        make_request("linux-64", "dep-a<1.1", index_url=empty, find_links=(str(indexes.pypi.files_dir),)),
        uv_cache,
    )
    assert (
        dep.version == "1.0" and dep.url == (indexes.pypi.files_dir / "dep_a-1.0-py3-none-any.whl").as_uri()
    )
    [dep] = resolve_pip(
        make_request("linux-64", "dep-a", index_url=empty, extra_index_urls=(indexes.pypi_url,)), uv_cache
    )
    assert dep.version == "1.1"


@pytest.fixture
def pypi_server(indexes: Indexes) -> Iterator[WheelIndexServer]:
    with WheelIndexServer(indexes.pypi.root) as server:
        yield server


def test_http_index_credentials_never_leak(
    make_request: Callable[..., PipRequest], uv_cache: Path, pypi_server: WheelIndexServer
) -> None:
    index = f"http://alice:s3cret@127.0.0.1:{pypi_server.port}/simple"
    packages = resolve_pip(
        make_request("linux-64", "app", index_url=index, conda={"numpy": "1.26.4"}), uv_cache
    )
    assert {p.name for p in packages} == {"app", "dep-a", "needs-numpy"}
    for package in packages:
        assert package.url.startswith(f"http://127.0.0.1:{pypi_server.port}/files/")
        assert "s3cret" not in repr(package) and "alice" not in package.url
    authorized = [r for r in pypi_server.log if r.path == "/simple/app/"]
    assert authorized and authorized[0].headers.get("authorization", "").startswith("Basic ")

    pypi_server.fail_paths["/simple/needs-numpy/"] = 401  # uv names the index URL in this error
    with pytest.raises(PipStageError) as info:
        resolve_pip(make_request("linux-64", "needs-numpy", index_url=index), uv_cache / "cold")
    text = info.value.message + "\n".join(info.value.hints)
    assert "127.0.0.1" in text and "s3cret" not in text


def test_offline_resolves_from_uv_cache(make_request: Callable[..., PipRequest], indexes: Indexes) -> None:
    cache = indexes.root / "offline-cache"
    with WheelIndexServer(indexes.pypi.root) as server:
        request = make_request("linux-64", "dep-a", index_url=server.url + "/simple")
        [online] = resolve_pip(request, cache)
    # the server is gone: only the cache can answer
    [offline] = resolve_pip(replace(request, offline=True), cache)
    assert offline == online
    with pytest.raises(PipStageError):
        resolve_pip(replace(request, offline=True, requirements=("dep-a", "plat")), cache)


class _RecordingProxy(http.server.ThreadingHTTPServer):
    """An HTTP proxy on 127.0.0.1 that records each request (`CONNECT host:443`, `GET url`) and refuses it."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _refuse(self) -> None:
                proxy.requests.append(f"{self.command} {self.path}")
                self.send_error(403)

            do_CONNECT = do_GET = do_HEAD = _refuse

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def test_target_python_needs_no_interpreter(
    make_request: Callable[..., PipRequest], uv_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A python version no local interpreter has (conda picks any X.Y.Z): uv must not try to download one.

    Every request outside 127.0.0.1 goes to a recording proxy; without `--no-python-downloads` and `--python`
    uv asks it for releases.astral.sh and github.com (a managed interpreter), and this test fails."""
    proxy = _RecordingProxy()
    try:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            monkeypatch.setenv(name, proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
        [dep] = resolve_pip(make_request("linux-64", "dep-a", python_version="3.12.98"), uv_cache)
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert dep.version == "1.1"
    assert proxy.requests == []


def _three_levels(root: Path) -> WheelIndex:
    """top -> mid -> numpy (numpy is what conda provides in these tests)."""
    index = WheelIndex(root)
    index.add("top", "1.0", requires=["mid>=1"])
    index.add("mid", "1.0", requires=["numpy"])
    index.add("numpy", "1.26.4")
    return index.write()


def test_graph_pass_beside_the_pylock_pass_and_its_fallback(
    make_request: Callable[..., PipRequest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The `# via` pass runs offline next to the pylock pass; a cold cache or a changed index sends it
    round again, pinned to the pylock result. Every path gives the same graph for the same resolution."""
    from cenv.pip import graph

    pinned: list[int] = []
    real = graph.compile_graph
    monkeypatch.setattr(graph, "compile_graph", lambda *a: pinned.append(1) or real(*a))
    index = _three_levels(tmp_path / "index")
    cache = tmp_path / "uv-cache"
    with WheelIndexServer(index.root) as server:
        request = make_request("linux-64", "top", conda={"numpy": "1.26.4"}, index_url=server.url + "/simple")
        # the pylock pass's first page is held back, so the offline pass beside it finds the cache cold (it
        # raced the pylock pass filling the cache and sometimes won: a flaky test)
        server.delay_paths["/simple/top/*"] = 3.0
        cold = resolve_pip(request, cache)
        server.delay_paths.clear()
        assert len(pinned) == 1  # cold cache: the offline pass could not see the index
        graphs = Path(os.environ["CENV_CACHE_DIR"]) / "pip" / "graphs"
        shutil.rmtree(graphs)  # no graph to reuse: the offline pass runs beside the pylock pass again
        assert resolve_pip(request, cache) == cold and len(pinned) == 1  # warm: the two passes agreed
        assert resolve_pip(request, cache) == cold and len(pinned) == 1  # the cached graph
        for entry in graphs.iterdir():
            entry.write_text('{"artifacts": [["top"')  # a damaged cache entry is ignored
        assert resolve_pip(request, cache) == cold
        index.add("mid", "1.1", requires=["numpy", "extra"])
        index.add("extra", "1.0")
        index.write()
        changed = by_name(resolve_pip(request, cache))
        assert len(pinned) == 2  # the index changed under the cache: the passes disagreed
    assert by_name(cold)["mid"].dependencies == ("numpy",)
    assert changed["mid"].version == "1.1" and changed["mid"].dependencies == ("extra", "numpy")
    assert changed["top"].requested and not changed["extra"].requested and not changed["mid"].requested
    # the conda stubs: one folder per set of conda pins in cenv's cache, reused by every resolution
    stubs = Path(os.environ["CENV_CACHE_DIR"]) / "pip" / "conda-stubs"
    [folder] = stubs.iterdir()
    assert [w.name for w in folder.iterdir()] == ["numpy-1.26.4-py3-none-any.whl"]


def test_a_known_graph_for_the_same_artifacts_replaces_the_second_pass(
    make_request: Callable[..., PipRequest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-lock that pins exactly the artifacts the lock being replaced has reuses its graph (no `# via`
    pass at all); one different artifact and the graph is computed again."""
    from cenv.pip import KnownGraph, graph

    passes: list[str] = []
    real_start, real_compile = graph.start_graph, graph.compile_graph
    monkeypatch.setattr(graph, "start_graph", lambda *a: passes.append("early") or real_start(*a))
    monkeypatch.setattr(graph, "compile_graph", lambda *a: passes.append("pinned") or real_compile(*a))
    index = _three_levels(tmp_path / "index")
    cache = tmp_path / "uv-cache"
    with WheelIndexServer(index.root) as server:
        request = make_request("linux-64", "top", conda={"numpy": "1.26.4"}, index_url=server.url + "/simple")
        first = resolve_pip(request, cache)
        known = KnownGraph(
            artifacts=frozenset((p.name, p.version, p.url) for p in first),
            dependencies={p.name: p.dependencies for p in first},
        )
        passes.clear()
        assert resolve_pip(replace(request, known_graph=known), cache) == first
        assert passes == []  # neither the speculative nor the pinned pass ran
        stale = replace(known, artifacts=known.artifacts - {("mid", "1.0", by_name(first)["mid"].url)})
        assert resolve_pip(replace(request, known_graph=stale), cache) == first
        assert passes == ["pinned"]


# ------------------------------------------------------------------------------------------ lock + install


def _lock(packages: list[Any], platform: str) -> Lockfile:
    return Lockfile(
        metadata=LockMetadata(platforms=(platform,)), package=tuple(to_locked(packages, platform))
    )


def test_to_locked_entries(make_request: Callable[..., PipRequest], uv_cache: Path) -> None:
    packages = resolve_pip(make_request("linux-64", "app", conda={"numpy": "1.26.4"}), uv_cache)
    locked = by_name(to_locked(packages, "linux-64"))
    app = locked["app"]
    assert app.manager == "pip" and app.platform == "linux-64" and app.category == "main"
    assert app.dependencies == {"dep-a": "", "needs-numpy": ""}
    assert app.hash.sha256 == by_name(packages)["app"].sha256 and app.hash.md5 is None


def _venv(path: Path) -> Path:
    from uv import find_uv_bin

    subprocess.run(
        [find_uv_bin(), "venv", "--quiet", "--no-config", "--python", sys.executable, str(path)], check=True
    )
    return path / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def test_render_requirements_installs_with_require_hashes(
    make_request: Callable[..., PipRequest], uv_cache: Path, tmp_path: Path
) -> None:
    from uv import find_uv_bin

    packages = resolve_pip(make_request("linux-64", "app", "torch", cuda="12.4"), uv_cache)
    lock = _lock(packages, "linux-64")
    text = render_requirements(lock, "linux-64")
    assert text.splitlines()[1].startswith("app @ file://")
    assert all("--hash=sha256:" in line for line in text.splitlines()[1:])
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(text)
    python = _venv(tmp_path / "venv")
    subprocess.run(
        [find_uv_bin(), "pip", "install", "--python", str(python), "--no-config", "--quiet",
         "--require-hashes", "--no-deps", "-r", str(requirements)],
        check=True,
    )  # fmt: skip
    out = subprocess.run(
        [str(python), "-c", "import torch, numpy, app; print(torch.VERSION, numpy.VERSION)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.split() == ["2.3.0+cu121", "2.0.0"]


def test_install_pip_and_tampered_hash(
    make_request: Callable[..., PipRequest], uv_cache: Path, tmp_path: Path
) -> None:
    packages = resolve_pip(make_request("linux-64", "dep-a"), uv_cache)
    locked = to_locked(packages, "linux-64")
    python = _venv(tmp_path / "venv")
    install_pip(python, locked)
    out = subprocess.run(
        [str(python), "-c", "import dep_a; print(dep_a.VERSION)"], capture_output=True, text=True
    )
    assert out.stdout.strip() == "1.1"

    bad = [dataclasses.replace(locked[0], hash=dataclasses.replace(locked[0].hash, sha256="0" * 64))]
    with pytest.raises(InstallError, match="installing 1 pip package"):
        install_pip(_venv(tmp_path / "venv2"), bad)


# ------------------------------------------------------------------------------------------ names


@pytest.fixture(params=["fixture", pytest.param("parselmouth", marks=pytest.mark.realdata(MAPPING_RELPATH))])
def mapping_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A conda -> PyPI mapping in parselmouth's compressed layout: the project's own excerpt, and the real
    conda-forge file where ../shared/realdata is present."""
    if request.param == "parselmouth":
        return MAPPING
    path = tmp_path / "compressed_mapping.json"
    path.write_text(json.dumps(MINI_MAPPING))
    return path


def test_mini_mapping_agrees_with_parselmouth() -> None:
    real = json.loads(realdata_path(MAPPING_RELPATH).read_text())
    assert {name: real[name] for name in MINI_MAPPING} == MINI_MAPPING


@pytest.mark.realdata(MAPPING_RELPATH)
def test_builtin_renames_agree_with_parselmouth() -> None:
    real = json.loads(realdata_path(MAPPING_RELPATH).read_text())
    assert {name: real[name] for name in BUILTIN_RENAMES} == dict(BUILTIN_RENAMES)


def test_conda_to_pypi_names(mapping_file: Path) -> None:
    records = [
        CondaDist("pytorch", "2.3.0", None, True),
        CondaDist("matplotlib-base", "3.8.4", None, True),
        CondaDist("typing_extensions", "4.12.2", None, True),
        CondaDist("python", "3.11.7", None, True),
        CondaDist("libzlib", "1.3.1", None, False),
        CondaDist("openssl", "3.3.1", None, None),
        CondaDist("my-tool", "1.0", ["pkg:pypi/My_Tool@1.0", "pkg:npm/left-pad"], True),
        CondaDist("local-only", "1.2.3_1", None, True),  # not a PEP 440 version: no pin possible
        CondaDist("unmapped-python-pkg", "0.1", None, True),
        ("numpy", "1.26.4", None),
        ("not-in-mapping", "1.0", None),
    ]
    assert conda_to_pypi(records, mapping_file) == {
        "torch": "2.3.0",
        "matplotlib": "3.8.4",
        "typing-extensions": "4.12.2",
        "my-tool": "1.0",
        "unmapped-python-pkg": "0.1",
        "numpy": "1.26.4",
    }


def test_conda_to_pypi_mapping_sources(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mapping_file: Path
) -> None:
    records = [CondaDist("pytorch", "2.3.0", None, True), CondaDist("py_lib", "1.0", None, True)]
    # no mapping anywhere: cenv's built-in renames (pytorch is torch), else the normalised conda name
    assert conda_to_pypi(records) == {"torch": "2.3.0", "py-lib": "1.0"}
    monkeypatch.setenv(CENV_PYPI_MAPPING, str(mapping_file))
    assert conda_to_pypi(records) == {"torch": "2.3.0", "py-lib": "1.0"}
    custom = tmp_path / "mapping.json"
    custom.write_text(json.dumps({"py_lib": "Py-Library", "pytorch": None}))
    assert conda_to_pypi(records, custom) == {"py-library": "1.0"}
    monkeypatch.setenv(CENV_PYPI_MAPPING, str(tmp_path / "missing.json"))
    with pytest.raises(PipStageError, match="mapping not found"):
        conda_to_pypi(records)


@pytest.mark.realdata(MAPPING_RELPATH, "channels/conda-forge-py39-subchannel")
def test_conda_to_pypi_from_rattler_records(realdata: Path) -> None:
    import rattler

    from cenv.pypi_names import dist_from_record

    provided: dict[str, str] = {}
    for subdir in ("linux-64", "noarch"):
        path = realdata / "channels" / "conda-forge-py39-subchannel" / subdir / "repodata.json"
        records = rattler.RepoData.from_path(path).into_repo_data(rattler.Channel("conda-forge"))
        provided.update(conda_to_pypi([dist_from_record(r) for r in records], MAPPING))
    assert {"certifi", "six", "setuptools"} <= set(provided)  # noarch python and python-dependent records
    assert not {"python", "python-abi", "openssl", "libzlib", "kernel-headers-linux-aarch64"} & set(provided)


def test_uv_binary_lookup_is_thread_safe() -> None:
    """Platforms run their pip stage in threads; `uv.find_uv_bin` reads `sysconfig`, whose first set-up
    raced (`EXE` None -> TypeError) when two threads looked uv up at once in a fresh process."""
    probe = (
        "import threading, sysconfig\n"
        "from cenv.pip.uv import uv_binary\n"
        "assert getattr(sysconfig, '_CONFIG_VARS', None) is None, 'sysconfig already initialised'\n"
        "barrier = threading.Barrier(8); found = []\n"
        "def one():\n"
        "    barrier.wait(); found.append(uv_binary())\n"
        "threads = [threading.Thread(target=one) for _ in range(8)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "assert len(found) == 8 and len(set(found)) == 1, found\n"
    )
    for _ in range(5):
        subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)


def test_no_wheel_for_the_target_says_which_platforms_have_one(
    make_request: Callable[..., PipRequest], uv_cache: Path
) -> None:
    """The cause uv derives (no wheel for this python/platform) is reported as such, with the platforms the
    package has wheels for, and never blamed on a conda pin that merely appears in the derivation."""
    from cenv.pip.lines import PipLine

    request = make_request(
        "osx-64",
        "app",
        "plat",
        conda={"numpy": "1.26.4"},
        lines=(PipLine("app", "env.yml:7"), PipLine("plat", "env.yml:8")),
    )
    with pytest.raises(PipStageError) as info:
        resolve_pip(request, uv_cache)
    assert info.value.message == "no wheel of `plat` for python 3.11.7 on osx-64 (env.yml:8)"
    text = "\n".join(info.value.hints)
    assert "macosx_14_0_arm64" in text and "from conda" not in info.value.message
    assert "uv's full output: " in text


def test_unresolvable_says_uvs_reason(make_request: Callable[..., PipRequest], uv_cache: Path) -> None:
    """Issue #25: uv's own reason ("there is no version of ...") is in the message, not only in the log."""
    with pytest.raises(PipStageError) as info:
        resolve_pip(make_request("linux-64", "dep-a==99.0"), cache_dir=uv_cache)
    message = info.value.message
    assert message.startswith("the pip requirements cannot be resolved for linux-64"), message
    assert "there is no version of dep-a==99.0" in message, message
    assert "\n" not in message
    assert any(h.startswith("uv's full output: ") for h in info.value.hints)


def test_uv_reasons_joins_each_cause() -> None:
    from cenv.pip.diagnose import uv_reasons

    stderr = (
        "error: No solution found when resolving dependencies:\n"
        "  cause: Because there is no version of six==99.0 and you require six==99.0, we can conclude\n"
        "         that your requirements are unsatisfiable.\n"
        "  hint: six was found on the index\n"
    )
    assert uv_reasons(stderr) == [
        "Because there is no version of six==99.0 and you require six==99.0, we can conclude that your "
        "requirements are unsatisfiable."
    ]
    tty = (
        "  × No solution found when resolving dependencies:\n  ╰─▶ Because a depends on b and b is missing.\n"
    )
    assert uv_reasons(tty) == ["Because a depends on b and b is missing."]


def test_unreachable_pytorch_index_names_the_requirement_that_pulls_torch_in(
    make_request: Callable[..., PipRequest], uv_cache: Path
) -> None:
    """Issue #25: torch comes in through `uses-torch` (-> torchvision -> torch) and the PyTorch index
    cannot be reached: the error names `uses-torch` and its spec line, not "the pip requirements"."""
    from cenv.pip.lines import PipLine

    request = make_request(
        "linux-64",
        "uses-torch",
        "dep-a",
        conda={"numpy": "1.26.4"},
        pytorch_index="http://127.0.0.1:9/whl",
        lines=(PipLine("uses-torch", "env.yml:7"), PipLine("dep-a", "env.yml:8")),
    )
    with pytest.raises(PipStageError) as info:
        resolve_pip(request, cache_dir=uv_cache)
    message = info.value.message
    assert message.startswith("cannot reach the PyTorch index http://127.0.0.1:9/whl"), message
    assert "pulled in by `uses-torch` from env.yml:7" in message, message
