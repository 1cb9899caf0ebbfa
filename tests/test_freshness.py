"""`check_lock`: typed reasons a lock is stale, without solving, on real locks written by `cenv lock`."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
from tests.cli_helpers import REALDATA, cenv, mirror

from cenv.lock.freshness import StaleReason, check_lock, is_fresh
from cenv.lock.importers import load_any_lock
from cenv.lock.io import read_lockfile
from cenv.lock.keys import CUSTOM_FORMAT, CUSTOM_PIP_REQUESTED
from cenv.lock.models import Lockfile
from cenv.settings import ChannelPriority, LockSettings
from cenv.spec import load_spec

PANGEO_NAMES = ("pangeo-pytorch-notebook", "pangeo-notebook", "pangeo-base-notebook")
PANGEO_VP = REALDATA / "specs" / "pangeo-pytorch-notebook" / "virtual-packages.yml"
MULTI = REALDATA / "channels" / "pytorch-gpu-multiplatform"
# Every test locks real repodata (the pangeo reproduction or the multi-platform pytorch channel).
pytestmark = pytest.mark.realdata(
    *(f"specs/{name}" for name in PANGEO_NAMES),
    "channels/pangeo-cuda",
    "channels/pytorch-gpu-multiplatform",
    "locks/pangeo-pytorch-notebook",
)


def _kinds(reasons: list[StaleReason]) -> set[str]:
    return {r.kind for r in reasons}


def _with_custom(lock: Lockfile, **updates: str) -> Lockfile:
    custom = {**(lock.metadata.custom_metadata or {}), **updates}
    return replace(lock, metadata=replace(lock.metadata, custom_metadata=custom))


# ------------------------------------------------------------------------------------------------ pangeo


@pytest.fixture(scope="module")
def pangeo(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], LockSettings, Lockfile]:
    """The pangeo spec (three files, copied so tests can edit them), its settings and its fresh lock."""
    tmp = tmp_path_factory.mktemp("pangeo-fresh")
    specs = []
    for name in PANGEO_NAMES:
        target = tmp / name / "environment.yml"
        target.parent.mkdir()
        shutil.copy(REALDATA / "specs" / name / "environment.yml", target)
        specs.append(target)
    alias = mirror(tmp / "mirror", **{"conda-forge": REALDATA / "channels" / "pangeo-cuda"})
    out = tmp / "pangeo-lock.yml"
    result = cenv(
        "lock", *specs, "--virtual-packages", PANGEO_VP, "--glibc", "2.34",
        "--channel-alias", alias, "-p", "linux-64", "-o", out,
    )  # fmt: skip
    assert result.code == 0, result.output
    settings = LockSettings(
        spec_paths=tuple(specs),
        lockfile=out,
        platforms=("linux-64",),
        glibc="2.34",
        virtual_packages_file=PANGEO_VP,
        channel_alias=alias,
    )
    return specs, settings, read_lockfile(out)


def _edited(tmp_path: Path, specs: list[Path], old: str, new: str, index: int = 1) -> list[Path]:
    """Copies of `specs` with `old` replaced by `new` in file `index` (default: pangeo-notebook)."""
    copies = []
    for i, spec in enumerate(specs):
        target = tmp_path / f"{i}" / spec.name
        target.parent.mkdir(parents=True)
        text = spec.read_text()
        if i == index:
            assert old in text, old
            text = text.replace(old, new, 1)
        target.write_text(text)
        copies.append(target)
    return copies


def test_fresh_lock_is_fresh(pangeo: tuple[list[Path], LockSettings, Lockfile]) -> None:
    specs, settings, lock = pangeo
    assert check_lock(load_spec(specs), settings, lock) == []
    assert is_fresh(load_spec(specs), settings, lock)


def test_comments_reordering_and_spacing_keep_it_fresh(
    pangeo: tuple[list[Path], LockSettings, Lockfile], tmp_path: Path
) -> None:
    specs, settings, lock = pangeo
    edited = _edited(
        tmp_path, specs, "argopy<1.4.0  # wait for xarray >2025.9.0 compat", "argopy <1.4.0  # new"
    )
    # reorder: move `adlfs` to the end of the list, and `channels:` below `dependencies:`
    text = edited[1].read_text().replace(" - adlfs\n", "", 1)
    head, _, deps = text.partition("dependencies:\n")
    channels = "channels:\n - conda-forge\n - nodefaults\n"
    edited[1].write_text(head.replace(channels, "") + "dependencies:\n" + deps + " - adlfs\n" + channels)
    spec = load_spec(edited)
    assert (
        spec.content_hash() != load_spec(specs).content_hash()
    )  # the hash sees the order; the check does not
    assert check_lock(spec, settings, lock) == []


def test_added_removed_changed_dependency(
    pangeo: tuple[list[Path], LockSettings, Lockfile], tmp_path: Path
) -> None:
    specs, settings, lock = pangeo
    added = _edited(tmp_path / "a", specs, " - adlfs\n", " - adlfs\n - rich\n")
    reasons = check_lock(load_spec(added), settings, lock)
    assert [(r.kind, r.platform) for r in reasons] == [("dependency-added", "linux-64")]
    assert "rich" in reasons[0].detail and "rich" in str(reasons[0])

    removed = _edited(tmp_path / "r", specs, " - adlfs\n", "")
    reasons = check_lock(load_spec(removed), settings, lock)
    assert [r.kind for r in reasons] == ["dependency-removed"] and "adlfs" in reasons[0].detail

    changed = _edited(tmp_path / "c", specs, "argopy<1.4.0", "argopy<1.5")
    reasons = check_lock(load_spec(changed), settings, lock)
    assert [r.kind for r in reasons] == ["dependency-changed"]
    assert "argopy <1.4.0" in reasons[0].detail and "argopy <1.5" in reasons[0].detail


def test_settings_changes(pangeo: tuple[list[Path], LockSettings, Lockfile]) -> None:
    specs, settings, lock = pangeo
    spec = load_spec(specs)
    from dataclasses import replace

    cuda = check_lock(spec, replace(settings, cuda="12.6"), lock)
    assert [(r.kind, r.platform) for r in cuda] == [("virtual-packages-changed", "linux-64")]
    assert "__cuda=12.0=0" in cuda[0].detail and "__cuda=12.6=0" in cuda[0].detail
    no_cuda = check_lock(spec, replace(settings, no_cuda=True), lock)
    assert "`__cuda=12.0=0` removed" in no_cuda[0].detail
    # no flag: the lock remembers its `--glibc 2.34`; a flag changes it
    assert check_lock(spec, replace(settings, glibc=None, cuda=None), lock) == []
    glibc = check_lock(spec, replace(settings, glibc="2.28"), lock)
    assert _kinds(glibc) == {"virtual-packages-changed"} and "__glibc=2.28=0" in glibc[0].detail

    assert _kinds(check_lock(spec, replace(settings, channel_priority=ChannelPriority.FLEXIBLE), lock)) == {
        "priority-changed"
    }
    newer = check_lock(spec, replace(settings, exclude_newer=datetime(2025, 1, 1, tzinfo=timezone.utc)), lock)
    assert _kinds(newer) == {"exclude-newer-changed"} and "2025-01-01" in newer[0].detail
    channels = check_lock(spec, replace(settings, channels=("conda-forge", "bioconda")), lock)
    assert _kinds(channels) == {"channels-changed"} and "`bioconda` added" in channels[0].detail

    platforms = check_lock(spec, replace(settings, platforms=("linux-64", "osx-arm64")), lock)
    assert [r.kind for r in platforms] == ["platforms-changed"] and "osx-arm64" in platforms[0].detail


def test_pip_requirements(pangeo: tuple[list[Path], LockSettings, Lockfile], tmp_path: Path) -> None:
    specs, settings, lock = pangeo
    with_pip = _edited(tmp_path, specs, " - adlfs\n", " - adlfs\n - pip:\n   - requests>=2\n")
    spec = load_spec(with_pip)
    reasons = check_lock(spec, settings, lock)
    assert [r.kind for r in reasons] == ["pip-changed"] and "requests>=2" in reasons[0].detail
    # the pip stage records what it resolved; a lock that records the same lines (respaced) is fresh
    recorded = _with_custom(lock, **{CUSTOM_PIP_REQUESTED + "linux-64": "requests >= 2"})
    assert check_lock(spec, settings, recorded) == []
    assert [r.kind for r in check_lock(load_spec(specs), settings, recorded)] == ["pip-changed"]


def test_newer_format_and_foreign_locks(pangeo: tuple[list[Path], LockSettings, Lockfile]) -> None:
    specs, settings, lock = pangeo
    spec = load_spec(specs)
    newer = check_lock(spec, settings, _with_custom(lock, **{CUSTOM_FORMAT: "99"}))
    assert [r.kind for r in newer] == ["format-newer"] and "99" in newer[0].detail
    foreign = load_any_lock(REALDATA / "locks" / "pangeo-pytorch-notebook" / "conda-lock.yml")
    assert [r.kind for r in check_lock(spec, settings, foreign)] == ["not-cenv"]


def test_spec_hash_covers_locks_without_requested_keys(
    pangeo: tuple[list[Path], LockSettings, Lockfile],
) -> None:
    specs, settings, lock = pangeo
    custom = {
        k: v for k, v in (lock.metadata.custom_metadata or {}).items() if not k.startswith("cenv.requested.")
    }
    old_style = replace(lock, metadata=replace(lock.metadata, custom_metadata=custom))
    assert check_lock(load_spec(specs), settings, old_style) == []
    hashless = _with_custom(old_style, **{"cenv.spec-hash": "0" * 64})
    assert [r.kind for r in check_lock(load_spec(specs), settings, hashless)] == ["dependency-changed"]


# ------------------------------------------------------------------------------------------------ multi


def test_multiplatform_selectors_and_spec_cuda(tmp_path: Path) -> None:
    spec_path = tmp_path / "torch.yml"
    spec_path.write_text(
        "name: torch\nchannels: [conda-forge]\nplatforms: [linux-64, osx-arm64, win-64]\ncuda: '12.6'\n"
        "dependencies:\n  - pytorch >=2.8.0,<3\n  - curl >=8.17.0,<9\n"
    )
    alias = mirror(tmp_path / "mirror", **{"conda-forge": MULTI})
    result = cenv("lock", spec_path, "--channel-alias", alias)
    assert result.code == 0, result.output
    lock = read_lockfile(tmp_path / "torch-lock.yml")
    settings = LockSettings(spec_paths=(spec_path,), channel_alias=alias)
    assert check_lock(load_spec([spec_path]), settings, lock) == []

    # a selector that only applies to osx: stale on osx-arm64 only
    spec_path.write_text(spec_path.read_text() + "  - llvm-openmp  # [osx]\n")
    reasons = check_lock(load_spec([spec_path]), settings, lock)
    assert [(r.kind, r.platform) for r in reasons] == [("dependency-added", "osx-arm64")]

    # the spec's cuda key moves __cuda on linux and win, not on osx
    spec_path.write_text(
        spec_path.read_text().replace("  - llvm-openmp  # [osx]\n", "").replace("'12.6'", "'12.8'")
    )
    reasons = check_lock(load_spec([spec_path]), settings, lock)
    assert sorted((r.kind, r.platform) for r in reasons) == [
        ("virtual-packages-changed", "linux-64"),
        ("virtual-packages-changed", "win-64"),
    ]
