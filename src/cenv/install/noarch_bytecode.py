"""The noarch python packages' bytecode for one environment (finish.py drives it): compiled into the
package cache once per package and interpreter and linked from there (pyc_cache.py); what the cache lacks
starts compiling right after extraction (`EarlyBytecode`), the rest after the link."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from cenv.install.archive_guard import entry_binding
from cenv.install.pyc_cache import (
    Cached,
    CompileJob,
    Interpreter,
    cached_manifest,
    discard,
    entry_sources,
    known_interpreter,
    link_checked,
    link_files,
    probe,
    remember,
    store,
)
from cenv.install.pyc_compile import Compiler, Feeder

__all__ = ["Counts", "EarlyBytecode", "NoarchBytecode"]


class Counts(Protocol):
    pyc_files: int
    pyc_compiled: int
    pyc_from_cache: int


class NoarchBytecode:
    """The noarch python packages' bytecode for one environment: linked from the package cache at once
    where it is there for this interpreter (pyc_cache.py), the rest compiled into the cache and linked in
    `finish`. Sources rewritten at link time (a prefix placeholder) are compiled in place, never cached."""

    def __init__(
        self,
        interpreter: Interpreter,
        linked: dict[str, list[str]],
        jobs: list[CompileJob],
        loose: dict[str, list[str]],
        compiler: Compiler,
        early: EarlyBytecode | None = None,
    ) -> None:
        self.interpreter = interpreter
        self.linked = linked
        self.jobs = jobs  # this run's, early ones included, stored and linked by `finish`
        self.loose = loose
        self.compiler = compiler
        self.early = early

    @classmethod
    def start(
        cls,
        interpreter: Interpreter,
        staging: Path,
        pkgs_dir: Path,
        sources: Mapping[str, list[str]],
        bindings: Mapping[str, str],
        rewritten: set[str],
        prelinked: Mapping[str, tuple[tuple[str, ...], list[str]]],
        early: EarlyBytecode | None = None,
    ) -> NoarchBytecode:
        compiling = dict(early.jobs) if early is not None else {}
        linked: dict[str, list[str]] = {}
        jobs: list[CompileJob] = []
        loose: dict[str, list[str]] = {}
        for dist, group in sources.items():
            binding = bindings.get(dist)
            cacheable = [s for s in group if s not in rewritten] if binding is not None else []
            rest = [s for s in group if s not in cacheable]
            if rest:
                loose[dist] = rest
            if not cacheable or binding is None:
                continue
            entry = pkgs_dir / dist
            prior = prelinked.get(dist)
            if prior is not None and prior[0] == tuple(sorted(cacheable)):
                linked[dist] = prior[1]
                continue
            for stale in prior[1] if prior is not None else ():  # compiled for other sources
                (staging / stale).unlink(missing_ok=True)
            started = compiling.get(dist)
            if started is not None and sorted(started.sources) == sorted(cacheable):
                jobs.append(started)  # compiling since the extraction
                continue
            found = cached_manifest(entry, interpreter, binding)
            done = None
            if found is not None and found.sources == tuple(sorted(cacheable)):
                done = link_checked(found, staging)
            if done is not None:
                linked[dist] = done
            else:
                jobs.append(CompileJob.make(dist, entry, binding, cacheable, interpreter))
        every_loose = [s for group in loose.values() for s in group]
        fresh = [job for job in jobs if job.dist not in compiling or compiling[job.dist] is not job]
        compiler = Compiler(interpreter, staging, fresh, every_loose)
        return cls(interpreter, linked, jobs, loose, compiler, early)

    def finish(
        self, staging: Path, report: Counts, done: Callable[[str, list[str]], None] | None = None
    ) -> dict[str, list[str]]:
        """Wait for the compilation, storing and linking each package's bytecode as soon as it is compiled
        (while the others still compile); {dist: the `.pyc` files it has now}. `done(dist, pycs)` is called
        for each package whose bytecode is complete before the others' (its conda-meta record can be
        written while they compile); the returned mapping has every package, those included."""
        pycs = {dist: list(files) for dist, files in self.linked.items()}
        report.pyc_from_cache += sum(len(files) for files in self.linked.values())
        if done is not None:
            for dist in self.linked:
                if dist not in self.loose:
                    done(dist, pycs[dist])
        jobs, self.jobs = self.jobs, []
        waiting = {id(job): job for job in jobs}
        early, self.early = self.early, None
        try:
            if early is not None:
                for job in early.finished():
                    if waiting.pop(id(job), None) is None:  # compiled for sources the environment lacks
                        discard(job)
                    else:
                        self._take(job, staging, pycs, report)
                        if done is not None and job.dist not in self.loose:
                            done(job.dist, pycs[job.dist])
            self.compiler.wait()
            while waiting:
                self._take(waiting.popitem()[1], staging, pycs, report)
        except BaseException:
            if early is not None:
                early.cancel()
            self.compiler.cancel()
            for job in waiting.values():
                discard(job)
            raise
        for dist, group in self.loose.items():
            made = [p for p in map(self.interpreter.pyc_path, group) if (staging / p).is_file()]
            report.pyc_compiled += len(made)
            pycs[dist] = pycs.get(dist, []) + made
        report.pyc_files += sum(len(files) for files in pycs.values())
        return pycs

    def _take(self, job: CompileJob, staging: Path, pycs: dict[str, list[str]], report: Counts) -> None:
        """Store what `job` compiled into its cache entry and link it into the staging."""
        root, compiled = store(job, self.interpreter)
        try:
            pycs[job.dist] = pycs.get(job.dist, []) + link_files(root, sorted(compiled), staging)
        finally:
            if root == job.tmp:
                discard(job)
        report.pyc_compiled += len(compiled)

    def cancel(self) -> None:
        self.compiler.cancel()
        for job in self.jobs:
            discard(job)
        self.jobs = []
        if self.early is not None:
            self.early.cancel()
            self.early = None


class EarlyBytecode:
    """Noarch bytecode compiled while the other archives are still being extracted: each package's
    modules as soon as its cache entry is in place (at once for entries already there), read from the
    entry's own files (the very files hard-linked into the environment), by the python package's
    interpreter run from its entry (its cache tag and magic remembered beside it). `placed` is called from
    several threads. Best effort: what is not compiled here is compiled after the link."""

    def __init__(
        self, pkgs_dir: Path, python_dist: str, site: str, python_exe: Path, keys: Mapping[str, str]
    ) -> None:
        self.pkgs_dir = pkgs_dir
        self.python_dist = python_dist
        self.site = site
        self.python_exe = python_exe
        self.keys = dict(keys)  # dist: the lock's checksum (what the entry's binding includes)
        self.interpreter: Interpreter | None = None
        self.jobs: dict[str, CompileJob] = {}
        self.cached: dict[str, Cached] = {}  # manifest read, files not verified yet
        self._lock = threading.Lock()
        self._failed = False
        self._backlog: list[str] = []
        self._feeder: Feeder | None = None

    def begin(self, cached_dists: Sequence[str]) -> None:
        """The entries already in the cache (the python package's first)."""
        for dist in sorted(cached_dists, key=lambda d: d != self.python_dist):
            self.placed(dist)

    def placed(self, dist: str) -> None:
        with self._lock:
            if self._failed or dist not in self.keys:
                return
            if self.interpreter is None:
                if dist != self.python_dist:
                    self._backlog.append(dist)
                    return
                if not self._establish():
                    self._failed, self._backlog = True, []
                    return
                todo, self._backlog = [dist, *self._backlog], []
            else:
                todo = [dist]
            for name in todo:
                self._consider(name)

    def _establish(self) -> bool:
        entry = self.pkgs_dir / self.python_dist
        binding = entry_binding(entry, self.keys[self.python_dist])
        interpreter = known_interpreter(entry, binding, self.python_exe)
        if interpreter is None:
            probed = probe(self.python_exe) if self.python_exe.exists() else None
            if probed is None:
                return False
            remember(entry, binding, probed)
            interpreter = probed
        self.interpreter = interpreter
        return True

    @property
    def compiling(self) -> bool:
        """Whether compile workers were started (only once a package's bytecode is missing from the
        cache: a warm cache starts none)."""
        return self._feeder is not None

    def _consider(self, dist: str) -> None:
        assert self.interpreter is not None
        entry = self.pkgs_dir / dist
        binding = entry_binding(entry, self.keys[dist])
        cached = cached_manifest(entry, self.interpreter, binding)
        if cached is not None:
            self.cached[dist] = cached
            return
        found = entry_sources(entry, self.site)
        if found is None or not found[0]:
            return
        job = CompileJob.make(dist, entry, binding, found[0], self.interpreter, found[1])
        if self._feeder is None:
            self._feeder = Feeder(self.interpreter)
        if self._feeder.add(job):
            self.jobs[dist] = job

    def finished(self) -> Iterator[CompileJob]:
        """Every job this fed, each as soon as it is compiled (see `Feeder.finished`)."""
        if self._feeder is not None:
            yield from self._feeder.finished()
        else:
            yield from self.jobs.values()

    def cancel(self) -> None:
        with self._lock:  # no package placed from now on starts workers
            self._failed, self._backlog = True, []
        if self._feeder is not None:
            self._feeder.cancel()
        for job in self.jobs.values():
            discard(job)
        self.jobs = {}
