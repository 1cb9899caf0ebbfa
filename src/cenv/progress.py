"""Progress for `cenv create`: rich bars on a terminal, plain lines otherwise, nothing with --quiet/--json.

The library reports through the callbacks of `cenv.install.conda.Reporter`; these classes render them.
"""

from __future__ import annotations

import sys
from typing import Any

from cenv.console import Console
from cenv.install.conda import Reporter


def human_size(size: int | None) -> str:
    if size is None:
        return "unknown size"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


class _PipLines:
    """`pip: 3/40 packages installed` lines, at most one every two seconds (and the last)."""

    def __init__(self) -> None:
        self.shown = 0.0

    def due(self, done: int, total: int) -> bool:
        import time

        now = time.monotonic()
        if done == total or now - self.shown >= 2.0:
            self.shown = now
            return True
        return False


class PlainReporter(Reporter):
    """Progress as plain lines on stderr (not a terminal), or nothing (--quiet / --json)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.linked = 0
        self.pip_lines = _PipLines()

    def close(self) -> None:
        pass

    def message(self, text: str) -> None:
        self.console.info(text)

    def warning(self, text: str) -> None:
        self.console.warn(text)

    def fetch_start(self, count: int, total_bytes: int | None) -> None:
        size = f" ({human_size(total_bytes)})" if total_bytes is not None else ""
        self.console.info(f"downloading {count} packages{size}")

    def fetch_progress(self, nbytes: int) -> None:
        pass

    def fetch_package_done(self, name: str) -> None:
        self.console.info(f"  downloaded {name}")

    def fetch_done(self) -> None:
        pass

    def link_start(self, count: int) -> None:
        self.linked = count
        self.console.info(f"linking {count} packages")

    def link_done(self) -> None:
        self.console.info(f"linked {self.linked} packages")

    def pip_progress(self, done: int, total: int) -> None:
        if self.pip_lines.due(done, total):
            self.console.info(f"pip: {done}/{total} packages installed")


class RichReporter(PlainReporter):
    """Rich progress bars for download and link on a terminal (stderr)."""

    wants_link_progress = True

    def __init__(self, console: Console) -> None:
        from rich.console import Console as RichConsole
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TransferSpeedColumn,
        )

        super().__init__(console)
        rich_console = RichConsole(stderr=True)
        self.downloads = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=rich_console,
            transient=True,
        )
        self.links = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=rich_console,
            transient=True,
        )
        self.download_task: Any = None
        self.link_task: Any = None
        self.pip_task: Any = None

    def close(self) -> None:
        self.downloads.stop()
        self.links.stop()

    def fetch_start(self, count: int, total_bytes: int | None) -> None:
        self.downloads.start()
        self.download_task = self.downloads.add_task(f"downloading {count} packages", total=total_bytes)

    def fetch_progress(self, nbytes: int) -> None:
        if self.download_task is not None:
            self.downloads.advance(self.download_task, nbytes)

    def fetch_package_done(self, name: str) -> None:
        pass

    def fetch_done(self) -> None:
        self.downloads.stop()

    def link_start(self, count: int) -> None:
        self.links.start()
        self.link_task = self.links.add_task("linking", total=count)

    def link_package(self, name: str) -> None:
        self.linked += 1
        if self.link_task is not None:
            self.links.update(self.link_task, advance=1, description=f"linking {name}")

    def link_done(self) -> None:
        self.links.stop()

    def pip_progress(self, done: int, total: int) -> None:
        if self.pip_task is None:
            self.links.start()
            self.pip_task = self.links.add_task("installing pip packages", total=total)
        self.links.update(self.pip_task, completed=done)
        if done >= total:
            self.links.stop()


def make_reporter(console: Console) -> PlainReporter:
    if console.quiet or console.json_output:
        return PlainReporter(console)  # Console drops info lines; warnings still show
    if sys.stderr.isatty():
        return RichReporter(console)
    return PlainReporter(console)
