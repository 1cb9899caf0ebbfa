"""The CLI as a user meets it (issue #25): inputs that are not environment specs, UTF-16 specs, every spec
problem in one run, `--json` failures, internal errors with a named log and no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.cli_helpers import cenv

SPEC = "name: demo\nchannels: [conda-forge]\ndependencies:\n  - python=3.12\n  - nosuch:: bad\n"


def test_utf16_spec_reads_as_conda_reads_it(tmp_path: Path) -> None:
    """conda/env/env.py `from_file`: `yamlb.decode("utf-8")`, on UnicodeDecodeError `yamlb.decode("utf-16")`.

    What Windows PowerShell's `conda env export > environment.yml` writes (UTF-16 LE with a byte-order mark);
    the error for line 5 must name line 5, as in the UTF-8 file.
    """
    for encoding in ("utf-16", "utf-16-be", "utf-8-sig"):
        path = tmp_path / f"env-{encoding}.yml"
        data = SPEC.encode(encoding)
        if encoding == "utf-16-be":
            data = b"\xfe\xff" + data
        path.write_bytes(data)
        result = cenv("lock", path.name, cwd=tmp_path)
        assert result.code == 1, result.output
        assert f"error: {path.name}:5: dependencies[1].nosuch::" in result.stderr, result.output
        assert "UTF-8" not in result.stderr


def test_latin1_spec_is_refused_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "env.yml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    result = cenv("lock", "env.yml", cwd=tmp_path)
    assert result.code == 1
    assert "error: env.yml: not UTF-8 text" in result.stderr
    assert "hint: save the file as UTF-8" in result.stderr


FOREIGN = {
    "pixi.toml": (
        '[workspace]\nchannels = ["conda-forge"]\n[dependencies]\npython = "3.12"\n',
        "pixi manifest",
    ),
    "pyproject.toml": ('[project]\nname = "x"\n[build-system]\nrequires = ["hatchling"]\n', "pyproject.toml"),
    "requirements.txt": ("numpy==1.26\nrequests>=2\n", "pip requirements file"),
    "requirements-dev.txt": ("-r requirements.txt\npytest\n", "pip requirements file"),
    "deps.txt": ("torch\n", "pip requirements file"),
    "py-deps": ("numpy>=1.26\nscipy ; python_version > '3.9'\n", "pip requirements file"),
    "ml-lock.yml": ("version: 1\nmetadata:\n  platforms: [linux-64]\npackage: []\n", "conda-lock lockfile"),
    "pixi.lock": ("version: 6\nenvironments:\n  default: {}\npackages: []\n", "pixi lockfile"),
    "env.txt": ("# platform: linux-64\n@EXPLICIT\nhttps://x/a-1-0.conda\n", "`@EXPLICIT` package list"),
}


@pytest.mark.parametrize("name", sorted(FOREIGN))
def test_foreign_inputs_say_what_they_are(tmp_path: Path, name: str) -> None:
    text, what = FOREIGN[name]
    (tmp_path / name).write_text(text, encoding="utf-8")
    result = cenv("lock", name, cwd=tmp_path)
    assert result.code == 1, result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"error: {name}: this is "), result.stderr
    assert what in lines[0], result.stderr
    assert any(line.startswith("hint: ") for line in lines), result.stderr
    assert "invalid YAML" not in result.stderr and "unknown key" not in result.stderr


def test_requirements_hint_is_a_spec_that_works(tmp_path: Path) -> None:
    """The hint's inline spec is valid YAML that cenv reads (the `-r` line it suggests included)."""
    from cenv.spec import load_spec_text

    (tmp_path / "requirements.txt").write_text("six\n", encoding="utf-8")
    result = cenv("lock", "requirements.txt", cwd=tmp_path)
    hint = next(line for line in result.stderr.splitlines() if line.startswith("hint: "))
    inline = hint.split("`")[3]
    spec = load_spec_text(f"channels: [conda-forge]\n{inline}\n", str(tmp_path / "environment.yml"))
    assert [req.requirement for req in spec.pip] == ["-r requirements.txt"]


