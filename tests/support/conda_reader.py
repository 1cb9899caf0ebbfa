"""Read an environment with conda's own code, for tests: conda is not installable here, but conda-lock (a test
dependency) vendors it (`conda_lock._vendor.conda`), and its readers are what conda runs: `History`
(conda/history.py: what `conda env export --from-history` and `conda list --revisions` read),
`PrefixData` (conda/core/prefix_data.py: the records every conda command loads) and `conda doctor`'s health
checks (conda/plugins/subcommands/doctor/health_checks.py). Imports nothing from cenv.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conda_lock._vendor.conda.core.prefix_data import PrefixData
from conda_lock._vendor.conda.history import History
from conda_lock._vendor.conda.plugins.subcommands.doctor.health_checks import (
    find_altered_packages,
    find_packages_with_missing_files,
)

__all__ = [
    "altered_files",
    "history_revisions",
    "missing_files",
    "prefix_records",
    "records",
    "requested_names",
]


def records(prefix: Path) -> dict[str, dict[str, Any]]:
    """conda-meta/*.json by file stem, as written (field order included)."""
    return {p.stem: json.loads(p.read_text()) for p in sorted((prefix / "conda-meta").glob("*.json"))}


def prefix_records(prefix: Path) -> dict[str, Any]:
    """conda's `PrefixData(prefix).iter_records()` by name: conda's own model of each record (a record conda
    cannot load raises here)."""
    data = PrefixData(str(prefix))
    data.load()
    return {record.name: record for record in data.iter_records()}


def history_revisions(prefix: Path) -> list[dict[str, Any]]:
    """`History(prefix).get_user_requests()`: one dict per revision with a `# cmd:` line: `date`, `cmd`
    (argv list), `link_dists` (the `+` lines, as `dists` here), `update_specs` / `remove_specs`."""
    revisions = []
    for request in History(str(prefix)).get_user_requests():
        revision = dict(request)
        revision["dists"] = set(request.get("link_dists") or ())
        revisions.append(revision)
    return revisions


def requested_names(prefix: Path) -> dict[str, str]:
    """`History(prefix).get_requested_specs_map()` (what `conda env export --from-history` prints), kept
    only for packages installed in the prefix, as `from_environment` does."""
    installed = {r["name"] for r in records(prefix).values()}
    specs = History(str(prefix)).get_requested_specs_map()
    return {name: str(spec) for name, spec in specs.items() if name in installed}


def altered_files(prefix: Path) -> dict[str, list[str]]:
    """`conda doctor`'s altered-files check (`find_altered_packages`)."""
    return dict(find_altered_packages(prefix))


def missing_files(prefix: Path) -> dict[str, list[str]]:
    """`conda doctor`'s missing-files check (`find_packages_with_missing_files`)."""
    return dict(find_packages_with_missing_files(prefix))
