"""environments/ml.yml, the example the README leads with, locked against a real conda-forge mirror.

The mirror (`../shared/realdata/channels/pytorch-gpu-multiplatform`) is real conda-forge repodata without
archives: pytorch's CUDA builds on linux-64 and win-64 and its CPU build on osx-arm64. It stands in for
`conda-forge` through the channel alias; the pip part resolves from a local index holding the PyPI-only
package, composed on top of the example (a later file's `pip-options` win).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tests.cli_helpers import REPO, cenv, mirror
from tests.support import REALDATA
from tests.support.wheel_factory import WheelIndex

ML = REPO / "environments" / "ml.yml"
MIRROR = REALDATA / "channels" / "pytorch-gpu-multiplatform"


def test_ml_example_declares_what_the_readme_says() -> None:
    spec = yaml.safe_load(ML.read_text())
    assert spec["channels"][0] == "conda-forge" and set(spec["variants"]) == {"cpu", "cu12x"}
    assert spec["variants"]["cpu"] == {"cuda": None}
    assert set(spec["platforms"]) == {"linux-64", "osx-arm64", "win-64"}
    names = [d.split()[0] for d in spec["dependencies"] if isinstance(d, str)]
    assert "pytorch" in names and "numpy" in names
    [pip] = [d["pip"] for d in spec["dependencies"] if isinstance(d, dict)]
    assert pip == ["prodigyopt"]
    readme = (REPO / "README.md").read_text()
    assert "cenv create ml.yml" in readme and "cenv lock ml.yml --platform linux-64 --cuda 12.1" in readme


@pytest.mark.realdata("channels/pytorch-gpu-multiplatform")
def test_ml_example_locks_cuda_builds_on_linux_and_windows_and_cpu_on_apple(tmp_path: Path) -> None:
    index = WheelIndex(tmp_path / "pypi")
    index.add("prodigyopt", "1.1.2", files={"prodigyopt/__init__.py": "class Prodigy: ...\n"})
    index.write()
    local = tmp_path / "local-pypi.yml"
    local.write_text(f"pip-options:\n  index-url: {index.simple_url}\n")
    alias = mirror(tmp_path / "mirror", **{"conda-forge": MIRROR})
    lock = tmp_path / "ml.cu12x-lock.yml"  # `--variant X -o PATH` writes PATH (issue #23)
    result = cenv("lock", ML, local, "--variant", "cu12x", "-o", lock, "--channel-alias", alias)
    assert result.code == 0, result.output
    data = yaml.safe_load(lock.read_text())
    builds = {
        p["platform"]: p["url"].rsplit("/", 1)[-1]
        for p in data["package"]
        if p["name"] == "pytorch" and p["manager"] == "conda"
    }
    assert builds["linux-64"].startswith("pytorch-2.8.0-cuda"), builds
    assert builds["win-64"].startswith("pytorch-2.8.0-cuda"), builds
    assert builds["osx-arm64"].startswith("pytorch-2.8.0-cpu"), builds
    pip = {(p["platform"], p["name"]) for p in data["package"] if p["manager"] == "pip"}
    assert pip == {(platform, "prodigyopt") for platform in ("linux-64", "osx-arm64", "win-64")}
    custom = data["metadata"]["custom_metadata"]
    assert "__cuda=12.6" in custom["cenv.virtual-packages.linux-64"]
    assert "__cuda" not in custom["cenv.virtual-packages.osx-arm64"]
    assert custom["cenv.variant"] == "cu12x"
