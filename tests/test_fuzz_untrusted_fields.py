"""Issue #20: hostile values driven into every field of a lockfile and an `@EXPLICIT` file.

In process (Hypothesis, seeded): whatever a reader accepts yields only paths that stay inside their base
(a pack's `channel/<subdir>/<file>` and `pypi/<file>`, an editable checkout's `src/<name>`) and no value a
tool could read as an option. Through the real CLI (`cenv pack`, `cenv create`, `cenv export`), with a PATH
whose first folder holds trap programs (git, sh, bash, touch, curl, ssh, rm) that log any call: no trap
runs, no payload's marker appears, and nothing is written outside the test's own folder.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.cli_helpers import cenv

from cenv.errors import LockfileError
from cenv.lock.importers import load_any_lock
from cenv.lock.models import LockedPackage
from cenv.safe_paths import join_within

MARKER = "PWNED-by-lockfile"
FRAGMENTS = [
    "../", "..", "/", "\\", "%2F", "%2e%2e", "-", "--", "-e", "--upload-pack=", "$(touch PWNED)",
    ";touch PWNED", "`touch PWNED`", "|", "&", "\n", "\r", "\x00", " ", "~", "file://", "git+", "ext::",
    ".bashrc", ".conda", ".tar.bz2", "linux-64", "noarch", "@", "#", "?", "ü", "\u202e", "[", "]", ":",
]  # fmt: skip
FIELDS = ["name", "version", "build", "platform", "url", "category", "source", "md5", "sha256"]


def _hostile() -> st.SearchStrategy[str]:
    pieces = st.one_of(st.sampled_from(FRAGMENTS), st.text(min_size=0, max_size=8))
    return st.lists(pieces, min_size=1, max_size=6).map("".join)


def _entry(manager: str, field: str, value: str) -> dict[str, object]:
    entry: dict[str, object] = {
        "name": "good",
        "version": "1.0",
        "manager": manager,
        "platform": "linux-64",
        "dependencies": {},
        "url": "https://host/chan/linux-64/good-1.0-h0_0.conda"
        if manager == "conda"
        else "https://host/files/good-1.0-py3-none-any.whl",
        "hash": {"md5": "a" * 32, "sha256": "b" * 64},
        "category": "main",
        "optional": False,
    }
    if field in ("md5", "sha256"):
        entry["hash"] = {**entry["hash"], field: value}  # type: ignore[dict-item]
    elif field == "source":
        entry["source"] = {"type": "url", "url": value}
    else:
        entry[field] = value
    return entry


def _lock_text(entry: dict[str, object]) -> str:
    meta = {"content_hash": {}, "channels": [], "platforms": [], "sources": []}
    return yaml.safe_dump({"version": 1, "metadata": meta, "package": [entry]}, sort_keys=False)


def _derived_paths_stay_inside(package: LockedPackage, base: Path) -> None:
    from cenv.pack.build import _pack_path

    try:
        inside = _pack_path(package)
    except LockfileError:
        return
    except Exception as exc:  # PackError: refused by the pack, fine
        assert type(exc).__name__ == "PackError", exc
        return
    join_within(base, *inside.split("/"))  # raises OutsideBase when it leaves
    if package.manager == "pip":
        join_within(base, "src", package.name)
    for value in (package.name, package.version, package.url, package.platform, package.build or ""):
        assert not value.startswith("-"), value


@settings(derandomize=True, max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(manager=st.sampled_from(["conda", "pip"]), field=st.sampled_from(FIELDS), value=_hostile())
def test_hostile_field_values_are_refused_or_harmless(manager: str, field: str, value: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        lock = Path(tmp) / "x-lock.yml"
        lock.write_text(_lock_text(_entry(manager, field, value)), encoding="utf-8")
        try:
            read = load_any_lock(lock)
        except LockfileError as exc:
            assert "\n" not in exc.message
            return
        for package in read.package:
            _derived_paths_stay_inside(package, Path(tmp) / "base")


@settings(derandomize=True, max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(platform=_hostile(), line=_hostile())
def test_hostile_explicit_files_are_refused_or_harmless(platform: str, line: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        explicit = Path(tmp) / "e.txt"
        name = line.replace("\n", "").replace("\r", "")
        explicit.write_text(
            f"# platform: {platform}\n@EXPLICIT\nhttps://h/c/linux-64/{name}-1-0.conda#{'a' * 32}\n",
            encoding="utf-8",
            errors="surrogatepass",
        )
        try:
            read = load_any_lock(explicit)
        except LockfileError:
            return
        for package in read.package:
            _derived_paths_stay_inside(package, Path(tmp) / "base")


# ---------------------------------------------------------------- through the CLI

TRAPS = ("git", "sh", "bash", "touch", "curl", "wget", "ssh", "rm")


def _traps(folder: Path, log: Path) -> Path:
    folder.mkdir()
    for name in TRAPS:
        trap = folder / name
        trap.write_text(f"#!/bin/sh\necho {name} \"$@\" >> '{log}'\nexit 1\n")
        trap.chmod(trap.stat().st_mode | stat.S_IEXEC)
    return folder


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file() or p.is_dir()
    }


CLI_CASES = [
    ("conda", "platform", "../../outside"),
    ("conda", "platform", "../../../../../../../../tmp"),
    ("conda", "url", "file:///OUTSIDE/.bashrc"),
    ("conda", "url", "https://h/c/linux-64/..%2F..%2F..%2Foutside%2Fx-1-0.conda"),
    ("conda", "name", "$(touch MARKER)"),
    ("pip", "name", "OUTSIDE"),
    ("pip", "name", "../../outside"),
    ("pip", "url", "git+--upload-pack=touch MARKER;git-upload-pack@0123456789abcdef0123456789abcdef01234567"),
    ("pip", "url", "git+ext::sh -c touch% MARKER@0123456789abcdef0123456789abcdef01234567"),
    ("pip", "source", "-e git+https://h/r@0123456789abcdef0123456789abcdef01234567"),
    ("conda", "md5", "$(touch MARKER)"),
    ("conda", "category", "--force"),
]


@pytest.mark.parametrize(("manager", "field", "value"), CLI_CASES, ids=[f"{m}-{f}" for m, f, _ in CLI_CASES])
def test_hostile_locks_through_the_cli_touch_nothing_outside(
    tmp_path: Path, manager: str, field: str, value: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ".bashrc").write_text("mine\n")
    work = tmp_path / "work"
    (work / "out").mkdir(parents=True)
    marker = tmp_path / MARKER
    value = value.replace("MARKER", str(marker)).replace("OUTSIDE", str(outside))
    lock = work / "evil-lock.yml"
    lock.write_text(_lock_text(_entry(manager, field, value)), encoding="utf-8")
    log = tmp_path / "traps.log"
    traps = _traps(tmp_path / "traps", log)
    env = {
        "PATH": f"{traps}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(work / "home"),
        "TMPDIR": str(work / "tmp"),
        "CENV_CACHE_DIR": str(work / "cache"),
        "CONDA_PKGS_DIRS": str(work / "pkgs"),
        "UV_CACHE_DIR": str(work / "uv"),
        "CONDA_REGISTER_ENVS": "false",
    }
    (work / "home").mkdir()
    (work / "tmp").mkdir()
    before = _snapshot(outside)
    runs = [
        ("pack", lock, "-o", work / "out" / "x.tar"),
        ("create", lock, "--prefix", work / "env", "--platform", "linux-64"),
        ("export", lock, "--format", "share", "-p", "linux-64", "-o", work / "out" / "share"),
    ]
    for args in runs:
        result = cenv(*args, cwd=work, env=env)
        assert result.code == 1, (args, result.output)
        assert "Traceback" not in result.output
    assert not marker.exists()
    assert not log.exists(), log.read_text()
    assert _snapshot(outside) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside", "traps", "work"]
