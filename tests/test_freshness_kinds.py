"""Every kind of stale reason `cenv lock --check` gives, on the demo channel (no ../shared needed): the spec
edit or flag that causes it, the exit code, the `--json` reasons. (Issue #25: test_freshness.py needs the real
data for every test, so a fresh clone checked none of these.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from tests.cli_helpers import cenv

BASE = "dependencies:\n  - python\n  - hello-cenv\n"
LINUX = "linux-64"

# (name, new spec body or None, extra --check flags, expected (kind, platform or None), words in the detail)
CASES = [
    ("dependency-added", BASE + "  - cenv-demo-app\n", [], ("dependency-added", LINUX), "cenv-demo-app"),
    ("dependency-removed", "dependencies:\n  - python\n", [], ("dependency-removed", LINUX), "hello-cenv"),
    ("dependency-changed", BASE.replace("hello-cenv", "hello-cenv >=0.2"), [], ("dependency-changed", LINUX),
     "hello-cenv >=0.2"),
    ("pip-changed", BASE + "  - pip:\n    - six\n", [], ("pip-changed", LINUX), "six"),
    ("platforms-changed", None, ["-p", "osx-arm64"], ("platforms-changed", None), "osx-arm64"),
    ("priority-changed", None, ["--channel-priority", "flexible"], ("priority-changed", None), "flexible"),
    ("exclude-newer-changed", None, ["--exclude-newer", "2024-01-01"], ("exclude-newer-changed", None),
     "2024-01-01"),
    ("virtual-packages-changed", None, ["--cuda", "12.4"], ("virtual-packages-changed", LINUX),
     "__cuda=12.4"),
]  # fmt: skip


@pytest.fixture
def locked(tmp_path: Path, demo_channel: Path) -> Path:
    spec = tmp_path / "env.yml"
    spec.write_text(f"channels: [{demo_channel.as_posix()}]\n{BASE}", encoding="utf-8")
    result = cenv("lock", spec, "-p", "linux-64")
    assert result.code == 0, result.output
    fresh = cenv("lock", spec, "--check")
    assert fresh.code == 0 and "up to date" in fresh.output, fresh.output
    return spec


@pytest.mark.parametrize(("name", "body", "flags", "expected", "words"), CASES, ids=[c[0] for c in CASES])
def test_each_stale_reason(
    locked: Path,
    demo_channel: Path,
    name: str,
    body: str | None,
    flags: list[str],
    expected: tuple[str, str | None],
    words: str,
) -> None:
    if body is not None:
        locked.write_text(f"channels: [{demo_channel.as_posix()}]\n{body}", encoding="utf-8")
    result = cenv("lock", locked, "--check", "--json", *flags)
    assert result.code == 1, result.output
    payload = json.loads(result.stdout)  # one document: the reasons, not a second one for the failure
    assert payload["fresh"] is False
    reasons = [(r["kind"], r.get("platform")) for r in payload["reasons"]]
    assert reasons == [expected], payload
    assert words in payload["reasons"][0]["detail"], payload
    assert "is stale" in result.stderr and "hint: run `cenv lock" in result.stderr


def test_channels_changed(locked: Path, demo_channel: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.symlink_to(demo_channel, target_is_directory=True)
    locked.write_text(f"channels: [{other.as_posix()}]\n{BASE}", encoding="utf-8")
    result = cenv("lock", locked, "--check", "--json")
    assert result.code == 1, result.output
    kinds = [r["kind"] for r in json.loads(result.stdout)["reasons"]]
    assert kinds == ["channels-changed"], result.stdout


def test_format_newer_and_not_cenv(locked: Path) -> None:
    lockfile = locked.with_name("env-lock.yml")
    data = yaml.safe_load(lockfile.read_text())
    data["metadata"]["custom_metadata"]["cenv.format"] = "99"
    lockfile.write_text(yaml.safe_dump(data))
    newer = cenv("lock", locked, "--check", "--json")
    assert newer.code == 1
    assert [r["kind"] for r in json.loads(newer.stdout)["reasons"]] == ["format-newer"], newer.stdout
    data["metadata"]["custom_metadata"] = {}
    lockfile.write_text(yaml.safe_dump(data))
    foreign = cenv("lock", locked, "--check", "--json")
    assert foreign.code == 1
    assert [r["kind"] for r in json.loads(foreign.stdout)["reasons"]] == ["not-cenv"], foreign.stdout
