"""Build the demo channel (real .conda/.tar.bz2 archives) with the test suite's fixture factory."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.channel_factory import build_demo_channel

if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".demo/channels")
    print(f"demo channel: {build_demo_channel(root)}")
