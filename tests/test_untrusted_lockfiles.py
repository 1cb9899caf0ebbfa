"""Issue #20: a lockfile, an `@EXPLICIT` file or a pack from someone else cannot write outside its target,
run a command or delete a folder.

Every field is checked where it is read (`cenv.lock.validate`, one place for every reader), paths derived
from the fields are joined with `cenv.safe_paths.join_within`, and `git` gets `--` before its positional
arguments. Each HIGH case of the issue is reproduced here through the real CLI.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from tests.cli_helpers import cenv
from tests.support.local_project import git, make_git_repo
from tests.support.wheel_factory import WheelIndex

from cenv.errors import LockfileError
from cenv.lock.importers import load_any_lock

PY = f"{sys.version_info.major}.{sys.version_info.minor}"
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _lock_yaml(package: dict[str, object], platforms: list[str] | None = None) -> str:
    data = {
        "version": 1,
        "metadata": {"content_hash": {}, "channels": [], "platforms": platforms or [], "sources": []},
        "package": [
            {
                "name": "evil",
                "version": "1",
                "manager": "conda",
                "platform": "linux-64",
                "dependencies": {},
                "category": "main",
                "optional": False,
                **package,
            }
        ],
    }
    return yaml.safe_dump(data, sort_keys=False)


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / ".bashrc").write_text("the victim's own file\n")
    return victim


def _payload(tmp_path: Path, name: str) -> tuple[Path, str, str]:
    payload = tmp_path / "payload" / name
    payload.parent.mkdir(parents=True, exist_ok=True)
    payload.write_text("echo owned\n")
    data = payload.read_bytes()
    return payload, hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest()


def test_pack_refuses_a_lock_whose_platform_leaves_the_pack(tmp_path: Path) -> None:
    """HIGH: `platform: ../../../victim` and a package file named `.bashrc` (its real hash) made `cenv pack`
    replace `victim/.bashrc` and exit 0."""
    victim = _victim(tmp_path)
    payload, md5, sha256 = _payload(tmp_path, ".bashrc")
    lock = tmp_path / "evil-lock.yml"
    hashes = {"md5": md5, "sha256": sha256}
    lock.write_text(_lock_yaml({"platform": "../../../victim", "url": payload.as_uri(), "hash": hashes}))
    (tmp_path / "out").mkdir()
    result = cenv("pack", lock, "-o", tmp_path / "out" / "x.tar", cwd=tmp_path)
    assert result.code == 1, result.output
    assert (victim / ".bashrc").read_text() == "the victim's own file\n"
    assert sorted(p.name for p in victim.iterdir()) == [".bashrc"]
    assert f"{lock}:" in result.stderr and "platform" in result.stderr, result.stderr
    assert "Traceback" not in result.output


def test_pack_refuses_an_explicit_file_whose_platform_header_leaves_the_pack(tmp_path: Path) -> None:
    """HIGH: `# platform: ../../../victim` in an `@EXPLICIT` file did the same."""
    victim = _victim(tmp_path)
    payload, md5, _ = _payload(tmp_path, "evil-1-0.conda")
    explicit = tmp_path / "evil.txt"
    explicit.write_text(f"# platform: ../../../victim\n@EXPLICIT\n{payload.as_uri()}#{md5}\n")
    (tmp_path / "out").mkdir()
    result = cenv("pack", explicit, "-o", tmp_path / "out" / "x.tar", cwd=tmp_path)
    assert result.code == 1, result.output
    assert sorted(p.name for p in victim.iterdir()) == [".bashrc"]
    assert f"{explicit}:1" in result.stderr, result.stderr


@pytest.fixture(scope="module")
def git_lock(tmp_path_factory: pytest.TempPathFactory, demo_channel: Path) -> tuple[Path, str]:
    """A real lock with an editable git source (`-e git+file://...@feature#egg=gitedit`)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path_factory.mktemp("gitlock")
    repo = make_git_repo(root / "repo", "gitedit")
    index = WheelIndex(root / "pypi")
    index.add("dep-a", "1.0")
    index.write()
    spec = root / "env.yml"
    spec.write_text(
        f"name: src\nchannels: [{demo_channel.as_posix()}]\npip-options:\n  index-url: {index.simple_url}\n"
        f"dependencies:\n  - python {PY}.*\n  - hello-cenv\n  - pip:\n"
        f"      - -e git+{repo.as_uri()}@feature#egg=gitedit\n"
    )
    result = cenv("lock", spec, "-p", "linux-64")
    assert result.code == 0, result.output
    return spec.with_name("env-lock.yml"), git(repo, "rev-parse", "feature")


