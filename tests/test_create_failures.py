"""`cenv create` when things go wrong: tampered archives, broken servers, kills, missing CUDA.

Every failure must leave nothing at the target and let the same command succeed afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.cli_helpers import cenv
from tests.create_support import pkgs_dir, siblings, write_spec
from tests.support.channel_factory import ChannelFactory
from tests.support.http_server import ChannelServer


def _victim_channel(factory: Callable[..., ChannelFactory], content: str = "original\n") -> ChannelFactory:
    ch = factory("ch")
    ch.python_wrapper()
    ch.package("victim", "1.0", subdir="linux-64", files={"share/victim.txt": content})
    ch.write_repodata()
    return ch


@pytest.mark.parametrize("transport", ["file", "http"])
def test_tampered_archive_is_refused_before_linking(
    transport: str,
    channel_factory: Callable[..., ChannelFactory],
    http_channel_server: Callable[[Path], ChannelServer],
    tmp_path: Path,
) -> None:
    ch = _victim_channel(channel_factory)
    url = ch.url if transport == "file" else http_channel_server(ch.path.parent).channel_url("ch")
    spec = write_spec(tmp_path / "env.yml", url, deps=("python", "victim"))
    assert cenv("lock", spec).code == 0
    old = ch.record("victim").sha256
    # rebuilt with other content under the same file name; repodata and lock still say the old hash
    new = ch.add_package("victim", "1.0", subdir="linux-64", files={"share/victim.txt": "evil\n"}).sha256
    assert new != old

    prefix = tmp_path / "env"
    result = cenv("create", tmp_path / "env-lock.yml", "-p", prefix)
    assert result.code == 1, result.output
    assert "sha256 mismatch for package `victim`" in result.stderr
    assert f"expected {old}, got {new}" in result.stderr
    assert "Traceback" not in result.output
    assert not prefix.exists() and siblings(prefix) == []
    assert not any(p.name.startswith("victim-") for p in pkgs_dir().iterdir())

    # the channel is put right (the original bytes again): the same command now succeeds
    ch.add_package("victim", "1.0", subdir="linux-64", files={"share/victim.txt": "original\n"})
    again = cenv("create", tmp_path / "env-lock.yml", "-p", prefix)
    assert again.code == 0, again.output
    assert (prefix / "share" / "victim.txt").read_text() == "original\n"


@pytest.mark.parametrize("failure", ["500", "truncated", "dropped"])
def test_broken_server_leaves_nothing_and_rerun_succeeds(
    failure: str, demo_channel: Path, http_channel_server: Callable[[Path], ChannelServer], tmp_path: Path
) -> None:
    server = http_channel_server(demo_channel.parent)
    spec = write_spec(tmp_path / "env.yml", server.channel_url("demo"), deps=("cenv-demo-tool",))
    assert cenv("lock", spec).code == 0
    broken = "/demo/linux-64/libcenv-mid-*.conda"
    if failure == "500":
        server.fail_paths[broken] = 500
    elif failure == "truncated":
        server.truncate_paths.add(broken)
    else:
        server.drop_after_bytes[broken] = 100
    prefix = tmp_path / "env"
    result = cenv("create", tmp_path / "env-lock.yml", "-p", prefix)
    assert result.code == 1, result.output
    assert "cannot download package `libcenv-mid`" in result.stderr
    expected = {"500": "HTTP 500", "truncated": "bytes", "dropped": "bytes"}[failure]
    assert expected in result.stderr.splitlines()[0] or expected in result.stderr
    assert "Traceback" not in result.output
    assert not prefix.exists() and siblings(prefix) == []
    assert server.count(broken) == 3  # retried, then gave up
    assert not [p for p in pkgs_dir().iterdir() if p.name.endswith(".part")]

    server.fail_paths.clear()
    server.truncate_paths.clear()
    server.drop_after_bytes.clear()
    again = cenv("create", tmp_path / "env-lock.yml", "-p", prefix, "--json")
    assert again.code == 0, again.output
    assert (prefix / "bin" / "cenv-demo-tool").is_file()


@pytest.mark.parametrize("failure", ["no answer", "500", "dropped"])
def test_each_failure_is_retried_by_one_layer_only(
    failure: str, demo_channel: Path, http_channel_server: Callable[[Path], ChannelServer], tmp_path: Path
) -> None:
    """rattler's RetryMiddleware retries a request up to the response's head (a connection closed before
    it answers, a 5xx: 3 attempts); fetch.py's own loop only restarts a body that broke off after the head,
    which the middleware never sees (3 attempts). Before, fetch.py retried every failure without a status
    on top of the middleware: a server that closed without answering got 3 x 3 = 9 requests."""
    server = http_channel_server(demo_channel.parent)
    spec = write_spec(tmp_path / "env.yml", server.channel_url("demo"), deps=("cenv-demo-tool",))
    assert cenv("lock", spec).code == 0
    broken = "/demo/linux-64/libcenv-mid-*.conda"
    if failure == "no answer":
        server.hang_up_paths.add(broken)
    elif failure == "500":
        server.fail_paths[broken] = 500
    else:
        server.drop_after_bytes[broken] = 100
    result = cenv("create", tmp_path / "env-lock.yml", "-p", tmp_path / "env")
    assert result.code == 1, result.output
    assert "cannot download package `libcenv-mid`" in result.stderr
    assert "tried 3 times" in result.stderr
    assert server.count(broken) == 3


def _big_channel(factory: Callable[..., ChannelFactory]) -> ChannelFactory:
    ch = factory("big")
    ch.python_wrapper()
    files = {f"share/big/{i // 100:02d}/file{i:05d}.txt": f"payload {i}\n" * 4 for i in range(4000)}
    ch.package("bigpkg", "1.0", subdir="linux-64", files=files)
    ch.write_repodata()
    return ch


def _start(args: list[str | Path]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cenv", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_mid_link_leaves_no_prefix_and_rerun_succeeds(
    channel_factory: Callable[..., ChannelFactory], tmp_path: Path
) -> None:
    ch = _big_channel(channel_factory)
    spec = write_spec(tmp_path / "env.yml", ch.url, deps=("python", "bigpkg"))
    assert cenv("lock", spec).code == 0
    prefix = tmp_path / "env"
    proc = _start(["create", tmp_path / "env-lock.yml", "-p", prefix])
    deadline = time.monotonic() + 60
    while not [s for s in siblings(prefix) if ".cenv-tmp-" in s] and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    assert proc.poll() is None, ("create finished before the test could kill it", proc.communicate())
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert not prefix.exists()
    # the half-built sibling and its lock file (outside it); removed by the next create
    assert sorted(s.split(".cenv-")[1].split("-")[0] for s in siblings(prefix)) == ["lock", "tmp"]

    again = cenv("create", tmp_path / "env-lock.yml", "-p", prefix, "--json")
    assert again.code == 0, again.output
    assert siblings(prefix) == []
    assert len(list((prefix / "share" / "big").rglob("*.txt"))) == 4000
    assert (prefix / "share" / "big" / "39" / "file03999.txt").read_text() == "payload 3999\n" * 4
    # the package cache is sound: a third environment links everything from it
    third = cenv("create", tmp_path / "env-lock.yml", "-p", tmp_path / "third", "--json")
    assert json.loads(third.stdout)["linked_from_cache"] == 2
    assert len(list((tmp_path / "third" / "share" / "big").rglob("*.txt"))) == 4000


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_kill_during_download_leaves_nothing(
    sig: signal.Signals,
    demo_channel: Path,
    http_channel_server: Callable[[Path], ChannelServer],
    tmp_path: Path,
) -> None:
    server = http_channel_server(demo_channel.parent)
    spec = write_spec(tmp_path / "env.yml", server.channel_url("demo"), deps=("cenv-demo-tool",))
    assert cenv("lock", spec).code == 0
    server.delay_paths["*.tar.bz2"] = 8  # held until after the kill (which comes within milliseconds)
    prefix = tmp_path / "env"
    proc = _start(["create", tmp_path / "env-lock.yml", "-p", prefix])
    deadline = time.monotonic() + 60  # a generous wait for start-up, not a timing assertion
    # the kill comes while a download is in flight (issue #25: it used to come at a deadline, started or not)
    while not server.held and proc.poll() is None:
        assert time.monotonic() < deadline, "cenv create never requested the held archive"
        time.sleep(0.01)
    assert proc.poll() is None, ("create ended before the kill", proc.communicate())
    assert server.held[0].endswith(".tar.bz2")
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == (-signal.SIGKILL if sig == signal.SIGKILL else 130), stderr
    assert not prefix.exists() and siblings(prefix) == []
    server.delay_paths.clear()
    assert cenv("create", tmp_path / "env-lock.yml", "-p", prefix).code == 0


def test_cuda_lock_needs_a_driver_or_an_override(demo_channel: Path, tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "env.yml", str(demo_channel), deps=("cenv-accel",), extra="cuda: '12.1'\n")
    assert cenv("lock", spec).code == 0
    lock = tmp_path / "env-lock.yml"
    assert "cuda12" in lock.read_text()

    prefix = tmp_path / "env"
    refused = cenv("create", lock, "-p", prefix, env={"CONDA_OVERRIDE_CUDA": ""})
    assert refused.code == 1, refused.output
    assert "package `cenv-accel` needs `__cuda >=12`" in refused.stderr
    assert "no CUDA driver" in refused.stderr
    assert "hint: to install anyway, set `CONDA_OVERRIDE_CUDA=12`" in refused.stderr
    assert not prefix.exists()

    old_driver = cenv("create", lock, "-p", prefix, env={"CONDA_OVERRIDE_CUDA": "11.8"})
    assert old_driver.code == 1 and "this host has __cuda 11.8" in old_driver.stderr

    accepted = cenv("create", lock, "-p", prefix, env={"CONDA_OVERRIDE_CUDA": "12.1"})
    assert accepted.code == 0, accepted.output
    assert (prefix / "share" / "cenv-accel" / "variant").read_text() == "cuda\n"

    # an explicit file carries no dependencies: the check runs on each archive's index.json instead
    explicit = tmp_path / "accel.txt"
    assert cenv("export", lock, "-o", explicit).code == 0
    from_explicit = cenv("create", explicit, "-p", tmp_path / "x", env={"CONDA_OVERRIDE_CUDA": ""})
    assert from_explicit.code == 1 and "needs `__cuda >=12`" in from_explicit.stderr
    assert not (tmp_path / "x").exists()


def test_offline_without_cached_packages(
    demo_channel: Path, http_channel_server: Callable[[Path], ChannelServer], tmp_path: Path
) -> None:
    server = http_channel_server(demo_channel.parent)
    spec = write_spec(tmp_path / "env.yml", server.channel_url("demo"), deps=("libcenv-base",))
    assert cenv("lock", spec).code == 0
    server.reset_counters()
    offline = cenv("create", tmp_path / "env-lock.yml", "-p", tmp_path / "env", "--offline")
    assert offline.code == 1
    assert "--offline: 1 package(s) are not in the package cache: `libcenv-base`" in offline.stderr
    assert server.count("*") == 0
    assert cenv("create", tmp_path / "env-lock.yml", "-p", tmp_path / "env").code == 0
    server.stop()  # gone: offline still works from the cache
    again = cenv("create", tmp_path / "env-lock.yml", "-p", tmp_path / "env2", "--offline")
    assert again.code == 0, again.output


def test_lock_without_checksums_is_refused(demo_channel: Path, tmp_path: Path) -> None:
    archive = demo_channel / "linux-64"
    name = next(p.name for p in archive.iterdir() if p.name.startswith("libcenv-base"))
    explicit = tmp_path / "nohash.txt"
    explicit.write_text(f"# platform: linux-64\n@EXPLICIT\n{(archive / name).as_uri()}\n")
    result = cenv("create", explicit, "-p", tmp_path / "env")
    assert result.code == 1
    assert "the lock has no checksum for package `libcenv-base`" in result.stderr
    assert not (tmp_path / "env").exists()


def test_stale_siblings_of_dead_creates_are_cleaned(demo_channel: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    stale = tmp_path / ".env.cenv-tmp-deadbeef"
    (stale / "conda-meta").mkdir(parents=True)
    (stale / ".cenv-building").write_text("")  # its owner died: nobody holds the lock
    old = tmp_path / ".env.cenv-old-12345678"
    old.mkdir()
    unrelated = tmp_path / ".other.cenv-tmp-00000000"
    unrelated.mkdir()
    spec = write_spec(tmp_path / "env.yml", str(demo_channel), deps=("libcenv-base",))
    assert cenv("create", spec, "-p", prefix).code == 0
    assert siblings(prefix) == [] and unrelated.exists()


def test_unknown_platform_and_missing_source(tmp_path: Path) -> None:
    missing = cenv("create", tmp_path / "nope.yml", "-p", tmp_path / "env")
    assert missing.code == 1 and "no such file" in missing.stderr
    spec = write_spec(tmp_path / "env.yml", str(tmp_path))
    bad = cenv("create", spec, "-p", tmp_path / "env", "--platform", "linux-65")
    assert bad.code == 2 and "unknown platform `linux-65`: did you mean `linux-64`?" in bad.stderr
    both = cenv("create", spec, "-p", tmp_path / "env", "-n", "x")
    assert both.code == 2 and "not both" in both.stderr
    assert os.listdir(tmp_path) == ["env.yml"]
