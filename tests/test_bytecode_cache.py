"""Bytecode compiled once per package and interpreter (issue #21): kept in the package cache entry,
hard-linked into every environment, recorded as conda records it, still validated by timestamp.

conda compiles a noarch python package's modules in each environment (CompileMultiPycAction in
conda/core/path_actions.py, `compile_multiple_pyc` in conda/gateways/disk/create.py) and records the `.pyc`
files as `path_type: pyc_file`; cenv records them the same way but compiles each package once per
interpreter. Python re-targets a cached code object's `co_filename` to the module's path on import
(`SourceLoader.get_code` -> `_imp._fix_co_filename`), which the traceback test relies on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.cli_helpers import cenv
from tests.create_support import files_containing, pkgs_dir, write_spec
from tests.support.channel_factory import ChannelFactory, host_python_version

from cenv.create import read_lock
from cenv.install.noarch_bytecode import EarlyBytecode
from cenv.install.plan import content_key, dist_name
from cenv.install.pyc_cache import PYC_DIR, Cached, Interpreter, cached_manifest, link_checked
from cenv.platforms import host_platform

PY = ".".join(host_python_version().split(".")[:2])
TAG = f"cpython-{PY.replace('.', '')}"
SITE = f"lib/python{PY}/site-packages"
MODULES = 12


def _channel(root: Path) -> ChannelFactory:
    ch = ChannelFactory(root, "pyc")
    ch.python_wrapper()
    files = {f"site-packages/pyca/m{i:02d}.py": f"VALUE = {i}\n" for i in range(MODULES - 2)}
    files["site-packages/pyca/__init__.py"] = ""
    files["site-packages/pyca/boom.py"] = "def fail() -> None:\n    raise ValueError('boom')\n"
    ch.package("pyca", "1.0", noarch="python", depends=["python"], files=files)
    ch.package(
        "pycb",
        "1.0",
        noarch="python",
        depends=["python"],
        files={"site-packages/pycb.py": "B = 'b'\n", "site-packages/broken_py2.py": "print 'py2'\n"},
    )
    return ch.write_repodata()


def _create(spec: Path, prefix: Path) -> dict[str, object]:
    result = cenv("create", spec, "-p", prefix, "--json")
    assert result.code == 0, result.output
    summary = json.loads(result.stdout)
    assert isinstance(summary, dict)
    return summary


def _pycs(prefix: Path) -> dict[str, list[str]]:
    found = {}
    for record in (prefix / "conda-meta").glob("*.json"):
        data = json.loads(record.read_text())
        if not isinstance(data, dict) or "paths_data" not in data:
            continue
        pycs = [p["_path"] for p in data["paths_data"]["paths"] if p["path_type"] == "pyc_file"]
        if pycs:
            assert set(pycs) <= set(data["files"])
            found[str(data["name"])] = sorted(pycs)
    return found


def _python(prefix: Path, code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    return subprocess.run([prefix / "bin" / "python", "-c", code], capture_output=True, text=True, env=env)


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    ch = _channel(tmp_path / "channels")
    return write_spec(tmp_path / "pyc.yml", ch.url, deps=("python", "pyca", "pycb"))


def test_a_second_environment_compiles_nothing_and_links_the_cached_bytecode(
    spec: Path, tmp_path: Path
) -> None:
    first = _create(spec, tmp_path / "one")
    compiled = MODULES + 1  # the python 2 module does not compile (conda skips it too)
    assert (first["pyc_compiled"], first["pyc_from_cache"], first["pyc_files"]) == (compiled, 0, compiled)
    # compiled from the cache entries before the link, by the python package's own interpreter, whose
    # cache tag and magic are kept beside its entry
    (known,) = pkgs_dir().glob("python-*/.cenv-pyc/interpreter.json")
    assert json.loads(known.read_text())["cache_tag"] == TAG

    second = _create(spec, tmp_path / "two")
    assert (second["pyc_compiled"], second["pyc_from_cache"], second["pyc_files"]) == (0, compiled, compiled)

    # recorded as conda records compiled bytecode, the same files in both environments
    pycs = _pycs(tmp_path / "two")
    assert pycs == _pycs(tmp_path / "one")
    assert f"{SITE}/pyca/__pycache__/m00.{TAG}.pyc" in pycs["pyca"]
    assert pycs["pycb"] == [f"{SITE}/__pycache__/pycb.{TAG}.pyc"]
    # one file in the cache, hard-linked into both environments
    for rel in pycs["pyca"]:
        one, two = (tmp_path / "one" / rel).stat(), (tmp_path / "two" / rel).stat()
        assert one.st_ino == two.st_ino and one.st_nlink >= 3
    cached = list((pkgs_dir()).glob(f"pyca-1.0-*/.cenv-pyc/{TAG}-*/{SITE}/pyca/__pycache__/m00.{TAG}.pyc"))
    m00 = tmp_path / "two" / SITE / "pyca" / "__pycache__" / f"m00.{TAG}.pyc"
    assert len(cached) == 1 and cached[0].stat().st_ino == m00.stat().st_ino
    assert files_containing(tmp_path / "two" / SITE, str(pkgs_dir()).encode()) == []
    assert files_containing(tmp_path / "two" / SITE, b".cenv-tmp-") == []


def test_cached_bytecode_is_valid_in_the_second_environment(spec: Path, tmp_path: Path) -> None:
    """Importing from the second environment rewrites no `.pyc` (the timestamp in it matches the
    hard-linked source), and a traceback names the second environment's files."""
    _create(spec, tmp_path / "one")
    prefix = tmp_path / "two"
    _create(spec, prefix)
    pyc = prefix / SITE / "pyca" / "__pycache__" / f"boom.{TAG}.pyc"
    before = pyc.stat()

    run = _python(prefix, "import pyca.boom, pyca.m03; pyca.boom.fail()")
    assert run.returncode == 1
    assert f'File "{prefix / SITE / "pyca" / "boom.py"}", line 2, in fail' in run.stderr, run.stderr
    assert str(tmp_path / "one") not in run.stderr and str(pkgs_dir()) not in run.stderr
    after = pyc.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not recompiled

    # timestamp validation is kept: a source replaced in the environment is compiled again on import
    source = prefix / SITE / "pyca" / "m03.py"
    fresh = source.with_name("m03.py.new")
    fresh.write_text("VALUE = 'edited'\n")
    os.utime(fresh, ns=(before.st_mtime_ns + 10**9, before.st_mtime_ns + 10**9))
    fresh.replace(source)
    run = _python(prefix, "import pyca.m03; print(pyca.m03.VALUE)")
    assert run.stdout.strip() == "edited", run.stderr
    assert _python(tmp_path / "one", "import pyca.m03; print(pyca.m03.VALUE)").stdout.strip() == "3"


