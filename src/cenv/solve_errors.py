"""Turn resolvo's explanation into cenv's words: every unknown name at once (with did-you-mean and the spec's
file:line), the requirement as the user wrote it, repeated lines collapsed, and for a virtual package that
blocks (`__cuda`, `__glibc`, `__osx`) which package needs which minimum and which flag changes it."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence

from cenv.redact import redact
from cenv.virtual_packages import VirtualPackages

_FLAGS = {"__cuda": "--cuda", "__glibc": "--glibc", "__osx": "--osx"}
# `└─ cenv-accel 1.0.0 would require` followed by `└─ __cuda >=12, for which no candidates were found.`
_WOULD_REQUIRE = re.compile(r"(?P<pkg>[A-Za-z0-9_.\-]+ [^\s,]+) would require")
_VIRTUAL_MISSING = re.compile(r"(?P<vp>__[a-z]+)(?: (?P<spec>[^,]+))?, for which no candidates were found")
_TREE = re.compile(r"^[\u2500-\u257f\s]+")  # box-drawing glyphs of resolvo's tree


_CAUSE = re.compile(r"cannot be fulfilled|no candidates were found|conflicts with|is locked|is excluded")
_STEP_SUFFIXES = (
    " cannot be installed because there are no viable options:",
    " can be installed with any of the following options:",
    " would require",
)
_MAX_TREE = 40


def _as_written(text: str, written: Mapping[str, str]) -> str:
    """cenv requests the bare name (`name *`) and passes the limits as a constraint, which resolvo prints in
    rattler's canonical form: show the spec as the user wrote it instead."""
    from rattler import MatchSpec
    from rattler.exceptions import InvalidMatchSpecError

    for name, spec in written.items():
        if spec == name:
            continue
        try:
            canonical = str(MatchSpec(spec))
        except InvalidMatchSpecError:
            canonical = spec
        text = text.replace(canonical, spec)
        text = re.sub(rf"(?<![\w.\-]){re.escape(name)} \*(?=[\s.,:]|$)", spec, text)
    return text


def _depth(line: str) -> int | None:
    """How deep a tree line sits (the column of its glyph); None for a line outside the tree (a heading)."""
    glyph = _TREE.match(line)
    if glyph is None or not glyph.group(0).strip():
        return None
    return len(glyph.group(0)) - len(glyph.group(0).lstrip())


def explain(text: str, written: Mapping[str, str]) -> tuple[str, list[str]]:
    """resolvo's explanation as (one line naming the first cause and the path to it, the tree itself).

    The tree keeps rattler's indentation; a line repeated at the same depth is shown once, at most 40 lines.
    """
    text = text.replace("Cannot solve the request because of: ", "", 1)
    lines = [line.rstrip() for line in _as_written(redact(text), written).splitlines() if line.strip()]
    if not lines:
        return "the solver gave no reason", []
    tree: list[str] = []
    seen: set[tuple[int | None, str]] = set()
    for line in lines:
        key = (_depth(line), _TREE.sub("", line))
        if key not in seen:
            seen.add(key)
            tree.append(line)
    headline = _headline(tree)
    shown = tree[:_MAX_TREE] + (["…"] if len(tree) > _MAX_TREE else [])
    return headline, shown


def _headline(tree: list[str]) -> str:
    """The first cause (`... cannot be fulfilled`, `... no candidates were found`) with the requirements that
    lead to it: `cenv-accel=*=cuda* → cenv-accel 1.0.0 → __cuda >=12, for which no candidates were found`."""
    for index, line in enumerate(tree):
        if not _CAUSE.search(line):
            continue
        path = [_TREE.sub("", line).rstrip(".")]
        depth = _depth(line)
        for parent in reversed(tree[:index]):
            if depth is None:
                break
            parent_depth = _depth(parent)
            if parent_depth is None or parent_depth < depth:
                step = _TREE.sub("", parent)
                for suffix in _STEP_SUFFIXES:
                    step = step.removesuffix(suffix)
                if not step.startswith("The following packages are incompatible"):
                    path.insert(0, step)
                depth = parent_depth  # a heading (None) ends the path
        return " → ".join(path)
    return _TREE.sub("", tree[0]).rstrip(":.")


def unknown_names(requested: Iterable[str], known: set[str]) -> list[str]:
    return [name for name in dict.fromkeys(requested) if name not in known]


def close_names(name: str, names: Sequence[str]) -> list[str]:
    """Up to three channel package names like `name`: close spellings, else names that contain it."""
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    return close or [n for n in names if re.search(re.escape(name), n)][:3]


def unknown_message(
    platform: str,
    unknown: Sequence[str],
    written: Mapping[str, str],
    where: Mapping[str, str],
    names: Sequence[str],
    channels: str,
    elsewhere: Mapping[str, Sequence[str]],
) -> tuple[str, list[str]]:
    """One error for every requested name no channel has, each hint with did-you-mean and file:line
    (or the platforms that do have it)."""
    hints = []
    for name in unknown:
        if elsewhere.get(name):
            place = f"{where[name]}: " if name in where else ""
            found = ", ".join(elsewhere[name])
            hints.append(f"{place}`{name}` exists only for {found}, not for {platform}")
            continue
        close = close_names(name, names)
        place = f"{where[name]}: " if name in where else ""
        guess = f"; did you mean {', '.join(f'`{c}`' for c in close)}?" if close else ""
        hints.append(f"{place}`{written.get(name, name)}`: no package named `{name}` in {channels}{guess}")
    plural = "s" if len(unknown) > 1 else ""
    listed = ", ".join(f"`{n}`" for n in unknown)
    return f"no solution for {platform}: no package{plural} named {listed} in the channels", hints


def virtual_package_hints(text: str, virtual_packages: VirtualPackages) -> list[str]:
    """For each `X would require __cuda >=12` : who needs what, what is assumed, which flag."""
    hints: list[str] = []
    needer: str | None = None
    for line in text.splitlines():
        found = _WOULD_REQUIRE.search(line)
        if found:
            needer = found.group("pkg")
            continue
        missing = _VIRTUAL_MISSING.search(line)
        if missing and needer is not None:
            name, spec = missing.group("vp"), (missing.group("spec") or "").strip()
            hint = _one_hint(needer, name, spec, virtual_packages)
            if hint not in hints:
                hints.append(hint)
    return hints


def _one_hint(needer: str, name: str, spec: str, virtual_packages: VirtualPackages) -> str:
    need = f"`{needer}` needs `{name} {spec}`".replace(" `", " `").rstrip()
    assumed = virtual_packages.get(name)
    flag = _FLAGS.get(name)
    minimum = re.match(r"\s*>=?\s*([0-9][0-9.]*)", spec)
    example = minimum.group(1) if minimum else "VERSION"
    if assumed is None:
        now = f"the target has no `{name}`"
    else:
        source = virtual_packages.sources.get(name, "default")
        now = f"the target is assumed to have `{name}={assumed.version}` (from the {source})"
    change = f"pass `{flag} {example}` or higher" if flag else "change the target's virtual packages"
    if name == "__cuda":
        change += " (or set `cuda:` in the spec)"
    return f"{need}, but {now}: {change}"
