"""Every environment variable cenv reads, declared once."""

from __future__ import annotations

import os
from pathlib import Path

CENV_CACHE_DIR = "CENV_CACHE_DIR"  # root of cenv's caches (repodata, mappings)
CONDA_CHANNEL_ALIAS = "CONDA_CHANNEL_ALIAS"  # like conda's channel_alias setting
CONDA_PKGS_DIRS = "CONDA_PKGS_DIRS"  # package caches shared with conda (the first writable one is written)
CONDA_ENVS_PATH = "CONDA_ENVS_PATH"  # where `-n NAME` environments go
CONDA_REGISTER_ENVS = (
    "CONDA_REGISTER_ENVS"  # conda's register_envs: false keeps ~/.conda/environments.txt as is
)
CONDA_OVERRIDE_PREFIX = "CONDA_OVERRIDE_"  # CONDA_OVERRIDE_CUDA, _GLIBC, _OSX: host virtual packages
# seconds a transfer may go without progress (or below MIN_TRANSFER_BYTES_PER_SEC) before it fails
CONDA_REMOTE_READ_TIMEOUT_SECS = "CONDA_REMOTE_READ_TIMEOUT_SECS"
CENV_CONCURRENCY = "CENV_CONCURRENCY"  # concurrent repodata requests (default 16; cenv.config)
CENV_IMAGE_BIG_BYTES = "CENV_IMAGE_BIG_BYTES"  # `cenv image`: a package this big gets its own layer
CONDA_PATH_CONFLICT = "CONDA_PATH_CONFLICT"  # conda's path_conflict: clobber, warn, prevent
# cenv.config reads conda's .condarc and these: CONDARC, CONDA_CHANNELS, CONDA_DEFAULT_CHANNELS,
# CONDA_CHANNEL_PRIORITY, CONDA_ENVS_DIRS, CONDA_SSL_VERIFY, REQUESTS_CA_BUNDLE,
# CONDA_REMOTE_READ_TIMEOUT_SECS, CONDA_OFFLINE, CONDA_FETCH_THREADS. cenv.net exports proxies and the
# CA bundle as HTTPS_PROXY, HTTP_PROXY, SSL_CERT_FILE and reads RATTLER_AUTH_FILE and NETRC.

DEFAULT_CHANNEL_ALIAS = "https://conda.anaconda.org"
DEFAULT_REMOTE_READ_TIMEOUT_SECS = 60.0  # conda's default for remote_read_timeout_secs
# the floor below which a transfer counts as stalled (a server dripping bytes to keep a socket alive)
MIN_TRANSFER_BYTES_PER_SEC = 1024


def cache_root() -> Path:
    """cenv's cache directory: $CENV_CACHE_DIR, else the platform's user cache dir."""
    explicit = os.environ.get(CENV_CACHE_DIR)
    if explicit:
        return Path(explicit)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("cenv", appauthor=False))


def channel_alias() -> str | None:
    return os.environ.get(CONDA_CHANNEL_ALIAS) or None
