"""Every environment variable cenv reads, declared once."""

from __future__ import annotations

import os
from pathlib import Path

CENV_CACHE_DIR = "CENV_CACHE_DIR"  # root of cenv's caches (repodata, mappings)
CONDA_CHANNEL_ALIAS = "CONDA_CHANNEL_ALIAS"  # like conda's channel_alias setting
CONDA_PKGS_DIRS = "CONDA_PKGS_DIRS"  # package cache shared with conda (first entry is used)
CONDA_ENVS_PATH = "CONDA_ENVS_PATH"  # where `-n NAME` environments go
CONDA_REGISTER_ENVS = (
    "CONDA_REGISTER_ENVS"  # conda's register_envs: false keeps ~/.conda/environments.txt as is
)
CONDA_OVERRIDE_PREFIX = "CONDA_OVERRIDE_"  # CONDA_OVERRIDE_CUDA, _GLIBC, _OSX: host virtual packages

DEFAULT_CHANNEL_ALIAS = "https://conda.anaconda.org"


def cache_root() -> Path:
    """cenv's cache directory: $CENV_CACHE_DIR, else the platform's user cache dir."""
    explicit = os.environ.get(CENV_CACHE_DIR)
    if explicit:
        return Path(explicit)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("cenv", appauthor=False))


def channel_alias() -> str | None:
    return os.environ.get(CONDA_CHANNEL_ALIAS) or None
