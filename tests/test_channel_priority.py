"""Strict channel priority behaves like conda's, also when the spec carries a version limit.

rattler's gateway filters by the requested spec before applying priority (ENGINE-NOTES.md); cenv requests
the bare name and moves the limit into constraints. The channels are pixi-sample-multichannel's real
`pytorch` channel plus a lower-priority channel holding a newer `pytorch-mutex`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from tests.cli_helpers import REALDATA, cenv

MULTI = REALDATA / "channels" / "pixi-sample-multichannel"
pytestmark = pytest.mark.realdata("channels/pixi-sample-multichannel")  # every test locks on it


def _low_channel(root: Path) -> Path:
    """A channel with pytorch-mutex 2.0 (a real record with its version raised) and an empty linux-64."""
    source = json.loads((MULTI / "pytorch" / "noarch" / "repodata.json").read_text())
    records = {**source.get("packages", {}), **source.get("packages.conda", {})}
    mutex = next(r for r in records.values() if r["name"] == "pytorch-mutex")
    newer = {**mutex, "version": "2.0", "build": "cuda"}
    for subdir, packages in (("noarch", {"pytorch-mutex-2.0-cuda.tar.bz2": newer}), ("linux-64", {})):
        (root / subdir).mkdir(parents=True, exist_ok=True)
        body = {"info": {"subdir": subdir}, "packages": packages, "packages.conda": {}}
        (root / subdir / "repodata.json").write_text(json.dumps(body))
    return root


def _spec(tmp_path: Path, dep: str, priority: str | None = None) -> Path:
    spec = tmp_path / "prio.yml"
    high = (MULTI / "pytorch").as_posix()
    low = _low_channel(tmp_path / "low").as_posix()
    text = f"channels: [{high}, {low}]\nplatforms: [linux-64]\ndependencies:\n  - {dep}\n"
    if priority:
        text += f"channel-priority: {priority}\n"
    spec.write_text(text)
    return spec


def _locked(tmp_path: Path, name: str) -> dict[str, str]:
    data = yaml.safe_load((tmp_path / "prio-lock.yml").read_text())
    return next(p for p in data["package"] if p["name"] == name)


def test_strict_refuses_version_only_in_lower_channel(tmp_path: Path) -> None:
    result = cenv("lock", _spec(tmp_path, "pytorch-mutex >=2"))
    assert result.code == 1, result.output
    assert "lower-priority channel" in result.stderr, result.stderr
    assert not (tmp_path / "prio-lock.yml").exists()


def test_strict_takes_name_from_higher_channel(tmp_path: Path) -> None:
    result = cenv("lock", _spec(tmp_path, "pytorch-mutex"))
    assert result.code == 0, result.output
    assert _locked(tmp_path, "pytorch-mutex")["version"] == "1.0"


@pytest.mark.parametrize("priority", ["flexible", "disabled"])
def test_flexible_and_disabled_allow_lower_channel(tmp_path: Path, priority: str) -> None:
    result = cenv("lock", _spec(tmp_path, "pytorch-mutex >=2", priority))
    assert result.code == 0, result.output
    assert _locked(tmp_path, "pytorch-mutex")["version"] == "2.0"
    assert "/low/" in _locked(tmp_path, "pytorch-mutex")["url"]


def test_cli_flag_overrides_spec_priority(tmp_path: Path) -> None:
    result = cenv("lock", _spec(tmp_path, "pytorch-mutex >=2", "flexible"), "--channel-priority", "strict")
    assert result.code == 1, result.output


def test_explicit_channel_pin_reaches_lower_channel(tmp_path: Path) -> None:
    low = (tmp_path / "low").as_posix()
    spec = _spec(tmp_path, "pytorch-mutex")
    spec.write_text(spec.read_text().replace("  - pytorch-mutex", f"  - {low}::pytorch-mutex >=2"))
    result = cenv("lock", spec)
    assert result.code == 0, result.output
    assert _locked(tmp_path, "pytorch-mutex")["version"] == "2.0"
