"""Running uv: its binary, the environment it sees, foreground and background runs."""

from __future__ import annotations

import math
import os
import subprocess
import threading
from collections.abc import Mapping, Sequence

from cenv.errors import InternalError
from cenv.net import network, public_environment

_UV_ENV_KEPT = (
    "UV_CACHE_DIR",
    "UV_NATIVE_TLS",
    "UV_SYSTEM_CERTS",
    "UV_HTTP_TIMEOUT",
    "UV_HTTP_RETRIES",
    "UV_CONCURRENT_DOWNLOADS",
)
_UV_LOCK = threading.Lock()
_uv_path: str | None = None


def uv_binary() -> str:
    """uv's binary, looked up once. Platforms run their pip stage in threads, and `find_uv_bin` reads
    `sysconfig`, whose first initialisation is not thread-safe (two threads at once: `EXE` came back None)."""
    global _uv_path
    with _UV_LOCK:
        if _uv_path is None:
            try:
                from uv import find_uv_bin

                _uv_path = str(find_uv_bin())
            except (ImportError, FileNotFoundError) as exc:
                raise InternalError(
                    "uv is not installed next to cenv", hints=["reinstall cenv: it depends on `uv`"]
                ) from exc
        return _uv_path


def uv_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_") or k in _UV_ENV_KEPT}
    env.pop("MACOSX_DEPLOYMENT_TARGET", None)
    env.pop("VIRTUAL_ENV", None)
    env.pop("CONDA_PREFIX", None)
    env["NO_COLOR"] = "1"
    public_environment(env)  # uv and the build backends it runs get no RATTLER_AUTH_FILE of cenv's
    net = network()
    env.update(net.uv_environment())  # index credentials by host, never on uv's command line
    timeout = net.config.remote_read_timeout_secs
    if timeout is not None and "UV_HTTP_TIMEOUT" not in os.environ:
        # CONDA_REMOTE_READ_TIMEOUT_SECS (or .condarc) bounds uv's reads as it bounds conda archives',
        # and a stalled wheel or index page is not retried either (uv's own: 30 s, three retries)
        env["UV_HTTP_TIMEOUT"] = str(max(1, math.ceil(timeout)))
        env.setdefault("UV_HTTP_RETRIES", "0")
    env.update(extra)
    return env


def run_uv(
    args: Sequence[str], env: Mapping[str, str], what: str, cwd: str | None = None
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [uv_binary(), *args],
            env=dict(env),
            cwd=cwd,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
    except OSError as exc:
        raise InternalError(f"cannot run uv for {what}: {exc}") from exc


def start_uv(
    args: Sequence[str], env: Mapping[str, str], what: str, cwd: str | None = None
) -> subprocess.Popen[str]:
    """uv in the background; :func:`finish_uv` collects it."""
    try:
        return subprocess.Popen(
            [uv_binary(), *args],
            env=dict(env),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
    except OSError as exc:
        raise InternalError(f"cannot run uv for {what}: {exc}") from exc


def finish_uv(proc: subprocess.Popen[str], *, kill: bool = False) -> subprocess.CompletedProcess[str]:
    if kill:
        proc.kill()
    stdout, stderr = proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
