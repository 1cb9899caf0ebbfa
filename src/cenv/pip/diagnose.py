"""uv's resolution failures in cenv's words: what conflicts with what, and what to do."""

from __future__ import annotations

import re

from cenv.errors import PipStageError
from cenv.pip.models import PipRequest
from cenv.pip.requirements import canonical, requirement_name
from cenv.redact import redact

_PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s,]+)")


def resolve_error(stderr: str, request: PipRequest) -> PipStageError:
    lines = [redact(line.rstrip()) for line in stderr.splitlines() if line.strip()]
    text = " ".join(line.strip() for line in lines)
    reasons = [
        line.strip().removeprefix("error:").removeprefix("cause:").strip()
        for line in lines
        if not line.strip().startswith("hint:")
    ]
    uv_hints = [
        line.strip().removeprefix("hint:").strip() for line in lines if line.strip().startswith("hint:")
    ]
    reason = " ".join(r for r in reasons[1:] if r) or (
        reasons[0] if reasons else "uv failed without a message"
    )
    hints = [f"uv: {reason}", *(f"uv: {h}" for h in uv_hints)]
    where = f"for {request.platform}"
    conda = {canonical(k): v for k, v in request.conda_provided.items()}
    for name, version in _PIN.findall(text):
        name = canonical(name)
        if conda.get(name) != version:
            continue
        mine = [line for line in request.requirements if requirement_name(line) == name]
        if mine:
            message = f"pip requirement `{mine[0]}` conflicts with {name} {version} from conda"
        else:
            dependent = re.search(
                rf"([A-Za-z0-9][A-Za-z0-9._-]*)(?:[=<>!~][^\s]*)? depends? on ({re.escape(name)}[^\s,]*)",
                text,
                re.IGNORECASE,
            )
            if dependent:
                message = (
                    f"pip package `{dependent.group(1)}` requires `{dependent.group(2)}`, "
                    f"which conflicts with {name} {version} from conda"
                )
            else:
                message = f"the pip requirements conflict with {name} {version} from conda"
        hints.append(f"change the conda version of {name}, or relax the pip requirement")
        return PipStageError(f"{message} ({request.platform})", hints=hints)
    if (
        "not found in the package registry" in text
        or "was not found in the provided package locations" in text
    ):
        return PipStageError(f"a pip requirement was not found on the package index {where}", hints=hints)
    if request.offline and ("offline" in text.lower() or "network" in text.lower()):
        hints.append("resolve once online to fill uv's cache, or drop `--offline`")
    return PipStageError(f"the pip requirements cannot be resolved {where}", hints=hints)
