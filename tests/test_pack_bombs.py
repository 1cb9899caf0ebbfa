"""Issue #20 (MEDIUM): a pack from someone else cannot fill the disk or memory, and leaves nothing behind.

A pack is a plain tar: compressed packs, sparse or special members are refused before a byte is written; the
members may not claim more bytes than the pack holds; the member count is bounded and the manifest's size is
judged before it is read. Temporary folders of a killed run are found and removed by the next one; SIGTERM
removes them on the way out (the private auth folder, which holds a secret, too).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from tests.cli_helpers import cenv
from tests.support.channel_factory import build_demo_channel
from tests.support.http_server import ChannelServer

pytestmark = pytest.mark.skipif(os.name != "posix", reason="sparse files, signals and flock are POSIX")


def _manifest(files: dict[str, tuple[str, int]]) -> bytes:
    payload = {
        "format": "cenv-pack/1",
        "cenv_version": "0",
        "lockfile": "env-lock.yml",
        "platforms": ["linux-64"],
        "files": {p: {"sha256": h, "size": n} for p, (h, n) in files.items()},
    }
    return json.dumps(payload).encode()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _tmpdir(tmp_path: Path) -> dict[str, str]:
    folder = tmp_path / "tmpdir"
    folder.mkdir(exist_ok=True)
    return {"TMPDIR": str(folder), "CENV_CACHE_DIR": str(tmp_path / "cache")}


def _create(tmp_path: Path, pack: Path) -> tuple[int, str]:
    result = cenv("create", pack, "--prefix", tmp_path / "env", cwd=tmp_path, env=_tmpdir(tmp_path))
    assert "Traceback" not in result.output
    assert not (tmp_path / "env").exists()
    assert list((tmp_path / "tmpdir").iterdir()) == [], "leftovers in TMPDIR"
    return result.code, result.stderr


def test_a_compressed_pack_is_refused_before_it_expands(tmp_path: Path) -> None:
    """A 1 MB `.tar.gz` expanded a 1 GiB member into $TMPDIR (here 32 MiB of zeros, 32 KB compressed)."""
    big = bytes(32 << 20)
    import hashlib

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        _add(tar, "cenv-pack.json", _manifest({"env-lock.yml": (hashlib.sha256(big).hexdigest(), len(big))}))
        _add(tar, "env-lock.yml", big)
    pack = tmp_path / "evil.tar"
    pack.write_bytes(gzip.compress(raw.getvalue()))
    assert pack.stat().st_size < 1 << 20
    code, stderr = _create(tmp_path, pack)
    assert code == 1 and "gzip-compressed" in stderr, stderr


SPARSE = "is a link, a sparse or a special file"


@pytest.mark.parametrize("member", ["env-lock.yml", "cenv-pack.json"])
def test_a_sparse_member_is_refused(tmp_path: Path, member: str) -> None:
    """A 32 KB plain tar with a sparse member (GNU tar `-S`) expanded to its full size (here 256 MiB); a
    sparse `cenv-pack.json` was read whole into memory before its 64 MiB limit was checked (1.5 GB RSS)."""
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "cenv-pack.json").write_bytes(_manifest({"env-lock.yml": ("a" * 64, 256 << 20)}))
    (folder / "env-lock.yml").write_text("version: 1\n")
    with open(folder / member, "wb") as handle:
        handle.truncate(256 << 20 if member == "env-lock.yml" else 80 << 20)
    pack = tmp_path / "evil.tar"
    subprocess.run(["tar", "-S", "-cf", pack, "-C", folder, "cenv-pack.json", "env-lock.yml"], check=True)
    assert pack.stat().st_size < 1 << 20
    code, stderr = _create(tmp_path, pack)
    assert code == 1 and SPARSE in stderr, stderr


def test_members_may_not_claim_more_than_the_pack_holds(tmp_path: Path) -> None:
    """Member headers are judged together before anything is read: their sizes add up to at most the
    pack's own size (a plain tar cannot expand; tarfile itself stops at a truncated one)."""
    from cenv.pack import unpack
    from cenv.pack.manifest import PackError

    pack = tmp_path / "x.tar"
    pack.write_bytes(bytes(10240))
    members = []
    for name in ("cenv-pack.json", "a", "b"):
        info = tarfile.TarInfo(name)
        info.size = 4000
        members.append(info)
    with pytest.raises(PackError, match="claim more bytes than the pack holds"):
        unpack._check_members(pack, members)
    assert set(unpack._check_members(pack, members[:2])) == {"cenv-pack.json", "a"}