def test_changed_cached_bytecode_is_compiled_again(spec: Path, tmp_path: Path) -> None:
    """A `.pyc` changed in the cache (or its manifest) is never linked: the package is compiled again."""
    _create(spec, tmp_path / "one")
    (cached,) = pkgs_dir().glob(f"pyca-1.0-*/.cenv-pyc/{TAG}-*/{SITE}/pyca/__pycache__/m01.{TAG}.pyc")
    cached.unlink()
    cached.write_bytes(b"not bytecode")
    summary = _create(spec, tmp_path / "two")
    assert summary["pyc_compiled"] == MODULES  # pyca again; pycb from the cache
    assert summary["pyc_from_cache"] == 1
    assert _python(tmp_path / "two", "import pyca.m01; print(pyca.m01.VALUE)").stdout.strip() == "1"
    assert (
        tmp_path / "two" / SITE / "pyca" / "__pycache__" / f"m01.{TAG}.pyc"
    ).read_bytes() != b"not bytecode"


def test_an_entry_extracted_again_does_not_reuse_its_old_bytecode(spec: Path, tmp_path: Path) -> None:
    """The bytecode is bound to the entry it was compiled from: a damaged entry is extracted again and its
    packages compiled again."""
    _create(spec, tmp_path / "one")
    (entry,) = (p for p in pkgs_dir().glob("pyca-1.0-*") if p.is_dir())
    (entry / "site-packages" / "pyca" / "m02.py").write_text("VALUE = 'damaged'\n")
    summary = _create(spec, tmp_path / "two")
    assert summary["pyc_compiled"] == MODULES and summary["pyc_from_cache"] == 1
    assert _python(tmp_path / "two", "import pyca.m02; print(pyca.m02.VALUE)").stdout.strip() == "2"


