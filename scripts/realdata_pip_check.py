"""Lock the pip sections of the real environment files in ../shared/realdata/specs against real PyPI.

No conda channel is reachable here, so each file's conda part is replaced by the python it asks for, from a
generated channel: every conda dependency line becomes a comment (the first becomes `- python X.Y.*`), so
the pip lines keep their line numbers and an error's `file:line` is the real file's line. Usage:

    .venv/bin/python scripts/realdata_pip_check.py [--platform linux-64 ...] [NAME ...]

Prints one row per file and platform: the exit code and the first line of the message (needs network).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT.parent / "shared" / "realdata" / "specs"
PYTHONS = ("3.7.13", "3.8.18", "3.9.18", "3.10.14", "3.11.9", "3.12.7", "3.13.1")


def _channel(root: Path, platforms: list[str]) -> Path:
    sys.path.insert(0, str(ROOT))
    from tests.support.channel_factory import ChannelFactory

    channel = ChannelFactory(root, "pythons")
    for platform in platforms:
        for version in PYTHONS:
            channel.package("python", version, subdir=platform)
    channel.package("placeholder", "1", subdir="noarch")
    channel.write_repodata()
    return root / "pythons"


def _python(text: str) -> str:
    match = re.search(r"^\s*-\s*[\"']?python\s*[=<>~]*\s*=?\s*[\"']?(3\.\d+)", text, re.MULTILINE)
    return f"python {match.group(1)}.*" if match else "python 3.11.*"


def derive(text: str, channel: Path) -> str:
    """The file with its conda part replaced, line for line."""
    out, section, python_done, channel_done = [], None, False, False
    python = _python(text)
    pip_indent: int | None = None
    for line in text.splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if re.match(r"^[A-Za-z_-]+:", line):
            section = line.split(":")[0]
            pip_indent = None
            if section == "channels" and line.split(":", 1)[1].strip():
                line = f"channels: [{channel.as_uri()}]"
                channel_done = True
            out.append(line)
            continue
        if section == "channels" and stripped.startswith("-"):
            out.append(f"{' ' * indent}- {channel.as_uri()}" if not channel_done else "#")
            channel_done = True
            continue
        if section == "dependencies" and stripped.startswith("-"):
            if stripped.startswith("- pip:"):
                pip_indent = indent
                out.append(line)
                continue
            if pip_indent is not None and indent > pip_indent:
                out.append(line)
                continue
            pip_indent = None
            out.append(f"{' ' * indent}- {python}" if not python_done else "#")
            python_done = True
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--platform", "-p", action="append", default=[])
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()
    platforms = args.platform or ["linux-64", "osx-arm64"]
    work = Path(tempfile.mkdtemp(prefix="cenv-realdata-pip-"))
    channel = _channel(work / "channel", platforms)
    for spec in sorted(SPECS.glob("*/*.y*ml")):
        text = spec.read_text()
        if "pip:" not in text or (args.names and spec.parent.name not in args.names):
            continue
        derived = work / spec.parent.name / spec.name
        derived.parent.mkdir(parents=True, exist_ok=True)
        derived.write_text(derive(text, channel))
        for platform in platforms:
            started = time.monotonic()
            result = subprocess.run(
                [sys.executable, "-m", "cenv", "lock", str(derived), "-p", platform, "--lockfile",
                 str(derived.with_suffix(f".{platform}.lock.yml"))],
                capture_output=True, text=True, timeout=900,
            )  # fmt: skip
            seconds = time.monotonic() - started
            lines = [ln for ln in result.stderr.splitlines() if ln.startswith(("error:", "hint:"))]
            shown = " | ".join(lines[:3]) if result.returncode else "locked"
            traceback = " TRACEBACK" if "Traceback" in result.stderr else ""
            print(f"{spec.parent.name}/{spec.name} {platform}: exit {result.returncode}{traceback} "
                  f"({seconds:.0f} s) {shown}", flush=True)  # fmt: skip
    print(f"derived files in {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
