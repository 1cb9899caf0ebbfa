"""The environment spec as plain, frozen data.

`load.py` turns YAML files into a `Spec` and validates it with pydantic (`TypeAdapter(Spec)`; the
`__pydantic_config__` below forbids extra keys); everything downstream reads only these dataclasses.
They are stdlib dataclasses, not pydantic models, so that a spec read back from `cache.py` costs no pydantic
import: that import and the model builds were ~60 ms of every warm `cenv lock` process (issue #6).
Selectors follow conda-lock's comment style (`- cudatoolkit  # [linux64]`), see `selector_applies`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, ClassVar

from cenv.platforms import KNOWN_PLATFORMS
from cenv.settings import CHANNEL_PRIORITIES, ChannelPriority

__all__ = [
    "CHANNEL_PRIORITIES",
    "KNOWN_PLATFORMS",
    "ChannelPriority",
    "CondaDependency",
    "Location",
    "PipOptions",
    "PipRequirement",
    "Spec",
    "known_selector_names",
    "normalize_cuda",
    "parse_selector",
    "selector_applies",
    "selector_names",
]


_UNIX_OSES = frozenset({"linux", "osx", "freebsd", "ios", "iossimulator", "android", "zos"})
_CUDA_OSES = frozenset({"linux", "win"})
_CUDA_RE = re.compile(r"^\d+(\.\d+)*$")


# --------------------------------------------------------------------------------------------- selectors


def selector_names(platform: str) -> frozenset[str]:
    """The selector words that are true on `platform` (a conda subdir such as `linux-64`).

    conda-lock's words (`linux64`, `linux`, `osx`, `win`, `unix`, `aarch64`, `arm64`, ...), plus the subdir
    itself with and without its dash (`osx-arm64`, `osxarm64`) and the CPU family (`x86_64`, `x86`).
    """
    os_name, _, arch = platform.partition("-")
    names = {platform, platform.replace("-", ""), os_name}
    if os_name in _UNIX_OSES:
        names.add("unix")
    if arch == "64" and os_name in {"linux", "osx", "win", "freebsd", "android", "iossimulator"}:
        names.add("x86_64")
    elif arch == "32":
        names.add("x86")
    elif arch and not arch.isdigit():
        names.add(arch)
    return frozenset(names)


@lru_cache(maxsize=1)
def known_selector_names() -> frozenset[str]:
    """Every selector word that is true on at least one known platform."""
    out: set[str] = set()
    for platform in KNOWN_PLATFORMS:
        out |= selector_names(platform)
    return frozenset(out)


_TOKEN_RE = re.compile(r"\s*(\(|\)|[A-Za-z0-9_.-]+)")


def _tokenize(expr: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN_RE.match(expr, pos)
        if m is None:
            raise ValueError(f"unexpected character {expr[pos:].strip()[:1]!r} in selector [{expr}]")
        tokens.append(m.group(1))
        pos = m.end()
        while pos < len(expr) and expr[pos].isspace():
            pos += 1
    return tokens


# A parsed selector: a word, ("not", x), ("and", a, b) or ("or", a, b).
_Expr = Any


@lru_cache(maxsize=512)
def parse_selector(expr: str) -> _Expr:
    """Parse a selector such as `linux64`, `not win` or `linux and not aarch64`.

    Raises ValueError for a syntax error or a word no platform knows.
    """
    tokens = _tokenize(expr)
    if not tokens:
        raise ValueError("empty selector []")
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        tok = tokens[pos]
        pos += 1
        return tok

    def parse_or() -> _Expr:
        left = parse_and()
        while peek() == "or":
            take()
            left = ("or", left, parse_and())
        return left

    def parse_and() -> _Expr:
        left = parse_not()
        while peek() == "and":
            take()
            left = ("and", left, parse_not())
        return left

    def parse_not() -> _Expr:
        if peek() == "not":
            take()
            return ("not", parse_not())
        return parse_atom()

    def parse_atom() -> _Expr:
        tok = peek()
        if tok is None:
            raise ValueError(f"selector [{expr}] ends too early")
        take()
        if tok == "(":
            inner = parse_or()
            if peek() != ")":
                raise ValueError(f"missing `)` in selector [{expr}]")
            take()
            return inner
        if tok in {")", "and", "or", "not"}:
            raise ValueError(f"unexpected `{tok}` in selector [{expr}]")
        if tok not in known_selector_names():
            raise ValueError(f"unknown selector `{tok}`")
        return tok

    tree = parse_or()
    if pos != len(tokens):
        raise ValueError(f"unexpected `{tokens[pos]}` in selector [{expr}]")
    return tree


def _evaluate(tree: _Expr, names: frozenset[str]) -> bool:
    if isinstance(tree, str):
        return tree in names
    op = tree[0]
    if op == "not":
        return not _evaluate(tree[1], names)
    if op == "and":
        return _evaluate(tree[1], names) and _evaluate(tree[2], names)
    return _evaluate(tree[1], names) or _evaluate(tree[2], names)


@lru_cache(maxsize=4096)
def selector_applies(selector: str | None, platform: str) -> bool:
    """True when an item with `selector` belongs in an environment for `platform`; None means everywhere."""
    if selector is None:
        return True
    return _evaluate(parse_selector(selector), selector_names(platform))


# --------------------------------------------------------------------------------------------- cuda


def normalize_cuda(value: object) -> str | None:
    """`"12.1"`, `12.1`, `12` -> the version text; None, `""`, `"none"`, `"null"` -> None.

    A YAML float loses trailing zeros (`12.10` reads as 12.1); write CUDA versions quoted.
    Raises ValueError for anything else.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f'expected a CUDA version such as "12.1" or null, got {value!r}')
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f'expected a CUDA version such as "12.1" or null, got {type(value).__name__}')
    text = value.strip()
    if text.lower() in {"", "none", "null"}:
        return None
    if not _CUDA_RE.match(text):
        raise ValueError(f'expected a CUDA version such as "12.1" or null, got {text!r}')
    return text


