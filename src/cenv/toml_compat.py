"""`tomllib` on Python >= 3.11, its backport `tomli` on 3.10 (cenv declares Python >= 3.10)."""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    import tomllib as toml
else:  # pragma: no cover - exercised by `mypy --python-version 3.10` and 3.10 installs
    import tomli as toml

__all__ = ["toml"]
