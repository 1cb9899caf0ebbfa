"""The real-world test layer: ``../shared/realdata`` beside the checkout (see its README.md).

A developer's or CI's checkout has it; a fresh clone does not. One policy for every test that reads it:

- present: the test runs;
- absent: the test skips, its reason naming ``../shared/realdata`` and the missing path;
- absent while ``CI`` is set: the run fails (conftest checks ``REQUIRED`` at session start, and a test that
  still reaches a missing path fails instead of skipping), so CI never drops the real-world layer silently.

How a test asks for it (never read ``REALDATA`` without one of these):

- ``@pytest.mark.realdata("channels/pangeo-cuda", ...)`` on a test, a class or a module (``pytestmark``):
  checked before the test's fixtures are set up, so module fixtures that read the data are safe;
- ``realdata_path("locks", "pixi", "pypi-numpy.lock")`` inside a test or fixture: the path, or skip/fail;
- ``realdata_files("specs", "**/*.yml")`` as a ``parametrize`` list: the files, or one placeholder case
  that skips/fails the same way (an empty list would skip without naming the folder);
- the ``realdata`` fixture: the folder itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

#: Real-world data shared between the project's checkouts (read-only; never copied into the project).
REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"
#: How messages name it: relative to the project root, as the README does.
LABEL = "../shared/realdata"

#: What the suite reads from it; with CI set, any of these missing fails the run at start.
REQUIRED = (
    "README.md",
    "channels/conda-forge-numpy",
    "channels/conda-forge-py39-subchannel",
    "channels/pangeo-cuda",
    "channels/pixi-sample-multichannel",
    "channels/pytorch-gpu-multiplatform",
    "locks/conda-lock-v1",
    "locks/explicit",
    "locks/pixi",
    "locks/rattler-lock-samples",
    "locks/pangeo-ml-notebook",
    "locks/pangeo-notebook",
    "locks/pangeo-pytorch-notebook",
    "mappings/parselmouth-conda-forge-compressed_mapping.json",
    "specs/pangeo-base-notebook",
    "specs/pangeo-notebook",
    "specs/pangeo-pytorch-notebook",
    "specs/rattler-samples",
    "specs/dinov2",
    "specs/deeplabcut",
    "specs/stable-diffusion",
)


def in_ci() -> bool:
    """``CI`` set to anything but empty/0/false (GitHub, GitLab and most runners set ``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(*relpaths: str) -> list[str]:
    """The given paths under ``REALDATA`` that do not exist (all of ``REQUIRED`` when none are given)."""
    wanted = relpaths or REQUIRED
    if not REALDATA.is_dir():
        return list(wanted) or ["."]
    return [p for p in wanted if not (REALDATA / p).exists()]


def reason(absent: Iterable[str]) -> str:
    """The one message for missing real-world data, naming the folder."""
    if not REALDATA.is_dir():  # one reason for every test, so the skip summary groups them
        return f"real-world data: {LABEL} not found (looked in {REALDATA}; see README, Testing)"
    names = [f"{LABEL}/{p}" for p in absent if p not in ("", ".")]
    listed = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"real-world data: {LABEL} is incomplete, missing {listed} (see README, Testing)"


def require(*relpaths: str) -> None:
    """Skip the running test if a path is missing, or fail it when CI is set."""
    absent = missing(*(relpaths or (".",)))
    if absent:
        if in_ci():
            pytest.fail(f"CI is set: {reason(absent)}", pytrace=False)
        pytest.skip(reason(absent))


def realdata_path(*parts: str) -> Path:
    """``REALDATA / parts...``, inside a test or fixture; skips (fails under CI) if it is missing."""
    relpath = "/".join(parts) or "."
    require(relpath)
    return REALDATA / relpath


def realdata_files(folder: str, pattern: str = "*", keep: Callable[[Path], bool] | None = None) -> list[Any]:
    """Files under ``REALDATA/folder`` matching ``pattern``, sorted, for ``parametrize``; when the folder is
    missing, one placeholder case marked so that it skips (or fails under CI) naming the folder."""
    root = REALDATA / folder
    if not root.is_dir():
        return [pytest.param(root, marks=pytest.mark.realdata(folder), id="no-realdata")]
    return sorted(p for p in root.glob(pattern) if p.is_file() and (keep is None or keep(p)))


def session_problem() -> str | None:
    """With CI set, why the run must not start (the data or part of it is missing); else None."""
    if not in_ci():
        return None
    absent = missing()
    if not absent:
        return None
    return f"CI is set, so the real-world tests must run, but {reason(absent)}"