# --------------------------------------------------------------------------------------------- models

_PYDANTIC: Any = {"extra": "forbid"}  # a pydantic ConfigDict; a plain dict, so pydantic is not imported here


@dataclass(frozen=True)
class Location:
    """Where something was written: a spec file and a 1-based line (None when unknown)."""

    __pydantic_config__: ClassVar[Any] = _PYDANTIC

    file: str
    line: int | None = None

    def __str__(self) -> str:
        return self.file if self.line is None else f"{self.file}:{self.line}"


@dataclass(frozen=True)
class PipOptions:
    """Index options for the PyPI part, from `pip-options:` and option lines inside `pip:`."""

    __pydantic_config__: ClassVar[Any] = _PYDANTIC

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    pytorch_index: str | None = None
    fallback: bool = False  # `pip-fallback: true`: conda names no channel has go to the pip stage


@dataclass(frozen=True)
class CondaDependency:
    """One conda match spec from `dependencies:`."""

    __pydantic_config__: ClassVar[Any] = _PYDANTIC

    spec: str
    name: str
    location: Location
    channel: str | None = None
    selector: str | None = None

    def applies_to(self, platform: str) -> bool:
        return selector_applies(self.selector, platform)


@dataclass(frozen=True)
class PipRequirement:
    """One line of the `pip:` sublist; kept as written (PEP 508, a URL, or `-e ...`)."""

    __pydantic_config__: ClassVar[Any] = _PYDANTIC

    requirement: str
    location: Location
    selector: str | None = None

    def applies_to(self, platform: str) -> bool:
        return selector_applies(self.selector, platform)

    @property
    def name(self) -> str | None:
        """The canonical project name when the line is a PEP 508 requirement, else None."""
        from packaging.requirements import InvalidRequirement, Requirement
        from packaging.utils import canonicalize_name

        try:
            return canonicalize_name(Requirement(self.requirement).name)
        except InvalidRequirement:
            return None


def _cuda_setting(value: object) -> str | dict[str, str | None] | None:
    """`cuda:` as written: one version for every platform, or a mapping of platform to version."""
    if isinstance(value, dict):
        return {str(k): normalize_cuda(v) for k, v in value.items()}
    return normalize_cuda(value)


@dataclass(frozen=True)
class Variant:
    """A named flavour of the spec (`variants: {cu121: {cuda: "12.1"}, cpu: {cuda: null}}`)."""

    __pydantic_config__: ClassVar[Any] = _PYDANTIC

    cuda: str | dict[str, str | None] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "cuda", _cuda_setting(self.cuda))

    @property
    def uses_cuda(self) -> bool:
        """Whether the variant assumes `__cuda` anywhere (`cuda: null` is a CPU-only variant)."""
        if isinstance(self.cuda, dict):
            return any(v is not None for v in self.cuda.values())
        return self.cuda is not None


