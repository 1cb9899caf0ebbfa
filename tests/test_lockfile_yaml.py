"""The lockfile writer's own YAML emitter, against PyYAML's dumper (the writer before it) as the oracle.

Whatever the emitter writes must load back to exactly the same data with PyYAML's C loader (conda-lock's
parser), a YAML 1.2 loader (ruamel.yaml, as rattler's serde_yaml reads 1.2) and `rattler.LockFile`.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest
import rattler
import yaml
from conda_lock.lockfile import parse_conda_lock_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from tests.support.realdata import REALDATA

from cenv.lock.fastread import fast_load
from cenv.lock.io import _Emitter, dump_lockfile, package_sort_key, read_lockfile, write_lockfile, yaml_scalar
from cenv.lock.models import (
    GitMetadata,
    InputMetadata,
    LockChannel,
    LockedPackage,
    Lockfile,
    LockMetadata,
    PackageHash,
    PackageSource,
    TimeMetadata,
)
from cenv.lock.scalars import _plain_by_regex, _surely_plain

V1_NAMES = ("pangeo-pytorch-notebook", "pangeo-notebook", "pangeo-ml-notebook")
needs_v1_locks = pytest.mark.realdata("locks/conda-lock-v1", *(f"locks/{name}" for name in V1_NAMES))
V1_LOCKS = sorted((REALDATA / "locks" / "conda-lock-v1").glob("*.y*ml")) + [
    REALDATA / "locks" / name / "conda-lock.yml" for name in V1_NAMES
]
YAML12 = YAML(typ="safe", pure=True)


# ------------------------------------------------------------------------ the oracle: the PyYAML writer


def _old_package_data(package: LockedPackage) -> dict[str, Any]:
    hash_data: dict[str, str] = {}
    if package.hash.md5 is not None:
        hash_data["md5"] = package.hash.md5
    if package.hash.sha256 is not None:
        hash_data["sha256"] = package.hash.sha256
    data: dict[str, Any] = {
        "name": package.name,
        "version": package.version,
        "manager": package.manager,
        "platform": package.platform,
        "dependencies": {k: package.dependencies[k] for k in sorted(package.dependencies)},
        "url": package.url,
        "hash": hash_data,
    }
    if package.source is not None:
        data["source"] = {"type": package.source.type, "url": package.source.url}
    if package.build is not None:
        data["build"] = package.build
    data["category"] = package.category
    data["optional"] = package.optional
    return data


def _without_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def _old_metadata_data(metadata: LockMetadata) -> dict[str, Any]:
    data: dict[str, Any] = {
        "content_hash": {k: metadata.content_hash[k] for k in sorted(metadata.content_hash)},
        "channels": [{"url": c.url, "used_env_vars": list(c.used_env_vars)} for c in metadata.channels],
        "platforms": list(metadata.platforms),
        "sources": list(metadata.sources),
    }
    if metadata.time_metadata is not None:
        data["time_metadata"] = {"created_at": metadata.time_metadata.created_at}
    if metadata.git_metadata is not None:
        data["git_metadata"] = _without_none(asdict(metadata.git_metadata))
    if metadata.inputs_metadata is not None:
        data["inputs_metadata"] = {
            k: _without_none(asdict(metadata.inputs_metadata[k])) for k in sorted(metadata.inputs_metadata)
        }
    if metadata.custom_metadata is not None:
        data["custom_metadata"] = {k: metadata.custom_metadata[k] for k in sorted(metadata.custom_metadata)}
    return data


def old_dump(lock: Lockfile) -> str:
    """The body `dump_lockfile` wrote with PyYAML's representer and C emitter (without the header)."""
    data = {
        "version": lock.version,
        "metadata": _old_metadata_data(lock.metadata),
        "package": [_old_package_data(p) for p in sorted(lock.package, key=package_sort_key)],
    }
    return str(
        yaml.dump(
            data,
            Dumper=yaml.CSafeDumper,
            sort_keys=False,
            default_flow_style=False,
            allow_unicode=True,
            width=10_000,
        )
    )


def load(text: str) -> Any:
    return yaml.load(text, Loader=yaml.CSafeLoader)


# ------------------------------------------------------------------------ equivalence on real lockfiles


