"""`cenv create` end to end: real archives, a real HTTP channel server, real rattler linking."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from tests.cli_helpers import cenv
from tests.create_support import files_containing, pkgs_dir, siblings, write_spec
from tests.support.http_server import ChannelServer

DEMO_FILES = 6  # python, hello-cenv, cenv-demo-app, cenv-demo-tool, libcenv-mid, libcenv-base


def _archives(server: ChannelServer) -> int:
    return server.count("*.conda", "GET") + server.count("*.tar.bz2", "GET")


def _meta(prefix: Path) -> dict[str, dict[str, object]]:
    return {p.name: json.loads(p.read_text()) for p in (prefix / "conda-meta").glob("*.json")}


@pytest.fixture
def http_demo(demo_channel: Path, http_channel_server: Callable[[Path], ChannelServer]) -> ChannelServer:
    return http_channel_server(demo_channel.parent)


def test_create_from_spec_over_http_end_to_end(http_demo: ChannelServer, tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "env.yml", http_demo.channel_url("demo"))
    prefix = tmp_path / "envs" / "app"
    result = cenv("create", spec, "-p", prefix)
    assert result.code == 0, result.output
    assert f"locked {tmp_path / 'env-lock.yml'}" in result.stderr
    assert (tmp_path / "env-lock.yml").is_file()
    assert _archives(http_demo) == DEMO_FILES  # each archive fetched once, by cenv

    # files, prefix placeholders and entry points carry the final path, never the temporary sibling
    tool = (prefix / "bin" / "cenv-demo-tool").read_text()
    assert f'PREFIX="{prefix}"' in tool and "anaconda1anaconda2" not in tool
    conf = (prefix / "etc" / "cenv-demo-tool.conf").read_text()
    assert conf == f"data_dir = {prefix}/share/cenv-demo-tool\n"
    assert (prefix / "lib" / "libcenv-mid.so").is_symlink()
    shebang = (prefix / "bin" / "hello-cenv").read_text().splitlines()[0]
    assert shebang.startswith(f"#!{prefix}/bin/python")
    assert files_containing(prefix, b".cenv-tmp-") == []
    assert siblings(prefix) == []

    meta = _meta(prefix)
    assert len(meta) == DEMO_FILES
    tool_meta = next(m for n, m in meta.items() if n.startswith("cenv-demo-tool-"))
    assert tool_meta["url"] == http_demo.channel_url("demo") + f"/linux-64/{tool_meta['fn']}"
    assert tool_meta["depends"] == ["libcenv-mid >=2.0"]
    assert all(str(m["url"]).startswith("http://127.0.0.1") for m in meta.values())

    code = "import hello_cenv, sys; print(hello_cenv.__version__, sys.prefix)"
    out = subprocess.run(
        [prefix / "bin" / "python", "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["0.2.0", str(prefix)]
    run = cenv("run", "-p", prefix, "--", "hello-cenv")
    assert run.code == 0, run.output
    assert run.stdout.strip() == f"hello from cenv 0.2.0 in {prefix}"
    assert f"cenv run -p {prefix} -- COMMAND" in result.stderr

    # a second environment with the same packages: fresh lock reused, nothing downloaded
    http_demo.reset_counters()
    second = cenv("create", spec, "-p", tmp_path / "envs" / "again", "--json")
    assert second.code == 0, second.output
    summary = json.loads(second.stdout)
    assert summary["lock"] == "fresh"
    assert summary["downloaded"] == 0 and summary["downloaded_bytes"] == 0
    assert summary["linked_from_cache"] == DEMO_FILES == summary["packages"]
    assert _archives(http_demo) == 0


def test_create_from_lockfile_explicit_and_pixi(
    http_demo: ChannelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write_spec(tmp_path / "env.yml", http_demo.channel_url("demo"))
    lock = tmp_path / "env-lock.yml"
    assert cenv("lock", spec).code == 0

    from_lock = cenv("create", lock, "-p", tmp_path / "from-lock", "--json")
    assert from_lock.code == 0, from_lock.output
    assert json.loads(from_lock.stdout)["downloaded"] == DEMO_FILES

    explicit = tmp_path / "explicit.txt"
    assert cenv("export", lock, "--format", "explicit", "-o", explicit).code == 0
    # a cold cache: records come from each archive's own index.json (explicit files carry only URLs + md5)
    monkeypatch.setenv("CENV_CACHE_DIR", str(tmp_path / "cold"))
    http_demo.reset_counters()
    from_explicit = cenv("create", explicit, "-p", tmp_path / "from-explicit", "--json")
    assert from_explicit.code == 0, from_explicit.output
    assert json.loads(from_explicit.stdout)["downloaded"] == DEMO_FILES
    assert _archives(http_demo) == DEMO_FILES
    meta = _meta(tmp_path / "from-explicit")
    tool = next(m for n, m in meta.items() if n.startswith("cenv-demo-tool-"))
    assert tool["depends"] == ["libcenv-mid >=2.0"] and tool["sha256"] and tool["md5"]
    assert cenv("run", "-p", tmp_path / "from-explicit", "--", "hello-cenv").code == 0

    import rattler

    records = rattler.LockFile.from_path(lock).default_environment()
    assert records is not None
    platform = records.platforms()[0]
    pixi = rattler.LockFile([platform])
    for record in records.conda_repodata_records_for_platform(platform) or []:
        pixi.add_conda_package("default", platform, record)
    pixi.set_channels("default", [rattler.LockChannel(http_demo.channel_url("demo"))])
    pixi.to_path(tmp_path / "pixi.lock")
    from_pixi = cenv("create", tmp_path / "pixi.lock", "-p", tmp_path / "from-pixi", "--json")
    assert from_pixi.code == 0, from_pixi.output
    assert json.loads(from_pixi.stdout)["linked_from_cache"] == DEMO_FILES
    tool_text = (tmp_path / "from-pixi" / "bin" / "cenv-demo-tool").read_text()
    assert tool_text.count(str(tmp_path / "from-pixi")) == 1


def test_dry_run_changes_nothing(http_demo: ChannelServer, tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "env.yml", http_demo.channel_url("demo"))
    prefix = tmp_path / "env"
    result = cenv("create", spec, "-p", prefix, "--dry-run")
    assert result.code == 0, result.output
    assert "not written in a dry run" in result.stderr
    assert "download   cenv-demo-tool 1.3.0\n" in result.stderr
    assert f"{DEMO_FILES} to download" in result.stderr
    assert not prefix.exists() and not (tmp_path / "env-lock.yml").exists()
    assert not pkgs_dir().exists()
    assert _archives(http_demo) == 0
    # no round trip per package (issue #12): a lock records no sizes, so none are shown
    assert http_demo.count("*.conda") + http_demo.count("*.tar.bz2") == 0

    as_json = cenv("create", spec, "-p", prefix, "--dry-run", "--json")
    plan = json.loads(as_json.stdout)
    assert plan["dry_run"] is True and plan["packages"] == DEMO_FILES
    assert plan["fetch_bytes"] is None and all(f["size"] is None for f in plan["fetch"])
    assert not prefix.exists()


def test_named_environments_and_missing_target(demo_channel: Path, tmp_path: Path) -> None:
    envs = tmp_path / "envs"
    env = {"CONDA_ENVS_PATH": f"{tmp_path / 'readonly-missing'}{os.pathsep}{envs}", "HOME": str(tmp_path)}
    (tmp_path / "readonly-missing").mkdir(mode=0o500)
    named = write_spec(tmp_path / "named.yml", str(demo_channel), name="demo-app")
    result = cenv("create", named, env=env)
    # root writes anywhere, so the first CONDA_ENVS_PATH entry wins; others skip the read-only one
    expected = (tmp_path / "readonly-missing" if os.geteuid() == 0 else envs) / "demo-app"
    assert result.code == 0, result.output
    assert (expected / "conda-meta").is_dir()
    run = cenv("run", "-n", "demo-app", "--", "hello-cenv", env=env)
    assert run.code == 0, run.output
    assert str(expected) in run.stdout

    unnamed = write_spec(tmp_path / "unnamed.yml", str(demo_channel))
    missing = cenv("create", unnamed, env=env)
    assert missing.code == 1
    assert "error: no target environment" in missing.stderr and "hint:" in missing.stderr


def test_condarc_envs_dirs_and_conda_pkgs_dirs(demo_channel: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".condarc").write_text(f"envs_dirs:\n  - {tmp_path / 'rc-envs'}\n")
    cache = tmp_path / "shared-pkgs"
    spec = write_spec(tmp_path / "env.yml", str(demo_channel), deps=("libcenv-base",))
    env = {"HOME": str(home), "CONDA_PKGS_DIRS": f"{cache},{tmp_path / 'second'}"}
    result = cenv("create", spec, "-n", "rc", env=env)
    assert result.code == 0, result.output
    assert (tmp_path / "rc-envs" / "rc" / "lib" / "libcenv-base.txt").is_file()
    assert any(p.name.startswith("libcenv-base-1.0.0") for p in cache.iterdir())
    assert not (tmp_path / "second").exists()


def test_existing_prefix_refused_force_replaces(demo_channel: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    first = write_spec(tmp_path / "a.yml", str(demo_channel), deps=("python", "hello-cenv 0.2.0"))
    assert cenv("create", first, "-p", prefix).code == 0

    second = write_spec(tmp_path / "b.yml", str(demo_channel), deps=("python", "hello-cenv 0.1.0"))
    refused = cenv("create", second, "-p", prefix)
    assert refused.code == 1
    assert "already exists" in refused.stderr and "--force" in refused.stderr
    assert any(n.startswith("hello-cenv-0.2.0") for n in _meta(prefix))

    replaced = cenv("create", second, "-p", prefix, "--force")
    assert replaced.code == 0, replaced.output
    names = sorted(_meta(prefix))
    assert any(n.startswith("hello-cenv-0.1.0") for n in names)
    assert not any(n.startswith("hello-cenv-0.2.0") for n in names)
    assert siblings(prefix) == []
    assert cenv("run", "-p", prefix, "--", "hello-cenv").stdout.startswith("hello from cenv 0.1.0")

    not_env = tmp_path / "precious"
    not_env.mkdir()
    (not_env / "keep.txt").write_text("mine")
    guarded = cenv("create", second, "-p", not_env, "--force")
    assert guarded.code == 1 and "not a conda environment" in guarded.stderr
    assert (not_env / "keep.txt").read_text() == "mine"

    empty = tmp_path / "empty"
    empty.mkdir()
    assert cenv("create", first, "-p", empty).code == 0
    assert (empty / "conda-meta").is_dir()


def test_fresh_lock_reused_stale_lock_stops_until_relock(demo_channel: Path, tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "env.yml", str(demo_channel), deps=("libcenv-base",))
    assert "locked" in cenv("create", spec, "-p", tmp_path / "a").stderr
    again = cenv("create", spec, "-p", tmp_path / "b")
    assert f"using fresh lockfile {tmp_path / 'env-lock.yml'}" in again.stderr
    write_spec(spec, str(demo_channel), deps=("libcenv-mid",))
    before = (tmp_path / "env-lock.yml").read_bytes()
    stale = cenv("create", spec, "-p", tmp_path / "c")
    # a stale lock is never rewritten unasked: exit 1, the reasons, the command that refreshes it
    assert stale.code == 1, stale.output
    assert "dependency `libcenv-mid` added" in stale.stderr and "--relock" in stale.stderr
    assert (tmp_path / "env-lock.yml").read_bytes() == before and not (tmp_path / "c").exists()
    printed = re.search(r"refresh it with `([^`]+)`", stale.stderr)
    assert printed is not None, stale.stderr
    assert cenv(*shlex.split(printed.group(1))[1:]).code == 0  # the printed command works as printed
    assert cenv("create", spec, "-p", tmp_path / "c").code == 0
    write_spec(spec, str(demo_channel), deps=("libcenv-mid",))
    (tmp_path / "env-lock.yml").write_bytes(before)
    changed = cenv("create", spec, "-p", tmp_path / "d", "--relock")
    assert changed.code == 0, changed.output
    assert "re-locking" in changed.stderr and "dependency `libcenv-" in changed.stderr, changed.stderr
    assert (tmp_path / "d" / "lib" / "libcenv-mid.txt").is_file()
    lock = yaml.safe_load((tmp_path / "env-lock.yml").read_text())
    assert {p["name"] for p in lock["package"]} == {"libcenv-mid", "libcenv-base"}


def test_two_creates_at_once_share_the_cache(http_demo: ChannelServer, tmp_path: Path) -> None:
    url = http_demo.channel_url("demo")
    specs = [
        write_spec(tmp_path / "a" / "env.yml", url, deps=("python", "cenv-demo-app")),
        write_spec(tmp_path / "b" / "env.yml", url, deps=("python", "hello-cenv 0.1.0", "cenv-demo-tool")),
    ]
    for spec in specs:  # lock first so that both creates reach the install step together
        assert cenv("lock", spec).code == 0
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "cenv", "create", spec.with_name("env-lock.yml"), "-p", spec.parent / "e"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for spec in specs
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[1] for o in outputs)
    a, b = tmp_path / "a" / "e", tmp_path / "b" / "e"
    assert cenv("run", "-p", a, "--", "hello-cenv").stdout.startswith("hello from cenv 0.2.0")
    assert cenv("run", "-p", b, "--", "hello-cenv").stdout.startswith("hello from cenv 0.1.0")
    assert (b / "bin" / "cenv-demo-tool").is_file()


def test_rebuilt_archive_with_the_same_name_is_extracted_again(tmp_path: Path) -> None:
    """The cache holds an extracted entry of an older build with the same file name (a channel rebuilt
    it): after re-locking, create links the new content, never the stale entry."""
    from tests.support.channel_factory import ChannelFactory

    def channel(text: str) -> Path:
        ch = ChannelFactory(tmp_path / "channels", "ch")
        ch.package("rebuilt", "1.0", build="h0_0", subdir="linux-64", files={"share/rebuilt.txt": text})
        ch.write_repodata()
        return ch.path

    path = channel("first build\n")
    spec = write_spec(tmp_path / "env.yml", str(path), deps=("rebuilt",))
    assert cenv("create", spec, "-p", tmp_path / "a").code == 0
    channel("second build, same file name\n")
    (pkgs_dir() / "rebuilt-1.0-h0_0.conda").unlink()  # keep only the stale extracted entry
    assert cenv("lock", spec).code == 0
    result = cenv("create", spec, "-p", tmp_path / "b")
    assert result.code == 0, result.output
    assert (tmp_path / "b" / "share" / "rebuilt.txt").read_text() == "second build, same file name\n"
    assert (tmp_path / "a" / "share" / "rebuilt.txt").read_text() == "first build\n"


def test_cache_stamps_stay_valid_after_linking(demo_channel: Path, tmp_path: Path) -> None:
    """Hard-linking from the cache changes the files' ctime; the stamps are renewed so the next create
    trusts them instead of hashing every cached file again.

    Observed from outside, without cenv's stamp code: after three creates, one cached file gets a same-size
    edit in place with its mtime put back (what a stamp does not see, by design: see archive_guard's
    `_signature`). A create that trusts the stamps links it as it is; one that hashes the entry (a stale
    stamp) finds the sha256 mismatch and extracts the archive again, linking the original text."""
    spec = write_spec(tmp_path / "env.yml", str(demo_channel))
    for name in ("a", "b", "c"):
        assert cenv("create", spec, "-p", tmp_path / name).code == 0
    entries = [d for d in pkgs_dir().iterdir() if (d / "info" / "paths.json").is_file()]
    assert len(entries) == DEMO_FILES
    [entry] = [d for d in entries if d.name.startswith("libcenv-base-")]
    cached = entry / "lib" / "libcenv-base.txt"
    original = cached.read_text()
    assert original == "libcenv-base 1.0.0\n"
    before = cached.stat()
    with cached.open("r+b") as handle:  # same inode, same size
        handle.write(original.upper().encode())
    os.utime(cached, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (cached.stat().st_ino, cached.stat().st_size) == (before.st_ino, before.st_size)

    result = cenv("create", spec, "-p", tmp_path / "d")
    assert result.code == 0, result.output
    assert (tmp_path / "d" / "lib" / "libcenv-base.txt").read_text() == original.upper()
