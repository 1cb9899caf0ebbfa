"""One pass over a `file://` archive's bytes (issue #21): the kernel copies it into the package cache and
rattler's extractor hashes it while reading it; cenv compares that hash with the lock's before the entry is
placed. An archive that is not the lock's is refused as before, and leaves nothing in the cache."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.cli_helpers import cenv
from tests.create_support import pkgs_dir, siblings, write_spec
from tests.support.channel_factory import ChannelFactory


@pytest.mark.parametrize("fmt", [".conda", ".tar.bz2"])
def test_a_local_archive_changed_after_the_lock_is_refused_and_not_cached(
    fmt: str, channel_factory: Callable[..., ChannelFactory], tmp_path: Path
) -> None:
    ch = channel_factory("local")
    ch.python_wrapper()
    built = ch.add_package("victim", "1.0", subdir="linux-64", fmt=fmt, files={"share/v.txt": "original\n"})
    ch.write_repodata()
    spec = write_spec(tmp_path / "env.yml", ch.url, deps=("victim",))
    assert cenv("lock", spec).code == 0
    # the channel's file changes under the same name after the lock was made (a well-formed archive)
    evil = ch.add_package("victim", "1.0", subdir="linux-64", fmt=fmt, files={"share/v.txt": "evil\n"})
    assert evil.filename == built.filename and evil.sha256 != built.sha256

    prefix = tmp_path / "env"
    result = cenv("create", tmp_path / "env-lock.yml", "-p", prefix)
    assert result.code == 1, result.output
    assert f"sha256 mismatch for package `victim` ({built.filename})" in result.stderr
    assert f"expected {built.sha256}, got {evil.sha256}" in result.stderr
    assert "Traceback" not in result.output
    assert not prefix.exists() and siblings(prefix) == []
    assert not (pkgs_dir() / built.filename).exists()
    assert not (pkgs_dir() / built.dist_name).exists()


def test_a_local_archive_is_cached_byte_for_byte_with_its_entry(
    channel_factory: Callable[..., ChannelFactory], tmp_path: Path
) -> None:
    ch = channel_factory("local")
    ch.python_wrapper()
    built = ch.add_package("fine", "1.0", subdir="linux-64", files={"share/f.txt": "fine\n" * 1000})
    ch.write_repodata()
    spec = write_spec(tmp_path / "env.yml", ch.url, deps=("fine",))
    assert cenv("lock", spec).code == 0
    result = cenv("create", tmp_path / "env-lock.yml", "-p", tmp_path / "env")
    assert result.code == 0, result.output
    cached = pkgs_dir() / built.filename
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == built.sha256
    assert (pkgs_dir() / built.dist_name / "share" / "f.txt").read_text() == "fine\n" * 1000
    assert (tmp_path / "env" / "share" / "f.txt").read_text() == "fine\n" * 1000
    # conda-meta carries the archive's own checksums (md5 read by the extractor, not the lock's)
    import json

    record = json.loads((tmp_path / "env" / "conda-meta" / f"{built.dist_name}.json").read_text())
    assert (record["sha256"], record["md5"], record["size"]) == (
        built.sha256,
        built.md5,
        built.record["size"],
    )
