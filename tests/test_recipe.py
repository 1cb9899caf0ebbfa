"""recipe/recipe.yaml: cenv built into a conda package by rattler-build, offline, then installed by cenv.

The channel the build and the install use is made here: python from the test factory (it wraps this
interpreter), and every host and run requirement as a conda package made from the wheel installed in this
test environment (tests/support/conda_from_dist.py). Nothing is fetched from the network.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from tests.cli_helpers import REPO, cenv
from tests.support.channel_factory import ChannelFactory
from tests.support.conda_from_dist import add_installed, closure, conda_name

RECIPE = REPO / "recipe" / "recipe.yaml"
# pyproject.toml's [project] as the editable install of this checkout reports it (no TOML parser on 3.10)
VERSION = importlib.metadata.version("cenv")
DEPENDENCIES = [r for r in importlib.metadata.requires("cenv") or [] if "extra ==" not in r]
REQUIRES_PYTHON = importlib.metadata.metadata("cenv")["Requires-Python"]


def _split(requirement: str) -> tuple[str, str]:
    """(name, specifier); an environment marker is dropped: a noarch recipe cannot select by python
    version, so a dependency pyproject takes only on some versions (tomli on 3.10) is taken always."""
    requirement = requirement.split(";", 1)[0]
    match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)$", requirement)
    assert match is not None, requirement
    return match.group(1), match.group(2).replace(" ", "")


def test_recipe_runs_what_pyproject_depends_on_under_conda_forge_names() -> None:
    recipe = yaml.safe_load(RECIPE.read_text())
    assert recipe["build"]["noarch"] == "python"
    assert "pyproject.toml" in recipe["context"]["version"]  # one source for the version
    run = {name: SpecifierSet(spec) for name, spec in map(_split, recipe["requirements"]["run"])}
    wanted = {conda_name(name): SpecifierSet(spec) for name, spec in map(_split, DEPENDENCIES)}
    wanted["python"] = SpecifierSet(REQUIRES_PYTHON)
    assert run == wanted
    scripts = [line for test in recipe["tests"] for line in test.get("script", [])]
    assert scripts == ["cenv --version", "cenv --help"]


def test_recipe_builds_offline_and_cenv_installs_and_runs_it(tmp_path: Path) -> None:
    rattler_build = pytest.importorskip("rattler_build")
    channel = ChannelFactory(tmp_path / "channels", "local")
    channel.python_wrapper()
    requirements = [_split(r)[0] for r in DEPENDENCIES] + ["pip", "hatchling"]
    for name in closure(requirements):
        add_installed(channel, name)
    channel.write_repodata()

    output = tmp_path / "out"
    recipe = rattler_build.Stage0Recipe.from_file(RECIPE)
    results = recipe.run_build(
        # the package's own tests (`cenv --version`, `cenv --help`) run in a fresh test environment
        tool_config=rattler_build.ToolConfiguration(
            test_strategy="native", use_zstd=False, use_sharded=False, compression_threads=1
        ),
        output_dir=output,
        channels=[channel.url],
        no_build_id=True,
        render_config=rattler_build.RenderConfig(platform=rattler_build.PlatformConfig(experimental=True)),
    )
    [result] = results
    version = VERSION
    assert (result.name, result.version) == ("cenv", version)
    [package] = result.packages
    assert Path(package).parent == output / "noarch"

    spec = tmp_path / "cenv-env.yml"
    spec.write_text(
        f"channels: [{output.as_uri()}, {channel.url}]\ndependencies:\n  - python\n  - cenv =={version}\n"
    )
    prefix = tmp_path / "env"
    created = cenv("create", spec, "-p", prefix)
    assert created.code == 0, created.output
    ran = subprocess.run([prefix / "bin" / "cenv", "--version"], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == f"cenv, version {version}"
    # It is the packaged cenv that ran, not this checkout's.
    where = subprocess.run(
        [prefix / "bin" / "python", "-c", "import cenv; print(cenv.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert where.stdout.strip().startswith(str(prefix)), where.stdout + where.stderr
    assert sys.prefix not in where.stdout
