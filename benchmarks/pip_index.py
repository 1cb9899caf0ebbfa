"""The ML spec's pip part: a local PEP 503 index of real generated wheels, shaped like an ML project's.

    from pip_index import ML_PIP, build_pip_index
    index = build_pip_index(work / "pypi")          # 60 wheels, deterministic, ~0.1 s
    with WheelIndexServer(index.root) as server:    # tests/support/wheel_factory.py
        url = server.url + "/simple"

ML_PIP names 9 PyPI-only top-level requirements (wandb, lightning, hydra-core, timm, accelerate,
datasets, ...); their dependency trees are 2-3 levels deep: 38 PyPI-only distributions per platform, 60
wheels, 7 distributions with CPython 3.11 platform wheels for linux-64 (manylinux_2_17), osx-arm64
(macosx_11_0) and win-64, the rest universal (`py3-none-any`), a few with older versions beside the newest.
Many depend on what the conda part of the ML spec provides (torch, torchvision, numpy, pandas, pyarrow,
requests, pyyaml, tqdm, packaging, huggingface-hub, ...), so the conda-provided pins are exercised. As on
real PyPI, the index also has those at the versions conda picks (`provided`: what the ML spec's conda
solves give, see :func:`conda_versions`), so a plain `uv pip compile` with `-c` pins can resolve; cenv adds
its own metadata-only stubs for them anyway. Their conda versions are synthetic (generate_channel.py), so
requirements on them are bare names, except numpy and torch, whose versions there are real.

PYPI_MAPPING is the conda -> PyPI name table for the conda packages whose PyPI name differs (what
parselmouth says for conda-forge): `cenv` reads it through CENV_PYPI_MAPPING, raw_rattler_lock.py through
--pypi-mapping.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.support.wheel_factory import WheelIndex, WheelIndexServer

#: The spec's `pip:` lines (besides the index line).
ML_PIP = (
    "wandb>=0.17",
    "lightning>=2.3",
    "hydra-core>=1.3",
    "einops",
    "timm",
    "accelerate>=0.30",
    "datasets>=2.19",
    "tensorboard",
    "rich",
)

#: conda name -> PyPI name where they differ (a parselmouth-style mapping: {"conda": "pypi" | null}).
PYPI_MAPPING: dict[str, str | None] = {
    "pytorch": "torch",
    "matplotlib-base": "matplotlib",
    "brotli-python": "brotli",
    "nbconvert-core": "nbconvert",
    "python-tzdata": "tzdata",
    "tzdata": None,  # the conda package is the IANA database, not the PyPI distribution
}

_PLATFORM_TAGS = (
    "cp311-cp311-manylinux_2_17_x86_64",
    "cp311-cp311-macosx_11_0_arm64",
    "cp311-cp311-win_amd64",
)

# name -> (versions oldest first, requirements of every version, platform wheels?)
_PACKAGES: dict[str, tuple[tuple[str, ...], tuple[str, ...], bool]] = {
    "wandb": (
        ("0.17.9", "0.18.7"),
        (
            "click>=7.1",
            "docker-pycreds>=0.4.0",
            "gitpython>=1.0.0",
            "platformdirs",
            "protobuf>=3.19.0",
            "psutil",
            "pyyaml",
            "requests",
            "sentry-sdk>=2.0.0",
            "setproctitle",
            "setuptools",
            "typing-extensions",
        ),
        False,
    ),
    "click": (("8.1.7",), ('colorama; platform_system == "Windows"',), False),
    "docker-pycreds": (("0.4.0",), ("six",), False),
    "gitpython": (("3.1.43",), ("gitdb<5,>=4.0.1",), False),
    "gitdb": (("4.0.11",), ("smmap<6,>=3.0.1",), False),
    "smmap": (("5.0.1",), (), False),
    "protobuf": (("5.28.3",), (), True),
    "sentry-sdk": (("2.18.0",), ("certifi", "urllib3"), False),
    "setproctitle": (("1.3.4",), (), True),
    "einops": (("0.8.0",), (), False),
    "lightning": (
        ("2.3.3", "2.4.0"),
        (
            "fsspec",
            "lightning-utilities<2.0,>=0.10.0",
            "numpy<3.0,>=1.17.2",
            "packaging",
            "pyyaml",
            "torch<4.0,>=2.1.0",
            "torchmetrics<3.0,>=0.7.0",
            "tqdm",
            "typing-extensions",
        ),
        False,
    ),
    "lightning-utilities": (("0.11.9",), ("packaging", "setuptools", "typing-extensions"), False),
    "torchmetrics": (
        ("1.5.2", "1.6.0"),
        ("lightning-utilities>=0.8.0", "numpy>1.20.0", "packaging", "torch>=2.0.0"),
        False,
    ),
    "hydra-core": (("1.3.2",), ("antlr4-python3-runtime==4.9.*", "omegaconf<2.4,>=2.2", "packaging"), False),
    "omegaconf": (("2.3.0",), ("antlr4-python3-runtime==4.9.*", "pyyaml"), False),
    "antlr4-python3-runtime": (("4.9.3",), (), False),
    "timm": (
        ("0.9.16", "1.0.11"),
        ("huggingface-hub", "pyyaml", "safetensors", "torch", "torchvision"),
        False,
    ),
    "accelerate": (
        ("1.1.1",),
        (
            "huggingface-hub",
            "numpy<3.0.0,>=1.17",
            "packaging",
            "psutil",
            "pyyaml",
            "safetensors",
            "torch>=1.10.0",
        ),
        False,
    ),
    "datasets": (
        ("2.21.0", "3.1.0"),
        (
            "aiohttp",
            "dill<0.3.9,>=0.3.0",
            "filelock",
            "fsspec",
            "huggingface-hub",
            "multiprocess<0.70.17",
            "numpy>=1.17",
            "packaging",
            "pandas",
            "pyarrow",
            "pyyaml",
            "requests",
            "tqdm",
            "xxhash",
        ),
        False,
    ),
    "dill": (("0.3.8",), (), False),
    "multiprocess": (("0.70.16",), ("dill>=0.3.8",), False),
    "xxhash": (("3.5.0",), (), True),
    "aiohttp": (
        ("3.11.7",),
        (
            "aiohappyeyeballs>=2.3.0",
            "aiosignal>=1.1.2",
            "attrs",
            "frozenlist>=1.1.1",
            "multidict<7.0,>=4.5",
            "yarl<2.0,>=1.17.0",
        ),
        True,
    ),
    "aiohappyeyeballs": (("2.4.3",), (), False),
    "aiosignal": (("1.3.1",), ("frozenlist>=1.1.0",), False),
    "frozenlist": (("1.5.0",), (), True),
    "multidict": (("6.1.0",), ("typing-extensions",), True),
    "yarl": (("1.17.2",), ("idna", "multidict>=4.0", "propcache>=0.2.0"), True),
    "propcache": (("0.2.0",), (), False),
    "tensorboard": (
        ("2.18.0",),
        (
            "absl-py>=0.4",
            "grpcio>=1.48.2",
            "markdown>=2.6.8",
            "numpy>=1.12.0",
            "packaging",
            "protobuf!=4.24.0,>=3.19.6",
            "setuptools",
            "six",
            "tensorboard-data-server<0.8.0,>=0.7.0",
            "werkzeug>=1.0.1",
        ),
        False,
    ),
    "absl-py": (("2.1.0",), (), False),
    "grpcio": (("1.68.0",), (), True),
    "markdown": (("3.7",), (), False),
    "tensorboard-data-server": (("0.7.2",), (), False),
    "werkzeug": (("3.1.3",), ("markupsafe",), False),
    "rich": (("13.9.4",), ("markdown-it-py>=2.2.0", "pygments", "typing-extensions"), False),
    "markdown-it-py": (("3.0.0",), ("mdurl~=0.1",), False),
    "mdurl": (("0.1.2",), (), False),
}


def build_pip_index(root: Path, provided: Mapping[str, Iterable[str]] | None = None) -> WheelIndex:
    """Write the wheels and the PEP 503 pages under `root` (files/, simple/); deterministic.

    `provided`: PyPI name -> versions conda provides; those that the pip packages require get a universal
    wheel each (the PyPI counterpart of the conda package).
    """
    from tests.support.wheel_factory import WheelIndex

    index = WheelIndex(root)
    for name, (versions, requires, platform_wheels) in _PACKAGES.items():
        for version in versions:
            for tag in _PLATFORM_TAGS if platform_wheels else ("py3-none-any",):
                index.add(name, version, requires=list(requires), tag=tag)
    wanted = required_names() - set(_PACKAGES)
    provided = provided or {}
    for name in sorted(wanted & set(provided)):
        for version in sorted(set(provided[name])):
            index.add(name, version)
    return index.write()


def required_names() -> set[str]:
    """Every distribution some pip package of the index requires (normalised names)."""
    return {re.split(r"[\s;<>=!~\[]", r, maxsplit=1)[0] for _, reqs, _ in _PACKAGES.values() for r in reqs}


def conda_versions(
    channel_url: str, specs: Sequence[str], platforms: Sequence[str], cudas: Sequence[str | None]
) -> dict[str, set[str]]:
    """PyPI name -> versions that the conda solves of `specs` provide, over platforms and CUDA variants
    (raw_rattler_lock's solves and name mapping; the cache is thrown away)."""
    import asyncio

    import rattler
    from rattler import MatchSpec
    from raw_rattler_lock import conda_provided, virtual_packages

    async def solve_all() -> list[list[rattler.RepoDataRecord]]:
        with tempfile.TemporaryDirectory(prefix="pip-index-") as tmp:
            gateway = rattler.Gateway(cache_dir=tmp)
            channels = [rattler.Channel(channel_url.rstrip("/") + "/")]
            return list(
                await asyncio.gather(
                    *(
                        rattler.solve(
                            channels,
                            [MatchSpec(s) for s in specs],
                            gateway=gateway,
                            platforms=[platform, "noarch"],
                            virtual_packages=virtual_packages(platform, cuda),
                        )
                        for platform in platforms
                        for cuda in cudas
                    )
                )
            )

    found: dict[str, set[str]] = {}
    for records in asyncio.run(solve_all()):
        for name, version in conda_provided(records, PYPI_MAPPING).items():
            found.setdefault(name, set()).add(version)
    return found


def write_mapping(path: Path) -> Path:
    path.write_text(json.dumps(PYPI_MAPPING, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def wheel_count() -> int:
    return sum(len(v) * (len(_PLATFORM_TAGS) if p else 1) for v, _, p in _PACKAGES.values())


def pip_distributions() -> int:
    """PyPI-only distributions per platform (click's colorama is Windows-only, and conda's there)."""
    return len(_PACKAGES)


def pypi_server(root: Path) -> WheelIndexServer:
    """A :class:`WheelIndexServer` for `root` whose index pages say `max-age=600`, as PyPI's simple API does
    (the test server's `max-age=0` would make every warm uv run revalidate every page)."""
    from tests.support.wheel_factory import WheelIndexServer, _IndexHandler

    class Handler(_IndexHandler):
        def send_header(self, keyword: str, value: str) -> None:
            if keyword.lower() == "cache-control":
                value = "public, max-age=600"
            super().send_header(keyword, value)

    class Server(WheelIndexServer):
        def start(self) -> WheelIndexServer:
            super().start()
            assert self._server is not None
            self._server.RequestHandlerClass = Handler
            return self

    return Server(root)
