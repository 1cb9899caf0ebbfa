"""`cenv image`: a lockfile becomes an OCI image archive (docker, podman, skopeo, apptainer read it)."""

from __future__ import annotations

from pathlib import Path

import click

from cenv.cli.params import PLATFORM


@click.command("image")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-p", "--platform", type=PLATFORM, help="Platform of the lock (default: this machine's).")
@click.option("--variant", help="The spec's variant to build (its lockfile), or a pixi.lock's environment.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="FILE.tar to write.")
@click.option(
    "--base", default="scratch", show_default=True, help="`scratch`, or `oci-archive:BASE.tar` kept below."
)
@click.option("--prefix", default="/opt/env", show_default=True, help="The environment's path in the image.")
@click.option("--tag", help="NAME:TAG recorded in the archive's index (`podman load` shows it).")
@click.option("--compression", type=click.Choice(["gzip", "zstd", "none"]), default="gzip", show_default=True)
@click.option(
    "--level",
    type=click.IntRange(1, 19),
    help="Compression level (default: gzip 6, zstd 3; gzip takes 1-9).",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    help="Layers compressed at once (default: 2, or 1 on a one-core machine); the bytes do not change.",
)
@click.option("--json", "json_output", is_flag=True, help="Print a machine-readable summary on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress and no messages.")
def image_command(
    source: Path,
    platform: str | None,
    variant: str | None,
    output: Path,
    base: str,
    prefix: str,
    tag: str | None,
    compression: str,
    level: int | None,
    jobs: int | None,
    json_output: bool,
    quiet: bool,
) -> None:
    """Write the environment of SOURCE (a lockfile, a `cenv pack`, or a spec whose lockfile is fresh),
    laid out at --prefix, as an OCI image archive (FILE.tar): no daemon, and the same lock gives the same
    image digest. Load it with `podman load -i FILE.tar`, `skopeo copy
    oci-archive:FILE.tar ...` or `apptainer build env.sif oci-archive://FILE.tar`."""
    from cenv.console import Console
    from cenv.image.build import ImageSettings, build_image
    from cenv.image.source import image_source
    from cenv.progress import human_size, make_reporter

    if level is not None and compression == "gzip" and level > 9:
        raise click.UsageError(f"`--level {level}`: gzip takes 1-9 (zstd takes 1-19)")
    console = Console(quiet=quiet, json_output=json_output)
    reporter = make_reporter(console)
    try:
        with image_source(source, variant) as found:
            settings = ImageSettings(
                source=found.lockfile,
                output=output,
                platform=platform,
                variant=found.variant,
                base=base,
                prefix=prefix,
                tag=tag,
                compression=compression,
                level=level,
                jobs=jobs,
                restore=found.restore,
            )
            result = build_image(settings, reporter)
    finally:
        reporter.close()
    if json_output:
        console.json(result.to_json())
        return
    if result.skipped_scripts:
        console.warn(
            f"link scripts not run (they cannot run for {result.platform} here): "
            + ", ".join(result.skipped_scripts)
        )
    size = sum(int(str(layer["size"])) for layer in result.layers)
    console.info(
        f"wrote {result.output}: {result.architecture} image, {len(result.layers)} layers "
        f"({human_size(size)}) over {result.base_layers} base layers, digest {result.digest}"
    )
    console.info(f"load it: podman load -i {result.output}  (or docker load, skopeo, apptainer)")
