"""Issue #23: variants are a matrix, and recorded inputs replay as flags, for lock, --check, create, --relock.

The realdata tests use environments/ml.yml against ../shared/realdata/channels/pytorch-gpu-multiplatform, as
is (CUDA-only pytorch on linux-64) and with conda-forge's CPU twins (tests/support/cpu_twins.py, copied into
tmp); its PyPI package comes from a local index composed on top. The others use the demo channel, whose
`cenv-accel` has a cpu build and a cuda build that needs `__cuda >=12`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from conda_lock.lockfile import parse_conda_lock_file
from tests.cli_helpers import REALDATA, REPO, cenv, mirror
from tests.support.cpu_twins import cpu_twins
from tests.support.wheel_factory import WheelIndex

ML = REPO / "environments" / "ml.yml"
MIRROR = REALDATA / "channels" / "pytorch-gpu-multiplatform"
PY = f"{sys.version_info.major}.{sys.version_info.minor}"
NO_GPU = {"CONDA_OVERRIDE_CUDA": ""}


def _custom(lock: Path) -> dict[str, str]:
    return yaml.safe_load(lock.read_text())["metadata"]["custom_metadata"]


def _builds(lock: Path, name: str, platform: str = "linux-64") -> list[str]:
    data = yaml.safe_load(lock.read_text())
    return [
        p["url"].rsplit("/", 1)[-1]
        for p in data["package"]
        if p["name"] == name and p["platform"] == platform and p["manager"] == "conda"
    ]


def _ml(tmp_path: Path, twins: bool) -> tuple[Path, dict[str, str]]:
    """ml.yml (plus a local index for its PyPI package) in a folder, and the environment mapping
    conda-forge onto the mirror (with CPU twins, or as it is)."""
    index = WheelIndex(tmp_path / "pypi")
    index.add("prodigyopt", "1.1.2", files={"prodigyopt/__init__.py": "class Prodigy: ...\n"})
    index.write()
    work = tmp_path / "work"
    work.mkdir()
    spec = work / "ml.yml"
    spec.write_text(ML.read_text() + f"pip-options:\n  index-url: {index.simple_url}\n")
    channel = cpu_twins(MIRROR, tmp_path / "twins") if twins else MIRROR
    alias = mirror(tmp_path / "alias", **{"conda-forge": channel})
    return spec, {"CONDA_CHANNEL_ALIAS": alias, **NO_GPU}


@pytest.mark.realdata("channels/pytorch-gpu-multiplatform")
def test_cuda_applies_to_cuda_variants_only_and_check_covers_both(tmp_path: Path) -> None:
    spec, env = _ml(tmp_path, twins=True)
    cpu, gpu = spec.parent / "ml.cpu-lock.yml", spec.parent / "ml.cu12x-lock.yml"
    made = cenv("lock", spec, "--platform", "linux-64", "--cuda", "12.1", env=env)
    assert made.code == 0, made.output
    assert "[cpu] --cuda does not apply" in made.stderr, made.stderr
    assert all(b.startswith("pytorch-2.8.0-cpu_") for b in _builds(cpu, "pytorch")), _builds(cpu, "pytorch")
    assert "__cuda" not in _custom(cpu)["cenv.virtual-packages.linux-64"]
    assert not [p for p in yaml.safe_load(cpu.read_text())["package"] if p["name"].startswith("cuda-")]
    assert _builds(gpu, "pytorch")[0].startswith("pytorch-2.8.0-cuda"), _builds(gpu, "pytorch")
    assert "__cuda=12.1=0" in _custom(gpu)["cenv.virtual-packages.linux-64"]
    for lock in (cpu, gpu):
        parse_conda_lock_file(lock)  # the recorded inputs (sources, overridden spec values) stay conda-lock's
    # the variants differ: `diff` says so (it said "no changes" when --cuda leaked into cpu)
    diff = cenv("diff", cpu, gpu, "--exit-code", env=env)
    assert diff.code == 1 and "pytorch" in diff.stdout, diff.output
    for lock in (cpu, gpu):  # a variant's lock against a fresh solve of its variant, with its recorded inputs
        fresh = cenv("diff", lock, spec, "--exit-code", env=env)
        assert fresh.code == 0, fresh.output

    checked = cenv("lock", spec, "--check", env=env)  # no flags: the recorded -p and --cuda replay
    assert checked.code == 0, checked.output
    assert "[cpu] " in checked.stderr and "[cu12x] " in checked.stderr

    before = cpu.read_bytes(), gpu.read_bytes()
    spec.write_text(spec.read_text().replace("  - sympy\n", "  - sympy\n  - jinja2\n"))
    stale = cenv("lock", spec, "--check", env=env)
    assert stale.code == 1, stale.output
    assert "cpu (stale)" in stale.stderr and "cu12x (stale)" in stale.stderr, stale.stderr
    assert "-p linux-64 --cuda 12.1" in stale.stderr, stale.stderr  # the refresh command, for all variants
    assert (cpu.read_bytes(), gpu.read_bytes()) == before

    relocked = cenv("lock", spec, env=env)  # no flags: same inputs as recorded
    assert relocked.code == 0, relocked.output
    assert set(yaml.safe_load(gpu.read_text())["metadata"]["platforms"]) == {"linux-64"}
    assert "__cuda=12.1=0" in _custom(gpu)["cenv.virtual-packages.linux-64"]
    assert cenv("lock", spec, "--check", env=env).code == 0


@pytest.mark.realdata("channels/pytorch-gpu-multiplatform")
def test_create_chooses_by_the_locks_recorded_cuda_and_says_why(tmp_path: Path) -> None:
    spec, env = _ml(tmp_path, twins=True)
    assert cenv("lock", spec, "--platform", "linux-64", "--cuda", "12.1", env=env).code == 0
    locks = sorted(spec.parent.glob("*-lock.yml"))
    before = [p.read_bytes() for p in locks]
    target = tmp_path / "env"
    gpu = cenv("create", spec, "--dry-run", "-p", target, env={**env, "CONDA_OVERRIDE_CUDA": "12.1"})
    assert gpu.code == 0, gpu.output
    assert "variant cu12x: host driver 12.1 >= cu12x's 12.1" in gpu.stderr, gpu.stderr
    cpu = cenv("create", spec, "--dry-run", "-p", target, env=env)
    assert cpu.code == 0 and "variant cpu: no CUDA driver on this host" in cpu.stderr, cpu.output
    old = cenv("create", spec, "--dry-run", "-p", target, env={**env, "CONDA_OVERRIDE_CUDA": "11.8"})
    assert old.code == 0 and "variant cpu: host driver 11.8 < cu12x's 12.1" in old.stderr, old.output
    # `--variant` overrides the choice; on a host without a driver the hint names the way without CUDA
    named = cenv("create", spec, "--dry-run", "-p", target, "--variant", "cu12x", env=env)
    assert named.code == 1 and "variant cu12x: chosen with --variant" in named.stderr, named.output
    assert "`cenv lock SPEC --cuda none`" in named.stderr and "--variant cpu" in named.stderr
    assert [p.read_bytes() for p in locks] == before and not target.exists()


@pytest.mark.realdata("channels/pytorch-gpu-multiplatform")
def test_a_cpu_variant_without_cpu_builds_fails_naming_it_and_writes_nothing(tmp_path: Path) -> None:
    spec, env = _ml(tmp_path, twins=False)
    failed = cenv("lock", spec, "--platform", "linux-64", "--cuda", "12.1", env=env)
    assert failed.code == 1, failed.output
    first = failed.stderr.splitlines()[0]
    assert first == "error: variant cpu, linux-64: no `pytorch` build without `__cuda` in these channels", (
        first
    )
    assert "no lockfile was written" in failed.stderr
    assert not list(spec.parent.glob("*-lock.yml"))  # the cu12x variant solved, but is not written alone
    one = cenv("lock", spec, "--variant", "cu12x", "-o", spec.parent / "mine.yml", "-p", "linux-64", env=env)
    assert one.code == 0, one.output
    assert (spec.parent / "mine.yml").exists() and not list(spec.parent.glob("*-lock.yml"))
    assert "wrote " + str(spec.parent / "mine.yml") in one.stderr
    checked = cenv("lock", spec, "--variant", "cu12x", "-o", spec.parent / "mine.yml", "--check", env=env)
    assert checked.code == 0, checked.output


def _accel(tmp_path: Path, demo_channel: Path, *extra: str) -> Path:
    spec = tmp_path / "accel.yml"
    deps = "".join(f"  - {d}\n" for d in ("python " + PY + ".*", "cenv-accel", *extra))
    spec.write_text(
        f"name: accel\nchannels: [{demo_channel.as_posix()}]\nplatforms: [linux-64, osx-arm64]\n"
        f"dependencies:\n{deps}"
        'variants:\n  cpu: {cuda: null}\n  cu12: {cuda: "12.4"}\n'
    )
    return spec


def test_naming_a_cpu_variant_with_cuda_is_a_usage_error(tmp_path: Path, demo_channel: Path) -> None:
    spec = _accel(tmp_path, demo_channel)
    for command in (("lock", spec), ("create", spec, "-p", tmp_path / "env", "--dry-run")):
        result = cenv(*command, "--variant", "cpu", "--cuda", "12.0")
        assert result.code == 2, result.output
        assert "variant `cpu` declares `cuda: null`" in result.stderr and "cu12" in result.stderr
    unknown = cenv("lock", spec, "--variant", "cu99")
    assert unknown.code == 2 and "cpu, cu12" in unknown.stderr, unknown.output
    assert not list(tmp_path.glob("*-lock.yml"))


def test_relock_and_flagless_relock_replay_the_recorded_flags(tmp_path: Path, demo_channel: Path) -> None:
    spec = _accel(tmp_path, demo_channel)
    made = cenv("lock", spec, "-p", "linux-64", "--cuda", "12.0")
    assert made.code == 0, made.output
    gpu = tmp_path / "accel.cu12-lock.yml"
    _accel(tmp_path, demo_channel, "hello-cenv")
    relocked = cenv("create", spec, "-p", tmp_path / "env", "--relock", env={"CONDA_OVERRIDE_CUDA": "12.0"})
    assert relocked.code == 0, relocked.output
    assert "variant cu12: host driver 12.0 >= cu12's 12.0" in relocked.stderr, relocked.stderr
    custom = _custom(gpu)
    assert yaml.safe_load(gpu.read_text())["metadata"]["platforms"] == ["linux-64"]  # not osx-arm64 too
    assert "__cuda=12.0=0" in custom["cenv.virtual-packages.linux-64"]  # not the variant's 12.4
    # the other variant is stale now; a re-lock with no flags gives it the recorded inputs too
    assert cenv("lock", spec, "--check").code == 1
    assert cenv("lock", spec).code == 0
    checked = cenv("lock", spec, "--check")
    assert checked.code == 0, checked.output
    cpu = tmp_path / "accel.cpu-lock.yml"
    assert yaml.safe_load(cpu.read_text())["metadata"]["platforms"] == ["linux-64"]


def test_check_says_when_a_recorded_flag_overrides_a_changed_spec_value(
    tmp_path: Path, demo_channel: Path
) -> None:
    spec = tmp_path / "app.yml"
    spec.write_text(f"channels: [elsewhere]\nplatforms: [linux-64]\ndependencies: [python {PY}.*]\n")
    assert cenv("lock", spec, "-c", demo_channel.as_posix()).code == 0
    quiet = cenv("lock", spec, "--check")
    assert quiet.code == 0 and "note:" not in quiet.stderr, quiet.output  # the spec did not change
    spec.write_text(spec.read_text().replace("[elsewhere]", "[another]"))
    noted = cenv("lock", spec, "--check")
    assert noted.code == 0, noted.output
    [note] = [line for line in noted.stderr.splitlines() if "note:" in line]
    assert f"recorded `-c {demo_channel.as_posix()}` overrides the spec's channels `another`" in note, note
    assert "--ignore-recorded" in note
    dropped = cenv("lock", spec, "--ignore-recorded")
    assert dropped.code == 1 and "another" in dropped.stderr, dropped.output  # the spec's channel is used


def test_update_covers_every_variant_and_reports_each(tmp_path: Path, demo_channel: Path) -> None:
    spec = _accel(tmp_path, demo_channel)
    assert (made := cenv("lock", spec, "-p", "linux-64", "--cuda", "12.0")).code == 0, made.output
    before = {p.name: p.read_bytes() for p in tmp_path.glob("*-lock.yml")}
    updated = cenv("lock", spec, "--update", "cenv-accel")
    assert updated.code == 0, updated.output
    assert "wrote " in updated.stderr and updated.stderr.count("no package changed") == 2, updated.stderr
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*-lock.yml")} == before  # same inputs, same locks
    custom = _custom(tmp_path / "accel.cu12-lock.yml")
    assert "__cuda=12.0=0" in custom["cenv.virtual-packages.linux-64"]
