"""End to end: a spec whose conda part provides a Python package and whose pip part adds PyPI packages that
depend on it. Real archives, a real PEP 503 index of real wheels, real uv; nothing mocked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.cli_helpers import cenv
from tests.create_support import files_containing
from tests.support.wheel_factory import WheelIndex
from uv import find_uv_bin

PY = f"{sys.version_info.major}.{sys.version_info.minor}"


@pytest.fixture
def pip_index(tmp_path: Path) -> WheelIndex:
    index = WheelIndex(tmp_path / "pypi")
    index.add("needs-hello", "1.0", requires=["hello-cenv>=0.1"])
    # A newer hello-cenv on PyPI must not replace the one conda provides.
    index.add("hello-cenv", "9.9")
    index.add(
        "piponly",
        "1.0",
        files={
            "piponly/__init__.py": "def main() -> None:\n    print('piponly works')\n",
            "piponly-1.0.dist-info/entry_points.txt": "[console_scripts]\npiponly = piponly:main\n",
        },
    )
    return index.write()


def _spec(tmp_path: Path, demo_channel: Path, index: WheelIndex, pip: list[str]) -> Path:
    spec = tmp_path / "mixed.yml"
    lines = "\n".join(f"      - {p}" for p in pip)
    spec.write_text(
        f"name: mixed\nchannels: [{demo_channel.as_posix()}]\n"
        f"pip-options:\n  index-url: {index.simple_url}\n"
        f"dependencies:\n  - python {PY}.*\n  - hello-cenv\n  - pip:\n{lines}\n"
    )
    return spec


def test_lock_and_create_with_pip(tmp_path: Path, demo_channel: Path, pip_index: WheelIndex) -> None:
    spec = _spec(tmp_path, demo_channel, pip_index, ["needs-hello", "piponly"])
    result = cenv("lock", spec)
    assert result.code == 0, result.output
    data = yaml.load((tmp_path / "mixed-lock.yml").read_text(), Loader=yaml.CSafeLoader)
    pip = {p["name"]: p for p in data["package"] if p["manager"] == "pip"}
    assert set(pip) == {"needs-hello", "piponly"}, pip
    assert all(len(p["hash"]["sha256"]) == 64 for p in pip.values())
    conda_hello = [p for p in data["package"] if p["name"] == "hello-cenv"]
    assert [p["manager"] for p in conda_hello] == ["conda"] and conda_hello[0]["version"] == "0.2.0"
    assert "needs-hello" in data["metadata"]["custom_metadata"]["cenv.pip-requested.linux-64"]

    requirements = cenv("export", tmp_path / "mixed-lock.yml", "--format", "requirements", "-p", "linux-64")
    assert requirements.code == 0, requirements.output
    assert "--hash=sha256:" in requirements.stdout and "needs-hello" in requirements.stdout
    assert "hello-cenv" not in requirements.stdout

    prefix = tmp_path / "env"
    created = cenv("create", spec, "-p", prefix)
    assert created.code == 0, created.output
    assert "pip: 2/2 packages installed" in created.stderr  # issue #25: the pip install shows progress
    python = prefix / "bin" / "python"
    check = subprocess.run(
        [python, "-c", "import needs_hello, piponly, hello_cenv as h, sys; print(h.__version__, sys.prefix)"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.split() == ["0.2.0", str(prefix)]
    listing = subprocess.run(
        [find_uv_bin(), "pip", "list", "--python", str(python), "--format", "freeze"],
        capture_output=True,
        text=True,
    )
    lines = [line.lower() for line in listing.stdout.splitlines()]
    assert [line for line in lines if line.startswith("hello-cenv")] == ["hello-cenv==0.2.0"], lines
    assert "needs-hello==1.0" in lines and "piponly==1.0" in lines
    # The pip console script runs, and nothing in the prefix points at the staging directory.
    ran = cenv("run", "-p", prefix, "--", "piponly")
    assert ran.code == 0 and "piponly works" in ran.stdout, ran.output
    assert files_containing(prefix, b".cenv-tmp") == []
    # The pip part is compiled to bytecode too, and nothing of uv's (`.lock`) is left in the prefix root.
    site = prefix / "lib" / f"python{PY}" / "site-packages"
    tag = f"cpython-{PY.replace('.', '')}"
    assert (site / "piponly" / "__pycache__" / f"__init__.{tag}.pyc").is_file()
    assert (site / "hello_cenv" / "__pycache__" / f"__init__.{tag}.pyc").is_file()  # conda's noarch part
    assert not (prefix / ".lock").exists() and not (prefix / "CACHEDIR.TAG").exists()


def test_pip_conflict_with_conda_is_an_error(
    tmp_path: Path, demo_channel: Path, pip_index: WheelIndex
) -> None:
    spec = _spec(tmp_path, demo_channel, pip_index, ["hello-cenv==9.9"])
    result = cenv("lock", spec)
    assert result.code == 1, result.output
    assert "hello-cenv" in result.stderr and "0.2.0" in result.stderr, result.stderr
    assert not (tmp_path / "mixed-lock.yml").exists()


def test_lock_check_sees_pip_changes(tmp_path: Path, demo_channel: Path, pip_index: WheelIndex) -> None:
    spec = _spec(tmp_path, demo_channel, pip_index, ["needs-hello"])
    assert cenv("lock", spec).code == 0
    assert cenv("lock", spec, "--check").code == 0
    spec.write_text(spec.read_text().replace("      - needs-hello", "      - needs-hello\n      - piponly"))
    stale = cenv("lock", spec, "--check")
    assert stale.code == 1 and "pip-changed" in stale.stdout, stale.output


def test_relock_reuses_the_pip_graph_only_for_the_same_inputs(
    tmp_path: Path, demo_channel: Path, pip_index: WheelIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-lock takes the pip dependency graph from cenv's cache when uv pins the same artifacts for the same
    request (pip lines, virtual packages, conda pins): same bytes, no `# via` pass."""
    from cenv.pip import graph
    from cenv.pipeline import lock
    from cenv.settings import LockSettings

    passes: list[str] = []
    real_start, real_compile = graph.start_graph, graph.compile_graph
    monkeypatch.setattr(graph, "start_graph", lambda *a: passes.append("early") or real_start(*a))
    monkeypatch.setattr(graph, "compile_graph", lambda *a: passes.append("pinned") or real_compile(*a))
    spec = _spec(tmp_path, demo_channel, pip_index, ["needs-hello", "piponly"])
    settings = LockSettings(spec_paths=(spec,), platforms=("linux-64",))
    path = lock(settings).path
    first = path.read_bytes()
    assert passes and b"needs-hello" in first
    passes.clear()
    lock(settings)
    assert passes == [] and path.read_bytes() == first
    passes.clear()
    lock(LockSettings(spec_paths=(spec,), platforms=("linux-64",), glibc="2.34"))  # other virtual packages
    assert passes
    passes.clear()
    path.unlink()  # else the lock would remember its `--glibc 2.34` (issue #12)
    lock(settings)  # the first request again: its graph is still cached
    assert passes == [] and path.read_bytes() == first
    spec.write_text(spec.read_text().replace("      - piponly\n", ""))  # other pip lines
    passes.clear()
    lock(settings)
    assert passes and b"piponly" not in path.read_bytes()


