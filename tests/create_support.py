"""Helpers shared by the `cenv create` / `cenv run` tests: spec files, tree scans, pkgs dir."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.channel_factory import ChannelFactory

DEMO_APP = ("python", "cenv-demo-app")


def write_spec(
    path: Path,
    channel: str,
    deps: tuple[str, ...] = DEMO_APP,
    name: str | None = None,
    extra: str = "",
) -> Path:
    lines = []
    if name:
        lines.append(f"name: {name}")
    lines.append("channels:")
    lines.append(f"  - {channel}")
    lines.append("dependencies:")
    lines += [f"  - {d}" for d in deps]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def pkgs_dir() -> Path:
    """The package cache of the current test (under the per-test CENV_CACHE_DIR)."""
    return Path(os.environ["CENV_CACHE_DIR"]) / "pkgs"


def siblings(prefix: Path) -> list[str]:
    """Hidden cenv temp/old siblings of a prefix."""
    if not prefix.parent.exists():
        return []
    return sorted(p.name for p in prefix.parent.iterdir() if p.name.startswith(f".{prefix.name}.cenv-"))


def files_containing(root: Path, needle: bytes) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
            found.append(path)
    return found


def small_channel(root: Path, name: str = "ch") -> ChannelFactory:
    """python + a package with an activate.d script + one with many files (slow to link)."""
    ch = ChannelFactory(root, name)
    ch.python_wrapper()
    ch.package(
        "activ",
        "1.0",
        subdir="linux-64",
        files={
            "etc/conda/activate.d/activ.sh": 'export ACTIV_FROM_SCRIPT="set by $CONDA_PREFIX"\n',
            "share/activ/README": "activ\n",
        },
    )
    ch.write_repodata()
    return ch
