"""The processes that compile bytecode for pyc_cache.py: the environment's (or its python package's)
interpreter running `py_compile` over (source, .pyc, name shown in tracebacks) triples, as many processes as
there are cores. `Compiler` gets its whole list at once (after the link); `Feeder` is started once and fed
one package at a time while archives are still being extracted."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cenv.install.pyc_cache import CompileJob, Interpreter

__all__ = ["Compiler", "Feeder"]

_TIMEOUT_S = 600
# Run by the environment's python (cenv is not importable there): compile the NUL-separated
# (source, cfile, dfile) triples of a listing file; a module that does not compile is skipped, as conda skips
# it. `Compiler` names one listing as its argument, `Feeder` writes one listing path per line on stdin.
_COMPILE = """
import sys, py_compile
def run(listing):
    data = open(listing, "rb").read().decode("utf-8", "surrogateescape").split("\\0")
    for i in range(0, len(data) - 2, 3):
        try:
            py_compile.compile(data[i], cfile=data[i + 1], dfile=data[i + 2], doraise=True)
        except Exception:
            pass
"""
_WORKER = _COMPILE + "run(sys.argv[1])\n"
_FEED_WORKER = _COMPILE + "for line in sys.stdin:\n    run(line.rstrip('\\n'))\n"
_FILES_PER_PROCESS = 400  # below this, one more interpreter start costs more than it saves


def _environment() -> dict[str, str]:
    """The workers' environment: this one, with bytecode writing allowed."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


class _Workers:
    """Compile processes and the listing files they read: written here, removed when the work ends."""

    def __init__(self) -> None:
        self._processes: list[subprocess.Popen[bytes]] = []
        self._listings: list[str] = []

    def _listing(self, triples: Sequence[str]) -> str:
        """A listing file of flattened (source, .pyc, shown name) triples; its path."""
        with tempfile.NamedTemporaryFile("wb", suffix=".pycjobs", delete=False) as listing:
            listing.write("\0".join(triples).encode("utf-8", "surrogateescape"))
        self._listings.append(listing.name)
        return listing.name

    def wait(self) -> None:
        """Close the workers' inputs (a `Feeder`'s) and wait for each (killed past the timeout)."""
        try:
            for process in self._processes:
                if process.stdin is not None:
                    with contextlib.suppress(OSError, ValueError):
                        process.stdin.close()
            for process in self._processes:
                try:
                    process.wait(timeout=_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        finally:
            self._cleanup()

    def cancel(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stdin is not None:
                with contextlib.suppress(OSError, ValueError):
                    process.stdin.close()
        self._cleanup()

    def _cleanup(self) -> None:
        self._processes = []
        for name in self._listings:
            with contextlib.suppress(OSError):
                os.unlink(name)
        self._listings = []


class Compiler(_Workers):
    """The environment's python compiling `jobs` (and `loose` sources straight into the environment), in
    as many processes as there are cores, started at once; `wait()` ends them."""

    def __init__(
        self,
        interpreter: Interpreter,
        staging: Path,
        jobs: Sequence[CompileJob],
        loose: Sequence[str] = (),
    ) -> None:
        super().__init__()
        triples: list[tuple[str, str, str]] = []
        for job in jobs:
            origins = job.origins or [str(staging / s) for s in job.sources]
            triples += [
                (origin, str(job.tmp / p), s)
                for origin, s, p in zip(origins, job.sources, job.pycs, strict=True)
            ]
        triples += [(str(staging / s), str(staging / interpreter.pyc_path(s)), s) for s in loose]
        if not triples:
            return
        count = max(1, min(os.cpu_count() or 1, len(triples) // _FILES_PER_PROCESS))
        env = _environment()
        for n in range(count):
            listing = self._listing([x for t in triples[n::count] for x in t])
            try:
                self._processes.append(
                    subprocess.Popen(
                        [str(interpreter.python), "-Wi", "-c", _WORKER, listing],
                        cwd=staging if staging.is_dir() else None,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            except OSError:
                break


class Feeder(_Workers):
    """Compile processes started once (one per core) and fed one package at a time as packages become
    ready (extracted): each job's (source, .pyc, shown name) triples go to a listing file whose path is a
    line on the least busy worker's stdin. `wait()` closes the inputs and waits."""

    def __init__(self, interpreter: Interpreter, workers: int | None = None) -> None:
        super().__init__()
        self._pending: list[int] = []
        env = _environment()
        for _ in range(workers or os.cpu_count() or 1):
            try:
                process = subprocess.Popen(
                    [str(interpreter.python), "-Wi", "-c", _FEED_WORKER],
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            except OSError:
                break
            self._processes.append(process)
            self._pending.append(0)

    def add(self, job: CompileJob) -> bool:
        """Queue `job`; False when no worker runs (the job is then compiled later, after the link)."""
        if job.origins is None:  # read from the environment: only after the link
            return False
        cfiles = [str(job.tmp / p) for p in job.pycs]
        triples = [x for t in zip(job.origins, cfiles, job.sources, strict=True) for x in t]
        while self._processes:
            n = self._pending.index(min(self._pending))
            listing = self._listing(triples)
            stdin = self._processes[n].stdin
            try:
                assert stdin is not None
                stdin.write(listing.encode() + b"\n")
                stdin.flush()
            except (OSError, ValueError):  # the worker died: the others take its share
                self._processes.pop(n)
                self._pending.pop(n)
                continue
            self._pending[n] += len(job.sources)
            return True
        return False
