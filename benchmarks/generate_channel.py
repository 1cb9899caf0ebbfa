"""Generate a conda-forge-scale channel: repodata.json, .json.zst and CEP-16 sharded repodata, deterministic.

    .venv/bin/python benchmarks/generate_channel.py OUT_DIR [--records 300000] [--seed 0]

writes ``OUT_DIR/conda-forge/{linux-64,noarch,osx-arm64,win-64}/`` with, per subdir:

- ``repodata.json`` and ``repodata.json.zst`` (the monolithic form, for servers without shards),
- ``repodata_shards.msgpack.zst``: ``{"info": {subdir, base_url, shards_base_url}, "shards": {name:
  sha256}}``,
- ``shards/<sha256 hex>.msgpack.zst``: ``{"packages": {fn: record}, "packages.conda": {fn: record}}``.

The layout follows rattler's ``ShardedRepodata``/``Shard`` structs (rattler_conda_types
``repo_data/sharded.rs``, rattler_repodata_gateway ``gateway/sharded_subdir``): the index is fetched from
``<channel>/<subdir>/repodata_shards.msgpack.zst``; ``shards`` maps the name to the raw 32-byte sha256
(msgpack ``bin``); ``info.base_url`` and ``info.shards_base_url`` are resolved against
``<channel>/<subdir>/``; a shard is fetched from ``<shards_base_url><hex>.msgpack.zst``. Inside shards
``md5``/``sha256`` are ``bin`` too (as conda-index's ``pack_record`` writes them). A shard's hash is the
sha256 of its compressed file (content addressed).

Shape, measured on ../shared/realdata/channels (conda-forge subsets, 2024-2025); v/name = versions per
name, b/v = builds per version, deps = len(depends) per record:

- py39-subchannel linux-64 (2709 records, 63 names): v/name mean 13.6, p50 6, p90 34, max 173; b/v mean
  3.15, p50 2, p90 6, max 21; deps mean 2.6, p90 6, max 16; track_features 0.8%.
- py39-subchannel win-64 (2339, 56): v/name mean 12.6, p50 4, p90 38; b/v mean 3.31, p50 3, max 42; deps
  mean 2.8.
- py39-subchannel osx-arm64 (832, 46): v/name mean 9.3, p50 3; b/v mean 1.95; deps mean 2.8; ``__osx``
  1.1%.
- py39-subchannel noarch (205, 13): v/name mean 13.5, p50 10; b/v mean 1.16; deps mean 1.4, p90 3.
- pangeo-cuda linux-64 (1819, 543; version history truncated): b/v 1.19; deps mean 6.1, p50 5, p90 10, p99
  34, max 54; ``__glibc`` 68.6%, ``__cuda`` 1.0%, python-dependent 28.7%.
- pangeo-cuda noarch (1544, 526): b/v 1.14; deps mean 4.2, p50 3, p90 10, max 26; python-dependent 92.7%.
- pytorch-gpu-multiplatform linux-64 (244): deps mean 5.2, max 46; ``__glibc`` 82%, ``__cuda`` 1.6%.
- pytorch-2023 linux-64 (2181, 49): v/name mean 8.2, max 147; b/v mean 5.4, p50 4, p90 12, max 20; deps
  mean 4.7.
- JSON bytes per record 393-660; ``.conda`` share 13% (2024 subset, old records) to 98% (recent builds).

Scaled up: the real conda-forge linux-64 repodata.json is ~205 MB with ~20k names; here ``--records``
linux-64 records (default 300,000, ~15-20 per name), plus noarch (30% of that), osx-arm64 and win-64 (25%
each). The depends count is drawn from the pangeo-cuda linux-64 (arch) and noarch CDFs above; 69% of linux
records depend on ``__glibc``; ~1.5% of linux/win filler names get CUDA builds depending on ``__cuda``;
versions per name follow a heavy-tailed (Pareto) law capped at 200; python extensions get one build per
python of a moving 3.8-3.13 window.

The ML core (python, pytorch cpu+cuda builds, numpy, scipy, pandas, scikit-learn, matplotlib, jupyterlab,
transformers, ... ~180 names whose newest versions are co-installable) hides among the filler. Filler
depends only on filler, ``python`` and low-level libs; the core never depends on filler, so the ML spec
stays solvable. CUDA builds of pytorch/torchvision carry higher build numbers than cpu ones, as on
conda-forge. The same ``--seed`` and ``--records`` give byte-identical files.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import json
import random
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import msgpack
import zstandard

CHANNEL = "conda-forge"
PLATFORMS = ("linux-64", "osx-arm64", "win-64")
SUBDIRS = ("linux-64", "noarch", "osx-arm64", "win-64")
#: records per subdir relative to --records (linux-64)
SCALE = {"linux-64": 1.0, "noarch": 0.30, "osx-arm64": 0.25, "win-64": 0.25}
PYTHONS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13")
BASE_TS = 1_577_836_800_000  # 2020-01-01, ms
SPAN_TS = 5 * 365 * 86_400_000

# Empirical CDFs of len(depends) (x, P[X <= x]) from pangeo-cuda (see module docstring).
DEPENDS_CDF_ARCH = [
    (0, 0.013),
    (1, 0.085),
    (2, 0.18),
    (3, 0.307),
    (4, 0.44),
    (5, 0.594),
    (6, 0.7),
    (7, 0.783),
    (8, 0.833),
    (9, 0.867),
    (10, 0.902),
    (12, 0.929),
    (15, 0.949),
    (20, 0.973),
    (25, 0.982),
    (34, 0.991),
    (40, 0.996),
    (54, 1.0),
]
DEPENDS_CDF_NOARCH = [
    (0, 0.016),
    (1, 0.293),
    (2, 0.478),
    (3, 0.571),
    (4, 0.677),
    (5, 0.747),
    (6, 0.787),
    (7, 0.837),
    (8, 0.87),
    (10, 0.916),
    (12, 0.953),
    (15, 0.97),
    (20, 0.994),
    (26, 1.0),
]
_CDF_P = {id(c): [p for _, p in c] for c in (DEPENDS_CDF_ARCH, DEPENDS_CDF_NOARCH)}
GLIBC_SHARE = 0.69
CUDA_SHARE = 0.015
OSX_SHARE = 0.011
TRACK_FEATURES_SHARE = 0.008

# ------------------------------------------------------------------------------------------- the ML core
# Low-level libraries present on every arch platform: name -> (number of versions, deps on other libs).
LIBS: dict[str, tuple[int, tuple[str, ...]]] = {
    "libzlib": (8, ()),
    "bzip2": (3, ()),
    "xz": (10, ()),
    "zstd": (12, ("libzlib",)),
    "lz4-c": (6, ()),
    "libffi": (6, ()),
    "openssl": (20, ("ca-certificates",)),
    "ca-certificates": (25, ()),
    "libsqlite": (20, ("libzlib",)),
    "tk": (4, ("libzlib",)),
    "libexpat": (8, ()),
    "libiconv": (4, ()),
    "libxml2": (15, ("libzlib", "xz", "libiconv", "icu")),
    "libxslt": (6, ("libxml2",)),
    "icu": (5, ()),
    "libjpeg-turbo": (6, ()),
    "libpng": (10, ("libzlib",)),
    "libwebp-base": (8, ()),
    "libtiff": (10, ("libjpeg-turbo", "libwebp-base", "libzlib", "xz", "zstd", "lerc", "libdeflate")),
    "lerc": (3, ()),
    "libdeflate": (8, ()),
    "freetype": (6, ("libpng", "libzlib")),
    "lcms2": (5, ("libjpeg-turbo", "libtiff")),
    "openjpeg": (5, ("libpng", "libtiff", "libzlib")),
    "qhull": (2, ()),
    "libsodium": (4, ()),
    "zeromq": (6, ("libsodium",)),
    "yaml": (2, ()),
    "libuv": (10, ()),
    "sleef": (4, ()),
    "libabseil": (6, ()),
    "libprotobuf": (12, ("libabseil", "libzlib")),
    "libopenblas": (15, ()),
    "libblas": (10, ("libopenblas",)),
    "libcblas": (10, ("libblas",)),
    "liblapack": (10, ("libblas",)),
    "hdf5": (10, ("libzlib", "libcurl", "openssl")),
    "libcurl": (25, ("libzlib", "openssl", "libssh2", "libnghttp2", "zstd", "krb5")),
    "libssh2": (4, ("libzlib", "openssl")),
    "libnghttp2": (8, ("libzlib", "openssl", "c-ares")),
    "c-ares": (8, ()),
    "krb5": (6, ("openssl",)),
    "libllvm14": (3, ("libzlib", "zstd")),
    "tbb": (8, ()),
}
UNIX_LIBS = {"ncurses": (10, ()), "readline": (4, ("ncurses",))}
LINUX_LIBS = {
    "_libgcc_mutex": (1, ()),
    "libgcc-ng": (8, ("_libgcc_mutex", "_openmp_mutex")),
    "_openmp_mutex": (2, ("libgomp",)),
    "libgomp": (8, ("_libgcc_mutex",)),
    "libstdcxx-ng": (8, ("libgcc-ng",)),
    "ld_impl_linux-64": (6, ()),
    "libuuid": (3, ()),
    "libnsl": (2, ()),
    "libxcrypt": (2, ()),
    "nccl": (12, ("cuda-version",)),
}
OSX_LIBS = {"libcxx": (12, ()), "llvm-openmp": (10, ())}
WIN_LIBS = {
    "ucrt": (2, ()),
    "vc": (3, ("vc14_runtime",)),
    "vc14_runtime": (8, ("ucrt",)),
    "intel-openmp": (4, ()),
}
# CUDA runtime libraries (linux-64, win-64), each pinned to a cuda-version.
CUDA_LIBS = (
    "cuda-cudart",
    "cuda-nvrtc",
    "libcublas",
    "libcufft",
    "libcurand",
    "libcusparse",
    "libcusolver",
    "cuda-nvtx",
    "cudnn",
)
CUDA_VERSIONS = ("11.8", "12.0", "12.1", "12.2", "12.3", "12.4", "12.5", "12.6")

# Python extensions (one build per python, per arch platform): name -> (versions, libs, python deps).
PY_EXT: dict[str, tuple[int, tuple[str, ...], tuple[str, ...]]] = {
    "numpy": (30, ("libblas", "libcblas", "liblapack"), ()),
    "scipy": (20, ("libblas", "libcblas", "liblapack", "libopenblas"), ("numpy",)),
    "pandas": (25, (), ("numpy", "python-dateutil", "pytz", "python-tzdata")),
    "scikit-learn": (15, (), ("numpy", "scipy", "joblib", "threadpoolctl")),
    "matplotlib-base": (
        20,
        ("freetype", "qhull"),
        (
            "numpy",
            "pillow",
            "kiwisolver",
            "contourpy",
            "cycler",
            "fonttools",
            "packaging",
            "pyparsing",
            "python-dateutil",
        ),
    ),
    "pillow": (
        15,
        ("libjpeg-turbo", "libpng", "libtiff", "libwebp-base", "freetype", "lcms2", "openjpeg", "libzlib"),
        (),
    ),
    "kiwisolver": (6, (), ()),
    "contourpy": (6, (), ("numpy",)),
    "fonttools": (15, (), ("brotli-python", "munkres", "unicodedata2")),
    "brotli-python": (4, (), ()),
    "unicodedata2": (5, (), ()),
    "pyzmq": (15, ("zeromq", "libsodium"), ()),
    "tornado": (10, (), ()),
    "markupsafe": (8, (), ()),
    "pyyaml": (6, ("yaml",), ()),
    "psutil": (12, (), ()),
    "h5py": (10, ("hdf5",), ("numpy", "cached-property")),
    "lxml": (12, ("libxml2", "libxslt", "libzlib"), ()),
    "regex": (20, (), ()),
    "tokenizers": (15, (), ("huggingface_hub",)),
    "safetensors": (10, (), ()),
    "sentencepiece": (6, ("libprotobuf",), ()),
    "llvmlite": (10, ("libllvm14", "libzlib"), ()),
    "numba": (12, ("tbb",), ("numpy", "llvmlite")),
    "debugpy": (10, (), ()),
    "cffi": (6, ("libffi",), ("pycparser",)),
    "argon2-cffi-bindings": (3, (), ("cffi",)),
    "rpds-py": (12, (), ()),
    "charset-normalizer": (8, (), ()),
    "pyarrow": (12, ("zstd", "lz4-c", "libprotobuf", "libabseil"), ("numpy",)),
}
# pure-python (noarch) packages: name -> (versions, python deps)
NOARCH: dict[str, tuple[int, tuple[str, ...]]] = {
    "pip": (30, ("setuptools", "wheel")),
    "setuptools": (40, ()),
    "wheel": (10, ()),
    "python-tzdata": (10, ()),
    "tzdata": (15, ()),
    "python-dateutil": (6, ("six",)),
    "six": (3, ()),
    "pytz": (15, ()),
    "joblib": (12, ()),
    "threadpoolctl": (6, ()),
    "cycler": (3, ()),
    "packaging": (8, ()),
    "pyparsing": (10, ()),
    "munkres": (1, ()),
    "cached-property": (2, ()),
    "pycparser": (3, ()),
    "jupyterlab": (
        40,
        (
            "jupyter_server",
            "ipykernel",
            "jinja2",
            "packaging",
            "tornado",
            "traitlets",
            "notebook-shim",
            "httpx",
            "async-lru",
            "jupyter-lsp",
            "jupyterlab_server",
        ),
    ),
    "jupyterlab_server": (
        12,
        ("babel", "jinja2", "json5", "jsonschema", "jupyter_server", "packaging", "requests"),
    ),
    "jupyter-lsp": (6, ("jupyter_server",)),
    "notebook": (20, ("jupyterlab", "jupyter_server", "notebook-shim", "tornado")),
    "notebook-shim": (3, ("jupyter_server",)),
    "ipykernel": (
        25,
        (
            "ipython",
            "jupyter_client",
            "jupyter_core",
            "traitlets",
            "tornado",
            "pyzmq",
            "psutil",
            "debugpy",
            "comm",
            "matplotlib-inline",
            "nest-asyncio",
            "packaging",
        ),
    ),
    "ipython": (
        30,
        ("traitlets", "jedi", "prompt-toolkit", "pygments", "decorator", "stack_data", "matplotlib-inline"),
    ),
    "jupyter_server": (
        20,
        (
            "jupyter_client",
            "jupyter_core",
            "jinja2",
            "tornado",
            "traitlets",
            "anyio",
            "argon2-cffi",
            "nbformat",
            "nbconvert-core",
            "terminado",
            "send2trash",
            "websocket-client",
            "prometheus_client",
            "packaging",
            "pyzmq",
            "overrides",
        ),
    ),
    "jupyter_client": (20, ("jupyter_core", "python-dateutil", "pyzmq", "tornado", "traitlets")),
    "jupyter_core": (15, ("platformdirs", "traitlets")),
    "nbformat": (10, ("jsonschema", "fastjsonschema", "jupyter_core", "traitlets")),
    "nbconvert-core": (
        15,
        (
            "beautifulsoup4",
            "bleach",
            "jinja2",
            "jupyter_core",
            "markupsafe",
            "mistune",
            "nbclient",
            "nbformat",
            "packaging",
            "pandocfilters",
            "pygments",
            "traitlets",
        ),
    ),
    "nbclient": (8, ("jupyter_client", "jupyter_core", "nbformat", "traitlets")),
    "jsonschema": (15, ("attrs", "jsonschema-specifications", "referencing", "rpds-py")),
    "jsonschema-specifications": (4, ("referencing",)),
    "referencing": (6, ("attrs", "rpds-py")),
    "attrs": (10, ()),
    "fastjsonschema": (6, ()),
    "traitlets": (12, ()),
    "jedi": (8, ("parso",)),
    "parso": (5, ()),
    "prompt-toolkit": (15, ("wcwidth",)),
    "wcwidth": (6, ()),
    "pygments": (12, ()),
    "decorator": (4, ()),
    "stack_data": (4, ("asttokens", "executing", "pure_eval")),
    "asttokens": (4, ("six",)),
    "executing": (5, ()),
    "pure_eval": (2, ()),
    "pexpect": (3, ("ptyprocess",)),
    "ptyprocess": (2, ()),
    "colorama": (4, ()),
    "matplotlib-inline": (3, ("traitlets",)),
    "comm": (3, ("traitlets",)),
    "nest-asyncio": (4, ()),
    "jinja2": (8, ("markupsafe",)),
    "httpx": (10, ("anyio", "certifi", "httpcore", "idna", "sniffio")),
    "httpcore": (10, ("h11", "certifi", "anyio", "sniffio")),
    "h11": (4, ()),
    "anyio": (12, ("idna", "sniffio", "exceptiongroup", "typing_extensions")),
    "exceptiongroup": (3, ()),
    "sniffio": (2, ()),
    "async-lru": (3, ("typing_extensions",)),
    "babel": (6, ("pytz",)),
    "json5": (5, ()),
    "requests": (10, ("certifi", "charset-normalizer", "idna", "urllib3")),
    "certifi": (20, ()),
    "idna": (5, ()),
    "urllib3": (12, ("brotli-python", "pysocks")),
    "pysocks": (2, ()),
    "argon2-cffi": (4, ("argon2-cffi-bindings",)),
    "terminado": (4, ("tornado",)),
    "send2trash": (3, ()),
    "websocket-client": (6, ()),
    "prometheus_client": (8, ()),
    "overrides": (3, ("typing_extensions",)),
    "beautifulsoup4": (6, ("soupsieve",)),
    "soupsieve": (4, ()),
    "bleach": (5, ("six", "webencodings")),
    "webencodings": (1, ()),
    "mistune": (5, ()),
    "pandocfilters": (2, ()),
    "platformdirs": (10, ()),
    "typing_extensions": (15, ()),
    "filelock": (12, ()),
    "fsspec": (20, ()),
    "networkx": (10, ()),
    "sympy": (8, ("mpmath",)),
    "mpmath": (3, ()),
    "tqdm": (25, ()),
    "seaborn": (8, ("matplotlib-base", "numpy", "pandas", "scipy")),
    "huggingface_hub": (
        25,
        ("filelock", "fsspec", "packaging", "pyyaml", "requests", "tqdm", "typing_extensions"),
    ),
    "transformers": (
        40,
        (
            "filelock",
            "huggingface_hub",
            "numpy",
            "packaging",
            "pyyaml",
            "regex",
            "requests",
            "safetensors",
            "tokenizers",
            "tqdm",
        ),
    ),
}
TORCH_VERSIONS = (
    "1.13.1",
    "2.0.0",
    "2.0.1",
    "2.1.0",
    "2.1.2",
    "2.2.2",
    "2.3.0",
    "2.3.1",
    "2.4.0",
    "2.4.1",
    "2.5.0",
    "2.5.1",
)
TORCHVISION_FOR = {
    "1.13": "0.14.1",
    "2.0": "0.15.2",
    "2.1": "0.16.1",
    "2.2": "0.17.2",
    "2.3": "0.18.1",
    "2.4": "0.19.1",
    "2.5": "0.20.1",
}

#: real version histories where the ML spec puts a lower bound
REAL_VERSIONS = {
    "numpy": (
        "1.19.5",
        "1.20.3",
        "1.21.6",
        "1.22.4",
        "1.23.5",
        "1.24.4",
        "1.25.2",
        "1.26.0",
        "1.26.2",
        "1.26.3",
        "1.26.4",
        "2.0.0",
        "2.0.1",
        "2.0.2",
        "2.1.0",
        "2.1.1",
        "2.1.2",
        "2.1.3",
    ),
    "pandas": ("1.3.5", "1.4.4", "1.5.3", "2.0.3", "2.1.4", "2.2.0", "2.2.1", "2.2.2", "2.2.3"),
    "jupyterlab": ("3.5.3", "3.6.7", "4.0.13", "4.1.8", "4.2.5", "4.3.0"),
    # compiler runtimes and other pinned names
    **dict.fromkeys(
        ("libgcc-ng", "libstdcxx-ng", "libgomp"),
        ("11.2.0", "12.1.0", "12.2.0", "13.1.0", "13.2.0", "14.1.0", "14.2.0"),
    ),
    **dict.fromkeys(("libcxx", "llvm-openmp"), ("14.0.6", "15.0.7", "16.0.6", "17.0.6", "18.1.8", "19.1.0")),
    "_openmp_mutex": ("4.5",),
    "ucrt": ("10.0.20348.0", "10.0.22621.0"),
    "vc": ("14.2", "14.3"),
    "vc14_runtime": ("14.29.30139", "14.38.33130", "14.40.33810"),
    "nccl": ("2.18.3.1", "2.19.3.1", "2.20.5.1", "2.21.5.1", "2.22.3.1", "2.23.4.1"),
}

#: the ML spec the benchmark locks: ~35 top-level names, all from the core.
ML_SPEC = (
    "python 3.11.*",
    "pytorch >=2.3",
    "torchvision",
    "numpy >=1.26",
    "scipy",
    "pandas >=2",
    "scikit-learn",
    "matplotlib-base",
    "seaborn",
    "jupyterlab >=4",
    "notebook",
    "ipykernel",
    "ipython",
    "pillow",
    "h5py",
    "pyarrow",
    "numba",
    "networkx",
    "sympy",
    "transformers",
    "huggingface_hub",
    "tokenizers",
    "safetensors",
    "sentencepiece",
    "tqdm",
    "requests",
    "pyyaml",
    "psutil",
    "joblib",
    "fsspec",
    "filelock",
    "lxml",
    "regex",
    "typing_extensions",
    "pip",
)


def ml_spec_yaml(
    platforms: tuple[str, ...] = PLATFORMS, pip: tuple[str, ...] = (), index_url: str | None = None
) -> str:
    """The ML spec as environment.yml text; `pip`: a `pip:` part (benchmarks/pip_index.py's ML_PIP), with
    `--index-url index_url` as its first line when given."""
    deps = "".join(f"  - {d}\n" for d in ML_SPEC)
    if pip:
        lines = ([f"--index-url {index_url}"] if index_url else []) + list(pip)
        deps += "  - pip:\n" + "".join(f"    - {line}\n" for line in lines)
    return (
        f"name: ml-bench\nchannels:\n  - {CHANNEL}\nplatforms: [{', '.join(platforms)}]\n"
        f"channel-priority: strict\ndependencies:\n{deps}"
    )


# ------------------------------------------------------------------------------------------- building blocks
def _versions(rng: random.Random, n: int, core: bool = False) -> list[str]:
    """n increasing versions with mostly patch bumps, sometimes minor, rarely major (core: never 0.x)."""
    major, minor, patch = rng.choice((1, 2, 3) if core else (0, 1, 1, 2, 3)), rng.randrange(10), 0
    out = []
    for _ in range(n):
        out.append(f"{major}.{minor}.{patch}")
        r = rng.random()
        if r < 0.04:
            major, minor, patch = major + 1, 0, 0
        elif r < 0.35:
            minor, patch = minor + 1, 0
        else:
            patch += 1
    return out


def _upper(version: str) -> str:
    """The run-export style upper bound of a version: next major (next minor for 0.x)."""
    parts = version.split(".")
    if parts[0] == "0":
        return f"0.{int(parts[1]) + 1}.0a0"
    return f"{int(parts[0]) + 1}.0a0"


def _hash7(rng: random.Random) -> str:
    return f"{rng.getrandbits(28):07x}"


def _cdf_sample(rng: random.Random, cdf: list[tuple[int, float]]) -> int:
    u = rng.random()
    i = bisect.bisect_left(_CDF_P[id(cdf)], u)
    hi, _ = cdf[min(i, len(cdf) - 1)]
    lo = cdf[i - 1][0] + 1 if i > 0 else hi
    return rng.randint(min(lo, hi), hi)


@dataclass
class _Ctx:
    subdir: str
    rng: random.Random
    records: dict[str, dict]
    ts_counter: int = 0

    @property
    def family(self) -> str:
        return self.subdir.split("-")[0]

    def add(
        self,
        name: str,
        version: str,
        build: str,
        build_number: int,
        depends: list[str],
        *,
        frac: float,
        constrains: list[str] | None = None,
        noarch: bool = False,
        track_features: str | None = None,
    ) -> None:
        rng = self.rng
        if self.subdir == "linux-64" and not noarch and rng.random() < GLIBC_SHARE:
            depends = [*depends, "__glibc >=2.17,<3.0.a0"]
        if self.subdir == "osx-arm64" and rng.random() < OSX_SHARE:
            depends = [*depends, "__osx >=11.0"]
        ext = ".conda" if frac > 0.35 else ".tar.bz2"
        fn = f"{name}-{version}-{build}{ext}"
        rec: dict = {
            "build": build,
            "build_number": build_number,
            "depends": depends,
            "license": "BSD-3-Clause" if rng.random() < 0.5 else "MIT",
            "md5": f"{rng.getrandbits(128):032x}",
            "name": name,
            "sha256": f"{rng.getrandbits(256):064x}",
            "size": rng.randrange(4_000, 40_000_000),
            "subdir": self.subdir,
            "timestamp": BASE_TS + int(frac * SPAN_TS) + rng.randrange(86_400_000),
            "version": version,
        }
        if constrains:
            rec["constrains"] = constrains
        if noarch:
            rec["noarch"] = "python"
        if track_features:
            rec["track_features"] = track_features
        self.records[fn] = rec


def _runtime(family: str, cxx: bool = True) -> list[str]:
    if family == "linux":
        return ["libgcc-ng >=12", *(["libstdcxx-ng >=12"] if cxx else [])]
    if family == "osx":
        return ["libcxx >=16"] if cxx else []
    if family == "win":
        return ["ucrt >=10.0.20348.0", "vc >=14.2,<15", "vc14_runtime >=14.29.30139"]
    return []


class _Core:
    """The ML core for one subdir: libraries, python, python extensions, noarch, CUDA and pytorch."""

    def __init__(self, ctx: _Ctx, seed: int) -> None:
        self.ctx = ctx
        # Versions are shared across subdirs (same seed per name), so pins line up across platforms.
        self.versions: dict[str, list[str]] = {}
        self.seed = seed

    def vers(self, name: str, n: int) -> list[str]:
        if name in REAL_VERSIONS:
            self.versions[name] = list(REAL_VERSIONS[name])
        if name not in self.versions:
            self.versions[name] = _versions(random.Random(f"{self.seed}:versions:{name}"), n, core=True)
        return self.versions[name]

    def pin(self, dep: str, frac: float) -> str:
        """A run-export pin on `dep` matching the dependent's age: newest dependent -> newest dep."""
        versions = self.versions.get(dep)
        if not versions:
            return dep
        v = versions[min(len(versions) - 1, int(frac * len(versions)))]
        return f"{dep} >={v},<{_upper(v)}"

    def libs(self) -> None:
        ctx = self.ctx
        table = dict(LIBS)
        if ctx.family in ("linux", "osx"):
            table.update(UNIX_LIBS)
        table.update({"linux": LINUX_LIBS, "osx": OSX_LIBS, "win": WIN_LIBS}[ctx.family])
        for name, (n, _) in table.items():
            self.vers(name, n)
        for name in ("cuda-version", *CUDA_LIBS):
            self.versions.setdefault(name, list(CUDA_VERSIONS))
        base = set(LINUX_LIBS) | set(OSX_LIBS) | set(WIN_LIBS)
        for name, (n, deps) in table.items():
            versions = self.vers(name, n)
            for i, v in enumerate(versions):
                frac = (i + 1) / len(versions)
                depends = [] if name in base else _runtime(ctx.family, cxx=False)
                depends += [self.pin(d, frac) for d in deps if d in table or d == "cuda-version"]
                if name == "nccl":
                    depends = [*_runtime(ctx.family), "cuda-version >=12.0,<13"]
                for bn in range(1 + (i % 3 == 0)):
                    ctx.add(name, v, f"h{_hash7(ctx.rng)}_{bn}", bn, depends, frac=frac)
        if ctx.family in ("linux", "win"):
            for i, cv in enumerate(CUDA_VERSIONS):
                frac = (i + 1) / len(CUDA_VERSIONS)
                for lib in CUDA_LIBS:
                    v = (
                        f"{cv}.{ctx.rng.randrange(30, 150)}"
                        if lib != "cudnn"
                        else ("8.9.7" if cv < "12" else "9.3.0")
                    )
                    # cudnn is versioned on its own; the pin is its cuda-version
                    depends = [*_runtime(ctx.family, cxx=False), f"cuda-version >={cv},<{_next_minor(cv)}"]
                    if lib == "cudnn":
                        depends.append("libcublas")
                    ctx.add(lib, v, f"h{_hash7(ctx.rng)}_0", 0, depends, frac=frac)

    def cuda_version_noarch(self) -> None:
        ctx = self.ctx
        for i, cv in enumerate(CUDA_VERSIONS):
            major = cv.split(".")[0]
            ctx.add(
                "cuda-version",
                cv,
                f"h{_hash7(ctx.rng)}_3",
                3,
                [],
                frac=(i + 1) / len(CUDA_VERSIONS),
                constrains=[f"__cuda >={major}", f"cudatoolkit {cv}|{cv}.*"],
                noarch=False,
            )

    def python(self) -> None:
        ctx = self.ctx
        fam = ctx.family
        libs = ["bzip2", "libffi", "libsqlite", "libzlib", "openssl", "tk", "xz", "libexpat"]
        libs += {
            "linux": ["ld_impl_linux-64", "libuuid", "libnsl", "libxcrypt", "ncurses", "readline"],
            "osx": ["ncurses", "readline"],
            "win": [],
        }[fam]
        for pi, py in enumerate(PYTHONS):
            patches = 20 - 3 * pi
            tag = "cp" + py.replace(".", "")
            ctx.add(
                "python_abi",
                py,
                f"5_{tag}",
                5,
                [],
                frac=(pi + 1) / len(PYTHONS),
                constrains=[f"python {py}.* *_cpython"],
            )
            for p in range(patches):
                frac = min(1.0, 0.1 + 0.9 * (pi + p / patches) / len(PYTHONS))
                depends = [*_runtime(fam, cxx=False), *(self.pin(d, frac) for d in libs), "tzdata", "pip"]
                bn = p % 2
                ctx.add(
                    "python",
                    f"{py}.{p}",
                    f"h{_hash7(ctx.rng)}_{bn}_cpython",
                    bn,
                    depends,
                    frac=frac,
                    constrains=[f"python_abi {py}.* *_{tag}"],
                )

    def py_pins(self, py: str) -> list[str]:
        nxt = f"3.{int(py.split('.')[1]) + 1}"
        tag = "cp" + py.replace(".", "")
        return [f"python >={py},<{nxt}.0a0", f"python_abi {py}.* *_{tag}"]

    def py_ext(self) -> None:
        ctx = self.ctx
        for name, (n, libs, pydeps) in PY_EXT.items():
            versions = self.vers(name, n)
            for i, v in enumerate(versions):
                frac = (i + 1) / len(versions)
                window = PYTHONS[max(0, int(frac * 4) - 1) : int(frac * 4) + 3]
                for py in window:
                    tag = "py" + py.replace(".", "")
                    depends = [*_runtime(ctx.family), *(self.pin(d, frac) for d in libs), *self.py_pins(py)]
                    depends += [d for d in pydeps]
                    ctx.add(name, v, f"{tag}h{_hash7(ctx.rng)}_0", 0, depends, frac=frac)

    def noarch(self) -> None:
        ctx = self.ctx
        for name, (n, pydeps) in NOARCH.items():
            versions = self.vers(name, n)
            for i, v in enumerate(versions):
                frac = (i + 1) / len(versions)
                depends = ["python >=3.8", *pydeps]
                if name in ("tzdata",):
                    depends = []
                if name == "pexpect":
                    depends.append("__unix")
                if name in ("ipython", "terminado"):
                    # conda-forge's noarch packages with OS-specific deps: one build per OS family
                    ctx.add(
                        name,
                        v,
                        f"pyh707e725_{i % 2}",
                        i % 2,
                        [*depends, "__unix", "pexpect"],
                        frac=frac,
                        noarch=True,
                    )
                    ctx.add(
                        name,
                        v,
                        f"pyh7428d3b_{i % 2}",
                        i % 2,
                        [*depends, "__win", "colorama"],
                        frac=frac,
                        noarch=True,
                    )
                    continue
                ctx.add(name, v, f"pyhd8ed1ab_{i % 2}", i % 2, depends, frac=frac, noarch=True)

    def torch(self) -> None:
        """pytorch and torchvision: cpu builds everywhere, cuda builds (higher build number) on linux/win."""
        ctx = self.ctx
        fam = ctx.family
        omp = {
            "linux": ["_openmp_mutex >=4.5", "libgomp"],
            "osx": ["llvm-openmp >=16"],
            "win": ["intel-openmp"],
        }
        common_py = ["filelock", "fsspec", "jinja2", "networkx", "sympy", "typing_extensions", "numpy"]
        cuda_deps = [
            "__cuda",
            "cuda-version >=12.0,<13",
            "cuda-cudart >=12.0,<13.0a0",
            "cuda-nvrtc >=12.0,<13.0a0",
            "libcublas >=12.0,<13.0a0",
            "libcufft",
            "libcurand",
            "libcusparse",
            "libcusolver",
            "cuda-nvtx",
            "cudnn >=9,<10.0a0",
        ]
        if fam == "linux":
            cuda_deps.append("nccl >=2.21,<3.0a0")
        variants = [("cpu", 100)] + ([("cuda120", 300), ("cuda118", 200)] if fam in ("linux", "win") else [])
        for i, v in enumerate(TORCH_VERSIONS):
            frac = (i + 1) / len(TORCH_VERSIONS)
            mm = ".".join(v.split(".")[:2])
            window = PYTHONS[max(0, int(frac * 4) - 1) : int(frac * 4) + 3]
            for py in window:
                tag = "py" + py.replace(".", "")
                for variant, bn0 in variants:
                    for bn in (bn0, bn0 + 1):
                        depends = [
                            *_runtime(fam),
                            *omp[fam],
                            *self.py_pins(py),
                            *common_py,
                            self.pin("libprotobuf", frac),
                            self.pin("libabseil", frac),
                            "libuv",
                            "sleef",
                            "libblas",
                            "libcblas",
                            "liblapack",
                        ]
                        cons = [f"pytorch-cpu =={v}"] if variant == "cpu" else [f"pytorch-gpu =={v}"]
                        if variant == "cuda120":
                            depends = depends + cuda_deps
                        elif variant == "cuda118":
                            depends = [
                                *depends,
                                "__cuda",
                                "cuda-version >=11.8,<12",
                                "cudatoolkit >=11.8,<12",
                            ]
                        ctx.add(
                            "pytorch",
                            v,
                            f"{variant}_{tag}h{_hash7(ctx.rng)}_{bn}",
                            bn,
                            depends,
                            frac=frac,
                            constrains=cons,
                        )
                        tv = TORCHVISION_FOR[mm]
                        tv_deps = [
                            *_runtime(fam),
                            *self.py_pins(py),
                            "numpy",
                            "pillow",
                            "requests",
                            f"pytorch >={mm},<{mm}.99",
                            f"pytorch * {variant}*",
                        ]
                        if variant != "cpu":
                            tv_deps.append("__cuda")
                        ctx.add(
                            "torchvision",
                            tv,
                            f"{variant}_{tag}h{_hash7(ctx.rng)}_{bn}",
                            bn,
                            tv_deps,
                            frac=frac,
                        )


def _next_minor(version: str) -> str:
    major, minor = version.split(".")[:2]
    return f"{major}.{int(minor) + 1}.0a0"


# ------------------------------------------------------------------------------------------- filler
_SYL = (
    "ba",
    "co",
    "da",
    "fe",
    "gi",
    "ho",
    "ju",
    "ka",
    "lo",
    "mu",
    "ne",
    "po",
    "qua",
    "ri",
    "su",
    "ta",
    "vi",
    "wo",
    "xe",
    "ya",
    "zu",
    "tron",
    "lib",
    "py",
    "grid",
    "flux",
    "geo",
    "bio",
    "stat",
    "net",
    "io",
    "ml",
    "kit",
)
_PREFIX = (("r-", 0.18), ("lib", 0.10), ("py", 0.06), ("", 0.66))
FILLER_LIB_DEPS = ("libzlib", "openssl", "libcurl", "zstd", "xz", "bzip2", "libxml2", "libpng", "libffi")


def filler_universe(seed: int, count: int, taken: set[str]) -> list[tuple[str, str]]:
    """(name, kind) pairs, kind in {"lib", "pyext", "noarch"}; shared by every subdir (prefixes of it)."""
    rng = random.Random(f"{seed}:filler-names")
    out: list[tuple[str, str]] = []
    seen = set(taken)
    while len(out) < count:
        u, acc, prefix = rng.random(), 0.0, ""
        for p, share in _PREFIX:
            acc += share
            if u < acc:
                prefix = p
                break
        name = prefix + "".join(rng.choice(_SYL) for _ in range(rng.randint(2, 4)))
        if rng.random() < 0.3:
            name += "-" + "".join(rng.choice(_SYL) for _ in range(rng.randint(1, 2)))
        if name in seen:
            continue
        seen.add(name)
        kind = "lib" if prefix in ("r-", "lib") else ("pyext" if rng.random() < 0.43 else "lib")
        out.append((name, kind))
    return out


def _filler(ctx: _Ctx, core: _Core, seed: int, target: int, universe: list[tuple[str, str]]) -> None:
    """Fill ctx.records with filler until it holds `target` records."""
    noarch = ctx.subdir == "noarch"
    cdf = DEPENDS_CDF_NOARCH if noarch else DEPENDS_CDF_ARCH
    names = [(n, "noarch" if noarch else k) for n, k in universe]
    generated: list[tuple[str, list[str]]] = []  # names of this subdir, with their versions
    core_libs = [lib for lib in FILLER_LIB_DEPS if lib in core.versions]
    for name, kind in names:
        if len(ctx.records) >= target:
            break
        rng = random.Random(f"{seed}:{ctx.subdir}:{name}")
        n_versions = max(1, min(200, int(rng.paretovariate(1.15) * 1.6)))
        versions = _versions(rng, n_versions)
        r_pkg = name.startswith("r-")
        cuda = not noarch and ctx.family in ("linux", "win") and rng.random() < CUDA_SHARE
        for i, v in enumerate(versions):
            frac = (i + 1) / len(versions)
            n_deps = _cdf_sample(rng, cdf)
            depends: list[str] = []
            if not noarch:
                depends += _runtime(ctx.family, cxx=rng.random() < 0.5)
            if kind in ("pyext", "noarch"):
                depends.append("python >=3.8" if noarch else "python")
            if r_pkg:
                depends.append("r-base >=4.1,<4.5")
            while len(depends) < n_deps and generated:
                if not noarch and core_libs and rng.random() < 0.35:
                    depends.append(core.pin(rng.choice(core_libs), frac))
                    continue
                dep_name, dep_versions = generated[
                    min(len(generated) - 1, int(rng.random() ** 0.5 * len(generated)))
                ]
                dv = dep_versions[min(len(dep_versions) - 1, int(frac * len(dep_versions)))]
                form = rng.random()
                depends.append(
                    dep_name
                    if form < 0.3
                    else f"{dep_name} >={dv}"
                    if form < 0.6
                    else f"{dep_name} >={dv},<{_upper(dv)}"
                )
            depends = list(dict.fromkeys(depends))
            constrains = [f"{generated[-1][0]} >=0"] if generated and rng.random() < 0.1 else None
            tf = "cpu" if rng.random() < TRACK_FEATURES_SHARE else None
            if kind == "pyext" and not noarch:
                window = PYTHONS[max(0, int(frac * 4) - 1) : int(frac * 4) + 3]
                for py in window:
                    tag = "py" + py.replace(".", "")
                    deps = [d for d in depends if d != "python"] + core.py_pins(py)
                    ctx.add(name, v, f"{tag}h{_hash7(rng)}_0", 0, deps, frac=frac, constrains=constrains)
            else:
                n_builds = 1 if noarch else 1 + int(rng.random() < 0.35) + int(rng.random() < 0.1)
                for bn in range(n_builds):
                    build = f"pyhd8ed1ab_{bn}" if noarch else f"h{_hash7(rng)}_{bn}"
                    ctx.add(
                        name,
                        v,
                        build,
                        bn,
                        depends,
                        frac=frac,
                        constrains=constrains,
                        noarch=noarch,
                        track_features=tf,
                    )
            if cuda:
                cv = CUDA_VERSIONS[-3 + i % 3]
                deps = [*depends, "__cuda", f"cuda-version >={cv},<{_next_minor(cv)}", "cuda-cudart"]
                ctx.add(name, v, f"cuda{cv.replace('.', '')}h{_hash7(rng)}_100", 100, deps, frac=frac)
        generated.append((name, versions))
    if "r-base" not in {r["name"] for r in ctx.records.values()} and not noarch:
        for i, v in enumerate(("4.1.3", "4.2.3", "4.3.3", "4.4.1")):
            ctx.add(
                "r-base",
                v,
                f"h{_hash7(ctx.rng)}_0",
                0,
                [*_runtime(ctx.family), "libcurl", "libzlib"],
                frac=(i + 1) / 4,
            )


# ------------------------------------------------------------------------------------------- writing
def _pack(rec: dict) -> dict:
    packed = dict(rec)
    packed["md5"] = bytes.fromhex(rec["md5"])
    packed["sha256"] = bytes.fromhex(rec["sha256"])
    return packed


def build_subdir(subdir: str, records: int, seed: int) -> dict[str, dict]:
    """All records of one subdir, filename -> record, in a deterministic order."""
    ctx = _Ctx(subdir=subdir, rng=random.Random(f"{seed}:{subdir}"), records={})
    core = _Core(ctx, seed)
    if subdir == "noarch":
        core.noarch()
        core.cuda_version_noarch()
    else:
        core.libs()
        core.python()
        core.py_ext()
        core.torch()
    taken = (
        set(LIBS)
        | set(UNIX_LIBS)
        | set(LINUX_LIBS)
        | set(OSX_LIBS)
        | set(WIN_LIBS)
        | set(PY_EXT)
        | set(NOARCH)
    )
    taken |= {
        "python",
        "python_abi",
        "pytorch",
        "torchvision",
        "cuda-version",
        "r-base",
        "cudatoolkit",
        *CUDA_LIBS,
    }
    universe_size = max(50, int(records * 1.3 / 6))
    kinds = filler_universe(seed, universe_size, taken)
    # noarch uses names from the end of the universe so names rarely exist both as noarch and arch.
    universe = kinds[::-1] if subdir == "noarch" else kinds
    _filler(ctx, core, seed, records, universe)
    return ctx.records


def write_subdir(dest: Path, subdir: str, records: dict[str, dict], zstd_level: int = 3) -> dict[str, int]:
    dest.mkdir(parents=True, exist_ok=True)
    shards_dir = dest / "shards"
    shards_dir.mkdir(exist_ok=True)
    tar = {fn: r for fn, r in records.items() if fn.endswith(".tar.bz2")}
    conda = {fn: r for fn, r in records.items() if fn.endswith(".conda")}
    repodata = {"info": {"subdir": subdir}, "packages": tar, "packages.conda": conda, "repodata_version": 1}
    raw = json.dumps(repodata, separators=(",", ":"), sort_keys=False).encode()
    (dest / "repodata.json").write_bytes(raw)
    cctx = zstandard.ZstdCompressor(level=zstd_level)
    (dest / "repodata.json.zst").write_bytes(cctx.compress(raw))
    by_name: dict[str, dict[str, dict]] = {}
    for fn, rec in records.items():
        shard = by_name.setdefault(rec["name"], {"packages": {}, "packages.conda": {}})
        shard["packages.conda" if fn.endswith(".conda") else "packages"][fn] = _pack(rec)
    index: dict[str, bytes] = {}
    for name in sorted(by_name):
        data = cctx.compress(msgpack.packb(by_name[name], use_bin_type=True))
        digest = hashlib.sha256(data).digest()
        index[name] = digest
        (shards_dir / f"{digest.hex()}.msgpack.zst").write_bytes(data)
    shard_index = {
        "info": {"subdir": subdir, "base_url": "./", "shards_base_url": "./shards/"},
        "shards": index,
    }
    (dest / "repodata_shards.msgpack.zst").write_bytes(
        cctx.compress(msgpack.packb(shard_index, use_bin_type=True))
    )
    return {"records": len(records), "names": len(by_name), "json_bytes": len(raw)}


def generate(
    out: Path, records: int = 300_000, seed: int = 0, verbose: bool = False
) -> dict[str, dict[str, int]]:
    """Write the channel under out/conda-forge, return per-subdir stats; reuses an identical earlier run."""
    channel = out / CHANNEL
    stamp = out / "GENERATED.json"
    params = {"records": records, "seed": seed, "format": 2}
    if stamp.exists():
        saved = json.loads(stamp.read_text())
        if saved.get("params") == params:
            return saved["stats"]
    if channel.exists():
        shutil.rmtree(channel)
    stats = {}
    for subdir in SUBDIRS:
        started = time.perf_counter()
        recs = build_subdir(subdir, max(1, int(records * SCALE[subdir])), seed)
        stats[subdir] = write_subdir(channel / subdir, subdir, recs)
        if verbose:
            s = stats[subdir]
            print(
                f"  {subdir}: {s['records']} records, {s['names']} names, {s['json_bytes'] / 1e6:.0f} MB "
                f"({time.perf_counter() - started:.1f}s)",
                file=sys.stderr,
            )
        del recs
    stamp.write_text(json.dumps({"params": params, "stats": stats}, indent=1))
    return stats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "--records", type=int, default=300_000, help="linux-64 records (others scale from it)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    stats = generate(args.out, args.records, args.seed, verbose=True)
    print(json.dumps(stats, indent=1))


if __name__ == "__main__":
    main()