def _edit_git_entry(lock: Path, target: Path, name: str | None = None, url: str | None = None) -> Path:
    data = yaml.safe_load(lock.read_text())
    for package in data["package"]:
        if package["manager"] == "pip" and package["name"] == "gitedit":
            package["name"] = name or package["name"]
            package["url"] = url or package["url"]
    if name is not None:
        data["metadata"]["custom_metadata"]["cenv.pip-editable.linux-64"] = name
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


@needs_git
def test_an_editable_name_that_is_a_path_deletes_nothing(tmp_path: Path, git_lock: tuple[Path, str]) -> None:
    """HIGH: a pip name that is an absolute path was `<staging>/src/<name>`: that folder was removed first,
    and the create exited 0."""
    victim = _victim(tmp_path)
    lock = _edit_git_entry(git_lock[0], tmp_path / "evil-lock.yml", name=str(victim))
    result = cenv("create", lock, "--prefix", tmp_path / "env")
    assert result.code == 1, result.output
    assert (victim / ".bashrc").is_file()
    assert "PEP 508" in result.stderr and f"{lock}:" in result.stderr, result.stderr
    assert not (tmp_path / "env").exists()


@needs_git
def test_a_git_url_that_is_an_option_runs_nothing(tmp_path: Path, git_lock: tuple[Path, str]) -> None:
    """HIGH: `git clone` without `--`: a url `git+--upload-pack=touch PWNED;git-upload-pack@<commit>` ran
    the command."""
    marker = tmp_path / "PWNED"
    url = f"git+--upload-pack=touch {marker};git-upload-pack@{git_lock[1]}"
    lock = _edit_git_entry(git_lock[0], tmp_path / "evil-lock.yml", url=url)
    result = cenv("create", lock, "--prefix", tmp_path / "env", cwd=tmp_path)
    assert result.code == 1, result.output
    assert not marker.exists()
    assert "begins with `-`" in result.stderr or "VCS prefix" in result.stderr, result.stderr


def test_git_checkout_gets_double_dash_even_past_the_reader(tmp_path: Path) -> None:
    """Defence in depth: `_checkout` itself refuses an option-like URL or a commit that is not hex."""
    from cenv.errors import InstallError
    from cenv.install.pip import _checkout
    from cenv.lock.models import LockedPackage, PackageHash

    marker = tmp_path / "PWNED"
    for url in (f"git+--upload-pack=touch {marker};x@abcdef1", "git+file:///nowhere@--orphan=x"):
        package = LockedPackage(name="x", version="1", manager="pip", platform="linux-64", url=url,
                                hash=PackageHash())  # fmt: skip
        with pytest.raises(InstallError):
            _checkout(package, tmp_path / "src" / "x")
        assert not marker.exists()


def test_join_within_refuses_every_way_out(tmp_path: Path) -> None:
    from cenv.safe_paths import OutsideBase, join_within

    base = tmp_path / "base"
    base.mkdir()
    (base / "link").symlink_to(tmp_path)
    for parts in [
        ("..",),
        ("a", "..", ".."),
        ("/etc",),
        ("",),
        (".",),
        ("a/../../b",),
        ("link", "x"),
        ("x\0",),
    ]:
        with pytest.raises(OutsideBase):
            join_within(base, *parts)
    assert join_within(base, "a", "b.conda") == base / "a" / "b.conda"


# ---------------------------------------------------------------- the rules, as a matrix

