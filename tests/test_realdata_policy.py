"""The real-world data policy (tests/support/realdata.py): skip naming the folder, fail under CI."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support import realdata as policy


@pytest.fixture
def fake_realdata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the policy at `tmp_path/shared/realdata` (absent until a test creates it); CI unset."""
    root = tmp_path / "shared" / "realdata"
    monkeypatch.setattr(policy, "REALDATA", root)
    monkeypatch.delenv("CI", raising=False)
    return root


def test_absent_folder_skips_naming_it(fake_realdata: Path) -> None:
    with pytest.raises(pytest.skip.Exception) as info:
        policy.realdata_path("channels", "pangeo-cuda")
    assert "../shared/realdata not found" in str(info.value) and str(fake_realdata) in str(info.value)
    assert policy.session_problem() is None
    [case] = policy.realdata_files("specs", "**/*.yml")
    assert [m.name for m in case.marks] == ["realdata"] and case.marks[0].args == ("specs",)


@pytest.mark.parametrize("value", ["true", "1", "yes"])
def test_absent_folder_fails_under_ci(
    fake_realdata: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(
        pytest.fail.Exception, match=r"CI is set: real-world data: \.\./shared/realdata not found"
    ):
        policy.realdata_path("locks")
    problem = policy.session_problem()
    assert problem is not None and "../shared/realdata not found" in problem


@pytest.mark.parametrize("value", ["", "0", "false"])
def test_ci_off_values(fake_realdata: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    assert not policy.in_ci() and policy.session_problem() is None


def test_incomplete_folder_names_what_is_missing(
    fake_realdata: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (fake_realdata / "channels" / "pangeo-cuda").mkdir(parents=True)
    (fake_realdata / "specs" / "a").mkdir(parents=True)
    (fake_realdata / "specs" / "a" / "env.yml").write_text("dependencies: [python]\n")
    assert policy.realdata_path("channels", "pangeo-cuda") == fake_realdata / "channels" / "pangeo-cuda"
    assert policy.realdata_files("specs", "**/*.yml") == [fake_realdata / "specs" / "a" / "env.yml"]
    with pytest.raises(pytest.skip.Exception, match=r"incomplete, missing \.\./shared/realdata/locks/pixi"):
        policy.require("locks/pixi")
    monkeypatch.setenv("CI", "true")
    problem = policy.session_problem()
    assert problem is not None and "incomplete" in problem and "../shared/realdata/README.md" in problem
    for relpath in policy.REQUIRED:
        (fake_realdata / relpath).mkdir(parents=True, exist_ok=True)
    assert policy.session_problem() is None
