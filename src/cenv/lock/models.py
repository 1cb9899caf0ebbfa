"""The lockfile model: conda-lock v1 with cenv's own facts in `metadata.custom_metadata`.

conda-lock's parser forbids extra keys, so everything cenv adds lives in the string-to-string
`custom_metadata` map under `cenv.*` keys (declared in `cenv.lock.keys`).

Plain frozen dataclasses with a small schema check (`Lockfile.from_data`), not pydantic models: the schema is
fixed and flat, and importing pydantic and building its models costs a `cenv create LOCK` process more time
than linking a few hundred packages (issue #6). The spec, which users write by hand, keeps pydantic.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from cenv.lock.keys import CUSTOM_VERSION, CUSTOM_VIRTUAL_PACKAGES
from cenv.virtual_packages import VirtualPackageSpec, parse_virtual_packages

if TYPE_CHECKING:
    from cenv.recorded import RecordedInputs

Manager = Literal["conda", "pip"]


@dataclass(frozen=True, slots=True)
class LockChannel:
    url: str
    used_env_vars: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PackageHash:
    md5: str | None = None
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class PackageSource:
    """conda-lock v1 `source:` of a pip package installed from a direct URL."""

    url: str
    type: Literal["url"] = "url"


@dataclass(frozen=True, slots=True, kw_only=True)
class LockedPackage:
    """One package for one platform, as in conda-lock v1's `package:` list."""

    name: str
    version: str
    manager: Manager = "conda"
    platform: str
    dependencies: dict[str, str] = field(default_factory=dict)
    url: str
    hash: PackageHash
    source: PackageSource | None = None
    build: str | None = None
    category: str = "main"
    optional: bool = False

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def is_conda(self) -> bool:
        return self.manager == "conda"


@dataclass(frozen=True, slots=True)
class TimeMetadata:
    created_at: str


@dataclass(frozen=True, slots=True)
class GitMetadata:
    git_user_name: str | None = None
    git_user_email: str | None = None
    git_sha: str | None = None


@dataclass(frozen=True, slots=True)
class InputMetadata:
    md5: str | None = None
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class LockMetadata:
    """conda-lock v1 `metadata:`; fields in conda-lock's order (the writer keeps it)."""

    content_hash: dict[str, str] = field(default_factory=dict)
    channels: tuple[LockChannel, ...] = ()
    platforms: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    time_metadata: TimeMetadata | None = None
    git_metadata: GitMetadata | None = None
    inputs_metadata: dict[str, InputMetadata] | None = None
    custom_metadata: dict[str, str] | None = None

    def custom(self, key: str) -> str | None:
        return (self.custom_metadata or {}).get(key)


@dataclass(frozen=True, slots=True)
class Lockfile:
    """A whole lockfile: metadata plus packages for every platform."""

    metadata: LockMetadata
    package: tuple[LockedPackage, ...] = ()
    version: int = 1

    @property
    def platforms(self) -> tuple[str, ...]:
        if self.metadata.platforms:
            return self.metadata.platforms
        return tuple(sorted({p.platform for p in self.package}))

    def packages_for(self, platform: str, manager: Manager | None = None) -> list[LockedPackage]:
        return [
            p for p in self.package if p.platform == platform and (manager is None or p.manager == manager)
        ]

    def virtual_packages(self, platform: str) -> tuple[VirtualPackageSpec, ...] | None:
        """The virtual packages cenv assumed when it solved `platform`; None for other tools' locks."""
        text = self.metadata.custom(CUSTOM_VIRTUAL_PACKAGES + platform)
        return None if text is None else parse_virtual_packages(text)

    @property
    def written_by_cenv(self) -> bool:
        return self.metadata.custom(CUSTOM_VERSION) is not None

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Lockfile:
        """conda-lock v1 data (as parsed from YAML) checked against the schema; raises `SchemaError`
        listing every problem (missing or unknown keys, values of the wrong type)."""
        problems: list[SchemaProblem] = []
        lock = _read(_LOCKFILE, data, (), problems)
        if problems or not isinstance(lock, Lockfile):
            raise SchemaError(problems)
        return lock


