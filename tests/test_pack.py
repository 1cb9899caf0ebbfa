"""`cenv pack` and `cenv create PACK`: a conda + pip environment carried to a machine without network.

The lock is made against a channel and a PyPI index both served over real HTTP on 127.0.0.1; both servers
are stopped before the pack is installed with an empty package cache. Real archives, real wheels, real uv.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from tests.cli_helpers import cenv
from tests.support.channel_factory import ChannelFactory, build_demo_channel
from tests.support.http_server import ChannelServer
from tests.support.wheel_factory import WheelIndex, WheelIndexServer
from uv import find_uv_bin

PY = f"{sys.version_info.major}.{sys.version_info.minor}"
SECRET = "s3cret-pack-token"

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the test python package wraps a POSIX host")


@dataclass(frozen=True)
class Packed:
    root: Path
    lock: Path
    pack: Path
    direct: Path  # the environment created directly from the lock while the servers ran
    summary: dict[str, object]


def _env(root: Path, name: str) -> dict[str, str]:
    """A private cache per step: nothing is shared between the direct create, the pack and the unpack."""
    caches = root / f"caches-{name}"
    return {
        "CENV_CACHE_DIR": str(caches / "cenv"),
        "XDG_CACHE_HOME": str(caches / "xdg"),
        "UV_CACHE_DIR": str(caches / "uv"),
        "CONDA_PKGS_DIRS": "",
        "NO_COLOR": "1",
        # module-scoped: the per-test HOME isolation does not apply; keep out of ~/.conda/environments.txt
        "CONDA_REGISTER_ENVS": "false",
    }


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Packed]:
    root = tmp_path_factory.mktemp("pack")
    channel = build_demo_channel(root / "channels")
    index = WheelIndex(root / "pypi")
    index.add("needs-hello", "1.0", requires=["hello-cenv>=0.1"])
    index.add(
        "piponly",
        "1.0",
        files={
            "piponly/__init__.py": "def main() -> None:\n    print('piponly works')\n",
            "piponly-1.0.dist-info/entry_points.txt": "[console_scripts]\npiponly = piponly:main\n",
        },
    )
    index.write()
    with ChannelServer(channel.parent) as conda_server, WheelIndexServer(index.root) as pypi_server:
        # The index URL carries a credential: it must reach neither the lock nor the pack.
        pypi = pypi_server.url.replace("http://", f"http://alice:{SECRET}@") + "/simple"
        spec = root / "ml.yml"
        spec.write_text(
            f"name: packed\nchannels: [{conda_server.channel_url(channel.name)}]\n"
            f"pip-options:\n  index-url: {pypi}\n"
            f"dependencies:\n  - python {PY}.*\n  - cenv-demo-app\n"
            "  - pip:\n      - needs-hello\n      - piponly\n"
        )
        locked = cenv("lock", spec, env=_env(root, "lock"))
        assert locked.code == 0, locked.output
        lock = root / "ml-lock.yml"
        direct = root / "direct"
        created = cenv("create", lock, "-p", direct, env=_env(root, "direct"))
        assert created.code == 0, created.output
        made = cenv("pack", lock, "-o", root / "ml.tar", "--json", env=_env(root, "pack"))
        assert made.code == 0, made.output
        # With the package cache of the direct create, the conda archives come from there (pip: fetched).
        again = cenv("pack", lock, "-o", root / "again.tar", "--json", env=_env(root, "direct"))
        assert again.code == 0, again.output
        assert json.loads(again.stdout)["downloaded"] == 2
        plain = cenv("pack", lock, "-o", root / "plain.tar", env=_env(root, "direct"))
        assert plain.code == 0, plain.output
        copied = [line for line in plain.stderr.splitlines() if line.startswith("  copied ")]
        fetched = [line for line in plain.stderr.splitlines() if line.startswith("  downloaded ")]
        # issue #25: what came from the package cache is not said to be downloaded
        assert len(fetched) == 2 and len(copied) == len(data_conda(lock)), plain.stderr
        assert all(line.endswith(" from the package cache") for line in copied)
        assert (root / "again.tar").read_bytes() == (root / "ml.tar").read_bytes()  # same lock, same bytes
    yield Packed(root, lock, root / "ml.tar", direct, json.loads(made.stdout))


def data_conda(lock: Path) -> list[str]:
    import yaml

    return [p["name"] for p in yaml.safe_load(lock.read_text())["package"] if p["manager"] == "conda"]


def _conda_meta(prefix: Path) -> dict[str, tuple[str, str, str]]:
    records = {}
    for path in (prefix / "conda-meta").glob("*.json"):
        record = json.loads(path.read_text())
        records[record["name"]] = (record["sha256"], record["url"], record["channel"])
    return records


# What differs between two creates of the same lock: the package cache they linked from and, for files with
# the prefix placeholder, the checksums after the prefix was written in.
_LOCAL_KEYS = ("extracted_package_dir", "link", "package_tarball_full_path", "paths_data")


def _records(prefix: Path) -> dict[str, dict[str, object]]:
    records = {}
    for path in (prefix / "conda-meta").glob("*.json"):
        record = json.loads(path.read_text())
        records[path.name] = {k: v for k, v in record.items() if k not in _LOCAL_KEYS}
    return records


def _history(prefix: Path) -> list[str]:
    return [line for line in (prefix / "conda-meta" / "history").read_text().splitlines() if line[:1] in "+-"]


def _freeze(prefix: Path) -> list[str]:
    result = subprocess.run(
        [find_uv_bin(), "pip", "freeze", "--python", str(prefix / "bin" / "python")],
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(result.stdout.splitlines())


def test_pack_holds_a_channel_the_pip_artifacts_and_a_manifest(packed: Packed) -> None:
    with tarfile.open(packed.pack) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("cenv-pack.json").read())  # type: ignore[union-attr]
        lock_text = tar.extractfile("ml-lock.yml").read().decode()  # type: ignore[union-attr]
        explicit = tar.extractfile("explicit-linux-64.txt").read().decode()  # type: ignore[union-attr]
        everything = b"".join(
            tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        )
    assert names[0] == "cenv-pack.json"
    assert {
        "channel/noarch/repodata.json",
        "channel/linux-64/repodata.json",
        "requirements-linux-64.txt",
    } <= set(names)
    assert any(n.startswith("pypi/needs_hello-1.0") and n.endswith(".whl") for n in names), names
    assert set(manifest["files"]) == set(names) - {"cenv-pack.json"}
    lock = yaml.safe_load(lock_text)
    urls = [p["url"] for p in lock["package"]]
    assert urls and all(u.startswith(("channel/", "pypi/")) for u in urls), urls
    for package in lock["package"]:
        assert manifest["files"][package["url"]]["sha256"] == package["hash"]["sha256"]
    assert "@EXPLICIT" in explicit and "channel/linux-64/" in explicit and "http" not in explicit
    assert SECRET.encode() not in everything and b"alice" not in everything
    summary = packed.summary
    assert summary["platforms"] == {"linux-64": {"conda": 6, "pip": 2}}, summary
    assert summary["downloaded"] == 8


def test_create_from_the_pack_offline_equals_a_direct_create(packed: Packed, tmp_path: Path) -> None:
    # Both servers are stopped, and this create gets a cache of its own that starts empty.
    prefix = tmp_path / "from-pack"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**_env(tmp_path, "unpack"), "TMPDIR": str(scratch)}
    created = cenv("create", packed.pack, "-p", prefix, "--json", env=env)
    assert created.code == 0, created.output
    assert json.loads(created.stdout)["lockfile"] == str(packed.pack)
    assert _conda_meta(prefix) == _conda_meta(packed.direct)
    assert len(_conda_meta(prefix)) == 6
    assert _records(prefix) == _records(packed.direct)
    assert _history(prefix) == _history(packed.direct) and len(_history(prefix)) == 6
    assert _freeze(prefix) == _freeze(packed.direct)
    # The records name where each package came from, as a direct create's do (not the pack's temporary copy).
    assert any(line.startswith("needs-hello @ http://127.0.0.1:") for line in _freeze(prefix)), _freeze(
        prefix
    )
    for direct_url in packed.direct.glob("lib/python*/site-packages/*.dist-info/direct_url.json"):
        ours = prefix / direct_url.relative_to(packed.direct)
        assert ours.read_bytes() == direct_url.read_bytes()
        record = [line for line in (ours.parent / "RECORD").read_text().splitlines() if "direct_url" in line]
        assert record and all(
            line in (direct_url.parent / "RECORD").read_text().splitlines() for line in record
        ), record  # the wheel RECORD's hash of the rewritten file holds
    ran = cenv("run", "-p", prefix, "--", "piponly")
    assert ran.code == 0 and "piponly works" in ran.stdout, ran.output
    assert [p.name for p in scratch.iterdir()] == []  # no temporary copy of the pack is left behind


def test_create_from_an_unpacked_folder(packed: Packed, tmp_path: Path) -> None:
    folder = tmp_path / "unpacked"
    with tarfile.open(packed.pack) as tar:
        tar.extractall(folder, filter="data")
    prefix = tmp_path / "env"
    created = cenv("create", folder, "-p", prefix, env=_env(tmp_path, "unpack"))
    assert created.code == 0, created.output
    assert _conda_meta(prefix) == _conda_meta(packed.direct)

    wheel = next((folder / "pypi").glob("piponly-*.whl"))
    wheel.write_bytes(wheel.read_bytes() + b"\0")
    again = cenv("create", folder, "-p", tmp_path / "env2", env=_env(tmp_path, "unpack"))
    assert again.code == 1, again.output
    assert "does not match" in again.stderr and not (tmp_path / "env2").exists()


def _retar(
    source: Path,
    target: Path,
    change: Callable[[tarfile.TarInfo, bytes], bytes] = lambda info, data: data,
    extra: tuple[tuple[tarfile.TarInfo, bytes], ...] = (),
) -> Path:
    with tarfile.open(source) as old, tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as new:
        for member in old.getmembers():
            data = change(member, old.extractfile(member).read())  # type: ignore[union-attr]
            member.size = len(data)
            new.addfile(member, io.BytesIO(data))
        for info, data in extra:
            new.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return target


def _flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def _refused(pack: Path, tmp_path: Path, *expected: str) -> None:
    prefix = tmp_path / "env"
    result = cenv("create", pack, "-p", prefix, env=_env(tmp_path, "unpack"))
    assert result.code == 1, result.output
    assert "Traceback" not in result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr
    assert not prefix.exists()
    pkgs = tmp_path / "caches-unpack" / "cenv" / "pkgs"
    assert not pkgs.exists() or not any(p.suffix == ".conda" for p in pkgs.iterdir())


def test_a_changed_archive_is_refused(packed: Packed, tmp_path: Path) -> None:
    def change(info: tarfile.TarInfo, data: bytes) -> bytes:
        return _flip_last_byte(data) if info.name.startswith("channel/linux-64/libcenv-mid") else data

    _refused(_retar(packed.pack, tmp_path / "bad.tar", change), tmp_path, "libcenv-mid", "does not match")


def test_a_changed_archive_with_a_matching_manifest_is_refused(packed: Packed, tmp_path: Path) -> None:
    """Whoever changes an archive and its manifest entry still fails the lockfile's own hash."""
    import hashlib

    changed: dict[str, bytes] = {}

    def change(info: tarfile.TarInfo, data: bytes) -> bytes:
        if info.name.startswith("channel/linux-64/libcenv-mid"):
            changed[info.name] = _flip_last_byte(data)
            return changed[info.name]
        if info.name == "cenv-pack.json":
            return data  # rewritten below, once the archive's new hash is known
        return data

    first = _retar(packed.pack, tmp_path / "step.tar", change)
    [(name, data)] = changed.items()

    def manifest(info: tarfile.TarInfo, raw: bytes) -> bytes:
        if info.name != "cenv-pack.json":
            return raw
        payload = json.loads(raw)
        payload["files"][name]["sha256"] = hashlib.sha256(data).hexdigest()
        return json.dumps(payload).encode()

    _refused(_retar(first, tmp_path / "bad.tar", manifest), tmp_path, "libcenv-mid")


