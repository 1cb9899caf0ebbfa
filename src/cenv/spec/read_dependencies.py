"""The `dependencies:` reader: conda match specs with selectors, and the `pip:` sublist and its options."""

from __future__ import annotations

import re
from typing import Any

from cenv.spec.models import (
    CondaDependency,
    Location,
    PipRequirement,
    known_selector_names,
    parse_selector,
)
from cenv.spec.part import _FilePart
from cenv.spec.yamlsource import (
    _Ctx,
    _did_you_mean,
    _kind,
    _line,
    _short,
)

_SELECTOR_RE = re.compile(r"\[([^\[\]]+)\]\s*$")


def _selector(ctx: _Ctx, seq: Any, index: int, line: int | None, path: str) -> str | None:
    """The conda-lock selector in the trailing comment of `seq[index]`, if any."""
    ca = getattr(seq, "ca", None)
    items = getattr(ca, "items", None) or {}
    entry = items.get(index)
    if not entry:
        return None
    token = entry[0]
    value = getattr(token, "value", None)
    if not isinstance(value, str):
        return None
    first = value.split("\n", 1)[0].strip()
    if not first.startswith("#"):
        return None
    return _check_selector(ctx, first, line, path)


def _check_selector(ctx: _Ctx, comment: str, line: int | None, path: str) -> str | None:
    match = _SELECTOR_RE.search(comment)
    if match is None:
        return None
    selector = " ".join(match.group(1).split())
    try:
        parse_selector(selector)
    except ValueError as exc:
        words = [w for w in re.findall(r"[A-Za-z0-9_.-]+", selector) if w not in {"and", "or", "not"}]
        hints: list[str] = []
        for word in words:
            hints = _did_you_mean(word, sorted(known_selector_names()))
            if hints:
                break
        hints.append("selectors: linux64, linux, osx, win, unix, aarch64, arm64, or a subdir like osx-arm64")
        raise ctx.error(line, path, f"invalid selector [{_short(selector)}]: {exc}", hints) from None
    return selector


def _split_inline_comment(text: str) -> tuple[str, str | None]:
    """`"numpy  # [linux]"` written inside quotes: conda strips `#` comments from match specs."""
    match = re.search(r"\s#", text)
    if match is None:
        return text, None
    return text[: match.start()], text[match.start() :].strip()


def _match_spec(ctx: _Ctx, text: str, line: int | None, path: str) -> tuple[str, str, str | None]:
    """Parse leniently with rattler; returns (spec text, normalized name, channel)."""
    from rattler import MatchSpec

    def parse(candidate: str) -> tuple[str, str, str | None]:
        ms = MatchSpec(candidate)
        if ms.name is None:
            raise ValueError("missing package name")
        channel = ms.channel.name if ms.channel is not None else None
        return candidate, ms.name.normalized, channel

    from rattler.exceptions import InvalidMatchSpecError

    try:
        return parse(text)
    except (InvalidMatchSpecError, ValueError) as exc:
        # conda accepts quoted versions such as `python='3.10'` (DEEPLABCUT.yaml); rattler does not.
        unquoted = re.sub(r"""(['"])([^'"]*)\1""", r"\2", text)
        if unquoted != text:
            try:
                result = parse(unquoted)
            except (InvalidMatchSpecError, ValueError):
                pass
            else:
                ctx.warn(line, f"{path}: quotes removed from match spec '{_short(text)}' -> '{unquoted}'")
                return result
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise ctx.error(line, path, f"invalid match spec '{_short(text)}': {message}") from None


