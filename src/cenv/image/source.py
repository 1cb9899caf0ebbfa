"""What `cenv image` builds from: a lockfile as it is, a pack (checked, then its lockfile, with the packages'
origins restored in the image as `cenv create PACK` restores them), or a spec whose lockfile is fresh (an
image never solves: a stale or missing lock is refused with the command that makes it)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cenv.errors import UsageError, UserError


@dataclass(frozen=True)
class ImageSource:
    lockfile: Path
    variant: str | None  # a pixi.lock's environment (None for other locks)
    restore: Callable[[Path], None] | None = None  # run on the image's environment before its layers


def _spec_lock(spec: Path, variant: str | None) -> Path:
    from cenv.pipeline import check_all
    from cenv.settings import LockSettings

    results = check_all(LockSettings(spec_paths=(spec,), variant=variant, named_variant=variant is not None))
    if len(results) > 1:
        names = ", ".join(str(r.plan.variant) for r in results)
        raise UsageError(
            f"{spec} has variants ({names}): name one with `--variant`",
            hints=[f"e.g. `cenv image {spec} --variant {results[0].plan.variant} -o image.tar`"],
        )
    result = results[0]
    refresh = f"cenv lock {spec}" + (f" --variant {variant}" if variant else "")
    if result.missing:
        raise UserError(
            f"{spec}: no lockfile {result.plan.output} yet; an image is built from a lock",
            hints=[f"make it with `{refresh}`"],
        )
    if result.reasons:
        raise UserError(
            f"{result.plan.output} is stale for {spec}: {result.reasons[0].detail}",
            hints=[f"refresh it with `{refresh}`, then build the image again"],
        )
    return result.plan.output


@contextlib.contextmanager
def image_source(source: Path, variant: str | None) -> Iterator[ImageSource]:
    """The lockfile to build from (temporary files of a pack go when the block ends)."""
    from cenv.lock.importers import is_lockfile
    from cenv.pack import is_pack

    if not source.exists():
        raise UserError(f"`{source}`: no such file", hints=["give a lockfile, a pack or a spec"])
    if is_pack(source):
        from cenv.pack.unpack import open_pack, restore_origins

        with open_pack(source) as opened:
            yield ImageSource(opened.lockfile, None, lambda root: restore_origins(root, opened))
        return
    if is_lockfile(source):
        yield ImageSource(source, variant)
        return
    yield ImageSource(_spec_lock(source, variant), None)
