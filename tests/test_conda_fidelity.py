"""Environments that conda treats as its own (issue #16): conda-meta records and history, link scripts, menu
entries, bytecode, a clean prefix root, `cenv run`'s env_vars.d, and ~/.conda/environments.txt.

Real archives from the channel factory, the real CLI in a subprocess, conda's reading logic re-implemented in
tests/support/conda_reader.py (conda is not installable here)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest
from tests.cli_helpers import cenv
from tests.create_support import files_containing, pkgs_dir, siblings, write_spec
from tests.support import conda_reader
from tests.support.channel_factory import ChannelFactory, host_python_version

PY = ".".join(host_python_version().split(".")[:2])
TAG = f"cpython-{PY.replace('.', '')}"
SPEC_DEPS = ("python", "plink", "unl", "menupkg", "envvars", "linky", "nopy >=1.0")

POST_LINK = """\
mkdir -p "$PREFIX/share/plink"
echo "$PKG_NAME $PKG_VERSION $PKG_BUILDNUM $PREFIX" > "$PREFIX/share/plink/ran.txt"
echo "$PKG_NAME" >> "$PREFIX/share/order.txt"
echo "plink says: remember to configure plink" >> "$PREFIX/.messages.txt"
"""


def _channel(root: Path) -> ChannelFactory:
    ch = ChannelFactory(root, "fid")
    ch.python_wrapper()
    ch.package(
        "pbase",
        "1.0",
        subdir="linux-64",
        files={"share/pbase/README": "pbase\n"},
        post_link='echo "$PKG_NAME" >> "$PREFIX/share/order.txt"\n',
    )
    ch.package("plink", "2.1", subdir="linux-64", build_number=3, depends=["pbase"], post_link=POST_LINK)
    ch.package(
        "unl",
        "1.0",
        subdir="linux-64",
        files={"share/unl/README": "unl\n"},
        pre_unlink='echo "$PKG_NAME $PREFIX" >> "$CENV_TEST_MARKER"\n',
    )
    ch.package("menupkg", "1.0", subdir="linux-64", menu={"menu_name": "Fid", "menu_items": []})
    ch.package(
        "envvars",
        "1.0",
        subdir="linux-64",
        env_vars={"FID_A": "from-package", "FID_B": "first", "FID_GONE": "set"},
        files={"etc/conda/activate.d/envvars.sh": 'export FID_SEEN_BY_SCRIPT="$FID_A/$FID_B"\n'},
    )
    ch.package(
        "envvars2",
        "1.0",
        subdir="linux-64",
        env_vars={"FID_B": "second", "FID_GONE": "***unset***"},
    )
    ch.package(
        "linky",
        "1.0",
        subdir="linux-64",
        depends=["envvars2"],
        files={"lib/liblinky.so.1.0": "linky library\n"},
        symlinks={"lib/liblinky.so.1": "liblinky.so.1.0", "lib/liblinky.so": "liblinky.so.1"},
    )
    ch.package(
        "nopy",
        "1.2",
        noarch="python",
        depends=["python"],
        files={
            "site-packages/nopy/__init__.py": "VALUE = 42\n",
            "site-packages/nopy/sub.py": "def main() -> None:\n    print('nopy main')\n",
            "site-packages/nopy-1.2.dist-info/METADATA": "Metadata-Version: 2.1\nName: nopy\nVersion: 1.2\n",
        },
        entry_points=["nopy = nopy.sub:main"],
    )
    ch.package("badlink", "1.0", subdir="linux-64", post_link="echo 'about to fail: disk quota'\nexit 3\n")
    return ch.write_repodata()


@pytest.fixture
def fid_channel(tmp_path: Path) -> ChannelFactory:
    return _channel(tmp_path / "channels")


def _spec(tmp_path: Path, ch: ChannelFactory, deps: tuple[str, ...] = SPEC_DEPS) -> Path:
    return write_spec(tmp_path / "fid.yml", ch.url, deps=deps, extra="variables:\n  FID_A: from-spec\n")


def _environments_txt() -> list[str]:
    path = Path(os.environ["HOME"]) / ".conda" / "environments.txt"
    return path.read_text().splitlines() if path.exists() else []


def test_conda_meta_history_scripts_and_bytecode(tmp_path: Path, fid_channel: ChannelFactory) -> None:
    spec = _spec(tmp_path, fid_channel)
    prefix = tmp_path / "env"
    result = cenv("create", spec, "-p", prefix, env={"CENV_TEST_MARKER": str(tmp_path / "marker")})
    assert result.code == 0, result.output

    # conda-meta records: conda's PrefixRecord fields, values from the channel's own records
    meta = conda_reader.records(prefix)
    umask = os.umask(0)
    os.umask(umask)
    for path in (prefix / "conda-meta").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path  # readable by others (0644)
    for built in fid_channel.packages:
        record = meta.get(built.dist_name)
        if built.name == "badlink":
            assert record is None
            continue
        assert record is not None, built.dist_name
        for key in ("name", "version", "build", "build_number", "depends", "md5", "sha256", "size", "subdir"):
            assert record[key] == built.record[key], (built.name, key)
        assert record["fn"] == built.filename
        assert record["url"] == f"{fid_channel.url}/{built.subdir}/{built.filename}"
        # conda's PrefixRecord dump: the channel with its subdir, `constrains` even when empty (issue #22)
        assert record["channel"] == f"{fid_channel.url}/{built.subdir}"
        assert record["constrains"] == built.record.get("constrains", [])
        assert record["package_tarball_full_path"] == str(pkgs_dir() / built.filename)
        assert record["extracted_package_dir"] == str(pkgs_dir() / built.dist_name)
        assert record["paths_data"]["paths_version"] == 1
        assert record["link"]["type"] in (1, 2, 3)
        assert record.get("package_type") == ("noarch_python" if built.name == "nopy" else None)
    requested = {r["name"]: r.get("requested_spec") for r in meta.values()}
    assert requested["nopy"] == "nopy >=1.0" and requested["plink"] == "plink"
    assert requested["pbase"] is None and requested["envvars2"] is None  # dependencies only
    assert meta[fid_channel.record("nopy").dist_name]["requested_specs"] == ["nopy >=1.0"]

    # conda doctor: no altered files (symlinks included), no missing files
    assert conda_reader.altered_files(prefix) == {}
    assert conda_reader.missing_files(prefix) == {}
    linky = meta[fid_channel.record("linky").dist_name]
    links = [p for p in linky["paths_data"]["paths"] if p["path_type"] == "softlink"]
    assert len(links) == 2 and all(p["size_in_bytes"] == len("linky library\n") for p in links)

    # history: what `conda env export --from-history` reads back is the spec's own dependencies
    revisions = conda_reader.history_revisions(prefix)
    assert len(revisions) == 1 and revisions[0]["cmd"][:2] == ["cenv", "create"]
    assert revisions[0]["dists"] == {
        f"+{fid_channel.url}/{r['subdir']}::{r['name']}-{r['version']}-{r['build']}" for r in meta.values()
    }
    from conda_lock._vendor.conda.models.match_spec import MatchSpec as CondaMatchSpec

    from_history = conda_reader.requested_names(prefix)  # conda's History, as conda prints the specs
    assert from_history == {d.split()[0]: str(CondaMatchSpec(d)) for d in SPEC_DEPS}
    loaded = conda_reader.prefix_records(prefix)  # conda's PrefixData loads every record
    assert set(loaded) == {r["name"] for r in meta.values()}
    assert loaded["plink"].channel.canonical_name == fid_channel.url and loaded["plink"].subdir == "linux-64"

    # link scripts: post-link ran in the staged prefix with conda's variables, dependencies first
    ran = (prefix / "share" / "plink" / "ran.txt").read_text().split()
    assert ran[:3] == ["plink", "2.1", "3"]
    assert ran[3] == str(prefix)  # run in the staged prefix; what it wrote relocated to the final path
    assert (prefix / "share" / "order.txt").read_text().split() == ["pbase", "plink"]
    assert "ran post-link scripts of: pbase, plink" in result.stderr
    assert "plink says: remember to configure plink" in result.stderr
    assert "menu entries not installed (cenv does not run menuinst): menupkg" in result.stderr
    assert (prefix / "Menu" / "menupkg.json").is_file()  # linked as conda links it, not installed
    assert not (tmp_path / "marker").exists()  # pre-unlink: nothing was replaced

    # bytecode: the noarch package's modules, compiled in place and recorded as conda records them
    nopy = meta[fid_channel.record("nopy").dist_name]
    site = f"lib/python{PY}/site-packages"
    pycs = {p["_path"] for p in nopy["paths_data"]["paths"] if p["path_type"] == "pyc_file"}
    assert pycs == {f"{site}/nopy/__pycache__/__init__.{TAG}.pyc", f"{site}/nopy/__pycache__/sub.{TAG}.pyc"}
    assert pycs <= set(nopy["files"]) and all((prefix / p).is_file() for p in pycs)
    assert files_containing(prefix, b".cenv-tmp-") == []  # no .pyc names the staging directory
    out = subprocess.run([prefix / "bin" / "nopy"], capture_output=True, text=True, check=True)
    assert out.stdout == "nopy main\n"

    # the prefix root: nothing of cenv's, rattler's or uv's
    assert sorted(p.name for p in prefix.iterdir()) == [
        "Menu",
        "bin",
        "conda-meta",
        "etc",
        "lib",
        "pyvenv.cfg",
        "share",
    ]
    assert siblings(prefix) == []
    assert _environments_txt() == [str(prefix)]


def test_records_do_not_depend_on_the_cache_state(tmp_path: Path, fid_channel: ChannelFactory) -> None:
    spec = _spec(tmp_path, fid_channel, deps=("python", "linky", "nopy"))
    first, second = tmp_path / "one", tmp_path / "two"
    assert cenv("create", spec, "-p", first).code == 0
    again = cenv("create", spec, "-p", second, "--json")  # every package linked from the cache now
    assert again.code == 0, again.output
    assert json.loads(again.stdout)["downloaded"] == 0
    one, two = conda_reader.records(first), conda_reader.records(second)
    for records in (one, two):  # entry points hold their own prefix's path
        for record in records.values():
            for entry in record["paths_data"]["paths"]:
                if entry["path_type"] == "unix_python_entry_point":
                    entry.pop("sha256")
    assert one == two
    for name in one:
        assert list(one[name]) == list(two[name])  # same fields in the same order
    assert all(r["size"] > 0 for r in two.values())


def test_failing_post_link_fails_the_create_and_leaves_nothing(
    tmp_path: Path, fid_channel: ChannelFactory
) -> None:
    spec = _spec(tmp_path, fid_channel, deps=("python", "badlink"))
    prefix = tmp_path / "env"
    result = cenv("create", spec, "-p", prefix)
    assert result.code == 1, result.output
    assert "error: the post-link script of `badlink` failed" in result.stderr
    assert "about to fail: disk quota" in result.stderr and "exit status 3" in result.stderr
    log = next(line for line in result.stderr.splitlines() if "full output:" in line).split("full output: ")[
        1
    ]
    assert "about to fail" in Path(log).read_text()
    assert "Traceback" not in result.stderr
    assert not prefix.exists() and siblings(prefix) == []
    assert _environments_txt() == []

    skipped = cenv("create", spec, "-p", prefix, "--no-link-scripts")
    assert skipped.code == 0, skipped.output
    assert "link scripts not run (--no-link-scripts): badlink" in skipped.stderr
    assert json.loads(cenv("create", spec, "-p", tmp_path / "j", "--no-link-scripts", "--json").stdout)[
        "link_scripts_skipped"
    ] == ["badlink"]


def test_force_replacement_runs_the_old_pre_unlink_scripts(
    tmp_path: Path, fid_channel: ChannelFactory
) -> None:
    spec = _spec(tmp_path, fid_channel, deps=("python", "unl"))
    prefix = tmp_path / "env"
    marker = tmp_path / "marker"
    env = {"CENV_TEST_MARKER": str(marker)}
    assert cenv("create", spec, "-p", prefix, env=env).code == 0
    assert not marker.exists()
    replaced = cenv("create", spec, "-p", prefix, "--force", env=env)
    assert replaced.code == 0, replaced.output
    assert marker.read_text().split() == ["unl", str(prefix)]  # run in the old environment, in place
    assert "ran pre-unlink scripts of the replaced environment: unl" in replaced.stderr
    assert _environments_txt() == [str(prefix)]  # registered once
    marker.unlink()
    quiet = cenv("create", spec, "-p", prefix, "--force", "--no-link-scripts", env=env)
    assert quiet.code == 0 and not marker.exists()
    assert "link scripts not run (--no-link-scripts): unl" in quiet.stderr


def test_named_environments_are_registered(tmp_path: Path, fid_channel: ChannelFactory) -> None:
    spec = _spec(tmp_path, fid_channel, deps=("python", "pbase"))
    envs = tmp_path / "envs"
    result = cenv("create", spec, "-n", "named", env={"CONDA_ENVS_PATH": str(envs)})
    assert result.code == 0, result.output
    assert _environments_txt() == [str(envs / "named")]
    # conda's register_envs setting, as an environment variable, turns registration off
    off = cenv("create", spec, "-p", tmp_path / "unlisted", env={"CONDA_REGISTER_ENVS": "false"})
    assert off.code == 0, off.output
    assert _environments_txt() == [str(envs / "named")]


def test_run_applies_env_vars_in_conda_order(tmp_path: Path, fid_channel: ChannelFactory) -> None:
    spec = _spec(tmp_path, fid_channel, deps=("python", "envvars", "envvars2"))
    prefix = tmp_path / "env"
    assert cenv("create", spec, "-p", prefix).code == 0
    script = 'echo "$FID_A|$FID_B|${FID_GONE-unset}|$FID_SEEN_BY_SCRIPT"'
    result = cenv("run", "-p", prefix, "--", "sh", "-c", script, env={"FID_GONE": "from-caller"})
    assert result.code == 0, result.output
    # env_vars.d in name order (envvars2 over envvars), then conda-meta/state over them, `***unset***`
    # unsets, and activate.d scripts see the result
    assert result.stdout.strip() == "from-spec|second|unset|from-spec/second"
    missing = cenv("run", "-p", prefix, "--", "no-such-command-xyz")
    assert missing.code == 127 and "not found" in missing.stderr


def test_environments_txt_as_conda_keeps_it(tmp_path: Path) -> None:
    from cenv.install.environments_txt import environments_txt, register_env, unregister_env

    live, gone = tmp_path / "live", tmp_path / "gone"
    (live / "conda-meta").mkdir(parents=True)
    (live / "conda-meta" / "history").write_text("")
    path = environments_txt()
    path.parent.mkdir(parents=True)
    path.write_text(f"/elsewhere/env\n{gone}")  # conda's own lines; the last one without a newline
    register_env(live)
    register_env(live)  # listed once
    assert path.read_text() == f"/elsewhere/env\n{gone}\n{live}\n"
    unregister_env(gone)  # rewrites without it and without lines that are no longer environments
    assert path.read_text() == f"{live}\n"
    unregister_env(live)
    assert path.read_text() == ""


_REGISTER_MANY = """
import sys, time
from pathlib import Path
from cenv.install.environments_txt import register_env, unregister_env
root, worker = Path(sys.argv[1]), sys.argv[2]
while not (root / "go").exists():
    time.sleep(0.001)
