"""The pip stage against real PyPI, a few seconds each.

Marked `network`: runs by default and fails without PyPI (tests/support/network.py).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from cenv.pip import PipRequest, resolve_pip
from cenv.virtual_packages import VirtualPackageOptions, build_virtual_packages

pytestmark = pytest.mark.network

CUTOFF = datetime(2024, 6, 1, tzinfo=timezone.utc)


def _request(platform: str, *requirements: str, conda: dict[str, str] | None = None) -> PipRequest:
    osx = "11.0" if platform.startswith("osx") else None
    return PipRequest(
        platform=platform,
        python_version="3.11.7",
        requirements=requirements,
        conda_provided=conda or {},
        virtual_packages=build_virtual_packages(platform, VirtualPackageOptions(osx=osx)),
        exclude_newer=CUTOFF,
    )


@pytest.mark.parametrize(
    ("platform", "wheel_suffix"),
    [
        ("linux-64", "-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"),
        ("osx-arm64", "-cp311-cp311-macosx_11_0_arm64.whl"),
        ("win-64", "-cp311-cp311-win_amd64.whl"),
    ],
)
def test_platform_specific_wheels_from_pypi(platform: str, wheel_suffix: str, tmp_path: Path) -> None:
    packages = {p.name: p for p in resolve_pip(_request(platform, "pyyaml"), cache_dir=tmp_path)}
    assert set(packages) == {"pyyaml"}
    pyyaml = packages["pyyaml"]
    assert pyyaml.version == "6.0.1"  # the newest before the cut-off
    assert pyyaml.url.startswith("https://files.pythonhosted.org/") and pyyaml.url.endswith(wheel_suffix)
    assert len(pyyaml.sha256) == 64 and pyyaml.requested


def test_conda_provided_packaging_is_pinned_not_duplicated(tmp_path: Path) -> None:
    request = _request("linux-64", "build==1.2.1", conda={"packaging": "23.2"})
    packages = {p.name: p for p in resolve_pip(request, cache_dir=tmp_path)}
    assert "packaging" not in packages
    assert "packaging" in packages["build"].dependencies
    assert packages["pyproject-hooks"].version and not packages["pyproject-hooks"].requested
