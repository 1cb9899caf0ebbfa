"""Issue #12: solver errors in cenv's words (demo channel, through the CLI)."""

from __future__ import annotations

from pathlib import Path

from tests.cli_helpers import cenv


def _spec(tmp_path: Path, channel: Path, *deps: str) -> Path:
    path = tmp_path / "env.yml"
    path.write_text(f"channels: [{channel}]\ndependencies:\n" + "".join(f"  - {d}\n" for d in deps))
    return path


def test_every_unknown_name_in_one_run_with_did_you_mean_and_line(demo_channel: Path, tmp_path: Path) -> None:
    spec = _spec(tmp_path, demo_channel, "python", "helo-cenv >=0.1", "cenv-acel", "cenv-demo-ap")
    result = cenv("lock", spec, "-p", "linux-64")
    assert result.code == 1, result.output
    err = result.stderr
    assert "`helo-cenv`, `cenv-acel`, `cenv-demo-ap`" in err
    assert "env.yml:4: `helo-cenv >=0.1`" in err and "did you mean `hello-cenv`" in err
    assert "env.yml:5:" in err and "did you mean `cenv-accel`" in err
    assert "env.yml:6:" in err and "did you mean `cenv-demo-app`" in err


def test_requirement_as_written_and_lines_not_repeated(demo_channel: Path, tmp_path: Path) -> None:
    result = cenv("lock", _spec(tmp_path, demo_channel, "python", "hello-cenv >=5"), "-p", "linux-64")
    assert result.code == 1
    first = result.stderr.splitlines()[0]
    assert "hello-cenv >=5" in first and "hello-cenv *" not in first
    assert first.count("the constraint hello-cenv >=5 cannot be fulfilled") == 1, first


def test_blocking_virtual_package_names_package_minimum_and_flag(demo_channel: Path, tmp_path: Path) -> None:
    spec = _spec(tmp_path, demo_channel, "cenv-accel=*=cuda*")
    low = cenv("lock", spec, "-p", "linux-64", "--cuda", "11.8")
    assert low.code == 1
    assert "`cenv-accel 1.0.0` needs `__cuda >=12`" in low.stderr, low.stderr
    assert "`__cuda=11.8` (from the flag)" in low.stderr and "`--cuda 12`" in low.stderr
    assert "cenv-accel=*=cuda*" in low.stderr.splitlines()[0]
    none = cenv("lock", spec, "-p", "linux-64")
    assert "the target has no `__cuda`: pass `--cuda 12`" in none.stderr, none.stderr


def test_explanation_is_the_solvers_indented_tree(demo_channel: Path, tmp_path: Path) -> None:
    """Issue #25: the tree rattler gives, one line each with its indentation, below a one-line cause."""
    import json

    spec = _spec(tmp_path, demo_channel, "cenv-accel=*=cuda*")
    result = cenv("lock", spec, "-p", "linux-64", "--cuda", "11.8")
    lines = result.stderr.splitlines()
    assert lines[0] == (
        "error: no solution for linux-64: cenv-accel=*=cuda* → cenv-accel 1.0.0 → "
        "__cuda >=12, for which no candidates were found"
    ), result.stderr
    assert "  └─ cenv-accel 1.0.0 would require" in lines
    assert "     └─ __cuda >=12, for which no candidates were found." in lines
    tree = lines[1 : lines.index(next(line for line in lines if line.startswith("hint:")))]
    assert tree and all(line.startswith("  ") for line in tree)
    assert len(tree) == len(set(tree)), tree  # a repeated line is shown once
    payload = json.loads(cenv("lock", spec, "-p", "linux-64", "--cuda", "11.8", "--json").stdout)
    assert payload["details"] == [line[2:] for line in tree]