def test_share_instructions_add_pip_when_the_lock_has_none(
    tmp_path: Path, demo_channel: Path, pip_index: WheelIndex
) -> None:
    """Issue #22: the shared commands run `python -m pip` in the new environment; a lock whose conda part
    has no `pip` (conda-forge's python does not depend on it; an @EXPLICIT install adds nothing) gets pip
    installed first, with nothing locked allowed to move, from the lock's channel. Each command's
    precondition is checked in order: pip is in the environment before the step that runs it."""
    import shlex

    spec = _spec(tmp_path, demo_channel, pip_index, ["piponly"])
    assert cenv("lock", spec, "-p", "linux-64").code == 0
    lock = tmp_path / "mixed-lock.yml"
    conda_names = {p["name"] for p in yaml.safe_load(lock.read_text())["package"] if p["manager"] == "conda"}
    assert "pip" not in conda_names
    shared = cenv("export", lock, "--format", "share", "-p", "linux-64", "-o", tmp_path / "out")
    assert shared.code == 0, shared.output
    commands = [
        line.strip() for line in shared.stdout.splitlines() if line.strip().startswith(("conda", "micro"))
    ]
    for tool in ("conda", "micromamba"):
        command = next(c for c in commands if c.startswith(f"{tool} create"))
        steps = [shlex.split(step) for step in command.split(" && ")]
        assert steps[0][:2] == [tool, "create"]
        install = steps[1]
        assert install[:2] == [tool, "install"] and install[-1] == "pip" and "--freeze-installed" in install
        assert install[install.index("-c") + 1] == demo_channel.as_posix()  # the lock's channel
        assert steps[2] == [
            tool, "run", "-n", "mixed", "python", "-m", "pip", "install", "--no-deps", "--require-hashes",
            "-r", "mixed.linux-64.requirements.txt",
        ]  # fmt: skip


def test_create_json_names_the_pip_packages_and_the_variant(
    tmp_path: Path, demo_channel: Path, pip_index: WheelIndex
) -> None:
    """Issue #25: `create --json` names the pip part and the variant it created."""
    import json

    spec = _spec(tmp_path, demo_channel, pip_index, ["piponly"])
    spec.write_text(spec.read_text() + "variants:\n  plain: {}\n")
    made = cenv("create", spec, "-p", tmp_path / "env", "--variant", "plain", "--json")
    assert made.code == 0, made.output
    payload = json.loads(made.stdout)
    assert payload["variant"] == "plain"
    assert payload["pip"] == [{"name": "piponly", "version": "1.0"}]
