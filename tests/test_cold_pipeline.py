"""The cold create's pipeline (issue #21): archives copied by the kernel, extracted in the order that
keeps the compile processes busy, bytecode compiled as `py_compile` would and handed back package by
package while the others still compile."""

from __future__ import annotations

import importlib.util
import marshal
import os
import py_compile
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.support.channel_factory import ChannelFactory

from cenv.install.extract import ToExtract, extract_all, extraction_order
from cenv.install.fetch import _kernel_copy
from cenv.install.pyc_cache import CompileJob, Interpreter, probe
from cenv.install.pyc_compile import _WORKER, Feeder


@pytest.fixture(scope="module")
def interpreter() -> Interpreter:
    found = probe(Path(sys.executable))
    assert found is not None
    return found


def _sources(root: Path, count: int) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    made = []
    for i in range(count):
        path = root / f"m{i}.py"
        path.write_text(f"X = {i}\n\ndef f(a):\n    return a + X\n")
        made.append(path)
    return made


@pytest.mark.parametrize("epoch", [None, "1700000000"])
def test_the_compile_workers_write_what_py_compile_writes(
    epoch: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workers' loop (pyc_compile._COMPILE) skips py_compile's per-file overhead; what it writes must
    be py_compile.compile's output (timestamp header from the source's mtime and size, or a
    checked hash under SOURCE_DATE_EPOCH as py_compile does), with py_compile's file mode."""
    import subprocess

    if epoch is None:
        monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    else:
        monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
    sources = _sources(tmp_path / "src", 3)
    sources[1].chmod(0o640)
    (tmp_path / "src" / "bad.py").write_text("print 'py2'\n")
    triples = []
    for source in [*sources, tmp_path / "src" / "bad.py"]:
        triples += [str(source), str(tmp_path / "ours" / "__pycache__" / f"{source.stem}.pyc"), source.name]
    listing = tmp_path / "listing"
    listing.write_bytes("\0".join(triples).encode())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-c", _WORKER, str(listing)], check=True, env=env)
    for source in sources:
        theirs = tmp_path / "theirs" / f"{source.stem}.pyc"
        py_compile.compile(str(source), cfile=str(theirs), dfile=source.name, doraise=True)
        ours = tmp_path / "ours" / "__pycache__" / f"{source.stem}.pyc"
        # the same header, the same code (marshal's reference flags depend on the writer's refcounts)
        assert ours.read_bytes()[:16] == theirs.read_bytes()[:16]
        assert marshal.loads(ours.read_bytes()[16:]) == marshal.loads(theirs.read_bytes()[16:])
        assert stat.S_IMODE(ours.stat().st_mode) == stat.S_IMODE(theirs.stat().st_mode)
        flags = int.from_bytes(ours.read_bytes()[4:8], "little")
        assert flags == (0 if epoch is None else 0b11)  # timestamp, or checked hash
    assert not (tmp_path / "ours" / "__pycache__" / "bad.pyc").exists()  # skipped, as conda skips it
    written = sorted(p.name for p in (tmp_path / "ours" / "__pycache__").iterdir())
    assert written == ["m0.pyc", "m1.pyc", "m2.pyc"]


def test_the_compile_workers_do_not_replace_a_symbolic_link(tmp_path: Path) -> None:
    """py_compile refuses to write a .pyc over a symbolic link (or a non-file); so do the workers."""
    import subprocess

    (source,) = _sources(tmp_path / "src", 1)
    target = tmp_path / "elsewhere.pyc"
    target.write_bytes(b"keep")
    cfile = tmp_path / "out" / "m0.pyc"
    cfile.parent.mkdir()
    cfile.symlink_to(target)
    listing = tmp_path / "listing"
    listing.write_bytes("\0".join([str(source), str(cfile), "m0.py"]).encode())
    subprocess.run([sys.executable, "-c", _WORKER, str(listing)], check=True)
    assert cfile.is_symlink() and target.read_bytes() == b"keep"


def _job(tmp_path: Path, name: str, sources: list[Path], interpreter: Interpreter) -> CompileJob:
    entry = tmp_path / "pkgs" / name
    entry.mkdir(parents=True)
    rels = [f"lib/site-packages/{name}/{s.name}" for s in sources]
    return CompileJob.make(name, entry, "binding", rels, interpreter, [str(s) for s in sources])


def test_a_feeder_hands_back_each_package_as_soon_as_it_is_compiled(
    tmp_path: Path, interpreter: Interpreter
) -> None:
    """The first package's bytecode is stored and linked while the second still compiles (here: its
    module is a FIFO nobody writes yet, so its worker blocks reading it). Waiting for every worker
    first, as before, would not hand back the first package until the second is done."""
    fast = _job(tmp_path, "fast", _sources(tmp_path / "fast", 3), interpreter)
    blocked_source = tmp_path / "slow" / "m0.py"
    blocked_source.parent.mkdir()
    os.mkfifo(blocked_source)
    slow = _job(tmp_path, "slow", [blocked_source], interpreter)
    feeder = Feeder(interpreter, workers=2)
    assert feeder.add(fast) and feeder.add(slow)
    finished: Iterator[CompileJob] = feeder.finished()
    got: list[CompileJob] = []
    first = threading.Thread(target=lambda: got.append(next(finished)), daemon=True)
    first.start()
    first.join(timeout=60)
    try:
        assert got == [fast], "the compiled package was not handed back while another still compiled"
        assert all((fast.tmp / p).is_file() for p in fast.pycs)
        assert not (slow.tmp / slow.pycs[0]).exists()
    finally:
        with open(blocked_source, "w") as fifo:  # unblocks the slow worker
            fifo.write("Y = 1\n")
    assert list(finished) == [slow]
    assert (slow.tmp / slow.pycs[0]).is_file()


