"""`cenv run`: activation (PATH, CONDA_PREFIX, spec variables, activate.d scripts) and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.cli_helpers import cenv
from tests.create_support import small_channel, write_spec


@pytest.fixture
def activ_env(tmp_path: Path) -> Path:
    ch = small_channel(tmp_path / "chan")
    spec = write_spec(
        tmp_path / "env.yml",
        ch.url,
        deps=("python", "activ"),
        extra="variables:\n  CENV_GREETING: hi there\n  CENV_LEVEL: '3'\n",
    )
    prefix = tmp_path / "env"
    result = cenv("create", spec, "-p", prefix)
    assert result.code == 0, result.output
    return prefix


def test_run_activates_the_environment(activ_env: Path) -> None:
    script = (
        'echo "path0=${PATH%%:*}"; echo "prefix=$CONDA_PREFIX"; echo "default=$CONDA_DEFAULT_ENV"; '
        'echo "greeting=$CENV_GREETING"; echo "level=$CENV_LEVEL"; echo "activ=$ACTIV_FROM_SCRIPT"; '
        "command -v python"
    )
    result = cenv("run", "-p", activ_env, "--", "sh", "-c", script)
    assert result.code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:6] == [
        f"path0={activ_env / 'bin'}",
        f"prefix={activ_env}",
        f"default={activ_env}",
        "greeting=hi there",
        "level=3",
        f"activ=set by {activ_env}",
    ]
    assert lines[6] == str(activ_env / "bin" / "python")
    state = json.loads((activ_env / "conda-meta" / "state").read_text())
    assert state == {"env_vars": {"CENV_GREETING": "hi there", "CENV_LEVEL": "3"}}


def test_run_passes_exit_codes_and_arguments_through(activ_env: Path) -> None:
    failed = cenv("run", "-p", activ_env, "--", "sh", "-c", "exit 7")
    assert failed.code == 7 and failed.stderr == ""
    killed = cenv("run", "-p", activ_env, "--", "sh", "-c", "kill -TERM $$")
    assert killed.code == 128 + 15
    args = cenv("run", "-p", activ_env, "--", "python", "-c", "import sys; print(sys.argv[1:])", "-x", "a b")
    assert args.code == 0 and args.stdout.strip() == "['-x', 'a b']"


def test_run_errors(activ_env: Path, tmp_path: Path) -> None:
    missing = cenv("run", "-p", activ_env, "--", "no-such-command-xyz")
    assert missing.code == 127  # as a shell, and `conda run`, exit for a command not found
    assert "error: command `no-such-command-xyz` not found" in missing.stderr
    not_env = cenv("run", "-p", tmp_path, "--", "true")
    assert not_env.code == 1 and "is not a conda environment" in not_env.stderr
    unknown = cenv("run", "-n", "nope-env", "--", "true", env={"CONDA_ENVS_PATH": str(tmp_path / "envs")})
    assert unknown.code == 1 and "no environment named `nope-env`" in unknown.stderr
    neither = cenv("run", "--", "true")
    assert neither.code == 2 and "exactly one of" in neither.stderr  # a usage error
