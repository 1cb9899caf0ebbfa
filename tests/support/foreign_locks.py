"""Lockfiles written by other tools' own code, from a channel the tests built (no ../shared needed).

- conda-lock v1: conda-lock's writer (`write_conda_lock_file`), with dependencies derived from each record's
  `depends` by conda-lock's rule (`conda_lock_dependencies`, its vendored conda MatchSpec);
- pixi.lock: rattler's writer (`rattler.LockFile.to_path`, the library pixi uses);
- `@EXPLICIT`: the layout of `conda list --explicit --md5`.

The real-world files of ../shared/realdata/locks cover the same readers where that folder exists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import rattler


def conda_lock_dependencies(depends: list[str]) -> dict[str, str]:
    """`dependencies` as conda-lock 4 writes them for a record's `depends`
    (conda_lock/conda_solver.py, `solve_conda`: specs of one name merged, the version's spec_str or "")."""
    from conda_lock.interfaces.vendored_conda import MatchSpec

    by_name: dict[str, list[Any]] = {}
    for dep in depends:
        spec = MatchSpec(dep)
        by_name.setdefault(spec.name, []).append(spec)
    result = {}
    for name, specs in by_name.items():
        merged = specs[0] if len(specs) == 1 else MatchSpec.merge(specs)[0]
        result[name] = merged.version.spec_str if merged.version is not None else ""
    return result


def channel_records(channel: Path, subdirs: tuple[str, ...] = ("linux-64", "noarch")) -> list[dict[str, Any]]:
    """One record per package name (the last one listed) with `fn` and `subdir`, from the channel's
    repodata.json files."""
    chosen: dict[str, dict[str, Any]] = {}
    for subdir in subdirs:
        data = json.loads((channel / subdir / "repodata.json").read_text())
        for key in ("packages", "packages.conda"):
            for fn, record in sorted(data.get(key, {}).items()):
                chosen[record["name"]] = {**record, "fn": fn, "subdir": subdir}
    return [chosen[name] for name in sorted(chosen)]


PIP_PACKAGES = (
    ("requests", "2.31.0", {"idna": "<4,>=2.5", "certifi": ">=2017.4.17"}, "a" * 64),
    ("idna", "3.6", {}, "b" * 64),
)


def write_conda_lock(path: Path, channel: Path, platform: str = "linux-64") -> None:
    """A conda-lock v1 file for every package of `channel` (one build per name) plus two pip packages,
    written by conda-lock itself. URLs name conda-forge, as a real lock would."""
    from conda_lock.lockfile import write_conda_lock_file
    from conda_lock.lockfile.v1.models import HashModel, LockMeta
    from conda_lock.lockfile.v2prelim.models import LockedDependency, Lockfile
    from conda_lock.models.channel import Channel

    packages = [
        LockedDependency(
            name=r["name"],
            version=r["version"],
            manager="conda",
            platform=platform,
            dependencies=conda_lock_dependencies(r.get("depends") or []),
            url=f"https://conda.anaconda.org/conda-forge/{r['subdir']}/{r['fn']}",
            hash=HashModel(md5=r["md5"], sha256=r["sha256"]),
            categories={"main"},
        )
        for r in channel_records(channel)
    ]
    packages += [
        LockedDependency(
            name=name,
            version=version,
            manager="pip",
            platform=platform,
            dependencies=deps,
            url=f"https://files.pythonhosted.org/packages/{name}-{version}-py3-none-any.whl",
            hash=HashModel(sha256=sha),
            categories={"main"},
        )
        for name, version, deps, sha in PIP_PACKAGES
    ]
    metadata = LockMeta(
        content_hash={platform: "0" * 64},
        channels=[Channel.from_string("conda-forge")],
        platforms=[platform],
        sources=["environment.yml"],
    )
    write_conda_lock_file(Lockfile(package=packages, metadata=metadata), path, metadata_choices=None)


def write_pixi_lock(path: Path, channel: Path, platform: str = "linux-64") -> int:
    """A pixi.lock written by rattler for every package of `channel` (one build per name); returns the
    number of packages."""
    wanted = {(r["subdir"], r["fn"]) for r in channel_records(channel)}
    lock_platform = rattler.LockPlatform(platform)
    lock = rattler.LockFile([lock_platform])
    lock.set_channels("default", [rattler.LockChannel(channel.as_uri())])
    count = 0
    for subdir in ("linux-64", "noarch"):
        repodata = rattler.RepoData.from_path(channel / subdir / "repodata.json")
        for record in repodata.into_repo_data(rattler.Channel(channel.as_uri())):
            if (subdir, record.file_name) in wanted:
                lock.add_conda_package("default", lock_platform, record)
                count += 1
    lock.to_path(path)
    return count


def write_explicit(path: Path, channel: Path, platform: str = "linux-64") -> None:
    """`conda list --explicit --md5`'s layout for every package of `channel` (one build per name)."""
    lines = [
        "# This file may be used to create an environment using:",
        "# $ conda create --name <env> --file <this file>",
        f"# platform: {platform}",
        "@EXPLICIT",
    ]
    lines += [
        f"https://conda.anaconda.org/conda-forge/{r['subdir']}/{r['fn']}#{r['md5']}"
        for r in channel_records(channel)
    ]
    path.write_text("\n".join(lines) + "\n")