@dataclass(frozen=True)
class Spec:
    """A whole environment spec: one file or several composed in order."""

    __pydantic_config__: ClassVar[Any] = _PYDANTIC

    name: str | None = None
    channels: tuple[str, ...] = ()
    nodefaults: bool = False
    dependencies: tuple[CondaDependency, ...] = ()
    pip: tuple[PipRequirement, ...] = ()
    variables: dict[str, str] = field(default_factory=dict)
    platforms: tuple[str, ...] = ()
    cuda: str | dict[str, str | None] | None = None
    channel_priority: ChannelPriority = ChannelPriority.STRICT
    exclude_newer: datetime | None = None
    pip_options: PipOptions = field(default_factory=PipOptions)
    variants: dict[str, Variant] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    variant: str | None = None  # set by `with_variant`: `cuda` is then the variant's (not hashed)

    def __post_init__(self) -> None:
        # load.py reports these with the file and line first; here they hold for any Spec
        for platform in self.platforms:
            if platform not in KNOWN_PLATFORMS:
                raise ValueError(f"unknown platform {platform!r}")
        object.__setattr__(self, "cuda", _cuda_setting(self.cuda))
        object.__setattr__(self, "channel_priority", ChannelPriority(self.channel_priority))
        if self.exclude_newer is not None:
            when = self.exclude_newer
            utc = when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
            object.__setattr__(self, "exclude_newer", utc)

    def dependencies_for(self, platform: str) -> list[CondaDependency]:
        return [dep for dep in self.dependencies if dep.applies_to(platform)]

    def pip_for(self, platform: str) -> list[PipRequirement]:
        return [req for req in self.pip if req.applies_to(platform)]

    def cuda_for(self, platform: str) -> str | None:
        """The CUDA version for `platform`.

        A per-platform mapping is looked up as written (a missing platform means no CUDA). A single version
        applies to the platforms that have CUDA at all (linux-*, win-*); osx-* and noarch get None.
        """
        if isinstance(self.cuda, dict):
            return self.cuda.get(platform)
        if self.cuda is None or platform.partition("-")[0] not in _CUDA_OSES:
            return None
        return self.cuda

    def with_variant(self, name: str) -> Spec:
        """The spec as variant `name` locks it: its `cuda`, and no variants of its own."""
        variant = self.variants[name]
        return replace(self, cuda=variant.cuda, variants={}, variant=name)

    def content_hash(self) -> str:
        """sha256 of the semantic content: not the sources, warnings or where things were written.

        The JSON is what pydantic's `dump_python(mode="json")` gave when these were pydantic models:
        lockfiles store the hash (tests/test_spec.py checks that both agree)."""
        data = {
            "name": self.name,
            "channels": list(self.channels),
            "nodefaults": self.nodefaults,
            "dependencies": [
                {"spec": d.spec, "name": d.name, "channel": d.channel, "selector": d.selector}
                for d in self.dependencies
            ],
            "pip": [{"requirement": r.requirement, "selector": r.selector} for r in self.pip],
            "variables": dict(self.variables),
            "platforms": list(self.platforms),
            "cuda": self.cuda,
            "channel_priority": self.channel_priority.value,
            "exclude_newer": _json_datetime(self.exclude_newer),
            "pip_options": {
                "index_url": self.pip_options.index_url,
                "extra_index_urls": list(self.pip_options.extra_index_urls),
                "find_links": list(self.pip_options.find_links),
                "pytorch_index": self.pip_options.pytorch_index,
                # only when set: the hash of every spec without the key stays what it was
                **({"fallback": True} if self.pip_options.fallback else {}),
            },
            "variants": {name: {"cuda": v.cuda} for name, v in self.variants.items()},
        }
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _json_datetime(value: datetime | None) -> str | None:
    """A UTC datetime as pydantic writes it in JSON mode: ISO 8601, `Z` for UTC."""
    if value is None:
        return None
    text = value.isoformat()
    return text[: -len("+00:00")] + "Z" if text.endswith("+00:00") else text
