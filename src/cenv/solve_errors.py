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
_MAX_LINES = 12
_TREE = re.compile(r"^[\u2500-\u257f\s]+")  # box-drawing glyphs of resolvo's tree


def summarize(text: str, written: Mapping[str, str]) -> str:
    """resolvo's tree on one line: the requirement as written, each distinct line once, at most 12 lines.

    `written`: package name -> the spec as the user wrote it. cenv requests the bare name (`name *`) and
    passes the limits as a constraint, which resolvo prints in rattler's canonical form."""
    from rattler import MatchSpec

    lines = [line.strip() for line in redact(text).splitlines() if line.strip()]
    if not lines:
        return "the solver gave no reason"
    unique: dict[str, str] = {}
    for line in lines:
        unique.setdefault(_TREE.sub("", line), line)
    shown = list(unique.values())
    out = " ".join(shown[:_MAX_LINES]) + (" …" if len(shown) > _MAX_LINES else "")
    for name, spec in written.items():
        if spec == name:
            continue
        try:
            canonical = str(MatchSpec(spec))
        except Exception:
            canonical = spec
        out = out.replace(canonical, spec)
        out = re.sub(rf"(?<![\w.\-]){re.escape(name)} \*(?=[\s.,]|$)", spec, out)
    return out


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
