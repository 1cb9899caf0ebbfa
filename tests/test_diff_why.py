"""`cenv diff` and `cenv why` on real lockfiles (conda-lock, pixi, explicit) and locks `cenv lock` wrote."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from tests.cli_helpers import REALDATA, cenv, mirror

from cenv.errors import LockfileError
from cenv.lock.diff import build_of, diff_locks, render_diff
from cenv.lock.importers import load_any_lock
from cenv.lock.keys import (
    CUSTOM_REQUESTED,
    CUSTOM_VERSION,
)
from cenv.lock.models import (
    LockedPackage,
    Lockfile,
    LockMetadata,
    PackageHash,
)
from cenv.why import default_lockfile, explain, pick_platform, render_why, why

LOCKS = REALDATA / "locks"
PANGEO = LOCKS / "pangeo-notebook" / "conda-lock.yml"
PANGEO_TORCH = LOCKS / "pangeo-pytorch-notebook" / "conda-lock.yml"
MULTI = REALDATA / "channels" / "pytorch-gpu-multiplatform"
TORCH_SPEC = (
    "name: torch\nchannels: [conda-forge]\nplatforms: [linux-64, osx-arm64, win-64]\n"
    "dependencies:\n  - pytorch >=2.5,<3\n  - curl\n"
)


def _pkg(
    name: str, version: str, build: str = "h0_0", deps: dict[str, str] | None = None, **kw: str
) -> LockedPackage:
    return LockedPackage(
        name=name,
        version=version,
        platform=kw.get("platform", "linux-64"),
        manager=kw.get("manager", "conda"),  # type: ignore[arg-type]
        dependencies=deps or {},
        url=f"https://conda.anaconda.org/conda-forge/linux-64/{name}-{version}-{build}.conda",
        hash=PackageHash(sha256=kw.get("sha256", "0" * 64)),
    )


def _lock(*packages: LockedPackage, requested: str | None = None) -> Lockfile:
    custom = None if requested is None else {CUSTOM_VERSION: "0", CUSTOM_REQUESTED + "linux-64": requested}
    return Lockfile(
        metadata=LockMetadata(platforms=("linux-64",), custom_metadata=custom), package=tuple(packages)
    )


# ------------------------------------------------------------------------------------------------ diff


def test_diff_categories_on_small_locks() -> None:
    old = _lock(
        _pkg("numpy", "1.26.4", "py312h0_0"),
        _pkg("scipy", "1.14.0"),
        _pkg("gone", "1.0"),
        _pkg("pytorch", "2.8.0", "cpu_generic_py312_h1"),
        _pkg("same", "1.0"),
        _pkg("requests", "2.31.0", manager="pip"),
        _pkg("repacked", "1.0", sha256="1" * 64),
    )
    new = _lock(
        _pkg("numpy", "2.1.3", "py312h9_0"),
        _pkg("scipy", "1.13.1"),
        _pkg("fresh", "0.1"),
        _pkg("pytorch", "2.8.0", "cuda126_py312_h7"),
        _pkg("same", "1.0"),
        _pkg("requests", "2.32.3", manager="pip"),
        _pkg("repacked", "1.0", sha256="2" * 64),
    )
    result = diff_locks(old, new)
    linux = result.platform("linux-64")
    assert linux is not None and result.has_changes
    assert linux.counts() == {"added": 1, "removed": 1, "upgraded": 2, "downgraded": 1, "rebuilt": 2}
    assert result.unchanged == {"linux-64": 1}
    (torch,) = [c for c in linux.of_kind("rebuilt") if c.name == "pytorch"]
    assert (torch.old_build, torch.new_build) == ("cpu_generic_py312_h1", "cuda126_py312_h7")
    assert [c.name for c in linux.of_kind("upgraded", "pip")] == ["requests"]
    text = render_diff(result)
    assert "^ numpy" in text and "1.26.4 py312h0_0 -> 2.1.3 py312h9_0" in text
    assert "v scipy" in text and "+ fresh" in text and "- gone" in text
    assert "~ pytorch" in text and "cpu_generic_py312_h1 -> cuda126_py312_h7" in text
    assert "requests (pip)" in text and "same build, other checksum" in text
    data = result.to_json()
    assert data["platforms"]["linux-64"]["counts"]["unchanged"] == 1
    assert data["platforms"]["linux-64"]["rebuilt"][0]["old"]["build"] == "cpu_generic_py312_h1"
    assert not diff_locks(old, old).has_changes


def test_version_order_is_conda_order_not_text() -> None:
    result = diff_locks(
        _lock(_pkg("a", "1.9"), _pkg("b", "2.0")), _lock(_pkg("a", "1.10"), _pkg("b", "2.0.0"))
    )
    linux = result.platform("linux-64")
    assert linux is not None
    assert [c.name for c in linux.of_kind("upgraded")] == ["a"]
    assert not linux.of_kind("rebuilt") and result.unchanged["linux-64"] == 1  # 2.0 == 2.0.0


def test_build_from_filename() -> None:
    assert build_of(_pkg("libgcc-ng", "15.2.0", "h69a702a_7")) == "h69a702a_7"
    tarball = replace(_pkg("x", "1"), url="https://x/linux-64/py-foo-bar-1.0-py_0.tar.bz2")
    assert build_of(tarball) == "py_0"
    assert build_of(_pkg("requests", "2.0", manager="pip")) is None


@pytest.mark.realdata("locks/pangeo-notebook", "locks/pangeo-pytorch-notebook")
def test_diff_real_conda_locks_through_cli() -> None:
    result = cenv("diff", PANGEO, PANGEO_TORCH, "--json")
    assert result.code == 0, result.output
    data = json.loads(result.stdout)
    assert data["has_changes"]
    assert set(data["platforms_removed"]) == {"linux-aarch64", "osx-64", "osx-arm64"}
    linux = data["platforms"]["linux-64"]
    added = {c["name"]: c for c in linux["added"]}
    assert "pytorch" in added and "cuda" in added["pytorch"]["new"]["build"]
    old = load_any_lock(PANGEO).packages_for("linux-64")
    new = load_any_lock(PANGEO_TORCH).packages_for("linux-64")
    counts = linux["counts"]
    assert counts["unchanged"] + counts["removed"] + sum(
        counts[k] for k in ("upgraded", "downgraded", "rebuilt")
    ) == len(old)
    assert counts["added"] + counts["unchanged"] + sum(
        counts[k] for k in ("upgraded", "downgraded", "rebuilt")
    ) == len(new)
    text = cenv("diff", PANGEO, PANGEO_TORCH, "--exit-code")
    assert text.code == 1 and not text.stderr, "--exit-code: 1 when the locks differ, and no error message"
    text = text.stdout
    assert "linux-64:" in text and "+ pytorch" in text and "osx-arm64: platform removed" in text


@pytest.mark.realdata("locks/pangeo-ml-notebook")
def test_diff_same_lock_in_two_formats_is_empty() -> None:
    explicit = LOCKS / "pangeo-ml-notebook" / "conda-linux-64.lock"
    conda_lock = LOCKS / "pangeo-ml-notebook" / "conda-lock.yml"
    result = cenv("diff", explicit, conda_lock, "--exit-code")
    assert result.code == 0, result.output
    assert "linux-64: no changes" in result.stdout


@pytest.mark.realdata("locks/rattler-lock-samples")
def test_diff_pixi_conda_to_pypi() -> None:
    result = cenv(
        "diff", LOCKS / "rattler-lock-samples" / "v4_numpy-lock.yml",
        LOCKS / "rattler-lock-samples" / "v6_numpy-as-pypi-lock.yml", "--json",
    )  # fmt: skip
    assert result.code == 0, result.output
    osx = json.loads(result.stdout)["platforms"]["osx-arm64"]
    assert {"name": "numpy", "manager": "pip"}.items() <= next(
        c for c in osx["added"] if c["name"] == "numpy"
    ).items()
    assert any(c["name"] == "numpy" and c["manager"] == "conda" for c in osx["removed"])


def test_diff_missing_file_is_a_user_error(tmp_path: Path) -> None:
    result = cenv("diff", tmp_path / "nope-lock.yml", PANGEO)
    assert result.code == 1 and "error:" in result.stderr and "Traceback" not in result.output


@pytest.fixture(scope="module")
def torch_locks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One spec locked four ways on the real pytorch-gpu-multiplatform channel.

    `gpu`: `--cuda 12.6`, three platforms (alone in its folder, for `cenv why`'s default lockfile);
    `cpu`: `--cuda none`, osx-arm64 only (the channel has no CPU pytorch for linux-64 or win-64);
    `old` / `new`: linux-64 + osx-arm64 with and without `--exclude-newer 2025-09-01`.
    """
    tmp = tmp_path_factory.mktemp("torch")
    spec = tmp / "torch.yml"
    spec.write_text(TORCH_SPEC)
    alias = mirror(tmp / "mirror", **{"conda-forge": MULTI})
    (tmp / "gpu").mkdir()
    two = ("-p", "linux-64", "-p", "osx-arm64")
    runs = {
        "gpu": (tmp / "gpu" / "torch-lock.yml", ("--cuda", "12.6")),
        "cpu": (tmp / "cpu-lock.yml", ("--cuda", "none", "-p", "osx-arm64")),
        "old": (tmp / "old-lock.yml", ("--cuda", "12.6", *two, "--exclude-newer", "2025-09-01")),
        "new": (tmp / "new-lock.yml", ("--cuda", "12.6", *two)),
    }
    for out, flags in runs.values():
        result = cenv("lock", spec, *flags, "--channel-alias", alias, "-o", out)
        assert result.code == 0, result.output
    return {name: out for name, (out, _) in runs.items()}


