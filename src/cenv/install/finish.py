"""What conda does to an environment after linking, done to the staged prefix before it is moved into place.

In order: post-link scripts (link_scripts.py), then (after the pip part) bytecode for noarch python packages
and the pip part (bytecode.py), conda-meta records and history (meta.py), and a prefix root without
anything of cenv's, rattler's or uv's. Before a `--force` replacement the old environment's pre-unlink
scripts run; after the move the environment is registered in `~/.conda/environments.txt`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cenv.errors import UserError
from cenv.install import bytecode, link_scripts, meta
from cenv.install.clobber import resolve_clobbers
from cenv.install.environments_txt import register_env, registration_enabled
from cenv.lock.models import dependencies_from_depends

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
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "post_link_ran": list(self.post_link),
            "link_scripts_skipped": list(self.skipped),
            "pre_unlink_ran": list(self.pre_unlink),
            "menu_entries_not_installed": list(self.menu),
            "pyc_files": self.pyc_files,
        }


def _records(prefix: Path) -> list[dict[str, Any]]:
    records = []
    for path in sorted((prefix / "conda-meta").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "name" in data:
            records.append(data)
    return records


def _roots(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Names nothing else depends on: what a lock without recorded specs most likely asked for."""
    needed = {d for r in records for d in dependencies_from_depends(list(r.get("depends") or []))}
    return sorted(str(r["name"]) for r in records if r["name"] not in needed)


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

    def after_link(self, staging: Path) -> None:
        """Paths two packages ship, as conda leaves them; post-link scripts (dependencies first), or the
        note that they were skipped; the Menu note. Then the noarch python packages start compiling (while
        the pip part installs and records complete)."""
        order = [str(r["name"]) for r in link_scripts.dependency_order(_records(staging))]
        for clobber in resolve_clobbers(staging, order, self.options.path_conflict):
            self.report.warnings.append(clobber.warning())
        self._run_link_scripts(staging)
        self._start_compile(staging, _records(staging), noarch=True)

    def _run_link_scripts(self, staging: Path) -> None:
        records = link_scripts.dependency_order(_records(staging))
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
        records = _records(staging)
        if plan.pip:
            self._start_compile(staging, records, noarch=False)
        facts = [meta.PackageFacts(dist=p.dist, archive=plan.pkgs_dir / p.filename) for p in plan.packages]
        specs = list(self.options.requested) or _roots(records)
        finished = meta.complete_records(staging, plan.prefix, facts, meta.requested_by_name(specs))
        by_dist = {f"{r['name']}-{r['version']}-{r['build']}": r for r in finished.values()}
        while self._compilations:
            compilation, pyc_by_dist = self._compilations.pop(0)
            compiled = compilation.wait()
            self.report.pyc_files += len(compiled)
            for dist, pycs in pyc_by_dist.items():
                record = by_dist.get(dist)
                if record is not None:
                    meta.add_pyc(record, [p for p in pycs if p in compiled])
        meta.write_records(finished)
        meta.write_history(staging, finished.values(), self.options.command, specs)
        owned = {f for r in finished.values() for f in r.get("files") or ()}
        for name in _FOREIGN_ROOT_FILES:
            path = staging / name
            if name not in owned and (path.is_file() or path.is_symlink()):
                path.unlink()

    def abort(self) -> None:
        """Stop compilations still running (the staging directory is about to be removed)."""
        while self._compilations:
            self._compilations.pop()[0].cancel()

    def _start_compile(self, staging: Path, records: Sequence[Mapping[str, Any]], noarch: bool) -> None:
        """Start compiling the noarch python packages' modules (`noarch`) or the pip part's."""
        plan = self.plan
        version = bytecode.python_version(records)
        python = _python(staging, plan.platform)
        if version is None or not python.exists():
            return
        site = _site_packages(plan.platform, version)
        if noarch:
            sources = {
                f"{r['name']}-{r['version']}-{r['build']}": bytecode.noarch_sources(r, site) for r in records
            }
            every = [s for group in sources.values() for s in group]
            pyc_by_dist = {
                dist: [bytecode.pyc_path(s, version) for s in group]
                for dist, group in sources.items()
                if group
            }
        else:
            every, pyc_by_dist = bytecode.pip_sources(staging, site), {}
        if every:
            self._compilations.append((bytecode.Compilation(python, staging, every, version), pyc_by_dist))

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
