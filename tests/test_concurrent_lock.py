"""Two `cenv lock` runs writing the same lockfile at once leave one complete lockfile, never a mix.

Each run writes to a temporary file in the lockfile's folder and renames it into place (`os.replace`), so
whichever finishes last wins whole; no temporary file stays behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cenv.lock.io import read_lockfile

SPEC_A = "name: a\nplatforms: [linux-64]\ndependencies: [libcenv-base]\n"
SPEC_B = "name: b\nplatforms: [linux-64]\ndependencies: [cenv-demo-app]\n"


def _start(spec: Path, lockfile: Path, channel: Path, cache: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, CENV_CACHE_DIR=str(cache))
    return subprocess.Popen(
        [sys.executable, "-m", "cenv", "lock", str(spec), "-o", str(lockfile), "-c", str(channel), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _names(lockfile: Path) -> set[str]:
    return {p.name for p in read_lockfile(lockfile).package}


@pytest.mark.parametrize("rounds", [3])
def test_parallel_locks_leave_one_complete_lockfile(tmp_path: Path, demo_channel: Path, rounds: int) -> None:
    spec_a, spec_b = tmp_path / "a.yml", tmp_path / "b.yml"
    spec_a.write_text(SPEC_A)
    spec_b.write_text(SPEC_B)
    # the expected results, each locked alone
    expected: dict[str, bytes] = {}
    for name, spec in (("a", spec_a), ("b", spec_b)):
        alone = tmp_path / f"{name}-alone.yml"
        proc = _start(spec, alone, demo_channel, tmp_path / f"cache-{name}")
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, out + err
        expected[name] = alone.read_bytes()
    names_a, names_b = _names(tmp_path / "a-alone.yml"), _names(tmp_path / "b-alone.yml")
    assert names_a != names_b

    target_dir = tmp_path / "shared"
    target_dir.mkdir()
    target = target_dir / "conda-lock.yml"
    seen = set()
    for i in range(rounds):
        procs = [
            _start(spec_a, target, demo_channel, tmp_path / f"c-a-{i}"),
            _start(spec_b, target, demo_channel, tmp_path / f"c-b-{i}"),
            _start(spec_a, target, demo_channel, tmp_path / f"c-a2-{i}"),
        ]
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, out + err
        # one complete lockfile: it parses and is exactly one of the two results (the header, the
        # `sources` paths and the content hashes differ only by the spec, which we compare as a whole)
        names = _names(target)
        assert names in (names_a, names_b), names
        data = target.read_bytes()
        assert data.endswith(b"\n")
        winner = "a" if names == names_a else "b"
        seen.add(winner)
        _same_except_paths(data, expected[winner])
        leftovers = sorted(p.name for p in target_dir.iterdir() if p.name != target.name)
        assert leftovers == [], leftovers
    assert seen <= {"a", "b"}


def _same_except_paths(data: bytes, alone: bytes) -> None:
    """The lockfile written under contention equals the one written alone, apart from lines naming files
    (the header's install commands and `metadata.sources` are relative to where each lock was written)."""

    def relevant(text: bytes) -> list[str]:
        return [
            line
            for line in text.decode().splitlines()
            if not line.startswith("#") and ".yml" not in line and "created_at" not in line
        ]

    assert relevant(data) == relevant(alone)


def test_interrupted_writer_leaves_old_lockfile(tmp_path: Path, demo_channel: Path) -> None:
    """A run killed while solving does not touch an existing lockfile nor leave a temporary file."""
    spec = tmp_path / "a.yml"
    spec.write_text(SPEC_A)
    target = tmp_path / "out" / "conda-lock.yml"
    target.parent.mkdir()
    first = _start(spec, target, demo_channel, tmp_path / "c1")
    assert first.wait(timeout=300) == 0
    before = target.read_bytes()
    victim = _start(spec, target, demo_channel, tmp_path / "c2")
    victim.kill()
    victim.wait(timeout=60)
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == [target.name]