@pytest.mark.realdata("channels/pytorch-gpu-multiplatform")
def test_diff_cuda_against_cpu_lock(torch_locks: dict[str, Path]) -> None:
    result = cenv("diff", torch_locks["cpu"], torch_locks["gpu"], "--json")
    assert result.code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data["platforms_added"]) == {"linux-64", "win-64"}
    osx = data["platforms"]["osx-arm64"]
    assert not any(osx[k] for k in ("added", "removed", "upgraded", "downgraded", "rebuilt"))
    assert osx["counts"]["unchanged"] > 0


@pytest.mark.realdata("channels/pytorch-gpu-multiplatform")
def test_diff_rebuilt_and_upgraded_after_exclude_newer(torch_locks: dict[str, Path]) -> None:
    result = cenv("diff", torch_locks["old"], torch_locks["new"], "--json")
    assert result.code == 0, result.output
    data = json.loads(result.stdout)["platforms"]
    (osx_torch,) = [c for c in data["osx-arm64"]["rebuilt"] if c["name"] == "pytorch"]
    assert osx_torch["old"] == {"version": "2.8.0", "build": "cpu_generic_py313_heefb1e6_0"}
    assert osx_torch["new"] == {"version": "2.8.0", "build": "cpu_generic_py313_h1ee2325_2"}
    (linux_torch,) = [c for c in data["linux-64"]["upgraded"] if c["name"] == "pytorch"]
    assert linux_torch["old"]["version"] == "2.7.1" and linux_torch["new"]["version"] == "2.8.0"
    assert "cuda129" in linux_torch["new"]["build"]
    text = cenv("diff", torch_locks["old"], torch_locks["new"]).stdout
    assert "cpu_generic_py313_heefb1e6_0 -> cpu_generic_py313_h1ee2325_2" in text
    assert "2.7.1 cuda129_mkl_py312_hfde4d7d_304 -> 2.8.0 cuda129_mkl_py313_h7947483_302" in text
    assert cenv("diff", torch_locks["new"], torch_locks["new"], "--exit-code").code == 0
    assert cenv("diff", torch_locks["old"], torch_locks["new"], "--exit-code").code == 1


