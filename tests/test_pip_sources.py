"""The pip section's other requirement forms, end to end through the CLI: local paths, `-e .`, `-r`/`-c`
files, git sources (file:// and `git daemon` on 127.0.0.1), sdists built at create. Real projects built by
real uv (each with its own in-tree backend: no index needed), a real git, real archives; nothing mocked."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from tests.cli_helpers import cenv
from tests.support.channel_factory import ChannelFactory
from tests.support.http_server import ChannelServer
from tests.support.local_project import build_sdist, git, make_git_repo, make_project, serve_dumb_http
from tests.support.wheel_factory import WheelIndex

PY = f"{sys.version_info.major}.{sys.version_info.minor}"
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture
def pip_index(tmp_path: Path) -> WheelIndex:
    index = WheelIndex(tmp_path / "pypi")
    index.add("dep-a", "1.0")
    index.add("dep-b", "1.0")
    index.add("dep-b", "2.0")
    return index.write()


def _spec(folder: Path, channel: Path, index: WheelIndex, pip: list[str], name: str = "env.yml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = "\n".join(f"      - {p!r}" if p.startswith(("-", "{")) else f"      - {p}" for p in pip)
    spec = folder / name
    spec.write_text(
        f"name: src\nchannels: [{channel.as_posix()}]\n"
        f"pip-options:\n  index-url: {index.simple_url}\n"
        f"dependencies:\n  - python {PY}.*\n  - hello-cenv\n  - pip:\n{lines}\n"
    )
    return spec


def _pip(lock: Path) -> dict[str, dict[str, object]]:
    data = yaml.safe_load(lock.read_text())
    return {p["name"]: p for p in data["package"] if p["manager"] == "pip"}


def _custom(lock: Path) -> dict[str, str]:
    return dict(yaml.safe_load(lock.read_text())["metadata"]["custom_metadata"])


def test_relative_paths_lock_the_same_from_any_directory(
    tmp_path: Path, demo_channel: Path, pip_index: WheelIndex
) -> None:
    """`-e .`, `./sub/pkg`, `-r requirements.txt` and `-c constraints.txt` are read from the spec's folder
    (as conda does) and locked relative to the lockfile: the lock is byte-identical from any directory."""
    project = tmp_path / "work" / "proj"
    make_project(project, "proj-root", "1.0", ["dep-a"])
    make_project(project / "sub" / "pkg", "sub-pkg", "0.3", ["dep-b"])
    (project / "requirements.txt").write_text("dep-b\n")
    (project / "constraints.txt").write_text("dep-b<2\n")
    spec = _spec(
        project, demo_channel, pip_index, ["-e .", "./sub/pkg", "-r requirements.txt", "-c constraints.txt"]
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    first = cenv("lock", spec, "-p", "linux-64", cwd=elsewhere)
    assert first.code == 0, first.output
    lock = project / "env-lock.yml"
    locked = lock.read_bytes()
    pip = _pip(lock)
    assert pip["proj-root"]["url"] == "." and pip["sub-pkg"]["url"] == "./sub/pkg", pip
    assert pip["sub-pkg"]["version"] == "0.3" and pip["dep-b"]["version"] == "1.0"  # -c applied
    assert set(pip) == {"proj-root", "sub-pkg", "dep-a", "dep-b"}
    assert pip["proj-root"]["dependencies"] == {"dep-a": ""}
    assert _custom(lock)["cenv.pip-editable.linux-64"] == "proj-root"
    assert str(project) not in lock.read_text()  # no absolute path of the project

    lock.unlink()
    second = cenv("lock", "env.yml", "-p", "linux-64", cwd=project)
    assert second.code == 0, second.output
    assert lock.read_bytes() == locked


def test_editable_and_local_directory_install_at_create(
    tmp_path: Path, demo_channel: Path, pip_index: WheelIndex
) -> None:
    project = tmp_path / "proj"
    make_project(project, "proj-root", "1.0", ["dep-a"])
    make_project(project / "sub" / "pkg", "sub-pkg", "0.3")
    spec = _spec(project, demo_channel, pip_index, ["-e .", "./sub/pkg"])
    prefix = tmp_path / "env"
    created = cenv("create", spec, "-p", prefix)
    assert created.code == 0, created.output
    python = prefix / "bin" / "python"
    code = "import proj_root, sub_pkg, dep_a; print(proj_root.__file__); print(sub_pkg.__file__)"
    ran = subprocess.run([python, "-c", code], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    editable, installed = ran.stdout.split()
    assert editable == str(project / "proj_root" / "__init__.py")  # editable: the source tree itself
    assert installed.startswith(str(prefix))  # a plain directory requirement is built and installed


@needs_git
def test_git_sources_lock_to_the_commit_and_editable_ones_check_out_under_the_prefix(
    tmp_path: Path, demo_channel: Path, pip_index: WheelIndex
) -> None:
    repo = make_git_repo(tmp_path / "repo", "gitpkg")
    other = make_git_repo(tmp_path / "repo2", "gitedit")
    tag_commit = git(repo, "rev-parse", "v0.1")
    feature = git(other, "rev-parse", "feature")
    spec = _spec(
        tmp_path / "spec",
        demo_channel,
        pip_index,
        [f"gitpkg @ git+{repo.as_uri()}@v0.1", f"-e git+{other.as_uri()}@feature#egg=gitedit"],
    )
    result = cenv("lock", spec, "-p", "linux-64")
    assert result.code == 0, result.output
    lock = spec.with_name("env-lock.yml")
    pip = _pip(lock)
    assert pip["gitpkg"]["url"] == f"git+{repo.as_uri()}@{tag_commit}" and pip["gitpkg"]["version"] == "0.1"
    assert pip["gitedit"]["url"] == f"git+{other.as_uri()}@{feature}" and pip["gitedit"]["version"] == "0.2"
    assert _custom(lock)["cenv.pip-editable.linux-64"] == "gitedit"
    exported = cenv("export", lock, "--format", "requirements", "-p", "linux-64")
    assert exported.code == 0, exported.output
    assert f"gitpkg @ git+{repo.as_uri()}@{tag_commit}" in exported.stdout.splitlines()
    assert f"-e git+{other.as_uri()}@{feature}#egg=gitedit" in exported.stdout.splitlines()

    # the branch moves on: the lock still installs the locked commit
    git(other, "checkout", "-q", "feature")
    make_project(other, "gitedit", "0.3")
    git(other, "commit", "-qam", "0.3")
    prefix = tmp_path / "env"
    created = cenv("create", spec, "-p", prefix)
    assert created.code == 0, created.output
    code = "import gitpkg, gitedit; print(gitpkg.VERSION, gitedit.VERSION, gitedit.__file__)"
    ran = subprocess.run([prefix / "bin" / "python", "-c", code], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["0.1", "0.2", str(prefix / "src" / "gitedit" / "gitedit" / "__init__.py")]
    assert git(prefix / "src" / "gitedit", "rev-parse", "HEAD") == feature


@needs_git
def test_git_over_http_and_an_unreachable_host(
    tmp_path: Path, demo_channel: Path, pip_index: WheelIndex
) -> None:
    """A repository served over HTTP on 127.0.0.1 (git's dumb protocol); a host that refuses: exit 1 naming
    the spec line and what git needs, uv's output in a log file rather than on the terminal."""
    repo = make_git_repo(tmp_path / "served", "served")
    bare = serve_dumb_http(repo, tmp_path / "www")
    with ChannelServer(tmp_path / "www") as server:
        url = f"{server.url}/{bare.name}"
        spec = _spec(tmp_path / "a", demo_channel, pip_index, [f"served @ git+{url}@feature"])
        result = cenv("lock", spec, "-p", "linux-64")
    assert result.code == 0, result.output
    locked = _pip(spec.with_name("env-lock.yml"))["served"]
    assert locked["url"] == f"git+{url}@{git(repo, 'rev-parse', 'feature')}"

    dead = _spec(tmp_path / "b", demo_channel, pip_index, ["dep-a", "x @ git+http://127.0.0.1:9/none.git@v1"])
    failed = cenv("lock", dead, "-p", "linux-64")
    assert failed.code == 1, failed.output
    assert "Traceback" not in failed.output
    assert f"{dead}:10" in failed.stderr and "git needs network access to 127.0.0.1" in failed.stderr
    assert "uv's full output: " in failed.stderr
    log = Path(failed.stderr.split("uv's full output: ")[1].split()[0])
    assert log.is_file() and "none.git" in log.read_text()
    assert len(failed.stderr.splitlines()) < 8  # uv's output is in the log, not on the terminal


def test_sdist_is_locked_with_its_hash_and_built_at_create(
    tmp_path: Path, demo_channel: Path, pip_index: WheelIndex
) -> None:
    good = build_sdist(make_project(tmp_path / "good", "from-sdist", "1.2"), tmp_path / "dist")
    spec = _spec(tmp_path / "spec", demo_channel, pip_index, [f"from-sdist @ {good.as_uri()}"])
    result = cenv("lock", spec, "-p", "linux-64")
    assert result.code == 0, result.output
    entry = _pip(spec.with_name("env-lock.yml"))["from-sdist"]
    assert str(entry["url"]).endswith(".tar.gz") and len(str(entry["hash"]["sha256"])) == 64  # type: ignore[index]
    prefix = tmp_path / "env"
    created = cenv("create", spec, "-p", prefix)
    assert created.code == 0, created.output
    ran = subprocess.run([prefix / "bin" / "python", "-c", "import from_sdist; print(from_sdist.VERSION)"],
                         capture_output=True, text=True)  # fmt: skip
    assert ran.stdout.strip() == "1.2", ran.stderr


def test_a_failing_build_names_the_package_and_the_line(
    tmp_path: Path, demo_channel: Path, pip_index: WheelIndex
) -> None:
    """At lock time (uv builds a project whose dependencies are dynamic) and at create (an sdist whose
    metadata was static): the package, the spec line or the lock, and the build's own last lines."""
    project = tmp_path / "spec" / "broken"
    make_project(project, "broken-pkg", "0.1", fail="needs a Fortran compiler")
    spec = _spec(tmp_path / "spec", demo_channel, pip_index, ["dep-a", "./broken"])
    result = cenv("lock", spec, "-p", "linux-64")
    assert result.code == 1, result.output
    assert "Traceback" not in result.output
    assert "`broken-pkg`" in result.stderr and "needs a Fortran compiler" in result.stderr
    assert f"{spec}:10" in result.stderr, result.stderr

    sdist = build_sdist(make_project(tmp_path / "late", "late-fail", "0.1"), tmp_path / "dist")
    # the same sdist, broken: static metadata, so only the build at create finds out
    make_project(tmp_path / "late", "late-fail", "0.1", fail="no compiler for this")
    (tmp_path / "late" / "pyproject.toml").write_text(
        (tmp_path / "late" / "pyproject.toml")
        .read_text()
        .replace('dynamic = ["dependencies"]', "dependencies = []")
    )
    sdist.unlink()
    sdist = build_sdist(tmp_path / "late", tmp_path / "dist")
    spec = _spec(tmp_path / "spec2", demo_channel, pip_index, [f"late-fail @ {sdist.as_uri()}"])
    assert cenv("lock", spec, "-p", "linux-64").code == 0
    created = cenv("create", spec, "-p", tmp_path / "env")
    assert created.code == 1, created.output
    assert "Traceback" not in created.output and not (tmp_path / "env").exists()
    assert "`late-fail`" in created.stderr and "no compiler for this" in created.stderr, created.stderr


def _fallback_spec(folder: Path, channel: Path, index: WheelIndex, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / "env.yml"
    spec.write_text(
        f"name: fb\nchannels: [{channel.as_posix()}]\n{extra}"
        f"pip-options:\n  index-url: {index.simple_url}\n"
        f"dependencies:\n  - python {PY}.*\n  - hello-cenv\n  - icecream\n"
    )
    return spec


def test_pypi_fallback_for_names_no_channel_has(
    tmp_path: Path, demo_channel: Path, pip_index: WheelIndex
) -> None:
    """A PyPI-only name among the conda dependencies: without the fallback the solve error says where it
    is and what to do; with it (flag or spec key) the pip stage takes it, with a warning and a record."""
    pip_index.add("icecream", "2.1.3", requires=["dep-a"])
    pip_index.write()
    spec = _fallback_spec(tmp_path / "a", demo_channel, pip_index)
    refused = cenv("lock", spec, "-p", "linux-64")
    assert refused.code == 1, refused.output
    assert (
        f"`icecream` ({spec}:8) is on PyPI: move it under `pip:` or set `pip-fallback: true`"
        in refused.stderr
    ), refused.stderr

    taken = cenv("lock", spec, "-p", "linux-64", "--pip-fallback")
    assert taken.code == 0, taken.output
    assert "`icecream`" in taken.stderr and "pip-fallback" in taken.stderr  # the warning
    lock = spec.with_name("env-lock.yml")
    pip = _pip(lock)
    assert set(pip) == {"icecream", "dep-a"} and pip["icecream"]["version"] == "2.1.3"
    assert _custom(lock)["cenv.pip-fallback.linux-64"] == "icecream"

    keyed = _fallback_spec(tmp_path / "b", demo_channel, pip_index, "pip-fallback: true\n")
    assert cenv("lock", keyed, "-p", "linux-64").code == 0
    assert set(_pip(keyed.with_name("env-lock.yml"))) == {"icecream", "dep-a"}


def test_no_fallback_hint_for_a_name_the_index_lacks(
    tmp_path: Path, demo_channel: Path, pip_index: WheelIndex
) -> None:
    spec = _fallback_spec(tmp_path, demo_channel, pip_index)
    result = cenv("lock", spec, "-p", "linux-64", "--pip-fallback")
    assert result.code == 1, result.output
    assert "is on PyPI" not in result.stderr and "icecream" in result.stderr


def test_path_errors_name_the_line_and_the_folder_paths_start_from(
    tmp_path: Path, demo_channel: Path, pip_index: WheelIndex
) -> None:
    spec = _spec(tmp_path / "spec", demo_channel, pip_index, ["dep-a", "-e ."])
    result = cenv("lock", spec, "-p", "linux-64", cwd=tmp_path)
    assert result.code == 1, result.output
    assert f"{spec}:10: `-e .`" in result.stderr and "is not a Python project" in result.stderr
    assert f"spec file's folder ({spec.parent})" in result.stderr
    missing = _spec(tmp_path / "other", demo_channel, pip_index, ["submodules/simple-knn"])
    result = cenv("lock", missing, "-p", "linux-64")
    assert result.code == 1 and f"{missing}:9: `submodules/simple-knn` is neither" in result.stderr


def test_an_unreachable_index_names_the_line_that_adds_it(
    tmp_path: Path, demo_channel: Path, pip_index: WheelIndex
) -> None:
    spec = _spec(tmp_path, demo_channel, pip_index, ["dep-a", "--extra-index-url http://127.0.0.1:9/simple"])
    result = cenv("lock", spec, "-p", "linux-64")
    assert result.code == 1, result.output
    assert "cannot reach the package index http://127.0.0.1:9" in result.stderr, result.stderr
    assert f"({spec}:10)" in result.stderr and "Traceback" not in result.output


def test_pip_fallback_flag_is_recorded_and_reproduced(
    tmp_path: Path, demo_channel: Path, pip_index: WheelIndex
) -> None:
    """`--pip-fallback` is a recorded input: `--check` and `create SPEC` with no flags take the lock as made,
    a re-lock keeps the fallback, and the printed refresh command spells the flag out."""
    pip_index.add("icecream", "2.1.3", requires=["dep-a"])
    pip_index.write()
    spec = _fallback_spec(tmp_path, demo_channel, pip_index)
    lock = spec.with_name("env-lock.yml")
    assert cenv("lock", spec, "-p", "linux-64", "--pip-fallback").code == 0
    before = lock.read_bytes()
    assert "pip-fallback=flag" in _custom(lock)["cenv.input-sources"]

    checked = cenv("lock", spec, "--check")
    assert checked.code == 0, checked.output
    created = cenv("create", spec, "-p", tmp_path / "env")
    assert created.code == 0, created.output
    assert "using fresh lockfile" in created.output and lock.read_bytes() == before
    assert list((tmp_path / "env").glob("lib/python*/site-packages/icecream-2.1.3.dist-info"))

    relocked = cenv("lock", spec)  # no flags: the recorded fallback still applies
    assert relocked.code == 0, relocked.output
    assert _custom(lock)["cenv.pip-fallback.linux-64"] == "icecream"

    spec.write_text(spec.read_text() + "  - cenv-accel\n")
    stale = cenv("lock", spec, "--check")
    assert stale.code == 1, stale.output
    hint = next(line for line in stale.stderr.splitlines() if "cenv lock" in line)
    command = shlex.split(hint.split("`")[1])
    assert "--pip-fallback" in command, hint
    assert cenv(*command[1:]).code == 0
    assert cenv("lock", spec, "--check").code == 0

    keyed = _fallback_spec(tmp_path / "b", demo_channel, pip_index, "pip-fallback: true\n")
    assert cenv("lock", keyed, "-p", "linux-64").code == 0
    _fallback_spec(tmp_path / "b", demo_channel, pip_index)  # the spec's key removed: a re-lock would fail
    off = cenv("lock", keyed, "--check")
    assert off.code == 1 and "pip-fallback is off" in off.output and "`icecream`" in off.output, off.output


def test_no_pypi_suggestion_when_the_channels_are_what_is_wrong(
    tmp_path: Path, demo_channel: Path, pip_index: WheelIndex, channel_factory: Callable[..., ChannelFactory]
) -> None:
    """Issue #25: names the channels lack and PyPI has (`icecream`) next to names that no index has
    (`doxygen-cenv`) say the channel setting is wrong, not that the one should move under `pip:`; the error
    names every missing one. Likewise when the channels hold none of the requested names."""
    pip_index.add("icecream", "2.1.3")
    pip_index.write()
    spec = _fallback_spec(tmp_path / "a", demo_channel, pip_index)
    spec.write_text(spec.read_text() + "  - doxygen-cenv\n")
    result = cenv("lock", spec, "-p", "linux-64")
    assert result.code == 1, result.output
    assert "is on PyPI" not in result.stderr, result.stderr
    assert "`icecream`" in result.stderr and "`doxygen-cenv`" in result.stderr
    empty = channel_factory("empty")
    empty.add_package("unrelated", "1.0")
    empty.write_repodata()
    other = _fallback_spec(tmp_path / "b", empty.path, pip_index)
    other.write_text(other.read_text().replace(f"  - python {PY}.*\n  - hello-cenv\n", ""))
    result = cenv("lock", other, "-p", "linux-64")
    assert result.code == 1, result.output
    assert "is on PyPI" not in result.stderr and "`icecream`" in result.stderr, result.stderr


class _CountingIndex:
    """A PEP 503 index on 127.0.0.1 that counts requests; `hang` makes every answer wait a minute."""

    def __init__(self, projects: set[str], hang: bool = False) -> None:
        import http.server
        import threading

        self.requests: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append(self.path)
                if hang:
                    time.sleep(60)
                name = self.path.strip("/").split("/")[-1]
                self.send_response(200 if name in projects else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple"

    def close(self) -> None:
        self.server.shutdown()


def test_pypi_lookups_are_cached_and_bounded(tmp_path: Path, demo_channel: Path) -> None:
    """Issue #25: the "is on PyPI" look-ups are asked once per cache period (a second failing lock sends no
    request), and a hanging index costs at most the look-up deadline, not a timeout per name."""
    from cenv.pip.fallback import LOOKUP_DEADLINE

    index = _CountingIndex({"icecream"})
    try:
        spec = tmp_path / "env.yml"
        spec.write_text(
            f"channels: [{demo_channel.as_posix()}]\npip-options:\n  index-url: {index.url}\n"
            f"dependencies:\n  - python {PY}.*\n  - hello-cenv\n  - icecream\n"
        )
        for _ in range(2):
            result = cenv("lock", spec, "-p", "linux-64")
            assert result.code == 1 and "`icecream`" in result.stderr and "is on PyPI" in result.stderr
        assert index.requests == ["/simple/icecream/"], index.requests
    finally:
        index.close()
    hanging = _CountingIndex({"icecream"}, hang=True)
    try:
        spec.write_text(spec.read_text().replace(index.url, hanging.url))
        started = time.monotonic()
        result = cenv("lock", spec, "-p", "linux-64")
        took = time.monotonic() - started
        assert result.code == 1 and "Traceback" not in result.output, result.output
        assert hanging.requests == ["/simple/icecream/"]
        assert took < LOOKUP_DEADLINE + 8, took
    finally:
        hanging.close()


def test_ctrl_c_during_pypi_lookups_acts_at_once(tmp_path: Path, demo_channel: Path) -> None:
    """Issue #25: Ctrl-C while the look-ups wait on a hanging index ends cenv within about half a second
    (it took 5 s: asyncio's executor joined the look-up thread), with exit 130 and no traceback."""
    import signal

    hanging = _CountingIndex({"icecream"}, hang=True)
    try:
        spec = tmp_path / "env.yml"
        spec.write_text(
            f"channels: [{demo_channel.as_posix()}]\npip-options:\n  index-url: {hanging.url}\n"
            f"dependencies:\n  - python {PY}.*\n  - hello-cenv\n  - icecream\n"
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "cenv", "lock", str(spec), "-p", "linux-64"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not hanging.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hanging.requests, "the look-up never reached the index"
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
        assert proc.returncode == 130, err
        assert "Traceback" not in err and "interrupted" in err
        assert took < 2.0, took  # 0.5 s target; slack for a loaded 2-core machine
    finally:
        hanging.close()


def test_missing_requirements_file_names_the_line_and_the_path(
    tmp_path: Path, demo_channel: Path, pip_index: WheelIndex
) -> None:
    """Issue #25: `-r requirements-dev.txt` whose file is missing: the spec line and the path looked up,
    not uv's `Error parsing included file ... at position 0`."""
    spec = _spec(tmp_path / "spec", demo_channel, pip_index, ["dep-a", "-r requirements-dev.txt"])
    result = cenv("lock", spec, "-p", "linux-64", cwd=tmp_path)
    assert result.code == 1, result.output
    looked = spec.parent / "requirements-dev.txt"
    assert f"{spec}:10: `-r requirements-dev.txt`: {looked} does not exist" in result.stderr, result.stderr
    assert f"spec file's folder ({spec.parent})" in result.stderr
    assert "position 0" not in result.stderr
