"""`cenv create` against hostile package archives, tampered locks and a damaged package cache (issue #7).

The archives are crafted by hand here (tarfile + zstandard + zipfile), with repodata and lock checksums
that match them: the download check passes, so extraction and linking are what must refuse.

What rattler 0.28 does by itself with these (measured when this file was written; `archive_guard.py`
has the details): it skips `../` members and strips `/` from absolute ones while extracting, refuses to
extract through a symlink leaving its directory, but links `paths.json` (or `info/files`) entries such as
`../x` outside the prefix, aborts the whole process on an absolute one, and never compares files with the
sha256/size that `paths.json` declares. cenv refuses all of these before anything is linked.
"""

from __future__ import annotations

import bz2
import hashlib
import io
import json
import os
import tarfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import zstandard
from tests.cli_helpers import cenv
from tests.create_support import pkgs_dir, siblings, write_spec
from tests.support.channel_factory import ChannelFactory

_MTIME = 1_700_000_000
NAME, VERSION, BUILD = "evilpkg", "1.0", "h0cafe_0"
DIST = f"{NAME}-{VERSION}-{BUILD}"


# ---------------------------------------------------------------- crafting archives


@dataclass(frozen=True)
class Member:
    path: str
    data: bytes = b""
    kind: str = "file"  # file | dir | symlink | hardlink
    target: str = ""


