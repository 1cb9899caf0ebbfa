"""Environment faults during `cenv lock` and `cenv create` (issue #13, failures 3 to 7): stalled servers,
file-system faults, hand-edited locks, a signal at the final rename, misleading words.

Read-only and tiny file systems are real mounts made in a user and mount namespace (`unshare -rm`); those
tests skip where the kernel does not allow it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.cli_helpers import Result, cenv
from tests.create_support import pkgs_dir, siblings, write_spec
from tests.support.channel_factory import ChannelFactory
from tests.support.http_server import ChannelServer
from tests.support.namespaces import in_namespace


def _channel(factory: Callable[..., ChannelFactory], payload: int = 0) -> ChannelFactory:
    """`lib`, and `app` that depends on it; `payload` bytes of incompressible data in `app`."""
    ch = factory("ch")
    ch.package("lib", "1.0", subdir="linux-64", files={"share/lib.txt": "lib\n"})
    files: dict[str, str | bytes] = {"bin/app": "#!/bin/sh\necho app\n"}
    if payload:
        files["share/app.bin"] = os.urandom(payload)
    ch.package("app", "1.0", subdir="linux-64", depends=["lib >=1"], files=files)
    ch.write_repodata()
    return ch


def _locked(ch: ChannelFactory, tmp_path: Path, url: str | None = None) -> Path:
    spec = write_spec(tmp_path / "env.yml", url or ch.url, deps=("app",))
    result = cenv("lock", spec)
    assert result.code == 0, result.output
    return tmp_path / "env-lock.yml"


def _one_error(result: Result) -> str:
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "hint:" in result.stderr, result.stderr
    return errors[0]


# ---------------------------------------------------------------- 3. deadlines


def test_a_dripping_archive_server_fails_within_the_deadline(
    channel_factory: Callable[..., ChannelFactory],
    http_channel_server: Callable[[Path], ChannelServer],
    tmp_path: Path,
) -> None:
    ch = _channel(channel_factory, payload=64_000)
    server = http_channel_server(ch.path.parent)
    lock = _locked(ch, tmp_path, server.channel_url("ch"))
    app = ch.record("app")
    server.drip_paths[f"*/{app.filename}"] = (1024, 2.0)  # alive, but 1 KB every 2 s: 2 minutes
    prefix = tmp_path / "env"
    started = time.monotonic()
    result = cenv("create", lock, "-p", prefix, env={"CONDA_REMOTE_READ_TIMEOUT_SECS": "3"}, timeout=60)
    elapsed = time.monotonic() - started

    assert result.code == 1, result.output
    error = _one_error(result)
    assert f"download of package `app` from {server.channel_url('ch')}/linux-64/{app.filename}" in error
    assert "stalled" in error
    assert "CONDA_REMOTE_READ_TIMEOUT_SECS" in result.stderr and "now 3)" in result.stderr
    # 3 s of stall (+ one drip), start-up and the other package; without the deadline the drip lasts 2
    # minutes (the 60 s subprocess timeout fails first). Wide, for loaded 2-core machines.
    assert elapsed < 45, elapsed
    assert server.count(f"*/{app.filename}", "GET") == 1  # a stall is not retried
    assert not prefix.exists() and siblings(prefix) == []
    assert not [p for p in pkgs_dir().iterdir() if p.name.endswith(".part")]


def test_a_stalled_repodata_server_fails_the_lock_within_the_deadline(
    channel_factory: Callable[..., ChannelFactory],
    http_channel_server: Callable[[Path], ChannelServer],
    tmp_path: Path,
) -> None:
    ch = _channel(channel_factory)
    repodata = ch.path / "linux-64" / "repodata.json"
    data = json.loads(repodata.read_text())
    data["info"]["padding"] = "x" * 60_000  # a minute of dripping
    repodata.write_text(json.dumps(data))
    server = http_channel_server(ch.path.parent)
    server.drip_paths["/ch/linux-64/repodata.json"] = (1024, 1.5)
    spec = write_spec(tmp_path / "env.yml", server.channel_url("ch"), deps=("app",))
    started = time.monotonic()
    result = cenv("lock", spec, env={"CONDA_REMOTE_READ_TIMEOUT_SECS": "3"}, timeout=60)
    elapsed = time.monotonic() - started

    assert result.code == 1, result.output
    error = _one_error(result)
    assert f"fetching repodata from {server.channel_url('ch')} stalled" in error
    assert elapsed < 45, elapsed  # the whole drip takes 90 s; wide, for loaded 2-core machines
    assert not (tmp_path / "env-lock.yml").exists()


def test_leftover_partial_downloads_and_lockfile_temporaries_are_removed(
    channel_factory: Callable[..., ChannelFactory], tmp_path: Path
) -> None:
    import fcntl

    ch = _channel(channel_factory)
    spec = write_spec(tmp_path / "env.yml", ch.url, deps=("app",))
    old = time.time() - 600
    dead = tmp_path / ".env-lock.yml.0123456789ab.tmp"  # a writer killed before its rename
    dead.write_text("half a lockfile")
    live = tmp_path / ".env-lock.yml.ba9876543210.tmp"  # a writer still at work (holds its flock)
    live.write_text("being written")
    for path in (dead, live):
        os.utime(path, (old, old))
    with open(live, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert cenv("lock", spec).code == 0
        assert not dead.exists() and live.exists()
    pkgs = pkgs_dir()
    pkgs.mkdir(parents=True)
    part = pkgs / f".{ch.record('app').filename}.deadbeef.part"
    part.write_bytes(b"partial")
    assert cenv("create", tmp_path / "env-lock.yml", "-p", tmp_path / "env").code == 0
    assert not part.exists()


# ---------------------------------------------------------------- 4. exit 1 for environment faults


@pytest.mark.parametrize("variable", ["CENV_CACHE_DIR", "CONDA_PKGS_DIRS"])
def test_a_file_where_the_cache_should_be(
    variable: str, channel_factory: Callable[..., ChannelFactory], tmp_path: Path
) -> None:
    ch = _channel(channel_factory)
    lock = _locked(ch, tmp_path)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file\n")
    env = {variable: str(blocker)}
    if variable == "CENV_CACHE_DIR":
        locked = cenv("lock", tmp_path / "env.yml", "-o", tmp_path / "other-lock.yml", env=env)
        assert locked.code == 1, locked.output
        assert f"`{blocker}` is a file, not a directory" in _one_error(locked)
    created = cenv("create", lock, "-p", tmp_path / "env", env=env)
    assert created.code == 1, created.output
    assert f"`{blocker}` is a file, not a directory" in _one_error(created)
    assert not (tmp_path / "env").exists()


@pytest.mark.parametrize("command", ["lock", "create"])
def test_a_read_only_cache(
    command: str, channel_factory: Callable[..., ChannelFactory], tmp_path: Path
) -> None:
    ch = _channel(channel_factory)
    lock = _locked(ch, tmp_path)
    cache = tmp_path / "ro-cache"
    cache.mkdir()
    mount = f"mount --bind '{cache}' '{cache}' && mount -o remount,ro,bind '{cache}'"
    if command == "lock":
        args: tuple[str | Path, ...] = ("lock", tmp_path / "env.yml", "-o", tmp_path / "other-lock.yml")
    else:
        args = ("create", lock, "-p", tmp_path / "env")
    result = in_namespace(mount, *args, env={"CENV_CACHE_DIR": str(cache)})
    assert result.code == 1, result.output
    assert "Read-only file system" in _one_error(result)
    assert "CENV_CACHE_DIR" in result.stderr  # the hint says what to change
    assert not (tmp_path / "env").exists() and not (tmp_path / "other-lock.yml").exists()


def test_a_prefix_name_over_255_bytes(channel_factory: Callable[..., ChannelFactory], tmp_path: Path) -> None:
    lock = _locked(_channel(channel_factory), tmp_path)
    result = cenv("create", lock, "-p", tmp_path / ("e" * 300))
    assert result.code == 1, result.output
    assert "is 300 bytes long; a file name can have at most 255" in _one_error(result)


@pytest.mark.parametrize("tail", [".", "..", "", ".cenv-verified", "{dist}"])
def test_a_url_that_names_no_archive(
    tail: str, channel_factory: Callable[..., ChannelFactory], tmp_path: Path
) -> None:
    ch = _channel(channel_factory)
    lock = _locked(ch, tmp_path)
    assert cenv("create", lock, "-p", tmp_path / "warm").code == 0  # cache entries exist
    lib = ch.record("lib")
    bad = tail.format(dist=lib.dist_name)
    edited = tmp_path / "edited-lock.yml"
    edited.write_text(lock.read_text().replace(f"/linux-64/{lib.filename}", f"/linux-64/{bad}"))
    result = cenv("create", edited, "-p", tmp_path / "env")
    assert result.code == 1, result.output
    assert "does not end in a conda package file name" in _one_error(result)
    assert not (tmp_path / "env").exists()


# ---------------------------------------------------------------- 5. dependencies within the set


@pytest.mark.parametrize("edit", ["platform", "removed"])
def test_a_dependency_missing_from_the_lock(
    edit: str, channel_factory: Callable[..., ChannelFactory], tmp_path: Path
) -> None:
    lock = _locked(_channel(channel_factory), tmp_path)
    text = lock.read_text()
    entry = re.search(r"- name: lib\n(?:  .*\n|    .*\n)+", text)
    assert entry is not None
    if edit == "platform":
        changed = entry.group(0).replace("platform: linux-64", "platform: osx-64")
        text = text.replace(entry.group(0), changed)
    else:
        text = text.replace(entry.group(0), "")
    lock.write_text(text)
    result = cenv("create", lock, "-p", tmp_path / "env")
    assert result.code == 1, result.output
    assert "package `app` 1.0" in (error := _one_error(result))
    assert "needs `lib >=1`, which the lock does not install for linux-64" in error
    assert not (tmp_path / "env").exists() and siblings(tmp_path / "env") == []


# ---------------------------------------------------------------- 6. a signal at the final rename

_SIGNAL_AT_RENAME = textwrap.dedent(
    """
    import os, signal, sys
    real, sig = os.rename, getattr(signal, sys.argv[1])
    def rename(src, dst, *args, **kwargs):
        real(src, dst, *args, **kwargs)
        if ".cenv-tmp-" in os.fspath(src) and ".cenv-" not in os.path.basename(os.fspath(dst)):
            os.kill(os.getpid(), sig)  # right after the environment is in place
    os.rename = rename
    from cenv.cli import main
    sys.argv = ["cenv", *sys.argv[2:]]
    main()
    """
)


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_signal_right_after_the_final_rename(
    sig: str, channel_factory: Callable[..., ChannelFactory], tmp_path: Path
) -> None:
    lock = _locked(_channel(channel_factory), tmp_path)
    prefix = tmp_path / "env"
    proc = subprocess.run(
        [sys.executable, "-c", _SIGNAL_AT_RENAME, sig, "create", str(lock), "-p", str(prefix), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["packages"] == 2
    assert (prefix / "bin/app").exists()
    assert [p for p in prefix.rglob("*") if ".cenv" in p.name] == []
    assert siblings(prefix) == []


# ---------------------------------------------------------------- 7. true words


def test_a_full_disk_is_not_blamed_on_the_server(
    channel_factory: Callable[..., ChannelFactory],
    http_channel_server: Callable[[Path], ChannelServer],
    tmp_path: Path,
) -> None:
    ch = _channel(channel_factory, payload=400_000)
    server = http_channel_server(ch.path.parent)
    lock = _locked(ch, tmp_path, server.channel_url("ch"))
    pkgs = tmp_path / "tiny-pkgs"
    pkgs.mkdir()
    app = ch.record("app")
    result = in_namespace(
        f"mount -t tmpfs -o size=128k tmpfs '{pkgs}'",
        "create",
        lock,
        "-p",
        tmp_path / "env",
        env={"CONDA_PKGS_DIRS": str(pkgs)},
    )
    assert result.code == 1, result.output
    error = _one_error(result)
    assert "No space left on device" in error and str(pkgs) in error
    assert "free some space" in result.stderr and "channel server" not in result.stderr
    assert server.count(f"*/{app.filename}", "GET") == 1  # not retried
    assert not (tmp_path / "env").exists()


def test_a_long_prefix_name_whose_staging_sibling_would_not_fit(
    channel_factory: Callable[..., ChannelFactory], tmp_path: Path
) -> None:
    lock = _locked(_channel(channel_factory), tmp_path)
    prefix = tmp_path / ("p" * 250)  # fits; `.<name>.cenv-tmp-<hex>` would not
    result = cenv("create", lock, "-p", prefix)
    assert result.code == 0, result.output
    assert (prefix / "bin/app").exists()
    assert [n for n in os.listdir(tmp_path) if n.startswith(".")] == []  # no sibling left


def test_waiting_for_another_process_holding_the_cache_is_said(
    channel_factory: Callable[..., ChannelFactory], tmp_path: Path
) -> None:
    from filelock import FileLock

    lock = _locked(_channel(channel_factory), tmp_path)
    pkgs = pkgs_dir()
    pkgs.mkdir(parents=True)
    held = FileLock(str(pkgs / ".cenv-cache.lock"))
    held.acquire()
    stderr_path = tmp_path / "stderr.txt"
    with open(stderr_path, "w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cenv", "create", str(lock), "-p", str(tmp_path / "env")],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            deadline = time.monotonic() + 60
            while "waiting for another cenv process" not in stderr_path.read_text():
                assert proc.poll() is None, stderr_path.read_text()
                assert time.monotonic() < deadline, stderr_path.read_text()
                time.sleep(0.1)
            assert not (tmp_path / "env").exists()
        finally:
            held.release()
        assert proc.wait(timeout=120) == 0, stderr_path.read_text()
    assert f"package cache `{pkgs}`" in stderr_path.read_text()
    assert (tmp_path / "env/bin/app").exists()