for i in range(60):
    for name, keep in ((f"{worker}-{i}", True), (f"tmp-{worker}-{i}", False)):
        env = root / name
        (env / "conda-meta").mkdir(parents=True)
        (env / "conda-meta" / "history").write_text("")
        register_env(env)
    (root / f"tmp-{worker}-{i}" / "conda-meta" / "history").unlink()
    unregister_env(root / f"tmp-{worker}-{i}")  # rewrites the file: unlocked, it drops lines added meanwhile
"""


def test_environments_txt_loses_no_line_to_concurrent_cenv_processes(tmp_path: Path) -> None:
    """Four processes register 60 environments each while rewriting the file (unregister): every line is
    there at the end. conda itself takes no lock on environments.txt (conda/core/envs_manager.py:
    register_env appends, _rewrite_environments_txt rewrites); cenv's processes lock the file itself
    (filelock's lock_descriptor), so they do not lose each other's lines."""
    import subprocess
    import sys
    import time

    from cenv.install.environments_txt import environments_txt

    workers = [
        subprocess.Popen([sys.executable, "-c", _REGISTER_MANY, str(tmp_path), f"w{n}"]) for n in range(4)
    ]
    time.sleep(1.0)  # all four started and waiting
    (tmp_path / "go").touch()
    assert [w.wait(timeout=120) for w in workers] == [0, 0, 0, 0]
    expected = {str(tmp_path / f"w{n}-{i}") for n in range(4) for i in range(60)}
    lines = environments_txt().read_text().splitlines()
    assert sorted(lines) == sorted(expected)


def test_history_without_recorded_specs_names_the_top_level_packages(
    tmp_path: Path, fid_channel: ChannelFactory
) -> None:
    """An `@EXPLICIT` file records no specs: the history asks for what nothing else depends on."""
    spec = _spec(tmp_path, fid_channel, deps=("python", "plink", "linky"))
    assert cenv("lock", spec).code == 0
    explicit = tmp_path / "explicit.txt"
    exported = cenv(
        "export", tmp_path / "fid-lock.yml", "--format", "explicit", "-p", "linux-64", "-o", explicit
    )
    assert exported.code == 0, exported.output
    prefix = tmp_path / "env"
    assert cenv("create", explicit, "-p", prefix, "--no-link-scripts").code == 0
    assert set(conda_reader.requested_names(prefix)) == {"python", "plink", "linky"}


def test_history_lines_and_specs_as_conda_writes_them() -> None:
    from cenv.install.meta import canonical_channel, history_text

    record = {"name": "numpy", "version": "2.1.3", "build": "py311h_0", "subdir": "linux-64"}
    forge = {**record, "channel": "https://conda.anaconda.org/conda-forge"}
    private = {**record, "name": "private", "channel": "https://user:secret@host.example/t/tok123/chan"}
    text = history_text(
        [forge, private],
        "cenv create env.yml -c https://user:secret@host.example/chan",
        ["numpy >=2", "https://user:secret@host.example/chan::private"],
        when=0,
    )
    lines = text.splitlines()
    assert lines[0] == f"==> {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(0))} <=="
    assert lines[1].startswith("# cmd: cenv create env.yml -c https://user:***@host.example/chan")
    assert "+conda-forge/linux-64::numpy-2.1.3-py311h_0" in lines
    assert "+https://host.example/chan/linux-64::private-2.1.3-py311h_0" in lines
    assert lines[-1] == "# update specs: ['numpy >=2', 'https://host.example/chan::private']"
    assert "secret" not in text and "tok123" not in text
    assert canonical_channel("https://repo.anaconda.com/pkgs/main") == "pkgs/main"
