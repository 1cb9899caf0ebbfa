"""Helpers shared by the benchmark scripts: fair start-up conditions and RESULTS.md sections."""

from __future__ import annotations

import compileall
import importlib.util
import re
from pathlib import Path


def precompile_cenv() -> Path:
    """Write the bytecode of the cenv package that subprocesses will import (an installed cenv has it).

    An editable checkout run with PYTHONDONTWRITEBYTECODE=1 would otherwise compile every cenv module
    from source in every measured process (~25 ms per `cenv lock`), while rattler, click and pydantic
    load from their installed .pyc files. Returns the package directory.
    """
    spec = importlib.util.find_spec("cenv")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("cenv is not importable")
    package = Path(next(iter(spec.submodule_search_locations)))
    compileall.compile_dir(package, quiet=1)
    return package


def sections(text: str) -> list[tuple[str, str]]:
    """`## ` sections of a markdown file as (heading line, whole section text), in order."""
    parts = re.split(r"(?m)^(?=## )", text)
    return [(part.splitlines()[0], part.rstrip() + "\n") for part in parts if part.startswith("## ")]


def replace_section(path: Path, heading: str, body: str) -> None:
    """Put `## heading` + `body` into the markdown file at `path`, replacing a section of that heading."""
    text = path.read_text() if path.exists() else ""
    new = f"## {heading}\n\n{body.strip()}\n"
    kept = [s for h, s in sections(text) if h != f"## {heading}"]
    head = re.split(r"(?m)^## ", text, maxsplit=1)[0].rstrip()
    path.write_text(
        "\n".join(p.rstrip() + "\n" for p in [head, *kept, new] if p.strip()).replace("\n\n\n", "\n\n")
    )