GOOD_CONDA = {
    "url": "https://conda.anaconda.org/conda-forge/linux-64/evil-1-h0_0.conda",
    "hash": {"md5": "a" * 32, "sha256": "b" * 64},
}
# (field, hostile value, what the message says)
HOSTILE: list[tuple[str, object, str]] = [
    ("platform", "../../../victim", "platform"),
    ("platform", "linux-64/../..", "platform"),
    ("platform", "/etc", "platform"),
    ("name", "../x", "conda package name"),
    ("name", "-rf", "conda package name"),
    ("version", "-1", "begins with `-`"),
    ("version", "1/../../x", "odd character"),
    ("build", "h0 ;rm -rf", "odd character"),
    ("url", "https://host/linux-64/.bashrc", "package file name"),
    ("url", "https://host/linux-64/..%2F..%2Fx-1-0.conda", "package file name"),
    ("url", "https://host/linux-64/x-1-0.conda/..", "package file name"),
    ("url", "ftp://host/linux-64/x-1-0.conda", "scheme"),
    ("url", "ext::sh -c touch% /tmp/x", "scheme"),
    ("url", "-oProxyCommand=x/x-1-0.conda", "begins with `-`"),
    ("url", "https://host/x-1-0.conda\nrm", "control character"),
    ("hash", {"md5": "zz" * 16}, "hexadecimal"),
    ("hash", {"sha256": "a" * 63}, "hexadecimal"),
    ("category", "--force", "begins with `-`"),
    ("dependencies", {"--x": ""}, "begins with `-`"),
]
HOSTILE_PIP: list[tuple[str, object, str]] = [
    ("name", "/abs/path", "PEP 508"),
    ("name", "../../victim", "PEP 508"),
    ("name", "a b", "PEP 508"),
    ("url", "git+--upload-pack=touch x;git-upload-pack@abc", "VCS prefix"),
    ("url", "git+ext::sh -c 'touch x'@abc", "scheme"),
    ("url", "javascript://x", "scheme"),
    ("url", "-e", "begins with `-`"),
    ("source", {"type": "url", "url": "--index-url=http://evil"}, "begins with `-`"),
]


@pytest.mark.parametrize(("field", "value", "reason"), HOSTILE, ids=[f"{f}={v!r}" for f, v, _ in HOSTILE])
def test_every_conda_field_is_checked_where_it_is_read(
    tmp_path: Path, field: str, value: object, reason: str
) -> None:
    lock = tmp_path / "x-lock.yml"
    lock.write_text(_lock_yaml({**GOOD_CONDA, field: value}))
    with pytest.raises(LockfileError, match=reason) as caught:
        load_any_lock(lock)
    assert str(lock) in caught.value.message


@pytest.mark.parametrize(
    ("field", "value", "reason"), HOSTILE_PIP, ids=[f"{f}={v!r}" for f, v, _ in HOSTILE_PIP]
)
def test_every_pip_field_is_checked_where_it_is_read(
    tmp_path: Path, field: str, value: object, reason: str
) -> None:
    lock = tmp_path / "x-lock.yml"
    pip = {"manager": "pip", "name": "good", "url": "git+https://host/repo@" + "a" * 40, "hash": {}}
    lock.write_text(_lock_yaml({**pip, field: value}))
    with pytest.raises(LockfileError, match=reason) as caught:
        load_any_lock(lock)
    message = caught.value.message
    assert f"{lock}:" in message, message  # file:line


def test_the_good_fields_still_read(tmp_path: Path) -> None:
    lock = tmp_path / "x-lock.yml"
    lock.write_text(_lock_yaml(GOOD_CONDA))
    assert load_any_lock(lock).package[0].name == "evil"


@pytest.mark.parametrize(
    "line",
    [
        "ftp://host/linux-64/x-1-0.conda",
        "-oProxyCommand=sh/linux-64/x-1-0.conda",
        "git+--upload-pack=x/x-1-0.conda",
    ],
)
def test_explicit_lines_are_checked_with_their_line(tmp_path: Path, line: str) -> None:
    explicit = tmp_path / "e.txt"
    explicit.write_text(f"# platform: linux-64\n@EXPLICIT\n{line}\n")
    with pytest.raises(LockfileError, match=f"{explicit}:3"):
        load_any_lock(explicit)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
@pytest.mark.parametrize("command", [("create", "--prefix", "env"), ("lock",), ("export",)])
def test_a_fifo_given_as_a_spec_or_a_lock_does_not_hang(tmp_path: Path, command: tuple[str, ...]) -> None:
    """`cenv create FIFO` (a spec or lockfile `path` that is a pipe) waited for a writer forever."""
    fifo = tmp_path / "env.yml"
    os.mkfifo(fifo)
    result = cenv(command[0], fifo, *command[1:], cwd=tmp_path, timeout=60)
    assert result.code == 1, result.output
    assert "pipe or a socket" in result.stderr
