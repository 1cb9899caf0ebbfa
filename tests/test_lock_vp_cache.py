"""A virtual-packages file read before comes from cenv's cache by its text: no ruamel.yaml import on a warm
lock (issue #21); an edited file is read again and a bad one is an error every time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cenv.errors import SpecError
from cenv.virtual_packages import load_virtual_packages_file

_READ = (
    "import sys, json; from pathlib import Path; "
    "from cenv.virtual_packages import load_virtual_packages_file as load; "
    "print(json.dumps([load(Path(sys.argv[1])), 'ruamel.yaml' in sys.modules]))"
)


def _read_in_process(path: Path) -> tuple[object, bool]:
    import json

    out = subprocess.run([sys.executable, "-c", _READ, str(path)], capture_output=True, text=True, check=True)
    data, imported = json.loads(out.stdout)
    return data, imported


def test_second_read_comes_from_the_cache_without_ruamel(tmp_path: Path, isolate_env: Path) -> None:
    path = tmp_path / "virtual-packages.yml"
    path.write_text('subdirs:\n  linux-64:\n    packages:\n      __cuda: "12.0"\n      __glibc: 2.28\n')
    expected = {"linux-64": {"__cuda": "12.0", "__glibc": "2.28"}}
    assert _read_in_process(path) == (expected, True)
    assert list((isolate_env / "virtual-packages").glob("*.json"))
    assert _read_in_process(path) == (expected, False)
    # an edited file is parsed again
    path.write_text('subdirs:\n  linux-64:\n    packages:\n      __cuda: "12.4"\n')
    assert _read_in_process(path) == ({"linux-64": {"__cuda": "12.4"}}, True)


def test_bad_file_is_an_error_every_time_and_not_cached(tmp_path: Path, isolate_env: Path) -> None:
    path = tmp_path / "virtual-packages.yml"
    path.write_text("subdirs:\n  linux-64:\n    packages:\n      cuda: '12.0'\n")
    for _ in range(2):
        with pytest.raises(SpecError, match="virtual package names start with `__`"):
            load_virtual_packages_file(path)
    assert not list((isolate_env / "virtual-packages").glob("*.json"))


def test_a_damaged_cache_entry_is_read_past(tmp_path: Path, isolate_env: Path) -> None:
    path = tmp_path / "virtual-packages.yml"
    path.write_text('subdirs:\n  linux-64:\n    packages:\n      __cuda: "12.0"\n')
    assert load_virtual_packages_file(path) == {"linux-64": {"__cuda": "12.0"}}
    [entry] = (isolate_env / "virtual-packages").glob("*.json")
    entry.write_text('{"linux-64": {"__cuda": 12}}')
    assert load_virtual_packages_file(path) == {"linux-64": {"__cuda": "12.0"}}