def test_bytecode_is_copied_when_the_cache_is_on_another_file_system(spec: Path, tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK) or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on another file system than the test's temporary directory")
    import tempfile

    with tempfile.TemporaryDirectory(dir=shm, prefix="cenv-pyc-test-") as other:
        env = {"CONDA_PKGS_DIRS": str(Path(other) / "pkgs")}
        for name in ("one", "two"):
            result = cenv("create", spec, "-p", tmp_path / name, "--json", env=env)
            assert result.code == 0, result.output
        summary = json.loads(result.stdout)
        assert summary["pyc_compiled"] == 0 and summary["pyc_from_cache"] == MODULES + 1
        pyc = tmp_path / "two" / SITE / "pyca" / "__pycache__" / f"m00.{TAG}.pyc"
        assert pyc.is_file() and pyc.stat().st_nlink == 1
        assert _python(tmp_path / "two", "import pyca.m00; print(pyca.m00.VALUE)").stdout.strip() == "0"


def test_a_failed_create_leaves_no_bytecode_half_done(tmp_path: Path) -> None:
    """The noarch bytecode starts compiling while other archives extract; when one of them is refused,
    the compilation stops and nothing half-compiled stays in the cache (the next create compiles)."""
    ch = _channel(tmp_path / "channels")
    ch.package("late", "1.0", subdir="linux-64", files={"share/late.txt": "original\n"})
    ch.write_repodata()
    spec = write_spec(tmp_path / "pyc.yml", ch.url, deps=("python", "pyca", "pycb", "late"))
    assert cenv("lock", spec).code == 0
    ch.add_package("late", "1.0", subdir="linux-64", files={"share/late.txt": "changed\n"})  # same name
    result = cenv("create", tmp_path / "pyc-lock.yml", "-p", tmp_path / "env", "--json")
    assert result.code == 1 and "sha256 mismatch for package `late`" in result.stderr, result.output
    assert not (tmp_path / "env").exists()
    assert [p for p in pkgs_dir().glob("*/.cenv-pyc/.*")] == []
    assert list(pkgs_dir().glob(f"pyca-1.0-*/.cenv-pyc/{TAG}-*/manifest.json")) == []


def _cached(tmp_path: Path, count: int = 3) -> Cached:
    root = tmp_path / "cache"
    rels = [f"{SITE}/p/__pycache__/m{i}.{TAG}.pyc" for i in range(count)]
    for rel in rels:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(rel.encode())
    identities = {
        rel: [(root / rel).lstat().st_size, (root / rel).lstat().st_mtime_ns, (root / rel).lstat().st_ino]
        for rel in rels
    }
    return Cached(root, frozenset(rels), (), identities)


def test_cached_bytecode_is_checked_file_by_file_as_it_is_linked(tmp_path: Path) -> None:
    """`link_checked` links each cached `.pyc` and checks the very file linked against the manifest; one
    changed file (same inode, edited in place) and nothing of the package stays in the environment."""
    cached = _cached(tmp_path)
    staging = tmp_path / "env"
    linked = link_checked(cached, staging)
    assert linked == sorted(cached.identities)
    for rel in linked:
        assert (staging / rel).stat().st_ino == (cached.root / rel).stat().st_ino

    last = sorted(cached.identities)[-1]
    with open(cached.root / last, "ab") as handle:  # edited in place: same inode, another size
        handle.write(b"changed")
    assert link_checked(cached, tmp_path / "env2") is None
    assert [p for p in (tmp_path / "env2").rglob("*") if p.is_file()] == []

    os.utime(cached.root / last, ns=(1, 1))  # the size restored would still leave the mtime
    assert link_checked(cached, tmp_path / "env3") is None


