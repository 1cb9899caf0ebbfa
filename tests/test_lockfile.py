"""Lockfile reading, writing and explicit export, against real lockfiles from other tools (no mocks)."""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
import rattler
from conda_lock.lockfile import parse_conda_lock_file
from hypothesis import given, settings
from hypothesis import strategies as st
from rattler.explicit_environment import ExplicitEnvironmentSpec
from tests.support.foreign_locks import (
    PIP_PACKAGES,
    channel_records,
    conda_lock_dependencies,
    write_conda_lock,
    write_explicit,
    write_pixi_lock,
)
from tests.support.realdata import REALDATA, realdata_files

from cenv.errors import LockfileError
from cenv.lock.explicit import dependency_order, read_explicit, render_explicit
from cenv.lock.importers import detect_lock_format, load_any_lock
from cenv.lock.io import dump_lockfile, read_lockfile, write_lockfile, write_text_atomic
from cenv.lock.keys import (
    CUSTOM_VERSION,
    CUSTOM_VIRTUAL_PACKAGES,
)
from cenv.lock.models import (
    LockedPackage,
    Lockfile,
    LockMetadata,
    PackageHash,
    _split_depend_by_regex,
    _split_plain_depend,
    dependencies_from_depends,
    locked_package_from_data,
)
from cenv.virtual_packages import VirtualPackageSpec, format_virtual_packages

LOCKS = REALDATA / "locks"
PANGEO = LOCKS / "pangeo-pytorch-notebook" / "conda-lock.yml"
#: The real-world lockfiles; tests without this mark use lockfiles written by conda-lock's and rattler's own
#: code from the demo channel (tests/support/foreign_locks.py).
needs_locks = pytest.mark.realdata("locks")

# Every real lockfile: {(platform, manager): count} as cenv loads it.
EXPECTED_COUNTS: dict[str, dict[tuple[str, str], int]] = {
    "conda-lock-v1/blas-mkl-conda-lock.yml": {
        ("linux-64", "conda"): 40,
        ("osx-64", "conda"): 34,
        ("win-64", "conda"): 35,
    },
    "conda-lock-v1/install-with-pip-deps-conda-lock.yml": {
        ("linux-64", "conda"): 24,
        ("linux-64", "pip"): 4,
        ("linux-aarch64", "conda"): 23,
        ("linux-aarch64", "pip"): 4,
    },
    "conda-lock-v1/legacy-no-version-conda-lock.yml": {
        ("linux-64", "conda"): 144,
        ("linux-64", "pip"): 3,
        ("osx-64", "conda"): 139,
        ("osx-64", "pip"): 3,
        ("osx-arm64", "conda"): 138,
        ("osx-arm64", "pip"): 3,
    },
    "conda-lock-v1/micromamba-envlockfile-check-step-1-lock.yaml": {("linux-64", "conda"): 190},
    "conda-lock-v1/pypi-resolve-gh155-conda-lock.yml": {
        ("linux-64", "conda"): 24,
        ("linux-64", "pip"): 12,
        ("osx-64", "conda"): 17,
        ("osx-64", "pip"): 12,
        ("win-64", "conda"): 17,
        ("win-64", "pip"): 12,
    },
    "explicit/conda-lock-zlib-linux-64.lock": {("linux-64", "conda"): 6},
    "explicit/gvleobas.linux-64.lock": {("linux-64", "conda"): 214},
    "explicit/mambaforge.linux-64.lock": {("linux-64", "conda"): 57},
    "explicit/micromamba-explicit_env_linux.txt": {("linux-64", "conda"): 15},
    "explicit/minrk_environment.py-3.9-linux-64.lock": {("linux-64", "conda"): 170},
    "explicit/pangeo_ml_notebook.linux-64.lock": {("linux-64", "conda"): 629},
    "explicit/rattler-python-explicit-linux-64.txt": {("linux-64", "conda"): 22},
    "explicit/ros-noetic_linux-64.txt": {("linux-64", "conda"): 568},
    "explicit/scipipe.linux-64.lock": {("linux-64", "conda"): 284},
    "explicit/silverback9876.linux-64.lock": {("linux-64", "conda"): 321},
    "pangeo-ml-notebook/conda-linux-64.lock": {("linux-64", "conda"): 882},
    "pangeo-ml-notebook/conda-lock.yml": {("linux-64", "conda"): 882},
    "pangeo-notebook/conda-lock.yml": {
        ("linux-64", "conda"): 809,
        ("linux-aarch64", "conda"): 793,
        ("osx-64", "conda"): 746,
        ("osx-arm64", "conda"): 743,
    },
    "pangeo-pytorch-notebook/conda-linux-64.lock": {("linux-64", "conda"): 885},
    "pangeo-pytorch-notebook/conda-lock.yml": {("linux-64", "conda"): 885},
    "pixi/cuda_virtual_dependency.lock": {("linux-64", "conda"): 1},
    # v7 with named platforms p1 (win-64), p2 (linux-64), p3 (osx-arm64): p3 is the only osx-arm64 one
    "pixi/multi-machine-v7.lock": {
        ("linux-64", "conda"): 133,
        ("osx-arm64", "conda"): 125,
        ("win-64", "conda"): 125,
    },
    "pixi/pixi-sample-v5.lock": {("linux-64", "conda"): 152},
    "pixi/pypi-numpy.lock": {
        ("linux-64", "conda"): 22,
        ("linux-64", "pip"): 1,
        ("linux-aarch64", "conda"): 21,
        ("linux-aarch64", "pip"): 1,
        ("osx-64", "conda"): 15,
        ("osx-64", "pip"): 1,
        ("osx-arm64", "conda"): 15,
        ("osx-arm64", "pip"): 1,
        ("win-64", "conda"): 17,
        ("win-64", "pip"): 1,
    },
    "pixi/pytorch-gpu-pixi-example-v6.lock": {
        ("linux-64", "conda"): 100,
        ("osx-arm64", "conda"): 60,
        ("win-64", "conda"): 71,
    },
    "rattler-lock-samples/v0_numpy-conda-lock.yml": {
        ("linux-64", "conda"): 254,
        ("linux-aarch64", "conda"): 176,
        ("linux-ppc64le", "conda"): 177,
        ("osx-64", "conda"): 180,
        ("osx-arm64", "conda"): 183,
    },
    "rattler-lock-samples/v4_numpy-lock.yml": {
        ("linux-64", "conda"): 254,
        ("linux-aarch64", "conda"): 176,
        ("linux-ppc64le", "conda"): 177,
        ("osx-64", "conda"): 180,
        ("osx-arm64", "conda"): 183,
    },
    "rattler-lock-samples/v4_pypi-matplotlib-lock.yml": {
        ("linux-64", "conda"): 24,
        ("linux-64", "pip"): 12,
        ("osx-64", "conda"): 17,
        ("osx-64", "pip"): 12,
        ("win-64", "conda"): 17,
        ("win-64", "pip"): 12,
    },
    "rattler-lock-samples/v6_numpy-as-pypi-lock.yml": {("osx-arm64", "conda"): 19, ("osx-arm64", "pip"): 1},
    "rattler-lock-samples/v6_python-from-conda-only-lock.yml": {("osx-arm64", "conda"): 19},
}


