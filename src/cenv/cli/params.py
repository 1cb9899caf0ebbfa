"""Option types shared by the commands, checked where click parses them (a bad value is a usage error,
exit 2, with the fix): platform names with did-you-mean, and `-p`, which is the platform in `lock`,
`export`, `why` and `pack` but the prefix in `create`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cenv.platforms import KNOWN_PLATFORMS

_TARGETS = tuple(p for p in KNOWN_PLATFORMS if p != "noarch")


def _looks_like_a_path(value: str) -> bool:
    return value.startswith((".", "/", "~")) or "/" in value or "\\" in value


class PlatformType(click.ParamType):  # type: ignore[type-arg]
    """A conda platform name (`linux-64`); a path or a near miss gets the fix, not the list of 33 names."""

    name = "platform"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if text in _TARGETS:
            return text
        if _looks_like_a_path(text):
            self.fail(
                f"`{text}` is a path, not a platform: here -p is the platform (`linux-64`, `osx-arm64`, "
                "...); the environment's folder is `cenv create -p PREFIX`",
                param,
                ctx,
            )
        import difflib  # only for a bad value (issue #21: start-up)

        close = difflib.get_close_matches(text.lower(), _TARGETS, n=1, cutoff=0.6)
        if close:
            guesses = " or ".join(f"`{c}`" for c in close)
            self.fail(f"unknown platform `{text}`: did you mean {guesses}?", param, ctx)
        self.fail(f"unknown platform `{text}`; platforms: {', '.join(_TARGETS)}", param, ctx)


PLATFORM = PlatformType()


# conda's default environment file names (`conda env create` without `-f`), in the order conda tries them
DEFAULT_SPECS = ("environment.yml", "environment.yaml")


def default_spec(command: str) -> Path:
    """The spec a command without SPEC uses: `environment.yml` (or `.yaml`) in the working folder, as
    `conda env create` and conda-lock do; else a usage error that says so."""
    for name in DEFAULT_SPECS:
        if Path(name).is_file():
            return Path(name)
    raise click.UsageError(
        f"missing SPEC: `cenv {command} SPEC` (and there is no environment.yml or environment.yaml here)"
    )


def check_prefix(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """`create -p linux-64` means a folder named `linux-64` to click: refuse it unless that folder exists,
    since the user almost certainly meant `--platform`."""
    if value is not None and str(value) in _TARGETS and not value.exists():
        raise click.BadParameter(
            f"`{value}` is a platform name: did you mean `--platform {value}`? "
            f"-p is the prefix here (to create a folder of that name, write `-p ./{value}`)",
            ctx,
            param,
        )
    return value