def _tar(members: Sequence[Member]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for m in members:
            info = tarfile.TarInfo(m.path)
            info.mtime = _MTIME
            if m.kind == "symlink":
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, m.target, 0o777
            elif m.kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, m.target
            elif m.kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            else:
                info.mode, info.size = 0o644, len(m.data)
            tar.addfile(info, io.BytesIO(m.data) if m.kind == "file" else None)
    return buf.getvalue()


def _json(obj: object) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def _paths_of(members: Sequence[Member]) -> list[dict[str, object]]:
    paths: list[dict[str, object]] = []
    for m in members:
        if m.kind == "file":
            sha = hashlib.sha256(m.data).hexdigest()
            paths.append(
                {"_path": m.path, "path_type": "hardlink", "sha256": sha, "size_in_bytes": len(m.data)}
            )
        elif m.kind == "symlink":
            paths.append({"_path": m.path, "path_type": "softlink"})
    return paths


def hostile_package(
    channel: Path,
    members: Sequence[Member],
    *,
    fmt: str = ".conda",
    paths: list[dict[str, object]] | None = None,
    files: str | None = None,
    has_prefix: str | None = None,
    no_paths_json: bool = False,
    pkg_stream: bytes | None = None,
    name: str = NAME,
    version: str = VERSION,
    build: str = BUILD,
) -> tuple[Path, str]:
    """Write `evilpkg` (or `name`) into `channel/linux-64` with repodata matching the archive;
    (archive, sha256)."""
    dist = f"{name}-{version}-{build}"
    index = {
        "name": name,
        "version": version,
        "build": build,
        "build_number": 0,
        "depends": [],
        "license": "MIT",
        "subdir": "linux-64",
        "platform": "linux",
        "arch": "x86_64",
        "timestamp": _MTIME * 1000,
    }
    paths = _paths_of(members) if paths is None else paths
    info = {
        "info/index.json": _json(index),
        "info/files": (files if files is not None else "".join(f"{p['_path']}\n" for p in paths)).encode(),
    }
    if not no_paths_json:
        info["info/paths.json"] = _json({"paths": paths, "paths_version": 1})
    if has_prefix is not None:
        info["info/has_prefix"] = has_prefix.encode()
    info_members = [Member(k, v) for k, v in sorted(info.items())]
    if fmt == ".tar.bz2":
        payload = bz2.compress(_tar(info_members + list(members)))
    else:
        zstd = zstandard.ZstdCompressor(level=3)
        parts = [
            ("metadata.json", _json({"conda_pkg_format_version": 2})),
            (f"info-{dist}.tar.zst", zstd.compress(_tar(info_members))),
            (f"pkg-{dist}.tar.zst", pkg_stream if pkg_stream is not None else zstd.compress(_tar(members))),
        ]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as archive:
            for name, data in parts:
                archive.writestr(zipfile.ZipInfo(name, date_time=(2023, 11, 14, 22, 13, 20)), data)
        payload = buf.getvalue()
    archive_path = channel / "linux-64" / f"{dist}{fmt}"
    archive_path.parent.mkdir(parents=True, exist_ok=True)
    archive_path.write_bytes(payload)
    sha256 = hashlib.sha256(payload).hexdigest()
    record = dict(index, md5=hashlib.md5(payload).hexdigest(), sha256=sha256, size=len(payload))
    for subdir in ("noarch", "linux-64"):
        (channel / subdir).mkdir(parents=True, exist_ok=True)
        packages = {archive_path.name: record} if subdir == "linux-64" else {}
        key = "packages" if fmt == ".tar.bz2" else "packages.conda"
        repodata = {"info": {"subdir": subdir}, "packages": {}, "packages.conda": {}, "repodata_version": 1}
        repodata[key] = packages
        (channel / subdir / "repodata.json").write_bytes(_json(repodata))
    return archive_path, sha256


def _explicit(path: Path, archive: Path, sha256: str) -> Path:
    path.write_text(f"# platform: linux-64\n@EXPLICIT\n{archive.as_uri()}#sha256:{sha256}\n")
    return path


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


OK = Member("share/evilpkg/ok.txt", b"ok\n")
OK_ENTRY = {
    "_path": OK.path,
    "path_type": "hardlink",
    "sha256": hashlib.sha256(OK.data).hexdigest(),
    "size_in_bytes": 3,
}

# (id, builder(sentinel dir) -> hostile_package kwargs, words expected in the error line)
CASES: list[tuple[str, Callable[[Path], dict[str, object]], str]] = [
    (
        "dotdot-member",
        lambda s: {"members": [OK, Member("../../../../evil", b"evil\n")]},
        "`../../../../evil` leaves",
    ),
    (
        "absolute-member",
        lambda s: {"members": [OK, Member(str(s / "evil"), b"evil\n")]},
        "is an absolute path",
    ),
    (
        "symlink-then-write-through",
        lambda s: {
            "members": [OK, Member("link", kind="symlink", target=str(s)), Member("link/evil", b"evil\n")]
        },
        "`link/evil` is written through the symbolic link `link`",
    ),
    (
        "relative-symlink-then-write-through",
        lambda s: {
            "members": [OK, Member("up", kind="symlink", target="../../../.."), Member("up/evil", b"evil\n")]
        },
        "written through the symbolic link `up`",
    ),
    (
        "hardlink-to-outside",
        lambda s: {"members": [OK, Member("hl", kind="hardlink", target="/etc/passwd")]},
        "hard link to `/etc/passwd`",
    ),
    (
        # rattler by itself copies `<pkgs>/<dist>/../<archive>` to `PREFIX/../<archive>`: outside the prefix
        "paths-json-dotdot",
        lambda s: {
            "members": [OK],
            "paths": [OK_ENTRY, {"_path": f"../{DIST}.conda", "path_type": "hardlink"}],
        },
        "`info/paths.json` entry `../",
    ),
    (
        # rattler by itself panics in a rayon thread: the process aborts (SIGABRT) and leaves its temp prefix
        "paths-json-absolute",
        lambda s: {"members": [OK], "paths": [OK_ENTRY, {"_path": str(s / "evil"), "path_type": "hardlink"}]},
        "is an absolute path",
    ),
    (
        "info-files-dotdot-without-paths-json",
        lambda s: {"members": [OK], "no_paths_json": True, "files": f"{OK.path}\n../{DIST}.conda\n"},
        "`info/files` entry `../",
    ),
    (
        "pkg-zstd-truncated",
        lambda s: {
            "members": [OK],
            "pkg_stream": zstandard.ZstdCompressor().compress(_tar([OK, Member("x", b"x" * 50_000)]))[:60],
        },
        "corrupt",
    ),
    (
        "pkg-zstd-garbage",
        lambda s: {"members": [OK], "pkg_stream": b"\x28\xb5\x2f\xfd" + os.urandom(300)},
        "corrupt",
    ),
    (
        "paths-json-lies-about-sha256",
        lambda s: {"members": [OK], "paths": [dict(OK_ENTRY, sha256="0" * 64)]},
        "does not match its sha256",
    ),
    (
        "paths-json-lies-about-size",
        lambda s: {"members": [OK], "paths": [dict(OK_ENTRY, size_in_bytes=4096)]},
        "has 4096 bytes",
    ),
    (
        "has-prefix-outside",
        lambda s: {"members": [OK], "has_prefix": "/opt/anaconda1anaconda2anaconda3 text ../../etc/x\n"},
        "`info/has_prefix` entry `../../etc/x` leaves",
    ),
]
TAR_CASES = {"dotdot-member", "absolute-member", "symlink-then-write-through", "hardlink-to-outside"}
PARAMS = [pytest.param(case, fmt, id=f"{case[0]}{fmt}") for case in CASES for fmt in (".conda", ".tar.bz2")]
PARAMS = [p for p in PARAMS if p.values[1] == ".conda" or p.values[0][0] in TAR_CASES]  # type: ignore[index]


@pytest.mark.parametrize(("case", "fmt"), PARAMS)
def test_hostile_archive_is_refused_and_writes_nothing_outside(
    case: tuple[str, Callable[[Path], dict[str, object]], str], fmt: str, tmp_path: Path
) -> None:
    _, build, expected = case
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    (tmp_path / "envs").mkdir()
    kwargs = build(sentinel)
    if fmt == ".tar.bz2" and "pkg_stream" in kwargs:
        pytest.skip("a .tar.bz2 has no inner stream")
    archive, sha256 = hostile_package(tmp_path / "ch", fmt=fmt, **kwargs)  # type: ignore[arg-type]
    lock = _explicit(tmp_path / "explicit.txt", archive, sha256)
    before = _tree(tmp_path)
    cache_root = Path(os.environ["CENV_CACHE_DIR"]).parent

    prefix = tmp_path / "envs" / "env"
    result = cenv("create", lock, "-p", prefix)

    assert result.code == 1, result.output
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1, result.stderr
    assert f"package `{NAME}` ({archive.name}) was refused" in error[0]
    assert expected in error[0], error[0]
    assert "Traceback" not in result.output and "panicked" not in result.output
    assert not prefix.exists() and siblings(prefix) == []
    assert list(sentinel.iterdir()) == []
    assert _tree(tmp_path) == before  # nothing new beside the prefix, in the channel or the sentinel
    leaked = [p for p in cache_root.rglob("*") if "evil" in p.name and "evilpkg" not in p.name]
    assert leaked == []
    # the refused archive and whatever rattler extracted from it are gone from the package cache
    assert not (pkgs_dir() / archive.name).exists() and not (pkgs_dir() / DIST).exists()


def test_benign_links_and_directories_are_accepted(tmp_path: Path) -> None:
    """No false alarm: absolute and relative symlinks (as conda packages have), directories, hard links."""
    members = [
        Member("share/evilpkg", kind="dir"),
        OK,
        Member("share/evilpkg/same.txt", kind="hardlink", target=OK.path),
        Member("share/evilpkg/rel-link", kind="symlink", target="ok.txt"),
        Member("bin/abs-link", kind="symlink", target="/bin/sh"),
    ]
    paths = [OK_ENTRY, dict(OK_ENTRY, _path="share/evilpkg/same.txt")]
    paths += [{"_path": "share/evilpkg/rel-link", "path_type": "softlink"}]
    paths += [{"_path": "bin/abs-link", "path_type": "softlink"}]
    archive, sha256 = hostile_package(tmp_path / "ch", members, paths=paths)
    prefix = tmp_path / "env"
    result = cenv("create", _explicit(tmp_path / "explicit.txt", archive, sha256), "-p", prefix)
    assert result.code == 0, result.output
    assert (prefix / "share/evilpkg/rel-link").read_text() == "ok\n"
    assert os.readlink(prefix / "bin/abs-link") == "/bin/sh"


# ---------------------------------------------------------------- tampered lock, damaged cache


def _victim(channel_factory: Callable[..., ChannelFactory], content: str) -> ChannelFactory:
    ch = channel_factory("ch")
    ch.package(
        "victim",
        "1.0",
        subdir="linux-64",
        files={"lib/victim.txt": content, "share/victim/README": "victim\n"},
    )
    ch.write_repodata()
    return ch


def _lock(ch: ChannelFactory, tmp_path: Path) -> Path:
    spec = write_spec(tmp_path / "env.yml", ch.url, deps=("victim",))
    assert cenv("lock", spec).code == 0
    return tmp_path / "env-lock.yml"


@pytest.mark.parametrize("cache", ["archive-and-dir", "archive-only", "dir-only"])
def test_tampered_lock_is_refused_even_with_a_same_named_cache_entry(
    cache: str, channel_factory: Callable[..., ChannelFactory], tmp_path: Path
) -> None:
    ch = _victim(channel_factory, "original\n")
    lock = _lock(ch, tmp_path)
    assert cenv("create", lock, "-p", tmp_path / "first").code == 0
    built = ch.record("victim")
    if cache == "archive-only":
        import shutil

        shutil.rmtree(pkgs_dir() / built.dist_name)
    elif cache == "dir-only":
        (pkgs_dir() / built.filename).unlink()
    # the channel now serves other bytes under the same file name; the pull request's lock claims a
    # checksum that matches neither the channel's archive nor the cache's
    evil = ch.add_package("victim", "1.0", subdir="linux-64", files={"lib/victim.txt": "evil\n"})
    assert evil.filename == built.filename
    tampered_sha = hashlib.sha256(b"what the reviewer saw").hexdigest()
    tampered = tmp_path / "tampered-lock.yml"
    tampered.write_text(lock.read_text().replace(built.sha256, tampered_sha))
    assert tampered_sha in tampered.read_text()

    prefix = tmp_path / "env"
    result = cenv("create", tampered, "-p", prefix)
    assert result.code == 1, result.output
    assert f"sha256 mismatch for package `victim` ({built.filename})" in result.stderr
    assert f"expected {tampered_sha}, got {evil.sha256}" in result.stderr
    assert "Traceback" not in result.output
    assert not prefix.exists() and siblings(prefix) == []

    # the lock's real checksum with the evil URL still gives the original, from the cache, never "evil"
    if cache != "archive-only":
        again = cenv("create", lock, "-p", prefix)
        assert again.code == 0, again.output
        assert (prefix / "lib/victim.txt").read_text() == "original\n"


def _damage_file(path: Path, how: str) -> None:
    if how == "same-size":
        path.write_text("ORIGINAL\n")
    elif how == "in-place-copy-p":  # `cp -p other FILE`: same inode, same size, the other file's mtime
        other = path.with_name("other.txt")
        other.write_text("ORIGINAL\n")
        os.utime(other, ns=(1_000_000_000, 1_000_000_000))
        path.write_text("ORIGINAL\n")
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))
        other.unlink()
    elif how == "other-size":
        path.write_text("tampered and longer\n")
    elif how == "deleted":
        path.unlink()
    elif how == "symlink":
        path.unlink()
        path.symlink_to("/etc/hostname")
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["same-size", "in-place-copy-p", "other-size", "deleted", "symlink"])
def test_damaged_extracted_cache_entry_is_extracted_again(
    how: str, channel_factory: Callable[..., ChannelFactory], tmp_path: Path
) -> None:
    ch = _victim(channel_factory, "original\n")
    lock = _lock(ch, tmp_path)
    assert cenv("create", lock, "-p", tmp_path / "first").code == 0
    dist = ch.record("victim").dist_name
    _damage_file(pkgs_dir() / dist / "lib/victim.txt", how)

    result = cenv("create", lock, "-p", tmp_path / "env")
    assert result.code == 0, result.output
    assert f"package cache entry `{dist}` is damaged" in result.stderr
    # the first, speculative link (the entry's paths.json still matched its stamp) left no staging behind
    assert sorted(p.name for p in tmp_path.iterdir() if "cenv-" in p.name) == []
    assert (tmp_path / "env/lib/victim.txt").read_text() == "original\n"
    assert not (tmp_path / "env/lib/victim.txt").is_symlink()
    assert (pkgs_dir() / dist / "lib/victim.txt").read_text() == "original\n"
    # and the repaired entry is linked from the cache next time, without a warning
    third = cenv("create", lock, "-p", tmp_path / "third", "--json")
    assert third.code == 0 and "damaged" not in third.stderr
    assert json.loads(third.stdout)["linked_from_cache"] == 1


@pytest.mark.parametrize("how", ["truncated", "altered", "altered-and-dir-damaged"])
def test_damaged_cached_archive_is_fetched_again(
    how: str, channel_factory: Callable[..., ChannelFactory], tmp_path: Path
) -> None:
    ch = _victim(channel_factory, "original\n")
    lock = _lock(ch, tmp_path)
    assert cenv("create", lock, "-p", tmp_path / "first").code == 0
    built = ch.record("victim")
    archive = pkgs_dir() / built.filename
    data = archive.read_bytes()
    if how == "truncated":
        archive.write_bytes(data[: len(data) // 2])
    else:
        archive.write_bytes(data[:-40] + bytes(b ^ 0xFF for b in data[-40:]))
    if how == "altered-and-dir-damaged":
        _damage_file(pkgs_dir() / built.dist_name / "lib/victim.txt", "other-size")
    else:
        import shutil

        shutil.rmtree(pkgs_dir() / built.dist_name)

    result = cenv("create", lock, "-p", tmp_path / "env", "--json")
    assert result.code == 0, result.output
    assert json.loads(result.stdout)["downloaded"] == 1
    assert (tmp_path / "env/lib/victim.txt").read_text() == "original\n"
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == built.sha256
