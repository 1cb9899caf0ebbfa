"""The package cache is bound to content (issue #13, failures 1 and 2).

1. A lock that lists a second package under the file name of a cached one (a hostile archive whose
   `paths.json` reaches `../<archive>`) used to skip the archive checks: a file appeared beside the prefix.
2. Two creates sharing a cache, from two locks whose `hello-1.0-h0_0.conda` differ, used to install each
   other's `bin/hello` and leave the cache poisoned for later creates.

`CENV_TEST_ROUNDS=20 pytest tests/test_cache_integrity.py` runs the concurrent repro 20 times.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.cli_helpers import cenv
from tests.create_support import pkgs_dir, siblings, write_spec
from tests.support.channel_factory import ChannelFactory
from tests.test_hostile_archives import OK, OK_ENTRY, hostile_package

ROUNDS = int(os.environ.get("CENV_TEST_ROUNDS", "3"))


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _lock_entry(name: str, url: str, sha256: str, md5: str) -> str:
    return (
        f"- name: {name}\n"
        '  version: "1.0"\n'
        "  manager: conda\n"
        "  platform: linux-64\n"
        "  dependencies: {}\n"
        f"  url: {url}\n"
        "  hash:\n"
        f"    md5: {md5}\n"
        f"    sha256: {sha256}\n"
        "  category: main\n"
        "  optional: false\n"
    )


@pytest.mark.parametrize("layout", ["victim-first", "other-first", "other-alone"])
def test_a_repeated_file_name_never_skips_the_archive_checks(
    layout: str, channel_factory: Callable[..., ChannelFactory], tmp_path: Path
) -> None:
    ch = channel_factory("ch")
    ch.package("victim", "1.0", subdir="linux-64", files={"share/victim.txt": "original\n"})
    ch.write_repodata()
    built = ch.record("victim")
    spec = write_spec(tmp_path / "env.yml", ch.url, deps=("victim",))
    assert cenv("lock", spec).code == 0
    envs = tmp_path / "envs"
    assert cenv("create", tmp_path / "env-lock.yml", "-p", envs / "a").code == 0  # the cache is warm
    # a hostile archive with the victim's file name, whose paths.json links the cached archive to ../
    escape = {"_path": f"../{built.filename}", "path_type": "hardlink"}
    evil, evil_sha = hostile_package(
        tmp_path / "evil", [OK], paths=[OK_ENTRY, escape], name="victim", version="1.0", build=built.build
    )
    assert evil.name == built.filename
    evil_md5 = hashlib.md5(evil.read_bytes()).hexdigest()
    victim = _lock_entry("victim", built.path.as_uri(), built.sha256, built.md5)
    other = _lock_entry("other", evil.as_uri(), evil_sha, evil_md5)
    entries = {"victim-first": [victim, other], "other-first": [other, victim], "other-alone": [other]}[
        layout
    ]
    text = (tmp_path / "env-lock.yml").read_text()
    lock = tmp_path / "lock.yml"
    lock.write_text(text[: text.index("package:\n")] + "package:\n" + "".join(entries))
    before = _tree(tmp_path)

    result = cenv("create", lock, "-p", envs / "b")

    assert result.code == 1, result.output
    assert "Traceback" not in result.output
    if layout == "other-alone":
        assert f"package `other` ({built.filename}) was refused" in result.stderr
        assert f"`../{built.filename}` leaves the package" in result.stderr
    else:
        assert f"the lock lists `{built.filename}` twice" in result.stderr
    assert _tree(tmp_path) - before <= {  # nothing beside the prefix; the cache changed at most
        p for p in _tree(tmp_path) if "cenv-cache" in p
    }
    assert not (envs / "b").exists() and siblings(envs / "b") == []
    assert sorted(os.listdir(envs)) == ["a"]
    # the cache still gives the real victim
    again = cenv("create", tmp_path / "env-lock.yml", "-p", envs / "c")
    assert again.code == 0, again.output
    assert (envs / "c/share/victim.txt").read_text() == "original\n"


def _hello_lock(root: Path, tmp_path: Path, name: str, word: str) -> Path:
    ch = ChannelFactory(root, name)
    # the same file name in both channels (explicit build string), other bytes; many files to make the
    # link step long enough for the two creates to overlap
    files = {"bin/hello": f"#!/bin/sh\necho {word}\n"}
    files.update({f"share/hello/{i:03d}.txt": f"{word} {i}\n" for i in range(300)})
    ch.package("hello", "1.0", build="h0_0", subdir="linux-64", files=files)
    ch.write_repodata()
    spec = write_spec(tmp_path / f"{name}.yml", ch.url, deps=("hello",))
    assert cenv("lock", spec).code == 0
    return tmp_path / f"{name}-lock.yml"


def _meta_sha(prefix: Path) -> str:
    (record,) = (prefix / "conda-meta").glob("hello-*.json")
    return str(json.loads(record.read_text())["sha256"])


def test_concurrent_creates_of_same_named_archives_get_their_own_bytes(tmp_path: Path) -> None:
    one = _hello_lock(tmp_path / "channels", tmp_path, "one", "ONE")
    two = _hello_lock(tmp_path / "channels", tmp_path, "two", "TWO")
    sha = {
        "ONE": hashlib.sha256(
            (tmp_path / "channels/one/linux-64/hello-1.0-h0_0.conda").read_bytes()
        ).hexdigest(),
        "TWO": hashlib.sha256(
            (tmp_path / "channels/two/linux-64/hello-1.0-h0_0.conda").read_bytes()
        ).hexdigest(),
    }
    assert sha["ONE"] != sha["TWO"]
    wrong = []
    for round_ in range(ROUNDS):
        a, b = tmp_path / f"A{round_}", tmp_path / f"B{round_}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "cenv", "create", str(lock), "-p", str(prefix), "-q"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for lock, prefix in ((one, a), (two, b))
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
        for prefix, word in ((a, "ONE"), (b, "TWO")):
            got = (prefix / "bin/hello").read_text()
            if word not in got or (prefix / "share/hello/150.txt").read_text() != f"{word} 150\n":
                wrong.append(f"round {round_}: {prefix.name} has {got!r}")
            assert _meta_sha(prefix) == sha[word]
    assert wrong == []
    # and the shared cache is not poisoned: a lone create of either lock gets its own bytes
    for lock, word in ((one, "ONE"), (two, "TWO"), (one, "ONE")):
        prefix = tmp_path / f"lone-{word}-{len(os.listdir(tmp_path))}"
        assert cenv("create", lock, "-p", prefix).code == 0
        assert word in (prefix / "bin/hello").read_text()
    assert not [p for p in pkgs_dir().iterdir() if p.name.endswith(".part")]