def test_a_feeder_spreads_packages_over_its_workers_by_what_they_still_have(
    tmp_path: Path, interpreter: Interpreter
) -> None:
    """Every package added is handed back exactly once, compiled, whichever worker took it."""
    jobs = [_job(tmp_path, f"p{i}", _sources(tmp_path / f"s{i}", 5), interpreter) for i in range(6)]
    feeder = Feeder(interpreter, workers=2)
    assert all(feeder.add(job) for job in jobs)
    done = list(feeder.finished())
    assert sorted(j.dist for j in done) == sorted(j.dist for j in jobs)
    assert all((job.tmp / p).is_file() for job in jobs for p in job.pycs)


def test_archives_are_extracted_python_first_then_noarch_python_then_largest() -> None:
    """The compile processes need the python package's interpreter, then noarch python modules to
    compile while the rest extracts (extract.extraction_order)."""
    url = "https://conda.example/ch/{}/{}"
    packages = [
        ("libbig", url.format("linux-64", "libbig.conda"), [], 50),
        ("pure", url.format("noarch", "pure.conda"), ["python"], 1),
        ("libsmall", url.format("linux-64", "libsmall.conda"), [], 2),
        ("data", url.format("noarch", "data.conda"), [], 3),  # noarch generic: no python modules
        ("python", url.format("linux-64", "python.conda"), [], 30),
        ("compiled", url.format("linux-64", "compiled.conda"), ["python"], 4),
    ]
    ordered = sorted(packages, key=lambda p: extraction_order(p[0], p[1], p[2], p[3]))
    assert [p[0] for p in ordered] == ["python", "pure", "libbig", "compiled", "data", "libsmall"]


