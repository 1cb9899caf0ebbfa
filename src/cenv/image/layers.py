"""Which file of an environment goes into which image layer, by a rule that does not depend on the other
packages: a package of at least `BIG` bytes installed gets a layer of its own; smaller packages share one
of `BUCKETS` layers chosen by their name's hash; everything no package record owns (conda-meta, the pip
part, bytecode, `conda-meta/state`) goes into a last layer. Two locks that share a big package share its
layer's digest; a change to one small package changes only its bucket and the last layer.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cenv.env_vars import CENV_IMAGE_BIG_BYTES

BIG = 32 * 1024 * 1024  # bytes installed; CENV_IMAGE_BIG_BYTES changes it (tests use a small one)
BUCKETS = 8


def _big() -> int:
    try:
        return int(os.environ.get(CENV_IMAGE_BIG_BYTES, BIG))
    except ValueError:
        return BIG


@dataclass(frozen=True)
class LayerPlan:
    name: str  # `pkg:<name>`, `bucket:<n>` or `environment`
    paths: tuple[str, ...]  # relative to the environment root, `/`-separated, sorted
    size: int


def _size(root: Path, paths: list[str]) -> int:
    total = 0
    for path in paths:
        try:
            info = os.lstat(root / path)
        except OSError:
            continue
        total += info.st_size
    return total


def _bucket(name: str) -> int:
    return hashlib.sha256(name.encode()).digest()[0] % BUCKETS


def _all_files(root: Path) -> list[str]:
    found = []
    for folder, dirs, files in os.walk(root):
        rel = Path(folder).relative_to(root).as_posix()
        for name in files:
            found.append(name if rel == "." else f"{rel}/{name}")
        for name in dirs:  # a symlink to a folder is listed among dirs, and kept as a link
            if os.path.islink(os.path.join(folder, name)):
                found.append(name if rel == "." else f"{rel}/{name}")
    return found


def plan_layers(root: Path) -> list[LayerPlan]:
    """The layers of the environment at `root` (a finished prefix), in a stable order: the big packages by
    name, the buckets by number, the environment layer last."""
    owned: dict[str, list[str]] = {}
    for record_path in sorted((root / "conda-meta").glob("*.json")):
        record = json.loads(record_path.read_text(encoding="utf-8"))
        name = str(record.get("name"))
        files = [f for f in record.get("files") or () if os.path.lexists(root / f)]
        owned.setdefault(name, []).extend(files)
    claimed: set[str] = set()
    big_size = _big()
    big: list[LayerPlan] = []
    buckets: dict[int, list[str]] = {}
    for name in sorted(owned):
        paths = sorted(set(owned[name]) - claimed)
        claimed.update(paths)
        size = _size(root, paths)
        if size >= big_size:
            big.append(LayerPlan(f"pkg:{name}", tuple(paths), size))
        else:
            buckets.setdefault(_bucket(name), []).extend(paths)
    rest = sorted(set(_all_files(root)) - claimed)
    layers = [*big]
    for number in sorted(buckets):
        paths = sorted(buckets[number])
        layers.append(LayerPlan(f"bucket:{number}", tuple(paths), _size(root, paths)))
    layers.append(LayerPlan("environment", tuple(rest), _size(root, rest)))
    return [layer for layer in layers if layer.paths]