def _read_dependencies(ctx: _Ctx, part: _FilePart, value: Any, line: int | None) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        raise ctx.error(line, "dependencies", f"expected a list of match specs, got {_kind(value)}")
    for i, item in enumerate(value):
        path = f"dependencies[{i}]"
        item_line = _line(value, i, item=True) or line
        if isinstance(item, str):
            _read_conda_dependency(ctx, part, value, i, item, item_line, path)
        elif isinstance(item, dict):
            keys = list(item.keys())
            if keys != ["pip"]:
                bad = next((k for k in keys if k != "pip"), None)
                key_line = _line(item, bad) or item_line
                hints = _did_you_mean(str(bad), ["pip"]) or ["the only mapping allowed here is `pip: [...]`"]
                raise ctx.error(
                    key_line, f"{path}.{bad}", "unknown key; expected a match spec or `pip:`", hints
                )
            _read_pip(ctx, part, item["pip"], _line(item, "pip") or item_line, f"{path}.pip")
        else:
            what = "empty item" if item is None else f"got {_kind(item)}"
            raise ctx.error(item_line, path, f"expected a match spec string or `pip:` list, {what}")


def _read_conda_dependency(
    ctx: _Ctx, part: _FilePart, seq: Any, index: int, text: str, line: int | None, path: str
) -> None:
    selector = _selector(ctx, seq, index, line, path)
    spec_text, inline = _split_inline_comment(text)
    if inline is not None and selector is None:
        selector = _check_selector(ctx, inline, line, path)
    spec_text = spec_text.strip()
    if not spec_text:
        raise ctx.error(line, path, "empty match spec")
    spec_text, name, channel = _match_spec(ctx, spec_text, line, path)
    part.dependencies.append(
        CondaDependency(
            spec=spec_text,
            name=name,
            channel=channel,
            selector=selector,
            location=Location(file=ctx.file, line=line),
        )
    )


_PIP_OPTIONS_WITH_VALUE = {
    "--index-url": "index_url",
    "-i": "index_url",
    "--extra-index-url": "extra_index_urls",
    "--find-links": "find_links",
    "-f": "find_links",
}


def _read_pip(ctx: _Ctx, part: _FilePart, value: Any, line: int | None, path: str) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        raise ctx.error(line, path, f"expected a list of requirements, got {_kind(value)}")
    for i, item in enumerate(value):
        item_line = _line(value, i, item=True) or line
        item_path = f"{path}[{i}]"
        if not isinstance(item, str) or not item.strip():
            what = "empty item" if item is None else f"got {_kind(item)}"
            raise ctx.error(item_line, item_path, f"expected a requirement string, {what}")
        text = item.strip()
        if text.startswith("-") and not _passed_to_uv(text):
            _read_pip_option(ctx, part, text, item_line, item_path)
            continue
        selector = _selector(ctx, value, i, item_line, item_path)
        part.pip.append(
            PipRequirement(
                requirement=text, selector=selector, location=Location(file=ctx.file, line=item_line)
            )
        )


# pip lines that start with `-` but stay in the requirement list (uv reads them there; cenv.pip anchors paths)
_PIP_LINE_OPTIONS = (
    "-e", "--editable", "-r", "--requirement", "-c", "--constraint",
    "--pre", "--only-binary", "--no-binary", "--prefer-binary",
)  # fmt: skip


def _passed_to_uv(text: str) -> bool:
    option = re.split(r"[\s=]", text, maxsplit=1)[0]
    return option in _PIP_LINE_OPTIONS


def _read_pip_option(ctx: _Ctx, part: _FilePart, text: str, line: int | None, path: str) -> None:
    option, sep, arg = (
        text.partition("=") if text.startswith("--") and "=" in text.split()[0] else ("", "", "")
    )
    if not sep:
        option, _, arg = text.partition(" ")
    option, arg = option.strip(), arg.strip()
    target = _PIP_OPTIONS_WITH_VALUE.get(option)
    if target is None:
        hints = _did_you_mean(option, list(_PIP_OPTIONS_WITH_VALUE))
        hints.append(
            "supported: --index-url, --extra-index-url, --find-links (or the `pip-options:` key), "
            "-e, -r, -c, --pre, --only-binary, --no-binary"
        )
        raise ctx.error(line, path, f"unsupported pip option `{_short(option)}`", hints)
    if not arg:
        raise ctx.error(line, path, f"`{option}` needs a value")
    if target == "index_url":
        part.index_url = arg
    elif target == "extra_index_urls":
        if arg not in part.extra_index_urls:
            part.extra_index_urls.append(arg)
    elif arg not in part.find_links:
        part.find_links.append(arg)
