"""The processes that compile bytecode for pyc_cache.py: the environment's (or its python package's)
interpreter running `py_compile` over (source, .pyc, name shown in tracebacks) triples, as many processes as
there are cores. `Compiler` gets its whole list at once (after the link); `Feeder` is started once and fed
one package at a time while archives are still being extracted."""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from cenv.install.pyc_cache import CompileJob, Interpreter

__all__ = ["Compiler", "Feeder"]

_TIMEOUT_S = 600
# Run by the environment's python (cenv is not importable there): compile the NUL-separated
# (source, cfile, dfile) triples of a listing file; a module that does not compile is skipped, as conda skips
# it. `Compiler` names one listing as its argument, `Feeder` writes one listing path per line on stdin.
# What `py_compile.compile` does for each, minus its per-call overhead (a loader object, `os.makedirs` raising
# for every file, a second stat of the source): the same `compile` call, the same timestamp header from the
# source's mtime and size (`_code_to_timestamp_pyc`), the same atomic write and mode, and the same refusal
# to replace a symbolic link or a non-file. Pythons without those helpers, and SOURCE_DATE_EPOCH (which
# makes py_compile write hash-based .pyc files), use py_compile itself.
_COMPILE = """
import sys, os, py_compile
try:
    from importlib._bootstrap_external import _code_to_timestamp_pyc, _write_atomic
except ImportError:
    _code_to_timestamp_pyc = None
if os.environ.get("SOURCE_DATE_EPOCH"):
    _code_to_timestamp_pyc = None
made = set()
def one(source, cfile, dfile):
    if _code_to_timestamp_pyc is None:
        py_compile.compile(source, cfile=cfile, dfile=dfile, doraise=True)
        return
    if os.path.islink(cfile) or (os.path.exists(cfile) and not os.path.isfile(cfile)):
        return
    with open(source, "rb") as handle:
        st = os.fstat(handle.fileno())
        data = handle.read()
    code = compile(data, dfile, "exec", dont_inherit=True)
    folder = os.path.dirname(cfile)
    if folder not in made:
        os.makedirs(folder, exist_ok=True)
        made.add(folder)
    _write_atomic(cfile, _code_to_timestamp_pyc(code, st.st_mtime, st.st_size), st.st_mode | 0o200)
def run(listing):
    data = open(listing, "rb").read().decode("utf-8", "surrogateescape").split("\\0")
    for i in range(0, len(data) - 2, 3):
        try:
            one(data[i], data[i + 1], data[i + 2])
        except Exception:
            pass
"""
_WORKER = _COMPILE + "run(sys.argv[1])\n"
# a `Feeder` worker answers each listing's path on stdout once it is compiled
_FEED_WORKER = (
    _COMPILE
    + "for line in sys.stdin:\n    run(line.rstrip('\\n'))\n"
    + "    sys.stdout.write(line)\n    sys.stdout.flush()\n"
)
_AHEAD = 2  # listings a Feeder worker holds: one compiling, one waiting (it never waits for the next)
_FILES_PER_PROCESS = 400  # below this, one more interpreter start costs more than it saves


class _Workers:
    """Compile processes and the listing files they read: written here, removed when the work ends."""

    def __init__(self) -> None:
        self._processes: list[subprocess.Popen[bytes]] = []
        self._listings: list[str] = []

    def _start(
        self, interpreter: Interpreter, script: str, *args: str, cwd: Path | None = None, piped: bool = False
    ) -> subprocess.Popen[bytes] | None:
        """One worker: the interpreter running `script` (bytecode writing allowed; stdin and stdout piped
        for a `Feeder`); None when it cannot start."""
        io = subprocess.PIPE if piped else subprocess.DEVNULL
        try:
            process = subprocess.Popen(
                [str(interpreter.python), "-Wi", "-c", script, *args],
                cwd=cwd,
                env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
                stdin=io,
                stdout=io,
                stderr=subprocess.DEVNULL,
            )
        except OSError:
            return None
        self._processes.append(process)
        return process

    def _listing(self, triples: Sequence[str]) -> str:
        """A listing file of flattened (source, .pyc, shown name) triples; its path."""
        with tempfile.NamedTemporaryFile("wb", suffix=".pycjobs", delete=False) as listing:
            listing.write("\0".join(triples).encode("utf-8", "surrogateescape"))
        self._listings.append(listing.name)
        return listing.name

    def _close_inputs(self) -> None:
        for process in self._processes:
            if process.stdin is not None:
                with contextlib.suppress(OSError, ValueError):
                    process.stdin.close()

    def wait(self) -> None:
        """Close the workers' inputs (a `Feeder`'s) and wait for each (killed past the timeout)."""
        try:
            self._close_inputs()
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
        cwd = staging if staging.is_dir() else None
        for n in range(count):
            listing = self._listing([x for t in triples[n::count] for x in t])
            if self._start(interpreter, _WORKER, listing, cwd=cwd) is None:
                break


