"""The README's headline (issue #23): its console block run as printed, its shown output checked.

The commands run in a folder holding a copy of environments/ml.yml, with `conda-forge` mapped onto a copy of
../shared/realdata/channels/pytorch-gpu-multiplatform whose CUDA-only pytorch builds got conda-forge's CPU
twins (tests/support/cpu_twins.py; made in tmp). This machine reaches neither conda-forge nor PyPI, so the
copy of ml.yml names a local index holding `prodigyopt` (its only PyPI package) in `pip-options`, as the
channel alias stands in for conda-forge. Timings ("in 0.17s") are compared as numbers of that shape.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from tests.cli_helpers import REALDATA, REPO, cenv, mirror
from tests.support.cpu_twins import cpu_twins
from tests.support.wheel_factory import WheelIndex

MIRROR = REALDATA / "channels" / "pytorch-gpu-multiplatform"


def headline_session() -> list[tuple[str, list[str]]]:
    """(command, the output lines the README shows) for each `$ ` line of the example's console block."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## The example", 1)[1].split("\n## ", 1)[0]
    block = section.split("```console\n", 1)[1].split("```", 1)[0]
    session: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            session.append((line[2:], []))
        elif line.strip():
            session[-1][1].append(line)
    return session


def _shape(line: str) -> str:
    return re.sub(r" in \d+\.\d\ds$", " in N.NNs", line.strip())


def ml_folder(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A folder with ml.yml (plus a local index for its PyPI package) and the environment the README's
    commands run with: conda-forge through the alias onto the mirror with CPU twins."""
    index = WheelIndex(tmp_path / "pypi")
    index.add("prodigyopt", "1.1.2", files={"prodigyopt/__init__.py": "class Prodigy: ...\n"})
    index.write()
    work = tmp_path / "work"
    work.mkdir()
    text = (REPO / "environments" / "ml.yml").read_text()
    (work / "ml.yml").write_text(text + f"pip-options:\n  index-url: {index.simple_url}\n")
    twins = cpu_twins(MIRROR, tmp_path / "conda-forge-with-cpu-twins")
    alias = mirror(tmp_path / "alias", **{"conda-forge": twins})
    return work, {"CONDA_CHANNEL_ALIAS": alias, "CONDA_OVERRIDE_CUDA": ""}


def test_readme_shows_a_session() -> None:
    session = headline_session()
    commands = [command for command, _ in session]
    assert commands[0] == "cenv lock ml.yml --platform linux-64 --cuda 12.1", commands
    assert all(shown for _, shown in session), "every command in the block shows its output"


@pytest.mark.realdata("channels/pytorch-gpu-multiplatform")
def test_readme_headline_runs_as_printed(tmp_path: Path) -> None:
    work, env = ml_folder(tmp_path)
    for command, shown in headline_session():
        words = shlex.split(command)
        extra = dict(env)
        while "=" in words[0]:  # `CONDA_OVERRIDE_CUDA=12.1 cenv create ...`
            name, _, value = words.pop(0).partition("=")
            extra[name] = value
        assert words[0] == "cenv", command
        result = cenv(*words[1:], cwd=work, env=extra)
        assert result.code == 0, (command, result.output)
        printed = [_shape(line) for line in result.output.splitlines()]
        position = 0
        for line in shown:  # the README's lines, in order, among what the command printed
            want = _shape(line)
            assert want in printed[position:], (command, want, result.output)
            position = printed.index(want, position) + 1