def _all_lock_files() -> list[object]:
    return [
        p if not isinstance(p, Path) else str(p.relative_to(LOCKS)) for p in realdata_files("locks", "**/*")
    ]


def _counts(lock: Lockfile) -> dict[tuple[str, str], int]:
    return dict(Counter((p.platform, p.manager) for p in lock.package))


# ---------------------------------------------------------------- every real file


@pytest.mark.parametrize("relpath", _all_lock_files())
def test_every_real_lockfile_loads(relpath: str) -> None:
    path = LOCKS / relpath
    assert relpath in EXPECTED_COUNTS, f"new realdata file {relpath}: record its package counts here"
    try:
        lock = load_any_lock(path)
    except LockfileError as exc:  # pragma: no cover - no real file fails today
        assert str(path) in exc.message
        raise
    assert _counts(lock) == EXPECTED_COUNTS[relpath]
    assert set(lock.platforms) == {platform for platform, _ in EXPECTED_COUNTS[relpath]}
    for package in lock.package:
        assert package.name and package.version and package.url
        if package.manager == "conda":
            assert package.url.endswith((".conda", ".tar.bz2")), package.url
    for platform in lock.platforms:
        text = render_explicit(lock, platform)
        assert text.count("\n") >= EXPECTED_COUNTS[relpath].get((platform, "conda"), 0)


@needs_locks
def test_pangeo_counts_and_hashes() -> None:
    lock = load_any_lock(PANGEO)
    conda = lock.packages_for("linux-64", "conda")
    assert len(conda) == 885
    assert all(p.hash.md5 and p.hash.sha256 for p in conda)
    assert lock.packages_for("linux-64", "pip") == []
    assert not lock.written_by_cenv


@needs_locks
def test_detect_lock_format() -> None:
    assert detect_lock_format(PANGEO.read_text()) == "conda-lock"
    assert detect_lock_format((LOCKS / "pixi" / "pixi-sample-v5.lock").read_text()) == "pixi"
    assert detect_lock_format((LOCKS / "explicit" / "mambaforge.linux-64.lock").read_text()) == "explicit"