class Feeder(_Workers):
    """Compile processes started once (one per core) and fed one package at a time as packages become
    ready (extracted): each job's (source, .pyc, shown name) triples go to a listing file, queued here;
    a worker gets the next listing (a line on its stdin) whenever it has fewer than `_AHEAD` unanswered,
    and answers each path once compiled (read by one thread per worker). So no worker idles while
    another still has a queue, and `finished()` yields each job as soon as it is compiled."""

    def __init__(self, interpreter: Interpreter, workers: int | None = None) -> None:
        super().__init__()
        self._interpreter = interpreter
        self._jobs: dict[str, CompileJob] = {}  # listing: job, until answered
        self._backlog: collections.deque[str] = collections.deque()  # listings no worker has yet
        self._unanswered: list[int] = []  # per worker
        self._alive: set[int] = set()  # workers whose input still takes listings
        self._closing = False
        self._lock = threading.Lock()
        self._answers: queue.SimpleQueue[str | None] = queue.SimpleQueue()  # None: a worker's output ended
        for _ in range(workers or os.cpu_count() or 1):
            process = self._start(interpreter, _FEED_WORKER, piped=True)
            if process is None:
                break
            n = len(self._processes) - 1
            self._unanswered.append(0)
            self._alive.add(n)
            assert process.stdout is not None
            threading.Thread(target=self._read, args=(n, process.stdout), daemon=True).start()

    def _read(self, worker: int, stream: IO[bytes]) -> None:
        try:
            for line in stream:
                with self._lock:
                    self._unanswered[worker] -= 1
                    self._dispatch()
                self._answers.put(line.decode("utf-8", "surrogateescape").rstrip("\n"))
        except (OSError, ValueError):
            pass
        finally:
            stream.close()
            with self._lock:
                self._alive.discard(worker)
                self._dispatch()
            self._answers.put(None)

    def _dispatch(self) -> None:
        """Hand queued listings to the workers with room (under the lock); once closing and nothing is
        queued, end the workers' inputs."""
        while self._backlog and self._alive:
            n = min(self._alive, key=lambda worker: self._unanswered[worker])
            if self._unanswered[n] >= _AHEAD:
                break
            listing = self._backlog.popleft()
            stdin = self._processes[n].stdin
            try:
                assert stdin is not None
                stdin.write(listing.encode("utf-8", "surrogateescape") + b"\n")
                stdin.flush()
            except (OSError, ValueError):  # the worker died: the others take its share
                self._backlog.appendleft(listing)
                self._alive.discard(n)
                continue
            self._unanswered[n] += 1
        if self._closing and not self._backlog:
            self._close_inputs()

    def add(self, job: CompileJob) -> bool:
        """Queue `job`; False when no worker runs (the job is then compiled later, after the link)."""
        if job.origins is None:  # read from the environment: only after the link
            return False
        tmp = os.path.join(job.tmp, "")  # strings, not Paths: every module of every package
        triples = [x for t in zip(job.origins, job.pycs, job.sources, strict=True) for x in t]
        triples[1::3] = [tmp + p for p in job.pycs]
        with self._lock:
            if not self._alive:
                return False
            listing = self._listing(triples)
            self._jobs[listing] = job
            self._backlog.append(listing)
            self._dispatch()
        return True

    def finished(self) -> Iterator[CompileJob]:
        """No more jobs: yield every job added, each as soon as it is compiled (those of a worker that died
        or was killed at the timeout at the end, with what they compiled)."""
        with self._lock:
            self._closing = True
            self._dispatch()
        deadline = time.monotonic() + _TIMEOUT_S
        readers = len(self._processes)
        try:
            while readers and self._jobs:
                try:
                    listing = self._answers.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:  # past the timeout: what was compiled is kept, as by `wait()`
                    for process in self._processes:
                        process.kill()
                    break
                if listing is None:
                    readers -= 1
                    continue
                with self._lock:
                    job = self._jobs.pop(listing, None)
                if job is not None:
                    yield job
            self.wait()
            with self._lock:
                queued = {listing: self._jobs.pop(listing) for listing in self._backlog}
                rest, self._jobs = list(self._jobs.values()), {}
                self._backlog.clear()
            if queued:  # every worker died before taking these: compiled now, not stored empty
                Compiler(self._interpreter, Path(tempfile.gettempdir()), list(queued.values())).wait()
            yield from [*rest, *queued.values()]
        finally:
            self.cancel()  # nothing left after `wait()`; kills the workers when the caller stopped early
