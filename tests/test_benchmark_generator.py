"""benchmarks/generate_channel.py at tiny scale: deterministic, CEP-16 shaped, cenv locks from its shards."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import ModuleType

import pytest
from tests.support.bench_modules import benchmark_module
from tests.support.http_server import ChannelServer

msgpack = pytest.importorskip("msgpack")
zstandard = pytest.importorskip("zstandard")

REPO = Path(__file__).resolve().parents[1]
RECORDS = 3000  # linux-64; the ML core alone is ~2,500 records, so some filler too


def _generator() -> ModuleType:
    return benchmark_module("generate_channel.py")


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != "GENERATED.json"):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def _unpack(path: Path) -> dict:
    return msgpack.unpackb(zstandard.ZstdDecompressor().decompress(path.read_bytes()), raw=False)


def test_generator_is_deterministic_and_sharded(tmp_path: Path) -> None:
    gen = _generator()
    stats = gen.generate(tmp_path / "a", RECORDS, seed=7)
    assert gen.generate(tmp_path / "b", RECORDS, seed=7) == stats
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    gen.generate(tmp_path / "c", RECORDS, seed=8)
    assert _digest(tmp_path / "c") != _digest(tmp_path / "a")
    assert set(stats) == {"linux-64", "noarch", "osx-arm64", "win-64"}
    assert stats["linux-64"]["records"] >= RECORDS

    subdir = tmp_path / "a" / "conda-forge" / "linux-64"
    index = _unpack(subdir / "repodata_shards.msgpack.zst")
    assert index["info"] == {"subdir": "linux-64", "base_url": "./", "shards_base_url": "./shards/"}
    assert len(index["shards"]) == stats["linux-64"]["names"]
    digest = index["shards"]["pytorch"]
    assert isinstance(digest, bytes) and len(digest) == 32
    shard_file = subdir / "shards" / f"{digest.hex()}.msgpack.zst"
    assert hashlib.sha256(shard_file.read_bytes()).digest() == digest  # content addressed
    shard = _unpack(shard_file)
    records = {**shard["packages"], **shard["packages.conda"]}
    assert records and all(r["name"] == "pytorch" and len(r["sha256"]) == 32 for r in records.values())
    cuda = [r for r in records.values() if r["build"].startswith("cuda")]
    cpu = [r for r in records.values() if r["build"].startswith("cpu")]
    assert cuda and cpu
    assert all("__cuda" in r["depends"] for r in cuda)
    assert min(r["build_number"] for r in cuda) > max(r["build_number"] for r in cpu)


def test_cenv_lock_over_http_fetches_shards(tmp_path: Path) -> None:
    from cenv.pipeline import lock
    from cenv.settings import LockSettings

    gen = _generator()
    root = tmp_path / "www"
    gen.generate(root, RECORDS, seed=0)
    spec = tmp_path / "ml.yml"
    spec.write_text(gen.ml_spec_yaml())
    with ChannelServer(root) as server:
        result = lock(
            LockSettings(
                spec_paths=(spec,),
                lockfile=tmp_path / "ml-lock.yml",
                platforms=gen.PLATFORMS,
                cuda="12.4",
                channel_alias=server.url,
                cache_dir=tmp_path / "cache",
            )
        )
        assert server.count("/conda-forge/*/repodata_shards.msgpack.zst", "GET") >= 4
        assert server.count("/conda-forge/*/shards/*.msgpack.zst", "GET") > 50
        assert server.count("/conda-forge/*/repodata.json*") == 0, server.requests
    for platform in gen.PLATFORMS:
        assert result.count(platform) > 100
    builds = {p.platform: p.url.rsplit("/", 1)[1] for p in result.lockfile.package if p.name == "pytorch"}
    assert builds["linux-64"].startswith("pytorch-2.5.1-cuda120_")
    assert builds["win-64"].startswith("pytorch-2.5.1-cuda120_")
    assert builds["osx-arm64"].startswith("pytorch-2.5.1-cpu_")


def test_ml_spec_pip_part_locks_from_the_generated_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """benchmarks/pip_index.py: the ML spec's pip part resolves against the generated index for each
    platform, conda's python distributions stay conda's, and a re-lock gives the same bytes."""
    from cenv.pipeline import lock
    from cenv.settings import LockSettings

    gen = _generator()
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import pip_index

    root = tmp_path / "www"
    gen.generate(root, RECORDS, seed=0)
    channel = (root / gen.CHANNEL).as_uri()
    provided = pip_index.conda_versions(channel, gen.ML_SPEC, gen.PLATFORMS, (None,))
    index = pip_index.build_pip_index(tmp_path / "pypi", provided)
    assert len(list(index.files_dir.glob("*.whl"))) >= pip_index.wheel_count()
    monkeypatch.setenv("CENV_PYPI_MAPPING", str(pip_index.write_mapping(tmp_path / "mapping.json")))
    with pip_index.pypi_server(index.root) as pypi:
        spec = tmp_path / "ml.yml"
        spec.write_text(gen.ml_spec_yaml(pip=pip_index.ML_PIP, index_url=pypi.url + "/simple"))
        settings = LockSettings(
            spec_paths=(spec,),
            lockfile=tmp_path / "ml-lock.yml",
            platforms=gen.PLATFORMS,
            cuda="none",
            channel_alias=root.as_uri(),
            cache_dir=tmp_path / "cache",
        )
        result = lock(settings)
        first = result.path.read_bytes()
        assert lock(settings).path.read_bytes() == first
    for platform in gen.PLATFORMS:
        pip = {p.name for p in result.lockfile.packages_for(platform, "pip")}
        conda = {p.name for p in result.lockfile.packages_for(platform, "conda")}
        assert len(pip) == pip_index.pip_distributions(), (platform, sorted(pip))
        assert {"torch", "numpy", "pandas"}.isdisjoint(pip) and {"pytorch", "numpy"} <= conda
