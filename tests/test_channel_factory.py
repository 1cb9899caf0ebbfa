"""The channel factory writes archives the engine installs; the HTTP server behaves like a channel host."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import io
import json
import subprocess
import tarfile
import threading
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import zstandard
from rattler import (
    BuildString,
    Channel,
    GenericVirtualPackage,
    IndexJson,
    MatchSpec,
    PackageName,
    PathsJson,
    RepoDataRecord,
    Version,
    install,
    solve,
)
from tests.support import REALDATA
from tests.support.channel_factory import (
    DEMO,
    PREFIX_PLACEHOLDER,
    ChannelFactory,
    build_demo_channel,
    host_python_version,
)
from tests.support.http_server import ChannelServer

LINUX = [("__unix", "0"), ("__linux", "6.1"), ("__glibc", "2.36")]


def _vps(extra: Sequence[tuple[str, str]] = ()) -> list[GenericVirtualPackage]:
    return [GenericVirtualPackage(PackageName(n), Version(v), BuildString("0")) for n, v in [*LINUX, *extra]]


def _solve(url: str, specs: Sequence[str], extra_vps: Sequence[tuple[str, str]] = ()) -> list[RepoDataRecord]:
    return asyncio.run(
        solve(
            [Channel(url)],
            [MatchSpec(s) for s in specs],
            platforms=["linux-64", "noarch"],
            virtual_packages=_vps(extra_vps),
        )
    )


def _install(records: list[RepoDataRecord], prefix: Path) -> None:
    asyncio.run(install(records, prefix, show_progress=False))


def _by_name(records: list[RepoDataRecord]) -> dict[str, RepoDataRecord]:
    return {r.name.normalized: r for r in records}


def _run(*args: str | Path) -> str:
    out = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=30, check=True)
    return out.stdout


def _assert_demo_prefix(prefix: Path) -> None:
    # the noarch module imports with the environment's own interpreter, whose sys.prefix is the environment
    out = _run(
        prefix / "bin" / "python",
        "-c",
        "import hello_cenv, sys; print(sys.prefix); print(hello_cenv.__file__)",
    )
    sys_prefix, module_file = out.split()
    assert Path(sys_prefix) == prefix
    assert Path(module_file).is_relative_to(prefix / "lib")
    # the entry point script exists and runs under the environment's interpreter
    script = prefix / "bin" / "hello-cenv"
    assert script.read_text().startswith(f"#!{prefix}/bin/python")
    assert _run(script).strip() == f"hello from cenv 0.2.0 in {prefix}"
    # placeholders in text files are replaced with the real prefix
    tool = prefix / "bin" / "cenv-demo-tool"
    assert PREFIX_PLACEHOLDER not in tool.read_text()
    assert _run(tool).strip() == f"cenv-demo-tool 1.3.0 installed in {prefix}"
    conf = (prefix / "etc" / "cenv-demo-tool.conf").read_text()
    assert conf == f"data_dir = {prefix}/share/cenv-demo-tool\n"
    # the .tar.bz2 at the bottom of the chain and the symlink in the middle are linked
    assert (prefix / "lib" / "libcenv-base.txt").read_text() == "libcenv-base 1.0.0\n"
    assert (prefix / "lib" / "libcenv-mid.so").is_symlink()
    assert (prefix / "lib" / "libcenv-mid.so").read_text() == "libcenv-mid 2.1.0\n"
    assert (prefix / "share" / "cenv-accel" / "variant").read_text() == "cpu\n"
    meta = {p.name for p in (prefix / "conda-meta").glob("*.json")}
    assert "hello-cenv-0.2.0-pyhd8ed1ab_0.json" in meta
    assert len(meta) == 7


# ---------------------------------------------------------------------------------------------- demo channel


def test_demo_channel_solves_to_newest_chain_and_cpu_variant(demo_channel: Path) -> None:
    recs = _by_name(_solve(demo_channel.as_uri(), ["cenv-demo-app", "cenv-accel"]))
    assert set(recs) == {*DEMO.chain, "hello-cenv", "python", "cenv-accel"}
    assert str(recs["hello-cenv"].version) == "0.2.0"
    assert str(recs["python"].version) == host_python_version()
    assert recs["libcenv-base"].url.endswith(".tar.bz2")
    assert recs["cenv-demo-tool"].url.endswith(".conda")
    assert str(recs["cenv-accel"].build) == "cpu_h1a2b3c4_0"  # no __cuda: the cuda build is not installable


def test_demo_channel_cuda_build_wins_with_cuda(demo_channel: Path) -> None:
    recs = _by_name(_solve(demo_channel.as_uri(), ["cenv-accel"], extra_vps=[("__cuda", "12.4")]))
    assert str(recs["cenv-accel"].build) == "cuda12_h1a2b3c4_1"
    assert recs["cenv-accel"].build_number == 1


def test_install_from_file_channel(demo_channel: Path, tmp_path: Path) -> None:
    records = _solve(demo_channel.as_uri(), ["cenv-demo-app", "cenv-accel"])
    prefix = tmp_path / "env"
    _install(records, prefix)
    _assert_demo_prefix(prefix)
    # rattler links, it does not byte-compile
    assert not list(prefix.rglob("*.pyc"))


def test_install_over_http(
    demo_channel: Path, tmp_path: Path, http_channel_server: Callable[[Path], ChannelServer]
) -> None:
    server = http_channel_server(demo_channel.parent)
    url = server.channel_url(demo_channel.name)
    records = _solve(url, ["cenv-demo-app", "cenv-accel"])
    assert all(r.url.startswith(url) for r in records)
    prefix = tmp_path / "env"
    _install(records, prefix)
    _assert_demo_prefix(prefix)
    base = f"/{demo_channel.name}"
    assert server.count(f"{base}/linux-64/repodata.json", method="GET") == 1
    assert server.count(f"{base}/noarch/repodata.json", method="GET") == 1
    for r in records:
        assert server.hits[f"{base}/{r.subdir}/{r.file_name}"] == 1

    # a second solve (new gateway, same disk cache) revalidates with If-None-Match and gets 304
    server.reset_counters()
    _solve(url, ["hello-cenv"])
    repodata_gets = [r for r in server.log if r.path.endswith("/repodata.json") and r.method == "GET"]
    assert repodata_gets
    assert all(r.status == 304 and "if-none-match" in r.headers for r in repodata_gets)


# ---------------------------------------------------------------------------------------------- archives


@pytest.mark.parametrize("fmt", [".conda", ".tar.bz2"])
def test_both_formats_install(
    fmt: str, channel_factory: Callable[..., ChannelFactory], tmp_path: Path
) -> None:
    ch = channel_factory("fmt")
    ch.python_wrapper(fmt=fmt)
    ch.package(
        "pkg-tool",
        "1.0",
        subdir="linux-64",
        fmt=fmt,
        prefix_files={"bin/pkg-tool": f"#!/bin/sh\necho {PREFIX_PLACEHOLDER}\n"},
        files={"share/pkg-tool/a.txt": "a\n"},
    )
    ch.package(
        "pkg-py",
        "1.0",
        noarch="python",
        fmt=fmt,
        depends=["python", "pkg-tool 1.0"],
        files={"site-packages/pkg_py.py": "X = 1\n", "python-scripts/pkg-py-raw": "#!/bin/sh\necho raw\n"},
        entry_points=["pkg-py = pkg_py:X"],
    )
    ch.write_repodata()
    built = ch.record("pkg-tool")
    assert built.path.name == f"pkg-tool-1.0-{built.build}{fmt}"
    # rattler's own archive readers accept the archive
    assert IndexJson.from_package_archive(built.path).name.normalized == "pkg-tool"
    paths = PathsJson.from_package_archive(built.path).paths
    assert [str(p.relative_path) for p in paths] == ["bin/pkg-tool", "share/pkg-tool/a.txt"]
    assert paths[0].prefix_placeholder is not None

    prefix = tmp_path / "env"
    _install(_solve(ch.url, ["pkg-py"]), prefix)
    assert _run(prefix / "bin" / "pkg-tool").strip() == str(prefix)
    assert (prefix / "bin" / "pkg-py").exists()  # entry point
    assert _run(prefix / "bin" / "pkg-py-raw").strip() == "raw"  # python-scripts/ -> bin/
    assert _run(prefix / "bin" / "python", "-c", "import pkg_py, sys; print(sys.prefix)").strip() == str(
        prefix
    )


def test_conda_archive_layout(channel_factory: Callable[..., ChannelFactory]) -> None:
    ch = channel_factory()
    pkg = ch.add_package(
        "lay", "2.0", noarch="python", files={"site-packages/lay.py": ""}, entry_points=["l = lay:m"]
    )
    with zipfile.ZipFile(pkg.path) as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos] == [
            "metadata.json",
            f"info-{pkg.dist_name}.tar.zst",
            f"pkg-{pkg.dist_name}.tar.zst",
        ]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
        assert json.loads(zf.read("metadata.json")) == {"conda_pkg_format_version": 2}
        info_tar = zstandard.ZstdDecompressor().decompress(zf.read(f"info-{pkg.dist_name}.tar.zst"))
    with tarfile.open(fileobj=io.BytesIO(info_tar)) as tar:
        names = tar.getnames()
        assert "info/repodata_record.json" not in names
        assert {
            "info/index.json",
            "info/paths.json",
            "info/files",
            "info/about.json",
            "info/link.json",
        } <= set(names)
        link = json.loads(tar.extractfile("info/link.json").read())  # type: ignore[union-attr]
        index = json.loads(tar.extractfile("info/index.json").read())  # type: ignore[union-attr]
    assert link == {
        "noarch": {"type": "python", "entry_points": ["l = lay:m"]},
        "package_metadata_version": 1,
    }
    assert index["noarch"] == "python" and index["subdir"] == "noarch" and "platform" not in index


def test_tar_bz2_has_prefix_and_paths(channel_factory: Callable[..., ChannelFactory]) -> None:
    ch = channel_factory()
    pkg = ch.add_package(
        "pf",
        "1.0",
        subdir="linux-64",
        fmt=".tar.bz2",
        prefix_files={"etc/pf.cfg": f"root={PREFIX_PLACEHOLDER}\n"},
    )
    with tarfile.open(pkg.path, "r:bz2") as tar:
        names = tar.getnames()
        has_prefix = tar.extractfile("info/has_prefix").read().decode()  # type: ignore[union-attr]
        paths = json.loads(tar.extractfile("info/paths.json").read())  # type: ignore[union-attr]
        assert all(m.mtime == tar.getmember("info/index.json").mtime for m in tar.getmembers())
    assert names == [*sorted(n for n in names if n.startswith("info/")), "etc/pf.cfg"]
    assert has_prefix == f"{PREFIX_PLACEHOLDER} text etc/pf.cfg\n"
    assert paths["paths_version"] == 1
    (entry,) = paths["paths"]
    assert entry["prefix_placeholder"] == PREFIX_PLACEHOLDER and entry["file_mode"] == "text"
    assert entry["sha256"] == hashlib.sha256(f"root={PREFIX_PLACEHOLDER}\n".encode()).hexdigest()


def test_repodata_records(channel_factory: Callable[..., ChannelFactory]) -> None:
    ch = channel_factory()
    ch.package("a", "1.0", noarch="generic", fmt=".tar.bz2", timestamp=1_650_000_000_000)
    ch.package("b", "1.0", noarch="generic", constrains=["a >=1"], track_features="feat")
    ch.write_repodata(zst=True)
    noarch = json.loads((ch.path / "noarch" / "repodata.json").read_text())
    assert noarch["info"] == {"subdir": "noarch"}
    assert list(noarch["packages"]) == [ch.record("a").filename]
    assert list(noarch["packages.conda"]) == [ch.record("b").filename]
    for fn, rec in {**noarch["packages"], **noarch["packages.conda"]}.items():
        data = (ch.path / "noarch" / fn).read_bytes()
        assert "indexed_timestamp" not in rec
        assert rec["sha256"] == hashlib.sha256(data).hexdigest()
        assert rec["md5"] == hashlib.md5(data).hexdigest()
        assert rec["size"] == len(data)
    assert noarch["packages"][ch.record("a").filename]["timestamp"] == 1_650_000_000_000
    assert noarch["packages.conda"][ch.record("b").filename]["track_features"] == "feat"
    zst = zstandard.ZstdDecompressor().decompress((ch.path / "noarch" / "repodata.json.zst").read_bytes())
    assert json.loads(zst) == noarch
    # an empty linux-64 index is written so the channel is complete
    linux = json.loads((ch.path / "linux-64" / "repodata.json").read_text())
    assert linux["packages"] == {} and linux["packages.conda"] == {}


def test_missing_noarch_is_filled_in(channel_factory: Callable[..., ChannelFactory], tmp_path: Path) -> None:
    ch = channel_factory()
    ch.package("only-linux", "1.0", subdir="linux-64").write_repodata()
    assert (ch.path / "noarch" / "repodata.json").is_file()
    assert [r.name.normalized for r in _solve(ch.url, ["only-linux"])] == ["only-linux"]


def test_rebuild_is_byte_identical(tmp_path: Path) -> None:
    def digests(root: Path) -> dict[str, str]:
        return {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    a = digests(build_demo_channel(tmp_path / "a", zst=True))
    b = digests(build_demo_channel(tmp_path / "b", zst=True))
    assert a == b
    assert any(k.endswith(".tar.bz2") for k in a) and any(k.endswith(".conda") for k in a)


def test_factory_rejects_invalid_packages(channel_factory: Callable[..., ChannelFactory]) -> None:
    ch = channel_factory()
    with pytest.raises(ValueError, match="noarch"):
        ch.package("x", "1", subdir="linux-64", noarch="python")
    with pytest.raises(ValueError, match="does not contain"):
        ch.package("x", "1", prefix_files={"bin/x": "no placeholder"})
    with pytest.raises(ValueError, match="fmt"):
        ch.package("x", "1", fmt=".zip")
    with pytest.raises(ValueError, match="must match the host"):
        ch.python_wrapper(version="2.7.18")
    with pytest.raises(ValueError, match="invalid package path"):
        ch.package("x", "1", files={"../escape": ""})


def test_realdata_constant_points_at_shared_data(realdata: Path) -> None:
    assert realdata == REALDATA == Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
    assert (REALDATA / "README.md").is_file()


# ---------------------------------------------------------------------------------------------- http server


@pytest.fixture
def served(tmp_path: Path, http_channel_server: Callable[[Path], ChannelServer]) -> ChannelServer:
    (tmp_path / "srv" / "noarch").mkdir(parents=True)
    (tmp_path / "srv" / "noarch" / "repodata.json").write_bytes(b'{"packages": {}}\n' * 100)
    return http_channel_server(tmp_path / "srv")


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_server_etag_and_304(served: ChannelServer) -> None:
    url = served.url + "/noarch/repodata.json"
    status, headers, body = _get(url)
    assert status == 200 and len(body) == 1700
    assert headers["ETag"] == '"' + hashlib.sha256(body).hexdigest() + '"'
    assert headers["Cache-Control"] == "public, max-age=0"
    assert headers["Content-Length"] == "1700"
    assert _get(url, {"If-None-Match": headers["ETag"]})[0] == 304
    assert _get(url, {"If-None-Match": '"stale"'})[0] == 200
    assert _get(served.url + "/noarch/missing.json")[0] == 404
    assert _get(served.url + "/../etc/passwd")[0] == 404
    assert served.hits["/noarch/repodata.json"] == 3
    assert [r.status for r in served.log] == [200, 304, 200, 404, 404]


def test_server_failure_switches(served: ChannelServer) -> None:
    url = served.url + "/noarch/repodata.json"
    served.fail_paths["/noarch/repodata.json"] = 500
    served.fail_times["/noarch/repodata.json"] = 1
    assert _get(url)[0] == 500
    assert _get(url)[0] == 200  # failed only once
    served.fail_paths["*.json"] = 503
    assert _get(url)[0] == 503
    served.fail_paths.clear()

    served.truncate_paths.add("/noarch/repodata.json")
    with pytest.raises(http.client.IncompleteRead):
        _get(url)
    served.truncate_paths.clear()

    served.drop_after_bytes["/noarch/repodata.json"] = 100
    with pytest.raises(http.client.IncompleteRead) as exc:
        _get(url)
    assert len(exc.value.partial) == 100
    served.drop_after_bytes.clear()
    assert _get(url)[0] == 200


def test_server_stops_with_idle_keepalive_connection(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    before = set(threading.enumerate())
    with ChannelServer(tmp_path) as srv:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        conn.request("GET", "/f")
        resp = conn.getresponse()
        assert resp.read() == b"x"
        assert resp.getheader("Connection") != "close"  # HTTP/1.1 keep-alive: a handler thread stays parked
    conn.close()
    assert set(threading.enumerate()) <= before
