"""Fuzzing the spec reader: hostile values, wrong types, broken YAML, alias bombs, huge inputs.

The promise (docs/SECURITY.md): whatever the file holds, `load_spec_text` / `load_spec` either return a
`Spec` or raise `SpecError` with a one-line message that starts with the file name (and a line number where
one exists) and names the offending key; nothing else escapes, nothing hangs, memory stays bounded. The CLI
(`cenv lock FILE`) answers such files with exit code 0 or 1, never 2 and never a traceback.

Seeded (`derandomize=True`) and bounded for CI; the `slow` variants run many more examples.
"""

from __future__ import annotations

import json
import re
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.cli_helpers import REALDATA, cenv

from cenv.errors import SpecError
from cenv.spec import Spec, load_spec, load_spec_text
from cenv.spec.load import MAX_ALIAS_EXPANSION, MAX_SPEC_BYTES, SPEC_KEYS

FILE = "fuzz.yml"
# `fuzz.yml: ...` or `fuzz.yml:12: ...`
_PREFIX = re.compile(rf"^{re.escape(FILE)}(:(?P<line>\d+))?: \S")


def fuzz(examples: int) -> Callable[[Any], Any]:
    return settings(
        derandomize=True,
        database=None,
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )


def load(text: str) -> Spec | SpecError:
    """`load_spec_text`, asserting the error contract; returns the Spec or the SpecError."""
    try:
        return load_spec_text(text, FILE)
    except SpecError as exc:
        check_error(exc)
        return exc


def check_error(exc: SpecError, file: str = FILE) -> None:
    message = str(exc)
    assert message.startswith(file), message
    if file == FILE:
        assert _PREFIX.match(message), message
    assert "\n" not in message and "\r" not in message, message
    assert len(message) < 2000, message[:300]
    assert "Traceback" not in message


# --------------------------------------------------------------------------------------------- strategies

_SPECIAL = [
    "",
    " ",
    "#",
    "# [linux]",
    "::",
    "*",
    "=",
    "==",
    "numpy",
    "numpy >=1.0,<2",
    "pytorch=2.3=*cuda*",
    "pytorch>=2.7.0=cuda12*",
    "conda-forge::numpy",
    "https://user:pw@host/chan::numpy",
    "numpy[version='>=1', build=py*]",
    "python='3.10'",
    "numpy  # [linux64]",
    "- pip",
    "pip:",
    "--index-url",
    "-e .",
    "-e git+https://x/y#egg=z",
    "--extra-index-url https://x",
    "-f",
    "\x00",
    "\x7f",
    "\u0085",
    "\u2028",
    "\ufeff",
    "\u202e",
    "🐍",
    "ǅ",
    "a" * 5000,
    "numpy " + "=" * 300,
    "${HOME}",
    "../../etc/passwd",
    "!!python/object:os.system",
    "&a",
    "*a",
    "null",
    "~",
    "yes",
    "12.10",
    "1e309",
    "2024-13-45",
    "2024-05-01T12:00:00Z",
]
_SELECTOR_WORDS = [
    "linux",
    "linux64",
    "osx",
    "win",
    "unix",
    "aarch64",
    "arm64",
    "osx-arm64",
    "not",
    "and",
    "or",
    "(",
    ")",
    "linux32bit",
    "",
    "[",
    "]",
    "🐍",
]

hostile_text = st.one_of(
    st.sampled_from(_SPECIAL),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=80),
    st.text(alphabet="abc=<>!~*.,|[]()'\":# -_\t", max_size=40),
    st.builds(lambda a, b: a + b, st.sampled_from(_SPECIAL), st.text(max_size=20)),
)
selectors = st.lists(st.sampled_from(_SELECTOR_WORDS), max_size=5).map(" ".join) | st.text(max_size=15)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
    st.dates(),
)
any_value = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(hostile_text, children, max_size=4),
    max_leaves=12,
)


def _q(value: str) -> str:
    """A YAML double-quoted scalar (JSON's escapes are YAML's)."""
    return json.dumps(value, ensure_ascii=False)


