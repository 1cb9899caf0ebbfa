"""uv's failures in cenv's words: which spec line is involved (or what pulled the package in), what went
wrong, and what to do. uv's full output goes to a log file the message names, never to the terminal."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from cenv.errors import PipStageError
from cenv.logs import write_log
from cenv.pip.lines import UvLine
from cenv.pip.models import PipRequest
from cenv.pip.requirements import canonical
from cenv.pip.torch import DEFAULT_PYTORCH_INDEX
from cenv.redact import redact

# Linear time on any input (issue #20: a 20k-character name cost 20 s): a name starts only where a word
# starts (the look-behind) and every repeat is bounded, so no start position scans the rest of the text.
_NAME = r"(?<![A-Za-z0-9._-])[A-Za-z0-9][A-Za-z0-9._-]{0,200}"
_SPEC = r"[^\s]{0,200}"  # a version specifier after a name
_PIN = re.compile(rf"({_NAME})==([^\s,]{{1,200}})")
_DEPENDS = re.compile(rf"({_NAME})(?:[=<>!~]{_SPEC})? depends? on ({_NAME})", re.IGNORECASE)
_NO_WHEEL = re.compile(
    rf"({_NAME})(?:[=<>!~]=?{_SPEC})? has no (?:wheels with a matching|source distribution)", re.IGNORECASE
)
_BUILD = re.compile(rf"Failed to (?:download and )?build `({_NAME})", re.IGNORECASE)
_NOT_FOUND = re.compile(
    rf"({_NAME}) was not found in the (?:package registry|provided package locations)", re.IGNORECASE
)
_GIT = re.compile(
    r"(?:Git operation failed|failed to (?:clone|fetch) into|Failed to (?:fetch|resolve) `?git)",
    re.IGNORECASE,
)
_HOST = re.compile(r"(?:git\+)?(?:https?|ssh|git)://(?:[^@/\s]+@)?([^/:\s`]+)")


CREDENTIALS_HINT = (
    "a private index needs credentials: `${ENV_VAR}`s in its URL, a `BasicHTTP` entry for its host in "
    "RATTLER_AUTH_FILE, or ~/.netrc"
)


def resolve_error(stderr: str, request: PipRequest, lines: Sequence[UvLine] = ()) -> PipStageError:
    """The PipStageError for a failed `uv pip compile` (its stderr is written to a log file)."""
    log = write_log(stderr, f"pip-{request.platform}")
    stderr = _bounded(stderr)  # the log keeps everything; the patterns below see bounded lines
    text = " ".join(line.strip() for line in redact(stderr).splitlines())
    where = f"for {request.platform}"
    seen = f"uv's full output: {log}" if log else "uv wrote no output"
    uv_hints = [
        h.strip().removeprefix("hint:").strip()
        for h in redact(stderr).splitlines()
        if h.strip().startswith("hint:") and "tool.uv" not in h and "uv.toml" not in h
    ]
    first = _first_error(stderr)

    if _GIT.search(text) or ("git" in first.lower() and "could not resolve host" in text.lower()):
        line = next((ln for ln in lines if ln.kind == "git"), None)
        host = _HOST.search(line.uv if line else text)
        shown = host.group(1) if host else "the repository host"
        return PipStageError(
            f"cannot fetch a git requirement {where}" + (f" ({line.line.where})" if line else ""),
            hints=[
                *[f"git: {ln.strip()[:300]}" for ln in redact(stderr).splitlines() if "fatal:" in ln][-1:],
                f"git needs network access to {shown} (and credentials for a private repository: an ssh "
                "key or a token in git's credential helper)",
                seen,
            ],
        )
    build = _BUILD.search(text)
    if build:
        name = canonical(build.group(1))
        tail = _build_tail(stderr)
        undeclared = re.search(r"depends on `([^`]+)`, but doesn't declare it as a build dependency", text)
        if undeclared:
            tail.append(f"`{name}` needs `{undeclared.group(1)}` to build but does not declare it")
        return PipStageError(
            f"building `{name}` from source failed {where}{_at(blame(name, text, lines))}",
            hints=[
                *(f"build: {t}" for t in tail),
                "the sdist needs build tools or dependencies this environment lacks: pin a version with "
                "wheels for this python, or take the package from conda",
                seen,
            ],
        )
    missing = _NO_WHEEL.search(text)
    if missing and "from conda" not in text:
        name = canonical(missing.group(1))
        available = [
            h[:300]
            for h in uv_hints
            if _mentions(h, name) and ("available" in h.lower() or "wheels" in h.lower())
        ]
        return PipStageError(
            f"no wheel of `{name}` for python {request.python_version} on {request.platform}"
            f"{_at(blame(name, text, lines))}",
            hints=[
                *(available or ["the index has no wheel of it for this python and platform"]),
                "choose a python or platform it has wheels for, another version of it, or take it from conda",
                seen,
            ],
        )
    not_found = _NOT_FOUND.search(text)
    if not_found:
        name = canonical(not_found.group(1))
        hints = [h[:300] for h in uv_hints if "index" in h.lower()][:2]
        if re.search(r"\b40[13]\b|Unauthorized|Forbidden|authentication", text):
            hints.append(CREDENTIALS_HINT)
        else:
            hints.append("check the name and the index (`--index-url`, `--extra-index-url`, `--find-links`)")
        return PipStageError(
            f"`{name}` was not found on the package index {where}{_at(blame(name, text, lines))}",
            hints=[*hints, seen],
        )
    network = _network_reason(text)
    if network:
        index = _failing_index(text, request)
        hints = [network]
        if re.search(r"\b40[13]\b|Unauthorized|Forbidden", text):
            hints.append(CREDENTIALS_HINT)
        else:
            hints.append("the pip stage needs network access to the index (or `--offline` with a warm cache)")
        root = (request.pytorch_index or DEFAULT_PYTORCH_INDEX).rstrip("/")
        if index and index.startswith(root):
            hints.insert(
                1,
                "torch, torchvision and torchaudio come from the PyTorch index for the target's "
                "CUDA (`--cuda`, or `cpu`): set `pip-options: pytorch-index:` to a reachable mirror",
            )
            package = next((n for n in ("torch", "torchvision", "torchaudio") if f"/{n}/" in text), "torch")
            return PipStageError(
                f"cannot reach the PyTorch index {redact(index)} {where}{_at(blame(package, text, lines))}",
                hints=[*hints, seen],
            )
        at = next((w for url, w in request.index_where.items() if index and _host_root(url) in index), None)
        return PipStageError(
            f"cannot reach the package index {redact(index or 'for the pip requirements')} {where} "
            + (
                f"({at})"
                if at
                else "(`--index-url`/`--extra-index-url`/`--find-links` in `pip:` or `pip-options:`)"
            ),
            hints=[*hints, seen],
        )
    conflict = _conda_conflict(text, request, lines)
    if conflict is not None:
        message, name = conflict
        return PipStageError(
            f"{message} ({request.platform})",
            hints=[first, f"change the conda version of {name}, or relax the pip requirement", seen],
        )
    reasons = uv_reasons(stderr)
    hints = [first, *uv_hints[:2]] if not reasons else uv_hints[:2]
    if request.offline and ("offline" in text.lower() or "network" in text.lower()):
        hints.append("resolve once online to fill uv's cache, or drop `--offline`")
    involved = _involved(text, lines)
    reason = f": {_clip(reasons[0])}" if reasons else ""
    return PipStageError(
        f"the pip requirements cannot be resolved {where}" + (f" ({involved})" if involved else "") + reason,
        hints=[*hints, seen],
        details=[_clip(r) for r in reasons[1:4]],
    )


_MAX_LINE = 20_000  # uv's longest derivation lines are a few thousand characters


def _bounded(stderr: str) -> str:
    """`stderr` with every line cut at `_MAX_LINE` characters: with the bounded patterns above, the
    diagnosis costs time linear in the output whatever a requirement's name holds."""
    if len(stderr) <= _MAX_LINE:
        return stderr
    return "\n".join(line[:_MAX_LINE] for line in stderr.splitlines())


