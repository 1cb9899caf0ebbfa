"""Transfer deadlines: a download that makes no progress, or less than a floor, for
`CONDA_REMOTE_READ_TIMEOUT_SECS` seconds (conda's setting and default) has failed.

A socket timeout alone is per read: a server that sends a kilobyte every 20 seconds never trips it. The
watch here looks at the bytes that arrived in the last `timeout` seconds, like curl's `--speed-time` /
`--speed-limit`. `TransferWatch` is fed by a reading loop (archive downloads); `until_stalled` guards an
engine call whose progress is only visible on disk (rattler's repodata fetches).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from cenv.env_vars import (
    CONDA_REMOTE_READ_TIMEOUT_SECS,
    DEFAULT_REMOTE_READ_TIMEOUT_SECS,
    MIN_TRANSFER_BYTES_PER_SEC,
)

__all__ = [
    "Stalled",
    "TransferWatch",
    "directory_bytes",
    "read_timeout",
    "repodata_deadline",
    "stalled_hint",
    "until_stalled",
]

T = TypeVar("T")


class Stalled(Exception):
    """A transfer below the floor for the whole deadline. `str()` says how little arrived."""

    def __init__(self, received: int, seconds: float) -> None:
        self.received = received
        self.seconds = seconds
        what = "no data" if received == 0 else f"only {received} bytes"
        super().__init__(f"{what} in {seconds:g} s")


class TransferWatch:
    """Bytes arrived per moment; `feed()` raises `Stalled` when the last `timeout` seconds brought fewer than
    `timeout * floor` bytes (and the transfer is at least that old)."""

    def __init__(self, timeout: float, floor: int = MIN_TRANSFER_BYTES_PER_SEC) -> None:
        self.timeout = timeout
        self.floor = floor
        self.started = time.monotonic()
        self._window: deque[tuple[float, int]] = deque()
        self._in_window = 0

    def feed(self, nbytes: int) -> None:
        now = time.monotonic()
        self._window.append((now, nbytes))
        self._in_window += nbytes
        horizon = now - self.timeout
        while self._window and self._window[0][0] < horizon:
            self._in_window -= self._window.popleft()[1]
        if now - self.started >= self.timeout and self._in_window < self.floor * self.timeout:
            raise Stalled(self._in_window, self.timeout)


def read_timeout() -> float:
    """The deadline in seconds: `remote_read_timeout_secs` of the configuration (.condarc, overridden by
    $CONDA_REMOTE_READ_TIMEOUT_SECS; cenv.config), else conda's default of 60."""
    from cenv.config import current_config

    value = current_config().remote_read_timeout_secs
    return float(value) if value else DEFAULT_REMOTE_READ_TIMEOUT_SECS


def stalled_hint(server: str, timeout: float) -> str:
    """What to do about a `Stalled` transfer from `server`, `timeout` being the deadline it ran under."""
    return (
        f"{server} is too slow or not answering; {CONDA_REMOTE_READ_TIMEOUT_SECS} (or "
        f"`remote_read_timeout_secs` in .condarc; now {timeout:g}) sets how long a transfer may go "
        "without progress"
    )


async def until_stalled(
    work: Awaitable[T],
    progress: Callable[[], int],
    timeout: float,
    interval: float = 0.25,
    busy_counts: bool = True,
    progress_blocks: bool = True,
) -> T:
    """Await `work`; raise `Stalled` (cancelling it) once `progress()` (a byte count that grows while data
    arrives, e.g. the size of a download directory) grew by less than the floor for `timeout` seconds.
    With `busy_counts`, a busy process (the solver, parsing repodata) is making progress too.
    `progress_blocks=False`: `progress()` only reads a counter, so it runs on the loop: a thread for it
    would cost each short download (one event loop per archive) an executor started and joined."""

    async def sample() -> int:
        return await asyncio.to_thread(progress) if progress_blocks else progress()

    task = asyncio.ensure_future(work)
    watch = TransferWatch(timeout)
    last = await sample()
    cpu = time.process_time()
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=interval)
            if done:
                return task.result()
            now, cpu_now = await sample(), time.process_time()
            busy = busy_counts and cpu_now - cpu > interval * 0.2
            watch.feed(int(watch.floor * timeout) if busy else max(0, now - last))
            last, cpu = now, cpu_now
    except Stalled:
        task.cancel()
        raise


def directory_bytes(path: Path) -> int:
    """Bytes in the files directly inside `path` (rattler streams repodata into temporaries there)."""
    total = 0
    with contextlib.suppress(OSError), os.scandir(path) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
    return total


async def repodata_deadline(work: Awaitable[T], cache_dir: Path, channels: Sequence[str]) -> T:
    """Await a gateway query or solve (`work`); a repodata download without progress for
    CONDA_REMOTE_READ_TIMEOUT_SECS fails with a `ChannelError` naming the channels."""
    from cenv.errors import ChannelError
    from cenv.redact import redact

    timeout = read_timeout()
    try:
        return await until_stalled(work, lambda: directory_bytes(cache_dir), timeout)
    except Stalled as exc:
        shown = ", ".join(redact(c) for c in channels)
        raise ChannelError(
            f"fetching repodata from {shown} stalled: {exc}",
            hints=[stalled_hint("the channel server", timeout)],
        ) from exc