@needs_locks
def test_legacy_layout_with_string_channels() -> None:
    lock = read_lockfile(LOCKS / "conda-lock-v1" / "legacy-no-version-conda-lock.yml")
    assert [c.url for c in lock.metadata.channels] == ["conda-forge"]
    pip = lock.packages_for("linux-64", "pip")
    assert "easy-cache" in {p.name for p in pip}
    assert all(p.hash.sha256 for p in pip)
    by_name = {p.name: p for p in pip}
    assert by_name["easy-cache"].source is None  # written as `source: null`
    source = by_name["pydashi"].source  # a pip package from a direct URL
    assert source is not None and source.url.endswith(".tar.gz#sha256=" + by_name["pydashi"].hash.sha256)
    assert (by_name["pytest-pinned"].category, by_name["pytest-pinned"].optional) == ("dev", True)


@needs_locks
def test_pixi_import_converts_conda_and_pypi() -> None:
    lock = load_any_lock(LOCKS / "rattler-lock-samples" / "v4_pypi-matplotlib-lock.yml")
    pip = {p.name: p for p in lock.packages_for("osx-64", "pip")}
    assert pip["packaging"].dependencies == {"pyparsing": "!=3.0.5,>=2.0.2"}
    assert pip["matplotlib"].url.startswith("https://files.pythonhosted.org/")
    assert pip["matplotlib"].hash.sha256 is not None and len(pip["matplotlib"].hash.sha256) == 64
    conda = {p.name: p for p in lock.packages_for("osx-64", "conda")}
    assert conda["pip"].dependencies == {"python": ">=3.7", "setuptools": "", "wheel": ""}
    assert conda["pip"].hash.md5 is not None and len(conda["pip"].hash.md5) == 32
    assert conda["pip"].platform == "osx-64"  # noarch package, placed on the environment's platform

    v7 = load_any_lock(LOCKS / "pixi" / "multi-machine-v7.lock", platform="p1")
    assert v7.platforms == ("win-64",)
    assert len(v7.packages_for("win-64")) == 125


@needs_locks
def test_load_any_lock_platform_selection() -> None:
    lock = load_any_lock(LOCKS / "pangeo-notebook" / "conda-lock.yml", platform="osx-arm64")
    assert lock.platforms == ("osx-arm64",)
    assert len(lock.package) == 743
    with pytest.raises(LockfileError) as info:
        load_any_lock(PANGEO, platform="win-64")
    assert str(PANGEO) in info.value.message
    assert "linux-64" in " ".join(info.value.hints)


@needs_locks
def test_explicit_without_platform_header_uses_urls(tmp_path: Path) -> None:
    source = (LOCKS / "explicit" / "mambaforge.linux-64.lock").read_text()
    path = tmp_path / "no-header.txt"
    path.write_text("\n".join(line for line in source.splitlines() if "platform:" not in line))
    lock = read_explicit(path)
    assert lock.platforms == ("linux-64",)
    assert len(lock.package) == 57
    first = lock.package[0]
    assert (first.name, first.version) == ("_libgcc_mutex", "0.1")
    assert first.hash == PackageHash()


