"""The PyPI stage: resolve a spec's `pip:` lines with uv for a target platform.

The only package that runs uv. Resolution never needs the target's interpreter:
`uv pip compile --python-version X.Y.Z --python-platform TAG --format pylock.toml`, and the pylock file is
parsed with tomllib (stdout is never read). What conda provides stays conda's: exact pins through `-c` plus
`--no-emit-package` for each. PyTorch packages come from `<pytorch index>/<label>` (an explicit index
bound to them through a generated pyproject.toml's `tool.uv.sources`), with the local label pinned.

Modules: models (request and result), target (uv's platform and python), requirements (reading pip lines),
torch (PyTorch index rules), uv (running it), inputs (one compile's files and arguments), pylock (the
resolution pass), graph (the `# via` pass and its cache), diagnose (uv's failures in cenv's words), resolve
(the stage itself). The lock's requirements export is cenv.lock.requirements; the install, cenv.install.pip.
"""

from __future__ import annotations

from cenv.pip.models import KnownGraph, PipPackage, PipRequest
from cenv.pip.resolve import resolve_pip, to_locked
from cenv.pip.target import python_platform
from cenv.pip.torch import CUDA_LABELS, DEFAULT_PYTORCH_INDEX, torch_label

__all__ = [
    "CUDA_LABELS",
    "DEFAULT_PYTORCH_INDEX",
    "KnownGraph",
    "PipPackage",
    "PipRequest",
    "python_platform",
    "resolve_pip",
    "to_locked",
    "torch_label",
]