def test_the_member_count_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two million empty members took 1 GB and 39 s; the reader stops at the bound (lowered here)."""
    from cenv.pack import unpack
    from cenv.pack.manifest import PackError

    monkeypatch.setattr(unpack, "MAX_MEMBERS", 50)
    pack = tmp_path / "many.tar"
    with tarfile.open(pack, "w") as tar:
        for i in range(200):
            _add(tar, f"f{i}", b"")
    with pytest.raises(PackError, match="more than 50 members"), unpack.open_pack(pack):
        pass


def test_the_manifest_size_is_judged_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cenv.pack import unpack
    from cenv.pack.manifest import PackError

    monkeypatch.setattr(unpack, "MAX_MANIFEST_BYTES", 100)
    pack = tmp_path / "big-manifest.tar"
    with tarfile.open(pack, "w") as tar:
        _add(tar, "cenv-pack.json", b" " * 1000)
    with pytest.raises(PackError, match="too large"), unpack.open_pack(pack):
        pass


def test_a_killed_runs_auth_folder_is_removed_by_the_next_run(tmp_path: Path) -> None:
    """LOW: SIGKILL left `$TMPDIR/cenv-auth-*/credentials.json` (0600, the secret inside) forever."""
    env = {**os.environ, **_tmpdir(tmp_path)}
    script = (
        "import os; from cenv.net import network\n"
        "net = network(); net.clean('http://alice:s3cret-kill@127.0.0.1:9/c'); net.client()\n"
        "print(os.environ['RATTLER_AUTH_FILE'], flush=True); os.kill(os.getpid(), 9)\n"
    )
    killed = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    left = Path(killed.stdout.strip()).parent
    assert killed.returncode == -9 and left.is_dir(), killed.stderr
    old = time.time() - 60
    os.utime(left, (old, old))
    result = cenv("info", cwd=tmp_path, env=_tmpdir(tmp_path))
    assert result.code == 0, result.output
    assert not left.exists()


def test_a_killed_runs_folders_are_removed_by_the_next_run(tmp_path: Path) -> None:
    """SIGKILL runs no clean-up: a full extracted copy (`cenv-pack-*`) stayed in $TMPDIR forever."""
    from cenv.private_tmp import make_private_dir

    env = _tmpdir(tmp_path)
    script = (
        "import os, sys; from pathlib import Path; from cenv.private_tmp import make_private_dir\n"
        "d = make_private_dir('cenv-pack-', Path(sys.argv[1])); (d / 'copy').write_text('x')\n"
        "print(d, flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    killed = subprocess.run([sys.executable, "-c", script, env["TMPDIR"]], capture_output=True, text=True)
    left = Path(killed.stdout.strip())
    assert killed.returncode == -9 and left.is_dir()
    live = make_private_dir("cenv-pack-", Path(env["TMPDIR"]))  # this process holds it
    old = time.time() - 60
    for folder in (left, live):
        os.utime(folder, (old, old))
    fresh = make_private_dir("cenv-pack-", Path(env["TMPDIR"]))
    assert not left.exists() and live.is_dir() and fresh.is_dir()


def test_sigterm_during_a_lock_removes_the_private_auth_file(tmp_path: Path) -> None:
    """LOW: SIGTERM of `cenv lock` (no handler) left `$TMPDIR/cenv-auth-*/credentials.json` (the secret)."""
    root = tmp_path / "www"
    build_demo_channel(root, "demo")
    env = {**os.environ, **_tmpdir(tmp_path)}
    with ChannelServer(root) as server:
        server.delay_paths["*repodata*"] = 30
        url = server.url.replace("http://", "http://alice:s3cret-sigterm@") + "/demo"
        spec = tmp_path / "env.yml"
        spec.write_text(f"channels: ['{url}']\ndependencies: [cenv-demo-app]\n")
        proc = subprocess.Popen(
            [sys.executable, "-m", "cenv", "lock", str(spec), "-p", "linux-64"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        tmpdir = tmp_path / "tmpdir"
        deadline = time.monotonic() + 30
        while not list(tmpdir.glob("cenv-auth-*/credentials.json")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(tmpdir.glob("cenv-auth-*/credentials.json")), "the lock never wrote its auth file"
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
        server.delay_paths.clear()
    assert proc.returncode != 0
    assert "Traceback" not in stderr
    assert list(tmpdir.iterdir()) == [], list(tmpdir.iterdir())


def test_a_manifest_platform_must_be_a_known_platform() -> None:
    from cenv.pack.manifest import Manifest, PackError

    data = json.loads(_manifest({"env-lock.yml": ("a" * 64, 1)}))
    data["platforms"] = ["../../victim"]
    with pytest.raises(PackError, match="unknown platform"):
        Manifest.from_bytes(json.dumps(data).encode(), "x.tar")


def test_sigterm_during_a_pack_leaves_nothing_beside_the_output(tmp_path: Path) -> None:
    """LOW: signals left `.X.tar.cenv-pack-*` (and a `.part`) beside a pack's output."""
    root = tmp_path / "www"
    build_demo_channel(root, "demo")
    env = {**os.environ, **_tmpdir(tmp_path)}
    with ChannelServer(root) as server:
        spec = tmp_path / "env.yml"
        spec.write_text(f"channels: ['{server.channel_url('demo')}']\ndependencies: [cenv-demo-app]\n")
        locked = subprocess.run(
            [sys.executable, "-m", "cenv", "lock", str(spec), "-p", "linux-64"], env=env, capture_output=True
        )
        assert locked.returncode == 0, locked.stderr
        server.delay_paths["*.conda"] = 8
        out = tmp_path / "out"
        out.mkdir()
        proc = subprocess.Popen(
            [sys.executable, "-m", "cenv", "pack", str(tmp_path / "env-lock.yml"), "-o", str(out / "x.tar")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not list(out.glob(".x.tar.cenv-pack-*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(out.glob(".x.tar.cenv-pack-*")), "the pack never staged"
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
        server.delay_paths.clear()
    assert proc.returncode != 0 and "Traceback" not in stderr, stderr
    assert list(out.iterdir()) == []
