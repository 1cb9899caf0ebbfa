"""Progress callbacks of a create (fetch, link, messages); the CLI renders them (cenv.progress)."""

from __future__ import annotations

__all__ = ["Reporter"]


class Reporter:
    """Progress callbacks; the CLI subclasses this (rich bars, plain lines or nothing). No-ops here.

    `fetch_progress` is called from download threads. `link_package` is called only when
    `wants_link_progress`: rattler calling back into Python for every package slows its link step.
    """

    wants_link_progress = False

    def message(self, text: str) -> None:
        pass

    def warning(self, text: str) -> None:
        pass

    def fetch_start(self, count: int, total_bytes: int | None) -> None:
        pass

    def fetch_progress(self, nbytes: int) -> None:
        pass

    def fetch_package_done(self, name: str) -> None:
        pass

    def fetch_done(self) -> None:
        pass

    def link_start(self, count: int) -> None:
        pass

    def link_package(self, name: str) -> None:
        pass

    def link_done(self) -> None:
        pass

    def pip_progress(self, done: int, total: int) -> None:
        """`done` of the lock's `total` pip packages are installed (called from a polling loop)."""
