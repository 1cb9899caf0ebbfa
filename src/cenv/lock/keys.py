"""Every key cenv writes into a lockfile's `metadata.custom_metadata`, declared once.

conda-lock's parser forbids extra keys anywhere else, so cenv's facts live in that string-to-string map.
Keys ending in `.` take a platform (`cenv.virtual-packages.linux-64`). Values are plain strings; lists are
joined by "\\n", virtual packages are `__cuda=12.1=0,__glibc=2.28=0`, sources are `name=source,...`.
"""

from __future__ import annotations

CENV_LOCK_FORMAT = "1"

CUSTOM_VERSION = "cenv.version"  # the cenv that wrote the lock (its presence means "written by cenv")
CUSTOM_FORMAT = "cenv.format"  # CENV_LOCK_FORMAT at writing time
CUSTOM_SPEC_HASH = "cenv.spec-hash"  # Spec.content_hash() of the composed spec
CUSTOM_VARIANT = "cenv.variant"  # the spec variant this lock is for
CUSTOM_CHANNEL_PRIORITY = "cenv.channel-priority"
CUSTOM_EXCLUDE_NEWER = "cenv.exclude-newer"  # ISO 8601, UTC
CUSTOM_VIRTUAL_PACKAGES = "cenv.virtual-packages."  # + platform: "__cuda=12.1=0,__glibc=2.28=0"
CUSTOM_REQUESTED = "cenv.requested."  # + platform: the match specs solved for, joined by "\n"
CUSTOM_PIP_REQUESTED = "cenv.pip-requested."  # + platform: the spec's pip lines, joined by "\n"
CUSTOM_PIP_EDITABLE = "cenv.pip-editable."  # + platform: pip packages installed editable, joined by "\n"
CUSTOM_PIP_FALLBACK = "cenv.pip-fallback."  # + platform: conda names the pip stage took, joined by "\n"

# The lock plan's inputs (cenv.plan): enough for a later command with no flags to plan the same lock.
CUSTOM_VIRTUAL_PACKAGE_SOURCES = "cenv.virtual-package-sources."  # + platform: "__cuda=flag,__glibc=default"
CUSTOM_INPUT_SOURCES = "cenv.input-sources"  # "platforms=flag,channels=spec,channel-priority=spec,..."
CUSTOM_CHANNEL_ALIAS = "cenv.channel-alias"  # the alias bare channel names went through (credentials removed)
# input -> sha256 prefix of the spec's (or variant's) value a flag overrode: `--check` says when it changed
CUSTOM_OVERRIDDEN = "cenv.overridden-spec-values"  # "platforms=1a2b...,__cuda/linux-64=..."
CUSTOM_VARIABLES = "cenv.variables"  # the spec's `variables:` as a JSON object (applied by `create LOCK`)
CUSTOM_PIP_OPTIONS = "cenv.pip-options"  # "index-url=URL\nextra-index-url=URL\n..." (credentials removed)


def format_pairs(pairs: dict[str, str]) -> str:
    """`{"a": "x", "b": "y"}` -> `a=x,b=y` (sorted, so the same map always gives the same bytes)."""
    return ",".join(f"{k}={v}" for k, v in sorted(pairs.items()))


def format_variables(variables: dict[str, str]) -> str:
    """The spec's `variables:` as the lock records them: a JSON object (sorted keys)."""
    import json

    return json.dumps(variables, sort_keys=True, ensure_ascii=False)


def parse_variables(text: str | None) -> dict[str, str]:
    """`cenv.variables` read back; anything but an object of strings (a hand-edited lock) is refused."""
    import json

    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError(f"`{CUSTOM_VARIABLES}` is not a JSON object of names to strings")
    return data


def parse_pairs(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    pairs = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if sep:
            pairs[key.strip()] = value.strip()
    return pairs