def recorded_inputs(lock: Lockfile | None) -> RecordedInputs | None:
    """What a cenv lockfile recorded about how it was made (None for other tools' locks)."""
    from cenv.recorded import RecordedInputs

    if lock is None or not lock.written_by_cenv:
        return None
    channels = tuple(c.url for c in lock.metadata.channels)
    return RecordedInputs.from_metadata(lock.metadata.custom_metadata, lock.platforms, channels)


# Where a dependency's package name ends: whitespace, an operator or a bracket (`numpy>=1.2`, `numpy[...]`).
_NAME_END = re.compile(r"[\s=<>!~\[]")
_AROUND_SEPARATORS = re.compile(r"\s*([,|])\s*")
_AFTER_OPERATOR = re.compile(r"(==|!=|>=|<=|~=|>|<)\s+")
_BRACKET_VERSION = re.compile(r"""\bversion\s*=\s*(?:'([^']*)'|"([^"]*)"|([^,\]\s]+))""")


@functools.lru_cache(maxsize=8192)  # a lock repeats few distinct specs (1891 depends, 208 distinct)
def _split_depend(spec: str) -> tuple[str, str]:
    """`"python >=3.9,<3.10.0a0 *_cpython"` -> `("python", ">=3.9,<3.10.0a0")`, as conda-lock stores it.

    conda-lock keeps only the version part of a match spec (`MatchSpec(dep).version.spec_str`); the build
    string is dropped, a bare name maps to `""`.
    """
    return _split_plain_depend(spec) or _split_depend_by_regex(spec)


# What makes a depend need the regexes: a bracket anywhere, an operator in the name, a version that is an
# `=` fuzzy/exact pin or ends in an operator or separator (`>= 1`, `>=1, <2`), a build starting with one.
_NAME_STOP = frozenset("=<>!~[")
_OPEN_ENDS = frozenset("=<>!~,|")


def _split_plain_depend(spec: str) -> tuple[str, str] | None:
    """`_split_depend` of the usual `name`, `name version` or `name version build` without the regexes
    (issue #21: a lock splits ~1,500 distinct depends); None for any other shape. For these shapes the
    regexes change nothing but take the name and the first word after it (test_lockfile.py compares)."""
    parts = spec.split()
    if not 1 <= len(parts) <= 3 or "[" in spec or not _NAME_STOP.isdisjoint(parts[0]):
        return None
    name = parts[0].rsplit("::", 1)[-1]  # `conda-forge::numpy`
    if len(parts) == 1:
        return name, ""
    version = parts[1]
    if version[-1] in _OPEN_ENDS or (version[0] == "=" and not version.startswith("==")):
        return None
    if len(parts) == 3 and parts[2][0] in ",|":
        return None
    if version.startswith("==") and not any(c in version[2:] for c in ",|"):
        version = version[2:]
    return name, version


def _split_depend_by_regex(spec: str) -> tuple[str, str]:
    spec = spec.strip()
    match = _NAME_END.search(spec)
    if match is None:
        name, rest = spec, ""
    else:
        name, rest = spec[: match.start()], spec[match.start() :].strip()
    if "::" in name:  # `conda-forge::numpy`
        name = name.rsplit("::", 1)[1]
    if rest.startswith("["):
        found = _BRACKET_VERSION.search(rest)
        return name, next((g for g in found.groups() if g is not None), "") if found else ""
    rest = _AFTER_OPERATOR.sub(r"\1", _AROUND_SEPARATORS.sub(r"\1", rest))
    if rest.startswith("=") and not rest.startswith("=="):
        # `numpy=1.26` / `numpy =1.26` is fuzzy (1.26.*); `numpy=1.26=py_0` pins the version exactly
        version, sep, _build = rest[1:].partition("=")
        version = version.split()[0] if version.split() else ""
        if version and not sep and not version.endswith("*") and not any(c in version for c in ",|"):
            version += ".*"
        return name, version
    version = rest.split()[0] if rest else ""
    if version.startswith("==") and not any(c in version[2:] for c in ",|"):
        version = version[2:]
    return name, version