@pytest.mark.parametrize(
    ("rel", "identity"),
    [
        ("../../outside.pyc", [1, 1, 1]),
        ("/etc/outside.pyc", [1, 1, 1]),
        (f"{SITE}/p/../../../outside.pyc", [1, 1, 1]),
        ("a\x00b.pyc", [1, 1, 1]),
        ("", [1, 1, 1]),
        (f"{SITE}/p/__pycache__/m.pyc", "1 1 1"),
        (f"{SITE}/p/__pycache__/m.pyc", None),
    ],
)
def test_a_manifest_naming_a_path_outside_or_an_identity_not_a_list_is_not_used(
    tmp_path: Path, rel: str, identity: object
) -> None:
    """A bytecode manifest is read from a package cache (possibly a shared one, #22): a `.pyc` path that
    would leave the cache entry or the environment, or an identity that is not a list, and the manifest is
    not used at all (the package is compiled again)."""
    interpreter = Interpreter(Path(sys.executable), TAG, "abcd")
    root = tmp_path / "entry" / PYC_DIR / interpreter.key
    root.mkdir(parents=True)
    manifest = {"binding": "b", "sources": [], "pyc": {rel: identity}}
    (root / "manifest.json").write_text(json.dumps(manifest))
    assert cached_manifest(tmp_path / "entry", interpreter, "b") is None
    manifest["pyc"] = {f"{SITE}/p/__pycache__/m.pyc": [1, 1, 1]}  # the control: a sound one is read
    (root / "manifest.json").write_text(json.dumps(manifest))
    assert cached_manifest(tmp_path / "entry", interpreter, "b") is not None


@pytest.mark.parametrize("identity", [["1", "2", "3"], [True, 0, 0], [], [0.5, 0, 0], [1, 2, 3, 4]])
def test_a_bogus_identity_in_a_manifest_fails_its_check_and_links_nothing(
    tmp_path: Path, identity: list[object]
) -> None:
    """Identities are compared with a stat's, never converted: a bogus one fails that comparison."""
    cached = _cached(tmp_path, 2)
    first = sorted(cached.identities)[0]
    bogus = Cached(cached.root, cached.pycs, cached.sources, {**cached.identities, first: identity})
    assert link_checked(bogus, tmp_path / "env") is None
    assert [p for p in (tmp_path / "env").rglob("*") if p.is_file()] == []


def test_a_file_already_in_the_environment_is_kept(tmp_path: Path) -> None:
    cached = _cached(tmp_path, 2)
    staging = tmp_path / "env"
    first = sorted(cached.identities)[0]
    (staging / first).parent.mkdir(parents=True)
    (staging / first).write_bytes(b"the package's own")
    assert link_checked(cached, staging) == sorted(cached.identities)
    assert (staging / first).read_bytes() == b"the package's own"
    (cached.root / first).unlink()  # gone from the cache: the package is compiled again, its own file kept
    assert link_checked(cached, tmp_path / "env2") is None
    assert link_checked(cached, staging) is None
    assert (staging / first).read_bytes() == b"the package's own"


