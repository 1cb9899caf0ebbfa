"""The lock's pip packages as a hashed requirements file (`cenv export --format requirements`, and what
the pip install at create reads)."""

from __future__ import annotations

from cenv.errors import LockfileError
from cenv.lock.models import LockedPackage, Lockfile


def render_requirements(lock: Lockfile, platform: str) -> str:
    """A `--require-hashes` requirements file of the lock's pip packages for `platform`.

    Each line is `name @ URL --hash=sha256:...`: the exact locked artifact, installable without any index
    configuration (a PyTorch label index, find-links or a private index need not be known at install time).
    """
    lines = [
        f"# pip packages for {platform}; install with: uv pip install --no-deps --require-hashes -r FILE"
    ]
    for package in sorted(lock.packages_for(platform, "pip"), key=lambda p: p.name):
        lines.append(requirement_line(package))
    return "\n".join(lines) + "\n"


def requirement_line(package: LockedPackage) -> str:

    sha256 = package.hash.sha256
    if not sha256:
        raise LockfileError(
            f"pip package `{package.name}` {package.version} has no sha256 in the lockfile",
            hints=["re-lock with `cenv lock` to record hashes"],
        )
    url = package.source.url if package.source is not None else package.url
    return f"{package.name} @ {url} --hash=sha256:{sha256}"