@st.composite
def shaped_spec(draw: st.DrawFn) -> str:
    """A spec of the right shape with hostile values, selectors in comments, hand-written YAML."""
    lines: list[str] = []
    if draw(st.booleans()):
        lines.append(f"name: {_q(draw(hostile_text))}")
    if draw(st.booleans()):
        lines.append("channels:")
        lines.extend(f"  - {_q(c)}" for c in draw(st.lists(hostile_text, max_size=4)))
    lines.append("dependencies:")
    for dep in draw(st.lists(hostile_text, max_size=6)):
        comment = f"  # [{draw(selectors)}]" if draw(st.booleans()) else ""
        lines.append(f"  - {_q(dep)}{comment}")
    if draw(st.booleans()):
        lines.append("  - pip:")
        for req in draw(st.lists(hostile_text, max_size=4)):
            comment = f"  # [{draw(selectors)}]" if draw(st.booleans()) else ""
            lines.append(f"    - {_q(req)}{comment}")
    if draw(st.booleans()):
        lines.append("variables:")
        for k, v in draw(st.dictionaries(hostile_text, hostile_text, max_size=3)).items():
            lines.append(f"  {_q(k)}: {_q(v)}")
    if draw(st.booleans()):
        lines.append(
            "platforms: [" + ", ".join(_q(p) for p in draw(st.lists(hostile_text, max_size=3))) + "]"
        )
    if draw(st.booleans()):
        lines.append(f"cuda: {_q(draw(hostile_text))}")
    if draw(st.booleans()):
        lines.append(f"channel-priority: {_q(draw(hostile_text))}")
    if draw(st.booleans()):
        lines.append(f"exclude-newer: {_q(draw(hostile_text))}")
    if draw(st.booleans()):
        lines.append(f"pip-options: {{index-url: {_q(draw(hostile_text))}}}")
    return "\n".join(lines) + "\n"


@st.composite
def wrong_types(draw: st.DrawFn) -> tuple[str, str]:
    """One known key with a value of any type, dumped by PyYAML: (key, text)."""
    key = draw(st.sampled_from(SPEC_KEYS))
    value = draw(any_value)
    text = yaml.safe_dump(
        {key: value}, allow_unicode=draw(st.booleans()), width=draw(st.sampled_from([80, 10**6]))
    )
    return key, text


# --------------------------------------------------------------------------------------------- properties


def _shaped(text: str) -> None:
    result = load(text)
    if isinstance(result, Spec):
        for dep in result.dependencies:
            assert dep.name and dep.spec
            for platform in ("linux-64", "osx-arm64", "win-64"):
                dep.applies_to(platform)  # a selector that loaded must evaluate
        result.content_hash()


def _wrong_type(key: str, text: str) -> None:
    result = load(text)
    if isinstance(result, SpecError):
        message = str(result)
        # a value the YAML reader itself cannot build (ruamel reads `._` as a float and fails) is reported as
        # invalid YAML at its line; everything else names the key
        assert key in message or re.match(rf"^{re.escape(FILE)}:\d+: invalid YAML", message), message
        # errors about a key's value point at the line it is on (a one-key document: line 1 or below)
        assert re.match(rf"^{re.escape(FILE)}:\d+: ", message) or "invalid YAML" in message, message


def _any_text(text: str) -> None:
    load(text)


@fuzz(700)
@given(shaped_spec())
def test_shaped_specs_with_hostile_values(text: str) -> None:
    _shaped(text)


@fuzz(500)
@given(wrong_types())
def test_known_keys_with_wrong_types(case: tuple[str, str]) -> None:
    _wrong_type(*case)


@fuzz(400)
@given(
    st.one_of(
        st.text(max_size=200),
        st.text(alphabet="-:[]{}&*!|>'\"%@`#,? \n\tab1", max_size=200),
    )
)
def test_arbitrary_text(text: str) -> None:
    _any_text(text)


_REAL_SPECS = sorted(p for p in (REALDATA / "specs").rglob("*") if p.suffix in (".yml", ".yaml"))
needs_specs = pytest.mark.realdata("specs")


