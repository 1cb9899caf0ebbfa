"""`cenv image` (issue #24): a lock becomes an OCI image archive that skopeo and umoci accept, on a base made
here from busybox-static, byte for byte reproducible, with layers two locks share, nothing of the build
host inside, for the host's architecture and another one.

The container tools come from Debian packages (`skopeo`, `umoci`, `busybox-static`; scripts/test.sh
installs them where it runs as root). Where they are missing these tests skip naming them, and under `CI`
their absence fails the run (the rule ../shared/realdata follows).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.cli_helpers import cenv
from tests.create_support import write_spec
from tests.support.channel_factory import ChannelFactory

from cenv.image.oci import ImageConfig, config_blob, write_archive, write_layer

TOOLS = {"skopeo": "skopeo", "umoci": "umoci", "busybox": "busybox-static"}


def _need(*names: str) -> None:
    missing = [TOOLS[n] for n in names if shutil.which(n) is None]
    if missing:
        message = f"needs the Debian packages {', '.join(missing)} (scripts/test.sh installs them as root)"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set: {message}")
        pytest.skip(message)


def _busybox_base(folder: Path) -> Path:
    """An OCI archive of a one-layer image: /bin/busybox and /bin/sh, a static shell and nothing else."""
    root = folder / "base-root"
    (root / "bin").mkdir(parents=True)
    busybox = shutil.which("busybox")
    assert busybox is not None
    shutil.copy2(busybox, root / "bin" / "busybox")
    (root / "bin" / "sh").symlink_to("busybox")
    layer = write_layer(root, ["bin/busybox", "bin/sh"], "", "gzip", folder)
    config = config_blob(ImageConfig("amd64", {"PATH": "/bin"}, {}), [layer.diff_id], ["busybox"])
    out = folder / "busybox.tar"
    write_archive(out, [layer], config, "busybox:static")
    return out


def _layers(archive: Path) -> list[tarfile.TarFile]:
    """Every layer of the archive's image, opened (gzip undone)."""
    with tarfile.open(archive) as outer:
        index = json.loads(outer.extractfile("index.json").read())  # type: ignore[union-attr]

        def blob(digest: str) -> bytes:
            return outer.extractfile(f"blobs/sha256/{digest[7:]}").read()  # type: ignore[union-attr]

        manifest = json.loads(blob(index["manifests"][0]["digest"]))
        layers = []
        for descriptor in manifest["layers"]:
            data = blob(descriptor["digest"])
            if descriptor["mediaType"].endswith("+gzip"):
                data = gzip.decompress(data)
            layers.append(tarfile.open(fileobj=io.BytesIO(data)))  # noqa: SIM115 - in memory, read by the caller
        return layers


def _config(archive: Path) -> dict[str, object]:
    with tarfile.open(archive) as outer:
        index = json.loads(outer.extractfile("index.json").read())  # type: ignore[union-attr]
        manifest = json.loads(
            outer.extractfile(f"blobs/sha256/{index['manifests'][0]['digest'][7:]}").read()  # type: ignore[union-attr]
        )
        return json.loads(outer.extractfile(f"blobs/sha256/{manifest['config']['digest'][7:]}").read())  # type: ignore[union-attr]


@pytest.fixture
def demo_lock(tmp_path: Path, demo_channel: Path) -> Path:
    spec = write_spec(
        tmp_path / "app.yml", demo_channel.as_posix(), deps=("cenv-demo-tool", "hello-cenv"),
        extra="variables:\n  APP_MODE: image\n",
    )  # fmt: skip
    assert cenv("lock", spec, "-p", "linux-64").code == 0
    return tmp_path / "app-lock.yml"


