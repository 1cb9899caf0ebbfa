"""`cenv image`: a lock's environment laid out at its in-image prefix (`/opt/env`) and written as an OCI
image archive, with no daemon and the same bytes for the same lock.

The environment is installed by the create pipeline into a build folder with the in-image prefix patched
into prefix placeholders and entry points (rattler's `alternative_target_prefix`), conda-meta and history as
`cenv create` writes them. Then what names the build host goes: conda-meta's package-cache paths
(`extracted_package_dir`, `package_tarball_full_path`, `link.source`) and the command line in the history.
Layers come from `layers.py`, the archive from `oci.py`.

For another architecture than the host's, link scripts and bytecode cannot run: the scripts are named in
the result, the bytecode is left to the interpreter (it compiles on first import), and a pip part is
refused (uv needs the environment's own interpreter).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cenv
from cenv.errors import UserError
from cenv.image.layers import LayerPlan, plan_layers
from cenv.image.oci import (
    Base,
    BaseError,
    ImageConfig,
    Layer,
    config_blob,
    epoch,
    read_base,
    write_archive,
    write_layer,
)
from cenv.platforms import host_platform

ARCHITECTURES = {
    "linux-64": "amd64",
    "linux-aarch64": "arm64",
    "linux-ppc64le": "ppc64le",
    "linux-s390x": "s390x",
}
_HOST_PATH_KEYS = ("extracted_package_dir", "package_tarball_full_path")


@dataclass(frozen=True)
class ImageSettings:
    source: Path  # a lockfile: cenv's, conda-lock v1, @EXPLICIT, pixi.lock
    output: Path
    platform: str | None = None
    variant: str | None = None  # a pixi.lock environment
    base: str = "scratch"  # or `oci-archive:PATH`
    prefix: str = "/opt/env"
    tag: str | None = None
    compression: str = "gzip"
    level: int | None = None  # the compressor's level (default: gzip 6, zstd 3)
    jobs: int | None = None  # layers compressed at once (default: up to 2, the cores this process may use)
    pkgs_dir: Path | None = None
    restore: Callable[[Path], None] | None = None  # a pack's origins put back (image/source.py)


@dataclass(frozen=True)
class ImageResult:
    output: Path
    digest: str  # the manifest's, what `skopeo inspect` calls the image digest
    platform: str
    architecture: str
    layers: list[dict[str, object]] = field(default_factory=list)
    base_layers: int = 0
    skipped_scripts: tuple[str, ...] = ()
    packages: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "output": str(self.output),
            "digest": self.digest,
            "platform": self.platform,
            "architecture": self.architecture,
            "layers": self.layers,
            "base_layers": self.base_layers,
            "link_scripts_not_run": list(self.skipped_scripts),
            "packages": self.packages,
        }


def _jobs(asked: int | None) -> int:
    if asked is not None:
        return max(1, asked)
    return max(1, min(2, len(os.sched_getaffinity(0))))


def _base(spec: str, folder: Path) -> Base | None:
    if spec == "scratch":
        return None
    if not spec.startswith("oci-archive:"):
        raise UserError(
            f"`--base {spec}`: expected `scratch` or `oci-archive:PATH`",
            hints=[
                "save a base image as an OCI archive: `skopeo copy docker://debian:12 oci-archive:base.tar`"
            ],
        )
    path = Path(spec.removeprefix("oci-archive:"))
    try:
        return read_base(path, folder)
    except BaseError as exc:
        raise UserError(f"`--base {spec}`: {exc}") from None
    except OSError as exc:
        raise UserError(f"`--base {spec}`: cannot read {path}: {exc.strerror or exc}") from None


def _scrub_host(root: Path, prefix: str) -> None:
    """conda-meta and history without the build host's paths and command line."""
    for record_path in sorted((root / "conda-meta").glob("*.json")):
        record = json.loads(record_path.read_text(encoding="utf-8"))
        for key in _HOST_PATH_KEYS:
            record.pop(key, None)
        link = record.get("link")
        if isinstance(link, dict):
            link.pop("source", None)
        record_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    history = root / "conda-meta" / "history"
    if history.is_file():
        # the build's date would make two builds of one lock differ: the layers' fixed time instead
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch()))
        lines = [
            f"# cmd: cenv image (prefix {prefix})"
            if line.startswith("# cmd:")
            else f"==> {when} <=="
            if line.startswith("==> ") and line.endswith(" <==")
            else line
            for line in history.read_text(encoding="utf-8").splitlines()
        ]
        history.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _env(root: Path, prefix: str, base: Mapping[str, str], variables: Mapping[str, str]) -> dict[str, str]:
    """The image's environment: conda's activation of `prefix` (PATH first, CONDA_PREFIX, the packages'
    env_vars.d, then the spec's variables), on top of the base image's."""
    from cenv.install.activate import UNSET, package_env_vars

    env = dict(base)
    path = base.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    env["PATH"] = f"{prefix}/bin:{path}"
    env["CONDA_PREFIX"] = prefix
    env["CONDA_DEFAULT_ENV"] = prefix
    for key, value in {**package_env_vars(root), **variables}.items():
        if value == UNSET:
            env.pop(key, None)
        else:
            env[key] = value
    return dict(sorted(env.items()))


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def build_image(settings: ImageSettings, reporter: object | None = None) -> ImageResult:
    """Build the image of `settings.source` into `settings.output`. Raises CenvError subclasses."""
    from cenv.install.conda import Reporter, install_plan, plan_install
    from cenv.install.envs import pkgs_dir
    from cenv.install.finish import FinishOptions
    from cenv.lock.importers import read_lock, select_platform
    from cenv.lock.keys import CUSTOM_VARIABLES, CUSTOM_VARIANT, parse_variables

    lock = read_lock(settings.source, environment=settings.variant)
    platform = settings.platform or (host_platform() if host_platform() in lock.platforms else None)
    if platform is None:
        if len(lock.platforms) != 1:
            raise UserError(
                f"{settings.source} is for {', '.join(lock.platforms)}: choose one with `-p`",
            )
        platform = lock.platforms[0]
    architecture = ARCHITECTURES.get(platform)
    if architecture is None:
        raise UserError(
            f"`{platform}`: an image is for Linux ({', '.join(ARCHITECTURES)})",
            hints=["lock for a Linux platform: `cenv lock SPEC -p linux-64`"],
        )
    lock = select_platform(lock, platform, settings.source)
    foreign = platform != host_platform()
    if foreign and lock.packages_for(platform, "pip"):
        raise UserError(
            f"the lock's pip packages for {platform} cannot be installed on this {host_platform()} machine",
            hints=["build the image on a machine of that platform, or move the pip part to conda packages"],
        )
    prefix = settings.prefix.rstrip("/") or "/"
    if not prefix.startswith("/"):
        raise UserError(f"`--prefix {settings.prefix}`: expected an absolute path, such as /opt/env")
    variables = parse_variables(lock.metadata.custom(CUSTOM_VARIABLES))
    packages = settings.pkgs_dir or pkgs_dir()
    settings.output.parent.mkdir(parents=True, exist_ok=True)
    # The layers are streamed into files beside the output (the same file system as the archive), and
    # copied into it a chunk at a time: memory stays bounded whatever the environment's size.
    blobs_prefix = f".{settings.output.name}.blobs-"
    with (
        tempfile.TemporaryDirectory(prefix=blobs_prefix, dir=settings.output.parent) as blobs,
        tempfile.TemporaryDirectory(prefix="cenv-image-") as tmp,
    ):
        base = _base(settings.base, Path(blobs))
        root = Path(tmp) / "env"
        plan, _ = asyncio.run(
            plan_install(lock, platform, Path(prefix), packages, env_vars=variables, image=True)
        )
        finish = FinishOptions(link_scripts=not foreign, command="cenv image", register=False)
        installed = asyncio.run(
            install_plan(plan, reporter if isinstance(reporter, Reporter) else None, finish=finish, into=root)
        )
        if settings.restore is not None:
            settings.restore(root)
        _scrub_host(root, prefix)
        layers: list[Layer] = list(base.layers) if base else []
        shown = []
        planned_layers = plan_layers(root)

        def write(planned: LayerPlan) -> Layer:
            under = prefix.lstrip("/")
            return write_layer(root, planned.paths, under, settings.compression, Path(blobs), settings.level)

        # Layers are independent: compressed on up to `jobs` threads (zlib, zstd and sha256 release the
        # GIL), each into its own file, so the bytes do not depend on the number of threads.
        with ThreadPoolExecutor(max_workers=_jobs(settings.jobs)) as pool:
            written = list(pool.map(write, planned_layers))
        for planned, layer in zip(planned_layers, written, strict=True):
            layers.append(layer)
            shown.append(
                {
                    "name": planned.name,
                    "digest": layer.blob.digest,
                    "size": layer.blob.size,
                    "files": layer.files,
                }
            )
        labels = {
            "org.opencontainers.image.title": settings.tag or settings.source.stem,
            "io.cenv.version": cenv.__version__,
            "io.cenv.platform": platform,
            "io.cenv.lock-content-hash": lock.metadata.content_hash.get(platform, ""),
            "io.cenv.virtual-packages": " ".join(str(vp) for vp in lock.virtual_packages(platform) or ()),
        }
        variant = lock.metadata.custom(CUSTOM_VARIANT)
        if variant:
            labels["io.cenv.variant"] = variant
        config = ImageConfig(
            architecture=architecture,
            env=_env(root, prefix, base.env if base else {}, variables),
            labels=labels,
        )
        history = [f"base layer {i}" for i in range(len(base.layers))] if base else []
        history += [f"cenv image: {s['name']}" for s in shown]
        blob = config_blob(config, [layer.diff_id for layer in layers], history)
        manifest = write_archive(settings.output, layers, blob, settings.tag)
    return ImageResult(
        output=settings.output,
        digest=manifest.digest,
        platform=platform,
        architecture=architecture,
        layers=shown,
        base_layers=len(base.layers) if base else 0,
        skipped_scripts=tuple(_strings((installed.conda_steps or {}).get("link_scripts_skipped"))),
        packages=installed.packages,
    )