# ------------------------------------------------------------------------------------------------ why


def test_why_paths_shortest_first_with_cycles() -> None:
    lock = _lock(
        _pkg("app", "1", deps={"lib": "", "mid": ""}),
        _pkg("mid", "1", deps={"lib": "", "loop": ""}),
        _pkg("loop", "1", deps={"mid": "", "leaf": ""}),
        _pkg("lib", "1", deps={"leaf": ""}),
        _pkg("leaf", "1"),
        _pkg("other", "1", deps={"leaf": ""}),
        requested="app >=1\nother",
    )
    assert why(lock, "leaf", "linux-64") == [
        ["other", "leaf"],
        ["app", "lib", "leaf"],
        ["app", "mid", "lib", "leaf"],
        ["app", "mid", "loop", "leaf"],
    ]
    assert why(lock, "leaf", "linux-64", limit=1) == [["other", "leaf"]]
    assert why(lock, "app", "linux-64") == [["app"]]
    result = explain(lock, "LEAF", "linux-64", limit=2)
    assert result.truncated and result.requested == {"other": "other", "app": "app >=1"}
    text = render_why(result)
    assert "leaf <- lib <- app  (requested: `app >=1`)" in text and "more paths" in text


def test_why_not_locked_and_virtual() -> None:
    lock = _lock(_pkg("a", "1", deps={"__glibc": ">=2.17", "ghost": ""}), requested="a")
    missing = explain(lock, "ghost", "linux-64")
    assert not missing.present and missing.mentioned_by == ("a",)
    assert "not in the lock" in render_why(missing) and "a" in render_why(missing)
    nothing = explain(lock, "zzz", "linux-64")
    assert "no locked package depends on it" in render_why(nothing)
    virtual = explain(lock, "__glibc", "linux-64")
    assert virtual.virtual is not None and "virtual package" in render_why(virtual)
    with pytest.raises(LockfileError) as err:
        explain(lock, "a", "osx-arm64")
    assert "linux-64" in err.value.hints[0]


