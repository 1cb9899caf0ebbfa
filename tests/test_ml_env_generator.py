"""benchmarks/generate_ml_env.py at a tiny byte scale: deterministic, the documented shape, reused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import ModuleType

from tests.support.bench_modules import benchmark_module

REPO = Path(__file__).resolve().parents[1]


def _generator() -> ModuleType:
    return benchmark_module("generate_ml_env.py")


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(
        p for p in root.rglob("*") if p.is_file() and p.name not in ("GENERATED.json", "spec.yml")
    ):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def test_the_ml_environment_is_deterministic_shaped_and_reused(tmp_path: Path) -> None:
    gen = _generator()
    one = gen.generate(tmp_path / "one", scale=0.002)
    two = gen.generate(tmp_path / "two", scale=0.002)
    assert _digest(tmp_path / "one") == _digest(tmp_path / "two")  # spec.yml names its own channel path

    assert one.packages == 146 and one.noarch_modules == 15000
    assert one.files == two.files > 19000
    linux = json.loads((one.channel / "linux-64" / "repodata.json").read_text())
    noarch = json.loads((one.channel / "noarch" / "repodata.json").read_text())
    records = {**linux["packages"], **linux["packages.conda"], **noarch["packages.conda"]}
    names = {r["name"] for r in records.values()}
    assert {"python", "mlb-torch", "mlb-cuda-0", "mlb-py-59", "mlb-lib-79"} <= names
    assert sum(1 for r in records.values() if r.get("noarch") == "python") == 60
    assert sum(1 for f in records if f.endswith(".tar.bz2")) == 11  # every 7th native library
    assert "mlb-py-00" in one.spec.read_text() and one.channel.as_uri() in one.spec.read_text()

    again = gen.generate(tmp_path / "one", scale=0.002)  # same arguments: reused as it is
    assert again.seconds == 0.0 and again.archive_bytes == one.archive_bytes
