"""Real PyPI end to end: the conda part provides a real Python package, built as a noarch conda package from
PyPI's own wheel; the pip part adds a real PyPI package that depends on it.

Marked `network`: runs by default and fails without PyPI (tests/support/network.py).
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from tests.cli_helpers import cenv
from tests.support.channel_factory import ChannelFactory
from uv import find_uv_bin

pytestmark = pytest.mark.network

PACKAGING = "24.1"


def _conda_package_from_wheel(channel: ChannelFactory, wheel: Path, name: str, version: str) -> None:
    """A noarch python conda package whose site-packages are the wheel's files (as conda-forge builds it)."""
    with zipfile.ZipFile(wheel) as archive:
        files = {
            f"site-packages/{member}": archive.read(member)
            for member in archive.namelist()
            if not member.endswith("/") and not member.endswith(".dist-info/RECORD")
        }
    installer = next(k for k in files if k.endswith(".dist-info/METADATA")).replace("METADATA", "INSTALLER")
    files[installer] = b"conda\n"
    channel.package(name, version, noarch="python", depends=["python >=3.8"], files=files)


def test_real_pypi_package_on_top_of_conda_provided_one(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    download = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(wheels),
         f"packaging=={PACKAGING}"],
        capture_output=True, text=True,
    )  # fmt: skip
    # No skip on an outage: `network` tests fail without PyPI (tests/support/network.py, README "Testing").
    assert download.returncode == 0, f"pip download from PyPI failed: {download.stderr.strip()[-300:]}"
    channel = ChannelFactory(tmp_path / "channels", "cf")
    channel.python_wrapper()
    _conda_package_from_wheel(channel, next(wheels.glob("packaging-*.whl")), "packaging", PACKAGING)
    channel.write_repodata()
    spec = tmp_path / "real.yml"
    spec.write_text(
        f"channels: [{channel.path.as_posix()}]\n"
        "dependencies:\n  - python\n  - packaging\n  - pip:\n      - pyproject-metadata==0.8.0\n"
    )
    locked = cenv("lock", spec)
    assert locked.code == 0, locked.output
    data = yaml.load((tmp_path / "real-lock.yml").read_text(), Loader=yaml.CSafeLoader)
    pip = {p["name"]: p for p in data["package"] if p["manager"] == "pip"}
    assert set(pip) == {"pyproject-metadata"}, pip  # packaging comes from conda, not duplicated
    assert pip["pyproject-metadata"]["url"].startswith("https://files.pythonhosted.org/")
    prefix = tmp_path / "env"
    created = cenv("create", spec, "-p", prefix)
    assert created.code == 0, created.output
    python = prefix / "bin" / "python"
    run = subprocess.run(
        [python, "-c", "import packaging, pyproject_metadata; print(packaging.__version__)"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0 and run.stdout.strip() == PACKAGING, run.stderr
    listing = subprocess.run(
        [find_uv_bin(), "pip", "list", "--python", str(python), "--format", "freeze"],
        capture_output=True, text=True,
    )  # fmt: skip
    lines = [line.lower() for line in listing.stdout.splitlines()]
    assert [line for line in lines if line.startswith("packaging")] == [f"packaging=={PACKAGING}"], lines
    assert "pyproject-metadata==0.8.0" in lines