def test_image_on_a_busybox_base_runs(tmp_path: Path, demo_lock: Path) -> None:
    """skopeo inspects it and copies it (checking every digest), umoci unpacks it, and the environment's
    entry point runs in the unpacked root file system with the prefix patched to /opt/env."""
    _need("skopeo", "umoci", "busybox")
    base = _busybox_base(tmp_path)
    image = tmp_path / "app.tar"
    made = cenv("image", demo_lock, "-o", image, "--base", f"oci-archive:{base}", "--tag", "app:1", "--json")
    assert made.code == 0, made.output
    summary = json.loads(made.stdout)
    assert summary["base_layers"] == 1 and summary["architecture"] == "amd64"
    inspected = subprocess.run(["skopeo", "inspect", f"oci-archive:{image}"], capture_output=True, text=True)
    assert inspected.returncode == 0, inspected.stderr
    facts = json.loads(inspected.stdout)
    assert facts["Digest"] == summary["digest"] and facts["Architecture"] == "amd64"
    assert "PATH=/opt/env/bin:/bin" in facts["Env"] and "APP_MODE=image" in facts["Env"]
    assert facts["Labels"]["io.cenv.platform"] == "linux-64"
    copied = subprocess.run(
        ["skopeo", "copy", f"oci-archive:{image}", f"dir:{tmp_path / 'copy'}"], capture_output=True, text=True
    )
    assert copied.returncode == 0, copied.stderr
    layout = tmp_path / "layout"
    layout.mkdir()
    with tarfile.open(image) as tar:
        tar.extractall(layout, filter="data")
    bundle = tmp_path / "bundle"
    unpacked = subprocess.run(
        ["umoci", "unpack", "--rootless", "--image", f"{layout}:app:1", str(bundle)],
        capture_output=True,
        text=True,
    )
    assert unpacked.returncode == 0, unpacked.stderr
    rootfs = bundle / "rootfs"
    assert (rootfs / "opt" / "env" / "conda-meta" / "history").is_file()
    probe = subprocess.run(["unshare", "-r", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"user namespaces are not allowed here: {probe.stderr.decode().strip()}")
    ran = subprocess.run(
        ["unshare", "-r", "chroot", str(rootfs), "/opt/env/bin/cenv-demo-tool"],
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stderr
    assert "installed in /opt/env" in ran.stdout


def test_same_lock_same_digest_and_nothing_of_the_host(tmp_path: Path, demo_lock: Path) -> None:
    """Two builds of one lock (cold and warm cache) give the same image digest; no layer holds the build
    host's paths, caches, user or host name."""
    import time

    one = cenv("image", demo_lock, "-o", tmp_path / "one.tar", "--json")
    time.sleep(1.1)  # a build time anywhere (conda-meta/history's date) would show
    two = cenv("image", demo_lock, "-o", tmp_path / "two.tar", "--json")
    assert one.code == 0 and two.code == 0, one.output + two.output
    assert json.loads(one.stdout)["digest"] == json.loads(two.stdout)["digest"]
    assert (tmp_path / "one.tar").read_bytes() == (tmp_path / "two.tar").read_bytes()
    forbidden = [
        os.environ["CENV_CACHE_DIR"], os.environ["XDG_CACHE_HOME"], os.environ["HOME"], "cenv-image-",
        ".cenv-tmp", socket.gethostname(),
    ]  # fmt: skip
    for layer in _layers(tmp_path / "one.tar"):
        for member in layer.getmembers():
            assert member.uid == 0 and member.gid == 0 and member.uname == "" and member.mtime == 0
            assert member.name.startswith("opt/env") or member.name == "opt", member.name
            if member.isfile():
                data = layer.extractfile(member).read()  # type: ignore[union-attr]
                for text in forbidden:
                    assert text.encode() not in data, (member.name, text)


def test_two_locks_share_the_big_layers(
    tmp_path: Path, demo_channel: Path, channel_factory: Callable[..., ChannelFactory]
) -> None:
    """A lock that differs in one small package shares every large layer (and the small packages' other
    buckets) with the first: their digests are equal."""
    ch = channel_factory("big")
    ch.add_package("bigcuda", "12.1", subdir="linux-64", files={"lib/libbig.so": "x" * 300_000})
    ch.add_package("small", "1.0", subdir="linux-64", files={"share/small": "1\n"})
    ch.add_package("small", "2.0", subdir="linux-64", files={"share/small": "2\n"})
    ch.write_repodata()
    digests = []
    for version in ("1.0", "2.0"):
        spec = write_spec(tmp_path / f"v{version}.yml", ch.url, deps=("bigcuda", f"small=={version}"))
        assert cenv("lock", spec, "-p", "linux-64").code == 0
        made = cenv(
            "image", tmp_path / f"v{version}-lock.yml", "-o", tmp_path / f"v{version}.tar", "--json",
            env={"CENV_IMAGE_BIG_BYTES": "100000"},
        )  # fmt: skip
        assert made.code == 0, made.output
        digests.append({layer["name"]: layer["digest"] for layer in json.loads(made.stdout)["layers"]})
    assert digests[0]["pkg:bigcuda"] == digests[1]["pkg:bigcuda"]
    changed = {name for name in digests[0] if digests[0][name] != digests[1].get(name)}
    assert "pkg:bigcuda" not in changed and changed <= {
        "environment",
        *(n for n in digests[0] if n.startswith("bucket:")),
    }
    assert len(changed) <= 2  # the small package's bucket and the conda-meta layer


def test_an_aarch64_image_built_here(tmp_path: Path, channel_factory: Callable[..., ChannelFactory]) -> None:
    """An image for linux-aarch64 on this x86-64 host: `architecture: arm64`, every ELF file in it is an
    aarch64 one (e_machine 0xB7), and its link script is named as not run instead of run."""
    elf = b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + b"\x02\x00" + b"\xb7\x00" + b"\x00" * 44
    ch = channel_factory("arm")
    ch.add_package(
        "armtool", "1.0", subdir="linux-aarch64", files={"bin/armtool": elf},
        post_link='echo "$PREFIX" > "$PREFIX/share-post-link"\n',
    )  # fmt: skip
    ch.write_repodata()
    spec = write_spec(tmp_path / "arm.yml", ch.url, deps=("armtool",))
    assert cenv("lock", spec, "-p", "linux-aarch64").code == 0
    made = cenv("image", tmp_path / "arm-lock.yml", "-o", tmp_path / "arm.tar", "-p", "linux-aarch64")
    assert made.code == 0, made.output
    assert "link scripts not run (they cannot run for linux-aarch64 here): armtool" in made.stderr
    assert _config(tmp_path / "arm.tar")["architecture"] == "arm64"
    elves = 0
    for layer in _layers(tmp_path / "arm.tar"):
        for member in layer.getmembers():
            if member.isfile():
                head = layer.extractfile(member).read(20)  # type: ignore[union-attr]
                if head.startswith(b"\x7fELF"):
                    elves += 1
                    assert head[18:20] == b"\xb7\x00", member.name
            assert not member.name.endswith("share-post-link")
    assert elves == 1


def test_a_hostile_lock_is_refused_as_create_refuses_it(tmp_path: Path, demo_lock: Path) -> None:
    text = demo_lock.read_text().replace("platform: linux-64", "platform: ../../../victim", 1)
    hostile = tmp_path / "evil-lock.yml"
    hostile.write_text(text)
    created = cenv("create", hostile, "-p", tmp_path / "env")
    image = cenv("image", hostile, "-o", tmp_path / "evil.tar")
    assert created.code == image.code == 1, image.output
    assert image.stderr.splitlines()[0] == created.stderr.splitlines()[0]
    assert not (tmp_path / "evil.tar").exists()


def test_image_from_a_spec_a_pack_and_a_variant(tmp_path: Path, demo_lock: Path) -> None:
    """SOURCE may be the spec (its lockfile must be fresh: an image never solves) or a pack (checked, then
    installed with no network; the packages' origins, not the pack's temporary folder, in conda-meta); all
    three give the same environment, so the same layers."""
    spec = demo_lock.with_name("app.yml")
    from_lock = cenv("image", demo_lock, "-o", tmp_path / "lock.tar", "--json")
    from_spec = cenv("image", spec, "-o", tmp_path / "spec.tar", "--json")
    assert from_lock.code == 0 and from_spec.code == 0, from_lock.output + from_spec.output
    assert json.loads(from_spec.stdout)["digest"] == json.loads(from_lock.stdout)["digest"]
    assert cenv("pack", demo_lock, "-o", tmp_path / "app.pack.tar").code == 0
    from_pack = cenv("image", tmp_path / "app.pack.tar", "-o", tmp_path / "pack.tar", "--json")
    assert from_pack.code == 0, from_pack.output
    assert json.loads(from_pack.stdout)["digest"] == json.loads(from_lock.stdout)["digest"]
    spec.write_text(spec.read_text().replace("  - hello-cenv\n", "  - hello-cenv\n  - python\n"))
    stale = cenv("image", spec, "-o", tmp_path / "stale.tar")
    assert stale.code == 1 and "is stale" in stale.stderr and "cenv lock" in stale.stderr, stale.output
    variants = tmp_path / "v.yml"
    variants.write_text(spec.read_text() + "variants:\n  a: {}\n  b: {}\n")
    unnamed = cenv("image", variants, "-o", tmp_path / "v.tar")
    assert unnamed.code == 2 and "name one with `--variant`" in unnamed.stderr, unnamed.output


# sha256 of the whole archive `_golden_archive` writes. gzip and none: computed with the in-memory writer
# before layers were streamed (commit 843e522), so streaming changed no byte. zstd: the streamed frame (a
# stream does not know its content size, so the frame differs from zstandard's one-shot `compress`).
GOLDEN = {
    "gzip": "9ce03dfe46e26c25dcebf42fe89efb5a079e63027831123d025693fbc0f5093c",
    "none": "3a8c86fc88f714808631abb25853bccd6d8744fef28b21117e7aacb01e0d2876",
    "zstd": "685ff5003634172621f81a1b8175be4bd304db4c476f953c0b4c20975045fd0e",
}


def _golden_archive(folder: Path, compression: str) -> Path:
    """A fixed small input: a script, a symlink, a 1.5 MB file (many compressor blocks), an empty file,
    a name longer than 100 characters with non-ASCII letters (a pax header); two layers, one under
    `opt/env` and one at the root."""
    root = folder / "root"
    if not root.exists():
        deep = "lib/deep/" + "d" * 120
        (root / deep).mkdir(parents=True)
        (root / "bin").mkdir()
        (root / "bin" / "tool").write_text("#!/bin/sh\necho hi\n")
        big = b"".join(
            hashlib.sha256(str(i).encode()).digest() * 7 + bytes([i % 251]) * 300 for i in range(3000)
        )
        (root / "lib" / "big.bin").write_bytes(big)
        (root / "lib" / "empty").write_bytes(b"")
        (root / deep / "ünï.txt").write_text("long\n")
        (root / "bin" / "link").symlink_to("tool")
        for path, mode in (("bin/tool", 0o755), ("lib/big.bin", 0o644), ("lib/empty", 0o600)):
            os.chmod(root / path, mode)
        os.chmod(root / deep / "ünï.txt", 0o644)
        for path in ("bin", "lib", "lib/deep", deep):
            os.chmod(root / path, 0o755)
    every = ["bin/tool", "bin/link", "lib/big.bin", "lib/empty", "lib/deep/" + "d" * 120 + "/ünï.txt"]
    blobs = folder / f"blobs-{compression}"
    blobs.mkdir()
    layers = [
        write_layer(root, every, "opt/env", compression, blobs),
        write_layer(root, ["bin/tool"], "", compression, blobs),
    ]
    config = config_blob(
        ImageConfig("amd64", {"PATH": "/opt/env/bin"}, {"a": "b"}), [x.diff_id for x in layers], ["a", "b"]
    )
    out = folder / f"{compression}.tar"
    write_archive(out, layers, config, "golden:1")
    return out


@pytest.mark.parametrize("compression", sorted(GOLDEN))
def test_archive_bytes_equal_the_golden_digest(
    tmp_path: Path, compression: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The archive of a fixed input is the same bytes as before layers were streamed to files."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    archive = _golden_archive(tmp_path, compression)
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == GOLDEN[compression]


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_a_layer_is_streamed_not_held_in_memory(tmp_path: Path, compression: str) -> None:
    """A layer of a 48 MB file is written with a few MB of Python memory at most (the in-memory writer
    held the tar and its compressed form: more than 48 MB); its digest and diff_id are those of the bytes
    written and of the tar they decompress to."""
    root = tmp_path / "root"
    root.mkdir()
    with open(root / "big", "wb") as handle:
        handle.truncate(48 * 1024 * 1024)  # sparse: costs no disk
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    tracemalloc.start()
    try:
        layer = write_layer(root, ["big"], "opt/env", compression, blobs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, peak
    assert layer.blob.path is not None and layer.blob.path.parent == blobs
    data = layer.blob.path.read_bytes()
    assert layer.blob.size == len(data)
    assert layer.blob.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    if compression == "gzip":
        data = gzip.decompress(data)
    elif compression == "zstd":
        import zstandard

        data = zstandard.ZstdDecompressor().decompressobj().decompress(data)
    assert layer.diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getnames() == ["opt", "opt/env", "opt/env/big"]


def test_history_carries_the_fixed_date_and_no_blob_file_is_left(tmp_path: Path, demo_lock: Path) -> None:
    """conda-meta/history's `==> date <==` line is the layers' fixed time (the build's own date made two
    builds a second apart differ), and the layer files streamed beside the output are gone after it."""
    out = tmp_path / "out"
    made = cenv("image", demo_lock, "-o", out / "one.tar", "--compression", "zstd")
    assert made.code == 0, made.output
    assert sorted(p.name for p in out.iterdir()) == ["one.tar"]
    with tarfile.open(out / "one.tar") as outer:
        index = json.loads(outer.extractfile("index.json").read())  # type: ignore[union-attr]
        manifest = json.loads(
            outer.extractfile(f"blobs/sha256/{index['manifests'][0]['digest'][7:]}").read()  # type: ignore[union-attr]
        )
        import zstandard

        last = manifest["layers"][-1]
        assert last["mediaType"].endswith("+zstd")
        data = outer.extractfile(f"blobs/sha256/{last['digest'][7:]}").read()  # type: ignore[union-attr]
    tar = zstandard.ZstdDecompressor().decompressobj().decompress(data)
    with tarfile.open(fileobj=io.BytesIO(tar)) as layer:
        history = layer.extractfile("opt/env/conda-meta/history").read().decode()  # type: ignore[union-attr]
    assert history.startswith("==> 1970-01-01 00:00:00 <==\n"), history


def test_the_level_is_the_compressors(tmp_path: Path, demo_lock: Path) -> None:
    """`--level` reaches the compressor (a gzip level 1 layer differs from level 9's), and a gzip level
    above 9 is a usage error (exit 2) that names the flag."""
    sizes = {}
    for level in ("1", "9"):
        made = cenv("image", demo_lock, "-o", tmp_path / f"{level}.tar", "--level", level, "--json")
        assert made.code == 0, made.output
        sizes[level] = {layer["name"]: layer["digest"] for layer in json.loads(made.stdout)["layers"]}
    assert sizes["1"]["environment"] != sizes["9"]["environment"]
    wrong = cenv("image", demo_lock, "-o", tmp_path / "x.tar", "--level", "12")
    assert wrong.code == 2 and "--level 12" in wrong.stderr, wrong.output
    assert not (tmp_path / "x.tar").exists()


def test_layers_compressed_at_once_give_the_same_bytes(
    tmp_path: Path, demo_channel: Path, channel_factory: Callable[..., ChannelFactory]
) -> None:
    """`--jobs 1` and `--jobs 3` write the same archive, byte for byte (each layer is compressed into its
    own file; only the order of work changes), with several layers to share out."""
    ch = channel_factory("jobs")
    for name in ("aa", "bb", "cc"):
        ch.add_package(name, "1.0", subdir="linux-64", files={f"lib/lib{name}.so": name * 120_000})
    ch.write_repodata()
    spec = write_spec(tmp_path / "jobs.yml", ch.url, deps=("aa", "bb", "cc"))
    assert cenv("lock", spec, "-p", "linux-64").code == 0
    digests = []
    for jobs in ("1", "3"):
        made = cenv(
            "image", tmp_path / "jobs-lock.yml", "-o", tmp_path / f"{jobs}.tar", "--jobs", jobs, "--json",
            "--compression", "zstd", env={"CENV_IMAGE_BIG_BYTES": "100000"},
        )  # fmt: skip
        assert made.code == 0, made.output
        digests.append(json.loads(made.stdout)["digest"])
        assert len(json.loads(made.stdout)["layers"]) >= 4
    assert digests[0] == digests[1]
    assert (tmp_path / "1.tar").read_bytes() == (tmp_path / "3.tar").read_bytes()
