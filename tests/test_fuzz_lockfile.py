"""Fuzzing the lockfile readers: mutated conda-lock v1, `@EXPLICIT` and pixi.lock files from real projects.

The promise (docs/SECURITY.md): `cenv.lock.importers.load_any_lock` returns a `Lockfile` or raises
`LockfileError` whose message names the file; nothing else escapes (not rattler's errors, not its panics),
nothing hangs. `cenv export FILE --format explicit -p linux-64` answers with exit code 0 or 1, never 2.

Seeded (`derandomize=True`) and bounded for CI; the `slow` variants run many more examples.
"""

from __future__ import annotations

import copy
import resource
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.cli_helpers import REALDATA, cenv
from tests.support.foreign_locks import write_conda_lock, write_explicit, write_pixi_lock

from cenv.errors import LockfileError
from cenv.lock.importers import load_any_lock
from cenv.lock.io import MAX_LOCK_BYTES
from cenv.lock.models import Lockfile

LOCKS = REALDATA / "locks"
CONDA_LOCKS = [
    LOCKS / "conda-lock-v1" / name
    for name in (
        "install-with-pip-deps-conda-lock.yml",
        "pypi-resolve-gh155-conda-lock.yml",
        "blas-mkl-conda-lock.yml",
        "micromamba-envlockfile-check-step-1-lock.yaml",
        "legacy-no-version-conda-lock.yml",
    )
]
EXPLICIT_LOCKS = sorted((LOCKS / "explicit").iterdir()) if (LOCKS / "explicit").is_dir() else []
PIXI_LOCKS = [
    LOCKS / "pixi" / "cuda_virtual_dependency.lock",
    LOCKS / "pixi" / "pypi-numpy.lock",
    LOCKS / "rattler-lock-samples" / "v6_python-from-conda-only-lock.yml",
    LOCKS / "rattler-lock-samples" / "v6_numpy-as-pypi-lock.yml",
]
#: The tests that mutate real-world lockfiles; `test_mutated_generated_locks` does the same to lockfiles
#: conda-lock, rattler and conda's layout produce from the demo channel, so a fresh clone fuzzes too.
needs_locks = pytest.mark.realdata(
    "locks/conda-lock-v1", "locks/explicit", "locks/pixi", "locks/rattler-lock-samples"
)


def fuzz(examples: int) -> Callable[[Any], Any]:
    return settings(
        derandomize=True,
        database=None,
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-lock")


def check_load(path: Path, platform: str | None = None) -> Lockfile | LockfileError:
    try:
        return load_any_lock(path, platform)
    except LockfileError as exc:
        message = str(exc)
        assert str(path) in message, message
        assert len(message) < 3000, message[:300]
        assert all(len(h) < 3000 for h in exc.hints), exc.hints
        return exc


@cache
def _trimmed(path: Path, keep: int = 12) -> dict[str, Any]:
    """A real lock's parsed data with at most `keep` packages (mutating and dumping stays fast)."""
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    assert isinstance(data, dict)
    if isinstance(data.get("package"), list):
        data["package"] = data["package"][:keep]
    return data


def _dump(data: Any) -> str:
    return str(yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=True, width=10**6))


# --------------------------------------------------------------------------------------------- strategies