def test_a_changed_wheel_is_refused(packed: Packed, tmp_path: Path) -> None:
    def change(info: tarfile.TarInfo, data: bytes) -> bytes:
        return _flip_last_byte(data) if info.name.startswith("pypi/piponly") else data

    _refused(_retar(packed.pack, tmp_path / "bad.tar", change), tmp_path, "piponly", "does not match")


@pytest.mark.parametrize("kind", ["parent", "absolute", "symlink"])
def test_a_path_escaping_member_is_refused(packed: Packed, tmp_path: Path, kind: str) -> None:
    outside = tmp_path / "escaped.txt"
    if kind == "symlink":
        info = tarfile.TarInfo("channel/noarch/evil")
        info.type = tarfile.SYMTYPE
        info.linkname = str(outside)
    else:
        info = tarfile.TarInfo("../../../../../../escaped.txt" if kind == "parent" else str(outside))
        info.size = 4
    bad = _retar(packed.pack, tmp_path / "bad.tar", extra=((info, b"evil"),))
    _refused(bad, tmp_path, "refusing the pack")
    assert not outside.exists()


def test_two_platform_pack(tmp_path: Path, http_channel_server: Callable[[Path], ChannelServer]) -> None:
    ch = ChannelFactory(tmp_path / "channels", "multi")
    for subdir in ("linux-64", "osx-arm64"):
        ch.package("libmulti", "1.0", subdir=subdir, files={"share/multi.txt": subdir})
    ch.package("multi-data", "2.0", depends=["libmulti 1.0"], files={"share/multi-data.txt": "data"})
    ch.write_repodata()
    server = http_channel_server(ch.path.parent)
    spec = tmp_path / "multi.yml"
    spec.write_text(
        f"channels: [{server.channel_url('multi')}]\nplatforms: [linux-64, osx-arm64]\n"
        "dependencies:\n  - multi-data\n"
    )
    assert cenv("lock", spec).code == 0
    out = tmp_path / "multi.tar"
    made = cenv("pack", tmp_path / "multi-lock.yml", "-o", out)
    assert made.code == 0, made.output
    server.stop()
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
        tar.extractall(tmp_path / "unpacked", filter="data")
    archives = {f"channel/{p.subdir}/{p.filename}" for p in ch.packages}
    assert len(archives) == 3 and {a.split("/")[1] for a in archives} == {"linux-64", "osx-arm64", "noarch"}
    assert archives | {"explicit-linux-64.txt", "explicit-osx-arm64.txt"} <= names, names
    # The pack's channel is a channel: another lock solves from it (offline, by path) to the same packages.
    relock = tmp_path / "relock.yml"
    relock.write_text(
        f"channels: [{(tmp_path / 'unpacked' / 'channel').as_uri()}]\nplatforms: [linux-64, osx-arm64]\n"
        "dependencies:\n  - multi-data\n"
    )
    assert cenv("lock", relock).code == 0
    packages = {
        (p["platform"], p["name"], p["hash"]["sha256"])
        for p in yaml.safe_load((tmp_path / "relock-lock.yml").read_text())["package"]
    }
    original = {
        (p["platform"], p["name"], p["hash"]["sha256"])
        for p in yaml.safe_load((tmp_path / "multi-lock.yml").read_text())["package"]
    }
    assert packages == original and len(packages) == 4
    # Its explicit files read as explicit environments (what conda/micromamba take with --file).
    from rattler.explicit_environment import ExplicitEnvironmentSpec

    unpacked = tmp_path / "unpacked"
    text = (unpacked / "explicit-osx-arm64.txt").read_text()
    assert "sed " in text  # the header says how to make the paths absolute for micromamba and rattler
    absolute = tmp_path / "explicit.txt"
    absolute.write_text(text.replace("\nchannel/", f"\n{(unpacked / 'channel').as_uri()}/"))
    spec_osx = ExplicitEnvironmentSpec.from_path(absolute)
    assert spec_osx.platform is not None and str(spec_osx.platform) == "osx-arm64"
    assert sorted(Path(p.url.split("#")[0]).name for p in spec_osx.packages) == sorted(
        p.filename for p in ch.packages if p.subdir != "linux-64"
    )


