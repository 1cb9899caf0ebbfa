"""`cenv lock` options and failures through the real CLI: exclude-newer, channels, alias, errors and hints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from tests.cli_helpers import REALDATA, cenv, mirror

MULTI = REALDATA / "channels" / "pytorch-gpu-multiplatform"
PY39 = REALDATA / "channels" / "conda-forge-py39-subchannel"


def _spec(tmp_path: Path, body: str, name: str = "env.yml") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def _version(lock: Path, name: str, platform: str = "linux-64") -> str:
    data = yaml.safe_load(lock.read_text())
    return next(p["version"] for p in data["package"] if p["name"] == name and p["platform"] == platform)


@pytest.mark.realdata("channels/pytorch-gpu-multiplatform")
def test_exclude_newer_flag_and_spec_key(tmp_path: Path) -> None:
    alias = mirror(tmp_path / "m", **{"conda-forge": MULTI})
    spec = _spec(tmp_path, "channels: [conda-forge]\nplatforms: [linux-64]\ndependencies: [curl]\n")
    assert cenv("lock", spec, "--channel-alias", alias).code == 0
    assert _version(tmp_path / "env-lock.yml", "curl") == "8.17.0"
    result = cenv("lock", spec, "--channel-alias", alias, "--exclude-newer", "2025-03-01")
    assert result.code == 0, result.output
    lock = tmp_path / "env-lock.yml"
    assert _version(lock, "curl") == "8.12.1"
    assert yaml.safe_load(lock.read_text())["metadata"]["custom_metadata"]["cenv.exclude-newer"].startswith(
        "2025-03-01"
    )
    spec.write_text(spec.read_text() + "exclude-newer: 2025-01-01\n")
    # The recorded `--exclude-newer` replays as a flag (issue #23): `--check` says it overrides the spec ...
    checked = cenv("lock", spec, "--check")
    assert checked.code == 0 and "recorded `--exclude-newer 2025-03-01" in checked.stderr, checked.output
    assert "--ignore-recorded" in checked.stderr
    assert cenv("lock", spec, "--channel-alias", alias).code == 0
    assert _version(lock, "curl") == "8.12.1"
    # ... and `--ignore-recorded` re-locks from the spec alone.
    assert cenv("lock", spec, "--channel-alias", alias, "--ignore-recorded").code == 0
    assert _version(lock, "curl") == "8.11.1"
    # The flag wins over the spec.
    assert cenv("lock", spec, "--channel-alias", alias, "--exclude-newer", "2025-12-01T00:00:00Z").code == 0
    assert _version(lock, "curl") == "8.17.0"


def test_bad_exclude_newer_is_exit_2(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "channels: [conda-forge]\ndependencies: [curl]\n")
    result = cenv("lock", spec, "--exclude-newer", "last tuesday")
    assert result.code == 2 and "error:" in result.stderr and "Traceback" not in result.output


def test_channel_flag_replaces_spec_channels_and_env_alias(tmp_path: Path, demo_channel: Path) -> None:
    alias = mirror(tmp_path / "m", **{"cf": demo_channel})
    spec = _spec(
        tmp_path, "channels: [does-not-exist]\nplatforms: [linux-64]\ndependencies: [cenv-demo-app]\n"
    )
    result = cenv("lock", spec, "-c", "cf", env={"CONDA_CHANNEL_ALIAS": alias})
    assert result.code == 0, result.output
    data = yaml.safe_load((tmp_path / "env-lock.yml").read_text())
    assert data["metadata"]["channels"] == [{"url": "cf", "used_env_vars": []}]
    assert all(p["url"].startswith(alias + "/cf/") for p in data["package"])


def test_local_path_channel(tmp_path: Path, demo_channel: Path) -> None:
    spec = _spec(
        tmp_path,
        f"channels: [{demo_channel.as_posix()}]\nplatforms: [linux-64]\ndependencies: [cenv-demo-app]\n",
    )
    result = cenv("lock", spec)
    assert result.code == 0, result.output
    urls = [p["url"] for p in yaml.safe_load((tmp_path / "env-lock.yml").read_text())["package"]]
    assert urls and all(u.startswith(demo_channel.as_uri() + "/") for u in urls), urls


def test_spec_error_names_file_line_and_key(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "name: x\nchanels: [conda-forge]\ndependencies: [curl]\n")
    result = cenv("lock", spec)
    assert result.code == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith("error:") and "env.yml:2" in first and "chanels" in first, result.stderr
    assert "hint:" in result.stderr and "channels" in result.stderr


def test_bad_match_spec_and_platform(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "channels: [conda-forge]\ndependencies:\n  - curl\n  - numpy>=>1\n")
    result = cenv("lock", spec)
    assert result.code == 1 and "env.yml:4" in result.stderr, result.stderr
    spec = _spec(tmp_path, "channels: [conda-forge]\ndependencies: [curl]\n")
    result = cenv("lock", spec, "-p", "linux-65")  # a bad flag value: a usage error (issue #23)
    assert result.code == 2 and "linux-65" in result.stderr and "linux-64" in result.stderr, result.stderr


def test_missing_spec_file(tmp_path: Path) -> None:
    result = cenv("lock", tmp_path / "nope.yml")
    assert result.code == 1 and "nope.yml" in result.stderr and "Traceback" not in result.output


def test_unknown_package_did_you_mean(tmp_path: Path, demo_channel: Path) -> None:
    alias = mirror(tmp_path / "m", **{"conda-forge": demo_channel})
    spec = _spec(tmp_path, "channels: [conda-forge]\nplatforms: [linux-64]\ndependencies: [cenv-demo-ap]\n")
    result = cenv("lock", spec, "--channel-alias", alias)
    assert result.code == 1, result.output
    assert "did you mean" in result.stderr and "`cenv-demo-app`" in result.stderr, result.stderr


@pytest.mark.realdata("channels/conda-forge-py39-subchannel")
def test_package_for_other_platform_only(tmp_path: Path) -> None:
    alias = mirror(tmp_path / "m", **{"conda-forge": PY39})
    spec = _spec(tmp_path, "channels: [conda-forge]\nplatforms: [linux-64]\ndependencies: [m2w64-gcc-libs]\n")
    result = cenv("lock", spec, "--channel-alias", alias)
    assert result.code == 1, result.output
    assert "exists only for" in result.stderr and "win-64" in result.stderr, result.stderr


def test_prefix_is_ignored_with_warning_and_json_summary(tmp_path: Path, demo_channel: Path) -> None:
    alias = mirror(tmp_path / "m", **{"conda-forge": demo_channel})
    spec = _spec(
        tmp_path,
        "channels: [conda-forge]\nplatforms: [linux-64]\ndependencies: [cenv-demo-app]\nprefix: /opt/x\n",
    )
    result = cenv("lock", spec, "--channel-alias", alias, "--json")
    assert result.code == 0, result.output
    assert "warning:" in result.stderr and "prefix" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["platforms"]["linux-64"]["packages"] >= 4  # app, tool, mid, base
    assert "__glibc=2.28=0" in summary["platforms"]["linux-64"]["virtual_packages"]


@pytest.mark.realdata("channels/pytorch-gpu-multiplatform")
def test_glibc_and_osx_flags_recorded(tmp_path: Path) -> None:
    alias = mirror(tmp_path / "m", **{"conda-forge": MULTI})
    spec = _spec(
        tmp_path, "channels: [conda-forge]\nplatforms: [linux-64, osx-arm64]\ndependencies: [curl]\n"
    )
    result = cenv("lock", spec, "--channel-alias", alias, "--glibc", "2.31", "--osx", "13.0")
    assert result.code == 0, result.output
    custom = yaml.safe_load((tmp_path / "env-lock.yml").read_text())["metadata"]["custom_metadata"]
    assert "__glibc=2.31=0" in custom["cenv.virtual-packages.linux-64"]
    assert "__osx=13.0=0" in custom["cenv.virtual-packages.osx-arm64"]


@pytest.mark.realdata("channels/conda-forge-numpy")
def test_repodata_with_null_depends_is_read_as_empty(tmp_path: Path) -> None:
    """conda-forge-numpy's real repodata has `"depends": null` records, which rattler refuses; cenv reads a
    repaired copy whose `info.base_url` keeps the package URLs pointing at the original channel."""
    alias = mirror(tmp_path / "m", **{"conda-forge": REALDATA / "channels" / "conda-forge-numpy"})
    spec = _spec(
        tmp_path,
        "channels: [conda-forge]\nplatforms: [linux-64]\ndependencies: [python 3.12.*, numpy 1.26.*]\n",
    )
    result = cenv("lock", spec, "--channel-alias", alias)
    assert result.code == 0, result.output
    assert _version(tmp_path / "env-lock.yml", "numpy") == "1.26.4"
    data = yaml.safe_load((tmp_path / "env-lock.yml").read_text())
    assert all(p["url"].startswith(alias + "/conda-forge/") for p in data["package"])
