"""A private pip index that requires HTTP Basic auth, its credentials only in rattler's auth file
(`RATTLER_AUTH_FILE`) or in `~/.netrc`: `cenv lock` (uv pip compile) and `cenv create` (uv pip install from
the lockfile's credential-free URLs) both reach it, and no file written (the lock's folder, the caches, the
prefix, HOME) holds the password. Real wheels, a real server on 127.0.0.1, real uv.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.cli_helpers import cenv
from tests.support.secure_server import AuthIndexServer
from tests.support.wheel_factory import WheelIndex

PY = f"{sys.version_info.major}.{sys.version_info.minor}"
SECRET = "pIp-1ndex-s3cr3t-77d2"
USER = "bob"
_CREDENTIAL_ENV = ("RATTLER_AUTH_FILE", "NETRC", "CONDARC", "UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated HOME (no ~/.netrc unless the test writes one) and no credential variables."""
    home = tmp_path / "home"
    home.mkdir()
    for name in _CREDENTIAL_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("CENV_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    # cenv's private auth file and netrc, and uv's temporary files, land where the scan looks
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    return home


@pytest.fixture
def private_index(tmp_path: Path) -> WheelIndex:
    index = WheelIndex(tmp_path / "private-pypi")
    index.add("privpkg", "1.0", requires=["privdep>=2"])
    index.add("privdep", "2.0")
    return index.write()


def _spec(folder: Path, demo_channel: Path, index_url: str, extra_line: bool = False) -> Path:
    """`extra_line`: the index as an `--extra-index-url` line of the `pip:` list (the main index then an
    empty local one, so nothing reaches PyPI)."""
    spec = folder / "env.yml"
    main = index_url
    pip = ["privpkg"]
    if extra_line:
        main = WheelIndex(folder / "empty-index").write().simple_url
        pip.insert(0, f"--extra-index-url {index_url}")
    spec.write_text(
        f"channels: [{demo_channel.as_posix()}]\n"
        f"pip-options:\n  index-url: {main}\n"
        f"dependencies:\n  - python {PY}.*\n  - pip:\n" + "".join(f"      - {line}\n" for line in pip)
    )
    return spec


def _holding_the_secret(*folders: Path, allowed: tuple[Path, ...]) -> list[Path]:
    return [
        path
        for folder in folders
        for path in folder.rglob("*")
        if path not in allowed
        and path.is_file()
        and not path.is_symlink()
        and SECRET.encode() in path.read_bytes()
    ]


@pytest.mark.parametrize("source", ["auth-file", "auth-file-extra-index-line", "netrc", "url"])
def test_private_index_credentials_reach_lock_and_create_and_are_written_nowhere(
    tmp_path: Path, home: Path, demo_channel: Path, private_index: WheelIndex, source: str
) -> None:
    if source.startswith("auth-file"):
        stored = home / "auth.json"
        stored.write_text(json.dumps({"127.0.0.1": {"BasicHTTP": {"username": USER, "password": SECRET}}}))
        env = {"RATTLER_AUTH_FILE": str(stored)}
    elif source == "netrc":
        stored = home / ".netrc"
        stored.write_text(f"machine 127.0.0.1 login {USER} password {SECRET}\n")
        stored.chmod(0o600)
        env = {}
    else:  # `user:password@` in the spec's index URL: create of the spec finds it again by host
        env = {}
    work = tmp_path / "work"
    work.mkdir()
    with AuthIndexServer(private_index.root, basic=(USER, SECRET)) as server:
        url = f"{server.url}/simple"
        if source == "url":
            url = url.replace("://", f"://{USER}:{SECRET}@")
        spec = _spec(work, demo_channel, url, extra_line=source.endswith("extra-index-line"))
        if source == "url":
            stored = spec
        locked = cenv("lock", spec, "--json", cwd=work, env=env)
        assert locked.code == 0, locked.output
        lockfile = work / "env-lock.yml"
        text = lockfile.read_text()
        assert f"{server.url}/files/privpkg-1.0-py3-none-any.whl" in text
        assert f"{server.url}/files/privdep-2.0-py3-none-any.whl" in text
        assert f"{USER}@" not in text and f"{USER}:" not in text
        assert server.count("/simple/privpkg/") > 0

        prefix = tmp_path / "env"
        target = spec if source == "url" else lockfile
        created = cenv("create", target, "-p", prefix, "--json", cwd=work, env=env)
        assert created.code == 0, created.output
        assert server.count("/files/*.whl") > 0  # the wheels came from the private index, authorized
        exported = cenv("export", lockfile, "--format", "requirements", "-p", "linux-64", cwd=work, env=env)
        assert exported.code == 0, exported.output
        (work / "requirements.txt").write_text(exported.stdout)
    check = subprocess.run(
        [
            prefix / "bin" / "python",
            "-c",
            "import privpkg, privdep; print(privpkg.__name__, privdep.__name__)",
        ],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    for result in (locked, created, exported):
        assert SECRET not in result.output
    assert list((tmp_path / "tmp").glob("cenv-auth-*")) == []  # removed when cenv exits
    assert _holding_the_secret(tmp_path, allowed=(stored,)) == []


def test_without_credentials_the_private_index_refuses(
    tmp_path: Path, home: Path, demo_channel: Path, private_index: WheelIndex
) -> None:
    """The controls: with no credentials anywhere the lock fails (exit 1), and a lock made with them does
    not install without them; both errors say where credentials go, and no prefix is left behind."""
    auth = home / "auth.json"
    auth.write_text(json.dumps({"127.0.0.1": {"BasicHTTP": {"username": USER, "password": SECRET}}}))
    with AuthIndexServer(private_index.root, basic=(USER, SECRET)) as server:
        spec = _spec(tmp_path, demo_channel, f"{server.url}/simple")
        refused = cenv("lock", spec, cwd=tmp_path)
        assert not (tmp_path / "env-lock.yml").exists()
        locked = cenv("lock", spec, cwd=tmp_path, env={"RATTLER_AUTH_FILE": str(auth)})
        assert locked.code == 0, locked.output
        fresh = {"CENV_CACHE_DIR": str(tmp_path / "cache2"), "XDG_CACHE_HOME": str(tmp_path / "xdg2")}
        uninstalled = cenv(
            "create", tmp_path / "env-lock.yml", "-p", tmp_path / "env", cwd=tmp_path, env=fresh
        )
    for result in (refused, uninstalled):
        assert result.code == 1, result.output
        assert "127.0.0.1" in result.stderr and "Traceback" not in result.output
        assert "RATTLER_AUTH_FILE" in result.stderr  # the hint names where credentials go
    assert not (tmp_path / "env").exists()


def test_uv_netrc_merges_the_users_entries_and_is_private(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What uv is given: the auth file's Basic entries by host (winning over the user's netrc for that host),
    the user's other netrc entries kept, nothing netrc cannot express, readable by the owner only."""
    from cenv.config import current_config
    from cenv.net import Network, cleanup

    (home / ".netrc").write_text(
        f"machine 127.0.0.1 login old password stale\nmachine other.example login carol password {SECRET}-o\n"
    )
    auth = home / "auth.json"
    entries = {
        "127.0.0.1": {"BasicHTTP": {"username": USER, "password": SECRET}},
        "*.wild.example": {"BasicHTTP": {"username": USER, "password": "w"}},
        "bearer.example": {"BearerToken": "b"},
    }
    auth.write_text(json.dumps(entries))
    monkeypatch.setenv("RATTLER_AUTH_FILE", str(auth))
    try:
        env = Network(current_config()).uv_environment()
        netrc = Path(env["NETRC"])
        lines = netrc.read_text().splitlines()
        assert (netrc.stat().st_mode & 0o077) == 0 and (netrc.parent.stat().st_mode & 0o077) == 0
    finally:
        cleanup()
    assert lines == [
        f"machine 127.0.0.1 login {USER} password {SECRET}",
        f"machine other.example login carol password {SECRET}-o",
    ]
    assert not netrc.exists()  # removed with the process's other private credential files
    monkeypatch.delenv("RATTLER_AUTH_FILE")
    assert Network(current_config()).uv_environment() == {}  # nothing to add: uv reads ~/.netrc itself


def test_credentials_found_later_keep_the_users_auth_file(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: a URL credential found after the client was built rewrote the private auth file without the
    user's RATTLER_AUTH_FILE entries (they were then gone for rattler, uv and `cenv info`)."""
    from cenv.config import current_config
    from cenv.net import Network, cleanup

    auth = home / "auth.json"
    auth.write_text(json.dumps({"127.0.0.1": {"BasicHTTP": {"username": USER, "password": SECRET}}}))
    monkeypatch.setenv("RATTLER_AUTH_FILE", str(auth))
    net = Network(current_config())
    try:
        for host in ("b.example", "c.example"):
            net.clean(f"http://u:p@{host}/channel")
            net.client()
        merged = json.loads(Path(os.environ["RATTLER_AUTH_FILE"]).read_text())
        netrc = Path(net.uv_environment()["NETRC"]).read_text()
        sources = net.credential_sources()
    finally:
        cleanup()
    assert set(merged) == {"127.0.0.1", "b.example", "c.example"}
    assert f"machine 127.0.0.1 login {USER} password {SECRET}" in netrc.splitlines()
    assert sources["127.0.0.1"].startswith("RATTLER_AUTH_FILE")