@st.composite
def mutated_real_spec(draw: st.DrawFn) -> str:
    source = draw(st.sampled_from(_REAL_SPECS)).read_text(encoding="utf-8")
    for _ in range(draw(st.integers(1, 4))):
        if not source:
            break
        at = draw(st.integers(0, len(source)))
        op = draw(st.sampled_from(["delete", "insert", "truncate", "duplicate-line", "indent"]))
        if op == "delete":
            source = source[:at] + source[at + draw(st.integers(1, 40)) :]
        elif op == "insert":
            source = (
                source[:at]
                + draw(hostile_text | st.sampled_from(["\n", ":", "- ", "  ", "&a ", "*a"]))
                + source[at:]
            )
        elif op == "truncate":
            source = source[:at]
        elif op == "duplicate-line":
            lines = source.splitlines(keepends=True)
            i = draw(st.integers(0, max(0, len(lines) - 1)))
            source = "".join([*lines[: i + 1], *lines[i : i + 1], *lines[i + 1 :]])
        else:
            lines = source.splitlines(keepends=True)
            i = draw(st.integers(0, max(0, len(lines) - 1)))
            lines[i : i + 1] = [" " * draw(st.integers(1, 3)) + line for line in lines[i : i + 1]]
            source = "".join(lines)
    return source


@needs_specs
def test_real_specs_are_there() -> None:
    assert len(_REAL_SPECS) >= 10


@needs_specs
@fuzz(400)
@given(mutated_real_spec())
def test_mutated_real_specs(text: str) -> None:
    _any_text(text)


@fuzz(100)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_through_load_spec(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("bytes") / FILE
    path.write_bytes(data)
    try:
        load_spec([path])
    except SpecError as exc:
        check_error(exc, str(path))


@pytest.mark.slow
@fuzz(8000)
@given(shaped_spec())
def test_shaped_specs_with_hostile_values_slow(text: str) -> None:
    _shaped(text)


@pytest.mark.slow
@fuzz(5000)
@given(wrong_types())
def test_known_keys_with_wrong_types_slow(case: tuple[str, str]) -> None:
    _wrong_type(*case)


@pytest.mark.slow
@fuzz(5000)
@given(st.text(max_size=400) | mutated_real_spec())
def test_arbitrary_and_mutated_text_slow(text: str) -> None:
    _any_text(text)


# --------------------------------------------------------------------------------------------- duplicates


@fuzz(150)
@given(
    st.sampled_from(SPEC_KEYS),
    st.integers(0, 3),
    st.sampled_from(["top", "variables", "pip-options", "cuda"]),
)
def test_duplicate_keys_are_located_errors(key: str, gap: int, where: str) -> None:
    filler = "".join(f"# comment {i}\n" for i in range(gap))
    if where == "top":
        text = f"{key}: null\n{filler}{key}: null\n"
        dup_line = 2 + gap
    elif where == "variables":
        text = f"variables:\n  A: 1\n{filler}  A: 2\n"
        dup_line = 3 + gap
    elif where == "pip-options":
        text = f"pip-options:\n  index-url: a\n{filler}  index-url: b\n"
        dup_line = 3 + gap
    else:
        text = f"cuda:\n  linux-64: '12'\n{filler}  linux-64: '11'\n"
        dup_line = 3 + gap
    with pytest.raises(SpecError) as info:
        load_spec_text(text, FILE)
    check_error(info.value)
    assert f"{FILE}:{dup_line}: duplicate key" in str(info.value), str(info.value)
    assert info.value.hints


# --------------------------------------------------------------------------------------------- bombs and size


def _bomb(depth: int = 9, width: int = 10, mapping: bool = False) -> str:
    """A "billion laughs" structure under conda-lock's ignored `category` key: anchors a0..a{depth-1}."""
    if mapping:
        items = ["&a0 {" + ", ".join(f"k{j}: lol" for j in range(width)) + "}"]
        items += [
            f"&a{i} {{" + ", ".join(f"k{j}: *a{i - 1}" for j in range(width)) + "}" for i in range(1, depth)
        ]
    else:
        items = ["&a0 [" + ", ".join(["lol"] * width) + "]"]
        items += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, depth)]
    return "category: [" + ", ".join(items) + "]\n"


