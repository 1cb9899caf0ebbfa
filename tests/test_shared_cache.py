"""Read-only package caches (issue #22), as conda uses `pkgs_dirs`: every entry is read, only the first
writable one is written (conda/core/package_cache_data.py: `PackageCacheData.first_writable`, and
`get_entry_to_link`, which looks in every `pkgs_dirs` entry). The cluster layout: a shared read-only cache
on a network file system and a writable cache per node.

The read-only cache is a real read-only bind mount in a user and mount namespace (`unshare -rm`), so the
test also holds for root, who may write into a folder without write bits.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.cli_helpers import cenv
from tests.create_support import write_spec
from tests.support.http_server import ChannelServer
from tests.support.namespaces import in_namespace


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under `folder` with its size and mtime."""
    found = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        found[str(path.relative_to(folder))] = (info.st_size, info.st_mtime_ns)
    return found


def _as_conda_leaves_it(shared: Path) -> None:
    """A cache conda filled: no rattler `.lock` files, no cenv stamps; each entry's checksum in
    `info/repodata_record.json` (conda's `PackageCacheRecord`)."""
    for lock in shared.glob("*.lock"):
        if lock.name.startswith("."):  # cenv's own cache lock, not an entry's
            continue
        sha256 = lock.read_bytes()[-32:].hex()
        entry = shared / lock.name.removesuffix(".lock")
        (entry / "info" / "repodata_record.json").write_text(json.dumps({"sha256": sha256}))
        lock.unlink()
    for stamps in shared.glob(".cenv-*"):
        if stamps.is_dir():
            shutil.rmtree(stamps)


@pytest.mark.parametrize("layout", ["archives", "entries", "conda-entries"])
def test_create_from_a_read_only_shared_cache(
    layout: str, demo_channel: Path, tmp_path: Path, http_channel_server: Callable[[Path], ChannelServer]
) -> None:
    """`CONDA_PKGS_DIRS=<read-only cache holding every package>,<empty writable cache>`: the create succeeds
    without downloading an archive and writes nothing to the read-only cache."""
    server: ChannelServer = http_channel_server(demo_channel.parent)
    spec = write_spec(tmp_path / "env.yml", server.channel_url("demo"))
    assert cenv("lock", spec).code == 0
    lock = tmp_path / "env-lock.yml"
    shared = tmp_path / "shared-pkgs"
    first = cenv("create", lock, "-p", tmp_path / "first", env={"CONDA_PKGS_DIRS": str(shared)})
    assert first.code == 0, first.output
    if layout != "archives":
        for archive in [*shared.glob("*.conda"), *shared.glob("*.tar.bz2")]:
            archive.unlink()
    if layout == "conda-entries":
        _as_conda_leaves_it(shared)
    before = _tree(shared)
    server.reset_counters()
    local = tmp_path / "node-pkgs"
    mount = f"mount --bind '{shared}' '{shared}' && mount -o remount,ro,bind '{shared}'"
    args = ["create", str(lock), "-p", str(tmp_path / "node-env")]
    result = in_namespace(mount, *args, env={"CONDA_PKGS_DIRS": f"{shared},{local}"})
    assert result.code == 0, result.output
    assert server.count("*.conda") + server.count("*.tar.bz2") == 0  # nothing downloaded
    assert "from the shared package caches" in result.stderr
    assert _tree(shared) == before  # nothing written to the read-only cache
    assert (tmp_path / "node-env" / "conda-meta" / "history").is_file()
    assert (tmp_path / "node-env" / "bin" / "cenv-demo-tool").is_file()
    assert any(local.iterdir())  # the node's own cache holds what was linked


def test_a_damaged_shared_entry_is_not_used(demo_channel: Path, tmp_path: Path) -> None:
    """An extracted entry in a shared cache whose file no longer matches its paths.json is not taken
    (the package is fetched instead), and the shared cache is left as it is."""
    spec = write_spec(tmp_path / "env.yml", demo_channel.as_posix())
    assert cenv("lock", spec).code == 0
    lock = tmp_path / "env-lock.yml"
    shared = tmp_path / "shared-pkgs"
    assert cenv("create", lock, "-p", tmp_path / "first", env={"CONDA_PKGS_DIRS": str(shared)}).code == 0
    for archive in shared.glob("*.conda"):
        archive.unlink()
    tool = next(shared.glob("cenv-demo-tool-*/bin/cenv-demo-tool"))
    data = tool.read_bytes()
    tool.unlink()  # not in place: the first environment's hard link keeps the original
    tool.write_bytes(data.replace(b"#!", b"#?", 1))
    local = tmp_path / "node-pkgs"  # first, so it is the one written; the shared one is only read
    result = cenv("create", lock, "-p", tmp_path / "node-env", env={"CONDA_PKGS_DIRS": f"{local},{shared}"})
    assert result.code == 0, result.output
    made = (tmp_path / "node-env" / "bin" / "cenv-demo-tool").read_bytes()
    assert made.startswith(b"#!")  # from the channel, not the damaged entry
    assert tool.read_bytes().startswith(b"#?")
