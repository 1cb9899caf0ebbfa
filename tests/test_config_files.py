"""Issue #20 (MEDIUM): configuration files in a shared home are read through one bounded reader
(`cenv.config_files`): a FIFO, `/dev/zero`, a file not in UTF-8, deep nesting or an alias bomb is one
`error:` line naming the file and exit 1, within seconds, never a hang, a traceback or exit 2."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from tests.cli_helpers import cenv

pytestmark = pytest.mark.skipif(os.name != "posix", reason="FIFOs and /dev/zero are POSIX")


def _bomb(depth: int = 9) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, depth)]
    return "\n".join([*lines, f"channels: *a{depth - 1}"]) + "\n"


def _case(kind: str, home: Path) -> tuple[dict[str, str], Path]:
    """(the environment that points cenv at the hostile file, the file)."""
    fifo = home / "fifo"
    if kind.endswith("fifo"):
        os.mkfifo(fifo)
    if kind == "netrc-not-utf8":
        path = home / ".netrc"
        path.write_bytes(b"machine h login \xff\xfe password x\n")
        return {}, path
    if kind == "netrc-fifo":
        return {"NETRC": str(fifo)}, fifo
    if kind == "auth-file-fifo":
        return {"RATTLER_AUTH_FILE": str(fifo)}, fifo
    if kind == "auth-file-dev-zero":
        return {"RATTLER_AUTH_FILE": "/dev/zero"}, Path("/dev/zero")
    if kind == "auth-file-not-utf8":
        path = home / "auth.json"
        path.write_bytes(b'{"h": {"CondaToken": "\xff"}}')
        return {"RATTLER_AUTH_FILE": str(path)}, path
    path = home / ".condarc"
    if kind == "condarc-deep":
        path.write_text("channels: " + "[" * 5000 + "]" * 5000 + "\n")
    elif kind == "condarc-alias-bomb":
        path.write_text(_bomb())
    elif kind == "condarc-fifo":
        return {"CONDARC": str(fifo)}, fifo
    elif kind == "condarc-not-utf8":
        path.write_bytes(b"channels: [\xff]\n")
    return {}, path


KINDS = [
    "netrc-not-utf8",
    "netrc-fifo",
    "auth-file-fifo",
    "auth-file-dev-zero",
    "auth-file-not-utf8",
    "condarc-deep",
    "condarc-alias-bomb",
    "condarc-fifo",
    "condarc-not-utf8",
]


@pytest.mark.parametrize("kind", KINDS)
def test_hostile_config_files_are_one_error_naming_the_file(tmp_path: Path, kind: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env, path = _case(kind, home)
    started = time.monotonic()
    result = cenv("info", cwd=tmp_path, env={"HOME": str(home), **env}, timeout=60)
    assert time.monotonic() - started < 20
    assert result.code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(path) in errors[0], result.stderr


def test_an_environments_txt_not_in_utf8_does_not_fail_a_made_environment(
    tmp_path: Path, demo_channel: Path
) -> None:
    """It gave exit 2 (`UnicodeDecodeError`) after the environment was created: now a warning naming it."""
    home = tmp_path / "home"
    (home / ".conda").mkdir(parents=True)
    listing = home / ".conda" / "environments.txt"
    listing.write_bytes(b"/opt/\xff\xfe/env\n")
    spec = tmp_path / "env.yml"
    spec.write_text(f"channels: [{demo_channel.as_posix()}]\ndependencies: [hello-cenv]\n")
    env = {"HOME": str(home), "CONDA_REGISTER_ENVS": "true", "CENV_CACHE_DIR": str(tmp_path / "c")}
    result = cenv("create", spec, "--prefix", tmp_path / "env", cwd=tmp_path, env=env)
    assert result.code == 0, result.output
    assert str(listing) in result.stderr and "UTF-8" in result.stderr, result.stderr
    assert listing.read_bytes() == b"/opt/\xff\xfe/env\n"  # left as it was
