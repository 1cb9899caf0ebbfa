"""`cenv lock` end to end on real repodata from ../shared/realdata (no archives needed to lock)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from tests.cli_helpers import REALDATA, Result, cenv, mirror

PANGEO = [
    REALDATA / "specs" / n / "environment.yml"
    for n in ("pangeo-pytorch-notebook", "pangeo-notebook", "pangeo-base-notebook")
]
PANGEO_VP = REALDATA / "specs" / "pangeo-pytorch-notebook" / "virtual-packages.yml"
# Every test here locks real repodata (the demo channel's lock tests: test_create.py, test_variants.py).
pytestmark = pytest.mark.realdata(
    *(str(p.parent.relative_to(REALDATA)) for p in PANGEO),
    "channels/pangeo-cuda",
    "channels/pytorch-gpu-multiplatform",
    "channels/conda-forge-py39-subchannel",
    "locks/pangeo-pytorch-notebook",
)


def _versions(lock_path: Path, platform: str = "linux-64") -> dict[str, str]:
    data = yaml.safe_load(lock_path.read_text())
    return {
        p["name"]: p["version"]
        for p in data["package"]
        if p["platform"] == platform and p["manager"] == "conda"
    }


def _lock_pangeo(root: Path, *extra: str | Path, env: dict[str, str] | None = None) -> Result:
    """The pangeo reproduction: three merged files, their virtual-packages.yml, glibc 2.34, linux-64, and
    conda-forge aliased to the realdata pangeo-cuda repodata as a mirror under `root`."""
    alias = mirror(root / "mirror", **{"conda-forge": REALDATA / "channels" / "pangeo-cuda"})
    common = ["--virtual-packages", PANGEO_VP, "--glibc", "2.34", "--channel-alias", alias, "-p", "linux-64"]
    return cenv("lock", *PANGEO, *common, *extra, env=env)


@pytest.fixture(scope="module")
def pangeo_lock(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("pangeo")
    out = tmp / "pangeo-lock.yml"
    result = _lock_pangeo(tmp, "-o", out, env={"CENV_CACHE_DIR": str(tmp / "cache")})
    assert result.code == 0, result.output
    return out


def test_pangeo_matches_real_lock(pangeo_lock: Path) -> None:
    ours = _versions(pangeo_lock)
    theirs = _versions(REALDATA / "locks" / "pangeo-pytorch-notebook" / "conda-lock.yml")
    assert len(theirs) == 885
    agree = sum(1 for name, version in theirs.items() if ours.get(name) == version)
    assert agree >= 875, sorted((n, v, ours.get(n)) for n, v in theirs.items() if ours.get(n) != v)


def test_pangeo_lock_records_assumptions(pangeo_lock: Path) -> None:
    data = yaml.safe_load(pangeo_lock.read_text())
    custom = data["metadata"]["custom_metadata"]
    vps = custom["cenv.virtual-packages.linux-64"]
    assert "__cuda=12.0=0" in vps and "__glibc=2.34=0" in vps
    assert data["metadata"]["channels"] == [{"url": "conda-forge", "used_env_vars": []}]
    assert data["metadata"]["platforms"] == ["linux-64"]
    for package in data["package"]:
        assert package["hash"]["sha256"] and package["hash"]["md5"], package["name"]
        assert package["category"] == "main"
    torch = next(p for p in data["package"] if p["name"] == "pytorch")
    assert "cuda" in torch["url"]


def test_lockfile_readable_by_conda_lock_and_rattler(pangeo_lock: Path) -> None:
    import rattler
    from conda_lock.lockfile import parse_conda_lock_file

    parsed = parse_conda_lock_file(pangeo_lock)
    assert len(parsed.package) == len(_versions(pangeo_lock))
    lock = rattler.LockFile.from_path(pangeo_lock)
    env = lock.default_environment()
    assert env is not None
    records = env.conda_repodata_records()
    assert sum(len(v) for v in records.values()) == len(parsed.package)


def test_lock_is_deterministic(pangeo_lock: Path) -> None:
    before = pangeo_lock.read_bytes()
    result = _lock_pangeo(pangeo_lock.parent, "-o", pangeo_lock)
    assert result.code == 0, result.output
    assert pangeo_lock.read_bytes() == before


def test_pangeo_without_cuda_fails_with_hint(tmp_path: Path) -> None:
    alias = mirror(tmp_path / "mirror", **{"conda-forge": REALDATA / "channels" / "pangeo-cuda"})
    out = tmp_path / "nocuda-lock.yml"
    out.write_text("precious\n")
    result = cenv("lock", *PANGEO, "--cuda", "none", "--channel-alias", alias, "-p", "linux-64", "-o", out)
    assert result.code == 1, result.output
    assert "error:" in result.stderr and "Traceback" not in result.output
    assert "hint:" in result.stderr and "__cuda" in result.stderr and "--cuda" in result.stderr
    assert out.read_text() == "precious\n", "a failed lock must not touch the existing lockfile"


def test_multiplatform_cuda_builds(tmp_path: Path) -> None:
    spec = tmp_path / "torch.yml"
    spec.write_text(
        "name: torch\nchannels: [conda-forge]\nplatforms: [linux-64, osx-arm64, win-64]\n"
        "dependencies:\n  - pytorch >=2.8.0,<3\n  - curl >=8.17.0,<9\n"
    )
    alias = mirror(
        tmp_path / "mirror", **{"conda-forge": REALDATA / "channels" / "pytorch-gpu-multiplatform"}
    )
    result = cenv("lock", spec, "--cuda", "12.6", "--channel-alias", alias, "--json")
    assert result.code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary["platforms"]) == {"linux-64", "osx-arm64", "win-64"}
    data = yaml.safe_load((tmp_path / "torch-lock.yml").read_text())
    torch = {p["platform"]: p["url"].rsplit("/", 1)[1] for p in data["package"] if p["name"] == "pytorch"}
    assert "cuda" in torch["linux-64"] and "cuda" in torch["win-64"], torch
    assert "cpu" in torch["osx-arm64"], torch
    custom = data["metadata"]["custom_metadata"]
    assert "__cuda=12.6" in custom["cenv.virtual-packages.linux-64"]
    assert "__cuda" not in custom["cenv.virtual-packages.osx-arm64"]
    assert "__osx=11.0" in custom["cenv.virtual-packages.osx-arm64"]


def test_selectors_pick_per_platform(tmp_path: Path) -> None:
    spec = tmp_path / "sel.yml"
    spec.write_text(
        "channels: [conda-forge]\nplatforms: [linux-64, osx-arm64, win-64]\n"
        "dependencies:\n  - python 3.9.*\n  - readline  # [unix]\n  - libgcc-ng  # [linux64]\n"
        "  - m2w64-gcc-libs  # [win]\n"
    )
    alias = mirror(
        tmp_path / "mirror", **{"conda-forge": REALDATA / "channels" / "conda-forge-py39-subchannel"}
    )
    result = cenv("lock", spec, "--channel-alias", alias)
    assert result.code == 0, result.output
    data = yaml.safe_load((tmp_path / "sel-lock.yml").read_text())
    requested = data["metadata"]["custom_metadata"]
    assert (
        "readline" in requested["cenv.requested.linux-64"]
        and "readline" in requested["cenv.requested.osx-arm64"]
    )
    assert "readline" not in requested["cenv.requested.win-64"]
    assert "libgcc-ng" in requested["cenv.requested.linux-64"]
    assert "libgcc-ng" not in requested["cenv.requested.osx-arm64"]
    assert "m2w64-gcc-libs" in requested["cenv.requested.win-64"]


def test_export_explicit(pangeo_lock: Path, tmp_path: Path) -> None:
    from rattler.explicit_environment import ExplicitEnvironmentSpec

    out = tmp_path / "pangeo-linux-64.txt"
    result = cenv("export", pangeo_lock, "--format", "explicit", "--platform", "linux-64", "-o", out)
    assert result.code == 0, result.output
    text = out.read_text()
    assert "@EXPLICIT" in text and "# platform: linux-64" in text
    parsed = ExplicitEnvironmentSpec.from_path(out)
    assert len(parsed.packages) == len(_versions(pangeo_lock))


def test_update_one_package_keeps_the_rest(tmp_path: Path) -> None:
    """Start from the real pangeo lock (made by conda-lock): `--update xarray` keeps all 885 packages where
    that lock has them, while a plain re-lock moves a few (cudnn 9.10 -> 9.11)."""
    real = REALDATA / "locks" / "pangeo-pytorch-notebook" / "conda-lock.yml"
    theirs = _versions(real)
    out = tmp_path / "pangeo-lock.yml"
    out.write_bytes(real.read_bytes())
    result = _lock_pangeo(tmp_path, "-o", out, "--update", "xarray")
    assert result.code == 0, result.output
    ours = _versions(out)
    changed = sorted(n for n, v in theirs.items() if ours.get(n) != v)
    assert changed == [], changed
    assert "cudnn" not in result.stderr
    plain = tmp_path / "plain-lock.yml"
    assert _lock_pangeo(tmp_path, "-o", plain).code == 0
    relocked = _versions(plain)
    moved = sorted(n for n, v in theirs.items() if relocked.get(n) != v)
    assert "cudnn" in moved, moved


def test_update_reports_changes_and_check(tmp_path: Path) -> None:
    spec = tmp_path / "torch.yml"
    spec.write_text(
        "channels: [conda-forge]\nplatforms: [linux-64]\ndependencies:\n  - curl <8.17\n  - zstd\n"
    )
    alias = mirror(
        tmp_path / "mirror", **{"conda-forge": REALDATA / "channels" / "pytorch-gpu-multiplatform"}
    )
    assert cenv("lock", spec, "--channel-alias", alias).code == 0
    assert cenv("lock", spec, "--check", "--channel-alias", alias).code == 0
    spec.write_text(spec.read_text().replace("curl <8.17", "curl"))
    stale = cenv("lock", spec, "--check", "--channel-alias", alias)
    assert stale.code == 1 and "dependency-changed" in stale.stdout, stale.output
    result = cenv("lock", spec, "--update", "curl", "--channel-alias", alias)
    assert result.code == 0, result.output
    assert "curl" in result.stderr and "8.17.0" in result.stderr, result.stderr
    assert cenv("lock", "--update", "curl", spec, "--check", "--channel-alias", alias).code == 0
