"""A re-lock plans from the existing lockfile's head (its metadata) and reads the whole file while rattler
solves (issue #21); whenever the whole file disagrees, it does what it did before from the whole file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from tests.cli_helpers import REALDATA, cenv, mirror

from cenv.lock.head import read_lock_head
from cenv.lock.io import read_lockfile

MULTI = REALDATA / "channels" / "pytorch-gpu-multiplatform"


def _curl(lock: Path) -> str:
    data = yaml.safe_load(lock.read_text())
    return next(p["version"] for p in data["package"] if p["name"] == "curl")


@pytest.mark.realdata("channels/pytorch-gpu-multiplatform")
def test_relock_replays_recorded_inputs_only_from_a_readable_lockfile(tmp_path: Path) -> None:
    alias = mirror(tmp_path / "m", **{"conda-forge": MULTI})
    spec = tmp_path / "env.yml"
    spec.write_text("channels: [conda-forge]\nplatforms: [linux-64]\ndependencies: [curl]\n")
    lock = tmp_path / "env-lock.yml"
    assert cenv("lock", spec, "--channel-alias", alias, "--exclude-newer", "2025-03-01").code == 0
    assert _curl(lock) == "8.12.1"
    head = read_lock_head(lock)
    assert head is not None and head.metadata == read_lockfile(lock).metadata and head.package == ()
    # The recorded `--exclude-newer` replays (the head's recorded inputs, the whole file agrees).
    assert cenv("lock", spec, "--channel-alias", alias).code == 0
    assert _curl(lock) == "8.12.1"
    # A package entry no reader accepts: the head alone still reads, but the lockfile is not one, so its
    # recorded inputs are ignored, as before the head was read on its own.
    text = lock.read_text()
    broken = re.sub(r"sha256: [0-9a-f]{64}", "sha256: not-a-hash", text, count=1)
    assert broken != text
    lock.write_text(broken)
    assert read_lock_head(lock) is not None
    # The flag given again: the plan is the same with or without the recorded inputs, so the broken
    # package list cannot change the outcome (and is not read before the lock).
    result = cenv("lock", spec, "--channel-alias", alias, "--exclude-newer", "2025-03-01")
    assert result.code == 0, result.output
    assert _curl(lock) == "8.12.1"
    lock.write_text(broken)
    result = cenv("lock", spec, "--channel-alias", alias)
    assert result.code == 0, result.output
    assert _curl(lock) == "8.17.0"
    assert "cenv.exclude-newer" not in yaml.safe_load(lock.read_text())["metadata"]["custom_metadata"]


def test_head_is_none_without_a_package_key_or_platforms(tmp_path: Path) -> None:
    path = tmp_path / "lock.yml"
    assert read_lock_head(path) is None  # no file
    path.write_text("version: 1\nmetadata:\n  platforms:\n  - linux-64\n")
    assert read_lock_head(path) is None  # no `package:` key
    path.write_text("version: 1\nmetadata:\n  platforms: []\npackage: []\n")
    assert read_lock_head(path) is None  # the platforms would come from the packages
    path.write_text("version: 1\nmetadata:\n  platforms:\n  - linux-64\npackage: []\nmetadata: {}\n")
    assert read_lock_head(path) is None  # a second top-level key after the packages
    path.write_text("version: 1\nmetadata:\n  platforms:\n  - linux-64\npackage:\n- name: [\n")
    head = read_lock_head(path)
    assert head is not None and head.metadata.platforms == ("linux-64",)


@pytest.mark.realdata("channels/pytorch-gpu-multiplatform")
def test_failed_relock_is_reported_once_and_keeps_the_lockfile(tmp_path: Path) -> None:
    """Both re-lock paths (plan equal to the bare one, and not) report the solve's failure as before."""
    alias = mirror(tmp_path / "m", **{"conda-forge": MULTI})
    spec = tmp_path / "env.yml"
    spec.write_text("channels: [conda-forge]\nplatforms: [linux-64]\ndependencies: [curl]\n")
    lock = tmp_path / "env-lock.yml"
    assert cenv("lock", spec, "--channel-alias", alias, "--exclude-newer", "2025-03-01").code == 0
    good = lock.read_text()
    spec.write_text("channels: [conda-forge]\nplatforms: [linux-64]\ndependencies: [curl 999.*]\n")
    for flags in (("--exclude-newer", "2025-03-01"), ()):
        result = cenv("lock", spec, "--channel-alias", alias, *flags)
        assert result.code == 1, result.output
        assert result.stderr.count("error:") == 1 and "curl" in result.stderr, result.stderr
        assert "Traceback" not in result.output
        assert lock.read_text() == good
