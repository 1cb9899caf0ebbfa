"""The lock's PyPI packages installed into a staged prefix with uv (no resolution).

Wheels and sdists are installed by URL with their sha256 (`--require-hashes`; uv builds an sdist for the
environment's python here, inside the staging). Git sources are installed from their locked commit, local
directories from their path (the lock keeps it relative to the lockfile; :func:`anchor_lock` makes it
absolute). An editable git source is cloned into `<prefix>/src/<name>` at its commit and installed editable
from there, as pip does; the staging path uv writes into `.pth` files and `direct_url.json` is then turned
into the final prefix.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from cenv.errors import InstallError
from cenv.lock.models import LockedPackage, Lockfile
from cenv.lock.requirements import requirement_line, source_line
from cenv.logs import write_log
from cenv.pip.diagnose import CREDENTIALS_HINT
from cenv.pip.requirements import canonical
from cenv.pip.uv import finish_uv, start_uv, uv_env
from cenv.redact import redact
from cenv.safe_paths import join_within

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://|^[a-z]+\+")


def anchor_lock(lock: Lockfile, lock_dir: Path) -> Lockfile:
    """`lock` with its pip packages' relative paths made absolute against the lockfile's folder."""
    base = lock_dir.resolve()
    changed = False
    packages = []
    for package in lock.package:
        if package.manager == "pip" and not _URL.match(package.url) and not Path(package.url).is_absolute():
            package = replace(package, url=os.path.normpath(base / package.url))
            changed = True
        packages.append(package)
    return replace(lock, package=tuple(packages)) if changed else lock


def install_pip(
    python: Path,
    packages: Sequence[LockedPackage],
    offline: bool = False,
    *,
    editable: frozenset[str] = frozenset(),
    staging: Path | None = None,
    final: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Install locked pip packages into the environment of `python` (no dependency resolution).

    `staging`/`final`: the prefix being built and where it will live (editable git checkouts go to
    `staging/src/<name>`, and their recorded paths are moved to `final`)."""
    chosen = sorted((p for p in packages if p.manager == "pip"), key=lambda p: p.name)
    if not chosen:
        return
    hashed = [p for p in chosen if p.hash.sha256]
    sources = [p for p in chosen if not p.hash.sha256]
    watch = _Watch(python, chosen, progress)
    with tempfile.TemporaryDirectory(prefix="cenv-pip-install-") as tmp:
        if hashed:
            req = Path(tmp) / "hashed.txt"
            req.write_text("".join(requirement_line(p) + "\n" for p in hashed), encoding="utf-8")
            _uv_install(python, ["--require-hashes", "-r", str(req)], offline, hashed, watch)
        if sources:
            lines = []
            for package in sources:
                if package.name in editable and package.url.startswith("git+"):
                    src = (staging or python.parent.parent) / "src"
                    src.mkdir(parents=True, exist_ok=True)
                    checkout = _checkout(package, join_within(src, package.name, what="editable pip package"))
                    lines.append(f"-e {checkout}")
                else:
                    lines.append(source_line(package, package.name in editable))
            req = Path(tmp) / "sources.txt"
            req.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
            _uv_install(python, ["-r", str(req)], offline, sources, watch)
    if staging is not None and final is not None and editable:
        _relocate_editables(staging, final)


class _Watch:
    """Counts the lock's pip packages that have a `.dist-info` in the environment while uv installs, for
    a `done/total` progress display: uv's own progress bars are drawn only on a terminal it owns."""

    def __init__(
        self, python: Path, packages: Sequence[LockedPackage], progress: Callable[[int, int], None] | None
    ) -> None:
        self.prefix = python.parent.parent if python.parent.name == "bin" else python.parent
        self.names = {canonical(p.name) for p in packages}
        self.progress = progress
        self.done = -1

    def poll(self) -> None:
        if self.progress is None:
            return
        found = set()
        for site in [*self.prefix.glob("lib/python*/site-packages"), self.prefix / "Lib" / "site-packages"]:
            try:
                entries = os.listdir(site)
            except OSError:
                continue
            for entry in entries:
                if entry.endswith(".dist-info"):
                    found.add(canonical(entry.removesuffix(".dist-info").rsplit("-", 1)[0]))
        done = len(found & self.names)
        if done != self.done:
            self.done = done
            self.progress(done, len(self.names))