def test_a_real_spec_named_like_a_lock_still_reads(tmp_path: Path) -> None:
    """Recognising foreign files must not refuse a real spec: keys decide, not the name's look."""
    (tmp_path / "deps.yml").write_text("channels: [x]\ndependencies: [python]\n", encoding="utf-8")
    from cenv.spec import load_spec

    assert load_spec([tmp_path / "deps.yml"]).channels


def test_every_spec_problem_in_one_run(tmp_path: Path) -> None:
    (tmp_path / "env.yml").write_text(
        "name: x\nplatforms: [linux64]\ncuda: twelve\nchannelz: [a]\ndependencies:\n  - python=3.12\n",
        encoding="utf-8",
    )
    result = cenv("lock", "env.yml", cwd=tmp_path)
    assert result.code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert [e.split(":")[1:3] for e in errors] == [[" env.yml", "2"], [" env.yml", "3"], [" env.yml", "4"]]
    assert "hint: did you mean `linux-64`?" in result.stderr
    assert "hint: did you mean `channels`?" in result.stderr


def test_json_failure_on_stdout(tmp_path: Path) -> None:
    (tmp_path / "env.yml").write_text("channels: [x]\ncuda: twelve\nplatforms: [linux64]\n", encoding="utf-8")
    result = cenv("lock", "env.yml", "--json", cwd=tmp_path)
    assert result.code == 1
    payload = json.loads(result.stdout)
    assert payload["exit_code"] == 1
    assert payload["error"].startswith("env.yml:2: cuda:")
    assert len(payload["errors"]) == 2
    assert payload["hints"]


_INJECT = """
import sys
import click
import cenv.cli as cli

class PanicException(BaseException):  # what pyo3 raises for a Rust panic: not an Exception
    pass

PanicException.__module__ = "pyo3_runtime"

@cli.cli.command("boom")
@click.option("--json", "json_output", is_flag=True)
def boom(json_output):
    raise PanicException("called `Option::unwrap()` on a `None` value")

cli.main(sys.argv[1:])
"""


