"""Issue #12: the lockfile remembers how it was made (one resolved plan); create never re-locks unasked.

Driven through the CLI with the demo channel (`python` + `cenv-accel`, whose cuda build needs `__cuda >=12`).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from conda_lock.lockfile import parse_conda_lock_file
from tests.cli_helpers import REALDATA, cenv, mirror
from tests.create_support import write_spec
from tests.support.http_server import ChannelServer

CUDA = {"CONDA_OVERRIDE_CUDA": "12.0"}


def _app(tmp_path: Path, channel: str, *deps: str) -> Path:
    return write_spec(tmp_path / "app.yml", channel, deps=("python", "cenv-accel", *deps))


def _variant(prefix: Path) -> str:
    return (prefix / "share" / "cenv-accel" / "variant").read_text().strip()


def test_cuda_lock_is_installed_as_locked_and_stale_lock_stops(demo_channel: Path, tmp_path: Path) -> None:
    spec = _app(tmp_path, str(demo_channel))
    lock = tmp_path / "app-lock.yml"
    assert cenv("lock", spec, "-p", "linux-64", "--cuda", "12.0").code == 0
    before = lock.read_bytes()
    custom = yaml.safe_load(before)["metadata"]["custom_metadata"]
    assert "__cuda=flag" in custom["cenv.virtual-package-sources.linux-64"]
    parse_conda_lock_file(lock)  # conda-lock's strict parser still reads the recorded inputs

    created = cenv("create", spec, "-p", tmp_path / "x", env=CUDA)
    assert created.code == 0, created.output
    assert _variant(tmp_path / "x") == "cuda" and lock.read_bytes() == before
    assert cenv("lock", spec, "--check").code == 0  # no flags: the lock's own inputs

    _app(tmp_path, str(demo_channel), "hello-cenv")
    stale = cenv("create", spec, "-p", tmp_path / "y", env=CUDA)
    assert stale.code == 1 and "hello-cenv" in stale.stderr, stale.output
    assert not (tmp_path / "y").exists() and lock.read_bytes() == before

    relocked = cenv("create", spec, "-p", tmp_path / "y", "--relock", env=CUDA)
    assert relocked.code == 0, relocked.output
    assert "hello-cenv" in relocked.stderr and _variant(tmp_path / "y") == "cuda"
    custom = yaml.safe_load(lock.read_text())["metadata"]["custom_metadata"]
    assert "__cuda=12.0=0" in custom["cenv.virtual-packages.linux-64"]


def test_create_relock_applies_lock_flags_over_the_recorded_inputs(
    demo_channel: Path, tmp_path: Path
) -> None:
    spec = _app(tmp_path, str(demo_channel))
    lock = tmp_path / "app-lock.yml"
    assert cenv("lock", spec, "-p", "linux-64", "--cuda", "12.0").code == 0
    before = lock.read_bytes()

    stale = cenv("create", spec, "-p", tmp_path / "x", "--cuda", "none", env=CUDA)
    assert stale.code == 1 and "__cuda" in stale.stderr and "--cuda none" in stale.stderr, stale.output
    assert not (tmp_path / "x").exists() and lock.read_bytes() == before

    relocked = cenv("create", spec, "-p", tmp_path / "x", "--cuda", "none", "--relock", env=CUDA)
    assert relocked.code == 0, relocked.output
    assert "__cuda" in relocked.stderr and "cenv-accel" in relocked.stderr, relocked.stderr  # what changed
    assert _variant(tmp_path / "x") == "cpu"
    custom = yaml.safe_load(lock.read_text())["metadata"]["custom_metadata"]
    assert "__cuda" not in custom["cenv.virtual-packages.linux-64"]
    assert "__cuda=flag" in custom["cenv.virtual-package-sources.linux-64"]
    assert cenv("lock", spec, "--check").code == 0  # `--cuda none` is now the recorded input

    back = cenv("create", spec, "-p", tmp_path / "y", "--cuda", "12.0", "--relock", env=CUDA)
    assert back.code == 0 and _variant(tmp_path / "y") == "cuda", back.output
    fresh = cenv("create", spec, "-p", tmp_path / "z", "--cuda", "12.0", env=CUDA)  # as locked: no re-lock
    assert fresh.code == 0 and "using fresh lockfile" in fresh.output, fresh.output

    for args in (("--cuda", "twelve"), ("--glibc", "new")):
        bad = cenv("create", spec, "-p", tmp_path / "w", "--relock", *args)
        assert bad.code == 2 and "hint:" in bad.stderr and "Traceback" not in bad.output, bad.output
    given = cenv("create", lock, "-p", tmp_path / "w", "--cuda", "12.0")
    assert given.code == 2 and "installed as it is" in given.stderr, given.output
    assert not (tmp_path / "w").exists()


def test_printed_refresh_command_works_as_printed(demo_channel: Path, tmp_path: Path) -> None:
    spec = _app(tmp_path, str(demo_channel))
    out = tmp_path / "locks" / "other-lock.yml"
    out.parent.mkdir()
    assert cenv("lock", spec, "-p", "linux-64", "--cuda", "12.0", "-o", out).code == 0
    assert cenv("lock", spec, "-o", out, "--check").code == 0
    _app(tmp_path, str(demo_channel), "hello-cenv")
    stale = cenv("lock", spec, "-o", out, "--check")
    assert stale.code == 1
    hint = next(line for line in stale.stderr.splitlines() if "cenv lock" in line)
    command = shlex.split(hint.split("`")[1])
    assert "-o" in command and "--cuda" in command and "12.0" in command, hint
    assert cenv(*command[1:]).code == 0
    assert cenv("lock", spec, "-o", out, "--check").code == 0


def test_check_one_platform_of_a_multi_platform_lock(channel_factory: Any, tmp_path: Path) -> None:
    channel = channel_factory("tools").package("tool", "1.0").write_repodata().path
    spec = write_spec(tmp_path / "tools.yml", str(channel), deps=("tool",))
    assert cenv("lock", spec, "-p", "linux-64", "-p", "osx-arm64", "-p", "win-64").code == 0
    checked = cenv("lock", spec, "--check", "-p", "linux-64")
    assert checked.code == 0, checked.output
    assert cenv("lock", spec, "--check").code == 0


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("--cuda", "twelve"), 2),  # a bad flag value: a usage error (issue #23)
        (("--glibc", "new"), 2),
        (("--osx", "sonoma"), 2),
        (("--update", "nosuchpkg"), 1),  # a name the lock lacks: the lock's state, not the command line
    ],
)
def test_bad_flags_exit_codes(demo_channel: Path, tmp_path: Path, args: tuple[str, ...], code: int) -> None:
    spec = _app(tmp_path, str(demo_channel))
    assert cenv("lock", spec, "-p", "linux-64").code == 0
    before = (tmp_path / "app-lock.yml").read_bytes()
    result = cenv("lock", spec, *args)
    assert result.code == code and "hint:" in result.stderr, result.output
    assert "Traceback" not in result.output
    assert (tmp_path / "app-lock.yml").read_bytes() == before


def test_update_unknown_name_says_did_you_mean(demo_channel: Path, tmp_path: Path) -> None:
    spec = _app(tmp_path, str(demo_channel))
    assert cenv("lock", spec, "-p", "linux-64").code == 0
    result = cenv("lock", spec, "--update", "cenv-acel")
    assert result.code == 1 and "did you mean `cenv-accel`" in result.stderr, result.output


def test_channel_pinned_spec_behind_a_file_alias(demo_channel: Path, tmp_path: Path) -> None:
    alias = mirror(tmp_path / "mirror", **{"conda-forge": demo_channel})
    spec = write_spec(tmp_path / "app.yml", "conda-forge", deps=("conda-forge::python", "cenv-accel"))
    result = cenv("lock", spec, "-p", "linux-64", "--channel-alias", alias)
    assert result.code == 0, result.output
    assert cenv("lock", spec, "--check").code == 0  # the alias is remembered


def test_channel_pinned_spec_behind_an_http_alias(
    demo_channel: Path, tmp_path: Path, http_channel_server: object
) -> None:
    server: ChannelServer = http_channel_server(demo_channel.parent)  # type: ignore[operator]
    spec = write_spec(tmp_path / "app.yml", "demo", deps=("demo::python", "cenv-accel"))
    result = cenv("lock", spec, "-p", "linux-64", "--channel-alias", server.url)
    assert result.code == 0, result.output


def _urls(lock: Path) -> dict[str, str]:
    return {p["name"]: p["url"] for p in yaml.safe_load(lock.read_text())["package"]}


def test_channel_pinned_spec_through_condarc_custom_channels(
    channel_factory: Any, tmp_path: Path, http_channel_server: object
) -> None:
    """`custom_channels: {mychan: URL}` in a real .condarc: `mychan` means URL/mychan, both in the spec's
    channel list and in `mychan::pkg`, even when only the match spec names it (conda adds that channel)."""
    mine = channel_factory("mychan").package("tool", "2.0").write_repodata().path
    plain = channel_factory("plain").package("tool", "1.0").package("other", "1.0").write_repodata().path
    server: ChannelServer = http_channel_server(mine.parent)  # type: ignore[operator]
    home = Path(os.environ["HOME"])
    home.mkdir(parents=True, exist_ok=True)
    # bare names would go to the (dead) alias: only custom_channels reaches the server
    (home / ".condarc").write_text(
        f"channel_alias: http://127.0.0.1:9\ncustom_channels:\n  mychan: {server.url}\n"
    )

    listed = write_spec(tmp_path / "listed.yml", "mychan", deps=("mychan::tool",))
    assert (made := cenv("lock", listed, "-p", "linux-64")).code == 0, made.output
    assert _urls(tmp_path / "listed-lock.yml")["tool"].startswith(f"{server.url}/mychan/")
    assert cenv("lock", listed, "--check").code == 0

    only_pinned = write_spec(tmp_path / "app.yml", str(plain), deps=("mychan::tool", "other"))
    lock = tmp_path / "app-lock.yml"
    assert (made := cenv("lock", only_pinned, "-p", "linux-64")).code == 0, made.output
    urls = _urls(lock)
    assert urls["tool"].startswith(f"{server.url}/mychan/") and urls["other"].startswith(plain.as_uri())
    channels = [c["url"] for c in yaml.safe_load(lock.read_text())["metadata"]["channels"]]
    assert channels == [str(plain), "mychan"]
    assert (checked := cenv("lock", only_pinned, "--check")).code == 0, checked.output
    created = cenv("create", only_pinned, "-p", tmp_path / "env")
    assert created.code == 0 and "using fresh lockfile" in created.output, created.output
    assert list((tmp_path / "env" / "conda-meta").glob("tool-2.0-*.json"))


def test_channel_pinned_spec_not_in_the_list_behind_an_http_alias(
    channel_factory: Any, tmp_path: Path, http_channel_server: object
) -> None:
    mine = channel_factory("mychan").package("tool", "2.0").write_repodata().path
    plain = channel_factory("plain").package("tool", "1.0").write_repodata().path
    server: ChannelServer = http_channel_server(mine.parent)  # type: ignore[operator]
    spec = write_spec(tmp_path / "app.yml", str(plain), deps=("mychan::tool",))
    result = cenv("lock", spec, "-p", "linux-64", "--channel-alias", server.url)
    assert result.code == 0, result.output
    assert _urls(tmp_path / "app-lock.yml")["tool"].startswith(f"{server.url}/mychan/")
    assert cenv("lock", spec, "--check").code == 0  # the alias is remembered


PYTORCH_GPU = Path(__file__).resolve().parents[1] / "environments" / "pytorch-gpu.yml"


@pytest.mark.realdata("channels/pytorch-gpu-multiplatform")
def test_three_platform_cuda_lock_checks_with_no_other_flag(tmp_path: Path) -> None:
    channel = REALDATA / "channels" / "pytorch-gpu-multiplatform"
    alias = mirror(tmp_path / "mirror", **{"conda-forge": channel})
    out = tmp_path / "other-lock.yml"
    platforms = ("-p", "linux-64", "-p", "win-64", "-p", "osx-arm64")
    made = cenv("lock", PYTORCH_GPU, *platforms, "--cuda", "12.6", "-o", out, "--channel-alias", alias)
    assert made.code == 0, made.output
    checked = cenv("lock", PYTORCH_GPU, "-o", out, "--check")
    assert checked.code == 0, checked.output


def test_update_moves_only_what_must_and_says_why(channel_factory: Any, tmp_path: Path) -> None:
    ch = channel_factory("upd")
    ch.package("a", "1.0").package("a", "2.0", depends=["b >=2"])
    ch.package("b", "1.0").package("b", "2.0").package("c", "1.0").package("c", "2.0")
    channel = ch.write_repodata().path
    spec = write_spec(tmp_path / "env.yml", str(channel), deps=("a <2", "b <2", "c <2"))
    assert cenv("lock", spec, "-p", "linux-64").code == 0
    write_spec(spec, str(channel), deps=("a", "b", "c"))
    result = cenv("lock", spec, "--update", "a")
    assert result.code == 0, result.output
    versions = {
        p["name"]: p["version"] for p in yaml.safe_load((tmp_path / "env-lock.yml").read_text())["package"]
    }
    assert versions == {"a": "2.0", "b": "2.0", "c": "1.0"}  # c could move but was not asked to
    assert "b 1.0 -> 2.0" in result.stderr and "a 2.0 requires `b >=2`" in result.stderr, result.stderr


def test_lock_from_before_recorded_inputs_keeps_its_cuda(demo_channel: Path, tmp_path: Path) -> None:
    spec = _app(tmp_path, str(demo_channel))
    lock = tmp_path / "app-lock.yml"
    assert cenv("lock", spec, "-p", "linux-64", "--cuda", "12.0").code == 0
    data = yaml.safe_load(lock.read_text())
    custom = data["metadata"]["custom_metadata"]
    for key in [k for k in custom if k.startswith(("cenv.input-sources", "cenv.virtual-package-sources"))]:
        del custom[key]
    lock.write_text(yaml.safe_dump(data))
    checked = cenv("lock", spec, "--check")
    assert checked.code == 0, checked.output
