"""Run cenv in a new user and mount namespace (`unshare -rm`) after a mount script: read-only and tiny
file systems as real mounts, for root too. Skips where user namespaces are refused."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.cli_helpers import Result


def in_namespace(script: str, *args: str | Path, env: dict[str, str] | None = None) -> Result:
    """Run `cenv ARGS` after `script` (mounts) in a new user and mount namespace."""
    if shutil.which("unshare") is None:
        pytest.skip("needs `unshare` (util-linux) for a private mount namespace")
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"user namespaces are not allowed here: {probe.stderr.decode().strip()}")
    command = f"{script} && exec {sys.executable} -m cenv " + " ".join(f"'{a}'" for a in args)
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", command],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)
