"""The precedence of a lock's inputs, written down once as data: an ordered table of providers.

Every input of a lock (platforms, channels, channel alias, channel priority, exclude-newer, pip-fallback and
each virtual package of each platform) is resolved by `resolve_input` over `PROVIDERS`: the first provider
in this order that has a value wins, and its name is recorded in the lockfile as the value's source.

- `flag`: given on the command line now.
- `lock`: a command-line input the existing lockfile recorded (`-p`, `-c`, `--cuda`, `--virtual-packages`,
  ...), replayed as a flag, so re-running a recorded command with no flags gives the same lock.
- `env`: a `CONDA_*` environment variable; `condarc`: a `.condarc` file (conda's configuration).
- `file`: the `--virtual-packages` file given now.
- `variant`: the spec variant being locked (`cuda:`; a `cuda: null` variant never assumes `__cuda`).
- `spec`: what the spec spells out.
- `recorded`: a value the lockfile recorded that did not come from the command line (an environment
  variable, a .condarc, a lock from before cenv recorded its inputs): it fills what nothing above gives.
- `default`: cenv's (or conda's) default.

`README.md` states the same order; tests/test_precedence.py checks it against `readme_precedence()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, TypeVar

__all__ = [
    "ABSENT",
    "PROVIDERS",
    "REPLAYED",
    "Absent",
    "Provider",
    "readme_precedence",
    "replay_slot",
    "resolve_input",
]

Provider = Literal["flag", "lock", "env", "condarc", "file", "variant", "spec", "recorded", "default"]

# The table: highest precedence first.
PROVIDERS: Final[tuple[Provider, ...]] = (
    "flag",
    "lock",
    "env",
    "condarc",
    "file",
    "variant",
    "spec",
    "recorded",
    "default",
)

# How the README names each provider (tests check the README's paragraph against this).
_README_NAMES: Final[Mapping[Provider, str]] = {
    "flag": "flag",
    "lock": "the lock's recorded flags",
    "env": "`CONDA_*` variable",
    "condarc": "`.condarc`",
    "file": "`--virtual-packages` file",
    "variant": "variant",
    "spec": "spec",
    "recorded": "the lock's other recorded values",
    "default": "default",
}

# Sources a lockfile records whose values replay at the `lock` slot (they came from the command line);
# every other recorded source replays at the `recorded` slot. "file" is `--virtual-packages FILE`.
REPLAYED: Final[frozenset[str]] = frozenset(("flag", "lock", "file"))


class Absent:
    """A provider's answer "no value" (`--cuda none`, a `cuda: null` variant): it wins like a value."""

    _instance: Absent | None = None

    def __new__(cls) -> Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = Absent()

T = TypeVar("T")


def resolve_input(candidates: Mapping[Provider, T | None], default: T) -> tuple[T, Provider]:
    """The value of one input and the provider it came from: the first of `PROVIDERS` in `candidates`
    whose value is not None (ABSENT counts as a value). `default` when none has one."""
    for provider in PROVIDERS:
        value = candidates.get(provider)
        if value is not None:
            return value, provider
    return default, "default"


def replay_slot(recorded_source: str | None) -> Provider | None:
    """Where a value the lockfile recorded with `recorded_source` stands now (None: it is not replayed)."""
    if recorded_source is None or recorded_source in ("spec", "variant", "default"):
        return None  # the spec's (or the variant's) to change; a default is a default again
    return "lock" if recorded_source in REPLAYED else "recorded"


def readme_precedence() -> str:
    """The order as the README states it: `flag > the lock's recorded flags > ... > default`."""
    return " > ".join(_README_NAMES[p] for p in PROVIDERS)
