"""A guard against YAML alias bombs, shared by the spec and lockfile readers.

YAML anchors and aliases let a small file describe a huge document ("billion laughs"). The readers build
the data first (aliases are shared objects, so that is cheap) and then measure its expanded size here.
"""

from __future__ import annotations

import itertools
from typing import Any


class TooLarge(Exception):
    """The alias-expanded document is larger than the limit."""


class RecursiveAlias(Exception):
    """A node contains itself."""


class ExpansionMeter:
    """Expanded size of parsed YAML: string characters plus one per node.

    Sizes are memoized per container, so measuring takes time linear in the file even for an alias bomb.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._memo: dict[int, int] = {}
        self._active: set[int] = set()

    def size(self, value: Any) -> int:
        if isinstance(value, str | bytes):
            return len(value) + 1
        if not isinstance(value, list | dict | tuple | set):  # tuple, set: sequence / set keys
            return 1
        key = id(value)
        if key in self._memo:
            return self._memo[key]
        if key in self._active:
            raise RecursiveAlias
        self._active.add(key)
        total = 1
        children = itertools.chain.from_iterable(value.items()) if isinstance(value, dict) else value
        for child in children:
            total += self.size(child)
            if total > self.limit:
                raise TooLarge
        self._active.discard(key)
        self._memo[key] = total
        return total