@needs_v1_locks
@pytest.mark.parametrize("path", V1_LOCKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_locks_dump_to_the_same_data_as_pyyaml(path: Path) -> None:
    lock = read_lockfile(path)
    text = dump_lockfile(lock)
    assert load(text) == load(old_dump(lock))
    assert YAML12.load(text) == load(text)
    assert dump_lockfile(lock) == text
    assert read_lockfile_text(text, path) == lock


def read_lockfile_text(text: str, path: Path) -> Lockfile:
    """The YAML layer's round trip; the field values are checked (and tested) in test_untrusted_lockfiles."""
    from cenv.lock.io import lockfile_from_text

    return lockfile_from_text(text, path, check_values=False)


def test_layout_matches_pyyaml_block_style() -> None:
    """Plain scalars where PyYAML writes them plain; the same lines apart from the quoting style."""
    lock = Lockfile(
        metadata=LockMetadata(
            content_hash={"linux-64": "abc"},
            channels=(LockChannel(url="conda-forge"),),
            platforms=("linux-64",),
            sources=("env.yml",),
            custom_metadata={"cenv.format": "1"},
        ),
        package=(
            LockedPackage(
                name="zlib",
                version="1.3.1",
                platform="linux-64",
                dependencies={"libgcc": ">=13", "python": "3.11.*"},
                url="https://conda.anaconda.org/conda-forge/linux-64/zlib-1.3.1-hb9d3cd8_2.conda",
                hash=PackageHash(md5="c9f075ab2f33b3bbee9e62d4ad0a6cd8"),
            ),
        ),
    )
    text = dump_lockfile(lock)
    assert text[text.index("\nversion: 1\n") + 1 :] == old_dump(lock).replace("'", '"')


# ------------------------------------------------------------------------ hostile strings

HOSTILE = [
    "",
    " ",
    "a ",
    " a",
    "a  b",
    "yes",
    "No",
    "ON",
    "off",
    "y",
    "N",
    "null",
    "Null",
    "~",
    "true",
    "False",
    "1.10",
    "0.1",
    "12",
    "-1",
    "+1",
    "0o7",
    "0x1F",
    "0b101",
    "017",
    "1e3",
    "1E-3",
    "8e12345",
    "1_000",
    "190:20:30",
    ".5",
    "5.",
    ".inf",
    "-.Inf",
    ".NaN",
    "nan",
    "inf",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "2024-05-01T00:00:00+00:00",
    "<<",
    "=",
    "...",
    "---",
    "- a",
    "-a",
    "? a",
    "?a",
    ": a",
    ":a",
    "a:",
    "a: b",
    "a:b",
    "a #b",
    "a#b",
    "#a",
    "&a",
    "*a",
    "!a",
    "!!str",
    "|",
    ">=1.2",
    "<2",
    "%YAML",
    "@a",
    "`a",
    "'a'",
    '"a"',
    "a'b",
    'a"b',
    "a\\b",
    "[a]",
    "{a: b}",
    "a,b",
    "a\nb",
    "a\n",
    "\n",
    "a\r\nb",
    "a\tb",
    "\x00\x07\x1b\x7f\x85\xa0",
    "\u2028\u2029\ufeff\ufffe",
    "é",
    "日本語",
    "🐍",
    "\U0001f40d\u200b",
    ">=3.9,<3.10.0a0",
    "1.26.*",
    "*",
    "python 3.11.*\npytorch >=2.3",
    "https://user:pass@host/t/tok/c/linux-64/a-1-0.conda#sha256=ab",
    "x" * 2000,
]
hostile = st.sampled_from(HOSTILE) | st.text(max_size=40)
hostile_text = st.lists(hostile, min_size=1, max_size=3).map("".join)
fuzz = settings(
    derandomize=True, database=None, max_examples=400, deadline=None, suppress_health_check=list(HealthCheck)
)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_scalars_round_trip_in_yaml_11_and_12(value: str) -> None:
    rendered = yaml_scalar(value)
    document = f"key: {rendered}\n{_Emitter().key('', value)} value\nlist:\n- {rendered}\n"
    expected = {"key": value, value: "value", "list": [value]}
    assert load(document) == expected
    assert YAML12.load(document) == expected


@fuzz
@given(hostile_text)
def test_any_string_round_trips(value: str) -> None:
    rendered = yaml_scalar(value)
    assert "\n" not in rendered
    assert load(f"- {rendered}\n- {_Emitter().key('  ', value).lstrip()} x\n") == [value, {value: "x"}]
    assert YAML12.load(f"- {rendered}\n") == [value]


_SCALAR_CHARS = '0123456789._eE+-xXoObBiInNfFaAtTyY:# /~<=>!,*|@%&?()^$ "\\\n'
scalar_text = st.text(alphabet=_SCALAR_CHARS, max_size=12) | st.sampled_from(HOSTILE) | st.text(max_size=12)


@settings(derandomize=True, database=None, max_examples=5000, deadline=None)
@given(scalar_text)
def test_the_fast_plain_check_agrees_with_the_regexes(value: str) -> None:
    """Issue #21: `yaml_scalar` decides most values without its regexes (`_surely_plain`); a value it calls
    plain that way is one the regexes call plain too, so the written bytes are what they were."""
    if _surely_plain(value):
        assert _plain_by_regex(value), value
    assert yaml_scalar(value) == _by_regexes_alone(value)


def _by_regexes_alone(value: str) -> str:
    """`yaml_scalar` as it was before its fast paths (issue #21)."""
    import re

    from cenv.lock.scalars import _NEEDS_ESCAPE_PATTERN, _escape

    return value if _plain_by_regex(value) else '"' + re.sub(_NEEDS_ESCAPE_PATTERN, _escape, value) + '"'


@pytest.mark.parametrize(
    "value",
    [
        "1",
        "1.5",
        "1.2.3",
        "1e5",
        "1e+5",
        "0x1f",
        "0b1",
        "1:20",
        "2024-01-01",
        "12_3",
        "inf",
        "Infinity",
        "nan",
        "info",
        "nano",
        "yes",
        "No",
        "null",
        "on",
        "a:",
        "a#b",
        "py_0",
        "5b29af",
        "0o17",
        "1.2e3.4",
        "...",
    ],
)
def test_the_fast_plain_check_on_numbers_and_words(value: str) -> None:
    if _surely_plain(value):
        assert _plain_by_regex(value), value


@needs_v1_locks
@pytest.mark.parametrize("path", V1_LOCKS[-3:], ids=lambda p: p.parent.name)
def test_the_fast_plain_check_on_real_locks(path: Path) -> None:
    """Every scalar of a real lock (names, versions, specs, hashes, URLs): the same rendering as the
    regexes give, and most of them decided without them."""
    lock = read_lockfile(path)
    values = {v for p in lock.package for v in (p.name, p.version, p.url, p.hash.md5, p.hash.sha256) if v}
    values |= {v for p in lock.package for item in p.dependencies.items() for v in item}
    fast = {v for v in values if _surely_plain(v)}
    assert all(_plain_by_regex(v) for v in fast)
    assert len(fast) > len(values) * 2 // 3


def test_plain_only_when_unambiguous() -> None:
    for plain in ("1.0.8", "2.3.0+cu121", "numpy", "conda-forge", "1.26.*", "linux-64", "a:b", "a b"):
        assert yaml_scalar(plain) == plain
    assert yaml_scalar("https://conda.anaconda.org/c/linux-64/a-1-0.conda").startswith("https:")
    for quoted in ("1.10", "yes", "*", ">=1", "", "a: b", "2024-01-01", "0o7", "1e3", "a\nb"):
        assert yaml_scalar(quoted).startswith('"')
    assert yaml_scalar('a"b\\c\n\u2028') == '"a\\"b\\\\c\\n\\u2028"'


@st.composite
def hostile_lockfiles(draw: st.DrawFn) -> Lockfile:
    text = hostile_text
    optional = st.none() | text
    platforms = draw(st.lists(text, min_size=1, max_size=2, unique=True))
    packages = {
        (platform, draw(text)): LockedPackage(
            name="",  # replaced below: the (platform, manager, name) key must stay unique
            version=draw(text),
            manager=draw(st.sampled_from(["conda", "pip"])),
            platform=platform,
            dependencies=draw(st.dictionaries(text, text, max_size=3)),
            url=draw(text),
            hash=PackageHash(md5=draw(optional), sha256=draw(optional)),
            source=draw(st.none() | text.map(lambda u: PackageSource(url=u))),
            build=draw(optional),
            category=draw(text),
            optional=draw(st.booleans()),
        )
        for platform in platforms
        for _ in range(draw(st.integers(0, 3)))
    }
    return Lockfile(
        metadata=LockMetadata(
            content_hash=draw(st.dictionaries(text, text, max_size=2)),
            channels=tuple(
                LockChannel(url=u, used_env_vars=tuple(v))
                for u, v in draw(st.lists(st.tuples(text, st.lists(text, max_size=2)), max_size=2))
            ),
            platforms=tuple(platforms),
            sources=tuple(draw(st.lists(text, max_size=2))),
            time_metadata=draw(st.none() | text.map(lambda t: TimeMetadata(created_at=t))),
            git_metadata=draw(
                st.none()
                | st.builds(GitMetadata, git_user_name=optional, git_user_email=optional, git_sha=optional)
            ),
            inputs_metadata=draw(
                st.none()
                | st.dictionaries(text, st.builds(InputMetadata, md5=optional, sha256=optional), max_size=2)
            ),
            custom_metadata=draw(st.none() | st.dictionaries(text, text, max_size=3)),
        ),
        package=tuple(replace(p, name=name) for (_, name), p in packages.items()),
    )


@fuzz
@given(hostile_lockfiles())
def test_hostile_lockfiles_round_trip(lock: Lockfile) -> None:
    text = dump_lockfile(lock)
    assert dump_lockfile(lock) == text
    data = load(text)
    assert data == load(old_dump(lock))
    assert YAML12.load(text) == data
    assert read_lockfile_text(text, Path("hostile.yml")) == replace(
        lock, package=tuple(sorted(lock.package, key=package_sort_key))
    )


def test_long_keys_use_the_explicit_form(tmp_path: Path) -> None:
    long = "k" * 3000
    lock = Lockfile(
        metadata=LockMetadata(
            platforms=("linux-64",),
            inputs_metadata={long: InputMetadata(md5="abc"), "short": InputMetadata()},
            custom_metadata={long: "v", "a": long},
        ),
        package=(
            LockedPackage(
                name="a",
                version="1",
                platform="linux-64",
                url="https://h/c/linux-64/a-1-0.conda",
                hash=PackageHash(),
                dependencies={long: "1"},
            ),
        ),
    )
    text = dump_lockfile(lock)
    assert f'? "{long}"' in text or f"? {long}" in text
    assert load(text) == load(old_dump(lock))
    assert YAML12.load(text) == load(text)
    path = tmp_path / "conda-lock.yml"
    write_lockfile(lock, path)
    assert read_lockfile(path) == lock


def test_hostile_strings_survive_conda_lock_and_rattler(tmp_path: Path) -> None:
    """conda-lock's parser and rattler read a cenv lock whose free-text fields hold every hostile string."""
    custom = {f"cenv.test.{i}": value for i, value in enumerate(HOSTILE)}
    custom.update({f"{value}.key": str(i) for i, value in enumerate(HOSTILE) if value})
    versions = ["1.10", "0.1", "1e3", "0o7", "2024-01-01", "1.0.8", "yes"]
    lock = Lockfile(
        metadata=LockMetadata(
            content_hash={"linux-64": "0" * 64},
            channels=(LockChannel(url="conda-forge"),),
            platforms=("linux-64",),
            sources=("environment.yml",),
            custom_metadata=custom,
        ),
        package=tuple(
            LockedPackage(
                name=f"pkg{i}",
                version=version,
                platform="linux-64",
                dependencies={"python": ">=3.9,<3.10.0a0", "numpy": "1.26.*", "libzlib": version},
                url=f"https://conda.anaconda.org/conda-forge/linux-64/pkg{i}-{version}-0.conda",
                hash=PackageHash(md5="0123456789" * 3 + "01", sha256="8e" + "1" * 62),
            )
            for i, version in enumerate(versions)
        ),
    )
    path = tmp_path / "conda-lock.yml"
    write_lockfile(lock, path)
    parsed = parse_conda_lock_file(path)
    assert parsed.metadata.custom_metadata == custom
    assert [p.version for p in sorted(parsed.package, key=lambda p: p.name)] == versions
    assert {p.hash.md5 for p in parsed.package} == {"0123456789" * 3 + "01"}
    environment = rattler.LockFile.from_path(path).default_environment()
    assert environment is not None
    records = environment.conda_repodata_records()["linux-64"]
    assert sorted(str(r.version) for r in records) == sorted(versions)
    assert {r.md5.hex() for r in records if r.md5} == {"0123456789" * 3 + "01"}


# ------------------------------------------------------------------------ the fast reader (lock/fastread.py)
#
# fast_load must accept what the writer emits and, for any text at all, decline (None) or return exactly
# what PyYAML loads. The oracle is PyYAML's C loader.


@needs_v1_locks
@pytest.mark.parametrize("path", V1_LOCKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fast_reader_reads_the_writers_output_as_pyyaml_does(path: Path) -> None:
    text = dump_lockfile(read_lockfile(path))
    fast = fast_load(text)
    assert fast is not None
    assert fast == load(text)
    original = path.read_text()
    assert fast_load(original) in (None, load(original))  # other writers' layouts: declined or the same


@fuzz
@given(hostile_lockfiles())
def test_fast_reader_on_hostile_lockfiles(lock: Lockfile) -> None:
    text = dump_lockfile(lock)
    fast = fast_load(text)
    if (
        "\n? " in text or "\n  ? " in text or "\n    ? " in text
    ):  # very long keys: declined, PyYAML reads them
        assert fast is None
    else:
        assert fast == load(text)


_MUTATIONS = [
    " ",
    "  ",
    "#",
    ":",
    ": ",
    "-",
    "- ",
    "\n",
    "\n  ",
    "'",
    '"',
    "&a ",
    "*a",
    "!!str ",
    "{",
    "[",
    "?",
]
_MUTATIONS += [
    "|",
    ">",
    "\t",
    "\r",
    "x",
    "1",
    "0",
    ".",
    "~",
    "null",
    "\\",
    "\ufeff",
    "---\n",
    "...\n",
    ",",
    "%",
]


@fuzz
@given(
    hostile_lockfiles(),
    st.lists(
        st.tuples(st.floats(0, 1), st.integers(0, 3), st.sampled_from(_MUTATIONS)), min_size=1, max_size=3
    ),
)
def test_fast_reader_never_disagrees_with_pyyaml(lock: Lockfile, edits: list[tuple[float, int, str]]) -> None:
    text = dump_lockfile(lock)
    for where, delete, insert in edits:
        at = int(where * len(text))
        text = text[:at] + insert + text[at + delete :]
    fast = fast_load(text)
    if fast is None:
        return
    assert fast == load(text)


def test_fast_reader_declines_what_it_does_not_know() -> None:
    base = "version: 1\nmetadata:\n  platforms:\n  - linux-64\npackage: []\n"
    assert fast_load(base) == load(base)
    for text in (
        base.replace("linux-64", "'linux-64'"),  # single quotes: not the writer's
        base.replace("version: 1", "version: 1  # one"),  # comments after content
        base.replace("version: 1", "version: 01"),  # an octal int in YAML 1.1
        base.replace("version: 1", "version: 1.10"),  # a float
        base.replace("linux-64", "yes"),  # a YAML 1.1 boolean
        base + "version: 2\n",  # a duplicate key
        base.replace("\n", "\r\n"),
        base.replace("package: []", "package: &p []\nother: *p"),
        "- a\n- b\n",
        "",
        "# only a comment\n",
    ):
        assert fast_load(text) is None, text


def test_a_lock_written_by_conda_lock_dumps_and_fast_reads_as_pyyaml(
    tmp_path: Path, demo_channel: Path
) -> None:
    """The two real-lockfile checks above, on a lock conda-lock's own writer made from the demo channel."""
    from tests.support.foreign_locks import write_conda_lock

    path = tmp_path / "conda-lock.yml"
    write_conda_lock(path, demo_channel)
    lock = read_lockfile(path)
    text = dump_lockfile(lock)
    assert load(text) == load(old_dump(lock))
    assert YAML12.load(text) == load(text)
    assert read_lockfile_text(text, path) == lock
    assert fast_load(text) == load(text)
    original = path.read_text()
    assert fast_load(original) in (None, load(original))
