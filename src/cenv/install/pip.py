"""The lock's PyPI packages installed into a staged prefix with uv (hash-checked, no resolution)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from cenv.errors import InstallError
from cenv.lock.models import LockedPackage
from cenv.lock.requirements import requirement_line
from cenv.pip.uv import run_uv, uv_env
from cenv.redact import redact


def install_pip(python: Path, packages: Sequence[LockedPackage], offline: bool = False) -> None:
    """Install locked pip packages into the environment of `python` (no dependency resolution)."""

    chosen = [p for p in packages if p.manager == "pip"]
    if not chosen:
        return
    with tempfile.TemporaryDirectory(prefix="cenv-pip-install-") as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text("".join(requirement_line(p) + "\n" for p in sorted(chosen, key=lambda p: p.name)))
        args = [
            "pip", "install", "--python", str(python), "--no-deps", "--require-hashes", "-r", str(req),
            "--no-config", "--quiet", "--color", "never",
        ]  # fmt: skip
        if offline:
            args.append("--offline")
        result = run_uv(args, uv_env({}), "pip install")
    if result.returncode != 0:
        lines = [redact(line.strip()) for line in result.stderr.splitlines() if line.strip()]
        first = lines[0].removeprefix("error:").strip() if lines else "uv failed without a message"
        raise InstallError(
            f"installing {len(chosen)} pip package(s) failed: {first}",
            hints=[f"uv: {line}" for line in lines[1:6]],
        )
