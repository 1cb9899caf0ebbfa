"""The thirty most common errors, pinned whole (message, hints, exit code), so that a change of wording is
seen and reviewed in the diff of tests/snapshots/errors/ (issue #25; uv's `uv_snapshot!` and pixi's `insta`
are the model). Run with `CENV_UPDATE_SNAPSHOTS=1` to rewrite the files after an intended change.

Paths, ports and log names are replaced by placeholders (`<TMP>`, `<DEMO>`, `<LOG>`) before comparing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.cli_helpers import cenv

SNAPSHOTS = Path(__file__).parent / "snapshots" / "errors"
UPDATE = os.environ.get("CENV_UPDATE_SNAPSHOTS") == "1"

Setup = Callable[[Path, Path], list[str]]  # (work folder, demo channel) -> cenv arguments


def _spec(work: Path, text: str, name: str = "env.yml") -> None:
    (work / name).write_text(text, encoding="utf-8")


def _demo(work: Path, demo: Path, *deps: str, extra: str = "") -> None:
    lines = "".join(f"  - {d}\n" for d in deps)
    _spec(work, f"channels: [{demo.as_posix()}]\n{extra}dependencies:\n{lines}")


def _locked(work: Path, demo: Path, *deps: str) -> None:
    _demo(work, demo, *deps)
    result = cenv("lock", "env.yml", "-p", "linux-64", cwd=work)
    assert result.code == 0, result.output


def missing_spec(work: Path, demo: Path) -> list[str]:
    return ["lock", "nosuch.yml"]


def invalid_yaml(work: Path, demo: Path) -> list[str]:
    _spec(work, "channels: [conda-forge\ndependencies:\n  - python\n")
    return ["lock", "env.yml"]


def unknown_key(work: Path, demo: Path) -> list[str]:
    _spec(work, "chanels: [conda-forge]\ndependencies: [python]\n")
    return ["lock", "env.yml"]


def several_problems(work: Path, demo: Path) -> list[str]:
    _spec(work, "platforms: [linux64]\ncuda: twelve\ndependencies: [python]\n")
    return ["lock", "env.yml"]


def empty_spec(work: Path, demo: Path) -> list[str]:
    _spec(work, "# nothing yet\n")
    return ["lock", "env.yml"]


def not_utf8(work: Path, demo: Path) -> list[str]:
    (work / "env.yml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    return ["lock", "env.yml"]


def requirements_file(work: Path, demo: Path) -> list[str]:
    _spec(work, "numpy==1.26\nrequests>=2\n", "requirements.txt")
    return ["lock", "requirements.txt"]


def pixi_manifest(work: Path, demo: Path) -> list[str]:
    _spec(work, '[workspace]\nchannels = ["conda-forge"]\n', "pixi.toml")
    return ["lock", "pixi.toml"]


def pyproject(work: Path, demo: Path) -> list[str]:
    _spec(work, '[project]\nname = "x"\n', "pyproject.toml")
    return ["lock", "pyproject.toml"]


def lockfile_to_lock(work: Path, demo: Path) -> list[str]:
    _locked(work, demo, "python")
    return ["lock", "env-lock.yml"]


def unknown_package(work: Path, demo: Path) -> list[str]:
    _demo(work, demo, "python", "helo-cenv")
    return ["lock", "env.yml", "-p", "linux-64"]


def unsatisfiable_version(work: Path, demo: Path) -> list[str]:
    _demo(work, demo, "python", "hello-cenv >=5")
    return ["lock", "env.yml", "-p", "linux-64"]


def cuda_too_old(work: Path, demo: Path) -> list[str]:
    _demo(work, demo, "cenv-accel=*=cuda*")
    return ["lock", "env.yml", "-p", "linux-64", "--cuda", "11.8"]


def platform_typo(work: Path, demo: Path) -> list[str]:
    _demo(work, demo, "python")
    return ["lock", "env.yml", "-p", "linux64"]


def platform_is_a_path(work: Path, demo: Path) -> list[str]:
    _demo(work, demo, "python")
    return ["lock", "env.yml", "-p", "./myenv"]


def prefix_is_a_platform(work: Path, demo: Path) -> list[str]:
    _demo(work, demo, "python")
    return ["create", "env.yml", "-p", "linux-64"]


def cuda_not_a_version(work: Path, demo: Path) -> list[str]:
    _demo(work, demo, "python")
    return ["lock", "env.yml", "--cuda", "twelve"]


def bad_priority(work: Path, demo: Path) -> list[str]:
    _demo(work, demo, "python")
    return ["lock", "env.yml", "--channel-priority", "strikt"]


def unknown_option(work: Path, demo: Path) -> list[str]:
    _demo(work, demo, "python")
    return ["lock", "env.yml", "--chekc"]


def create_missing_source(work: Path, demo: Path) -> list[str]:
    return ["create", "nosuch.yml", "-p", "env"]


def check_stale(work: Path, demo: Path) -> list[str]:
    _locked(work, demo, "python")
    _demo(work, demo, "python", "hello-cenv")
    return ["lock", "env.yml", "--check"]


def check_without_lock(work: Path, demo: Path) -> list[str]:
    _demo(work, demo, "python")
    return ["lock", "env.yml", "--check"]


def create_stale_lock(work: Path, demo: Path) -> list[str]:
    _locked(work, demo, "python")
    _demo(work, demo, "python", "hello-cenv")
    return ["create", "env.yml", "-p", "env"]


def run_without_prefix(work: Path, demo: Path) -> list[str]:
    return ["run", "--", "true"]


def run_not_an_environment(work: Path, demo: Path) -> list[str]:
    return ["run", "-p", ".", "--", "true"]


def export_bad_format(work: Path, demo: Path) -> list[str]:
    _locked(work, demo, "python")
    return ["export", "env-lock.yml", "--format", "yaml"]


def why_not_in_lock(work: Path, demo: Path) -> list[str]:
    _locked(work, demo, "python")
    return ["why", "numpy", "-l", "env-lock.yml", "-p", "linux-64"]


def diff_missing_file(work: Path, demo: Path) -> list[str]:
    return ["diff", "old-lock.yml", "new-lock.yml"]


def pack_missing_lock(work: Path, demo: Path) -> list[str]:
    return ["pack", "nosuch-lock.yml", "-o", "out.tar"]


def channel_folder_missing(work: Path, demo: Path) -> list[str]:
    _spec(work, f"channels: [{(demo.parent / 'dmeo').as_posix()}]\ndependencies: [python]\n")
    return ["lock", "env.yml", "-p", "linux-64"]


CASES: dict[str, Setup] = {
    f.__name__: f
    for f in (
        missing_spec, invalid_yaml, unknown_key, several_problems, empty_spec, not_utf8, requirements_file,
        pixi_manifest, pyproject, lockfile_to_lock, unknown_package, unsatisfiable_version, cuda_too_old,
        platform_typo, platform_is_a_path, prefix_is_a_platform, cuda_not_a_version, bad_priority,
        unknown_option, create_missing_source, check_stale, check_without_lock, create_stale_lock,
        run_without_prefix, run_not_an_environment, export_bad_format, why_not_in_lock, diff_missing_file,
        pack_missing_lock, channel_folder_missing,
    )
}  # fmt: skip


def _normalized(text: str, work: Path, demo: Path) -> str:
    text = text.replace(str(demo.resolve()), "<DEMO>").replace(str(demo), "<DEMO>")
    text = text.replace(str(demo.parent.resolve()), "<CHANNELS>").replace(str(demo.parent), "<CHANNELS>")
    text = text.replace(str(work.resolve()), "<TMP>").replace(str(work), "<TMP>")
    text = re.sub(r"/\S*/logs/[\w.-]+\.log", "<LOG>", text)
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<PORT>", text)
    text = re.sub(r"\bin \d+\.\d+s\b", "in <TIME>", text)
    return text


@pytest.mark.parametrize("name", sorted(CASES))
def test_error_snapshot(name: str, tmp_path: Path, demo_channel: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    args = CASES[name](work, demo_channel)
    result = cenv(*args, cwd=work)
    assert result.code != 0, result.output
    assert "Traceback" not in result.output
    shown = _normalized(f"$ cenv {' '.join(args)}\nexit {result.code}\n{result.stderr}", work, demo_channel)
    path = SNAPSHOTS / f"{name}.txt"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(shown, encoding="utf-8")
    elif not path.exists():
        pytest.fail(f"{path} is missing: run with CENV_UPDATE_SNAPSHOTS=1, review it and commit it")
    assert shown == path.read_text(encoding="utf-8"), f"{name}: the message changed (see {path})"


def test_thirty_cases() -> None:
    assert len(CASES) == 30
    assert {p.stem for p in SNAPSHOTS.glob("*.txt")} <= set(CASES)
