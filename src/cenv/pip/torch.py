"""The PyTorch index rules: which `<root>/<label>` index serves torch, torchvision and torchaudio
for a target."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from cenv.errors import PipStageError
from cenv.pip.models import PipRequest
from cenv.pip.requirements import canonical, is_plain_requirement, requirement_name
from cenv.redact import redact

DEFAULT_PYTORCH_INDEX = "https://download.pytorch.org/whl"
#: CUDA labels of the PyTorch index, highest first; probed in this order.
CUDA_LABELS: tuple[str, ...] = ("cu130", "cu129", "cu128", "cu126", "cu124", "cu121", "cu118")
_LABEL = re.compile(r"^(?:cpu|cu\d+|rocm[\d.]+|xpu)$")


def torch_requirements(request: PipRequest) -> list[str]:
    family = {canonical(n) for n in request.torch_packages}
    return [
        line
        for line in request.requirements
        if is_plain_requirement(line) and requirement_name(line) in family
    ]


def _cuda_key(label: str) -> tuple[int, int]:
    digits = label[2:]
    return int(digits[:-1] or "0"), int(digits[-1])


def _version_key(version: str) -> tuple[int, int]:
    parts = ([*version.split("."), "0"])[:2]
    try:
        return int(parts[0]), int(parts[1])
    except ValueError as exc:
        raise PipStageError(f"`__cuda {version}` is not a CUDA version") from exc


def _probe(url: str, offline: bool) -> bool:
    """Does `url` (a PEP 503 project page) exist? file:// is checked on disk; HTTP with a GET through the
    one network client (credentials in the URL or stored for its host, proxies, TLS: cenv.net)."""
    import urllib.parse
    import urllib.request

    from cenv.net import HttpError, exists

    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path)).is_dir()
    if offline:
        return False
    try:
        return exists(url)
    except HttpError as exc:
        raise PipStageError(
            f"cannot reach the PyTorch index {redact(url)}: {exc.reason}",
            hints=["set `pip-options: pytorch-index:` to a reachable mirror"],
        ) from exc


def torch_label(request: PipRequest, pulled_in: Sequence[str] = ()) -> str | None:
    """The PyTorch index label for the target: None (plain PyPI) on macOS or without torch packages.

    With `__cuda X.Y`: the highest CUDA label not above X.Y whose `<root>/<label>/<package>/` exists, probed
    from the highest candidate down. Without `__cuda`: `cpu`. A label the user put in an index URL
    (`.../whl/cu121`) wins.
    """
    wanted = torch_requirements(request) or list(pulled_in)
    if not wanted or request.platform.startswith("osx-"):
        return None
    root = (request.pytorch_index or DEFAULT_PYTORCH_INDEX).rstrip("/")
    for url in (request.index_url, *request.extra_index_urls):
        if url and url.rstrip("/").startswith(root + "/"):
            label = url.rstrip("/")[len(root) + 1 :].split("/")[0]
            if _LABEL.match(label):
                return label
    cuda = request.virtual_packages.get("__cuda")
    if cuda is None:
        return "cpu"
    limit = _version_key(cuda.version)
    candidates = [label for label in CUDA_LABELS if _cuda_key(label) <= limit]
    package = requirement_name(wanted[0]) or "torch"
    for label in candidates:
        if _probe(f"{root}/{label}/{package}/", request.offline):
            return label
    raise PipStageError(
        f"no CUDA build of {package} for `__cuda {cuda.version}` on {redact(root)}",
        hints=[
            "labels tried: " + (", ".join(candidates) or "none (the CUDA version is below cu118)"),
            "lock with `--cuda none` for CPU builds, or a newer `--cuda`"
            + (" (offline: only file:// PyTorch indexes can be probed)" if request.offline else ""),
        ],
    )