def test_explicit_hash_forms(tmp_path: Path) -> None:
    md5 = "d7c89558ba9fa0495403155b64376d81"
    sha = "c0cddb66070dd6355311f7667ce2acccf70d1013edaa6e97f22859502fefdb22"
    base = "https://conda.anaconda.org/conda-forge/linux-64"
    path = tmp_path / "forms.txt"
    path.write_text(
        "@EXPLICIT\n"
        f"{base}/a-1.0-0.tar.bz2#{md5}\n"
        f"{base}/b-py-2.0-h1_0.conda#sha256:{sha}\n"
        f"{base}/c-3-0.conda#{sha}\n"
    )
    lock = load_any_lock(path)
    a, b, c = lock.package
    assert (a.name, a.version, a.hash.md5) == ("a", "1.0", md5)
    assert (b.name, b.version, b.hash.sha256) == ("b-py", "2.0", sha)
    assert c.hash.sha256 == sha and c.hash.md5 is None


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("version: 1\nmetadata: {}\npackage:\n- name: x\n", "`package[0] (x).version`: required key"),
        ("version: 1\nmetadata:\n  platforms: [linux-64]\n  bogus: 1\n", "`metadata.bogus`: unknown key"),
        ("version: 3\nmetadata: {}\npackage: []\n", "unsupported version `3`"),
        ("version: 1\nmetadata: [\n", "not valid YAML at line"),
        ("- just\n- a list\n", "expected a mapping"),
        (
            "version: 1\nmetadata: {}\npackage:\n"
            "- {name: x, version: 1.10, manager: conda, platform: linux-64, url: u, hash: {md5: m}}\n",
            "`package[0] (x 1.1 linux-64).version`: input should be a valid string, found a float",
        ),
    ],
)
def test_bad_conda_lock_files_raise_lockfile_error(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "conda-lock.yml"
    path.write_text(content)
    for reader in (read_lockfile, load_any_lock):
        with pytest.raises(LockfileError) as info:
            reader(path)
        assert str(path) in info.value.message
        assert expected in info.value.message


def test_bad_explicit_and_pixi_files(tmp_path: Path) -> None:
    bad_line = tmp_path / "bad.txt"
    bad_line.write_text("# platform: linux-64\n@EXPLICIT\nhttps://example.com/linux-64/not-a-package.zip\n")
    with pytest.raises(LockfileError, match="line 3") as info:
        load_any_lock(bad_line)
    assert str(bad_line) in info.value.message

    noarch_only = tmp_path / "noarch.txt"
    noarch_only.write_text(
        "@EXPLICIT\nhttps://conda.anaconda.org/conda-forge/noarch/tzdata-2024a-h0_0.conda\n"
    )
    with pytest.raises(LockfileError, match="platform"):
        load_any_lock(noarch_only)
    assert load_any_lock(noarch_only, platform="linux-64").platforms == ("linux-64",)

    pixi = tmp_path / "pixi.lock"
    pixi.write_text("version: 6\nenvironments:\n  default:\n    channels: 3\npackages: nope\n")
    with pytest.raises(LockfileError) as info:
        load_any_lock(pixi)
    assert str(pixi) in info.value.message

    with pytest.raises(LockfileError, match="does not exist"):
        load_any_lock(tmp_path / "missing.yml")


# ---------------------------------------------------------------- round trip and interop


def _with_cenv_metadata(lock: Lockfile) -> Lockfile:
    virtual = format_virtual_packages(
        [
            VirtualPackageSpec(name="__cuda", version="12.0"),
            VirtualPackageSpec(name="__glibc", version="2.34"),
        ]
    )
    custom = {CUSTOM_VERSION: "0.1.0", CUSTOM_VIRTUAL_PACKAGES + "linux-64": virtual}
    return replace(lock, metadata=replace(lock.metadata, custom_metadata=custom))


@needs_locks
def test_round_trip_is_identity_and_deterministic(tmp_path: Path) -> None:
    original = read_lockfile(PANGEO)
    lock = _with_cenv_metadata(original)

    start = time.process_time()  # CPU time: a loaded machine does not move it
    text = dump_lockfile(lock)
    dump_seconds = time.process_time() - start
    assert dump_lockfile(lock) == text  # byte-identical

    path = tmp_path / "conda-lock.yml"
    write_lockfile(lock, path)
    assert path.read_text() == text

    start = time.process_time()
    again = read_lockfile(path)
    read_seconds = time.process_time() - start
    assert again == lock
    assert again.virtual_packages("linux-64") == (
        VirtualPackageSpec(name="__cuda", version="12.0"),
        VirtualPackageSpec(name="__glibc", version="2.34"),
    )
    assert again.written_by_cenv
    assert read_lockfile(PANGEO) == original
    # Measured on the dev box: read ~0.12 s (0.10 s of it PyYAML's C parser), dump ~0.08 s for 885 packages.
    print(f"pangeo 885 packages: read {read_seconds:.3f} s, dump {dump_seconds:.3f} s of CPU")
    assert read_seconds < 2.0 and dump_seconds < 2.0  # ~15x margin; benchmarks/ measures the real numbers


@needs_locks
def test_output_parses_with_conda_lock_and_rattler(tmp_path: Path) -> None:
    lock = _with_cenv_metadata(read_lockfile(PANGEO))
    path = tmp_path / "conda-lock.yml"
    write_lockfile(lock, path)

    parsed = parse_conda_lock_file(path)
    assert len(parsed.package) == 885
    assert parsed.metadata.custom_metadata == lock.metadata.custom_metadata
    assert parsed.metadata.platforms == ["linux-64"]
    by_name = {p.name: p for p in parsed.package}
    ours = {p.name: p for p in lock.package}
    assert by_name["python"].dependencies == ours["python"].dependencies
    assert by_name["python"].hash.md5 == ours["python"].hash.md5

    rattler_lock = rattler.LockFile.from_path(path)
    environment = rattler_lock.default_environment()
    assert environment is not None
    records = environment.conda_repodata_records()
    assert sum(len(v) for v in records.values()) == 885


@needs_locks
def test_pip_entries_survive_round_trip_and_conda_lock(tmp_path: Path) -> None:
    for name in ("pypi-resolve-gh155-conda-lock.yml", "legacy-no-version-conda-lock.yml"):
        lock = read_lockfile(LOCKS / "conda-lock-v1" / name)
        path = tmp_path / name
        write_lockfile(lock, path)
        assert read_lockfile(path) == lock
        parsed = parse_conda_lock_file(path)
        assert len(parsed.package) == len(lock.package)


@needs_locks
def test_pip_entries_readable_by_rattler(tmp_path: Path) -> None:
    # (pypi-resolve-gh155 is not: its poetry-style `>=2.0.2,<3.0.5 || >3.0.5` dependency spec makes
    # rattler reject the original file as well)
    lock = read_lockfile(LOCKS / "conda-lock-v1" / "install-with-pip-deps-conda-lock.yml")
    path = tmp_path / "conda-lock.yml"
    write_lockfile(lock, path)
    environment = rattler.LockFile.from_path(path).default_environment()
    assert environment is not None
    by_platform = {str(p.name): v for p, v in environment.packages_by_platform().items()}
    assert {k: len(v) for k, v in by_platform.items()} == {"linux-64": 28, "linux-aarch64": 27}


@needs_locks
def test_dump_order_and_layout() -> None:
    lock = read_lockfile(LOCKS / "conda-lock-v1" / "install-with-pip-deps-conda-lock.yml")
    text = dump_lockfile(lock)
    assert text.startswith("# ")
    assert "conda-lock install" in text and "micromamba create" in text and "cenv " in text
    body = text[text.index("\nversion: 1\n") :]
    keys = [line.split(":")[0] for line in body.splitlines() if line and not line.startswith((" ", "-"))]
    assert keys == ["version", "metadata", "package"]
    meta_keys = [
        line.strip().rstrip(":")
        for line in body.splitlines()
        if line.startswith("  ") and line[2] not in " -"
    ]
    assert meta_keys[:4] == ["content_hash", "channels", "platforms", "sources"]
    keys_in_order = [(p.platform, p.manager, p.name) for p in read_lockfile_text(text)]
    assert keys_in_order == sorted(keys_in_order)
    requests = next(p for p in lock.package if p.name == "requests" and p.manager == "pip")
    assert list(requests.dependencies) != sorted(requests.dependencies)  # file order: certifi last
    start = text.index("- name: requests\n  version: 2.31.0\n  manager: pip")
    block = text[start : text.index("url:", start)]
    assert block.index("certifi") < block.index("charset-normalizer") < block.index("idna")


def read_lockfile_text(text: str) -> list[LockedPackage]:
    import yaml

    data = yaml.safe_load(text)
    return [locked_package_from_data(p) for p in data["package"]]


# ---------------------------------------------------------------- writing is atomic


_FULL_DISK_WRITER = """
import resource, signal, sys
from pathlib import Path
from cenv.errors import LockfileError
from cenv.lock.io import read_lockfile, write_lockfile

lock = read_lockfile(Path(sys.argv[1]))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))
try:
    write_lockfile(lock, Path(sys.argv[2]))
except LockfileError as exc:
    print(exc.message)
    sys.exit(3)
"""


def test_write_failure_while_writing_leaves_existing_file(tmp_path: Path, foreign: dict[str, Path]) -> None:
    """The write itself fails (the file size limit stands in for a full disk) after the temporary was
    opened and partly written: the old lockfile stays as it was and the temporary goes. (Issue #25: the old
    test failed in the dump, before any file was opened.)"""
    import subprocess
    import sys

    path = tmp_path / "conda-lock.yml"
    path.write_text("old content\n")
    assert foreign["conda-lock"].stat().st_size > 4096  # well past the limit
    proc = subprocess.run(
        [sys.executable, "-c", _FULL_DISK_WRITER, str(foreign["conda-lock"]), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"cannot write lockfile `{path}`: File too large"), proc.stdout
    assert path.read_text() == "old content\n"
    assert sorted(os.listdir(tmp_path)) == ["conda-lock.yml"]


def test_write_failure_in_replace_leaves_no_temp_file(tmp_path: Path, foreign: dict[str, Path]) -> None:
    lock = read_lockfile(foreign["conda-lock"])
    target = tmp_path / "conda-lock.yml"
    target.mkdir()  # os.replace of a file onto a non-empty directory fails after the temp file is written
    (target / "keep").write_text("x")
    with pytest.raises(LockfileError) as info:
        write_lockfile(lock, target)
    assert str(target) in info.value.message
    assert sorted(os.listdir(tmp_path)) == ["conda-lock.yml"]
    assert (target / "keep").read_text() == "x"

    with pytest.raises(LockfileError, match="cannot write lockfile"):
        write_lockfile(lock, tmp_path / "no-such-dir" / "conda-lock.yml")


@needs_locks
def test_write_text_atomic_for_exports(tmp_path: Path) -> None:
    lock = read_lockfile(PANGEO)
    path = tmp_path / "conda-linux-64.lock"
    path.write_text("old\n")
    write_text_atomic(path, render_explicit(lock, "linux-64"))
    assert len(ExplicitEnvironmentSpec.from_path(path).packages) == 885
    assert sorted(os.listdir(tmp_path)) == ["conda-linux-64.lock"]


def test_write_replaces_existing_file(tmp_path: Path, foreign: dict[str, Path]) -> None:
    lock = read_lockfile(foreign["conda-lock"])
    path = tmp_path / "conda-lock.yml"
    path.write_text("old\n")
    write_lockfile(lock, path)
    assert read_lockfile(path) == lock
    assert sorted(os.listdir(tmp_path)) == ["conda-lock.yml"]


# ---------------------------------------------------------------- explicit export


@needs_locks
def test_render_explicit_parses_with_rattler_in_dependency_order(tmp_path: Path) -> None:
    lock = read_lockfile(PANGEO)
    text = render_explicit(lock, "linux-64", header_lines=["Generated by cenv", "spec: environment.yml"])
    lines = text.splitlines()
    assert lines[:3] == ["# platform: linux-64", "# Generated by cenv", "# spec: environment.yml"]
    assert lines[3] == "@EXPLICIT"
    path = tmp_path / "conda-linux-64.lock"
    path.write_text(text)

    spec = ExplicitEnvironmentSpec.from_path(path)
    assert str(spec.platform) == "linux-64"
    urls = [entry.url for entry in spec.packages]
    assert len(urls) == 885
    assert all("#" in u and len(u.rsplit("#", 1)[1]) == 32 for u in urls)

    position = {u.rsplit("/", 1)[1].rsplit("-", 2)[0]: i for i, u in enumerate(urls)}
    for dep in ("libzlib", "openssl", "libffi", "ncurses", "readline", "tzdata"):
        assert position[dep] < position["python"], dep
    assert position["python"] < position["pip"]  # the python <-> pip cycle is broken python first
    # every dependency before its dependent (this lock has no cycles)
    late = [
        (p.name, d) for p in lock.package for d in p.dependencies if position.get(d, -1) > position[p.name]
    ]
    assert late == []

    # and it reads back into the same conda packages
    back = read_explicit(path)
    assert {(p.name, p.version, p.url, p.hash.md5) for p in back.package} == {
        (p.name, p.version, p.url, p.hash.md5) for p in lock.package
    }


@needs_locks
def test_render_explicit_pip_note_sha256_fallback_and_errors() -> None:
    lock = read_lockfile(LOCKS / "conda-lock-v1" / "install-with-pip-deps-conda-lock.yml")
    text = render_explicit(lock, "linux-aarch64")
    assert "4 pip package(s)" in text and "cenv export --format requirements" in text
    assert text.count("\nhttps://") == 23
    assert "files.pythonhosted.org" not in text

    with pytest.raises(LockfileError) as info:
        render_explicit(lock, "win-64")
    assert "`linux-64`" in info.value.hints[0] and "`linux-aarch64`" in info.value.hints[0]

    sha = "a" * 64
    only_sha = Lockfile(
        metadata=LockMetadata(platforms=("linux-64",)),
        package=(
            LockedPackage(
                name="x",
                version="1",
                platform="linux-64",
                url="https://example.com/ch/linux-64/x-1-0.conda",
                hash=PackageHash(sha256=sha),
            ),
        ),
    )
    assert render_explicit(only_sha, "linux-64").endswith(f"x-1-0.conda#sha256:{sha}\n")


def test_dependency_order_ties_and_cycles() -> None:
    def pkg(name: str, *deps: str) -> LockedPackage:
        return LockedPackage(
            name=name,
            version="1",
            platform="linux-64",
            url=f"https://example.com/linux-64/{name}-1-0.conda",
            hash=PackageHash(md5="0" * 32),
            dependencies=dict.fromkeys(deps, ""),
        )

    packages = [pkg("python", "zlib", "pip", "__glibc"), pkg("pip", "python"), pkg("zlib"), pkg("a")]
    assert [p.name for p in dependency_order(packages)] == ["a", "zlib", "python", "pip"]
    assert [p.name for p in dependency_order(list(reversed(packages)))] == ["a", "zlib", "python", "pip"]


DEPENDS = [
    "python >=3.9,<3.10.0a0",
    "libgcc-ng >=12",
    "pip",
    "numpy 1.26.* *_0",
    "python_abi 3.12.* *_cp312",
    "libblas 3.11.0 5_h_mkl",
    "conda-forge::foo >=1",
    "bar=1.2",
    "baz >=1.0, <2",
    "libblas >=3.9",
    "__glibc >=2.17,<3.0.a0",
    "cuda-version >=12,<13.0a0",
    "openssl >=3.3.1,<4.0a0",
    "tzdata",
    "pytorch * cuda*",
    "libzlib 1.3.1 hb9d3cd8_2",
    "six ==1.16.0",
    "ca-certificates",
    "libstdcxx >=13",
    "libstdcxx >=12",
    "setuptools !=70.0.0",
    "_openmp_mutex >=4.5",
    "llvm-openmp >=9.0.1",
    "numpy >=1.19,<3",
    "python >=3.9",
]


def test_dependencies_from_depends_matches_conda_lock(demo_channel: Path) -> None:
    """cenv writes `dependencies` as conda-lock does: compared with conda-lock's own rule (its vendored conda
    MatchSpec, tests/support/foreign_locks.py), one record's list at a time."""
    assert dependencies_from_depends(DEPENDS[:10]) == {  # what conda-lock 4 writes, spelled out
        "python": ">=3.9,<3.10.0a0",
        "libgcc-ng": ">=12",
        "pip": "",
        "numpy": "1.26.*",
        "python_abi": "3.12.*",
        "libblas": "3.11.0,>=3.9",
        "foo": ">=1",
        "bar": "1.2.*",
        "baz": ">=1.0,<2",
    }
    cases = [
        DEPENDS,
        *([d] for d in DEPENDS),
        *(r.get("depends") or [] for r in channel_records(demo_channel)),
    ]
    for depends in cases:
        assert _as_conda_lock(dependencies_from_depends(depends), depends) == conda_lock_dependencies(depends)


def _as_conda_lock(ours: dict[str, str], depends: list[str]) -> dict[str, str]:
    """`ours`, with a name that `depends` lists more than once spelled as conda-lock spells it.

    The one known difference: for two specs of one name conda's MatchSpec.merge sorts the parts and keeps
    duplicates (`>=3.9,<3.10.0a0` + `>=3.9` -> `>=3.9,>=3.9,<3.10.0a0`), cenv keeps first-seen order without
    duplicates (`>=3.9,<3.10.0a0`): the same constraint. Single specs must match exactly."""
    from conda_lock.interfaces.vendored_conda import MatchSpec

    theirs = conda_lock_dependencies(depends)
    names = Counter(MatchSpec(d).name for d in depends)
    result = dict(ours)
    for name in (n for n in ours if names[n] > 1):
        if _constraints(ours[name]) == _constraints(theirs.get(name, "")):
            result[name] = theirs[name]
    return result


def _constraints(value: str) -> set[str]:
    return set(value.split(",")) - {"", "*"}


@pytest.mark.realdata("channels/pangeo-cuda")
def test_dependencies_from_depends_matches_conda_lock_on_real_repodata() -> None:
    import json

    data = json.loads((REALDATA / "channels" / "pangeo-cuda" / "linux-64" / "repodata.json").read_text())
    records = [*data.get("packages", {}).values(), *data.get("packages.conda", {}).values()]
    assert len(records) > 1000
    differ = [
        r["name"]
        for r in records
        if _as_conda_lock(dependencies_from_depends(r.get("depends") or []), r.get("depends") or [])
        != conda_lock_dependencies(r.get("depends") or [])
    ]
    assert differ == []


_DEPEND_PARTS = st.sampled_from(
    [
        "numpy",
        "conda-forge::numpy",
        "python_abi",
        " ",
        "  ",
        "\t",
        ">=",
        "==",
        "=",
        "<",
        "!=",
        "~=",
        ",",
        "|",
        ", ",
        " ,",
        "1.2",
        "3.*",
        "*",
        "*_cp312",
        "py_0",
        "[",
        "]",
        "version='1'",
        ">=1,<2",
        "1.26.*",
        "a",
    ]
)
depend_text = st.lists(_DEPEND_PARTS, min_size=1, max_size=8).map("".join) | st.text(max_size=16)


@settings(derandomize=True, database=None, max_examples=4000, deadline=None)
@given(depend_text)
def test_the_plain_depend_split_agrees_with_the_regexes(spec: str) -> None:
    """Issue #21: the usual depend shapes are split without the regexes; where that path answers, it gives
    what the regexes give."""
    plain = _split_plain_depend(spec)
    if plain is not None:
        assert plain == _split_depend_by_regex(spec)


@pytest.mark.realdata("channels/pangeo-cuda")
def test_the_plain_depend_split_on_real_repodata() -> None:
    import json

    data = json.loads((REALDATA / "channels" / "pangeo-cuda" / "linux-64" / "repodata.json").read_text())
    records = [*data.get("packages", {}).values(), *data.get("packages.conda", {}).values()]
    depends = {d for r in records for d in r.get("depends") or []}
    plain = {d: _split_plain_depend(d) for d in depends}
    assert all(result == _split_depend_by_regex(d) for d, result in plain.items() if result is not None)
    assert sum(result is not None for result in plain.values()) > len(depends) * 0.9


@needs_locks
def test_dependencies_in_conda_locks_real_file() -> None:
    # the same values conda-lock 4 wrote for pangeo (python_abi 3.12.* *_cp312 -> 3.12.*)
    lock = read_lockfile(PANGEO)
    numpy = next(p for p in lock.package if p.name == "numpy")
    assert numpy.dependencies["python_abi"] == "3.12.*"


# ---------------------------------------------------------------- other tools' lockfiles, generated here


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory, demo_channel: Path) -> dict[str, Path]:
    """The demo channel's packages as conda-lock, rattler (pixi) and conda (`@EXPLICIT`) write them."""
    root = tmp_path_factory.mktemp("foreign-locks")
    paths = {"conda-lock": root / "conda-lock.yml", "pixi": root / "pixi.lock", "explicit": root / "env.txt"}
    write_conda_lock(paths["conda-lock"], demo_channel)
    assert write_pixi_lock(paths["pixi"], demo_channel) == len(channel_records(demo_channel))
    write_explicit(paths["explicit"], demo_channel)
    return paths


def test_locks_written_by_other_tools_load(foreign: dict[str, Path], demo_channel: Path) -> None:
    records = {r["name"]: r for r in channel_records(demo_channel)}
    for kind, path in foreign.items():
        assert detect_lock_format(path.read_text()) == kind
        lock = load_any_lock(path)
        assert lock.platforms == ("linux-64",), kind
        conda = lock.packages_for("linux-64", "conda")
        assert {p.name: p.version for p in conda} == {n: r["version"] for n, r in records.items()}, kind
        for package in conda:
            record = records[package.name]
            assert package.url.endswith(f"/{record['subdir']}/{record['fn']}"), package.url
            assert package.hash.md5 == record["md5"]
            if kind != "explicit":  # conda's explicit file carries the md5 only
                assert package.hash.sha256 == record["sha256"]
                assert package.dependencies == conda_lock_dependencies(record.get("depends") or [])
        assert not lock.written_by_cenv
        text = render_explicit(lock, "linux-64")
        assert text.count(".conda#") + text.count(".tar.bz2#") == len(records)
    pip = load_any_lock(foreign["conda-lock"]).packages_for("linux-64", "pip")
    assert [(p.name, p.version, p.dependencies, p.hash.sha256) for p in pip] == [
        (name, version, deps, sha) for name, version, deps, sha in sorted(PIP_PACKAGES)
    ]


def test_conda_lock_file_round_trip_read_by_conda_lock_and_rattler(
    foreign: dict[str, Path], tmp_path: Path
) -> None:
    lock = _with_cenv_metadata(read_lockfile(foreign["conda-lock"]))
    path = tmp_path / "conda-lock.yml"
    write_lockfile(lock, path)
    text = path.read_text()
    assert read_lockfile(path) == lock and lock.written_by_cenv
    assert dump_lockfile(lock) == text  # deterministic
    parsed = parse_conda_lock_file(path)
    assert sorted((p.name, p.manager, p.hash.md5, p.hash.sha256) for p in parsed.package) == sorted(
        (p.name, p.manager, p.hash.md5, p.hash.sha256) for p in lock.package
    )
    assert parsed.metadata.custom_metadata == lock.metadata.custom_metadata
    environment = rattler.LockFile.from_path(path).default_environment()
    assert environment is not None
    by_platform = {str(p.name): v for p, v in environment.packages_by_platform().items()}
    assert len(by_platform["linux-64"]) == len(lock.package)

    explicit = tmp_path / "conda-linux-64.lock"
    write_text_atomic(explicit, render_explicit(lock, "linux-64"))
    urls = [entry.url for entry in ExplicitEnvironmentSpec.from_path(explicit).packages]
    assert len(urls) == len(lock.packages_for("linux-64", "conda"))
    position = {u.rsplit("/", 1)[1].rsplit("-", 2)[0]: i for i, u in enumerate(urls)}
    assert position["libcenv-base"] < position["libcenv-mid"] < position["cenv-demo-tool"]  # dependency order