def dependencies_from_depends(depends: Sequence[str]) -> dict[str, str]:
    """A conda record's `depends` as conda-lock v1's `dependencies:` map (name -> version spec).

    The build-string part of a spec is dropped, like conda-lock does; two specs for one name are joined
    with `,` (both must hold). Order of first appearance is kept; the writer sorts by name.
    """
    result: dict[str, str] = {}
    for spec in depends:
        if not spec or not spec.strip():
            continue
        name, version = _split_depend(spec)
        if not name:
            continue
        previous = result.get(name)
        if previous is None or previous in ("", "*"):
            result[name] = version
        elif version not in ("", "*", previous):
            result[name] = f"{previous},{version}"
    return result


# ---------------------------------------------------------------- the schema check


class SchemaProblem(NamedTuple):
    loc: tuple[int | str, ...]
    kind: Literal["missing", "extra", "type"]
    message: str  # "input should be a valid string"
    value: object


class SchemaError(Exception):
    def __init__(self, problems: list[SchemaProblem]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


_BAD: Any = object()  # a value that failed its check (the problem is recorded)
_Parse = Callable[[Any, tuple[int | str, ...], list[SchemaProblem]], Any]


def _type_problem(message: str) -> _Parse:
    def parse(value: Any, loc: tuple[int | str, ...], problems: list[SchemaProblem]) -> Any:
        problems.append(SchemaProblem(loc, "type", message, value))
        return _BAD

    return parse


def _scalar(kind: type, message: str) -> _Parse:
    bad = _type_problem(message)

    def parse(value: Any, loc: tuple[int | str, ...], problems: list[SchemaProblem]) -> Any:
        # bool is an int; neither is a string (pydantic's lax mode agrees: no number-to-string coercion)
        if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
            return value
        return bad(value, loc, problems)

    return parse


_STR = _scalar(str, "input should be a valid string")
_BOOL = _scalar(bool, "input should be a valid boolean")
_INT = _scalar(int, "input should be a valid integer")


def _optional(inner: _Parse) -> _Parse:
    def parse(value: Any, loc: tuple[int | str, ...], problems: list[SchemaProblem]) -> Any:
        return None if value is None else inner(value, loc, problems)

    return parse


def _literal(*choices: str) -> _Parse:
    message = "input should be " + " or ".join(f"'{c}'" for c in choices)

    def parse(value: Any, loc: tuple[int | str, ...], problems: list[SchemaProblem]) -> Any:
        if isinstance(value, str) and value in choices:
            return value
        problems.append(SchemaProblem(loc, "type", message, value))
        return _BAD

    return parse


def _tuple_of(inner: _Parse) -> _Parse:
    def parse(value: Any, loc: tuple[int | str, ...], problems: list[SchemaProblem]) -> Any:
        if not isinstance(value, list | tuple):
            problems.append(SchemaProblem(loc, "type", "input should be a valid tuple", value))
            return _BAD
        items = tuple(inner(item, (*loc, i), problems) for i, item in enumerate(value))
        return _BAD if any(item is _BAD for item in items) else items

    return parse


def _dict_of(inner: _Parse) -> _Parse:
    def parse(value: Any, loc: tuple[int | str, ...], problems: list[SchemaProblem]) -> Any:
        if not isinstance(value, dict):
            problems.append(SchemaProblem(loc, "type", "input should be a valid dictionary", value))
            return _BAD
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append(SchemaProblem((*loc, str(key)), "type", "keys should be strings", key))
                return _BAD
            out[key] = inner(item, (*loc, key), problems)
        return _BAD if any(item is _BAD for item in out.values()) else out

    return parse


class _Schema(NamedTuple):
    cls: type
    fields: dict[str, _Parse]
    required: frozenset[str]


def _schema(cls: type, **parsers: _Parse) -> _Schema:
    from dataclasses import MISSING

    declared = {f.name: f for f in fields(cls)}
    assert set(parsers) == set(declared), cls
    required = frozenset(
        name for name, f in declared.items() if f.default is MISSING and f.default_factory is MISSING
    )
    return _Schema(cls, parsers, required)


def _read(schema: _Schema, value: Any, loc: tuple[int | str, ...], problems: list[SchemaProblem]) -> Any:
    if not isinstance(value, dict):
        problems.append(SchemaProblem(loc, "type", "input should be a valid dictionary", value))
        return _BAD
    kwargs = {}
    failed = False
    for key, item in value.items():
        parse = schema.fields.get(key) if isinstance(key, str) else None
        if parse is None:
            problems.append(SchemaProblem((*loc, str(key)), "extra", "unknown key", item))
            failed = True
            continue
        kwargs[key] = parse(item, (*loc, key), problems)
        failed = failed or kwargs[key] is _BAD
    for key in schema.fields:  # in field order, as pydantic reported them
        if key not in schema.required or key in kwargs:
            continue
        problems.append(SchemaProblem((*loc, key), "missing", "required key is missing", None))
        failed = True
    return _BAD if failed else schema.cls(**kwargs)


def _nested(schema_of: Callable[[], _Schema]) -> _Parse:
    def parse(value: Any, loc: tuple[int | str, ...], problems: list[SchemaProblem]) -> Any:
        return _read(schema_of(), value, loc, problems)

    return parse


_OPT_STR = _optional(_STR)
_STR_TUPLE = _tuple_of(_STR)
_STR_DICT = _dict_of(_STR)
_HASH = _schema(PackageHash, md5=_OPT_STR, sha256=_OPT_STR)
_SOURCE = _schema(PackageSource, url=_STR, type=_literal("url"))
_PACKAGE = _schema(
    LockedPackage,
    name=_STR,
    version=_STR,
    manager=_literal("conda", "pip"),
    platform=_STR,
    dependencies=_STR_DICT,
    url=_STR,
    hash=_nested(lambda: _HASH),
    source=_optional(_nested(lambda: _SOURCE)),
    build=_OPT_STR,
    category=_STR,
    optional=_BOOL,
)
_CHANNEL = _schema(LockChannel, url=_STR, used_env_vars=_STR_TUPLE)
_TIME = _schema(TimeMetadata, created_at=_STR)
_GIT = _schema(GitMetadata, git_user_name=_OPT_STR, git_user_email=_OPT_STR, git_sha=_OPT_STR)
_INPUT = _schema(InputMetadata, md5=_OPT_STR, sha256=_OPT_STR)
_METADATA = _schema(
    LockMetadata,
    content_hash=_STR_DICT,
    channels=_tuple_of(_nested(lambda: _CHANNEL)),
    platforms=_STR_TUPLE,
    sources=_STR_TUPLE,
    time_metadata=_optional(_nested(lambda: _TIME)),
    git_metadata=_optional(_nested(lambda: _GIT)),
    inputs_metadata=_optional(_dict_of(_nested(lambda: _INPUT))),
    custom_metadata=_optional(_STR_DICT),
)
_LOCKFILE = _schema(
    Lockfile, version=_INT, metadata=_nested(lambda: _METADATA), package=_tuple_of(_nested(lambda: _PACKAGE))
)


def locked_package_from_data(data: Mapping[str, Any]) -> LockedPackage:
    """One `package:` entry checked against the schema; raises `SchemaError`."""
    problems: list[SchemaProblem] = []
    package = _read(_PACKAGE, data, (), problems)
    if problems:
        raise SchemaError(problems)
    assert isinstance(package, LockedPackage)
    return package
