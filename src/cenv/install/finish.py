"""What conda does to an environment after linking, done to the staged prefix before it is moved into place.

In order: post-link scripts (link_scripts.py), then (after the pip part) bytecode for noarch python packages
and the pip part (bytecode.py), conda-meta records and history (meta.py), and a prefix root without
anything of cenv's, rattler's or uv's. Before a `--force` replacement the old environment's pre-unlink
scripts run; after the move the environment is registered in `~/.conda/environments.txt`.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cenv.errors import UserError
from cenv.install import bytecode, link_scripts, meta, pyc_cache
from cenv.install.clobber import resolve_clobbers
from cenv.install.environments_txt import register_env, registration_enabled
from cenv.install.noarch_bytecode import EarlyBytecode, NoarchBytecode
from cenv.install.plan import content_key
from cenv.lock.models import dependencies_from_depends
from cenv.platforms import host_platform

if TYPE_CHECKING:
    from cenv.install.plan import InstallPlan

__all__ = ["FinishOptions", "FinishReport", "Finisher", "default_command"]

# Left in the prefix root by the tools cenv drives: rattler's cache marker (backup tools that honour it
# would skip the whole environment), uv's lock file, conda's link-script message file once shown.
_FOREIGN_ROOT_FILES = ("CACHEDIR.TAG", ".lock", link_scripts.MESSAGES_FILE)


def default_command() -> str:
    """The command line for `# cmd:` in conda-meta/history (conda writes its own argv)."""
    args = sys.argv[1:] if sys.argv and sys.argv[0].endswith(("cenv", "__main__.py")) else []
    return " ".join(["cenv", *args]) if args else "cenv create"


def default_path_conflict() -> str:
    """conda's `path_conflict` from .condarc or CONDA_PATH_CONFLICT (default `clobber`)."""
    from cenv.config import current_config

    return current_config().path_conflict


@dataclass(frozen=True)
class FinishOptions:
    requested: tuple[str, ...] = ()  # the match specs the lock was solved for (`cenv.requested.<platform>`)
    link_scripts: bool = True  # False: --no-link-scripts
    command: str = field(default_factory=default_command)
    register: bool = field(default_factory=registration_enabled)  # add it to ~/.conda/environments.txt
    path_conflict: str = field(default_factory=default_path_conflict)  # conda's: clobber, warn, prevent


@dataclass
class FinishReport:
    post_link: list[str] = field(default_factory=list)  # packages whose post-link script ran
    skipped: list[str] = field(default_factory=list)  # link scripts not run (--no-link-scripts)
    pre_unlink: list[str] = field(default_factory=list)  # old environment's pre-unlink scripts run
    menu: list[str] = field(default_factory=list)  # packages shipping Menu/*.json (not installed)
    messages: list[str] = field(default_factory=list)  # what scripts wrote to .messages.txt
    pyc_files: int = 0
    pyc_compiled: int = 0  # noarch .pyc compiled in this run (into the package cache, or in place)
    pyc_from_cache: int = 0  # noarch .pyc linked from the package cache, compiled by an earlier create
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "post_link_ran": list(self.post_link),
            "link_scripts_skipped": list(self.skipped),
            "pre_unlink_ran": list(self.pre_unlink),
            "menu_entries_not_installed": list(self.menu),
            "pyc_files": self.pyc_files,
            "pyc_compiled": self.pyc_compiled,
            "pyc_from_cache": self.pyc_from_cache,
        }


def _named(records: Mapping[Path, dict[str, Any]]) -> list[dict[str, Any]]:
    """The package records among `meta.read_records`' (in file name order)."""
    return [data for data in records.values() if "name" in data]