def _clip(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def uv_reasons(stderr: str) -> list[str]:
    """uv's own explanation of a failed resolution, one entry per `cause:` (or `╰─▶`) paragraph, with its
    continuation lines joined: `Because there is no version of six==99.0 and you require six==99.0, ...`."""
    reasons: list[str] = []
    current: list[str] | None = None
    for raw in redact(stderr).splitlines()[:2000]:
        line = raw.strip()
        marker = next((m for m in ("cause:", "╰─▶") if line.startswith(m)), None)
        if marker is not None:
            current = [line.removeprefix(marker).strip()]
            reasons.append("")
        elif current is not None and line and not line.startswith(("hint:", "help:", "error:", "×")):
            current.append(line)
        else:
            current = None
        if current is not None and reasons:
            reasons[-1] = " ".join(current)
    return [r for r in reasons if r]


def _at(where: str) -> str:
    return f" ({where})" if where else ""


def blame(name: str, text: str, lines: Sequence[UvLine]) -> str:
    """`spec.yml:12` for a requirement a line names, `pulled in by X from spec.yml:9` for one it needs."""
    if not any(line.line.where for line in lines):
        return ""
    own = next((line for line in lines if line.name == name), None)
    if own is not None:
        return own.line.where
    parents = {canonical(a): canonical(b) for a, b in _DEPENDS.findall(text)}
    child, chain = name, []
    for _ in range(8):
        parent = next((p for p, c in parents.items() if c == child and p not in chain), None)
        if parent is None:
            break
        chain.append(parent)
        line = next((ln for ln in lines if ln.name == parent and ln.line.where), None)
        if line is not None:
            return f"pulled in by `{parent}` from {line.line.where}"
        child = parent
    requirements = [ln for ln in lines if ln.kind != "option" and ln.line.where]
    if len(requirements) == 1:  # the only requirement pulled it in
        only = requirements[0]
        return (
            f"pulled in by `{only.name}` from {only.line.where}"
            if only.name
            else f"pulled in by {only.line.where}"
        )
    return "pulled in by the pip requirements"


def blame_by_graph(name: str, via: Mapping[str, tuple[str, ...]], lines: Sequence[UvLine]) -> str:
    """`pulled in by `uses-torch` from spec.yml:9`: the requested package whose dependencies lead to `name`,
    walking uv's `# via` graph up (breadth first, so the nearest requirement is named)."""
    queue, seen = [name], {name}
    while queue:
        current = queue.pop(0)
        for parent in via.get(current, ()):
            if not parent or parent in seen:
                continue
            line = next((ln for ln in lines if ln.name == parent and ln.line.where), None)
            if line is not None:
                return f"pulled in by `{parent}` from {line.line.where}"
            seen.add(parent)
            queue.append(parent)
    return ""


def _involved(text: str, lines: Sequence[UvLine]) -> str:
    mentioned = [ln.line.where for ln in lines if ln.name and ln.line.where and _mentions(text, ln.name)]
    return ", ".join(dict.fromkeys(mentioned))


def _mentions(text: str, name: str) -> bool:
    pattern = re.escape(name).replace("\\-", "[-_.]")
    return re.search(rf"(?<![A-Za-z0-9._-]){pattern}(?![A-Za-z0-9_-])", text, re.IGNORECASE) is not None


def _conda_conflict(text: str, request: PipRequest, lines: Sequence[UvLine]) -> tuple[str, str] | None:
    """A conda pin in the conflict uv derived: the pin itself must be one of the derivation's terms."""
    conda = {canonical(k): v for k, v in request.conda_provided.items()}
    for name, version in _PIN.findall(text):
        name = canonical(name)
        if conda.get(name) != version:
            continue
        mine = next((ln for ln in lines if ln.name == name), None)
        if mine is not None:
            at = f" ({mine.line.where})" if mine.line.where else ""
            return f"pip requirement `{mine.line.text}`{at} conflicts with {name} {version} from conda", name
        dependent = re.search(
            rf"({_NAME})(?:[=<>!~]{_SPEC})? depends? on ({re.escape(name)}[^\s,]{{0,200}})",
            text,
            re.IGNORECASE,
        )
        if dependent and dependent.group(2) != f"{name}=={version}":
            parent = canonical(dependent.group(1))
            return (
                f"pip package `{parent}`{_at(blame(parent, text, lines))} requires `{dependent.group(2)}`, "
                f"which conflicts with {name} {version} from conda"
            ), name
    return None


def _first_error(stderr: str) -> str:
    for raw in redact(stderr).splitlines():
        line = raw.strip()
        if line.startswith("error:"):
            cause = line.removeprefix("error:").strip()
            return "uv: " + (cause[:300] + "…" if len(cause) > 300 else cause)
    lines = [ln.strip() for ln in redact(stderr).splitlines() if ln.strip()]
    return "uv: " + (lines[0][:300] if lines else "failed without a message")


def _build_tail(stderr: str, count: int = 3) -> list[str]:
    """The build's own last error lines (uv shows the backend's output in a `[stderr]` block)."""
    lines = [redact(ln).strip() for ln in stderr.splitlines()]
    start = next((i for i, ln in enumerate(lines) if ln in ("[stderr]", "[stdout]")), None)
    body = [ln for ln in (lines[start + 1 :] if start is not None else lines) if ln]
    body = [ln for ln in body if not ln.startswith(("hint:", "help:", "[tool.uv", "or `uv pip"))]
    errors = [ln for ln in body if re.match(r"^(?:[A-Za-z_.]*(?:Error|Exception)\b|error:|fatal:)", ln)]
    chosen = list(dict.fromkeys(errors))[-count:] or body[-count:]
    return [ln[:200] for ln in chosen]


def _network_reason(text: str) -> str | None:
    for pattern, reason in (
        (r"dns error|failed to lookup address|Could not resolve host", "the index's host name is unknown"),
        (r"Connection refused|connection error|tcp connect error", "the index refused the connection"),
        (r"timed out|operation timed out", "the connection to the index timed out"),
        (r"certificate|tls|ssl", "the index's TLS certificate is not trusted"),
        (r"401 Unauthorized|403 Forbidden|status code 40[13]", "the index refused access"),
    ):
        if re.search(pattern, text, re.IGNORECASE):
            return reason
    return None


def _failing_index(text: str, request: PipRequest) -> str | None:
    match = re.search(r"Failed to fetch:? `?([^`\s]+)", text)
    url = match.group(1) if match else None
    for index in (request.index_url, *request.extra_index_urls, *request.find_links):
        if index and url and url.startswith(_host_root(index)):
            return index
    return url.rsplit("/", 2)[0] if url and url.endswith("/") else url  # a project page: its index


def _host_root(url: str) -> str:
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*://[^/]+)", url)
    return match.group(1) if match else url