@pytest.mark.realdata("locks/pangeo-pytorch-notebook")
def test_why_foreign_lock_uses_top_level_roots() -> None:
    lock = load_any_lock(PANGEO_TORCH)
    result = explain(lock, "cuda-version", "linux-64")
    assert result.present and not result.roots_from_spec and result.paths
    assert all(path[-1] == "cuda-version" for path in result.paths)
    depended_on = {d for p in lock.packages_for("linux-64") for d in p.dependencies}
    assert all(path[0] not in depended_on for path in result.paths)
    lengths = [len(p) for p in result.paths]
    assert lengths == sorted(lengths)


@pytest.mark.realdata("channels/pytorch-gpu-multiplatform")
def test_why_cli_on_cenv_lock(torch_locks: dict[str, Path]) -> None:
    gpu = torch_locks["gpu"]
    workdir = gpu.parent
    result = cenv("why", "cuda-version", "-p", "linux-64", cwd=workdir)  # the only *-lock.yml there
    assert result.code == 0, result.output
    assert "cuda-version" in result.stdout and "(requested: `pytorch >=2.5,<3`)" in result.stdout
    data = json.loads(cenv("why", "cuda-version", "-p", "linux-64", "--json", cwd=workdir).stdout)
    assert data["in_lock"] and data["paths"][0][0] == "pytorch" and data["roots"] == "requested"
    virtual = cenv("why", "__cuda", "-p", "linux-64", cwd=workdir)
    assert virtual.code == 1 and "__cuda=12.6=0" in virtual.stdout
    absent = cenv("why", "tensorflow", "-l", gpu, "-p", "osx-arm64")
    assert absent.code == 1 and "not in the lock" in absent.stdout
    no_platform = cenv("why", "curl", "-l", gpu)  # three platforms: the host's if linux-64, etc.
    assert no_platform.code == 0 or "-p/--platform" in no_platform.stderr


@pytest.mark.realdata("locks/pangeo-notebook")
def test_default_lockfile_and_platform(tmp_path: Path) -> None:
    with pytest.raises(LockfileError) as err:
        default_lockfile(tmp_path)
    assert "--lockfile" in err.value.hints[0]
    result = cenv("why", "numpy", cwd=tmp_path)
    assert result.code == 1 and "hint:" in result.stderr
    shutil.copy(PANGEO, tmp_path / "a-lock.yml")
    assert default_lockfile(tmp_path) == tmp_path / "a-lock.yml"
    shutil.copy(PANGEO, tmp_path / "b-lock.yml")
    with pytest.raises(LockfileError, match="several lockfiles"):
        default_lockfile(tmp_path)
    one = _lock(_pkg("a", "1"))
    assert pick_platform(one, None) == "linux-64" and pick_platform(one, "osx-64") == "osx-64"