def _roots(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Names nothing else depends on: what a lock without recorded specs most likely asked for."""
    needed = {d for r in records for d in dependencies_from_depends(list(r.get("depends") or []))}
    return sorted(str(r["name"]) for r in records if r["name"] not in needed)


def _paths(path_of: Mapping[str, Path], dists: set[str]) -> set[Path]:
    return {path_of[dist] for dist in dists if dist in path_of}


def _site_packages(platform: str, version: str) -> str:
    return "Lib/site-packages" if platform.startswith("win-") else f"lib/python{version}/site-packages"


def _python(prefix: Path, platform: str) -> Path:
    return prefix / ("python.exe" if platform.startswith("win-") else "bin/python")


class Finisher:
    """Carries one create's options and report through the steps `install_plan` calls."""

    def __init__(self, plan: InstallPlan, options: FinishOptions | None = None) -> None:
        self.plan = plan
        self.options = options or FinishOptions()
        self.report = FinishReport()
        self._compilations: list[tuple[bytecode.Compilation, dict[str, list[str]]]] = []
        self._bindings: dict[str, str] = {}
        self._noarch: NoarchBytecode | None = None
        self._interpreter: pyc_cache.Interpreter | None = None
        self._prelinked: dict[str, tuple[tuple[str, ...], list[str]]] = {}  # dist: (sources, .pyc linked)
        self._early: EarlyBytecode | None = None
        self._pyc_dists: set[str] = set()  # the packages `_noarch` may add .pyc files to
        # conda-meta as read after the link, until something may have changed it (read once, not per step)
        self._staged: dict[Path, dict[str, Any]] | None = None

    def bind_entries(self, bindings: Mapping[str, str]) -> None:
        """{dist: `archive_guard.entry_binding` of its cache entry}, taken under the package cache lock:
        bytecode is reused from, and stored into, only the entries the environment was linked from."""
        self._bindings = dict(bindings)

    def early_bytecode(self) -> EarlyBytecode | None:
        """The noarch bytecode compiling while archives are extracted (`EarlyBytecode`), when the
        environment has a python this machine can run; `install_plan` feeds it the entries."""
        plan = self.plan
        python = next((p for p in plan.packages if p.package.name == "python"), None)
        if python is None or plan.platform != host_platform():
            return None
        parts = python.package.version.split(".")
        if len(parts) < 2 or not (parts[0].isdigit() and parts[1].isdigit()):
            return None
        site = _site_packages(plan.platform, f"{parts[0]}.{parts[1]}")
        exe = _python(plan.pkgs_dir / python.dist, plan.platform)
        keys = {p.dist: content_key(p.package)[1] for p in plan.packages}
        self._early = EarlyBytecode(plan.pkgs_dir, python.dist, site, exe, keys)
        return self._early

    def prelink_bytecode(self, staging: Path) -> None:
        """While rattler links: the bytecode earlier creates compiled for this environment's python (known
        from its package's entry, `pyc_cache.known_interpreter`) hard-linked into the staging. Best effort:
        what is not linked here is compiled after the link (`_start_noarch`)."""
        plan = self.plan
        python = next((p for p in plan.packages if p.package.name == "python"), None)
        if python is None:
            return
        staged_python = _python(staging, plan.platform)
        early = self._early if self._early is not None and self._early.interpreter is not None else None
        if early is not None and early.interpreter is not None:
            interpreter: pyc_cache.Interpreter | None = dataclasses.replace(
                early.interpreter, python=staged_python
            )
        else:
            interpreter = pyc_cache.known_interpreter(
                plan.pkgs_dir / python.dist, self._bindings.get(python.dist), staged_python
            )
        if interpreter is None:
            return
        self._interpreter = interpreter
        for planned in plan.packages:
            binding = self._bindings.get(planned.dist)
            if binding is None:
                continue
            if early is not None:  # every entry was looked at while extracting
                cached = early.cached.get(planned.dist)
            else:
                cached = pyc_cache.cached_manifest(plan.pkgs_dir / planned.dist, interpreter, binding)
            if cached is None:
                continue
            try:  # each file checked as it is linked: a changed one and the package compiles after the link
                linked = pyc_cache.link_checked(cached, staging)
            except OSError:
                continue
            if linked is not None:
                self._prelinked[planned.dist] = (cached.sources, linked)

    def after_link(self, staging: Path, linked: Mapping[Path, dict[str, Any]] | None = None) -> None:
        """Paths two packages ship, as conda leaves them; post-link scripts (dependencies first), or the
        note that they were skipped; the Menu note. Then the noarch python packages' bytecode: linked from
        the package cache where an earlier create compiled it, the rest compiling (while the pip part
        installs and records complete). `linked`: conda-meta as read right after the link."""
        self._staged = dict(linked) if linked is not None else meta.read_records(staging)
        records = link_scripts.dependency_order(_named(self._staged))  # conda's link order
        clobbers = resolve_clobbers(staging, [str(r["name"]) for r in records], self.options.path_conflict)
        for clobber in clobbers:
            self.report.warnings.append(clobber.warning())
        if clobbers:  # the records now list the shared paths themselves
            self._staged = meta.read_records(staging)
            records = link_scripts.dependency_order(_named(self._staged))
        self._run_link_scripts(staging, records)
        if self.report.post_link:  # a script may have written to conda-meta
            self._staged = None
        self._start_noarch(staging, records)

    def _run_link_scripts(self, staging: Path, records: Sequence[Mapping[str, Any]]) -> None:
        self.report.menu = sorted(
            str(r["name"])
            for r in records
            if any(f.startswith("Menu/") and f.endswith(".json") for f in r.get("files") or ())
        )
        if not self.options.link_scripts:
            with_scripts = {
                str(r["name"]) for r in link_scripts.scripts_of(staging, records, "post-link")
            } | {str(r["name"]) for r in link_scripts.scripts_of(staging, records, "pre-unlink")}
            self.report.skipped = sorted(with_scripts)
            return
        runs = link_scripts.run_post_link(staging, records, self.plan.prefix)
        self.report.post_link = [run.package for run in runs]
        self.report.messages = link_scripts.take_messages(staging)

    def complete(self, staging: Path) -> None:
        """Bytecode, conda-meta records and history, a clean prefix root (after the pip part). The
        records are completed while the environment's python compiles."""
        plan = self.plan
        # read again where something else wrote into the prefix since (the pip part, link scripts)
        staged = self._staged if self._staged is not None and not plan.pip else meta.read_records(staging)
        self._staged = None
        records = _named(staged)
        if plan.pip:
            self._start_compile(staging, records, noarch=False)
        facts = [meta.PackageFacts(dist=p.dist, archive=plan.pkgs_dir / p.filename) for p in plan.packages]
        specs = list(self.options.requested) or _roots(records)
        finished = meta.complete_records(staging, plan.prefix, facts, meta.requested_by_name(specs), staged)
        path_of = {f"{r['name']}-{r['version']}-{r['build']}": path for path, r in finished.items()}
        # The records no bytecode is added to are written while the compilation runs, each noarch
        # package's as soon as its own bytecode is linked: only the last ones are left after it.
        waiting = {dist for _, pyc_by_dist in self._compilations for dist in pyc_by_dist}  # the pip part's
        later = _paths(path_of, waiting | (self._pyc_dists if self._noarch is not None else set()))
        meta.write_records({path: record for path, record in finished.items() if path not in later})
        unwritten = {path: record for path, record in finished.items() if path in later}

        def done(dist: str, pycs: list[str]) -> None:
            path = path_of.get(dist)
            if path is not None and path in unwritten and dist not in waiting:
                record = unwritten.pop(path)
                meta.add_pyc(record, pycs)
                meta.write_records({path: record})

        if self._noarch is not None:
            noarch, self._noarch = self._noarch, None
            for dist, pycs in noarch.finish(staging, self.report, done).items():
                path = path_of.get(dist)
                if path is not None and path in unwritten:
                    meta.add_pyc(unwritten[path], pycs)
        while self._compilations:
            compilation, pyc_by_dist = self._compilations.pop(0)
            compiled = compilation.wait()
            self.report.pyc_files += len(compiled)
            for dist, pycs in pyc_by_dist.items():
                path = path_of.get(dist)
                if path is not None and path in unwritten:
                    meta.add_pyc(unwritten[path], [p for p in pycs if p in compiled])
        meta.write_records(unwritten)
        meta.write_history(staging, finished.values(), self.options.command, specs)
        owned = {f for r in finished.values() for f in r.get("files") or ()}
        for name in _FOREIGN_ROOT_FILES:
            path = staging / name
            if name not in owned and (path.is_file() or path.is_symlink()):
                path.unlink()

    def abort(self) -> None:
        """Stop compilations still running (the staging directory is about to be removed)."""
        if self._early is not None:
            self._early.cancel()
            self._early = None
        if self._noarch is not None:
            self._noarch.cancel()
            self._noarch = None
        while self._compilations:
            self._compilations.pop()[0].cancel()

    def _start_noarch(self, staging: Path, records: Sequence[Mapping[str, Any]]) -> None:
        plan = self.plan
        version = bytecode.python_version(records)
        python = _python(staging, plan.platform)
        if version is None or not python.exists():
            return
        site = _site_packages(plan.platform, version)
        sources = {
            f"{r['name']}-{r['version']}-{r['build']}": bytecode.noarch_sources(r, site) for r in records
        }
        sources = {dist: group for dist, group in sources.items() if group}
        if not sources:
            return
        interpreter = self._interpreter
        if interpreter is None:
            interpreter = pyc_cache.probe(python)
            entry = next((p.dist for p in plan.packages if p.package.name == "python"), None)
            if interpreter is None:  # a python that cannot run: no bytecode, as with conda
                return
            if entry is not None and entry in self._bindings:
                pyc_cache.remember(plan.pkgs_dir / entry, self._bindings[entry], interpreter)
        rewritten = {
            str(p.get("_path"))
            for r in records
            for p in (r.get("paths_data") or {}).get("paths") or ()
            if p.get("prefix_placeholder")
        }
        early, self._early = self._early, None
        self._pyc_dists = set(sources)
        self._noarch = NoarchBytecode.start(
            interpreter, staging, plan.pkgs_dir, sources, self._bindings, rewritten, self._prelinked, early
        )

    def _start_compile(self, staging: Path, records: Sequence[Mapping[str, Any]], noarch: bool) -> None:
        """Start compiling the pip part's modules in place (noarch packages: `_start_noarch`)."""
        plan = self.plan
        version = bytecode.python_version(records)
        python = _python(staging, plan.platform)
        if noarch or version is None or not python.exists():
            return
        site = _site_packages(plan.platform, version)
        every = bytecode.pip_sources(staging, site)
        if every:
            self._compilations.append((bytecode.Compilation(python, staging, every, version), {}))

    def before_commit(self) -> None:
        """The replaced environment's pre-unlink scripts (conda reports their failures and goes on)."""
        if not (self.plan.replaces_existing and self.options.link_scripts):
            return
        for run in link_scripts.run_pre_unlink(self.plan.prefix):
            self.report.pre_unlink.append(run.package)
            if not run.ok:
                last = [line for line in run.output.splitlines() if line.strip()][-1:]
                self.report.warnings.append(
                    f"the pre-unlink script of `{run.package}` failed" + (f": {last[0]}" if last else "")
                )

    def after_commit(self) -> None:
        if not self.options.register:
            return
        try:
            register_env(self.plan.prefix)
        except OSError as exc:
            self.report.warnings.append(
                f"could not register the environment in ~/.conda/environments.txt: {exc.strerror or exc}"
            )
        except UserError as exc:  # environments.txt is not a readable text file: the environment is made
            self.report.warnings.append(f"could not register the environment: {exc.message}")
