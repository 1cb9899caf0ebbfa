"""The policy for tests marked `network` (real PyPI): they run in the default test command and FAIL, never
skip, when PyPI cannot be reached: CI and the demo need PyPI anyway, and a skipped network test would hide
a broken pip stage. Run without them: `bash scripts/test.sh -m "not slow and not network"`."""

from __future__ import annotations

import functools
import urllib.error
import urllib.request

PYPI_PROBE = "https://pypi.org/simple/pip/"
DESELECT = "-m 'not slow and not network'"


@functools.cache
def pypi_problem() -> str | None:
    """Why PyPI cannot be reached (checked once per session), or None."""
    request = urllib.request.Request(PYPI_PROBE, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=30):
            return None
    except urllib.error.HTTPError as exc:
        return None if exc.code < 500 else f"HTTP {exc.code} from {PYPI_PROBE}"
    except OSError as exc:
        return f"{PYPI_PROBE}: {getattr(exc, 'reason', None) or exc}"


def unreachable_message(problem: str) -> str:
    return (
        f"PyPI is not reachable ({problem}); tests marked `network` need it; to run without them: {DESELECT}"
    )
