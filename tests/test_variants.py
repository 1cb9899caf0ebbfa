"""CUDA variants: one spec, one conda-lock v1 lockfile per variant, and `create --variant NAME|auto`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from tests.cli_helpers import REALDATA, cenv, mirror

PY = f"{sys.version_info.major}.{sys.version_info.minor}"


def _load(path: Path) -> dict:
    return yaml.load(path.read_text(), Loader=yaml.CSafeLoader)


@pytest.mark.realdata("channels/pytorch-gpu-multiplatform")
def test_one_lockfile_per_variant(tmp_path: Path) -> None:
    from conda_lock.lockfile import parse_conda_lock_file

    spec = tmp_path / "torch.yml"
    spec.write_text(
        "channels: [conda-forge]\nplatforms: [linux-64, osx-arm64]\n"
        "dependencies:\n  - pytorch >=2.5\n"
        'variants:\n  cu126: {cuda: "12.6"}\n  cu129: {cuda: "12.9"}\n'
    )
    alias = mirror(tmp_path / "m", **{"conda-forge": REALDATA / "channels" / "pytorch-gpu-multiplatform"})
    result = cenv("lock", spec, "--channel-alias", alias, "--json")
    assert result.code == 0, result.output
    summary = json.loads(result.stdout)
    assert sorted(v["variant"] for v in summary["variants"]) == ["cu126", "cu129"]
    assert not (tmp_path / "torch-lock.yml").exists()
    builds = {}
    for variant in ("cu126", "cu129"):
        path = tmp_path / f"torch.{variant}-lock.yml"
        data = _load(path)
        assert data["metadata"]["custom_metadata"]["cenv.variant"] == variant
        assert (
            f"__cuda={variant[2:4]}.{variant[4]}=0"
            in data["metadata"]["custom_metadata"]["cenv.virtual-packages.linux-64"]
        )
        assert "__cuda" not in data["metadata"]["custom_metadata"]["cenv.virtual-packages.osx-arm64"]
        parse_conda_lock_file(path)  # each is a valid conda-lock v1 file on its own
        builds[variant] = {
            p["platform"]: p["url"].rsplit("/", 1)[1] for p in data["package"] if p["name"] == "pytorch"
        }
        check = cenv("lock", spec, "--channel-alias", alias, "--variant", variant, "--check")
        assert check.code == 0, check.output
    # This channel lost the cuda-version constraints (see realdata README), so both pick cuda129 builds.
    assert "cuda" in builds["cu126"]["linux-64"] and "cuda" in builds["cu129"]["linux-64"], builds
    assert builds["cu126"]["osx-arm64"] == builds["cu129"]["osx-arm64"]


def test_cpu_and_cuda_variants_pick_different_builds(tmp_path: Path, demo_channel: Path) -> None:
    spec = _accel_spec(tmp_path, demo_channel)
    spec.write_text(spec.read_text().replace("name: accel\n", "name: accel\nplatforms: [linux-64]\n"))
    assert cenv("lock", spec).code == 0
    cpu, cu12 = tmp_path / "accel.cpu-lock.yml", tmp_path / "accel.cu12-lock.yml"
    diff = cenv("diff", cpu, cu12, "--json")
    assert diff.code == 0, diff.output
    changes = json.loads(diff.stdout)
    text = json.dumps(changes)
    assert "cenv-accel" in text and "rebuilt" in text, text


def test_unknown_variant_is_a_clear_error(tmp_path: Path) -> None:
    spec = tmp_path / "v.yml"
    spec.write_text("channels: [x]\ndependencies: [a]\nvariants:\n  cpu: {cuda: null}\n")
    result = cenv("lock", spec, "--variant", "cu999")
    assert result.code == 2 and "cu999" in result.stderr and "cpu" in result.stderr, result.output
    bad = tmp_path / "bad.yml"
    bad.write_text("channels: [x]\ndependencies: [a]\nvariants:\n  cpu: {cudaa: null}\n")
    result = cenv("lock", bad)
    assert result.code == 1 and "bad.yml:4" in result.stderr, result.output


def _accel_spec(tmp_path: Path, demo_channel: Path) -> Path:
    spec = tmp_path / "accel.yml"
    spec.write_text(
        f"name: accel\nchannels: [{demo_channel.as_posix()}]\n"
        f"dependencies:\n  - python {PY}.*\n  - cenv-accel\n"
        'variants:\n  cpu: {cuda: null}\n  cu12: {cuda: "12.0"}\n'
    )
    return spec


def _accel_build(prefix: Path) -> str:
    record = next((prefix / "conda-meta").glob("cenv-accel-*.json"))
    return json.loads(record.read_text())["build"]


def test_create_variant_auto_follows_the_driver(tmp_path: Path, demo_channel: Path) -> None:
    spec = _accel_spec(tmp_path, demo_channel)
    gpu = cenv(
        "create", spec, "-p", tmp_path / "gpu", "--variant", "auto", env={"CONDA_OVERRIDE_CUDA": "12.4"}
    )
    assert gpu.code == 0, gpu.output
    assert _accel_build(tmp_path / "gpu").startswith("cuda12"), _accel_build(tmp_path / "gpu")
    assert (tmp_path / "accel.cu12-lock.yml").exists()
    cpu = cenv("create", spec, "-p", tmp_path / "cpu", "--variant", "auto", env={"CONDA_OVERRIDE_CUDA": ""})
    assert cpu.code == 0, cpu.output
    assert _accel_build(tmp_path / "cpu").startswith("cpu"), _accel_build(tmp_path / "cpu")
    named = cenv("create", spec, "-p", tmp_path / "named", "--variant", "cpu", "--dry-run")
    assert named.code == 0, named.output
    # No --variant: `auto` (issue #17: `cenv create ml.yml` works for a spec with variants).
    default = cenv("create", spec, "-p", tmp_path / "default", env={"CONDA_OVERRIDE_CUDA": ""})
    assert default.code == 0 and "variant cpu" in default.stderr, default.output
    assert _accel_build(tmp_path / "default").startswith("cpu")


def test_variants_pick_pip_torch_flavours(tmp_path: Path, demo_channel: Path) -> None:
    """cpu / cu121 variants of one spec: the pip part gets torch `+cpu` / `+cu121` from a PyTorch-style index
    (`<root>/<label>/`), and each variant's lockfile says so; then `create --variant auto` installs it."""
    from tests.support.wheel_factory import WheelIndex

    torch_root = tmp_path / "torch"
    for label in ("cpu", "cu118", "cu121"):
        WheelIndex(torch_root, simple_subdir=label).write()  # the label pages exist even before wheels
        index = WheelIndex(torch_root, simple_subdir=label)
        index.add("torch", f"2.3.0+{label}")
        index.write()
    pypi = WheelIndex(tmp_path / "pypi")
    pypi.add("torch", "2.3.0")
    pypi.write()
    spec = tmp_path / "ml.yml"
    spec.write_text(
        f"name: ml\nchannels: [{demo_channel.as_posix()}]\nplatforms: [linux-64]\n"
        f"pip-options:\n  index-url: {pypi.simple_url}\n  pytorch-index: {torch_root.as_uri()}\n"
        f"dependencies:\n  - python {PY}.*\n  - pip:\n      - torch\n"
        'variants:\n  cpu: {cuda: null}\n  cu121: {cuda: "12.4"}\n'
    )
    result = cenv("lock", spec)
    assert result.code == 0, result.output
    torch = {}
    for variant in ("cpu", "cu121"):
        data = _load(tmp_path / f"ml.{variant}-lock.yml")
        [entry] = [p for p in data["package"] if p["name"] == "torch"]
        assert entry["manager"] == "pip"
        torch[variant] = entry["version"]
    assert torch == {"cpu": "2.3.0+cpu", "cu121": "2.3.0+cu121"}, torch
    gpu = cenv(
        "create", spec, "-p", tmp_path / "gpu", "--variant", "auto", env={"CONDA_OVERRIDE_CUDA": "12.4"}
    )
    assert gpu.code == 0, gpu.output
    check = cenv(
        "run", "-p", tmp_path / "gpu", "--", "python", "-c", "import torch; print(torch.TAG, torch.VERSION)"
    )
    assert check.code == 0 and "2.3.0+cu121" in check.stdout, check.output
