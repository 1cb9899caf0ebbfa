"""Issue #23: usage errors exit 2 in every subcommand (as click, conda, uv and pixi do), so CI can tell a
typo from a stale lock (exit 1). An unknown option, a bad flag value and a missing argument, per command."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cli_helpers import cenv

COMMANDS = ("lock", "export", "diff", "why", "info", "pack", "create", "run")


def _files(tmp_path: Path) -> tuple[Path, Path]:
    spec = tmp_path / "env.yml"
    spec.write_text("channels: [conda-forge]\ndependencies: [python]\n")
    lock = tmp_path / "env-lock.yml"
    lock.write_text("version: 1\nmetadata: {}\npackage: []\n")
    return spec, lock


@pytest.mark.parametrize("command", COMMANDS)
def test_unknown_option_exits_2(command: str, tmp_path: Path) -> None:
    result = cenv(command, "--chekc", cwd=tmp_path)
    assert result.code == 2, result.output
    assert "Traceback" not in result.output
    # `run` passes what follows its own options to the command, so it stops at the missing -p/-n instead
    assert ("--chekc" if command != "run" else "-p PREFIX") in result.stderr


def _bad_values(tmp_path: Path) -> dict[str, list[tuple[str | Path, ...]]]:
    spec, lock = _files(tmp_path)
    return {
        "lock": [
            ("lock", spec, "--channel-priority", "strikt"),
            ("lock", spec, "--cuda", "twelve"),
            ("lock", spec, "--glibc", "new"),
            ("lock", spec, "--exclude-newer", "last tuesday"),
            ("lock", spec, "-p", "linux-65"),
            ("lock", spec, "--check", "--osx", "sonoma"),
            ("lock",),  # missing SPEC
        ],
        "export": [("export", lock, "--format", "yaml"), ("export",)],
        "diff": [("diff", lock, lock, "--cuda", "twelve"), ("diff", lock)],
        "why": [("why", "python", "-l"), ("why",)],  # `-l` without its value; no PACKAGE
        "info": [("info", "--json=yes"), ("info", "extra")],
        "pack": [("pack", lock, "-o"), ("pack",)],
        "create": [
            ("create", spec, "-p", tmp_path / "env", "--cuda", "twelve"),
            ("create", spec, "-p", tmp_path / "env", "--platform", "linux-65"),
            ("create", spec, "-p", tmp_path / "env", "-n", "both"),
            ("create", lock, "-p", tmp_path / "env", "--cuda", "12.1"),  # lock flags on a lockfile
            ("create",),  # missing SOURCE
        ],
        "run": [("run", "-p", tmp_path / "env", "-n", "both", "--", "true"), ("run", "-p", tmp_path / "env")],
    }


@pytest.mark.parametrize("command", COMMANDS)
def test_bad_value_or_missing_argument_exits_2(command: str, tmp_path: Path) -> None:
    for args in _bad_values(tmp_path)[command]:
        result = cenv(*args, cwd=tmp_path)
        assert result.code == 2, (args, result.output)
        assert "error:" in result.stderr and "Traceback" not in result.output, (args, result.output)
    assert not (tmp_path / "env").exists()


def test_a_stale_check_is_1_and_diff_exit_code_is_1_or_2(tmp_path: Path, demo_channel: Path) -> None:
    spec = tmp_path / "env.yml"
    spec.write_text(f"channels: [{demo_channel.as_posix()}]\nplatforms: [linux-64]\ndependencies: [python]\n")
    assert cenv("lock", spec).code == 0
    lock = tmp_path / "env-lock.yml"
    assert cenv("diff", lock, lock, "--exit-code").code == 0
    spec.write_text(spec.read_text().replace("[python]", "[python, hello-cenv]"))
    assert cenv("lock", spec, "--check").code == 1  # stale: the spec changed, not a usage error
    assert cenv("lock", spec, "-o", tmp_path / "new-lock.yml").code == 0
    assert cenv("diff", lock, tmp_path / "new-lock.yml", "--exit-code").code == 1  # differs
    missing = cenv("diff", lock, tmp_path / "nope-lock.yml", "--exit-code")
    assert missing.code == 2 and "no such lockfile" in missing.stderr, missing.output  # an error
    assert cenv("diff", lock, tmp_path / "nope-lock.yml").code == 1  # without --exit-code: an error is 1