def test_pack_one_of_two_platforms_and_bad_input(
    tmp_path: Path, channel_factory: Callable[..., ChannelFactory]
) -> None:
    ch = channel_factory("one")
    for subdir in ("linux-64", "osx-arm64"):
        ch.package("libone", "1.0", subdir=subdir)
    ch.write_repodata()
    spec = tmp_path / "one.yml"
    spec.write_text(f"channels: [{ch.url}]\nplatforms: [linux-64, osx-arm64]\ndependencies:\n  - libone\n")
    assert cenv("lock", spec).code == 0
    lock = tmp_path / "one-lock.yml"
    made = cenv("pack", lock, "-p", "osx-arm64", "-o", tmp_path / "one.tar", "--json")
    assert made.code == 0, made.output
    assert json.loads(made.stdout)["platforms"] == {"osx-arm64": {"conda": 1, "pip": 0}}
    with tarfile.open(tmp_path / "one.tar") as tar:
        assert not [n for n in tar.getnames() if "linux-64" in n]
    # A variant's lock packs like any lock, under its own name.
    variant = tmp_path / "one.cu124-lock.yml"
    shutil.copyfile(lock, variant)
    assert cenv("pack", variant, "-p", "osx-arm64").code == 0
    with tarfile.open(tmp_path / "one.cu124.pack.tar") as tar:
        assert "one.cu124-lock.yml" in tar.getnames()
    # That pack has nothing for this machine: exit 1 naming what it holds, nothing created.
    elsewhere = cenv("create", tmp_path / "one.tar", "-p", tmp_path / "env", "--platform", "linux-64")
    assert elsewhere.code == 1 and "osx-arm64" in elsewhere.stderr, elsewhere.output
    assert not (tmp_path / "env").exists()
    missing = cenv("pack", lock, "-p", "win-64", "-o", tmp_path / "win.tar")
    assert missing.code == 1 and "win-64" in missing.stderr and not (tmp_path / "win.tar").exists()
    # A pack whose archive vanished from the channel: exit 1, nothing written, no staging left.
    shutil.rmtree(ch.path / "osx-arm64")
    gone = cenv("pack", lock, "-o", tmp_path / "gone.tar")
    assert gone.code == 1 and "Traceback" not in gone.stderr, gone.output
    assert sorted(p.name for p in tmp_path.iterdir() if "gone" in p.name) == []


