"""A spec's variants as a matrix: which variants a command covers, the settings each is locked with, and
one error naming each variant (and platform) that failed.

`--cuda` applies to the variants that use CUDA; a `cuda: null` variant never assumes `__cuda` (the plan gives
its `__cuda` from the variant alone, `cenv.plan`), and naming one with `--cuda` is a usage error.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

from cenv.errors import CenvError, UsageError
from cenv.platforms import KNOWN_PLATFORMS

if TYPE_CHECKING:
    from cenv.settings import LockSettings
    from cenv.spec import Spec

__all__ = ["check_cuda_flag", "variant_jobs", "variant_names", "variants_failed"]


def variant_names(spec: Spec, chosen: str | None) -> list[str]:
    """The variants to lock: all of the spec's, or the one chosen (checked)."""
    if chosen is None:
        return list(spec.variants)
    if not spec.variants:
        raise UsageError(f"`--variant {chosen}`: the spec declares no `variants`")
    if chosen not in spec.variants:
        raise UsageError(
            f"unknown variant `{chosen}`", hints=["the spec's variants: " + ", ".join(spec.variants)]
        )
    return [chosen]


def variant_jobs(spec: Spec, settings: LockSettings) -> list[tuple[Spec, LockSettings]]:
    """(spec, settings) per variant to lock: the spec as that variant locks it, and the settings with the
    variant set (`--cuda` applies to the variants that use CUDA; naming a CPU-only one with it: exit 2)."""
    names = variant_names(spec, settings.variant)
    if not names:
        return [(spec, settings)]
    if settings.variant is not None:
        check_cuda_flag(spec, settings.variant, settings.cuda)
    named = settings.variant is not None
    return [(spec.with_variant(n), replace(settings, variant=n, named_variant=named)) for n in names]


def check_cuda_flag(spec: Spec, variant: str, cuda: str | None) -> None:
    """`--variant cpu --cuda 12.1`: a `cuda: null` variant never assumes `__cuda` (a usage error)."""
    if cuda is not None and not spec.variants[variant].uses_cuda:
        cuda_variants = [n for n, v in spec.variants.items() if v.uses_cuda]
        raise UsageError(
            f"`--cuda {cuda}`: variant `{variant}` declares `cuda: null`, so it never assumes `__cuda`",
            hints=[
                "drop `--cuda`"
                + (f", or name a CUDA variant: {', '.join(cuda_variants)}" if cuda_variants else "")
            ],
        )


def variants_failed(failed: list[tuple[tuple[Spec, LockSettings], CenvError]], total: int) -> CenvError:
    """One error for the variants that failed: each named with its platform; nothing was written."""
    if total == 1 and failed[0][0][1].variant is None:
        return failed[0][1]
    messages = [_variant_message(settings.variant or "", spec, error) for (spec, settings), error in failed]
    first = failed[0][1]
    hints = [line for line, _ in messages[1:]] + messages[0][1]
    if total > 1:
        hints.append(
            "no lockfile was written (a variant spec's lockfiles are written together or not at all)"
        )
    error = type(first)(messages[0][0], hints=hints)
    error.exit_code = first.exit_code
    return error


def _variant_message(variant: str, spec: Spec, error: CenvError) -> tuple[str, list[str]]:
    """`variant cpu, linux-64: no `pytorch` build without `__cuda` in these channels` where a CPU-only
    variant fails for lack of `__cuda` (the solver's words go to a hint); else `variant cpu: <the error>`."""
    message = error.message
    found = re.search(r"([A-Za-z0-9_.\-]+) [\d.| ]+would require\W+__cuda", message)
    if found is None or _uses_cuda_somewhere(spec):
        return f"variant {variant}: {message}", list(error.hints)
    platform = next((p for p in KNOWN_PLATFORMS if f"no solution for {p}:" in message), None)
    where = f", {platform}" if platform else ""
    return (
        f"variant {variant}{where}: no `{found.group(1)}` build without `__cuda` in these channels",
        [
            f"the variant declares `cuda: null`: add a channel with CPU builds of `{found.group(1)}`, "
            f"or leave variant `{variant}` out of the spec",
            message,
        ],
    )


def _uses_cuda_somewhere(spec: Spec) -> bool:
    cuda = spec.cuda
    if isinstance(cuda, dict):
        return any(v is not None for v in cuda.values())
    return cuda is not None
