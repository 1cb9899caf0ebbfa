"""The network path: channels over a real HTTP server on 127.0.0.1 (ETag, cache, --offline, errors).

The served channel is the demo channel of real archives (tests/support), so this runs in a fresh clone.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from tests.cli_helpers import cenv
from tests.support.http_server import ChannelServer

SPEC = (
    "name: np\nchannels: [conda-forge]\nplatforms: [linux-64]\n"
    "dependencies:\n  - cenv-demo-app\n  - hello-cenv >=0.2\n"
)


@pytest.fixture
def served_root(tmp_path: Path, demo_channel: Path) -> Path:
    """A web root whose `conda-forge` channel is a copy of the demo channel."""
    root = tmp_path / "www"
    shutil.copytree(demo_channel, root / "conda-forge")
    return root


def test_lock_over_http_then_offline(tmp_path: Path, served_root: Path) -> None:
    spec = tmp_path / "np.yml"
    spec.write_text(SPEC)
    cache = {"CENV_CACHE_DIR": str(tmp_path / "cache")}
    with ChannelServer(served_root) as server:
        first = cenv("lock", spec, "--channel-alias", server.url, env=cache)
        assert first.code == 0, first.output
        repodata = "/conda-forge/linux-64/repodata.json*"
        assert server.count(repodata, "GET") >= 1
        served = [
            r
            for r in server.log
            if r.path.startswith("/conda-forge/linux-64/repodata.json") and r.status == 200
        ]
        assert served, server.log
        server.reset_counters()
        second = cenv("lock", spec, "--channel-alias", server.url, env=cache)
        assert second.code == 0, second.output
        # The cache is used: either no request at all or a revalidation answered 304 with our ETag.
        assert all(r.status in (304, 404) for r in server.log if "repodata" in r.path), server.log
        url = server.url
    data = yaml.safe_load((tmp_path / "np-lock.yml").read_text())
    tool = next(p for p in data["package"] if p["name"] == "cenv-demo-tool")
    assert tool["url"].startswith(url + "/conda-forge/linux-64/")
    before = (tmp_path / "np-lock.yml").read_bytes()
    # The server is gone: --offline still locks from the cache, identically.
    offline = cenv("lock", spec, "--channel-alias", url, "--offline", env=cache)
    assert offline.code == 0, offline.output
    assert (tmp_path / "np-lock.yml").read_bytes() == before


def test_offline_without_cache_is_a_clear_error(tmp_path: Path) -> None:
    spec = tmp_path / "np.yml"
    spec.write_text(SPEC)
    result = cenv(
        "lock",
        spec,
        "--channel-alias",
        "http://127.0.0.1:9",
        "--offline",
        env={"CENV_CACHE_DIR": str(tmp_path / "empty")},
    )
    assert result.code == 1, result.output
    assert result.stderr.startswith("error:") and "hint:" in result.stderr and "--offline" in result.stderr


def test_server_error_is_a_clear_error(tmp_path: Path, served_root: Path) -> None:
    spec = tmp_path / "np.yml"
    spec.write_text(SPEC)
    with ChannelServer(served_root) as server:
        for name in (
            "repodata.json",
            "repodata.json.zst",
            "repodata.json.bz2",
            "repodata_shards.msgpack.zst",
        ):
            server.fail_paths[f"/conda-forge/linux-64/{name}"] = 500
        result = cenv(
            "lock", spec, "--channel-alias", server.url, env={"CENV_CACHE_DIR": str(tmp_path / "c")}
        )
    assert result.code == 1, result.output
    assert "error:" in result.stderr and "Traceback" not in result.output


def test_credentials_never_reach_lockfile_or_output(tmp_path: Path, served_root: Path) -> None:
    spec = tmp_path / "np.yml"
    secret = "s3cr3t-t0ken"
    with ChannelServer(served_root) as server:
        channel = f"http://user:{secret}@127.0.0.1:{server.port}/conda-forge"
        spec.write_text(SPEC.replace("[conda-forge]", f"['{channel}']"))
        result = cenv("lock", spec, "--json", env={"CENV_CACHE_DIR": str(tmp_path / "c")})
    assert result.code == 0, result.output
    assert secret not in result.output
    text = (tmp_path / "np-lock.yml").read_text()
    assert secret not in text and "user" not in text
    assert "http://127.0.0.1" in text


def test_unreachable_channel_says_so(tmp_path: Path) -> None:
    spec = tmp_path / "np.yml"
    spec.write_text(SPEC)
    out = tmp_path / "np-lock.yml"
    out.write_text("kept\n")
    result = cenv(
        "lock", spec, "--channel-alias", "http://127.0.0.1:9", env={"CENV_CACHE_DIR": str(tmp_path / "c")}
    )
    assert result.code == 1, result.output
    assert "cannot be reached" in result.stderr and "--channel-alias" in result.stderr, result.stderr
    assert "noarch/repodata.json" not in result.stderr
    assert out.read_text() == "kept\n"