def test_a_local_archive_is_copied_by_the_kernel_across_file_systems(tmp_path: Path) -> None:
    """Linux >= 5.19 refuses copy_file_range between file systems (a channel on disk, a package cache
    on tmpfs); the copy then falls back to sendfile, still in the kernel, not through Python."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on another file system than the test's temporary directory")
    data = os.urandom(3 << 20)
    source = tmp_path / "archive.conda"
    source.write_bytes(data)
    target = shm / f"cenv-test-{os.getpid()}-{os.urandom(4).hex()}"
    progressed: list[int] = []
    try:
        with open(source, "rb") as reader, open(target, "wb", buffering=0) as out:
            copied = _kernel_copy(reader, out, progressed.append, None)
        assert copied == len(data) and sum(progressed) == len(data)
        assert target.read_bytes() == data
    finally:
        target.unlink(missing_ok=True)


def test_the_worker_script_needs_only_what_every_python_3_has() -> None:
    """The loop runs in the environment's python: importlib's two helpers it uses exist there (and it
    falls back to py_compile where they do not)."""
    assert importlib.util.find_spec("importlib._bootstrap_external") is not None
    assert "_code_to_timestamp_pyc" in _WORKER and "py_compile.compile(" in _WORKER


def test_extracted_entries_are_checked_on_two_threads_at_most(
    channel_factory: Callable[..., ChannelFactory], tmp_path: Path
) -> None:
    """The checks of extracted entries are Python holding the GIL: more threads than two only take turns
    at it (asyncio's default pool of six made a million futex hand-overs in a cold create). Every entry
    is still checked and placed."""
    import asyncio
    import shutil

    ch = channel_factory("many")
    built = [
        ch.add_package(
            f"p{i}", "1.0", subdir="linux-64", files={f"share/p{i}/{j}.txt": f"{i}{j}\n" for j in range(20)}
        )
        for i in range(10)
    ]
    pkgs = tmp_path / "pkgs"
    pkgs.mkdir()
    items = []
    for b in built:
        shutil.copy(b.path, pkgs / b.filename)
        items.append(ToExtract(b.dist_name, pkgs / b.filename, b.sha256, b.sha256))
    threads: set[str] = set()
    extracted = asyncio.run(
        extract_all(pkgs, items, lambda dist: threads.add(threading.current_thread().name))
    )
    assert sorted(extracted.hashes) == sorted(b.dist_name for b in built)
    assert not extracted.refused and not extracted.mismatched
    assert all((pkgs / b.dist_name / "share" / b.name / "0.txt").is_file() for b in built)
    assert threads and all(name.startswith("cenv-check") for name in threads) and len(threads) <= 2


def test_a_feeder_gives_the_share_of_a_dead_worker_to_the_others(
    tmp_path: Path, interpreter: Interpreter
) -> None:
    """A worker that died (killed, out of memory) takes no more packages; the others compile them."""
    feeder = Feeder(interpreter, workers=2)
    dead = feeder._processes[0]
    dead.kill()
    dead.wait()
    jobs = [_job(tmp_path, f"p{i}", _sources(tmp_path / f"s{i}", 3), interpreter) for i in range(4)]
    assert all(feeder.add(job) for job in jobs)
    done = list(feeder.finished())
    assert sorted(j.dist for j in done) == sorted(j.dist for j in jobs)
    assert all((job.tmp / p).is_file() for job in jobs for p in job.pycs)


def test_a_worker_stuck_on_one_package_does_not_hold_up_the_queue(
    tmp_path: Path, interpreter: Interpreter
) -> None:
    """Packages wait in one queue and go to whichever worker has room (at most two unanswered each), so
    a worker slowed down (here: blocked reading a FIFO) holds at most one package besides its own; the
    other worker compiles the rest. Packages assigned to a worker up front would wait behind it."""
    blocked_source = tmp_path / "slow" / "m0.py"
    blocked_source.parent.mkdir()
    os.mkfifo(blocked_source)
    slow = _job(tmp_path, "slow", [blocked_source], interpreter)
    small = [_job(tmp_path, f"p{i}", _sources(tmp_path / f"s{i}", 3), interpreter) for i in range(6)]
    feeder = Feeder(interpreter, workers=2)
    assert feeder.add(slow) and all(feeder.add(job) for job in small)
    finished = feeder.finished()
    got: list[str] = []

    def collect() -> None:
        for job in finished:
            got.append(job.dist)
            if len(got) == len(small) - 1:
                return

    collector = threading.Thread(target=collect, daemon=True)
    collector.start()
    collector.join(timeout=60)
    try:
        assert len(got) >= len(small) - 1, f"only {got} compiled while one worker was stuck"
    finally:
        with open(blocked_source, "w") as fifo:
            fifo.write("Y = 1\n")
    rest = [job.dist for job in finished]
    assert sorted(got + rest) == sorted(j.dist for j in [slow, *small])
    assert all((job.tmp / p).is_file() for job in [slow, *small] for p in job.pycs)


def test_packages_queued_when_every_worker_died_are_still_compiled(
    tmp_path: Path, interpreter: Interpreter
) -> None:
    """A package the feeder accepted is compiled even when no worker is left to take it (rather than
    stored in the cache with no bytecode)."""
    feeder = Feeder(interpreter, workers=1)
    feeder._processes[0].kill()
    feeder._processes[0].wait()
    job = _job(tmp_path, "p", _sources(tmp_path / "s", 3), interpreter)
    if feeder.add(job):
        assert list(feeder.finished()) == [job]
        assert all((job.tmp / p).is_file() for p in job.pycs)
    else:
        assert list(feeder.finished()) == []


@pytest.mark.parametrize("how", ["in place", "into a fresh folder"])
@pytest.mark.parametrize("archive", ["the same", "another"])
def test_after_rattler_extracts_an_entry_again_its_paths_json_identity_answers_as_every_file_does(
    how: str, archive: str, channel_factory: Callable[..., ChannelFactory], tmp_path: Path
) -> None:
    """`link.check_linked` compares only paths.json's identity (`stamp_metadata_matches`) for the entries
    extracted in the run under the cache lock, where rattler is the one writer left: after rattler's
    extractor wrote the entry again, that gives the per-file stamp's answer (`stamp_matches`). The same
    archive again: the same bytes, sizes and mtimes (and inodes where it rewrites in place), changed for
    neither or for both; another archive: changed for both."""
    import asyncio
    import shutil

    from rattler.package_streaming import extract

    from cenv.install.archive_guard import stamp_matches, stamp_metadata_matches

    ch = channel_factory("again")
    built = ch.add_package(
        "p", "1.0", subdir="linux-64", files={f"share/p/{j}.txt": f"{j}\n" for j in range(5)}
    )
    other = ch.add_package(
        "p",
        "1.0",
        build="other_0",
        subdir="linux-64",
        files={f"share/p/{j}.txt": f"{j}{j}\n" for j in range(6)},
    )
    pkgs = tmp_path / "pkgs"
    pkgs.mkdir()
    shutil.copy(built.path, pkgs / built.filename)
    item = ToExtract(built.dist_name, pkgs / built.filename, built.sha256, built.sha256)
    asyncio.run(extract_all(pkgs, [item]))
    entry = pkgs / built.dist_name
    assert stamp_metadata_matches(entry, built.sha256) and stamp_matches(entry, built.sha256)
    if how == "into a fresh folder":
        shutil.rmtree(entry)
    extract(built.path if archive == "the same" else other.path, entry)
    assert (entry / "share" / "p" / "0.txt").is_file()
    full, quick = stamp_matches(entry, built.sha256), stamp_metadata_matches(entry, built.sha256)
    assert quick == full
    if archive == "another":
        assert not quick
