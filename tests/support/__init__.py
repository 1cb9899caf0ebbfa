"""Test support code: channel fixtures and a real HTTP channel server. Imports nothing from ``cenv``."""

from pathlib import Path

#: Real-world data shared between the project's checkouts (read-only; see its README.md).
REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"
