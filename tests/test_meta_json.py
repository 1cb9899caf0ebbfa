"""conda-meta records written by `meta_json.dumps` are byte for byte what `json.dumps(indent=2)` writes (what
rattler and earlier cenv wrote), for every JSON shape, whatever the strings hold."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from cenv.install.meta_json import dumps

# strings that could be mistaken for the separators the fast path places: NUL, braces, commas, quotes
_TEXT = st.text(
    alphabet=st.sampled_from(["a", "}", "{", ",", "\x00", "\x01", '"', "\\", "\n", "é", "😀", " "])
)
_SCALAR = st.none() | st.booleans() | st.integers() | st.floats() | _TEXT
_JSON = st.recursive(
    _SCALAR,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(_TEXT, inner, max_size=4)
        | st.lists(st.dictionaries(_TEXT, _SCALAR, max_size=4), max_size=4)
    ),
    max_leaves=30,
)


def _record() -> dict[str, object]:
    paths = [
        {
            "_path": f"lib/python3.11/site-packages/p/m{i}.py",
            "path_type": "hardlink",
            "sha256": "ab" * 32,
            "sha256_in_prefix": "ab" * 32,
            "size_in_bytes": i,
        }
        for i in range(50)
    ]
    paths.append({"_path": "bin/x", "path_type": "softlink", "no_link": True, "size_in_bytes": None})
    paths.append({"_path": "lib/p/__pycache__/m.cpython-311.pyc", "path_type": "pyc_file"})
    return {
        "name": "p",
        "version": "1.0",
        "build_number": 0,
        "depends": ["python >=3.8", "b"],
        "constrains": [],
        "timestamp": 1700000000000,
        "size": 1234,
        "noarch": "python",
        "files": [p["_path"] for p in paths],
        "paths_data": {"paths_version": 1, "paths": paths},
        "link": {"source": "/pkgs/p", "type": 1},
        "requested_specs": [],
        "license": "MIT ©",
        "weird": {"}\x00{": [{"a": "},\x00{"}], "": {}},
    }


def test_a_record_is_written_as_json_dumps_with_indent_writes_it() -> None:
    record = _record()
    assert dumps(record) == json.dumps(record, indent=2)


def test_values_the_fast_paths_do_not_take_are_still_exact() -> None:
    for value in (
        [1, "a", None],
        [{"a": [1]}, {"b": 2}],
        [{}, {"a": 1}],
        {1: "int key", "b": [True, False, math.inf, -math.inf]},
        {"nan": math.nan, "big": 10**30, "neg": -0.0},
        (),
        [[]],
        "x",
    ):
        assert dumps(value) == json.dumps(value, indent=2), value


@settings(max_examples=400, deadline=None)
@given(_JSON)
def test_any_json_value_is_written_as_json_dumps_writes_it(value: object) -> None:
    assert dumps(value) == json.dumps(value, indent=2)