_GARBAGE = [
    b"\x00",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"\x1b[31m",
    b"\t",
    b"\r",
    b"\n",
    b"- ",
    b": ",
    b"{",
    b"]",
    b"&a ",
    b"*a",
    b"!!python/object:os.system ",
    b"\xc3\x28",
    b"@EXPLICIT\n",
    b"version: 6\n",
    b"environments:\n",
    b"#",
    b"%YAML 1.1\n",
    b"---\n",
]
huge = st.sampled_from(["x" * 200_000, "9" * 5000, "\u202e" * 1000, "🐍" * 10_000])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(),
    st.text(max_size=30),
    huge,
)
any_value = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in `data` (dict keys and list indexes)."""
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for k, v in data.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.extend(_paths(v, (*prefix, i)))
    return out


@st.composite
def mutated_data(draw: st.DrawFn, sources: list[Path]) -> str:
    """Parse a real lock, apply 1-4 structural mutations (delete, retype, huge, duplicate), dump it."""
    data = copy.deepcopy(_trimmed(draw(st.sampled_from(sources))))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(data)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        key = path[-1]
        op = draw(st.sampled_from(["delete", "retype", "huge", "duplicate", "rename"]))
        if op == "delete":
            del parent[key]
        elif op == "retype":
            parent[key] = draw(any_value)
        elif op == "huge":
            parent[key] = draw(huge)
        elif op == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = parent.pop(key)
    return _dump(data)


@st.composite
def mutated_bytes(draw: st.DrawFn, sources: list[Path]) -> bytes:
    """A real file with 1-4 byte-level mutations: truncation, garbage inserted, bytes deleted or flipped."""
    source = draw(st.sampled_from(sources))
    raw = source.read_bytes()
    if len(raw) > 60_000:
        raw = raw[: draw(st.integers(2_000, 60_000))]
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(raw)))
        op = draw(st.sampled_from(["truncate", "insert", "delete", "flip", "dup-line"]))
        if op == "truncate":
            raw = raw[:at]
        elif op == "insert":
            raw = raw[:at] + draw(st.sampled_from(_GARBAGE) | st.binary(max_size=20)) + raw[at:]
        elif op == "delete":
            raw = raw[:at] + raw[at + draw(st.integers(1, 200)) :]
        elif op == "flip" and at < len(raw):
            raw = raw[:at] + bytes([raw[at] ^ (1 << draw(st.integers(0, 7)))]) + raw[at + 1 :]
        elif op == "dup-line":
            lines = raw.splitlines(keepends=True)
            if lines:
                i = draw(st.integers(0, len(lines) - 1))
                lines.insert(i, lines[i])
                raw = b"".join(lines)
    return raw


@st.composite
def explicit_text(draw: st.DrawFn) -> str:
    """An `@EXPLICIT` file built from real lines plus hostile ones."""
    real = draw(st.sampled_from(EXPLICIT_LOCKS)).read_text(encoding="utf-8").splitlines()
    lines = real[: draw(st.integers(0, 40))]
    hostile = st.sampled_from(
        [
            "@EXPLICIT",
            "# platform: linux-64",
            "# platform: ",
            "# platform: 🐍",
            "https://h/c/linux-64/a-1-0.conda#" + "0" * 31,
            "https://h/c/linux-64/a-1-0.conda#sha256:" + "f" * 64,
            "https://h/c/linux-64/-1-0.conda",
            "https://h/c/linux-64/a--.tar.bz2",
            "https://u:secret@h/c/osx-64/a-1-0.conda",
            "file:///etc/passwd",
            "../../a-1-0.conda",
            "a-1-0.conda",
            "/" * 500 + "a-1-0.conda",
            "https://h/c/linux-64/" + "a" * 100_000 + "-1-0.conda",
            "\x00",
            "\t@EXPLICIT\t",
        ]
    )
    for _ in range(draw(st.integers(0, 5))):
        lines.insert(draw(st.integers(0, len(lines))), draw(hostile | st.text(max_size=60)))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------- properties


def _write(workdir: Path, name: str, content: str | bytes) -> Path:
    path = workdir / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def _check_text(workdir: Path, name: str, content: str | bytes) -> None:
    path = _write(workdir, name, content)
    for platform in (None, "linux-64"):
        result = check_load(path, platform)
        if isinstance(result, Lockfile):
            for package in result.package:
                assert package.name is not None and package.platform
            if platform is not None:
                assert result.platforms == (platform,)


@needs_locks
@fuzz(400)
@given(mutated_data(CONDA_LOCKS))
def test_mutated_conda_lock_structure(workdir: Path, text: str) -> None:
    _check_text(workdir, "conda-lock.yml", text)


@needs_locks
@fuzz(400)
@given(mutated_bytes(CONDA_LOCKS))
def test_mutated_conda_lock_bytes(workdir: Path, raw: bytes) -> None:
    _check_text(workdir, "conda-lock.yml", raw)


@needs_locks
@fuzz(300)
@given(explicit_text() | mutated_bytes(EXPLICIT_LOCKS))
def test_mutated_explicit_files(workdir: Path, content: str | bytes) -> None:
    _check_text(workdir, "env.txt", content)


@needs_locks
@fuzz(250)
@given(mutated_data(PIXI_LOCKS) | mutated_bytes(PIXI_LOCKS))
def test_mutated_pixi_locks(workdir: Path, content: str | bytes) -> None:
    _check_text(workdir, "pixi.lock", content)


@pytest.fixture(scope="module")
def generated_locks(workdir: Path, demo_channel: Path) -> dict[str, Path]:
    paths = {
        "conda-lock.yml": workdir / "generated-conda-lock.yml",
        "pixi.lock": workdir / "generated-pixi.lock",
        "env.txt": workdir / "generated-explicit.txt",
    }
    write_conda_lock(paths["conda-lock.yml"], demo_channel)
    write_pixi_lock(paths["pixi.lock"], demo_channel)
    write_explicit(paths["env.txt"], demo_channel)
    return paths


@fuzz(300)
@given(data=st.data())
def test_mutated_generated_locks(
    workdir: Path, generated_locks: dict[str, Path], data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(sorted(generated_locks)))
    source = [generated_locks[name]]
    content = data.draw(
        mutated_bytes(source) if name == "env.txt" else mutated_data(source) | mutated_bytes(source)
    )
    _check_text(workdir, name, content)


@fuzz(150)
@given(st.binary(max_size=400) | st.text(max_size=400))
def test_arbitrary_content(workdir: Path, content: str | bytes) -> None:
    _check_text(workdir, "anything.lock", content)


@needs_locks
@pytest.mark.slow
@fuzz(4000)
@given(mutated_data(CONDA_LOCKS) | mutated_bytes(CONDA_LOCKS))
def test_mutated_conda_lock_slow(workdir: Path, content: str | bytes) -> None:
    _check_text(workdir, "conda-lock.yml", content)


@needs_locks
@pytest.mark.slow
@fuzz(3000)
@given(explicit_text() | mutated_bytes(EXPLICIT_LOCKS) | mutated_data(PIXI_LOCKS) | mutated_bytes(PIXI_LOCKS))
def test_mutated_explicit_and_pixi_slow(workdir: Path, content: str | bytes) -> None:
    _check_text(workdir, "some.lock", content)


@needs_locks
def test_real_locks_load() -> None:
    for path in [*CONDA_LOCKS, *EXPLICIT_LOCKS, *PIXI_LOCKS]:
        assert isinstance(load_any_lock(path), Lockfile), path


# --------------------------------------------------------------------------------------------- bombs and size


def _bomb(depth: int = 9, width: int = 10) -> str:
    items = ["&a0 [" + ", ".join(["lol"] * width) + "]"]
    items += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, depth)]
    return "[" + ", ".join(items) + "]"


_BIG = "x" * 300_000
BOMBS = {
    "version": f"x: {_bomb()}\nversion: *a8\nmetadata: {{}}\npackage: []\n",
    "package-name": f"x: {_bomb()}\nversion: 1\nmetadata: {{platforms: [linux-64]}}\n"
    "package:\n- name: *a8\n  version: 1\n",
    "metadata": f"x: {_bomb()}\nversion: 1\nmetadata: *a8\npackage: []\n",
    "pixi-version": f"version: 9\nenvironments: {_bomb()}\nx: *a8\n",
    "string-amplification": f"x: &s {_BIG}\nversion: 1\nmetadata: {{platforms: [linux-64]}}\npackage:\n"
    + "".join(
        f"- {{name: *s, version: *s, platform: linux-64, url: *s, hash: {{}}, manager: conda{i}}}\n"
        for i in range(50)
    ),
    "recursive": "version: 1\nmetadata: &m {platforms: [linux-64], x: *m}\npackage: []\n",
    "deep": "version: 1\nmetadata: " + "[" * 100_000 + "]" * 100_000 + "\n",
    "pixi-bomb": "version: 6\nenvironments:\n  default:\n    channels: "
    + _bomb()
    + "\n    x: *a8\npackages: []\n",
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_alias_bombs_fail_fast(workdir: Path, name: str) -> None:
    path = _write(workdir, f"bomb-{name}.yml", BOMBS[name])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.process_time()  # CPU time: a loaded machine does not move it
    result = check_load(path)
    assert time.process_time() - start < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before < 300
    assert isinstance(result, LockfileError), result


def test_oversized_and_special_files(tmp_path: Path) -> None:
    big = tmp_path / "big.yml"
    with big.open("wb") as handle:
        handle.truncate(MAX_LOCK_BYTES + 1)  # sparse
    with pytest.raises(LockfileError, match="too large"):
        load_any_lock(big)
    with pytest.raises(LockfileError, match="too large"):
        load_any_lock(Path("/dev/zero"))
    with pytest.raises(LockfileError, match="is a directory"):
        load_any_lock(tmp_path)
    with pytest.raises(LockfileError, match="does not exist"):
        load_any_lock(tmp_path / "missing.yml")


# --------------------------------------------------------------------------------------------- the real CLI


_REAL_CLI_CASES = (
    "conda-lock-ok",
    "conda-lock-truncated",
    "conda-lock-garbage",
    "conda-lock-retyped",
    "pixi-ok",
    "pixi-truncated",
    "pixi-garbage",
    "explicit-ok",
    "explicit-bad-line",
)
_CLI_CASES = [
    *(pytest.param(name, marks=needs_locks) for name in _REAL_CLI_CASES),
    "generated-conda-lock-ok",
    "generated-conda-lock-truncated",
    "generated-pixi-ok",
    "generated-pixi-garbage",
    "generated-explicit-ok",
    "bomb",
    "binary",
    "empty",
]


def _cli_case(name: str, generated: dict[str, Path]) -> bytes:
    """The file for one case; the real-world ones are read only when their test runs."""
    if name.startswith("generated-"):
        kind = name.removeprefix("generated-").rsplit("-", 1)[0]
        raw = generated[{"conda-lock": "conda-lock.yml", "pixi": "pixi.lock", "explicit": "env.txt"}[kind]]
        raw_bytes = raw.read_bytes()
        name = f"{kind}-{name.rsplit('-', 1)[1]}"
        return _mutate_for_cli(name, raw_bytes)
    if name in _REAL_CLI_CASES:
        kind = name.rsplit("-", 1)[0] if not name.startswith("explicit-bad") else "explicit"
        source = {
            "conda-lock": LOCKS / "conda-lock-v1" / "blas-mkl-conda-lock.yml",
            "pixi": LOCKS / "pixi" / "pypi-numpy.lock",
            "explicit": LOCKS / "explicit" / "mambaforge.linux-64.lock",
        }[kind]
        return _mutate_for_cli(name, source.read_bytes())
    return {"bomb": BOMBS["version"].encode(), "binary": bytes(range(256)) * 4, "empty": b""}[name]


def _mutate_for_cli(name: str, raw: bytes) -> bytes:
    half = len(raw) // 2
    return {
        "conda-lock-ok": raw,
        "conda-lock-truncated": raw[: len(raw) // 3],
        "conda-lock-garbage": raw[:half] + b"\x00\xff{{[[" + raw[half:],
        "conda-lock-retyped": raw.replace(b"version:", b"version: [1, 2]\n  x:", 3),
        "pixi-ok": raw,
        "pixi-truncated": raw[:half],
        "pixi-garbage": raw[:300] + b"\x1b[31m: : :\n" + raw[300:],
        "explicit-ok": raw,
        "explicit-bad-line": raw + b"not a url\n",
    }[name]


@pytest.mark.parametrize("name", _CLI_CASES)
def test_cli_export_answers_broken_locks_with_exit_0_or_1(
    tmp_path: Path, name: str, generated_locks: dict[str, Path]
) -> None:
    path = tmp_path / "lock.yml"
    path.write_bytes(_cli_case(name, generated_locks))
    result = cenv("export", path, "--format", "explicit", "-p", "linux-64", cwd=tmp_path, timeout=120)
    assert result.code in (0, 1), result.output
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    if name.endswith("-ok"):
        assert result.code == 0 and "@EXPLICIT" in result.stdout, result.output
    if result.code == 1:
        assert result.stderr.startswith("error:") and str(path) in result.stderr, result.stderr
