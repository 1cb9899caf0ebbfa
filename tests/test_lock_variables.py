"""Issue #23: a spec's `variables:` travel in the lock, so collaborators get them too.

The lock records them in `metadata.custom_metadata["cenv.variables"]` (conda-lock's parser must still read
it), and `create LOCK`, `create PACK` and `export --format share` apply them as `create SPEC` does (conda
keeps them in `conda-meta/state`; `conda env config vars set` writes the same).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from conda_lock.lockfile import parse_conda_lock_file
from tests.cli_helpers import REALDATA, cenv

PY = f"{sys.version_info.major}.{sys.version_info.minor}"
SHOW = "import os; print(os.environ.get('CENV_DEMO_GREETING'), os.environ.get('CENV_DEMO_QUOTE'))"


def _spec(tmp_path: Path, demo_channel: Path) -> Path:
    spec = tmp_path / "demo.yml"
    spec.write_text(
        f"name: demo\nchannels: [{demo_channel.as_posix()}]\nplatforms: [linux-64]\n"
        f"dependencies:\n  - python {PY}.*\n"
        'variables:\n  CENV_DEMO_GREETING: hello\n  CENV_DEMO_QUOTE: "it\'s a = b, c"\n'
    )
    return spec


def _seen(prefix: Path) -> str:
    result = cenv("run", "-p", prefix, "--", "python", "-c", SHOW)
    assert result.code == 0, result.output
    return result.stdout.strip()


def test_variables_travel_in_the_lock_to_create_pack_and_share(tmp_path: Path, demo_channel: Path) -> None:
    spec = _spec(tmp_path, demo_channel)
    assert (made := cenv("lock", spec)).code == 0, made.output
    lock = tmp_path / "demo-lock.yml"
    custom = yaml.safe_load(lock.read_text())["metadata"]["custom_metadata"]
    assert json.loads(custom["cenv.variables"]) == {
        "CENV_DEMO_GREETING": "hello",
        "CENV_DEMO_QUOTE": "it's a = b, c",
    }
    parse_conda_lock_file(lock)  # conda-lock still reads the lock

    from_lock = tmp_path / "from-lock"
    assert (created := cenv("create", lock, "-p", from_lock)).code == 0, created.output
    assert _seen(from_lock) == "hello it's a = b, c"

    assert (packed := cenv("pack", lock, "-o", tmp_path / "demo.tar")).code == 0, packed.output
    from_pack = tmp_path / "from-pack"
    assert (created := cenv("create", tmp_path / "demo.tar", "-p", from_pack)).code == 0, created.output
    assert _seen(from_pack) == "hello it's a = b, c"

    share = cenv("export", lock, "--format", "share", "-p", "linux-64", "-o", tmp_path / "share")
    assert share.code == 0, share.output
    assert (
        "conda env config vars set -n demo CENV_DEMO_GREETING=hello 'CENV_DEMO_QUOTE=it'\"'\"'s a = b, c'"
        in (share.stdout)
    ), share.stdout


def test_a_lock_with_unusable_variables_is_refused(tmp_path: Path, demo_channel: Path) -> None:
    spec = _spec(tmp_path, demo_channel)
    assert cenv("lock", spec).code == 0
    lock = tmp_path / "demo-lock.yml"
    for bad in ('{"A B": "x"}', '["not", "an object"]', "{not json"):
        data = yaml.safe_load(lock.read_text())
        data["metadata"]["custom_metadata"]["cenv.variables"] = bad
        lock.write_text(yaml.safe_dump(data))
        result = cenv("create", lock, "-p", tmp_path / "env")
        assert result.code == 1 and "cenv.variables" in result.stderr, result.output
        assert "Traceback" not in result.output and not (tmp_path / "env").exists()


@pytest.mark.realdata("locks/pixi/pixi-sample-v5.lock")
def test_pixi_lock_environments_are_chosen_with_variant(tmp_path: Path) -> None:
    lock = REALDATA / "locks" / "pixi" / "pixi-sample-v5.lock"
    base = ("create", lock, "--dry-run", "-p", tmp_path / "env", "--platform", "linux-64")
    env = {"CONDA_OVERRIDE_CUDA": "12.4"}
    chosen = cenv(*base, "--variant", "py310cu121", env=env)
    assert chosen.code == 0, chosen.output
    assert "python 3.10." in chosen.output and "pytorch-cuda 12.1" in chosen.output, chosen.output
    default = cenv(*base, env=env)
    assert default.code == 0 and "python 3.13." in default.output, default.output
    unknown = cenv(*base, "--variant", "nosuch", env=env)
    assert unknown.code == 2, unknown.output
    assert "no such environment" in unknown.stderr and "`py310cu121`" in unknown.stderr
