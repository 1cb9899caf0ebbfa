"""Sharing with collaborators without cenv, and diffing a lock against a fresh solve of its spec."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.cli_helpers import cenv
from tests.support.wheel_factory import WheelIndex
from uv import find_uv_bin

PY = f"{sys.version_info.major}.{sys.version_info.minor}"


def _conda_meta(prefix: Path) -> set[tuple[str, str, str, str]]:
    """(name, version, build, md5): the explicit file carries md5 fragments, the lock both hashes."""
    records = (json.loads(p.read_text()) for p in (prefix / "conda-meta").glob("*.json"))
    return {(r["name"], r["version"], r["build"], r["md5"]) for r in records}


def _pip_freeze(prefix: Path) -> list[str]:
    out = subprocess.run(
        [find_uv_bin(), "pip", "list", "--python", str(prefix / "bin" / "python"), "--format", "freeze"],
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(out.stdout.lower().splitlines())


def test_exported_files_recreate_the_same_environment(tmp_path: Path, demo_channel: Path) -> None:
    index = WheelIndex(tmp_path / "pypi")
    index.add("needs-hello", "1.0", requires=["hello-cenv>=0.1"])
    index.write()
    spec = tmp_path / "team.yml"
    spec.write_text(
        f"channels: [{demo_channel.as_posix()}]\npip-options:\n  index-url: {index.simple_url}\n"
        f"dependencies:\n  - python {PY}.*\n  - cenv-demo-app\n  - pip:\n      - needs-hello\n"
    )
    assert cenv("lock", spec).code == 0
    lock = tmp_path / "team-lock.yml"
    share = cenv("export", lock, "--format", "share", "-p", "linux-64", "-o", tmp_path / "share")
    assert share.code == 0, share.output
    explicit = tmp_path / "share" / "team.linux-64.explicit.txt"
    requirements = tmp_path / "share" / "team.linux-64.requirements.txt"
    text = explicit.read_text()
    commands = share.stdout.splitlines()
    assert commands[0].startswith("conda create -n team --file team.linux-64.explicit.txt")
    assert commands[1].startswith("micromamba create -n team -f team.linux-64.explicit.txt")
    assert all(f"#   {c}" in text for c in commands), text
    assert "--require-hashes -r team.linux-64.requirements.txt" in commands[0]

    original, rebuilt = tmp_path / "original", tmp_path / "rebuilt"
    assert cenv("create", lock, "-p", original).code == 0
    made = cenv("create", explicit, "-p", rebuilt)
    assert made.code == 0, made.output
    pip = subprocess.run(
        [find_uv_bin(), "pip", "install", "--python", str(rebuilt / "bin" / "python"), "--no-deps",
         "--require-hashes", "-r", str(requirements)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr
    assert _conda_meta(original) == _conda_meta(rebuilt)
    assert _pip_freeze(original) == _pip_freeze(rebuilt)
    assert "needs-hello==1.0" in _pip_freeze(rebuilt)


def test_diff_lock_against_fresh_solve_of_its_spec(tmp_path: Path, demo_channel: Path) -> None:
    spec = tmp_path / "s.yml"
    spec.write_text(f"channels: [{demo_channel.as_posix()}]\ndependencies:\n  - python {PY}.*\n")
    assert cenv("lock", spec).code == 0
    same = cenv("diff", tmp_path / "s-lock.yml", spec, "--exit-code")
    assert same.code == 0, same.output
    spec.write_text(spec.read_text() + "  - libcenv-mid\n")
    changed = cenv("diff", tmp_path / "s-lock.yml", spec, "--exit-code", "--json")
    assert changed.code == 1, changed.output
    assert "libcenv-mid" in changed.stdout and "libcenv-base" in changed.stdout
