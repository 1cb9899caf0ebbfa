"""Drive the real `cenv` CLI in a subprocess: real exit codes, real stdout/stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.realdata import REALDATA

REPO = Path(__file__).resolve().parents[1]
__all__ = ["REALDATA", "REPO", "Result", "cenv", "mirror"]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def cenv(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: int = 300
) -> Result:
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [sys.executable, "-m", "cenv", *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def mirror(root: Path, **channels: Path) -> str:
    """A channel-alias directory whose `<name>` entries point at real channel folders; returns its URL."""
    root.mkdir(parents=True, exist_ok=True)
    for name, target in channels.items():
        link = root / name.replace("__", "/")
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(target.resolve(), target_is_directory=True)
    return root.resolve().as_uri()
