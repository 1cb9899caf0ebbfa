"""The environment spec: `load_spec(paths) -> Spec`. See `models.py` for the data, `load.py` for YAML and
`cache.py` for specs read before (the YAML reader and pydantic are imported only when a spec is new)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cenv.errors import SpecError
from cenv.spec.models import CondaDependency, Location, PipOptions, PipRequirement, Spec

__all__ = [
    "CondaDependency",
    "Location",
    "PipOptions",
    "PipRequirement",
    "Spec",
    "load_spec",
    "load_spec_text",
]


def load_spec(paths: Sequence[str | Path]) -> Spec:
    """Read and compose spec files in order (later files refine earlier ones). Raises SpecError."""
    from cenv.spec.cache import cached_spec, read_spec_file, spec_key, store_spec

    if isinstance(paths, str | Path):
        paths = [paths]
    if not paths:
        raise SpecError("no spec files given", ["pass an environment.yml"])
    files = [(str(p), read_spec_file(Path(p), str(p))) for p in paths]
    key = spec_key(files)
    spec = cached_spec(key)
    if spec is None:
        from cenv.spec.load import spec_from_texts

        spec = spec_from_texts(files)
        store_spec(key, spec)
    return spec


def load_spec_text(text: str, filename: str = "<string>") -> Spec:
    """Read one spec from a string (for tests and tools); `filename` is used in messages. Not cached."""
    from cenv.spec.load import load_spec_text as load

    return load(text, filename)