_BIG = "numpy" + " " * 300_000 + ">=1"
BOMBS = {
    "nested-lists": _bomb(),
    "nested-maps": _bomb(mapping=True),
    "under-dependencies": _bomb() + "dependencies: *a8\n",
    "under-variables": _bomb(mapping=True) + "variables: *a8\n",
    "merge-key": _bomb(mapping=True) + "variables:\n  <<: *a8\n",
    "under-name": _bomb() + "name: *a8\n",
    "under-cuda": _bomb(mapping=True) + "cuda: *a8\n",
    "complex-key": _bomb() + "? *a8\n: 1\n",
    "complex-map-key": _bomb(mapping=True) + "variables:\n  ? {x: *a8}\n  : 1\n",
    "scalar-amplification": f'category: &s "{_BIG}"\ndependencies:\n' + "  - *s\n" * 3000,
    "pip-amplification": f'category: &s "{_BIG}"\ndependencies:\n  - pip:\n' + "    - *s\n" * 3000,
    "recursive-seq": "dependencies: &d [*d]\n",
    "recursive-map": "variables: &v {a: *v}\n",
    "deep-lists": "name: " + "[" * 50_000 + "]" * 50_000 + "\n",
    "deep-maps": "name: " + "{a: " * 20_000 + "1" + "}" * 20_000 + "\n",
}


# ruamel.yaml's scanner is quadratic in flow-collection depth (it walks every open level per token) before the
# parser hits Python's recursion limit: ~6 s of CPU for 50,000 `[`. Wide, but a hang still fails.
CPU_SECONDS = {"deep-lists": 20.0}


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_alias_bombs_and_deep_nesting_fail_fast(name: str) -> None:
    text = BOMBS[name]
    before = _maxrss_mb()
    start = time.process_time()  # CPU time, not wall time: a loaded machine does not move it
    result = load(text)
    elapsed = time.process_time() - start
    assert elapsed < CPU_SECONDS.get(name, 5), f"{name} took {elapsed:.1f} s of CPU"
    assert _maxrss_mb() - before < 300, f"{name} grew RSS by {_maxrss_mb() - before:.0f} MB"
    if name in ("nested-lists", "nested-maps") or "amplification" in name or name.startswith("under-"):
        assert isinstance(result, SpecError)
        assert "YAML aliases expand" in str(result) or "expected" in str(result), str(result)


def test_small_anchors_still_work() -> None:
    spec = load_spec_text(
        "category: &cf conda-forge\nchannels: [*cf]\ndependencies: &d [numpy, python]\n"
        "variables: &v {A: '1'}\n",
        FILE,
    )
    assert spec.channels == ("conda-forge",)
    assert [d.name for d in spec.dependencies] == ["numpy", "python"]
    assert MAX_ALIAS_EXPANSION >= 100_000


