"""Two `cenv lock` runs writing the same lockfile at once leave one complete lockfile, never a mix.

Each run writes to a temporary file in the lockfile's folder and renames it into place (`os.replace`), so
whichever finishes last wins whole; no temporary file stays behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.support.http_server import ChannelServer

from cenv.lock.io import read_lockfile

SPEC_A = "name: a\nplatforms: [linux-64]\ndependencies: [libcenv-base]\n"
SPEC_B = "name: b\nplatforms: [linux-64]\ndependencies: [cenv-demo-app]\n"


HOLD_SECONDS = 8.0  # how long the server holds linux-64 back; the kill comes within milliseconds


def _start(spec: Path, lockfile: Path, channel: Path | str, cache: Path) -> subprocess.Popen[str]:
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
        _same_except_paths(data, expected["a" if names == names_a else "b"])
        leftovers = sorted(p.name for p in target_dir.iterdir() if p.name != target.name)
        assert leftovers == [], leftovers


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
    """A run killed while it locks does not touch an existing lockfile nor leave a temporary file.

    The channel is served over HTTP with its linux-64 repodata held back, so the victim is killed inside
    `cenv lock` (it has fetched noarch and waits for linux-64), never before it started."""
    spec = tmp_path / "a.yml"
    spec.write_text(SPEC_A)
    target = tmp_path / "out" / "conda-lock.yml"
    target.parent.mkdir()
    first = _start(spec, target, demo_channel, tmp_path / "c1")
    assert first.wait(timeout=300) == 0
    before = target.read_bytes()
    other = tmp_path / "b.yml"  # a different lock, so that a partial or early write would show
    other.write_text(SPEC_B)
    root = tmp_path / "www"
    shutil.copytree(demo_channel, root / "demo")
    with ChannelServer(root) as server:
        server.delay_paths["/demo/linux-64/*"] = HOLD_SECONDS
        victim = _start(other, target, server.channel_url("demo"), tmp_path / "c2")
        deadline = time.monotonic() + 120  # a generous wait for start-up, not a timing assertion
        while server.count("/demo/noarch/*") == 0 and victim.poll() is None:
            assert time.monotonic() < deadline, "cenv lock never fetched the channel"
            time.sleep(0.02)
        victim.kill()
        assert victim.wait(timeout=60) == -signal.SIGKILL, victim.communicate()  # killed, not finished
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == [target.name]


# The victim's `os.replace` of the lockfile waits, after saying so: the temporary is complete and the kill
# lands between the write and the rename, the one moment an atomic write can be caught in.
_SLOW_RENAME = """
import os, sys, time
real = os.replace
def slow(src, dst, *args, **kwargs):
    if str(dst).endswith("conda-lock.yml"):
        sys.stderr.write("RENAMING\\n"); sys.stderr.flush()
        time.sleep(120)
    return real(src, dst, *args, **kwargs)
os.replace = slow
from cenv.cli import main
main(sys.argv[1:])
"""


def test_writer_killed_between_write_and_rename(tmp_path: Path, demo_channel: Path) -> None:
    """Issue #25 (the old test killed its victim before any write): a writer killed with its temporary
    written and not yet renamed leaves the old lockfile as it was; the next write removes the temporary."""
    spec = tmp_path / "a.yml"
    spec.write_text(SPEC_A)
    target = tmp_path / "out" / "conda-lock.yml"
    target.parent.mkdir()
    assert _start(spec, target, demo_channel, tmp_path / "c1").wait(timeout=300) == 0
    before = target.read_bytes()
    other = tmp_path / "b.yml"
    other.write_text(SPEC_B)
    args = ["lock", str(other), "-o", str(target), "-c", str(demo_channel), "-q"]
    victim = subprocess.Popen(
        [sys.executable, "-c", _SLOW_RENAME, *args],
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, CENV_CACHE_DIR=str(tmp_path / "c2")),
    )
    assert victim.stderr is not None
    assert victim.stderr.readline().strip() == "RENAMING"
    [temporary] = [p for p in target.parent.iterdir() if p.name != target.name]
    assert b"cenv-demo-app" in temporary.read_bytes()  # the new lock, written whole
    victim.kill()
    assert victim.wait(timeout=60) == -signal.SIGKILL
    assert target.read_bytes() == before
    old = time.time() - 10  # past the age below which a temporary may be a live writer's
    os.utime(temporary, (old, old))
    assert _start(spec, target, demo_channel, tmp_path / "c3").wait(timeout=300) == 0
    assert [p.name for p in target.parent.iterdir()] == [target.name]