def test_a_warm_cache_starts_no_compile_worker(spec: Path, tmp_path: Path) -> None:
    """With every package's bytecode in the cache, looking at the entries starts no compile process (each
    is an interpreter start, ~20 ms of CPU, and the warm create runs them for nothing otherwise)."""
    _create(spec, tmp_path / "one")
    lock = read_lock(spec.with_name("pyc-lock.yml"))
    keys = {dist_name(p.filename): content_key(p)[1] for p in lock.packages_for(host_platform(), "conda")}
    python = next(d for d in keys if d.startswith("python-"))
    early = EarlyBytecode(pkgs_dir(), python, SITE, pkgs_dir() / python / "bin" / "python", keys)
    early.begin(sorted(keys))
    assert early.interpreter is not None and early.interpreter.cache_tag == TAG
    assert {d.split("-")[0] for d in early.cached} == {"pyca", "pycb"}
    assert early.jobs == {} and not early.compiling
    assert list(early.finished()) == []

    # an entry without its bytecode starts them
    (cached,) = pkgs_dir().glob(f"pyca-1.0-*/.cenv-pyc/{TAG}-*")
    shutil.rmtree(cached)
    early = EarlyBytecode(pkgs_dir(), python, SITE, pkgs_dir() / python / "bin" / "python", keys)
    early.begin(sorted(keys))
    assert early.compiling and {d.split("-")[0] for d in early.jobs} == {"pyca"}
    early.cancel()


@pytest.mark.parametrize(
    "source",
    [
        "lib/python3.11/site-packages/a/b.py",
        "b.py",
        "/abs/b.py",
        "/b.py",
        "a/.hidden.py",
        "a/.py",
        "a/b.",
        "a/b",
        "a/b.tar.py",
        "a/../b.py",
        "./a/b.py",
        "a/./b.py",
        "a//b.py",
        "a/b.py/",
        ".",
        "a/..",
        "a/ü é.py",
    ],
)
def test_a_pyc_path_is_what_the_path_objects_made(source: str) -> None:
    """`Interpreter.pyc_path` builds the path with strings (it runs for every module of every package);
    it must name what `PurePosixPath` named before, and importlib's `cache_from_source` for a module."""
    import importlib.util
    from pathlib import PurePosixPath

    from cenv.install.pyc_cache import Interpreter

    interpreter = Interpreter(Path("python"), "cpython-311", "a70d0d0a")
    path = PurePosixPath(source)
    assert interpreter.pyc_path(source) == str(path.parent / "__pycache__" / f"{path.stem}.cpython-311.pyc")
    plain = not source.startswith("/") and "//" not in source and "/." not in "/" + source
    if plain and source.endswith(".py"):  # a package's module (importlib differs on `/b.py` and `.py`)
        expected = importlib.util.cache_from_source(source).replace(
            sys.implementation.cache_tag, "cpython-311"
        )
        assert interpreter.pyc_path(source) == expected


def test_linking_bytecode_through_folder_descriptors_links_what_it_can_and_closes_them(
    tmp_path: Path,
) -> None:
    """`pyc_cache.link_files` links relative to each folder's descriptor: a file in another folder, a
    folder the cache no longer has (skipped: Python compiles it), a file the environment already has
    (kept, listed), and not one descriptor left open."""
    from cenv.install.pyc_cache import link_files

    root, staging = tmp_path / "cache", tmp_path / "env"
    for rel in ("a/__pycache__/m.pyc", "a/__pycache__/n.pyc", "b/c/__pycache__/o.pyc", "top.pyc"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(rel.encode())
    (staging / "a" / "__pycache__").mkdir(parents=True)
    (staging / "a" / "__pycache__" / "n.pyc").write_bytes(b"already there")
    rels = ["a/__pycache__/m.pyc", "a/__pycache__/n.pyc", "b/c/__pycache__/o.pyc", "gone/x.pyc", "top.pyc"]
    before = sorted(os.listdir("/proc/self/fd")) if Path("/proc/self/fd").is_dir() else None
    linked = link_files(root, rels, staging)
    assert linked == ["a/__pycache__/m.pyc", "a/__pycache__/n.pyc", "b/c/__pycache__/o.pyc", "top.pyc"]
    assert (staging / "a" / "__pycache__" / "n.pyc").read_bytes() == b"already there"
    for rel in ("a/__pycache__/m.pyc", "b/c/__pycache__/o.pyc", "top.pyc"):
        assert (staging / rel).stat().st_ino == (root / rel).stat().st_ino
    if before is not None:
        assert sorted(os.listdir("/proc/self/fd")) == before