def test_pack_an_explicit_file_into_a_folder(
    tmp_path: Path, channel_factory: Callable[..., ChannelFactory]
) -> None:
    """An `@EXPLICIT` file (md5 only) packs too; a folder output is a pack that `cenv create` takes."""
    ch = channel_factory("plain")
    ch.package("libplain", "1.0", subdir="linux-64", files={"share/plain.txt": "plain\n"})
    ch.package("plain-data", "1.0", depends=["libplain"], files={"share/plain-data.txt": "data\n"})
    ch.write_repodata()
    spec = tmp_path / "plain.yml"
    spec.write_text(f"channels: [{ch.url}]\nplatforms: [linux-64]\ndependencies:\n  - plain-data\n")
    assert cenv("lock", spec).code == 0
    explicit = tmp_path / "plain.txt"
    exported = cenv("export", tmp_path / "plain-lock.yml", "-p", "linux-64", "-o", explicit)
    assert exported.code == 0 and "sha256" not in explicit.read_text(), exported.output
    folder = tmp_path / "pack"
    made = cenv("pack", explicit, "-o", folder)
    assert made.code == 0, made.output
    manifest = json.loads((folder / "cenv-pack.json").read_text())
    assert manifest["lockfile"] == "plain-lock.yml" and manifest["platforms"] == ["linux-64"]
    assert sorted(p.name for p in folder.iterdir()) == ["cenv-pack.json", "channel", "explicit-linux-64.txt",
                                                        "plain-lock.yml"]  # fmt: skip
    prefix = tmp_path / "env"
    created = cenv("create", folder, "-p", prefix, "--platform", "linux-64")
    assert created.code == 0, created.output
    assert (prefix / "share" / "plain-data.txt").read_text() == "data\n"
