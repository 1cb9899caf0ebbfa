"""Read environment specs: conda's `environment.yml`, conda-lock's extensions and cenv's own keys.

The readers live beside this module: `yamlsource.py` (YAML with line numbers, messages), `read_keys.py`
(one reader per top-level key), `read_dependencies.py` (conda and pip dependencies), `part.py` (what one
file says) and `compose.py` (files in order -> one `Spec`).

Every error is a `SpecError` whose message is one line, `<file>:<line>: <key path>: <what was expected>`.
YAML is read with ruamel.yaml's round-trip loader, which keeps line numbers and the trailing comments that
carry conda-lock selectors (`- cudatoolkit  # [linux64]`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cenv.errors import SpecError
from cenv.spec.cache import MAX_SPEC_BYTES, read_spec_file
from cenv.spec.compose import _compose
from cenv.spec.foreign import foreign_input
from cenv.spec.models import Spec
from cenv.spec.part import _FilePart
from cenv.spec.read_keys import _IGNORED_KEYS, _READERS, SPEC_KEYS
from cenv.spec.yamlsource import (
    MAX_ALIAS_EXPANSION,
    _check_aliases,
    _Ctx,
    _did_you_mean,
    _kind,
    _line,
    _own_line,
    _parse_yaml,
    _short,
    _where,
)

__all__ = [
    "MAX_ALIAS_EXPANSION",
    "MAX_SPEC_BYTES",
    "SPEC_KEYS",
    "load_spec",
    "load_spec_text",
    "spec_from_texts",
]


def _read_document(text: str, file: str) -> _FilePart:
    """One file's part of the spec. A file that cannot be read as one is looked at again: when it is a pixi
    or Python project manifest, a requirements file or a lockfile, that is what the error says (only on this
    error path, so a good spec costs nothing more)."""
    try:
        return _read_spec_document(text, file)
    except SpecError:
        foreign = foreign_input(file, text)
        if foreign is not None:
            raise foreign from None
        raise


def _read_spec_document(text: str, file: str) -> _FilePart:
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(
            f"{file}: spec file too large ({len(text):,} characters; the limit is {MAX_SPEC_BYTES:,})",
            ["an environment spec lists channels and packages; it is normally a few kilobytes"],
        )
    data = _parse_yaml(text, file)
    _check_aliases(data, text, file)
    ctx = _Ctx(file)
    if data is None:
        raise SpecError(
            f"{file}:1: empty spec: expected a mapping with `channels` and `dependencies`",
            ["an environment file looks like: `channels: [conda-forge]` and `dependencies: [python=3.12]`"],
        )
    if not isinstance(data, dict):
        raise SpecError(
            f"{_where(file, _own_line(data) or 1)}: expected a mapping at the top level, got {_kind(data)}",
            ["an environment file has keys such as `name`, `channels` and `dependencies`"],
        )
    part = _FilePart(file=file)
    problems: list[SpecError] = []  # every key's error in one run, not one per run
    for key, value in data.items():
        try:
            _read_key(ctx, part, key, value, _line(data, key))
        except SpecError as exc:
            problems.append(exc)
    if problems:
        raise _together(problems)
    part.warnings = ctx.warnings
    return part


def _read_key(ctx: _Ctx, part: _FilePart, key: object, value: object, line: int | None) -> None:
    if not isinstance(key, str):
        raise ctx.error(line, _short(str(key)), f"unknown key ({_kind(key)})")
    part.key_lines[key] = line
    if key == "prefix":
        ctx.warn(line, "`prefix` is ignored; use `cenv create -p`")
    elif key in _IGNORED_KEYS:
        ctx.warn(line, _IGNORED_KEYS[key])
    elif key in _READERS:
        _READERS[key](ctx, part, value, line)
    else:
        hints = _did_you_mean(key, SPEC_KEYS)
        if key == "pip":
            hints.append("list PyPI requirements under `dependencies:` as `- pip: [...]`")
        if key == "subdirs":
            hints.append("this looks like a conda-lock virtual-packages file, not an environment spec")
        hints.append("keys: " + ", ".join(SPEC_KEYS))
        raise ctx.error(line, _short(key), "unknown key", hints)


def _together(problems: list[SpecError]) -> SpecError:
    """One error for a file's problems: the first, carrying the others (each its own `error:` line)."""
    if len(problems) == 1:
        return problems[0]
    hints = list(dict.fromkeys(hint for problem in problems for hint in problem.hints))
    more = [line for problem in problems[1:] for line in (problem.message, *problem.more)]
    return SpecError(problems[0].message, hints, more=more)


def _read_file(path: Path, label: str) -> _FilePart:
    return _read_document(read_spec_file(path, label), label)


# --------------------------------------------------------------------------------------------- public


def load_spec(paths: Sequence[str | Path]) -> Spec:
    """Read and compose spec files in order (later files refine earlier ones). Raises SpecError."""
    if isinstance(paths, str | Path):
        paths = [paths]
    if not paths:
        raise SpecError("no spec files given", ["pass an environment.yml"])
    parts = [_read_file(Path(p), str(p)) for p in paths]
    return _compose(parts)


def spec_from_texts(files: Sequence[tuple[str, str]]) -> Spec:
    """Compose specs already read as (label, text) pairs (`cenv.spec.load_spec` reads them first)."""
    return _compose([_read_document(text, label) for label, text in files])


def load_spec_text(text: str, filename: str = "<string>") -> Spec:
    """Read one spec from a string (for tests and tools); `filename` is used in messages."""
    return _compose([_read_document(text, filename)])