def _uv_install(
    python: Path, extra: list[str], offline: bool, packages: Sequence[LockedPackage], watch: _Watch
) -> None:
    args = [
        "pip", "install", "--python", str(python), "--no-deps", *extra,
        "--no-config", "--quiet", "--color", "never",
    ]  # fmt: skip
    if offline:
        args.append("--offline")
    process = start_uv(args, uv_env({}), "pip install")
    while True:
        try:
            process.wait(timeout=0.25)
            break
        except subprocess.TimeoutExpired:
            watch.poll()
    watch.poll()
    result = finish_uv(process)
    if result.returncode == 0:
        return
    log = write_log(result.stderr, "pip-install")
    lines = [redact(line.strip()) for line in result.stderr.splitlines() if line.strip()]
    first = lines[0].removeprefix("error:").strip() if lines else "uv failed without a message"
    built = re.search(r"Failed to (?:build|download and build) `([^`]+)`", result.stderr)
    seen = f"uv's full output: {log}" if log else "uv wrote no output"
    if built:
        tail = [ln for ln in lines if not ln.startswith(("hint:", "help:", "error:", "Caused by:"))][-5:]
        raise InstallError(
            f"building pip package `{built.group(1).split(' @ ')[0]}` from source failed",
            hints=[
                *(f"build: {ln[:200]}" for ln in tail),
                "it is built for the environment's python at create: it needs its build dependencies "
                "(from PyPI) and any compiler it uses; pin a version with a wheel, or take it from conda",
                seen,
            ],
        )
    denied = re.search(r"\b40[13]\b|Unauthorized|Forbidden", result.stderr)
    hints = [CREDENTIALS_HINT, seen] if denied else [seen]
    raise InstallError(f"installing {len(packages)} pip package(s) failed: {first[:300]}", hints=hints)


def _checkout(package: LockedPackage, dest: Path) -> Path:
    """`git+URL@COMMIT` cloned into `dest` at that commit. The URL and commit come from a lockfile: `--`
    before every positional argument, a commit that is hex, and no `ext::` transport."""
    url, _, commit = package.url.removeprefix("git+").split("#", 1)[0].rpartition("@")
    if not re.fullmatch(r"[0-9a-fA-F]{7,64}", commit) or not url or url.startswith("-"):
        raise InstallError(
            f"`{package.name}`: `{redact(package.url)[:200]}` is not `git+URL@COMMIT` with a hex commit",
            hints=["lock the environment again with `cenv lock`"],
        )
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    git = shutil.which("git")
    if git is None:
        raise InstallError(
            f"`{package.name}` is an editable git checkout, and git is not installed", hints=["install git"]
        )
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ALLOW_PROTOCOL": "https:http:ssh:file:git"}
    steps = (
        ["clone", "--quiet", "--no-checkout", "--", url, str(dest)],
        ["checkout", "--quiet", commit, "--"],
    )
    for args in steps:
        result = subprocess.run(
            [git, "-c", "protocol.ext.allow=never", *args],
            cwd=dest if args[0] == "checkout" else None,
            env=env,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            log = write_log(result.stderr, "git")
            raise InstallError(
                f"cannot check out `{package.name}` from {redact(url)} at {commit[:12]}",
                hints=[
                    redact(result.stderr.strip().splitlines()[-1]) if result.stderr.strip() else "git failed",
                    f"git needs network access to the repository's host; git's output: {log}",
                ],
            )
    return dest


def _relocate_editables(staging: Path, final: Path) -> None:
    """uv recorded the staging path in editable installs (`.pth`, finder modules, `direct_url.json`)."""
    old, new = str(staging).encode(), str(final).encode()
    for site in [*staging.glob("lib/python*/site-packages"), staging / "Lib" / "site-packages"]:
        if not site.is_dir():
            continue
        candidates = [
            *site.glob("*.pth"),
            *site.glob("__editable__*"),
            *site.glob("*.dist-info/direct_url.json"),
            *site.glob("*.dist-info/RECORD"),
        ]
        for path in candidates:
            if not path.is_file():
                continue
            data = path.read_bytes()
            if old in data:
                path.write_bytes(data.replace(old, new))