def test_huge_inputs_are_linear_and_bounded(tmp_path: Path) -> None:
    start = time.process_time()
    spec = load_spec_text("dependencies:\n" + "".join(f"  - pkg{i} >=1.{i}\n" for i in range(5000)), FILE)
    assert len(spec.dependencies) == 5000
    spec = load_spec_text(f"name: {'x' * 1_000_000}\ndependencies: [numpy]\n", FILE)
    assert spec.name is not None and len(spec.name) == 1_000_000
    assert time.process_time() - start < 15

    with pytest.raises(SpecError, match="too large") as info:
        load_spec_text("#" * (MAX_SPEC_BYTES + 1), FILE)
    check_error(info.value)
    big = tmp_path / "big.yml"
    with big.open("wb") as handle:
        handle.truncate(MAX_SPEC_BYTES + 10)  # sparse: costs no disk
    with pytest.raises(SpecError, match=r"big\.yml: spec file too large"):
        load_spec([big])
    with pytest.raises(SpecError, match="too large"):
        load_spec(["/dev/zero"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: [unclosed\n", r"fuzz\.yml:\d+: invalid YAML"),
        ("dependencies:\n  - numpy\n - scipy\n", r"fuzz\.yml:\d+: invalid YAML"),
        ("\tname: x\n", r"fuzz\.yml:\d+: invalid YAML"),
        ("name: x\x00\n", r"fuzz\.yml(:\d+)?: invalid YAML"),
        ("!!python/object/apply:os.system ['true']\n", r"fuzz\.yml:1: expected a mapping at the top level"),
        ("name: !!binary aGVsbG8=\n", r"fuzz\.yml:1: name: expected a string"),
        ("name: !custom x\n", r"fuzz\.yml"),
        ("--- a\n--- b\n", r"fuzz\.yml(:\d+)?: invalid YAML"),
        ("%YAML 9.9\n---\nname: x\n", r"fuzz\.yml(:\d+)?: invalid YAML"),
        ("dependencies: [numpy]\ndependencies: [scipy]\n", r"fuzz\.yml:2: duplicate key"),
        ("dependencies:\n  - {pip: [a], pip2: [b]}\n", r"fuzz\.yml:2: dependencies\[0\]\.pip2"),
        ("dependencies:\n  - numpy  # [linux and]\n", r"fuzz\.yml:2: dependencies\[0\]: invalid selector"),
        ("dependencies:\n  - '>=1.0'\n", r"fuzz\.yml:2: dependencies\[0\]: invalid match spec"),
        ("cuda: {linux-64: [12]}\n", r"fuzz\.yml:1: cuda\.linux-64"),
        ("exclude-newer: 2024-02-30\n", r"fuzz\.yml:1: invalid YAML: cannot read `2024-02-30`"),
        ("platforms: [linux-64, 🐍]\n", r"fuzz\.yml:1: platforms\[1\]: unknown platform"),
        ("name: x\ncuda: !!int 0xZZ\n", r"fuzz\.yml:2: invalid YAML: cannot read `0xZZ`"),
        ("variables:\n  ? [a, b]\n  : 1\n", r"fuzz\.yml:2: variables: expected a variable name"),
        (
            "category: &n [a]\nvariables:\n  ? *n\n  : 1\n",
            r"fuzz\.yml:\d+: (variables: expected|invalid YAML)",
        ),
        ("variables: !!set {a, b}\n", r"fuzz\.yml:1: variables: expected a mapping"),
    ],
)
def test_invalid_yaml_and_tags(text: str, expected: str) -> None:
    result = load(text)
    if expected == r"fuzz\.yml":
        return  # an unknown tag may load as a plain string
    assert isinstance(result, SpecError), result
    assert re.match(expected, str(result)), str(result)


# --------------------------------------------------------------------------------------------- the real CLI

CLI_CASES = {
    "bomb": BOMBS["nested-lists"] + "dependencies: [numpy]\n",
    "amplification": BOMBS["scalar-amplification"],
    "duplicate": "dependencies: [numpy]\ndependencies: [scipy]\n",
    "control-chars": 'name: "\\x01\\x1b[31mred"\ndependencies: ["nu\\u0000mpy"]\n',
    "bad-yaml": "dependencies: [numpy\n",
    "wrong-type": "dependencies: {numpy: 1}\n",
    "hostile-ok": (
        'name: "🐍\\u202e"\nvariables: {"A\\u2028": "\\u0085"}\ndependencies:\n  - python  # [linux]\n'
    ),
    "weird-match-spec": "dependencies:\n  - 'pytorch>=2.7.0=cuda12*'\n  - 'x[version=\"<<>>\"]'\n",
    "binary": None,
}


@pytest.mark.parametrize("name", sorted(CLI_CASES))
def test_cli_lock_answers_hostile_specs_with_exit_0_or_1(
    tmp_path: Path, demo_channel: Path, name: str
) -> None:
    spec = tmp_path / "env.yml"
    text = CLI_CASES[name]
    if text is None:
        spec.write_bytes(b"\xff\xfe\x00name: \x80\x81\n")
    else:
        spec.write_text(text, encoding="utf-8")
    result = cenv("lock", spec, "-c", demo_channel, "-p", "linux-64", "--offline", cwd=tmp_path, timeout=120)
    assert result.code in (0, 1), result.output
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    if result.code == 1:
        assert result.stderr.startswith("error:"), result.stderr
        assert len(result.stderr) < 5000