@pytest.mark.parametrize("json_output", [False, True])
def test_rust_panic_is_an_internal_error_with_a_log(
    tmp_path: Path, isolate_env: Path, json_output: bool
) -> None:
    """A Rust panic (pyo3's PanicException, a BaseException) reaching the entry point: one error line, the
    log's path, exit 2, no traceback on the terminal; the log holds the traceback."""
    args = ["boom", "--json"] if json_output else ["boom"]
    proc = subprocess.run(
        [sys.executable, "-c", _INJECT, *args], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert errors == ["error: internal error: PanicException: called `Option::unwrap()` on a `None` value"]
    logs = list((isolate_env / "logs").glob("internal-error-*.log"))
    assert len(logs) == 1
    assert f"hint: the traceback is in {logs[0]}" in proc.stderr
    text = logs[0].read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and "PanicException" in text
    assert "command: cenv boom" in text
    if json_output:
        payload = json.loads(proc.stdout)
        assert payload["exit_code"] == 2 and payload["log"] == str(logs[0])


def test_interrupt_is_not_an_internal_error(tmp_path: Path, isolate_env: Path) -> None:
    script = _INJECT.replace(
        'raise PanicException("called `Option::unwrap()` on a `None` value")', "raise KeyboardInterrupt"
    )
    proc = subprocess.run([sys.executable, "-c", script, "boom"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 130
    assert proc.stderr.strip() == "error: interrupted"
    assert not (isolate_env / "logs").exists()


def test_no_check_passes_because_its_input_cannot_be_read() -> None:
    """Issue #25: a host requirement or an update constraint that rattler cannot parse is not a pass."""
    from cenv.errors import InstallError
    from cenv.install.host import HostPackage, check_requirements
    from cenv.update import _version_ok

    host = {"__cuda": HostPackage(name="__cuda", version="12.1", build="0")}
    check_requirements([("torch", "__cuda", ">=12")], host)  # readable and met
    with pytest.raises(InstallError, match="cannot compare"):
        check_requirements([("torch", "__cuda", ">=>=12")], host)
    assert _version_ok(">=1.0", "2.0") and not _version_ok(">=>=1", "2.0")


def test_p_is_guarded_both_ways(tmp_path: Path) -> None:
    """Issue #25: `-p` is the platform in `lock` and the prefix in `create`; each mistake is a usage error
    (exit 2) that names the other meaning, and a near-miss platform gets did-you-mean."""
    (tmp_path / "env.yml").write_text("channels: [x]\ndependencies: [python]\n", encoding="utf-8")
    as_prefix = cenv("create", "env.yml", "-p", "linux-64", cwd=tmp_path)
    assert as_prefix.code == 2, as_prefix.output
    assert "did you mean `--platform linux-64`? -p is the prefix here" in as_prefix.stderr
    assert not (tmp_path / "linux-64").exists()
    as_platform = cenv("lock", "env.yml", "-p", "./myenv", cwd=tmp_path)
    assert as_platform.code == 2
    assert "`./myenv` is a path, not a platform" in as_platform.stderr
    assert "`cenv create -p PREFIX`" in as_platform.stderr
    assert "linux-aarch64" not in as_platform.stderr  # not the list of every platform
    for command in (["lock", "env.yml"], ["why", "x", "-l", "env.yml"], ["export", "env.yml"]):
        typo = cenv(*command, "-p", "linux64", cwd=tmp_path)
        assert typo.code == 2, typo.output
        assert "unknown platform `linux64`: did you mean `linux-64`?" in typo.stderr, typo.stderr


# Options of the spec's `pip:` lines (pip's own, which cenv reads there), and other tools' command lines
_PIP_LINE_OPTIONS = {
    "--index-url",
    "--extra-index-url",
    "--find-links",
    "--hash",
    "--editable",
    "--requirement",
}
_OTHER_TOOLS = ("uv ", "conda ", "pip ", "python ", "micromamba ", "mamba ", "mypy ", "git ", "curl ")


def _message_strings() -> list[tuple[str, int, str]]:
    """Every string literal in src/cenv that is not a docstring: (file, line, text); f-strings joined."""
    import ast

    found = []
    for path in sorted((Path(__file__).parents[1] / "src" / "cenv").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                text = "".join(v.value if isinstance(v, ast.Constant) else "X" for v in node.values)
                found.append((path.name, node.lineno, str(text)))
            elif (
                isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
            ):
                found.append((path.name, node.lineno, node.value))
    return found


def test_every_flag_a_message_names_exists() -> None:
    """Issue #25 (`cenv lock nosuch.yml` hinted `-f environment.yml`, which does not exist): every `--flag`
    inside backticks in a message exists, on the command the message names (`cenv lock ... --cuda`) or on
    some command."""
    import re

    from cenv.cli import cli

    options = {
        name: {o for p in command.params for o in [*p.opts, *p.secondary_opts] if o.startswith("-")}
        for name, command in cli.commands.items()
    }
    every = set().union(*options.values()) | {"--help", "--version"}
    wrong = []
    for file, line, text in _message_strings():
        for code in re.findall(r"`([^`]*)`", text):
            if code.startswith(_OTHER_TOOLS) or code.startswith("cenv run"):
                continue
            flags = set(re.findall(r"(?<![\w-])(-[a-zA-Z]\b|--[a-z][a-z0-9-]*)", code))
            command = re.match(r"cenv (\w+)", code)
            allowed = (
                (options[command.group(1)] | {"--help"}) if command and command.group(1) in options else every
            )
            bad = flags - allowed - _PIP_LINE_OPTIONS - {"-e", "-r", "-c"}
            if bad:
                wrong.append(f"{file}:{line}: `{code}` names {sorted(bad)}")
    assert wrong == [], "\n".join(wrong)
