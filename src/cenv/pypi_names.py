"""conda package names -> PyPI distribution names, for the distributions a conda solution provides.

Order of evidence per record: its PURLs (`pkg:pypi/NAME@...`, written by recent conda-forge builds), then the
parselmouth mapping (conda name -> PyPI name, or null for "not on PyPI"), then cenv's built-in renames
(the conda-forge names whose PyPI name differs that ML and science specs meet most: without them, and with no
mapping file set, a conda `pytorch` is not seen as PyPI's `torch`, and a pip package needing torch pulls a
second torch with its `nvidia-*` wheels), then the normalised conda name.
Only python distributions are mapped: records that depend on `python` or are `noarch: python`; `python`
itself and non-python libraries are skipped. Versions that are not valid PEP 440 versions are skipped, since
uv could not use them as pins.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from cenv.errors import PipStageError

if TYPE_CHECKING:
    import rattler

#: Path of a parselmouth-style JSON mapping (`{"conda-name": "pypi-name" | null}`); overrides the default.
CENV_PYPI_MAPPING = "CENV_PYPI_MAPPING"
#: File name of the mapping inside cenv's cache (`<cache root>/mappings/<this>`).
MAPPING_FILE = "parselmouth-conda-forge-compressed_mapping.json"

# Conda packages that are never PyPI distributions even though they depend on python.
_NOT_DISTRIBUTIONS = frozenset({"python", "python_abi", "pip-tools-wheel", "python-tzdata-stub"})
# conda-forge name -> PyPI name where they differ (as in parselmouth's conda-forge mapping; a test checks)
BUILTIN_RENAMES: Mapping[str, str] = {
    "pytorch": "torch",
    "pytorch-cpu": "torch",
    "matplotlib-base": "matplotlib",
    "py-opencv": "opencv-python",
    "pytables": "tables",
    "tensorflow-base": "tensorflow",
    "msgpack-python": "msgpack",
    "python-graphviz": "graphviz",
    "pyqt": "pyqt5",
}
_PURL = re.compile(r"^pkg:pypi/(?P<name>[^@?#]+)(?:@[^?#]*)?", re.IGNORECASE)
_NORMALIZE = re.compile(r"[-_.]+")


def normalize(name: str) -> str:
    """PEP 503 normalised name (`Foo_Bar` -> `foo-bar`)."""
    return _NORMALIZE.sub("-", name).lower()


class CondaDist(NamedTuple):
    """What the mapping needs from one conda record.

    `python`: whether the record is a python distribution (depends on `python` or is noarch python);
    None when unknown (a plain `(name, version, purls)` tuple), in which case the mapping decides: a name the
    mapping knows is mapped, a name it marks null or does not know is skipped.
    """

    name: str
    version: str
    purls: Sequence[str] | None = None
    python: bool | None = None


def dist_from_record(record: rattler.PackageRecord) -> CondaDist:
    """A :class:`CondaDist` from a rattler record (name, version, purls, python-ness from depends/noarch)."""
    depends = [str(d) for d in (record.depends or [])]
    is_python = any(d.split()[0] == "python" if d.split() else False for d in depends)
    noarch = getattr(record, "noarch", None)
    if noarch is not None and bool(getattr(noarch, "python", False)):
        is_python = True
    purls = getattr(record, "purls", None)  # not exposed by py-rattler 0.28; read when a later one has it
    return CondaDist(
        name=record.name.normalized,
        version=str(record.version),
        purls=[str(p) for p in purls] if purls else None,
        python=is_python,
    )


def default_mapping_path() -> Path | None:
    """$CENV_PYPI_MAPPING, else the mapping in cenv's cache when it exists, else None."""
    explicit = os.environ.get(CENV_PYPI_MAPPING)
    if explicit:
        return Path(explicit)
    from cenv.env_vars import cache_root

    cached = cache_root() / "mappings" / MAPPING_FILE
    return cached if cached.is_file() else None


def load_mapping(path: Path) -> Mapping[str, str | None]:
    """Read a parselmouth compressed mapping; cached per path and modification time."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise PipStageError(
            f"{path}: conda-to-PyPI name mapping not found",
            hints=[f"set `{CENV_PYPI_MAPPING}` to a parselmouth compressed_mapping.json, or unset it"],
        ) from exc
    return _load_mapping(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _load_mapping(path: str, _mtime: int, _size: int) -> Mapping[str, str | None]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PipStageError(f"{path}: not a readable JSON name mapping: {exc}") from exc
    if not isinstance(data, dict):
        raise PipStageError(f"{path}: expected a JSON object of conda name -> PyPI name")
    return {str(k): (str(v) if v is not None else None) for k, v in data.items()}


def pypi_names_from_purls(purls: Iterable[str]) -> list[str]:
    names = []
    for purl in purls:
        match = _PURL.match(purl.strip())
        if match:
            names.append(normalize(match.group("name")))
    return names


def _valid_version(version: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        Version(version)
    except InvalidVersion:
        return False
    return True


def conda_to_pypi(
    records: Iterable[CondaDist | tuple[str, str, Sequence[str] | None]],
    mapping: Mapping[str, str | None] | Path | None = None,
) -> dict[str, str]:
    """PyPI name (normalised) -> version for every python distribution among `records`.

    `mapping`: a loaded mapping, a path to one, or None for :func:`default_mapping_path` (no mapping at all
    falls back to the normalised conda name for known python records).
    """
    if isinstance(mapping, Path):
        table: Mapping[str, str | None] | None = load_mapping(mapping)
    elif mapping is None:
        path = default_mapping_path()
        table = load_mapping(path) if path is not None else None
    else:
        table = mapping
    result: dict[str, str] = {}
    for raw in records:
        dist = raw if isinstance(raw, CondaDist) else CondaDist(*raw)
        if dist.name in _NOT_DISTRIBUTIONS or dist.python is False or not _valid_version(dist.version):
            continue
        names = pypi_names_from_purls(dist.purls) if dist.purls else []
        if not names:
            if table is not None and dist.name in table:
                mapped = table[dist.name]
                if mapped is None:
                    continue  # the mapping says: not on PyPI
                names = [normalize(mapped)]
            elif dist.name in BUILTIN_RENAMES:
                names = [normalize(BUILTIN_RENAMES[dist.name])]
            elif dist.python:
                names = [normalize(dist.name)]
        for name in names:
            result.setdefault(name, dist.version)
    return result
