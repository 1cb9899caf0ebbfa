"""Shared fixtures. Keep this file small and generic; put helpers in ``tests/support/``."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Make `tests.support` importable however pytest is started (the console script does not put the repo root
# on sys.path; `pythonpath = ["."]` in [tool.pytest.ini_options] would do the same).
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.support.channel_factory import ChannelFactory, build_demo_channel  # noqa: E402
from tests.support.http_server import ChannelServer  # noqa: E402
from tests.support.network import pypi_problem, unreachable_message  # noqa: E402
from tests.support.realdata import REALDATA, require, session_problem  # noqa: E402

# conda's and rattler's settings from the developer's shell never reach a test (every CONDA_* variable too)
_REMOVED_ENV = ("CONDARC", "RATTLER_AUTH_FILE", "NETRC", "PIXI_HOME", "CENV_CONCURRENCY", "CENV_PYPI_MAPPING")


@pytest.fixture(autouse=True)
def isolate_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Keep every test away from the user's caches, colours and conda settings.

    Returns the per-test cache root (``CENV_CACHE_DIR``); rattler's package cache lands under
    ``XDG_CACHE_HOME``.
    """
    root = tmp_path_factory.mktemp("isolated-env")
    cenv_cache = root / "cenv-cache"
    monkeypatch.setenv("CENV_CACHE_DIR", str(cenv_cache))
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "xdg-cache"))
    monkeypatch.setenv("NO_COLOR", "1")
    # create registers environments in ~/.conda/environments.txt: never the user's own
    monkeypatch.setenv("HOME", str(root / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(root / "home" / ".config"))  # .condarc and config.toml there
    for name in list(os.environ):
        if name.startswith("CONDA_") or name in _REMOVED_ENV:
            monkeypatch.delenv(name, raising=False)
    return cenv_cache


@pytest.fixture
def channel_factory(tmp_path: Path) -> Callable[..., ChannelFactory]:
    """``channel_factory(name="demo")`` -> a new :class:`ChannelFactory` under ``tmp_path / "channels"``."""

    def make(name: str = "demo") -> ChannelFactory:
        return ChannelFactory(tmp_path / "channels", name)

    return make


@pytest.fixture(scope="session")
def demo_channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo channel (see ``build_demo_channel``), built once per session. Treat it as read-only."""
    return build_demo_channel(tmp_path_factory.mktemp("demo-channel"))


@pytest.fixture(scope="session")
def demo_web_root(demo_channel: Path) -> Path:
    """A web root with the session's demo channel at `/demo` (read-only, as `demo_channel`)."""
    return demo_channel.parent


@pytest.fixture
def http_channel_server() -> Iterator[Callable[[Path], ChannelServer]]:
    """``http_channel_server(root)`` -> a running :class:`ChannelServer` for ``root``, stopped after the
    test."""
    servers: list[ChannelServer] = []

    def serve(root: Path) -> ChannelServer:
        server = ChannelServer(root).start()
        servers.append(server)
        return server

    yield serve
    for server in servers:
        server.stop()


# ---------------------------------------------------- the real-world layer (tests/support/realdata.py)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "realdata(*relpaths): reads ../shared/realdata (or those paths under it): skips where it is absent, "
        "fails when CI is set",
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    problem = session_problem()
    if problem:
        raise pytest.UsageError(problem)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("realdata"):
        require(*mark.args)
    if item.get_closest_marker("network") is not None:  # see tests/support/network.py: fail, never skip
        problem = pypi_problem()
        if problem:
            pytest.fail(unreachable_message(problem), pytrace=False)


@pytest.fixture(scope="session")
def realdata() -> Path:
    """``../shared/realdata`` (read-only real-world repodata, specs and lockfiles); skips the test where it
    is absent (fails it when CI is set)."""
    require()
    return REALDATA
