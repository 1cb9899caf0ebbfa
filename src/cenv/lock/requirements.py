"""The lock's pip packages as a requirements file (`cenv export --format requirements`, and what the pip
install at create reads).

Artifacts (wheels, sdists) are pinned by sha256; git sources by their commit; local directories (relative to
the lockfile) by nothing but their path, as in pip's own requirements files.
"""

from __future__ import annotations

from cenv.errors import LockfileError
from cenv.lock.keys import CUSTOM_PIP_EDITABLE
from cenv.lock.models import LockedPackage, Lockfile, PackageSource
from cenv.redact import strip_credentials

_URL_SCHEMES = ("http://", "https://", "file://", "git+", "hg+", "svn+", "bzr+")


def render_requirements(lock: Lockfile, platform: str) -> str:
    """A requirements file of the lock's pip packages for `platform`.

    Each hashed line is `name @ URL --hash=sha256:...`: the exact locked artifact, installable without any
    index configuration (a PyTorch label index, find-links or a private index need not be known at install
    time). Git sources and local directories follow, without hashes (pip's hash-checking mode refuses them:
    install those lines separately when there are any).
    """
    editable = editable_names(lock, platform)
    packages = sorted(map(shareable, lock.packages_for(platform, "pip")), key=lambda p: p.name)
    hashed = [p for p in packages if p.hash.sha256]
    unhashed = [p for p in packages if not p.hash.sha256]
    lines = [
        f"# pip packages for {platform}; install with: uv pip install --no-deps --require-hashes -r FILE"
    ]
    lines += [requirement_line(p) for p in hashed]
    if unhashed:
        lines.append("# pinned by git commit or local path (no hash): uv pip install --no-deps -r FILE")
        lines += [source_line(p, p.name in editable) for p in unhashed]
    return "\n".join(lines) + "\n"


def shareable(package: LockedPackage) -> LockedPackage:
    """`package` with every credential taken out of its URLs: what an export may show (a lock or an
    `@EXPLICIT` file from someone else can carry `user:pass@` or `/t/<token>/`)."""
    from dataclasses import replace

    url = strip_credentials(package.url)
    source = package.source
    if source is not None and strip_credentials(source.url) != source.url:
        source = PackageSource(strip_credentials(source.url))
    return (
        package
        if url == package.url and source is package.source
        else replace(package, url=url, source=source)
    )


def editable_names(lock: Lockfile, platform: str) -> frozenset[str]:
    value = lock.metadata.custom(CUSTOM_PIP_EDITABLE + platform) or ""
    return frozenset(name for name in value.split("\n") if name)


def requirement_line(package: LockedPackage) -> str:
    sha256 = package.hash.sha256
    if not sha256:
        raise LockfileError(
            f"pip package `{package.name}` {package.version} has no sha256 in the lockfile",
            hints=["re-lock with `cenv lock` to record hashes"],
        )
    url = package.source.url if package.source is not None else package.url
    if not url.startswith(_URL_SCHEMES):  # a local wheel or sdist: a path, as pip reads it
        return f"{url} --hash=sha256:{sha256}"
    return f"{package.name} @ {url} --hash=sha256:{sha256}"


def source_line(package: LockedPackage, editable: bool = False) -> str:
    """A git source (`name @ git+URL@COMMIT`) or a local directory (`./sub/pkg`, `-e ./sub/pkg`)."""
    url = package.source.url if package.source is not None else package.url
    if editable and url.startswith("git+"):
        return f"-e {url}#egg={package.name}"
    if url.startswith(_URL_SCHEMES):
        return f"{package.name} @ {url}"
    return f"-e {url}" if editable else url
