"""Packs: a lockfile's conda archives and pip artifacts in one self-contained, hash-checked file.

`cenv pack LOCK -o FILE.tar` writes one (`cenv.pack.build`); `cenv create FILE.tar` checks and installs one
with no network (`cenv.pack.unpack`). Importing this package stays cheap: `cenv create` asks `is_pack` first.
"""

from __future__ import annotations

from cenv.pack.manifest import MANIFEST, Manifest, PackError, is_pack

__all__ = ["MANIFEST", "Manifest", "PackError", "is_pack"]
