"""The noarch python packages' bytecode for one environment (finish.py drives it): compiled into the
package cache once per package and interpreter and linked from there (pyc_cache.py); what the cache lacks
starts compiling right after extraction (`EarlyBytecode`), the rest after the link."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from cenv.install.pyc_cache import (
    CompileJob,
    Compiler,
    Interpreter,
    cached_pycs,
    discard,
    link_files,
    store,
)

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
        compiling = {job.dist: job for job in early.jobs} if early is not None else {}
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
            found = cached_pycs(entry, interpreter, binding)
            if found is not None and found.sources == tuple(sorted(cacheable)):
                linked[dist] = link_files(found.root, sorted(found.pycs), staging)
            else:
                jobs.append(CompileJob.make(dist, entry, binding, cacheable, interpreter))
        every_loose = [s for group in loose.values() for s in group]
        fresh = [job for job in jobs if job.dist not in compiling or compiling[job.dist] is not job]
        compiler = Compiler(interpreter, staging, fresh, every_loose)
        return cls(interpreter, linked, jobs, loose, compiler, early)

    def finish(self, staging: Path, report: Counts) -> dict[str, list[str]]:
        """Wait for the compilation, store and link what it made; {dist: the `.pyc` files it has now}."""
        self.compiler.wait()
        if self.early is not None:
            self.early.compiler.wait()
            used = {id(job) for job in self.jobs}
            for job in self.early.jobs:
                if id(job) not in used:  # compiled for sources the environment does not have
                    discard(job)
            self.early = None
        pycs = {dist: list(files) for dist, files in self.linked.items()}
        report.pyc_from_cache += sum(len(files) for files in self.linked.values())
        jobs, self.jobs = self.jobs, []
        for job in jobs:
            root, compiled = store(job, self.interpreter)
            try:
                pycs[job.dist] = pycs.get(job.dist, []) + link_files(root, sorted(compiled), staging)
            finally:
                if root == job.tmp:
                    discard(job)
            report.pyc_compiled += len(compiled)
        for dist, group in self.loose.items():
            made = [p for p in map(self.interpreter.pyc_path, group) if (staging / p).is_file()]
            report.pyc_compiled += len(made)
            pycs[dist] = pycs.get(dist, []) + made
        report.pyc_files += sum(len(files) for files in pycs.values())
        return pycs

    def cancel(self) -> None:
        self.compiler.cancel()
        for job in self.jobs:
            discard(job)
        self.jobs = []
        if self.early is not None:
            self.early.cancel()
            self.early = None


class EarlyBytecode:
    """Compilations started before the link (`Finisher.start_early_bytecode`)."""

    def __init__(self, compiler: Compiler, jobs: list[CompileJob]) -> None:
        self.compiler = compiler
        self.jobs = jobs

    def cancel(self) -> None:
        self.compiler.cancel()
        for job in self.jobs:
            discard(job)
